# This file is part of HiTech CRM. See LICENSE for details.
import base64
import binascii
import datetime
import hashlib
import hmac
import logging
import urllib.parse
from email.message import EmailMessage

from sql import Literal, Null
from sql.aggregate import Count, Min, Sum
from sql.conditionals import Case

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.model.exceptions import AccessError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.sendmail import sendmail_transactional
from trytond.transaction import Transaction, without_check_access
from trytond.url import http_host

from .exceptions import SurveyError

logger = logging.getLogger(__name__)

SATISFIED = 4  # ratings from 4 up count as satisfied


def month_start(value):
    return value.date().replace(day=1) if value else None


class Configuration(metaclass=PoolMeta):
    __name__ = 'hitech.service.configuration'

    survey_low_score = fields.Integer("Low Survey Score",
        help="An answered survey with this rating or less plans a follow-up "
        "activity for the manager of the ticket's service team.")
    survey_validity = fields.Integer("Survey Validity",
        help="How many days the link of a satisfaction survey stays valid.")

    @classmethod
    def default_survey_low_score(cls):
        return 2

    @classmethod
    def default_survey_validity(cls):
        return 14

    def get_survey_low_score(self):
        value = self.survey_low_score
        return self.default_survey_low_score() if value is None else value

    def get_survey_validity(self):
        value = self.survey_validity
        return datetime.timedelta(days=(
                self.default_survey_validity() if not value else value))


