# This file is part of HiTech CRM. See LICENSE for details.
"""Tickets submitted through the public web form route.

The route (routes.py) runs without a logged-in user: the caller chooses
the text of the request and who they are, never the company, priority,
handler, team or account of the ticket.
"""
import datetime
import hmac
import logging
import re

from sql.aggregate import Count

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

from .exceptions import TicketFormError
from .mail import SUBJECT_MAX, clean_text

logger = logging.getLogger(__name__)
EMAIL_RE = re.compile(r'^[^@\s<>,;"]+@[^@\s<>,;"]+\.[^@\s<>,;"]+$')
HONEYPOT = 'website'
DESCRIPTION_MAX = 20000
FIELDS = {
    'subject', 'description', 'email', 'name', 'phone', 'organisation',
    'product', 'serial_number', 'category', 'secret', HONEYPOT}
RATE_WINDOW = datetime.timedelta(hours=1)


class FormAttempt(ModelSQL):
    "Ticket Web Form Attempt"
    __name__ = 'hitech.ticket.form.attempt'

    ip_address = fields.Char("IP Address", required=True)
    accepted = fields.Boolean("Accepted")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.ip_address, Index.Equality()),
                (t.create_date, Index.Range())))

    @classmethod
    def count(cls, ip_address, since):
        "Return the number of attempts of the address since the date"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.select(Count(table.id),
                where=(table.ip_address == ip_address)
                & (table.create_date >= since)))
        return cursor.fetchone()[0]

    @classmethod
    def clean(cls, date=None):
        "Delete the attempts older than a day (cron)"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        if date is None:
            date = datetime.datetime.now() - datetime.timedelta(days=1)
        cursor.execute(*table.delete(where=table.create_date < date))


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('hitech.ticket.form.attempt|clean',
                "Delete Old Ticket Web Form Attempts"))


class FormRefused(Exception):
    "The submission is refused with an HTTP status and a message"

    def __init__(self, status, code, message, field=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    def as_dict(self):
        value = {'status': 'error', 'code': self.code, 'error': self.message}
        if self.field:
            value['field'] = self.field
        return value


def _refuse(status, code, msg_id, field=None, **params):
    raise FormRefused(status, code,
        gettext('hitech_service.%s' % msg_id, **params), field=field)


def check_secret(config, values, headers):
    "Refuse the submission when the shared secret does not match"
    secret = config.web_form_secret
    if not secret:
        return
    given = headers.get('X-HiTech-Secret') or values.get('secret') or ''
    if not hmac.compare_digest(
            str(given).encode('utf-8'), secret.encode('utf-8')):
        _refuse(403, 'forbidden', 'msg_web_form_secret')


def check_rate(config, ip_address):
    "Count the attempt of the address and refuse above the limit"
    pool = Pool()
    Attempt = pool.get('hitech.ticket.form.attempt')
    limit = config.web_form_rate_limit
    if not limit:
        return
    since = datetime.datetime.now() - RATE_WINDOW
    if Attempt.count(ip_address, since) >= limit:
        logger.warning("web form: rate limit of %s reached", ip_address)
        _refuse(429, 'rate_limited', 'msg_web_form_rate_limit',
            limit=limit)


def record_attempt(ip_address, accepted):
    pool = Pool()
    Attempt = pool.get('hitech.ticket.form.attempt')
    Attempt.create([{'ip_address': ip_address, 'accepted': accepted}])


def _text(values, name, max_length=None, required=False):
    value = values.get(name)
    if value is None:
        value = ''
    if not isinstance(value, str):
        _refuse(400, 'invalid', 'msg_web_form_field_invalid', field=name,
            field_name=name)
    if max_length is not None and len(value) > max_length * 4:
        _refuse(400, 'invalid', 'msg_web_form_field_too_long', field=name,
            field_name=name)
    value = clean_text(value, max_length)
    value = value.strip()
    if required and not value:
        _refuse(400, 'missing', 'msg_web_form_field_required', field=name,
            field_name=name)
    return value


def ticket_values(config, values):
    """Return the values of the ticket and of its first message.

    Refuse with FormRefused on bad input."""
    pool = Pool()
    Ticket = pool.get('hitech.ticket')
    Product = pool.get('product.product')
    Category = pool.get('hitech.ticket.category')
    Company = pool.get('company.company')
    unknown = set(values) - FIELDS
    if unknown:
        _refuse(400, 'invalid', 'msg_web_form_field_unknown',
            field=sorted(unknown)[0], field_name=sorted(unknown)[0])
    subject = _text(values, 'subject', SUBJECT_MAX, required=True)
    description = clean_text(
        _text(values, 'description') if 'description' in values else '')
    if len(description) > DESCRIPTION_MAX:
        _refuse(400, 'invalid', 'msg_web_form_field_too_long',
            field='description', field_name='description')
    email = _text(values, 'email', 254, required=True).lower()
    if not EMAIL_RE.match(email):
        _refuse(400, 'invalid', 'msg_web_form_email_invalid',
            field='email')
    name = _text(values, 'name', 120)
    phone = _text(values, 'phone', 40)
    organisation = _text(values, 'organisation', 120)
    serial_number = _text(values, 'serial_number', 60)

    company = config.web_form_company
    if not company:
        companies = Company.search([], limit=2)
        if len(companies) != 1:
            _refuse(503, 'not_configured', 'msg_web_form_not_configured')
        company, = companies

    ticket = {
        'subject': subject,
        'description': description,
        'channel': 'web',
        'company': company.id,
        'serial_number': serial_number or None,
        }
    product_code = _text(values, 'product', 60)
    if product_code:
        with Transaction().set_context(company=company.id):
            products = Product.search([
                    ('code', '=', product_code),
                    ('active', '=', True),
                    ], limit=1)
        if not products:
            _refuse(400, 'invalid', 'msg_web_form_product_unknown',
                field='product')
        ticket['product'] = products[0].id
    category_code = _text(values, 'category', 60)
    if category_code:
        categories = Category.search([
                ('code', '=', category_code),
                ('active', '=', True),
                ], limit=1)
        if not categories:
            _refuse(400, 'invalid', 'msg_web_form_category_unknown',
                field='category')
        ticket['category'] = categories[0].id
    party = Ticket._email_party(email)
    ticket.update(Ticket._party_values(party))

    lines = [description]
    sender = [v for v in [name, organisation, phone, email] if v]
    lines.append('-- \n' + '\n'.join(sender))
    message = {
        'direction': 'incoming',
        'party': party.id if party else None,
        'email_from': email,
        'subject': subject,
        'body': '\n\n'.join(l for l in lines if l),
        }
    return ticket, message


def create_ticket(ticket_values, message_values):
    pool = Pool()
    Ticket = pool.get('hitech.ticket')
    Message = pool.get('hitech.ticket.message')
    with Transaction().set_context(company=ticket_values['company']):
        ticket, = Ticket.create([ticket_values])
        Message.create([dict(message_values, ticket=ticket.id)])
    return ticket


def refuse_invalid_json():
    _refuse(400, 'invalid', 'msg_web_form_body_invalid')


__all__ = [
    'FormAttempt', 'Cron', 'FormRefused', 'TicketFormError', 'HONEYPOT',
    'check_secret', 'check_rate', 'record_attempt', 'ticket_values',
    'create_ticket', 'refuse_invalid_json']
