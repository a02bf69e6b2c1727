# This file is part of HiTech CRM. See LICENSE for details.
"""Service entitlements: what an account is entitled to for a product or
a unit (warranty, maintenance contract), set on its tickets."""
from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, Get, If, In
from trytond.sendmail import sendmail_transactional
from trytond.transaction import Transaction

from .exceptions import TicketValidationError

TIERS = [
    ('basic', "Basic"),
    ('standard', "Standard"),
    ('premium', "Premium"),
    ('mission_critical', "Mission Critical"),
    ]


class Entitlement(ModelSQL, ModelView):
    "Service Entitlement"
    __name__ = 'hitech.service.entitlement'

    company = fields.Many2One(
        'company.company', "Company", required=True,
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ])
    account = fields.Many2One(
        'party.party', "Account", required=True, ondelete='CASCADE',
        context={'company': Eval('company', -1)}, depends={'company'})
    product = fields.Many2One(
        'product.product', "Product", ondelete='RESTRICT',
        context={'company': Eval('company', -1)}, depends={'company'},
        help="Leave empty for every product of the account.")
    serial_number = fields.Char("Serial Number", strip=True,
        help="Leave empty for every unit.")
    start_date = fields.Date("Start Date", required=True,
        domain=[
            If(Bool(Eval('end_date')),
                ('start_date', '<=', Eval('end_date')),
                ()),
            ])
    end_date = fields.Date("End Date",
        help="Leave empty for an entitlement without end.")
    tier = fields.Selection(TIERS, "Service Level Tier", required=True,
        sort=False,
        help="The level of service the account bought; the service level "
        "agreements use it.")
    tier_string = tier.translated('tier')
    contract_reference = fields.Char("Contract Reference",
        help="The reference of the contract or warranty, as text.")
    owner = fields.Many2One(
        'company.employee', "Owner", ondelete='SET NULL',
        domain=[('company', '=', Eval('company', -1))],
        help="The employee told when a ticket is linked to the "
        "entitlement.")
    tickets = fields.One2Many(
        'hitech.ticket', 'entitlement', "Tickets", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('start_date', 'DESC'))

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_start_date():
        return Pool().get('ir.date').today()

    @staticmethod
    def default_tier():
        return 'standard'

    @staticmethod
    def default_owner():
        return Transaction().context.get('employee')

    def get_rec_name(self, name):
        name = self.contract_reference or self.tier_string
        return '%s - %s' % (self.account.rec_name, name)

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause[:3]
        bool_op = 'AND' if operator.startswith('!') or operator.startswith(
            'not ') else 'OR'
        return [bool_op,
            ('contract_reference', operator, value),
            ('account.rec_name', operator, value),
            ('serial_number', operator, value),
            ]

    def is_valid(self, date):
        return (self.start_date <= date
            and (not self.end_date or date <= self.end_date))

    @classmethod
    def find(cls, ticket, date=None):
        """Return the entitlement that covers the ticket, the most specific
        (serial number, then product) first"""
        pool = Pool()
        Date = pool.get('ir.date')
        if not ticket.account:
            return None
        if date is None:
            date = Date.today()
        domain = [
            ('company', '=', ticket.company.id),
            ('account', '=', ticket.account.id),
            ('start_date', '<=', date),
            ['OR', ('end_date', '=', None), ('end_date', '>=', date)],
            ['OR', ('product', '=', None),
                ('product', '=', ticket.product.id if ticket.product
                    else None)],
            ['OR', ('serial_number', '=', None),
                ('serial_number', '=', ticket.serial_number or None)],
            ]
        entitlements = cls.search(domain)
        entitlements.sort(key=lambda e: (
                not e.serial_number, not e.product, e.id))
        return entitlements[0] if entitlements else None