class Ticket(metaclass=PoolMeta):
    __name__ = 'hitech.ticket'

    surveys = fields.One2Many(
        'hitech.ticket.survey', 'ticket', "Surveys", readonly=True,
        help="The satisfaction surveys sent when the ticket was closed, "
        "with the customer's answers.")
    survey_rating = fields.Function(fields.Integer("Satisfaction",
            help="The rating of the last answered survey, 1 to 5."),
        'get_survey_rating')

    @classmethod
    def get_survey_rating(cls, tickets, name):
        pool = Pool()
        Survey = pool.get('hitech.ticket.survey')
        result = dict.fromkeys([t.id for t in tickets])
        surveys = Survey.search([
                ('ticket', 'in', [t.id for t in tickets]),
                ('state', '=', 'answered'),
                ], order=[('answered_at', 'ASC'), ('id', 'ASC')])
        for survey in surveys:
            result[survey.ticket.id] = survey.rating
        return result

    @classmethod
    def on_state_change(cls, tickets, state, previous):
        pool = Pool()
        Survey = pool.get('hitech.ticket.survey')
        super().on_state_change(tickets, state, previous)
        if state == 'closed':
            Survey.send_for(tickets)

    @classmethod
    def copy(cls, tickets, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('surveys')
        return super().copy(tickets, default=default)


class Activity(metaclass=PoolMeta):
    __name__ = 'hitech.activity'

    @classmethod
    def _get_origin(cls):
        origins = super()._get_origin()
        if 'hitech.ticket' not in origins:
            origins.append('hitech.ticket')
        return origins


class Survey(ModelSQL, ModelView):
    "Satisfaction Survey"
    __name__ = 'hitech.ticket.survey'
    __string__ = "Satisfaction Survey"

    ticket = fields.Many2One(
        'hitech.ticket', "Ticket", required=True, ondelete='CASCADE',
        readonly=True)
    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    contact = fields.Many2One(
        'party.party', "Contact", ondelete='SET NULL', readonly=True,
        context={'company': Eval('company', -1)}, depends={'company'},
        help="The customer the survey was sent to or who answered it.")
    email = fields.Char("Email", readonly=True,
        help="The address the survey was sent to.")
    service_team = fields.Many2One(
        'hitech.sales.team', "Service Team", ondelete='SET NULL',
        readonly=True,
        help="The service team of the ticket when it was closed.")
    handler = fields.Many2One(
        'company.employee', "Agent", ondelete='SET NULL', readonly=True,
        help="The handler of the ticket when it was closed.")
    sent_at = fields.Timestamp("Sent At", readonly=True)
    month = fields.Date("Month", readonly=True,
        help="The first day of the month the survey was sent in.")
    expire_at = fields.Timestamp("Expires At", readonly=True,
        help="After this time the survey link is refused.")
    state = fields.Selection([
            ('sent', "Sent"),
            ('answered', "Answered"),
            ('replaced', "Replaced"),
            ], "State", required=True, readonly=True, sort=False,
        help="A survey not answered when its ticket is closed again is "
        "replaced by the new one: its link is refused.")
    rating = fields.Integer("Rating", readonly=True,
        domain=['OR',
            ('rating', '=', None),
            [('rating', '>=', 1), ('rating', '<=', 5)],
            ],
        help="1 (very dissatisfied) to 5 (very satisfied).")
    comment = fields.Text("Comment", readonly=True,
        help="The customer's words; always shown as plain text.")
    answered_at = fields.Timestamp("Answered At", readonly=True)
    answered_through = fields.Selection([
            (None, ""),
            ('email', "Email Link"),
            ('portal', "Portal"),
            ], "Answered Through", readonly=True)
    follow_up = fields.Many2One(
        'hitech.activity', "Follow-up", ondelete='SET NULL', readonly=True,
        help="The activity planned for the service team's manager after a "
        "low rating.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # surveys follow the access and the rules of their ticket
        cls.__access__.add('ticket')
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.ticket, Index.Range())),
                Index(t, (t.month, Index.Range())),
                })
        cls._order = [('sent_at', 'DESC'), ('id', 'DESC')]

    @staticmethod
    def default_state():
        return 'sent'

    def get_rec_name(self, name):
        return self.ticket.rec_name

    @classmethod
    def search_rec_name(cls, name, clause):
        return [('ticket.rec_name',) + tuple(clause[1:])]

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create' and values.get('sent_at'):
            values.setdefault('month', month_start(values['sent_at']))
        return values

    @classmethod
    def create(cls, vlist):
        transaction = Transaction()
        # refused before the values are validated, like an access check
        # (check_modification comes after the validation of a create)
        if transaction.user and transaction.check_access:
            raise AccessError(gettext('hitech_service.msg_survey_readonly'))
        return super().create(vlist)

    @classmethod
    def check_modification(cls, mode, surveys, values=None, external=False):
        super().check_modification(
            mode, surveys, values=values, external=external)
        if not external:
            return
        # the model access is widened by the ticket's (__access__): the
        # refusals read as access denials for clients and the matrix
        if mode in {'create', 'write'}:
            # answers come only through the signed link or the portal
            raise AccessError(gettext('hitech_service.msg_survey_readonly'))
        if mode == 'delete' and not cls._may_delete():
            # scores stay as the customers gave them
            raise AccessError(gettext('hitech_service.msg_survey_delete'))

    @classmethod
    def _may_delete(cls):
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        return ModelData.get_id('hitech_crm_base', 'group_crm_admin') in (
            User.get_groups())

    # Sending --------------------------------------------------------------

    @classmethod
    def _survey_email(cls, ticket):
        "The address to send the survey of ticket to, or None"
        for party in [ticket.contact, ticket.account]:
            if party and party.email:
                return party.email

    @classmethod
    def send_for(cls, tickets):
        "Create the surveys of closed tickets and queue their emails"
        pool = Pool()
        Configuration = pool.get('hitech.service.configuration')
        config = Configuration(1)
        now = datetime.datetime.now()
        validity = config.get_survey_validity()
        to_create = []
        for ticket in tickets:
            if ticket.state != 'closed':
                continue
            to_create.append({
                    'ticket': ticket.id,
                    'company': ticket.company.id,
                    'contact': (
                        ticket.contact.id if ticket.contact else None),
                    'email': cls._survey_email(ticket),
                    'service_team': (
                        ticket.service_team.id if ticket.service_team
                        else None),
                    'handler': ticket.handler.id if ticket.handler else None,
                    'sent_at': now,
                    'expire_at': now + validity,
                    })
        if not to_create:
            return []
        # the links of the earlier closes, not answered, stop working: the
        # customer answers for the last close only
        with without_check_access():
            pending = cls.search([
                    ('ticket', 'in', [v['ticket'] for v in to_create]),
                    ('state', '=', 'sent'),
                    ])
            if pending:
                cls.write(pending, {'state': 'replaced'})
        surveys = cls.create(to_create)
        to_send = [s for s in surveys if s.email]
        if to_send:
            cls.__queue__.send_email(to_send)
        return surveys

    def get_url(self):
        "The signed link the customer answers through"
        database = Transaction().database.name
        return '%s/%s/hitech/portal/survey?%s' % (
            http_host(), urllib.parse.quote(database),
            urllib.parse.urlencode({'token': self.get_token()}))

    def _email_message(self):
        msg = EmailMessage()
        msg['Subject'] = gettext(
            'hitech_service.msg_survey_email_subject',
            ticket=self.ticket.rec_name)
        msg.set_content(gettext(
                'hitech_service.msg_survey_email_body',
                ticket=self.ticket.rec_name,
                subject=self.ticket.subject,
                url=self.get_url(),
                expire=self.expire_at.strftime('%Y-%m-%d')))
        return msg

    def _email_language(self):
        """The language of the survey email: the contact's (as the survey
        page opens in it), else the account's, when translatable, else the
        default language of the company; never the language of the user
        who closed the ticket (the queue runs in their context)"""
        from .portal import default_language, party_language
        pool = Pool()
        for party in [self.contact, self.ticket.account]:
            code = party_language(pool, party, self.company)
            if code:
                return code
        return default_language(pool, self.company)

    @classmethod
    def send_email(cls, surveys):
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        from_ = Ticket._email_from()
        for survey in surveys:
            if survey.state != 'sent' or not survey.email:
                continue
            with Transaction().set_context(
                    language=survey._email_language()):
                # instances of the language's context: rec_name, subject
                msg = cls(survey.id)._email_message()
            msg['From'] = from_
            msg['To'] = survey.email
            sendmail_transactional(from_, [survey.email], msg)

    # Signed links ---------------------------------------------------------

    @classmethod
    def _secret(cls):
        pool = Pool()
        Secret = pool.get('hitech.service.secret')
        return Secret.get('survey')

    @classmethod
    def _sign(cls, payload):
        secret = cls._secret()
        if secret is None:
            # read-only and nothing was ever signed: no signature matches
            return None
        digest = hmac.new(
            secret, payload.encode('ascii'), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b'=').decode('ascii')

    def get_token(self):
        "ticket id, survey id and expiry signed with the database secret"
        payload = '%s.%s.%s' % (
            self.ticket.id, self.id, int(self.expire_at.timestamp()))
        return '%s.%s' % (payload, self._sign(payload))

    @classmethod
    def from_token(cls, token):
        """Return the survey a signed token opens, or raise SurveyError.

        The signature is checked before anything is read, so a forged
        token reveals nothing; an answered survey refuses its token."""
        try:
            ticket_id, survey_id, expire, signature = str(token).split('.')
            payload = '%s.%s.%s' % (
                int(ticket_id), int(survey_id), int(expire))
        except (ValueError, TypeError, binascii.Error):
            raise SurveyError(gettext('hitech_service.msg_survey_invalid'))
        expected = cls._sign(payload)
        if expected is None or not hmac.compare_digest(
                expected.encode('ascii'), signature.encode('utf-8')):
            raise SurveyError(gettext('hitech_service.msg_survey_invalid'))
        surveys = cls.search([
                ('id', '=', int(survey_id)),
                ('ticket', '=', int(ticket_id)),
                ])
        if not surveys:
            raise SurveyError(gettext('hitech_service.msg_survey_invalid'))
        survey, = surveys
        if datetime.datetime.fromtimestamp(int(expire)) < (
                datetime.datetime.now()) or (
                survey.expire_at < datetime.datetime.now()):
            raise SurveyError(gettext('hitech_service.msg_survey_expired'))
        if survey.state == 'replaced':
            raise SurveyError(gettext('hitech_service.msg_survey_replaced'))
        if survey.state != 'sent':
            raise SurveyError(gettext('hitech_service.msg_survey_used'))
        return survey

    # Answers --------------------------------------------------------------

    @classmethod
    def parse_rating(cls, value):
        try:
            rating = int(value)
        except (TypeError, ValueError):
            rating = None
        if rating not in {1, 2, 3, 4, 5}:
            raise SurveyError(gettext('hitech_service.msg_survey_rating'))
        return rating

    def answer(self, rating, comment=None, through='email', contact=None):
        """Store the customer's answer once and plan the follow-up of a low
        rating.  Called by the routes only (the survey is read-only over
        RPC)."""
        pool = Pool()
        Configuration = pool.get('hitech.service.configuration')
        rating = self.parse_rating(rating)
        if self.state != 'sent':
            raise SurveyError(gettext('hitech_service.msg_survey_used'))
        comment = (comment or '').strip()[:4000] or None
        values = {
            'rating': rating,
            'comment': comment,
            'state': 'answered',
            'answered_at': datetime.datetime.now(),
            'answered_through': through,
            }
        if contact:
            values['contact'] = contact.id
        self.write([self], values)
        config = Configuration(1)
        if rating <= config.get_survey_low_score():
            self.plan_follow_up([self])

    @classmethod
    def _follow_up_values(cls, survey):
        pool = Pool()
        Date = pool.get('ir.date')
        manager = (
            survey.service_team.manager if survey.service_team else None)
        if not manager:
            return
        ticket = survey.ticket
        account = ticket.account
        if account and getattr(account, 'party_kind', None) != 'company':
            account = None
        now = datetime.datetime.now()
        return {
            'company': survey.company.id,
            'type': 'call',
            'subject': gettext(
                'hitech_service.msg_survey_follow_up_subject',
                ticket=ticket.rec_name, rating=survey.rating),
            'account': account.id if account else None,
            'employee': manager.id,
            'planned_at': datetime.datetime.combine(
                Date.today(), now.time().replace(microsecond=0)),
            'origin': str(ticket),
            'description': survey.comment,
            }

    @classmethod
    def plan_follow_up(cls, surveys):
        "Plan a call of the team manager for each low rated survey"
        pool = Pool()
        Activity = pool.get('hitech.activity')
        to_link = []
        for survey in surveys:
            if survey.follow_up:
                continue
            values = cls._follow_up_values(survey)
            if values is None:
                logger.info(
                    "no manager to follow up survey %s of ticket %s",
                    survey.id, survey.ticket.id)
                continue
            to_link.append((survey, values))
        if not to_link:
            return
        activities = Activity.create([v for _, v in to_link])
        for (survey, _), activity in zip(to_link, activities):
            cls.write([survey], {'follow_up': activity.id})


