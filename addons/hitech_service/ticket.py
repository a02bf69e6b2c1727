# This file is part of HiTech CRM. See LICENSE for details.
import datetime
import logging
import re
from email.message import EmailMessage
from email.utils import getaddresses
from itertools import groupby

from sql.conditionals import Case

import trytond.config as trytond_config
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, Workflow, fields, tree)
from trytond.pool import Pool
from trytond.pyson import Eval, Get, If, In
from trytond.sendmail import sendmail_transactional
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import TicketEmailError, TicketError
from .mail import (
    SUBJECT_MAX, Attachment, MailRejected, clean_text, html_to_text,
    new_message_id, parse_email)

logger = logging.getLogger(__name__)

PRIORITIES = [
    ('low', "Low"),
    ('normal', "Normal"),
    ('high', "High"),
    ('urgent', "Urgent"),
    ]
# rank used to order by priority (most urgent first)
PRIORITY_RANK = {'urgent': 0, 'high': 1, 'normal': 2, 'low': 3}
CHANNELS = [
    ('email', "Email"),
    ('web', "Web Form"),
    ('portal', "Portal"),
    ('phone', "Phone"),
    ('partner', "Partner"),
    ('internal', "Internal"),
    ]
STATES = [
    ('new', "New"),
    ('assigned', "Assigned"),
    ('in_progress', "In Progress"),
    ('waiting', "Waiting on Customer"),
    ('resolved', "Resolved"),
    ('closed', "Closed"),
    ('cancelled', "Cancelled"),
    ('reopened', "Reopened"),
    ]
# the states in which a ticket still needs work
OPEN_STATES = ['new', 'assigned', 'in_progress', 'waiting', 'reopened']
DONE_STATES = ['resolved', 'closed', 'cancelled']


def _addresses(value):
    "Return the email addresses of a comma separated string"
    result = []
    if value and ('\r' in value or '\n' in value):
        raise TicketEmailError(gettext(
                'hitech_service.msg_email_invalid_address',
                address=' '.join(value.split())))
    for _, address in getaddresses([value or '']):
        address = address.strip()
        if address:
            if ('@' not in address or any(c in address for c in '\r\n<>')):
                raise TicketEmailError(gettext(
                        'hitech_service.msg_email_invalid_address',
                        address=address))
            result.append(address)
    return result


class TicketCategory(DeactivableMixin, tree(separator=' / '),
        ModelSQL, ModelView):
    "Ticket Category"
    __name__ = 'hitech.ticket.category'

    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", strip=True,
        help="Short code used in imports and assignment rules.")
    parent = fields.Many2One(
        'hitech.ticket.category', "Parent", ondelete='RESTRICT',
        help="The broader category this one belongs to.")
    children = fields.One2Many(
        'hitech.ticket.category', 'parent', "Children")
    description = fields.Text("Description")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))