class Ticket(metaclass=PoolMeta):
    __name__ = 'hitech.ticket'

    entitlement = fields.Many2One(
        'hitech.service.entitlement', "Entitlement", ondelete='RESTRICT',
        domain=[
            ('company', '=', Eval('company', -1)),
            ('account', '=', Eval('account', -1)),
            ],
        states={
            'readonly': In(Eval('state'), ['closed', 'cancelled']),
            },
        help="The warranty or contract that covers the request; its owner "
        "and the handler are told when it is set.")
    service_tier = fields.Function(fields.Selection(
            [(None, "")] + TIERS, "Service Level Tier"),
        'on_change_with_service_tier')

    @fields.depends('entitlement')
    def on_change_with_service_tier(self, name=None):
        return self.entitlement.tier if self.entitlement else None

    @fields.depends('account', 'product', 'serial_number', 'company',
        'entitlement')
    def on_change_serial_number(self):
        self._set_entitlement()

    @fields.depends('account', 'product', 'serial_number', 'company',
        'entitlement')
    def on_change_product(self):
        self._set_entitlement()

    @fields.depends('account', 'product', 'serial_number', 'company',
        'entitlement')
    def on_change_account(self):
        try:
            super().on_change_account()
        except AttributeError:
            pass
        self._set_entitlement()

    def _set_entitlement(self):
        pool = Pool()
        Entitlement = pool.get('hitech.service.entitlement')
        if self.entitlement and self.entitlement.account == self.account:
            return
        self.entitlement = (
            Entitlement.find(self) if self.account and self.company
            else None)

    @classmethod
    def validate_fields(cls, tickets, field_names):
        super().validate_fields(tickets, field_names)
        if field_names and not (field_names & {'entitlement', 'account'}):
            return
        for ticket in tickets:
            if (ticket.entitlement
                    and ticket.entitlement.account != ticket.account):
                raise TicketValidationError(gettext(
                        'hitech_service.msg_ticket_entitlement_account',
                        ticket=ticket.rec_name,
                        entitlement=ticket.entitlement.rec_name))

    @classmethod
    def on_modification(cls, mode, tickets, field_names=None):
        super().on_modification(mode, tickets, field_names=field_names)
        if mode == 'create':
            cls.notify_entitlement([t for t in tickets if t.entitlement])

    @classmethod
    def on_write(cls, tickets, values):
        callbacks = super().on_write(tickets, values)
        if values.get('entitlement'):
            changed = [t for t in tickets
                if not t.entitlement
                or t.entitlement.id != values['entitlement']]
            if changed:
                callbacks.append(lambda: cls.notify_entitlement(
                        cls.browse(changed)))
        return callbacks

    @classmethod
    def notify_entitlement(cls, tickets):
        """Tell the owner of the entitlement and the handler that a ticket
        is linked to the entitlement (notification and email)"""
        pool = Pool()
        User = pool.get('res.user')
        for ticket in tickets:
            employees = {e for e in [
                    ticket.entitlement.owner, ticket.handler] if e}
            if not employees:
                continue
            users = User.search([
                    ('employees', 'in', [e.id for e in employees]),
                    ])
            label = gettext('hitech_service.msg_entitlement_notify_label',
                ticket=ticket.rec_name)
            description = gettext(
                'hitech_service.msg_entitlement_notify_description',
                ticket=ticket.rec_name,
                entitlement=ticket.entitlement.rec_name,
                tier=ticket.entitlement.tier_string)
            for user in users:
                cls.notify_user([ticket], 'tryton-info', label,
                    description=description, user=user.id)
            cls._email_entitlement(ticket, users, label, description)

    @classmethod
    def _email_entitlement(cls, ticket, users, subject, body):
        from email.message import EmailMessage
        to_addrs = [u.email for u in users if u.email]
        if not to_addrs:
            return
        from_ = cls._email_from()
        msg = EmailMessage()
        msg['From'] = from_
        msg['To'] = ', '.join(to_addrs)
        msg['Subject'] = ticket.get_email_subject(subject)
        msg['X-HiTech-Ticket'] = ticket.number
        msg.set_content(body)
        sendmail_transactional(from_, to_addrs, msg)