class SurveyReportContext(ModelView):
    "Satisfaction Report Context"
    __name__ = 'hitech.ticket.survey.report.context'
    __string__ = "Satisfaction Report Context"

    from_month = fields.Date("From Month",
        domain=[If(Eval('to_month') & Eval('from_month'),
                ('from_month', '<=', Eval('to_month')), ())],
        help="The first month of the period (the day is ignored).")
    to_month = fields.Date("To Month",
        help="The last month of the period (the day is ignored).")
    service_team = fields.Many2One(
        'hitech.sales.team', "Service Team",
        domain=[('kind', '=', 'service')])
    handler = fields.Many2One('company.employee', "Agent")


class SurveyReport(ModelSQL, ModelView):
    "Satisfaction Report"
    __name__ = 'hitech.ticket.survey.report'
    __string__ = "Satisfaction Report"

    company = fields.Many2One('company.company', "Company", readonly=True)
    month = fields.Date("Month", readonly=True)
    service_team = fields.Many2One(
        'hitech.sales.team', "Service Team", readonly=True)
    handler = fields.Many2One('company.employee', "Agent", readonly=True)
    sent = fields.Integer("Sent", readonly=True,
        help="Surveys sent when tickets were closed.")
    answered = fields.Integer("Answered", readonly=True)
    satisfied = fields.Integer("Satisfied", readonly=True,
        help="Answers rated 4 or 5.")
    rating_total = fields.Integer("Rating Total", readonly=True)
    response_rate = fields.Function(fields.Float("Response Rate",
            digits=(1, 4), help="Answered surveys over sent surveys."),
        'get_rates')
    satisfied_rate = fields.Function(fields.Float("Satisfied",
            digits=(1, 4), help="Answers rated 4 or 5 over answers (CSAT)."),
        'get_rates')
    average_rating = fields.Function(fields.Float("Average Rating",
            digits=(1, 2)), 'get_rates')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'DESC'), ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        from_item, tables = cls._joins()
        return from_item.select(*cls._columns(tables),
            where=cls._where(tables),
            group_by=cls._group_by(tables))

    @classmethod
    def _joins(cls):
        pool = Pool()
        Survey = pool.get('hitech.ticket.survey')
        survey = Survey.__table__()
        return survey, {'survey': survey}

    @classmethod
    def _columns(cls, tables):
        survey = tables['survey']
        answered = survey.state == 'answered'
        return [
            Min(survey.id).as_('id'),
            survey.company.as_('company'),
            survey.month.as_('month'),
            survey.service_team.as_('service_team'),
            survey.handler.as_('handler'),
            Count(survey.id).as_('sent'),
            Sum(Case((answered, 1), else_=0)).as_('answered'),
            Sum(Case((answered & (survey.rating >= SATISFIED), 1),
                    else_=0)).as_('satisfied'),
            Sum(Case((answered, survey.rating), else_=0)).as_(
                'rating_total'),
            ]

    @classmethod
    def _where(cls, tables):
        survey = tables['survey']
        context = Transaction().context
        where = Literal(True)
        if context.get('company'):
            where &= survey.company == context['company']
        if context.get('from_month'):
            where &= survey.month >= context['from_month'].replace(day=1)
        if context.get('to_month'):
            where &= survey.month <= context['to_month'].replace(day=1)
        if context.get('service_team'):
            where &= survey.service_team == context['service_team']
        if context.get('handler'):
            where &= survey.handler == context['handler']
        # a replaced survey was never the last word on its ticket
        where &= (survey.month != Null) & (survey.state != 'replaced')
        return where

    @classmethod
    def _group_by(cls, tables):
        survey = tables['survey']
        return [survey.company, survey.month, survey.service_team,
            survey.handler]

    @classmethod
    def get_rates(cls, records, names):
        result = {n: {} for n in names}
        for record in records:
            sent, answered = record.sent or 0, record.answered or 0
            values = {
                'response_rate': answered / sent if sent else None,
                'satisfied_rate': (
                    (record.satisfied or 0) / answered if answered else None),
                'average_rating': (
                    (record.rating_total or 0) / answered
                    if answered else None),
                }
            for name in names:
                result[name][record.id] = values[name]
        return result