class Ticket(Workflow, ModelSQL, ModelView):
    "Service Ticket"
    __name__ = 'hitech.ticket'
    _rec_name = 'number'

    _states = {
        'readonly': In(Eval('state'), ['closed', 'cancelled']),
        }

    number = fields.Char("Number", readonly=True,
        help="The ticket number, given at creation from the ticket "
        "sequence of the service configuration.")
    subject = fields.Char("Subject", required=True, states=_states,
        help="A short summary of the request; stored as plain text.")
    description = fields.Text("Description", states=_states)
    company = fields.Many2One(
        'company.company', "Company", required=True,
        states=_states,
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ])
    account = fields.Many2One(
        'party.party', "Account", ondelete='RESTRICT', states=_states,
        context={'company': Eval('company', -1)}, depends={'company'},
        help="The customer the ticket is for.")
    contact = fields.Many2One(
        'party.party', "Contact", ondelete='SET NULL', states=_states,
        context={'company': Eval('company', -1)}, depends={'company'},
        help="The person who reported the issue.")
    priority = fields.Selection(PRIORITIES, "Priority", required=True,
        states=_states, sort=False)
    category = fields.Many2One(
        'hitech.ticket.category', "Category", ondelete='RESTRICT',
        states=_states)
    product = fields.Many2One(
        'product.product', "Product", ondelete='RESTRICT', states=_states,
        context={'company': Eval('company', -1)}, depends={'company'},
        help="The product the request is about.")
    serial_number = fields.Char("Serial Number", strip=True,
        states=_states,
        help="The serial number of the customer's unit.")
    channel = fields.Selection(CHANNELS, "Channel", required=True,
        states=_states, sort=False,
        help="How the request reached the service desk.")
    handler = fields.Many2One(
        'company.employee', "Handler", ondelete='SET NULL',
        states=_states,
        domain=[('company', '=', Eval('company', -1))],
        help="The employee in charge of the ticket.")
    service_team = fields.Many2One(
        'hitech.sales.team', "Service Team", ondelete='SET NULL',
        states=_states,
        domain=[
            ('company', '=', Eval('company', -1)),
            ('kind', '=', 'service'),
            ],
        help="The service team in charge; its members and managers see "
        "the ticket.")
    messages = fields.One2Many(
        'hitech.ticket.message', 'ticket', "Messages",
        states={
            'readonly': Eval('state') == 'cancelled',
            })
    ticket_count = fields.Function(
        fields.Integer("Tickets", help="1 per ticket, summed in graphs."),
        'get_ticket_count')
    message_count = fields.Function(
        fields.Integer("Messages"), 'get_message_count')

    assigned_at = fields.Timestamp("Assigned At", readonly=True,
        help="When the ticket was last assigned to a handler.")
    first_response_at = fields.Timestamp("First Response At",
        readonly=True,
        help="When the first reply was sent to the customer.")
    resolved_at = fields.Timestamp("Resolved At", readonly=True)
    closed_at = fields.Timestamp("Closed At", readonly=True)
    response_deadline = fields.Timestamp("Response Deadline",
        readonly=True,
        help="When the first response is due; set by the service level "
        "agreement that applies to the ticket.")
    resolution_deadline = fields.Timestamp("Resolution Deadline",
        readonly=True,
        help="When the resolution is due; set by the service level "
        "agreement that applies to the ticket.")
    sla_deadline = fields.Timestamp("Next Deadline", readonly=True,
        help="The next pending deadline: the response deadline until the "
        "first response, then the resolution deadline until the ticket is "
        "resolved.")
    state = fields.Selection(STATES, "State", required=True, readonly=True,
        sort=False)
    is_open = fields.Function(fields.Boolean("Open",
            help="Whether the ticket still needs work."),
        'get_open', searcher='search_open')

    @classmethod
    def __setup__(cls):
        cls.number.search_unaccented = False
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.number, Index.Similarity())),
                Index(t, (t.number, Index.Equality(cardinality='high'))),
                Index(t, (t.state, Index.Equality(cardinality='low')),
                    where=t.state.in_(OPEN_STATES)),
                Index(t, (t.sla_deadline, Index.Range()),
                    where=t.state.in_(OPEN_STATES)),
                Index(t, (t.handler, Index.Equality()),
                    where=t.state.in_(OPEN_STATES)),
                Index(t, (t.service_team, Index.Equality()),
                    where=t.state.in_(OPEN_STATES)),
                Index(t, (t.account, Index.Range())),
                })
        cls._order = [
            ('create_date', 'DESC NULLS FIRST'),
            ('id', 'DESC'),
            ]
        cls._transitions |= {
            ('new', 'assigned'),
            ('new', 'in_progress'),
            ('assigned', 'assigned'),
            ('assigned', 'in_progress'),
            ('reopened', 'assigned'),
            ('reopened', 'in_progress'),
            ('in_progress', 'waiting'),
            ('waiting', 'in_progress'),
            ('assigned', 'resolved'),
            ('in_progress', 'resolved'),
            ('waiting', 'resolved'),
            ('reopened', 'resolved'),
            ('resolved', 'closed'),
            ('resolved', 'reopened'),
            ('closed', 'reopened'),
            ('new', 'cancelled'),
            ('assigned', 'cancelled'),
            ('in_progress', 'cancelled'),
            ('waiting', 'cancelled'),
            ('reopened', 'cancelled'),
            }
        cls._buttons.update({
                'assign': {
                    'invisible': ~Eval('state').in_(
                        ['new', 'assigned', 'reopened']),
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'start': {
                    'invisible': ~Eval('state').in_(
                        ['new', 'assigned', 'waiting', 'reopened']),
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'wait': {
                    'invisible': Eval('state') != 'in_progress',
                    'icon': 'tryton-clock',
                    'depends': ['state'],
                    },
                'resolve': {
                    'invisible': ~Eval('state').in_(
                        ['assigned', 'in_progress', 'waiting', 'reopened']),
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'close': {
                    'invisible': Eval('state') != 'resolved',
                    'icon': 'tryton-archive',
                    'depends': ['state'],
                    },
                'reopen': {
                    'invisible': ~Eval('state').in_(['resolved', 'closed']),
                    'icon': 'tryton-undo',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': ~Eval('state').in_(OPEN_STATES),
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                'reply': {
                    'invisible': In(Eval('state'), ['closed', 'cancelled']),
                    'icon': 'tryton-email',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def order_priority(cls, tables):
        "Order by urgency: urgent first, low last"
        table, _ = tables[None]
        return [Case(*((table.priority == p, r)
                    for p, r in PRIORITY_RANK.items()),
                else_=len(PRIORITY_RANK))]

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree', 'visual',
                If(In(Eval('state'), ['closed', 'cancelled']), 'muted',
                    If(Eval('priority') == 'urgent', 'danger',
                        If(Eval('priority') == 'high', 'warning',
                            If(Eval('state') == 'resolved', 'success',
                                ''))))),
            ('/tree/field[@name="state"]', 'visual',
                If(Eval('state') == 'waiting', 'muted',
                    If(Eval('state') == 'reopened', 'warning', ''))),
            ]

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_priority():
        return 'normal'

    @staticmethod
    def default_channel():
        return 'internal'

    @staticmethod
    def default_state():
        return 'new'

    @fields.depends('contact', 'account')
    def on_change_contact(self):
        if self.contact and not self.account:
            accounts = [l.account for l in getattr(
                    self.contact, 'contact_accounts', None) or []]
            if len(accounts) == 1:
                self.account = accounts[0]

    @fields.depends('handler', 'service_team')
    def on_change_handler(self):
        if self.handler and not self.service_team:
            teams = [m.team for m in getattr(
                    self.handler, 'sales_teams', None) or []
                if m.team.kind == 'service']
            if len(teams) == 1:
                self.service_team = teams[0]

    def get_rec_name(self, name):
        if self.number:
            return '[%s] %s' % (self.number, self.subject)
        return self.subject

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause[:3]
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('number', operator, value),
            ('subject', operator, value),
            ]

    @classmethod
    def get_message_count(cls, tickets, name):
        pool = Pool()
        Message = pool.get('hitech.ticket.message')
        from trytond.modules.hitech_crm_base.tools import count_by
        message = Message.__table__()
        return count_by(message, message.ticket, [t.id for t in tickets])

    @classmethod
    def get_ticket_count(cls, tickets, name):
        return dict.fromkeys([t.id for t in tickets], 1)

    def get_open(self, name):
        return self.state in OPEN_STATES

    @classmethod
    def search_open(cls, name, clause):
        _, operator, value = clause[:3]
        if operator in {'=', '!='} and isinstance(value, bool):
            positive = (operator == '=') == value
            return [('state', 'in' if positive else 'not in', OPEN_STATES)]
        return []

    # Numbering and computed values ---------------------------------------

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create' and not values.get('number'):
            values['number'] = cls._new_number(values)
        if mode == 'create' and values.get('handler'):
            values.setdefault('assigned_at', datetime.datetime.now())
        return values

    @classmethod
    def _new_number(cls, values):
        "Return the number of a new ticket from the configuration sequence"
        pool = Pool()
        Configuration = pool.get('hitech.service.configuration')
        company = values.get('company', cls.default_company())
        with without_check_access():
            config = Configuration(1)
            sequence = config.get_multivalue(
                'ticket_sequence', company=company)
            if not sequence:
                raise TicketError(gettext(
                        'hitech_service.msg_ticket_no_sequence'))
            return sequence.get()

    def compute_fields(self, field_names=None):
        values = super().compute_fields(field_names=field_names)
        if (field_names is None
                or field_names & {'response_deadline',
                    'resolution_deadline', 'first_response_at',
                    'resolved_at', 'state', 'sla_deadline'}):
            deadline = self._get_sla_deadline()
            if getattr(self, 'sla_deadline', None) != deadline:
                values['sla_deadline'] = deadline
        return values

    def _get_sla_deadline(self):
        "Return the next pending deadline of the ticket"
        state = getattr(self, 'state', None)
        if state not in OPEN_STATES:
            return None
        if (not getattr(self, 'first_response_at', None)
                and getattr(self, 'response_deadline', None)):
            return self.response_deadline
        return getattr(self, 'resolution_deadline', None)

    @classmethod
    def copy(cls, tickets, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('number')
        default.setdefault('messages')
        for name in ['assigned_at', 'first_response_at', 'resolved_at',
                'closed_at', 'response_deadline', 'resolution_deadline',
                'sla_deadline']:
            default.setdefault(name)
        return super().copy(tickets, default=default)

    @classmethod
    def check_modification(cls, mode, tickets, values=None, external=False):
        super().check_modification(
            mode, tickets, values=values, external=external)
        if mode == 'delete':
            for ticket in tickets:
                if ticket.state not in {'new', 'cancelled'}:
                    raise TicketError(gettext(
                            'hitech_service.msg_ticket_delete_state',
                            ticket=ticket.rec_name))

    # State changes --------------------------------------------------------

    @classmethod
    def on_write(cls, tickets, values):
        callbacks = super().on_write(tickets, values)
        if 'state' in values:
            changes = [(t, t.state) for t in tickets
                if t.state != values['state']]
            if changes:
                callbacks.append(lambda: cls.on_state_change(
                        [t for t, _ in changes], values['state'],
                        dict((t.id, s) for t, s in changes)))
        return callbacks

    @classmethod
    def on_state_change(cls, tickets, state, previous):
        """Called after tickets moved to state.

        previous maps ticket ids to their former state.  Extension point
        for the service level agreements and notifications."""
        pass

    @classmethod
    def _now(cls):
        return datetime.datetime.now()

    @classmethod
    @ModelView.button
    @Workflow.transition('assigned')
    def assign(cls, tickets):
        for ticket in tickets:
            if not ticket.handler:
                raise TicketError(gettext(
                        'hitech_service.msg_ticket_assign_no_handler',
                        ticket=ticket.rec_name))
        cls.write(tickets, {'assigned_at': cls._now()})

    @classmethod
    @ModelView.button
    @Workflow.transition('in_progress')
    def start(cls, tickets):
        pool = Pool()
        User = pool.get('res.user')
        employee = User(Transaction().user).employee
        to_take = [t for t in tickets if not t.handler]
        if to_take and employee:
            cls.write(to_take, {
                    'handler': employee.id,
                    'assigned_at': cls._now(),
                    })

    @classmethod
    @ModelView.button
    @Workflow.transition('waiting')
    def wait(cls, tickets):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('resolved')
    def resolve(cls, tickets):
        cls.write(tickets, {'resolved_at': cls._now()})

    @classmethod
    @ModelView.button
    @Workflow.transition('closed')
    def close(cls, tickets):
        cls.write(tickets, {'closed_at': cls._now()})

    @classmethod
    @ModelView.button
    @Workflow.transition('reopened')
    def reopen(cls, tickets):
        cls.write(tickets, {
                'resolved_at': None,
                'closed_at': None,
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, tickets):
        pass

    @classmethod
    @ModelView.button_action('hitech_service.wizard_ticket_reply')
    def reply(cls, tickets):
        pass

    # Thread ---------------------------------------------------------------

    @classmethod
    def _number_pattern(cls):
        "Regular expression finding a ticket number in an email subject"
        return re.compile(r'\[([A-Za-z]*[0-9]+)\]')

    def get_email_subject(self, subject=None):
        "Return the subject of an email of the ticket, with its number"
        subject = subject or self.subject or ''
        tag = '[%s]' % self.number
        if tag not in subject:
            subject = '%s %s' % (tag, subject)
        return subject

    @classmethod
    def set_first_response(cls, tickets, date=None):
        "Record the first response of the tickets that have none"
        to_write = [t for t in tickets if not t.first_response_at]
        if to_write:
            cls.write(to_write, {'first_response_at': date or cls._now()})

    # Email in -------------------------------------------------------------

    @classmethod
    def from_inbound_email(cls, inbound_email, rule):
        """Action of the inbound email rules: turn the email into a ticket
        or thread it into the ticket it answers.

        Return the ticket, or None when the email is rejected; the outcome
        is stored on the inbound email and logged."""
        pool = Pool()
        Configuration = pool.get('hitech.service.configuration')
        config = Configuration(1)
        try:
            parsed = cls._parse_inbound_email(inbound_email,
                max_size=config.get_email_max_size(),
                max_attachment_size=config.get_email_attachment_max_size())
        except MailRejected as rejection:
            detail = gettext(
                'hitech_service.msg_email_rejected_%s' % rejection.reason,
                **{k: v for k, v in rejection.params.items()})
            cls._set_email_outcome(inbound_email, 'rejected', detail)
            logger.warning(
                "inbound email %s rejected (%s): %s",
                inbound_email.id, rejection.reason, detail)
            return None
        return cls._ticket_from_email(inbound_email, parsed, rule)

    @classmethod
    def _parse_inbound_email(
            cls, inbound_email, max_size=None, max_attachment_size=None):
        "Return the ParsedEmail of the inbound email or raise MailRejected"
        data = inbound_email.data or b''
        if max_size and len(data) > max_size:
            raise MailRejected('too_large', size=len(data), limit=max_size)
        if inbound_email.data_type == 'raw':
            return parse_email(data, max_size=max_size,
                max_attachment_size=max_attachment_size)
        try:
            values = inbound_email.as_dict()
        except Exception as exception:
            raise MailRejected('malformed', error=str(exception)[:200])
        headers = {k.lower(): str(v)
            for k, v in (values.get('headers') or {}).items()}
        raw = ''.join(
            '%s: %s\r\n' % (k, ' '.join(str(v).split()))
            for k, v in [
                ('From', values.get('from', '')),
                ('Subject', values.get('subject', '')),
                ('Message-ID', headers.get('message-id', '')),
                ('In-Reply-To', headers.get('in-reply-to', '')),
                ('References', headers.get('references', '')),
                ('Content-Type', 'text/plain; charset=utf-8'),
                ] if v)
        text = values.get('text') or ''
        if not text and values.get('html'):
            text = html_to_text(values['html'])
        parsed = parse_email(
            (raw + '\r\n').encode('utf-8') + text.encode('utf-8'),
            max_size=None)
        for attachment in values.get('attachments') or []:
            data = attachment.get('data') or b''
            filename = clean_text(attachment.get('filename') or '', 200)
            if max_attachment_size and len(data) > max_attachment_size:
                raise MailRejected('attachment_too_large', filename=filename,
                    size=len(data), limit=max_attachment_size)
            parsed.attachments.append(Attachment(
                    filename or 'attachment-%d' % (
                        len(parsed.attachments) + 1),
                    attachment.get('type') or 'application/octet-stream',
                    data))
        return parsed

    @classmethod
    def _set_email_outcome(cls, inbound_email, outcome, detail=None):
        inbound_email.ticket_outcome = outcome
        inbound_email.ticket_outcome_detail = (detail or '')[:250] or None

    @classmethod
    def _ticket_from_email(cls, inbound_email, parsed, rule):
        pool = Pool()
        Message = pool.get('hitech.ticket.message')
        if parsed.message_id:
            duplicates = Message.search([
                    ('message_id', '=', parsed.message_id),
                    ], limit=1)
            if duplicates:
                ticket = duplicates[0].ticket
                cls._set_email_outcome(inbound_email, 'duplicate',
                    gettext('hitech_service.msg_email_duplicate',
                        ticket=ticket.rec_name))
                return ticket
        party = cls._email_party(parsed.sender)
        ticket = cls._email_thread_ticket(parsed, party)
        if ticket:
            cls._add_email_message(ticket, parsed, party)
            cls._thread_reopen([ticket])
            cls._set_email_outcome(inbound_email, 'threaded', ticket.number)
            logger.info("inbound email %s threaded into ticket %s",
                inbound_email.id, ticket.number)
        else:
            ticket, = cls.create(
                [cls._email_ticket_values(parsed, party, rule)])
            cls._add_email_message(ticket, parsed, party)
            cls._set_email_outcome(inbound_email, 'created', ticket.number)
            logger.info("inbound email %s created ticket %s",
                inbound_email.id, ticket.number)
        return ticket

    @classmethod
    def _email_party(cls, address):
        "Return the party whose email contact mechanism is the address"
        pool = Pool()
        ContactMechanism = pool.get('party.contact_mechanism')
        if not address:
            return None
        escaped = address.replace('\\', '\\\\').replace(
            '%', '\\%').replace('_', '\\_')
        mechanisms = ContactMechanism.search([
                ('type', '=', 'email'),
                ('value', 'ilike', escaped),
                ('party.active', '=', True),
                ], order=[('party', 'ASC')])
        for mechanism in mechanisms:
            if (mechanism.value or '').strip().lower() == address:
                return mechanism.party

    @classmethod
    def _email_thread_ticket(cls, parsed, party):
        """Return the ticket the email answers, if any.

        A match on In-Reply-To/References (our Message-IDs cannot be
        guessed) is enough; a ticket number in the subject only threads
        when the sender belongs to the ticket, so that nobody can write
        into the ticket of another customer by quoting its number."""
        pool = Pool()
        Message = pool.get('hitech.ticket.message')
        ids = parsed.thread_ids
        if ids:
            messages = Message.search([
                    ('message_id', 'in', ids),
                    ], order=[('date', 'DESC'), ('id', 'DESC')], limit=1)
            if messages:
                return cls._email_follow_up(messages[0].ticket)
        for number in cls._number_pattern().findall(parsed.subject or ''):
            tickets = cls.search([('number', '=', number)], limit=1)
            if tickets and tickets[0]._email_sender_known(parsed, party):
                return cls._email_follow_up(tickets[0])

    @classmethod
    def _email_follow_up(cls, ticket):
        "Return the ticket an answer goes to: None for a new ticket"
        if ticket.state in {'closed', 'cancelled'}:
            return None
        return ticket

    def _email_sender_known(self, parsed, party):
        "Whether the sender of the email belongs to the ticket"
        if parsed.sender and any(
                (m.email_from or '').lower() == parsed.sender
                for m in self.messages):
            return True
        if not party:
            return False
        parties = {self.account, self.contact} - {None}
        if party in parties:
            return True
        accounts = {l.account for l in getattr(
                party, 'contact_accounts', None) or []}
        return bool(self.account and self.account in accounts)

    @classmethod
    def _email_ticket_values(cls, parsed, party, rule):
        "Return the values of a new ticket from an email"
        pool = Pool()
        Company = pool.get('company.company')
        values = {
            'subject': parsed.subject or gettext(
                'hitech_service.msg_email_no_subject'),
            'description': parsed.text,
            'channel': 'email',
            }
        company = getattr(rule, 'ticket_company', None)
        if not company:
            companies = Company.search([], limit=2)
            if len(companies) == 1:
                company, = companies
        if company:
            values['company'] = company.id
        if getattr(rule, 'ticket_priority', None):
            values['priority'] = rule.ticket_priority
        if getattr(rule, 'ticket_category', None):
            values['category'] = rule.ticket_category.id
        if getattr(rule, 'ticket_service_team', None):
            values['service_team'] = rule.ticket_service_team.id
        values.update(cls._party_values(party))
        return values

    @classmethod
    def _party_values(cls, party):
        "Return the account and contact values of a ticket from a party"
        if not party:
            return {}
        if getattr(party, 'party_kind', 'company') == 'person':
            values = {'contact': party.id}
            accounts = {l.account for l in party.contact_accounts}
            if len(accounts) == 1:
                values['account'] = accounts.pop().id
            return values
        return {'account': party.id}

    @classmethod
    def _add_email_message(cls, ticket, parsed, party):
        pool = Pool()
        Message = pool.get('hitech.ticket.message')
        names = set()
        attachments = []
        for attachment in parsed.attachments:
            name = attachment.filename
            index = 1
            while name in names:
                index += 1
                name = '%s (%d)' % (attachment.filename, index)
            names.add(name)
            attachments.append({
                    'name': name,
                    'type': 'data',
                    'data': attachment.data,
                    })
        message, = Message.create([{
                    'ticket': ticket.id,
                    'direction': 'incoming',
                    'party': party.id if party else None,
                    'email_from': parsed.sender,
                    'email_to': ', '.join(parsed.to)[:250] or None,
                    'subject': parsed.subject,
                    'body': parsed.text,
                    'message_id': parsed.message_id or None,
                    'in_reply_to': parsed.in_reply_to or None,
                    'references': ' '.join(parsed.references) or None,
                    'attachments': [('create', attachments)],
                    }])
        return message

    @classmethod
    def _thread_reopen(cls, tickets):
        "Move tickets the customer answered back to work"
        cls.reopen([t for t in tickets if t.state == 'resolved'])
        cls.start([t for t in tickets if t.state == 'waiting'])

    # Email out ------------------------------------------------------------

    @classmethod
    def _email_from(cls):
        pool = Pool()
        Configuration = pool.get('hitech.service.configuration')
        config = Configuration(1)
        return config.email_from or trytond_config.get('email', 'from')

    def send_reply(self, to, body, subject=None, cc=None):
        """Send body to the customer as an answer in the ticket's thread and
        store it as an outgoing message"""
        pool = Pool()
        Message = pool.get('hitech.ticket.message')
        to_addrs = _addresses(to)
        cc_addrs = _addresses(cc)
        if not to_addrs:
            raise TicketEmailError(gettext(
                    'hitech_service.msg_email_reply_no_recipient',
                    ticket=self.rec_name))
        from_ = self._email_from()
        last = self._email_last_message()
        msg = EmailMessage()
        msg['From'] = from_
        msg['To'] = ', '.join(to_addrs)
        if cc_addrs:
            msg['Cc'] = ', '.join(cc_addrs)
        msg['Subject'] = self.get_email_subject(
            clean_text(subject, SUBJECT_MAX) if subject else None)
        msg['Message-ID'] = new_message_id(
            domain=from_.rsplit('@', 1)[-1].strip('> ') if from_ else None)
        references = []
        if last:
            msg['In-Reply-To'] = last.message_id
            references = (last.references or '').split() + [last.message_id]
            msg['References'] = ' '.join(references[-20:])
        msg['X-HiTech-Ticket'] = self.number
        msg.set_content(body or '')
        sendmail_transactional(from_, to_addrs + cc_addrs, msg)
        message, = Message.create([{
                    'ticket': self.id,
                    'direction': 'outgoing',
                    'email_from': from_,
                    'email_to': ', '.join(to_addrs + cc_addrs)[:250],
                    'subject': str(msg['Subject']),
                    'body': body,
                    'message_id': str(msg['Message-ID']),
                    'in_reply_to': last.message_id if last else None,
                    'references': ' '.join(references[-20:]) or None,
                    }])
        return message

    def _email_last_message(self):
        "Return the last message of the thread that has a Message-ID"
        for message in reversed(self.messages):
            if message.message_id and message.direction != 'internal':
                return message

    def get_reply_address(self):
        "Return the address an answer goes to"
        for message in reversed(self.messages):
            if message.direction == 'incoming' and message.email_from:
                return message.email_from
        for party in [self.contact, self.account]:
            if party and party.email:
                return party.email


class TicketMessage(ModelSQL, ModelView):
    "Ticket Message"
    __name__ = 'hitech.ticket.message'
    _rec_name = 'subject'

    ticket = fields.Many2One(
        'hitech.ticket', "Ticket", required=True, ondelete='CASCADE')
    direction = fields.Selection([
            ('incoming', "Incoming"),
            ('outgoing', "Outgoing"),
            ('internal', "Internal Note"),
            ], "Direction", required=True, sort=False,
        help="Incoming from the customer, outgoing to the customer or an "
        "internal note the customer never sees.")
    date = fields.Timestamp("Date", required=True)
    author = fields.Many2One(
        'res.user', "Author", ondelete='SET NULL', readonly=True,
        help="The user who wrote the message.")
    party = fields.Many2One(
        'party.party', "Party", ondelete='SET NULL',
        context={'company': Eval('company', -1)}, depends={'company'},
        help="The customer who wrote or received the message.")
    company = fields.Function(
        fields.Many2One('company.company', "Company"),
        'on_change_with_company')
    email_from = fields.Char("From", readonly=True)
    email_to = fields.Char("To",
        help="The recipients of an outgoing message, separated by commas.")
    subject = fields.Char("Subject")
    body = fields.Text("Body",
        help="The text of the message; always shown as plain text.")
    message_id = fields.Char("Message-ID", readonly=True,
        help="The Message-ID header of the email.")
    in_reply_to = fields.Char("In-Reply-To", readonly=True,
        help="The Message-ID the email answered.")
    references = fields.Text("References", readonly=True)
    attachments = fields.One2Many(
        'ir.attachment', 'resource', "Attachments",
        help="Files received or sent with the message.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # the message follows the access and rules of its ticket
        cls.__access__.add('ticket')
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.ticket, Index.Range()), (t.date, Index.Range())),
                Index(t, (t.message_id, Index.Equality(cardinality='high')),
                    where=t.message_id != None),  # noqa: E711
                })
        cls._order = [('date', 'ASC'), ('id', 'ASC')]

    @staticmethod
    def default_date():
        return datetime.datetime.now()

    @staticmethod
    def default_direction():
        return 'internal'

    @staticmethod
    def default_author():
        return Transaction().user

    @fields.depends('ticket', '_parent_ticket.company')
    def on_change_with_company(self, name=None):
        return self.ticket.company if self.ticket else None

    def get_rec_name(self, name):
        return self.subject or self.ticket.rec_name

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create':
            values.setdefault('author', Transaction().user or None)
        return values

    @classmethod
    def on_modification(cls, mode, messages, field_names=None):
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        super().on_modification(mode, messages, field_names=field_names)
        if mode == 'create':
            first = {}
            for message in messages:
                if message.direction == 'outgoing':
                    ticket = message.ticket.id
                    first[ticket] = min(
                        message.date, first.get(ticket, message.date))
            for date, group in groupby(
                    sorted(first.items(), key=lambda i: i[1]),
                    key=lambda i: i[1]):
                Ticket.set_first_response(
                    Ticket.browse([t for t, _ in group]), date)

    @classmethod
    def copy(cls, messages, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('message_id')
        default.setdefault('in_reply_to')
        default.setdefault('references')
        return super().copy(messages, default=default)


class TicketReplyStart(ModelView):
    "Reply to Ticket"
    __name__ = 'hitech.ticket.reply.start'

    ticket = fields.Many2One('hitech.ticket', "Ticket", readonly=True)
    to = fields.Char("To", required=True,
        help="The recipients, separated by commas.")
    cc = fields.Char("Cc")
    subject = fields.Char("Subject", required=True,
        help="The ticket number is added in brackets when missing, so that "
        "the answers of the customer come back to the ticket.")
    body = fields.Text("Message", required=True)
    wait = fields.Boolean("Wait on Customer",
        help="Put the ticket in the waiting state after sending.")


class TicketReply(Wizard):
    "Reply to Ticket"
    __name__ = 'hitech.ticket.reply'
    start = StateView('hitech.ticket.reply.start',
        'hitech_service.ticket_reply_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Send", 'send', 'tryton-ok', default=True),
            ])
    send = StateTransition()

    def default_start(self, fields):
        ticket = self.record
        subject = ticket.subject or ''
        if not subject.lower().startswith('re:'):
            subject = 'Re: ' + subject
        return {
            'ticket': ticket.id,
            'to': ticket.get_reply_address(),
            'subject': ticket.get_email_subject(subject),
            'wait': True,
            }

    def transition_send(self):
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        ticket = self.record
        if ticket.state in {'closed', 'cancelled'}:
            raise TicketEmailError(gettext(
                    'hitech_service.msg_email_reply_state',
                    ticket=ticket.rec_name))
        ticket.send_reply(self.start.to, self.start.body,
            subject=self.start.subject, cc=self.start.cc)
        Ticket.start([ticket])
        if self.start.wait:
            Ticket.wait([ticket])
        return 'end'
