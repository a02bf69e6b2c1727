# This file is part of HiTech CRM. See LICENSE for details.
import datetime as dt

from sql import Literal, Null
from sql.aggregate import Avg, Count, Min, Sum
from sql.conditionals import Case
from sql.functions import CurrentTimestamp, DateTrunc, Extract

from trytond import backend
from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import Transaction


class SLAContext(ModelView):
    "Service Level Reporting Context"
    __name__ = 'hitech.sla.reporting.context'

    company = fields.Many2One('company.company', "Company", required=True)
    from_date = fields.Date("From Date",
        domain=[If(Eval('to_date') & Eval('from_date'),
                ('from_date', '<=', Eval('to_date')), ())],
        help="Tickets created from this date on.")
    to_date = fields.Date("To Date",
        domain=[If(Eval('from_date') & Eval('to_date'),
                ('to_date', '>=', Eval('from_date')), ())])
    service_team = fields.Many2One('hitech.sales.team', "Service Team",
        domain=[('kind', '=', 'service')])
    category = fields.Many2One('hitech.ticket.category', "Category",
        help="Includes the child categories.")
    account = fields.Many2One('party.party', "Customer",
        context={'company': Eval('company', -1)}, depends={'company'})

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_from_date(cls):
        return Transaction().context.get('from_date') or (
            dt.date.today() - dt.timedelta(days=90))

    @classmethod
    def default_to_date(cls):
        return Transaction().context.get('to_date')


