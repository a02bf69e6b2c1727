# This file is part of HiTech CRM. See LICENSE for details.
"""Leads: web capture, the public pool, claims and the daily return of
idle leads.

A lead is a ``sale.opportunity`` in state ``lead``.  A lead without an
employee is in the pool (``in_pool``); reps claim from it within the open
lead limit of the configuration, and a claimed lead without a done
activity for the return delay of its source goes back to the pool by the
daily cron, in one set-based UPDATE.
"""
import datetime
import hmac
import re
from email.message import EmailMessage
from urllib.parse import parse_qs, urlsplit

from sql import Column, Literal, Null
from sql.aggregate import Count
from sql.conditionals import Case, Coalesce
from sql.operators import Exists

from trytond import backend
from trytond.config import config
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSingleton, ModelSQL, ModelStorage,
    ModelView, Unique, fields)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, Get, If, In
from trytond.sendmail import send_message_transactional
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from .dedup import (
    STRONG_SCORE, normalize_email, normalize_phone)
from .access import SystemRecordMixin
from .exceptions import LeadCaptureError, LeadPoolError

try:
    import phonenumbers
except ImportError:  # pragma: no cover
    phonenumbers = None

EMAIL_RE = re.compile(r'^[^@\s<>()\[\],;:"]+@[^@\s<>()\[\],;:"]+\.[^@\s<>]+$')
# Query parameters that carry the search terms in search engine referrers
KEYWORD_PARAMETERS = (
    'q', 'wd', 'word', 'query', 'keyword', 'keywords', 'p', 'text', 'kw')
# Maximum sizes of the captured fields (characters)
CAPTURE_SIZES = {
    'name': 100,
    'company': 200,
    'email': 254,
    'phone': 50,
    'message': 5000,
    'product': 200,
    'source': 50,
    'campaign': 100,
    'medium': 100,
    'utm_source': 100,
    'referrer': 1000,
    'landing_page': 1000,
    'keywords': 200,
    'country': 2,
    'form': 100,
    }
POOL_ACTIONS = [
    ('assign', "Assigned"),
    ('claim', "Claimed"),
    ('reclaim', "Reclaimed"),
    ('return', "Returned"),
    ('release', "Released"),
    ]


def parse_search_keywords(referrer):
    """Return the search terms of a search engine referrer URL

    >>> parse_search_keywords('https://www.baidu.com/s?wd=EDA+tools')
    'EDA tools'
    >>> parse_search_keywords('https://example.com/page') is None
    True
    """
    if not referrer:
        return None
    try:
        query = parse_qs(urlsplit(referrer).query)
    except ValueError:
        return None
    for name in KEYWORD_PARAMETERS:
        for value in query.get(name, []):
            value = ' '.join(value.split())
            if value:
                return value[:CAPTURE_SIZES['keywords']]
    return None


def valid_email(value):
    return bool(value and EMAIL_RE.match(value))


def valid_phone(value, region):
    if not phonenumbers:  # pragma: no cover
        return len(re.sub(r'\D', '', value or '')) >= 6
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_possible_number(number)


class Configuration(ModelSingleton, ModelSQL, ModelView):
    __name__ = 'hitech.crm.configuration'
    __string__ = "CRM Configuration"

    pool_return_days = fields.Integer(
        "Pool Return Delay", required=True,
        domain=[('pool_return_days', '>', 0)],
        help="Days without a done activity after which a claimed lead "
        "returns to the pool (a lead source may set its own delay).")
    pool_cooldown_days = fields.Integer(
        "Reclaim Cool-down", required=True,
        domain=[('pool_cooldown_days', '>=', 0)],
        help="Days during which a rep may not claim again a lead that was "
        "returned from them to the pool.")
    max_open_leads = fields.Integer(
        "Open Leads per Rep", required=True,
        domain=[('max_open_leads', '>', 0)],
        help="The most open leads a rep may hold when claiming from the "
        "pool.")
    capture_rate_limit = fields.Integer(
        "Posts per Address", required=True,
        domain=[('capture_rate_limit', '>', 0)],
        help="The most web form posts accepted from one IP address within "
        "the rate window; further posts get HTTP 429.")
    capture_rate_window = fields.Integer(
        "Rate Window", required=True,
        domain=[('capture_rate_window', '>', 0)],
        help="The length of the rate-limit window in seconds.")
    capture_max_size = fields.Integer(
        "Largest Post", required=True,
        domain=[('capture_max_size', '>', 0)],
        help="The largest accepted web form body in bytes; larger posts get "
        "HTTP 413.")
    capture_queue = fields.Boolean(
        "Queue Web Captures",
        help="Answer web form posts at once (HTTP 202 with a reference) "
        "and let the queue create, deduplicate and assign the leads by "
        "batches: for high volumes; needs a queue worker.  Otherwise the "
        "lead is created within the post (HTTP 201 with its number).")
    phone_region = fields.Char(
        "Phone Region", size=2, strip=True,
        help="The ISO country code used to read phone numbers without "
        "an international prefix (e.g. CN).")

    _capture_settings = {
        'capture_rate_limit': 'rate_limit',
        'capture_rate_window': 'rate_window',
        'capture_max_size': 'max_size',
        'capture_queue': 'queue',
        'phone_region': 'phone_region',
        }

    @classmethod
    def capture_settings(cls):
        """Return the settings of the web capture as a dict, read with one
        query (every post reads them; the singleton's read of all its
        fields cost a tenth of a post)"""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        names = sorted(cls._capture_settings)
        cursor.execute(*table.select(
                *[Column(table, n) for n in names],
                order_by=[table.id.asc], limit=1))
        row = cursor.fetchone() or [None] * len(names)
        settings = {}
        for name, value in zip(names, row):
            if value is None:
                default = getattr(cls, 'default_%s' % name, None)
                value = default() if default else None
            settings[cls._capture_settings[name]] = value
        settings['queue'] = bool(settings['queue'])
        settings['phone_region'] = settings['phone_region'] or 'CN'
        return settings

    @classmethod
    def stored(cls):
        "Return the configuration record, stored if it was not yet"
        records = cls.search([], limit=1)
        if records:
            return records[0]
        record, = cls.create([{}])
        return record

    @classmethod
    def process_lead_captures(cls, configurations):
        "The task of the capture queue (the configuration names it)"
        pool = Pool()
        Pending = pool.get('hitech.lead.capture.pending')
        Pending.process_pending()

    @classmethod
    def delete(cls, records):
        # ModelSingleton skips the access check while no row is stored
        Pool().get('ir.model.access').check(cls.__name__, 'delete')
        super().delete(records)

    @classmethod
    def default_pool_return_days(cls):
        return 30

    @classmethod
    def default_pool_cooldown_days(cls):
        return 7

    @classmethod
    def default_max_open_leads(cls):
        return 50

    @classmethod
    def default_capture_rate_limit(cls):
        return 30

    @classmethod
    def default_capture_rate_window(cls):
        return 3600

    @classmethod
    def default_capture_max_size(cls):
        return 16 * 1024

    @classmethod
    def default_phone_region(cls):
        return 'CN'


