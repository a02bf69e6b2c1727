# This file is part of HiTech CRM. See LICENSE for details.
"""Care reminders: rules that plan activities for the account owners
(key dates, follow-ups after a sale, visit frequency) and the list of the
accounts nobody contacted for a while."""
import datetime

from sql import Literal, Null
from sql.aggregate import Max, Min
from sql.conditionals import Coalesce

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, fields)
from trytond.model.exceptions import ValidationError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, Get, If, In
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

from .account import ACCOUNT_TYPES, REVENUE_SALE_STATES, STAGES
from .activity import ACTIVITY_TYPES

KINDS = [
    ('key_date', "Key Date"),
    ('after_sale', "After Sale"),
    ('visit_frequency', "Visit Frequency"),
    ]
# Hour of the day at which the reminders are planned
PLANNED_HOUR = datetime.time(9, 0)
# A follow-up of a sale that fell due longer ago than this is not created:
# a new rule does not flood the owners with reminders of old sales
AFTER_SALE_LOOKBACK = datetime.timedelta(days=7)
VISIT_TYPES = ['visit', 'meeting']


class _Values(dict):
    "Template values: unknown keys format as an empty string"

    def __missing__(self, key):
        return ''


def anniversary(date, year):
    "The date in the year; 29 February becomes 28 February"
    try:
        return date.replace(year=year)
    except ValueError:
        return date.replace(year=year, day=28)


def next_occurrence(date, today):
    "The first anniversary of date on or after today"
    value = anniversary(date, today.year)
    if value < today:
        value = anniversary(date, today.year + 1)
    return value