class _SLAReportMixin:
    __slots__ = ()
    company = fields.Many2One('company.company', "Company")
    ticket_count = fields.Integer("Tickets")
    response_met = fields.Integer("Response Met")
    response_breached = fields.Integer("Response Breached")
    response_rate = fields.Float("Response Met %", digits=(3, 1))
    resolution_met = fields.Integer("Resolution Met")
    resolution_breached = fields.Integer("Resolution Breached")
    resolution_rate = fields.Float("Resolution Met %", digits=(3, 1))
    response_hours = fields.Float("Avg Response (h)", digits=(16, 2),
        help="Average business hours to the first response, without the "
        "time paused waiting on the customer.")
    resolution_hours = fields.Float("Avg Resolution (h)", digits=(16, 2),
        help="Average business hours to the resolution, without the time "
        "paused waiting on the customer.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('id', 'ASC')]

    @classmethod
    def _hours(cls, column):
        if backend.name == 'postgresql':
            return Extract('EPOCH', Avg(column)) / 3600
        return Avg(column) / 3600

    @classmethod
    def _rate(cls, met, breached):
        total = met + breached
        return Case((total > 0, met * 100.0 / total), else_=Null)

    @classmethod
    def _key(cls, ticket):
        raise NotImplementedError

    @classmethod
    def table_query(cls):
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        Category = pool.get('hitech.ticket.category')
        ticket = Ticket.__table__()
        context = Transaction().context
        key = cls._key(ticket)
        where = ticket.company == context.get('company', -1)
        if context.get('from_date'):
            where &= ticket.create_date >= dt.datetime.combine(
                context['from_date'], dt.time())
        if context.get('to_date'):
            where &= ticket.create_date < dt.datetime.combine(
                context['to_date'] + dt.timedelta(days=1), dt.time())
        if context.get('service_team'):
            where &= ticket.service_team == context['service_team']
        if context.get('account'):
            where &= ticket.account == context['account']
        if context.get('category'):
            categories = Category.search(
                [('parent', 'child_of', [context['category']])])
            where &= ticket.category.in_([c.id for c in categories] or [-1])
        # the key is computed in a sub-query so that the outer query groups
        # by a column: PostgreSQL does not match a GROUP BY expression
        # whose parameters are bound separately (DATE_TRUNC($1, ...))
        tickets = ticket.select(
            ticket.id.as_('id'),
            ticket.company.as_('company'),
            key.as_('key'),
            ticket.response_met.as_('response_met'),
            ticket.resolution_met.as_('resolution_met'),
            ticket.response_time.as_('response_time'),
            ticket.resolution_time.as_('resolution_time'),
            where=where & (ticket.sla_policy != Null))
        ticket, key = tickets, tickets.key
        met = lambda c: Sum(Case((c == Literal(True), 1), else_=0))  # noqa
        missed = lambda c: Sum(Case((c == Literal(False), 1), else_=0))  # noqa
        return ticket.select(
            cls._key_id(ticket, key).as_('id'),
            Literal(0).as_('create_uid'),
            CurrentTimestamp().as_('create_date'),
            Literal(None).as_('write_uid'),
            Literal(None).as_('write_date'),
            *cls._key_columns(ticket, key),
            Count(ticket.id).as_('ticket_count'),
            met(ticket.response_met).as_('response_met'),
            missed(ticket.response_met).as_('response_breached'),
            cls.response_rate.sql_cast(cls._rate(met(ticket.response_met),
                    missed(ticket.response_met))).as_('response_rate'),
            met(ticket.resolution_met).as_('resolution_met'),
            missed(ticket.resolution_met).as_('resolution_breached'),
            cls.resolution_rate.sql_cast(cls._rate(
                    met(ticket.resolution_met),
                    missed(ticket.resolution_met))).as_('resolution_rate'),
            # EXTRACT(EPOCH) is numeric on PostgreSQL: cast to the float
            cls.response_hours.sql_cast(
                cls._hours(ticket.response_time)).as_('response_hours'),
            cls.resolution_hours.sql_cast(
                cls._hours(ticket.resolution_time)).as_('resolution_hours'),
            group_by=cls._group_by(ticket, key))

    @classmethod
    def _key_id(cls, ticket, key):
        return Min(ticket.id)

    @classmethod
    def _key_columns(cls, ticket, key):
        return [ticket.company.as_('company'), key.as_(cls._key_name)]

    @classmethod
    def _group_by(cls, ticket, key):
        return [ticket.company, key]


class SLAReportTeam(_SLAReportMixin, ModelSQL, ModelView):
    "Service Levels per Team"
    __name__ = 'hitech.sla.reporting.team'
    _key_name = 'service_team'
    service_team = fields.Many2One('hitech.sales.team', "Service Team")

    @classmethod
    def _key(cls, ticket):
        return ticket.service_team


class SLAReportCategory(_SLAReportMixin, ModelSQL, ModelView):
    "Service Levels per Category"
    __name__ = 'hitech.sla.reporting.category'
    _key_name = 'category'
    category = fields.Many2One('hitech.ticket.category', "Category")

    @classmethod
    def _key(cls, ticket):
        return ticket.category


class SLAReportCustomer(_SLAReportMixin, ModelSQL, ModelView):
    "Service Levels per Customer"
    __name__ = 'hitech.sla.reporting.customer'
    _key_name = 'account'
    account = fields.Many2One('party.party', "Customer",
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})

    @classmethod
    def _key(cls, ticket):
        return ticket.account


class SLAReportPeriod(_SLAReportMixin, ModelSQL, ModelView):
    "Service Levels per Month"
    __name__ = 'hitech.sla.reporting.period'
    _key_name = 'month'
    month = fields.Date("Month")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'ASC'), ('id', 'ASC')]

    @classmethod
    def _key(cls, ticket):
        if backend.name == 'postgresql':
            return DateTrunc('month', ticket.create_date)
        from sql.functions import Function

        class StrfTime(Function):
            __slots__ = ()
            _function = 'STRFTIME'
        return StrfTime('%Y-%m-01', ticket.create_date)

    @classmethod
    def _key_columns(cls, ticket, key):
        if backend.name == 'postgresql':
            from sql import Cast
            return [ticket.company.as_('company'),
                Cast(key, 'DATE').as_('month')]
        return [ticket.company.as_('company'), key.as_('month')]
