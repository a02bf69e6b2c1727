# This file is part of HiTech CRM. See LICENSE for details.
from sql.aggregate import Count

from trytond import backend
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .ticket import OPEN_STATES


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    tickets = fields.One2Many(
        'hitech.ticket', 'account', "Tickets", readonly=True,
        help="The service tickets of the account.")
    open_ticket_count = fields.Function(fields.Integer(
            "Open Tickets",
            help="The number of open service tickets of the account and of "
            "its subsidiaries."),
        'get_rollup')

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('tickets')
        return super().copy(parties, default=default)

    @classmethod
    def _rollup_ticket(cls, subtree, company):
        "Number of open tickets per root of the subtree"
        ticket = Pool().get('hitech.ticket').__table__()
        return subtree.join(
            ticket, condition=ticket.account == subtree.party
            ).select(
            subtree.root, Count(ticket.id),
            where=ticket.state.in_(OPEN_STATES)
            & (ticket.company == company),
            group_by=[subtree.root],
            with_=[subtree])

    @classmethod
    def _rollup_service_names(cls):
        "Roll-up fields computed by the service module"
        return {'open_ticket_count': cls._rollup_ticket}

    @classmethod
    def get_rollup(cls, parties, names):
        service = cls._rollup_service_names()
        others = [n for n in names if n not in service]
        result = super().get_rollup(parties, others) if others else {}
        mine = [n for n in names if n in service]
        if not mine:
            return result
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        company_id = transaction.context.get('company')
        for name in mine:
            result[name] = counts = {p.id: 0 for p in parties}
            if company_id is None or company_id < 0:
                continue
            for sub_ids in grouped_slice(
                    [p.id for p in parties], backend.MAX_QUERY_PARAMS):
                subtree = cls._subtree_query(list(sub_ids))
                cursor.execute(*service[name](subtree, company_id))
                for root, count in cursor:
                    counts[root] += count
        return result
