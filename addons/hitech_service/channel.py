# This file is part of HiTech CRM. See LICENSE for details.
"""Per-channel service modes: e.g. tickets of the partner channel go to
the partner first and to the vendor's service team after a deadline."""
import datetime

from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, Get, If, In
from trytond.transaction import Transaction

from .ticket import CHANNELS

PARTNER_TYPES = ['distributor', 'partner']


class ChannelMode(DeactivableMixin, ModelSQL, ModelView):
    "Ticket Channel Mode"
    __name__ = 'hitech.ticket.channel.mode'

    company = fields.Many2One(
        'company.company', "Company", required=True,
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ])
    channel = fields.Selection(CHANNELS, "Channel", required=True,
        sort=False)
    channel_string = channel.translated('channel')
    mode = fields.Selection([
            ('direct', "Service Desk"),
            ('partner_first', "Partner First"),
            ], "Mode", required=True,
        help="Service Desk: the vendor's service desk handles the tickets.\n"
        "Partner First: the partner set on the ticket handles it; after "
        "the partner delay the ticket goes to the vendor team.")
    mode_string = mode.translated('mode')
    partner_delay = fields.TimeDelta("Partner Delay",
        states={
            'required': Eval('mode') == 'partner_first',
            'invisible': Eval('mode') != 'partner_first',
            },
        help="How long the partner has before the vendor takes over.")
    vendor_team = fields.Many2One(
        'hitech.sales.team', "Vendor Team", ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ('kind', '=', 'service'),
            ],
        states={
            'required': Eval('mode') == 'partner_first',
            'invisible': Eval('mode') != 'partner_first',
            },
        help="The service team that takes over the tickets the partner "
        "did not handle in time.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('company_channel_uniq', Unique(t, t.company, t.channel),
                'hitech_service.msg_channel_mode_unique'),
            ]

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_mode():
        return 'partner_first'

    def get_rec_name(self, name):
        return '%s: %s' % (self.channel_string, self.mode_string)

    @classmethod
    def get_mode(cls, company, channel):
        "Return the active mode of the channel of the company or None"
        if company is None or channel is None:
            return None
        modes = cls.search([
                ('company', '=', company),
                ('channel', '=', channel),
                ], limit=1)
        return modes[0] if modes else None


class Ticket(metaclass=PoolMeta):
    __name__ = 'hitech.ticket'

    partner = fields.Many2One(
        'party.party', "Partner", ondelete='RESTRICT',
        domain=[('account_type', 'in', PARTNER_TYPES)],
        context={'company': Eval('company', -1)}, depends={'company'},
        states={
            'readonly': In(Eval('state'), ['closed', 'cancelled']),
            },
        help="The distributor or partner who serves the customer first.")
    partner_deadline = fields.Timestamp("Partner Deadline", readonly=True,
        help="When the ticket goes from the partner to the vendor team.")
    escalated_at = fields.Timestamp("Taken Over At", readonly=True,
        help="When the vendor team took the ticket over from the partner.")

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Mode = pool.get('hitech.ticket.channel.mode')
        values = super().preprocess_values(mode, values)
        if (mode == 'create' and values.get('partner')
                and not values.get('partner_deadline')):
            channel_mode = Mode.get_mode(
                values.get('company', cls.default_company()),
                values.get('channel', cls.default_channel()))
            if channel_mode and channel_mode.mode == 'partner_first':
                values['partner_deadline'] = (
                    datetime.datetime.now() + channel_mode.partner_delay)
        return values

    def is_with_partner(self):
        "Whether the partner still has the ticket"
        return bool(self.partner and self.partner_deadline
            and not self.escalated_at)

    @classmethod
    def _to_assign_on_create(cls, ticket):
        return (super()._to_assign_on_create(ticket)
            and not ticket.is_with_partner())

    @classmethod
    def copy(cls, tickets, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('partner_deadline')
        default.setdefault('escalated_at')
        return super().copy(tickets, default=default)

    @classmethod
    def escalate_partner_tickets(cls, date=None):
        """Move the tickets whose partner deadline passed to the vendor
        team of their channel mode (cron), then run the assignment"""
        pool = Pool()
        Mode = pool.get('hitech.ticket.channel.mode')
        if date is None:
            date = datetime.datetime.now()
        tickets = cls.search([
                ('partner_deadline', '<=', date),
                ('escalated_at', '=', None),
                ('state', 'in', ['new', 'reopened']),
                ], order=[('partner_deadline', 'ASC'), ('id', 'ASC')])
        by_team = {}
        for ticket in tickets:
            mode = Mode.get_mode(ticket.company.id, ticket.channel)
            team = mode.vendor_team if mode else None
            by_team.setdefault(team, []).append(ticket)
        to_write = []
        for team, team_tickets in by_team.items():
            values = {'escalated_at': date}
            if team:
                values['service_team'] = team.id
                values['handler'] = None
            to_write.extend((team_tickets, values))
        if to_write:
            cls.write(*to_write)
            cls.apply_assignment(tickets)
        return tickets


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('hitech.ticket|escalate_partner_tickets',
                "Move Overdue Partner Tickets to the Vendor"))