class LeadSource(metaclass=PoolMeta):
    __name__ = 'hitech.lead.source'

    pool_return_days = fields.Integer(
        "Pool Return Delay",
        domain=['OR',
            ('pool_return_days', '=', None),
            ('pool_return_days', '>', 0),
            ],
        help="Days without a done activity after which a claimed lead of "
        "this source returns to the pool; empty for the configuration's "
        "delay.")


class LeadForm(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'hitech.lead.form'
    __string__ = "Lead Form"

    name = fields.Char("Name", required=True)
    code = fields.Char(
        "Code", required=True, strip=True,
        help="The value websites post in the \"form\" field.")
    company = fields.Many2One(
        'company.company', "Company", required=True,
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ])
    key = fields.Char(
        "Shared Secret",
        help="When set, posts must carry it in the \"key\" field or the "
        "X-Lead-Key header; others get HTTP 403.")
    source = fields.Many2One(
        'hitech.lead.source', "Default Source", ondelete='RESTRICT',
        help="The source of leads whose post names no known source.")
    campaign = fields.Many2One(
        'marketing.campaign', "Default Campaign", ondelete='SET NULL')
    sales_team = fields.Many2One(
        'hitech.sales.team', "Default Team", ondelete='SET NULL',
        help="The team of the leads when no assignment rule sets one.")
    honeypot = fields.Char(
        "Honeypot Field", required=True,
        help="A field hidden from people on the web page: posts that fill "
        "it are rejected as robots.")
    lead_count = fields.Function(
        fields.Integer("Leads"), 'get_lead_count')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'hitech_crm_base.msg_lead_form_code_unique'),
            ]

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_honeypot(cls):
        return 'website_url'

    @classmethod
    def get_lead_count(cls, forms, name):
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        opportunity = Opportunity.__table__()
        cursor = Transaction().connection.cursor()
        result = {f.id: 0 for f in forms}
        for sub_ids in grouped_slice(list(result), backend.MAX_QUERY_PARAMS):
            cursor.execute(*opportunity.select(
                    opportunity.lead_form, Count(Literal(1)),
                    where=reduce_ids(opportunity.lead_form, sub_ids),
                    group_by=[opportunity.lead_form]))
            result.update(cursor)
        return result

    def check_key(self, key):
        if not self.key:
            return True
        return hmac.compare_digest(
            (key or '').encode('utf-8'), self.key.encode('utf-8'))


class LeadCaptureHit(ModelSQL):
    "Lead Capture Hit"
    __name__ = 'hitech.lead.capture.hit'

    address = fields.Char("Address", required=True)
    at = fields.Timestamp("At", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t,
                (t.address, Index.Equality(cardinality='high')),
                (t.at, Index.Range())))

    @classmethod
    def hit(cls, address, limit, window):
        """Record a post from address and return whether it is within the
        limit.

        Expired hits are not removed here: concurrent posts deleting the
        same old rows conflict on PostgreSQL (repeatable read), the cron
        clean removes them."""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        now = datetime.datetime.now()
        start = now - datetime.timedelta(seconds=window)
        # counted up to the limit: a flood does not make every post slower
        hits = table.select(Literal(1).as_('hit'),
            where=(table.address == address) & (table.at >= start),
            limit=limit)
        cursor.execute(*hits.select(Count(Literal(1))))
        count, = cursor.fetchone()
        if count >= limit:
            return False
        cursor.execute(*table.insert(
                [table.address, table.at, table.create_uid,
                    table.create_date],
                [[address, now, 0, now]]))
        return True

    @classmethod
    def clean(cls, window=None):
        "Delete the hits older than the rate window, set-based"
        pool = Pool()
        Configuration = pool.get('hitech.crm.configuration')
        if window is None:
            window = Configuration(1).capture_rate_window
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        start = datetime.datetime.now() - datetime.timedelta(seconds=window)
        cursor.execute(*table.delete(where=table.at < start))