class CareRule(DeactivableMixin, ModelSQL, ModelView):
    "CRM Care Rule"
    __name__ = 'hitech.care.rule'

    name = fields.Char("Name", required=True, translate=True)
    company = fields.Many2One(
        'company.company', "Company", required=True,
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ])
    kind = fields.Selection(KINDS, "Kind", required=True,
        help="Key Date: a number of days before the birthdays of the "
        "contacts and the anniversaries of the first sale of the accounts.\n"
        "After Sale: a number of days after the date of each confirmed "
        "sale.\n"
        "Visit Frequency: a visit for the accounts without a done visit or "
        "meeting in the last number of days.")
    activity_type = fields.Selection(ACTIVITY_TYPES, "Activity Type",
        required=True)
    subject = fields.Char("Subject", required=True, translate=True,
        help="The subject of the activities; %(account)s, %(contact)s, "
        "%(date)s and %(sale)s are replaced by their values.")
    days = fields.Integer("Days", required=True,
        domain=[('days', '>=', 0)],
        help="Key Date: days before the date.\n"
        "After Sale: days after the sale date.\n"
        "Visit Frequency: days without visit.")
    account_types = fields.MultiSelection(
        [t for t in ACCOUNT_TYPES if t[0]], "Account Types",
        help="Limit the rule to these account types; all when empty.")
    stages = fields.MultiSelection(
        [s for s in STAGES if s[0]], "Stages",
        help="Limit the rule to accounts in these stages; all when empty.")
    activities = fields.One2Many(
        'hitech.activity', 'care_rule', "Activities", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))
        cls._buttons.update({
                'run': {
                    'icon': 'tryton-launch',
                    'depends': ['active'],
                    'readonly': ~Eval('active', False),
                    },
                })

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_kind(cls):
        return 'after_sale'

    @classmethod
    def default_activity_type(cls):
        return 'call'

    @classmethod
    def default_days(cls):
        return 0

    @fields.depends('kind', 'activity_type')
    def on_change_kind(self):
        if self.kind == 'visit_frequency':
            self.activity_type = 'visit'

    @classmethod
    def validate_fields(cls, rules, field_names):
        super().validate_fields(rules, field_names)
        if field_names and 'subject' not in field_names:
            return
        for rule in rules:
            try:
                rule.subject % _Values()
            except (ValueError, TypeError):
                raise ValidationError(gettext(
                        'hitech_crm_base.msg_care_rule_subject_invalid',
                        rule=rule.rec_name, subject=rule.subject))

    @classmethod
    def copy(cls, rules, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('activities')
        return super().copy(rules, default=default)

    @classmethod
    @ModelView.button
    def run(cls, rules):
        cls.generate(rules)

    @classmethod
    def run_all(cls):
        "Run every active rule (cron)"
        cls.generate(cls.search([]))

    @classmethod
    def generate(cls, rules, today=None):
        "Create the due activities of the rules and return them"
        pool = Pool()
        Activity = pool.get('hitech.activity')
        Date = pool.get('ir.date')
        created = []
        with without_check_access():
            for rule in rules:
                if not rule.active:
                    continue
                with Transaction().set_context(company=rule.company.id):
                    day = today or Date.today()
                    values = getattr(rule, '_candidates_%s' % rule.kind)(day)
                    values = rule._new_only(values)
                    if values:
                        created.extend(Activity.create(values))
        return created

    # Candidates are dictionaries of activity values with a care_key

    def _account_where(self, party):
        "SQL condition on the accounts the rule applies to"
        pool = Pool()
        Employee = pool.get('company.employee')
        employee = Employee.__table__()
        where = ((party.party_kind == 'company')
            & (party.owner != Null)
            & party.owner.in_(employee.select(
                    employee.id,
                    where=employee.company == self.company.id))
            & (party.active == Literal(True)))
        if self.account_types:
            where &= party.account_type.in_(list(self.account_types))
        else:
            where &= party.account_type != Null
        if self.stages:
            where &= party.stage.in_(list(self.stages))
        return where

    def _activity(self, key, account, owner, planned, date=None, **values):
        "Activity values; date is the date the reminder is about"
        date = date or planned
        names = _Values({
                'account': values.pop('account_name', ''),
                'contact': values.pop('contact_name', ''),
                'sale': values.pop('sale_name', ''),
                'date': date.isoformat() if date else '',
                })
        activity = {
            'company': self.company.id,
            'type': self.activity_type,
            'subject': (self.subject % names)[:250],
            'account': account,
            'employee': owner,
            'planned_at': datetime.datetime.combine(planned, PLANNED_HOUR),
            'care_rule': self.id,
            'care_key': key,
            }
        activity.update(values)
        return activity

    def _names(self, ids):
        "Names of the parties by id, read at once"
        Party = Pool().get('party.party')
        names = {}
        for sub_ids in grouped_slice(list(ids), backend.MAX_QUERY_PARAMS):
            for party in Party.read(list(sub_ids), ['rec_name']):
                names[party['id']] = party['rec_name']
        return names

    def _candidates_key_date(self, today):
        pool = Pool()
        Party = pool.get('party.party')
        Sale = pool.get('sale.sale')
        Link = pool.get('hitech.account.contact')
        cursor = Transaction().connection.cursor()
        delta = datetime.timedelta(days=self.days)

        def due(date):
            "The occurrence of date to remind of today, or None"
            occurrence = next_occurrence(date, today)
            if occurrence - delta <= today:
                return occurrence

        candidates = []
        # contract anniversaries: first confirmed sale of each account
        party, sale = Party.__table__(), Sale.__table__()
        first = sale.select(
            sale.party.as_('party'), Min(sale.sale_date).as_('first'),
            where=(sale.state.in_(REVENUE_SALE_STATES)
                & (sale.company == self.company.id)
                & (sale.sale_date != Null)),
            group_by=[sale.party])
        cursor.execute(*party.join(first,
                condition=first.party == party.id
                ).select(party.id, party.owner, first.first,
                where=self._account_where(party)))
        anniversaries = []
        for account, owner, first_date in cursor:
            if isinstance(first_date, str):
                first_date = datetime.date.fromisoformat(first_date)
            occurrence = due(first_date)
            if occurrence and occurrence.year > first_date.year:
                anniversaries.append((account, owner, occurrence))
        names = self._names({a for a, _, _ in anniversaries})
        for account, owner, occurrence in anniversaries:
            candidates.append(self._activity(
                    'anniversary,%s,%s' % (account, occurrence.year),
                    account, owner, max(occurrence - delta, today),
                    date=occurrence, account_name=names[account]))

        # birthdays of the contacts, for the owner of their first account
        party, person, link = (
            Party.__table__(), Party.__table__(), Link.__table__())
        cursor.execute(*link
            .join(party, condition=link.account == party.id)
            .join(person, condition=link.contact == person.id)
            .select(person.id, person.birthday, party.id, party.owner,
                where=self._account_where(party)
                & (person.birthday != Null)
                & (person.active == Literal(True)),
                order_by=[person.id, link.id]))
        birthdays = {}
        for contact, birthday, account, owner in cursor:
            if contact in birthdays:
                continue
            if isinstance(birthday, str):
                birthday = datetime.date.fromisoformat(birthday)
            occurrence = due(birthday)
            if occurrence:
                birthdays[contact] = (account, owner, occurrence)
        names = self._names(set(birthdays)
            | {a for a, _, _ in birthdays.values()})
        for contact, (account, owner, occurrence) in birthdays.items():
            candidates.append(self._activity(
                    'birthday,%s,%s' % (contact, occurrence.year),
                    account, owner, max(occurrence - delta, today),
                    date=occurrence, contact=contact,
                    account_name=names[account], contact_name=names[contact]))
        return candidates

    def _candidates_after_sale(self, today):
        pool = Pool()
        Party = pool.get('party.party')
        Sale = pool.get('sale.sale')
        cursor = Transaction().connection.cursor()
        delta = datetime.timedelta(days=self.days)
        party, sale = Party.__table__(), Sale.__table__()
        cursor.execute(*sale.join(party, condition=sale.party == party.id
                ).select(sale.id, party.id, party.owner, sale.sale_date,
                where=self._account_where(party)
                & sale.state.in_(REVENUE_SALE_STATES)
                & (sale.company == self.company.id)
                & (sale.sale_date >= today - delta - AFTER_SALE_LOOKBACK)))
        rows = []
        for sale_id, account, owner, sale_date in cursor:
            if isinstance(sale_date, str):
                sale_date = datetime.date.fromisoformat(sale_date)
            rows.append((sale_id, account, owner, sale_date))
        names = self._names({r[1] for r in rows})
        sale_names = {s.id: s.rec_name
            for s in Sale.browse([r[0] for r in rows])}
        return [self._activity(
                'sale,%s' % sale_id, account, owner, sale_date + delta,
                date=sale_date, origin='sale.sale,%s' % sale_id,
                account_name=names[account], sale_name=sale_names[sale_id])
            for sale_id, account, owner, sale_date in rows]

    def _candidates_visit_frequency(self, today):
        pool = Pool()
        Party = pool.get('party.party')
        Activity = pool.get('hitech.activity')
        cursor = Transaction().connection.cursor()
        since = datetime.datetime.combine(
            today - datetime.timedelta(days=self.days), datetime.time())
        party, activity = Party.__table__(), Activity.__table__()
        visits = activity.select(activity.account,
            where=(activity.company == self.company.id)
            & activity.type.in_(VISIT_TYPES)
            & (activity.account != Null)
            & (((activity.state == 'done')
                    & (Coalesce(activity.done_at, activity.planned_at)
                        >= since))
                | (activity.state == 'planned')))
        cursor.execute(*party.select(party.id, party.owner,
                where=self._account_where(party)
                & ~party.id.in_(visits)))
        rows = list(cursor)
        names = self._names({a for a, _ in rows})
        return [self._activity(
                'visit,%s,%s' % (account, today.isoformat()),
                account, owner, today, account_name=names[account])
            for account, owner in rows]

    def _new_only(self, candidates):
        "Drop the candidates the rule has already created"
        Activity = Pool().get('hitech.activity')
        existing = set()
        keys = [c['care_key'] for c in candidates]
        for sub_keys in grouped_slice(keys, backend.MAX_QUERY_PARAMS):
            existing.update(a.care_key for a in Activity.search([
                        ('care_rule', '=', self.id),
                        ('care_key', 'in', list(sub_keys)),
                        ]))
        seen = set()
        result = []
        for candidate in candidates:
            key = candidate['care_key']
            if key in existing or key in seen:
                continue
            seen.add(key)
            result.append(candidate)
        return result


class Activity(metaclass=PoolMeta):
    __name__ = 'hitech.activity'

    care_rule = fields.Many2One(
        'hitech.care.rule', "Care Rule", readonly=True, ondelete='SET NULL',
        help="The care rule that planned the activity.")
    care_key = fields.Char("Care Key", readonly=True,
        help="What the care rule planned the activity for; the rule never "
        "plans twice for the same key.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.care_rule, Index.Range()),
                (t.care_key, Index.Equality()),
                where=t.care_rule != Null))

    @classmethod
    def copy(cls, activities, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('care_rule')
        default.setdefault('care_key')
        return super().copy(activities, default=default)


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    birthday = fields.Date("Birthday",
        states={
            'invisible': Eval('party_kind') != 'person',
            })


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('hitech.care.rule|run_all', "Run Care Rules"))


