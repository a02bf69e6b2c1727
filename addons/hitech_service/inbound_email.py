# This file is part of HiTech CRM. See LICENSE for details.
from trytond.model import fields
from trytond.pool import PoolMeta
from trytond.pyson import Eval, Get, If, In

from .ticket import PRIORITIES

TICKET_ACTION = 'hitech.ticket|from_inbound_email'


class Rule(metaclass=PoolMeta):
    __name__ = 'inbound.email.rule'

    _ticket_states = {
        'invisible': Eval('action') != TICKET_ACTION,
        }

    ticket_company = fields.Many2One(
        'company.company', "Ticket Company", ondelete='RESTRICT',
        states={
            'invisible': _ticket_states['invisible'],
            'required': Eval('action') == TICKET_ACTION,
            },
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ],
        help="The company of the tickets created by the rule.")
    ticket_priority = fields.Selection(
        [(None, "")] + PRIORITIES, "Ticket Priority", sort=False,
        states=_ticket_states,
        help="The priority of new tickets; leave empty for normal.")
    ticket_category = fields.Many2One(
        'hitech.ticket.category', "Ticket Category", ondelete='SET NULL',
        states=_ticket_states)
    ticket_service_team = fields.Many2One(
        'hitech.sales.team', "Ticket Service Team", ondelete='SET NULL',
        domain=[
            ('kind', '=', 'service'),
            ('company', '=', Eval('ticket_company', -1)),
            ],
        states=_ticket_states,
        help="The team new tickets go to before the assignment rules run.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.action.selection.append(
            (TICKET_ACTION, "Create or Thread Service Ticket"))


class Email(metaclass=PoolMeta):
    __name__ = 'inbound.email'

    ticket_outcome = fields.Selection([
            (None, ""),
            ('created', "Ticket Created"),
            ('threaded', "Added to Ticket"),
            ('duplicate', "Already Received"),
            ('rejected', "Rejected"),
            ], "Ticket Outcome", readonly=True,
        help="What the service desk did with the email.")
    ticket_outcome_detail = fields.Char("Ticket Outcome Detail",
        readonly=True)