class LeadSubmission(SystemRecordMixin, ModelSQL, ModelView):
    __name__ = 'hitech.lead.submission'
    __string__ = "Lead Submission"
    _rec_name = 'email'

    lead = fields.Many2One(
        'sale.opportunity', "Lead", required=True, ondelete='CASCADE',
        readonly=True)
    form = fields.Many2One(
        'hitech.lead.form', "Form", readonly=True, ondelete='SET NULL')
    company = fields.Many2One(
        'company.company', "Company", readonly=True, ondelete='CASCADE')
    source = fields.Many2One(
        'hitech.lead.source', "Source", readonly=True, ondelete='SET NULL')
    name = fields.Char("Name", readonly=True)
    company_name = fields.Char("Company", readonly=True)
    email = fields.Char("Email", readonly=True)
    phone = fields.Char("Phone", readonly=True)
    message = fields.Text("Message", readonly=True)
    product_interest = fields.Char("Product Interest", readonly=True)
    referrer = fields.Char("Referrer", readonly=True)
    landing_page = fields.Char("Landing Page", readonly=True)
    search_keywords = fields.Char("Search Keywords", readonly=True)
    utm_campaign = fields.Char("Campaign", readonly=True)
    utm_medium = fields.Char("Medium", readonly=True)
    utm_source = fields.Char("Marketing Source", readonly=True)
    date = fields.Timestamp("Date", readonly=True)
    duplicate = fields.Boolean(
        "Duplicate", readonly=True,
        help="The post repeated an open lead and was attached to it.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'lead'})
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.lead, Index.Range())))
        cls._order.insert(0, ('date', 'DESC'))


class LeadCapturePending(ModelSQL):
    """Pending Lead Capture

    A valid web post waiting for its lead: the capture route stores it
    with one INSERT; capture_process creates or finds the lead, records
    the submission and deletes the row (at once in the immediate mode, by
    the queue in batches when the captures are queued)."""
    __name__ = 'hitech.lead.capture.pending'
    __string__ = "Pending Lead Capture"

    form = fields.Many2One(
        'hitech.lead.form', "Form", ondelete='SET NULL')
    company = fields.Many2One(
        'company.company', "Company", required=True, ondelete='CASCADE')
    source = fields.Many2One(
        'hitech.lead.source', "Source", ondelete='SET NULL')
    name = fields.Char("Name")
    company_name = fields.Char("Company")
    email = fields.Char("Email")
    phone = fields.Char("Phone")
    message = fields.Text("Message")
    product_interest = fields.Char("Product Interest")
    referrer = fields.Char("Referrer")
    landing_page = fields.Char("Landing Page")
    search_keywords = fields.Char("Search Keywords")
    utm_campaign = fields.Char("Campaign")
    utm_medium = fields.Char("Medium")
    utm_source = fields.Char("Marketing Source")
    date = fields.Timestamp("Date")

    # the queue of the web captures (one task waits at most)
    QUEUE = 'hitech_lead_capture'
    BATCH = 500
    # the fields copied to the submission
    _submission_fields = [
        'form', 'company', 'source', 'name', 'company_name', 'email',
        'phone', 'message', 'product_interest', 'referrer', 'landing_page',
        'search_keywords', 'utm_campaign', 'utm_medium', 'utm_source',
        'date']

    @classmethod
    def stage(cls, values):
        """Store the values (validated by Opportunity.capture_submission)
        with one INSERT and return the row: the web route of a queued
        capture does nothing else"""
        table = cls.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        values = dict(values, create_uid=transaction.user,
            create_date=datetime.datetime.now())
        names = sorted(values)
        database = transaction.database
        returning = [table.id] if database.has_returning() else None
        cursor.execute(*table.insert(
                [Column(table, n) for n in names],
                [[values[n] for n in names]],
                returning=returning))
        if returning:
            pending_id, = cursor.fetchone()
        else:
            pending_id = database.lastid(cursor)
        return cls(pending_id)

    @classmethod
    def done(cls, pendings, links):
        """Record the submissions of the pending rows with their lead and
        delete the rows: links is [(lead id, duplicate)] in the order of
        pendings"""
        pool = Pool()
        Submission = pool.get('hitech.lead.submission')
        names = cls._submission_fields
        vlist = []
        for pending, (lead_id, duplicate) in zip(pendings, links):
            values = {'lead': lead_id, 'duplicate': duplicate}
            for name in names:
                value = getattr(pending, name)
                values[name] = value.id if isinstance(
                    value, ModelStorage) else value
            vlist.append(values)
        submissions = Submission.create(vlist)
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        for sub_ids in grouped_slice(
                [p.id for p in pendings], backend.MAX_QUERY_PARAMS):
            cursor.execute(*table.delete(
                    where=reduce_ids(table.id, list(sub_ids))))
        return submissions

    @classmethod
    def queue_pending(cls, pending):
        """Make sure a task of the capture queue will process the pending
        rows: with a queue worker one task waits at most (it takes every
        pending row), without one each post runs its own task after its
        commit"""
        pool = Pool()
        Queue = pool.get('ir.queue')
        if config.getboolean('queue', 'worker', default=False):
            queue = Queue.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*queue.select(queue.id,
                    where=(queue.name == cls.QUEUE)
                    & (queue.dequeued_at == Null),
                    limit=1))
            if cursor.fetchone():
                return
        cls._queue_task()

    @classmethod
    def _queue_task(cls):
        "Queue a task of the capture queue"
        pool = Pool()
        Configuration = pool.get('hitech.crm.configuration')
        # the task names a record that exists when it runs: the stored
        # configuration
        configuration = Configuration.stored()
        with Transaction().set_context(queue_name=cls.QUEUE):
            Configuration.__queue__.process_lead_captures([configuration])

    @classmethod
    def process_pending(cls):
        """Create or find the leads of the pending rows by batches; when a
        whole batch was taken, a next task is queued"""
        if cls._process_batch() == cls.BATCH:
            cls._queue_task()

    @classmethod
    def _process_batch(cls):
        """Process the oldest BATCH pending rows, set-based, and return
        their number.  On PostgreSQL the rows are locked skipping those
        another task holds."""
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        transaction = Transaction()
        table = cls.__table__()
        cursor = transaction.connection.cursor()
        for_ = None
        if backend.name == 'postgresql':
            for_ = transaction.database.get_select_for_skip_locked()(
                'UPDATE')
        cursor.execute(*table.select(table.id,
                order_by=[table.id.asc], limit=cls.BATCH, for_=for_))
        pending = [cls(i) for i, in cursor]
        Opportunity.capture_process(pending)
        return len(pending)

    @classmethod
    def cron_process(cls):
        "Process what no task took (e.g. while the queue worker stopped)"
        while cls._process_batch() == cls.BATCH:
            pass