class CareUncontacted(ModelSQL, ModelView):
    "CRM Accounts Not Contacted"
    __name__ = 'hitech.care.uncontacted'

    company = fields.Many2One('company.company', "Company", readonly=True)
    account = fields.Many2One('party.party', "Account", readonly=True,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    account_type = fields.Selection(ACCOUNT_TYPES, "Account Type",
        readonly=True)
    stage = fields.Selection(STAGES, "Lifecycle Stage", readonly=True)
    owner = fields.Many2One('company.employee', "Owner", readonly=True,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    last_activity = fields.DateTime("Last Activity", readonly=True,
        help="When the last done activity with the account took place.")
    days_since = fields.Function(fields.Integer("Days Since",
            help="Days since the last done activity; empty when there was "
            "none."),
        'get_days_since')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('last_activity', 'ASC NULLS FIRST'),
            ('id', 'ASC'),
            ]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Party = pool.get('party.party')
        Activity = pool.get('hitech.activity')
        Employee = pool.get('company.employee')
        context = Transaction().context
        company = context.get('company') or -1
        days = context.get('days')
        if days is None:
            days = 30
        since = datetime.datetime.combine(
            pool.get('ir.date').today() - datetime.timedelta(days=days),
            datetime.time())
        party, activity = Party.__table__(), Activity.__table__()
        employee = Employee.__table__()
        last = activity.select(
            activity.account.as_('account'),
            Max(Coalesce(activity.done_at, activity.planned_at)).as_('last'),
            where=(activity.state == 'done')
            & (activity.company == company)
            & (activity.account != Null),
            group_by=[activity.account])
        return party.join(last, 'LEFT', condition=last.account == party.id
            ).join(employee, 'LEFT', condition=party.owner == employee.id
            ).select(
                party.id.as_('id'),
                Coalesce(employee.company, company).as_('company'),
                party.id.as_('account'),
                party.account_type.as_('account_type'),
                party.stage.as_('stage'),
                party.owner.as_('owner'),
                last.last.as_('last_activity'),
                where=(party.party_kind == 'company')
                & (party.account_type != Null)
                & (party.active == Literal(True))
                & ((party.owner == Null) | (employee.company == company))
                & ((last.last == Null) | (last.last < since)))

    @classmethod
    def get_days_since(cls, records, name):
        Date = Pool().get('ir.date')
        today = Date.today()
        return {r.id: (today - r.last_activity.date()).days
            if r.last_activity else None for r in records}


class CareUncontactedContext(ModelView):
    "CRM Accounts Not Contacted Context"
    __name__ = 'hitech.care.uncontacted.context'

    days = fields.Integer("Days", required=True,
        domain=[('days', '>=', 0)],
        help="List the accounts without done activity in this many days.")

    @classmethod
    def default_days(cls):
        return 30