class PoolLog(ModelSQL, ModelView):
    __name__ = 'hitech.lead.pool.log'
    __string__ = "Lead Pool Log"

    lead = fields.Many2One(
        'sale.opportunity', "Lead", required=True, ondelete='CASCADE',
        readonly=True)
    employee = fields.Many2One(
        'company.employee', "Employee", readonly=True, ondelete='SET NULL')
    sales_team = fields.Many2One(
        'hitech.sales.team', "Sales Team", readonly=True,
        ondelete='SET NULL')
    action = fields.Selection(POOL_ACTIONS, "Action", readonly=True,
        required=True)
    date = fields.Timestamp("Date", readonly=True, required=True)
    user = fields.Many2One('res.user', "User", readonly=True)
    number = fields.Function(fields.Integer("Number",
            help="1 per event, for the graphs."), 'get_number')

    @classmethod
    def get_number(cls, logs, name):
        return {l.id: 1 for l in logs}

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.lead, Index.Range())),
                Index(t, (t.employee, Index.Range())),
                })
        cls._order.insert(0, ('date', 'DESC'))
        cls._order.insert(1, ('id', 'DESC'))

    @classmethod
    def log(cls, leads, action, employee=None):
        now = datetime.datetime.now()
        user = Transaction().user
        cls.create([{
                    'lead': l.id,
                    'employee': (
                        employee.id if employee
                        else l.employee.id if l.employee else None),
                    'sales_team': l.sales_team.id if l.sales_team else None,
                    'action': action,
                    'date': now,
                    'user': user,
                    } for l in leads])


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    lead_name = fields.Char(
        "Contact Name", size=CAPTURE_SIZES['name'],
        help="The name the visitor gave on the web form.")
    lead_company = fields.Char(
        "Company Name", size=CAPTURE_SIZES['company'],
        help="The company the visitor gave, before an account is linked.")
    lead_email = fields.Char("Email", size=CAPTURE_SIZES['email'])
    lead_phone = fields.Char("Phone", size=CAPTURE_SIZES['phone'])
    lead_email_key = fields.Char("Email Key", readonly=True)
    lead_phone_key = fields.Char("Phone Key", readonly=True)
    lead_message = fields.Text(
        "Message", help="The message of the web form, kept as plain text.")
    product_interest = fields.Char(
        "Product Interest", size=CAPTURE_SIZES['product'])
    lead_form = fields.Many2One(
        'hitech.lead.form', "Lead Form", readonly=True, ondelete='SET NULL')
    referrer = fields.Char("Referrer", readonly=True)
    landing_page = fields.Char("Landing Page", readonly=True)
    search_keywords = fields.Char(
        "Search Keywords", readonly=True,
        help="The search terms that brought the visitor (utm_term or the "
        "referrer's query).")
    in_pool = fields.Boolean(
        "In Pool", readonly=True,
        help="The lead has no owner and waits in the public pool.")
    pool_since = fields.Timestamp("In Pool Since", readonly=True)
    assigned_at = fields.Timestamp(
        "Assigned At", readonly=True,
        help="When the current owner got the lead.")
    last_employee = fields.Many2One(
        'company.employee', "Previous Owner", readonly=True,
        ondelete='SET NULL',
        help="The rep the lead was returned from (cool-down on reclaim).")
    submissions = fields.One2Many(
        'hitech.lead.submission', 'lead', "Submissions", readonly=True)
    pool_logs = fields.One2Many(
        'hitech.lead.pool.log', 'lead', "Pool History", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.lead_email_key, Index.Equality()),
                    where=t.state == 'lead'),
                Index(t, (t.lead_phone_key, Index.Equality()),
                    where=t.state == 'lead'),
                Index(t, (t.in_pool, Index.Equality(cardinality='low')),
                    where=t.in_pool == Literal(True)),
                Index(t, (t.employee, Index.Range()),
                    (t.assigned_at, Index.Range()),
                    where=t.state == 'lead'),
                })
        cls._buttons.update({
                'claim': {
                    'invisible': ~Eval('in_pool'),
                    'depends': ['in_pool'],
                    },
                'release': {
                    'invisible': (Eval('state') != 'lead')
                    | ~Eval('employee'),
                    'depends': ['state', 'employee'],
                    },
                'assign': {
                    'invisible': Eval('state') != 'lead',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_in_pool(cls):
        return False

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        region = cls._phone_region()
        if 'lead_email' in values:
            values['lead_email_key'] = normalize_email(values['lead_email'])
        if 'lead_phone' in values:
            values['lead_phone_key'] = normalize_phone(
                values['lead_phone'], region)
        if values.get('employee'):
            values.setdefault('in_pool', False)
            if mode == 'create' or 'assigned_at' not in values:
                values.setdefault('assigned_at', datetime.datetime.now())
        return values

    @classmethod
    def _phone_region(cls):
        pool = Pool()
        Configuration = pool.get('hitech.crm.configuration')
        return Configuration.capture_settings()['phone_region']

    @classmethod
    def on_modification(cls, mode, leads, field_names=None):
        super().on_modification(mode, leads, field_names=field_names)
        context = Transaction().context
        if mode == 'create' and not context.get('_hitech_no_assign'):
            to_assign = [l for l in leads
                if l.state == 'lead' and not l.employee and not l.in_pool]
            if to_assign:
                cls.assign_leads(to_assign)

    @classmethod
    def copy(cls, leads, default=None):
        default = default.copy() if default is not None else {}
        for name in ['submissions', 'pool_logs', 'pool_since',
                'assigned_at', 'last_employee', 'lead_form']:
            default.setdefault(name, None)
        default.setdefault('in_pool', False)
        return super().copy(leads, default=default)

    # Assignment

    @classmethod
    @ModelView.button
    def assign(cls, leads):
        "Run the assignment rules on the leads"
        cls.assign_leads([l for l in leads if l.state == 'lead'])

    @classmethod
    def assign_leads(cls, leads):
        """Give each lead to the employee of the first matching rule, or
        put it into the pool; the owners are notified through the queue"""
        pool = Pool()
        Rule = pool.get('hitech.lead.assignment.rule')
        PoolLog = pool.get('hitech.lead.pool.log')
        now = datetime.datetime.now()
        assigned, pooled = [], []
        to_write = {}
        for lead, (employee, team) in zip(leads, Rule.apply(leads)):
            values = {}
            if team:
                values['sales_team'] = team.id
            elif employee and employee.single_sales_team:
                values['sales_team'] = employee.single_sales_team.id
            if employee:
                values.update({
                        'employee': employee.id,
                        'in_pool': False,
                        'pool_since': None,
                        'assigned_at': now,
                        })
                assigned.append(lead)
            else:
                values.update({
                        'employee': None,
                        'in_pool': True,
                        'pool_since': now,
                        'assigned_at': None,
                        })
                pooled.append(lead)
            key = tuple(sorted(values.items()))
            to_write.setdefault(key, []).append(lead)
        if to_write:
            # one write per distinct owner and team, not per lead
            args = []
            for key, records in to_write.items():
                args.extend((records, dict(key)))
            with Transaction().set_context(_hitech_no_assign=True):
                cls.write(*args)
        if assigned:
            PoolLog.log(assigned, 'assign')
            cls.__queue__.notify_owners(assigned)
        return assigned, pooled

    @classmethod
    def notify_owners(cls, leads):
        "Tell the owners of the leads: notification and email"
        pool = Pool()
        User = pool.get('res.user')
        leads = [l for l in leads if l.employee and l.state == 'lead']
        by_employee = {}
        for lead in leads:
            by_employee.setdefault(lead.employee, []).append(lead)
        users = User.search([
                ('employees', 'in', [e.id for e in by_employee]),
                ])
        from_ = config.get('email', 'from')
        for employee, emp_leads in by_employee.items():
            label = gettext(
                'hitech_crm_base.msg_lead_notify_label', count=len(emp_leads))
            description = ', '.join(l.rec_name for l in emp_leads)
            for user in users:
                if employee in user.employees:
                    cls.notify_user(
                        emp_leads, 'tryton-info', label,
                        description=description, user=user.id)
            email = employee.party.email if employee.party else None
            if email and from_:
                msg = EmailMessage()
                msg['From'] = from_
                msg['To'] = email
                msg['Subject'] = label
                msg.set_content('\n'.join(
                        '%s: %s <%s> %s' % (
                            l.number, l.lead_name or '',
                            l.lead_email or '', l.lead_phone or '')
                        for l in emp_leads))
                send_message_transactional(msg)

    # Pool

    @classmethod
    @ModelView.button
    def claim(cls, leads):
        "Take leads from the pool"
        pool = Pool()
        User = pool.get('res.user')
        Configuration = pool.get('hitech.crm.configuration')
        PoolLog = pool.get('hitech.lead.pool.log')
        config_ = Configuration(1)
        employee_id = Transaction().context.get('employee')
        if not employee_id:
            employees = User.get_employees()
            employee_id = employees[0] if employees else None
        if not employee_id:
            raise LeadPoolError(gettext(
                    'hitech_crm_base.msg_lead_claim_no_employee'))
        Employee = pool.get('company.employee')
        employee = Employee(employee_id)
        leads = cls.browse(sorted({l.id for l in leads}))
        cls.lock(leads)
        now = datetime.datetime.now()
        cooldown = datetime.timedelta(days=config_.pool_cooldown_days)
        for lead in leads:
            if not lead.in_pool or lead.employee:
                raise LeadPoolError(gettext(
                        'hitech_crm_base.msg_lead_not_in_pool',
                        lead=lead.rec_name))
            if (lead.last_employee == employee and lead.pool_since
                    and lead.pool_since + cooldown > now):
                raise LeadPoolError(gettext(
                        'hitech_crm_base.msg_lead_claim_cooldown',
                        lead=lead.rec_name,
                        date=(lead.pool_since + cooldown).date()))
        open_count = cls.search([
                ('employee', '=', employee.id),
                ('state', '=', 'lead'),
                ], count=True)
        if open_count + len(leads) > config_.max_open_leads:
            raise LeadPoolError(gettext(
                    'hitech_crm_base.msg_lead_claim_limit',
                    limit=config_.max_open_leads, count=open_count))
        reclaimed = [l for l in leads if l.last_employee]
        claimed = [l for l in leads if not l.last_employee]
        values = {
            'employee': employee.id,
            'in_pool': False,
            'pool_since': None,
            'assigned_at': now,
            }
        no_team = [l for l in leads if not l.sales_team]
        with Transaction().set_context(_hitech_no_assign=True):
            cls.write(leads, values)
            if no_team and employee.single_sales_team:
                cls.write(no_team, {
                        'sales_team': employee.single_sales_team.id})
        if claimed:
            PoolLog.log(claimed, 'claim')
        if reclaimed:
            PoolLog.log(reclaimed, 'reclaim')

    @classmethod
    @ModelView.button
    def release(cls, leads):
        "Put the leads back into the pool"
        pool = Pool()
        PoolLog = pool.get('hitech.lead.pool.log')
        leads = [l for l in leads if l.state == 'lead' and l.employee]
        if not leads:
            return
        PoolLog.log(leads, 'release')
        now = datetime.datetime.now()
        to_write = []
        for lead in leads:
            to_write.extend(([lead], {
                        'last_employee': lead.employee.id,
                        'employee': None,
                        'in_pool': True,
                        'pool_since': now,
                        'assigned_at': None,
                        }))
        with Transaction().set_context(_hitech_no_assign=True):
            cls.write(*to_write)

    @classmethod
    def _pool_return_cutoff(cls, table, now):
        "Return the SQL expression of the idle cut-off per lead source"
        pool = Pool()
        Configuration = pool.get('hitech.crm.configuration')
        Source = pool.get('hitech.lead.source')
        default = now - datetime.timedelta(
            days=Configuration(1).pool_return_days)
        with Transaction().set_context(active_test=False):
            sources = Source.search([('pool_return_days', '!=', None)])
        whens = [
            (table.source == s.id,
                now - datetime.timedelta(days=s.pool_return_days))
            for s in sources]
        if not whens:
            return default
        return Case(*whens, else_=default)

    @classmethod
    def pool_return(cls, now=None):
        """Return to the pool the claimed leads without a done activity for
        the return delay: one UPDATE for all, then the log rows inserted
        from the returned leads; return the number of leads"""
        pool = Pool()
        Activity = pool.get('hitech.activity')
        PoolLog = pool.get('hitech.lead.pool.log')
        table = cls.__table__()
        activity = Activity.__table__()
        log = PoolLog.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        user = transaction.user
        if now is None:
            now = datetime.datetime.now()
        cutoff = cls._pool_return_cutoff(table, now)
        idle = ~Exists(activity.select(Literal(1),
                where=(activity.opportunity == table.id)
                & (activity.state == 'done')
                & (activity.done_at >= cutoff)))
        cursor.execute(*table.update(
                [table.last_employee, table.employee, table.in_pool,
                    table.pool_since, table.assigned_at,
                    table.write_uid, table.write_date],
                [table.employee, Null, Literal(True), now, Null,
                    user, now],
                where=(table.state == 'lead')
                & (table.employee != Null)
                & (Coalesce(table.assigned_at, table.create_date) < cutoff)
                & idle))
        count = cursor.rowcount
        if count:
            cursor.execute(*log.insert(
                    [log.lead, log.employee, log.sales_team, log.action,
                        log.date, log.user, log.create_uid,
                        log.create_date],
                    table.select(
                        table.id, table.last_employee, table.sales_team,
                        Literal('return'), Literal(now), Literal(user),
                        Literal(user), Literal(now),
                        where=(table.in_pool == Literal(True))
                        & (table.pool_since == now)
                        & (table.state == 'lead'))))
        return count

    @classmethod
    def cron_pool_return(cls):
        cls.pool_return()

    # Web capture

    @classmethod
    def capture(cls, form, data, address=None):
        """Create a lead from the values posted to the form, or attach them
        to the open lead of the same email or phone; return (lead, created)

        data holds the raw posted values (str); raises LeadCaptureError
        with the field named when a value is missing or invalid."""
        pool = Pool()
        Pending = pool.get('hitech.lead.capture.pending')
        pending = Pending.stage(cls.capture_submission(form, data))
        (lead, created), = cls.capture_process([pending])
        return lead, created

    @classmethod
    def capture_stage(cls, form, data):
        """Validate the posted values and store them as a pending capture
        for the queue (see capture_process); return it"""
        pool = Pool()
        Pending = pool.get('hitech.lead.capture.pending')
        pending = Pending.stage(cls.capture_submission(form, data))
        Pending.queue_pending(pending)
        return pending

    @classmethod
    def capture_submission(cls, form, data):
        """Return the values of the pending submission of the values posted
        to the form; raises LeadCaptureError with the field named when a
        value is missing or invalid"""
        pool = Pool()
        Source = pool.get('hitech.lead.source')

        values = cls._capture_clean(data)
        region = cls._phone_region()
        if not values.get('email') and not values.get('phone'):
            raise LeadCaptureError(
                gettext('hitech_crm_base.msg_lead_capture_contact'),
                field='email')
        if not values.get('name') and not values.get('company'):
            raise LeadCaptureError(
                gettext('hitech_crm_base.msg_lead_capture_required',
                    field='name'), field='name')
        if values.get('email') and not valid_email(values['email']):
            raise LeadCaptureError(
                gettext('hitech_crm_base.msg_lead_capture_email'),
                field='email')
        if values.get('phone') and not valid_phone(values['phone'], region):
            raise LeadCaptureError(
                gettext('hitech_crm_base.msg_lead_capture_phone'),
                field='phone')

        keywords = values.get('keywords') or parse_search_keywords(
            values.get('referrer'))
        source = None
        if values.get('source'):
            sources = Source.search([('code', '=', values['source'])],
                limit=1)
            source = sources[0] if sources else None
        if not source and keywords:
            # the visitor came from a search engine
            sources = Source.search([('code', '=', 'search')], limit=1)
            source = sources[0] if sources else None
        if not source:
            source = form.source
        return {
            'form': form.id,
            'company': form.company.id,
            'source': source.id if source else None,
            'name': values.get('name'),
            'company_name': values.get('company'),
            'email': values.get('email'),
            'phone': values.get('phone'),
            'message': values.get('message'),
            'product_interest': values.get('product'),
            'referrer': values.get('referrer'),
            'landing_page': values.get('landing_page'),
            'search_keywords': keywords,
            'utm_campaign': values.get('campaign'),
            'utm_medium': values.get('medium'),
            'utm_source': values.get('utm_source'),
            'date': datetime.datetime.now(),
            }

    @classmethod
    def capture_process(cls, submissions):
        """Create the leads of the pending captures, set-based, or attach
        each to the oldest open lead of the same email or phone (also one
        created for an earlier capture of the batch); record their
        submissions; return [(lead, created)] in the order of the
        captures.  The leads are created in one call, so the assignment
        rules run once."""
        pool = Pool()
        Party = pool.get('party.party')
        Pending = pool.get('hitech.lead.capture.pending')
        Keyword = pool.get('hitech.keyword')
        Date = pool.get('ir.date')
        if not submissions:
            return []
        region = cls._phone_region()
        keys = [(normalize_email(s.email), normalize_phone(s.phone, region))
            for s in submissions]

        # the open leads of the same keys, oldest first
        existing = {}
        by_company = {}
        for submission, (email_key, phone_key) in zip(submissions, keys):
            emails, phones = by_company.setdefault(
                submission.company.id, (set(), set()))
            if email_key:
                emails.add(email_key)
            if phone_key:
                phones.add(phone_key)
        for company_id, (emails, phones) in by_company.items():
            clauses = ['OR']
            for name, values in [
                    ('lead_email_key', emails), ('lead_phone_key', phones)]:
                for sub in grouped_slice(
                        sorted(values), backend.MAX_QUERY_PARAMS):
                    clauses.append((name, 'in', list(sub)))
            leads = cls.search([
                    ('state', '=', 'lead'),
                    ('company', '=', company_id),
                    clauses,
                    ], order=[('create_date', 'ASC'), ('id', 'ASC')])
            for rank, lead in enumerate(leads):
                for key in [('email', lead.lead_email_key),
                        ('phone', lead.lead_phone_key)]:
                    if key[1]:
                        existing.setdefault((company_id,) + key, (rank, lead))

        # each submission: an existing lead, an earlier new one, or new
        targets = []  # (existing lead or None, index of the new lead)
        news = []  # the submissions that create a lead
        new_keys = {}
        for submission, (email_key, phone_key) in zip(submissions, keys):
            company_id = submission.company.id
            found = [existing[k] for k in [
                    (company_id, 'email', email_key),
                    (company_id, 'phone', phone_key)]
                if k[2] and k in existing]
            if found:
                targets.append((min(found, key=lambda f: f[0])[1], None))
                continue
            index = min((new_keys[k] for k in [
                        (company_id, 'email', email_key),
                        (company_id, 'phone', phone_key)]
                    if k[2] and k in new_keys), default=None)
            if index is None:
                index = len(news)
                news.append(submission)
                for k in [(company_id, 'email', email_key),
                        (company_id, 'phone', phone_key)]:
                    if k[2]:
                        new_keys[k] = index
            targets.append((None, index))

        parties = Party.find_duplicates([{
                    'name': s.company_name or s.name,
                    'email': s.email,
                    'phone': s.phone,
                    } for s in news], threshold=STRONG_SCORE, limit=1
            ) if news else []
        keywords = {}
        campaigns = {}
        lead_values = {}
        today = Date.today()
        for index, (submission, candidates) in enumerate(
                zip(news, parties)):
            form = submission.form
            if submission.search_keywords not in keywords:
                keywords[submission.search_keywords] = (
                    Keyword.match(submission.search_keywords)
                    if submission.search_keywords else None)
            keyword = keywords[submission.search_keywords]
            campaign_key = (form.id if form else None,
                submission.utm_campaign, submission.utm_medium,
                submission.utm_source)
            if campaign_key not in campaigns:
                campaigns[campaign_key] = cls._capture_campaign(form, {
                        'campaign': submission.utm_campaign,
                        'medium': submission.utm_medium,
                        'utm_source': submission.utm_source,
                        })
            values = {
                'company': submission.company.id,
                'start_date': today,
                'party': candidates[0].party.id if candidates else None,
                'description': (
                    submission.product_interest or submission.company_name
                    or submission.name),
                'lead_name': submission.name,
                'lead_company': submission.company_name,
                'lead_email': submission.email,
                'lead_phone': submission.phone,
                'lead_message': submission.message,
                'product_interest': submission.product_interest,
                'lead_form': form.id if form else None,
                'source': (
                    submission.source.id if submission.source else None),
                'sales_team': (form.sales_team.id
                    if form and form.sales_team else None),
                'referrer': submission.referrer,
                'landing_page': submission.landing_page,
                'search_keywords': submission.search_keywords,
                'keyword': keyword.id if keyword else None,
                'employee': None,
                }
            values.update(campaigns[campaign_key])
            lead_values.setdefault(submission.company.id, []).append(
                (index, values))

        new_leads = [None] * len(news)
        for company_id, items in lead_values.items():
            with Transaction().set_context(
                    company=company_id, employee=None):
                leads = cls.create([v for _, v in items])
            for (index, _), lead in zip(items, leads):
                new_leads[index] = lead

        result = []
        links = []
        attached = []
        for submission, (lead, index) in zip(submissions, targets):
            if lead is None:
                lead = new_leads[index]
                first = news[index] is submission
            else:
                first = False
            if not first:
                attached.append(lead)
            result.append((lead, first))
            links.append((lead.id, not first))
        Pending.done(submissions, links)
        if attached:
            cls.__queue__.notify_owners(list({l.id: l for l in attached}
                    .values()))
        return result

    @classmethod
    def _capture_clean(cls, data):
        "Return the posted values stripped, checked for size and type"
        values = {}
        for name, size in CAPTURE_SIZES.items():
            value = data.get(name)
            if value is None:
                continue
            if not isinstance(value, str):
                raise LeadCaptureError(
                    gettext('hitech_crm_base.msg_lead_capture_type',
                        field=name), field=name)
            value = value.strip()
            if '\x00' in value:
                raise LeadCaptureError(
                    gettext('hitech_crm_base.msg_lead_capture_type',
                        field=name), field=name)
            if len(value) > size:
                raise LeadCaptureError(
                    gettext('hitech_crm_base.msg_lead_capture_size',
                        field=name, size=size), field=name)
            if value:
                values[name] = value
        utm = {
            'utm_campaign': 'campaign',
            'utm_medium': 'medium',
            'utm_term': 'keywords',
            }
        for name, target in utm.items():
            value = data.get(name)
            if isinstance(value, str) and value.strip():
                value = value.strip()
                if len(value) > CAPTURE_SIZES[target]:
                    raise LeadCaptureError(
                        gettext('hitech_crm_base.msg_lead_capture_size',
                            field=name, size=CAPTURE_SIZES[target]),
                        field=name)
                values.setdefault(target, value)
        return values

    @classmethod
    def _capture_campaign(cls, form, values):
        "Return the marketing values of the lead"
        pool = Pool()
        Campaign = pool.get('marketing.campaign')
        Medium = pool.get('marketing.medium')
        MSource = pool.get('marketing.source')
        result = {}
        if values.get('campaign'):
            result['marketing_campaign'] = Campaign.from_name(
                values['campaign']).id
        elif form.campaign:
            result['marketing_campaign'] = form.campaign.id
        if values.get('medium'):
            result['marketing_medium'] = Medium.from_name(
                values['medium']).id
        if values.get('utm_source'):
            result['marketing_source'] = MSource.from_name(
                values['utm_source']).id
        return result


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.extend([
                ('sale.opportunity|cron_pool_return',
                    "Return Idle Leads to the Pool"),
                ('hitech.lead.registration|cron_expire',
                    "Expire Registrations"),
                ('hitech.lead.capture.hit|clean',
                    "Clean Lead Capture Hits"),
                ('hitech.lead.capture.pending|cron_process',
                    "Process Pending Lead Captures"),
                ])



class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def _hitech_rule_models(cls):
        return super()._hitech_rule_models() | {
            'hitech.lead.pool.log', 'hitech.lead.registration'}
