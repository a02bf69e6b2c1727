# This file is part of HiTech CRM. See LICENSE for details.
"""Sales quotas: a yearly target per representative or per team, split
into monthly and quarterly period lines, submitted by the representative
and approved (or adjusted) by their manager."""
import datetime
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from sql import Null, With
from sql.aggregate import Sum

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, Workflow, fields)
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, Get, If, In
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction, without_check_access

from .access import ShareableMixin
from .exceptions import QuotaError, QuotaValidationError

MONTHS = [
    'january', 'february', 'march', 'april', 'may', 'june', 'july',
    'august', 'september', 'october', 'november', 'december']
MONTH_NAMES = [
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December"]
WON_STATES = ['won']
OPEN_STATES = ['lead', 'opportunity', 'converted']


def team_closure():
    """A recursive WITH of (root, node) pairs: every team with each team of
    its subtree, itself included"""
    pool = Pool()
    Team = pool.get('hitech.sales.team')
    team = Team.__table__()
    child = Team.__table__()
    closure = With('root', 'node', recursive=True)
    closure.query = team.select(team.id, team.id)
    closure.query |= child.join(
        closure, condition=child.parent == closure.node).select(
        closure.root, child.id)
    return closure


def split_amount(amount, weights, round_):
    """Split amount by weights; each part is rounded with round_ and the
    remainder goes to the last part, so that the parts add up exactly"""
    total = sum(weights)
    parts = []
    for weight in weights[:-1]:
        parts.append(round_(amount * weight / total))
    parts.append(amount - sum(parts, Decimal(0)))
    return parts


PROTECTED_KEY = '_hitech_protected_write'


def protected_write(func):
    """Let func write the fields clients may not write (states, approval
    marks, frozen figures); private context keys never come from RPC"""
    def wrapper(cls, records, *args, **kwargs):
        with Transaction().set_context({PROTECTED_KEY: True}):
            return func(cls, records, *args, **kwargs)
    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def check_protected(records, values, protected, editable_states, external):
    "Refuse client writes of protected fields or of records not editable"
    context = Transaction().context
    if context.get(PROTECTED_KEY) or not external:
        return True
    if set(values) & protected:
        return False
    return all(r.state in editable_states for r in records)


def is_manager_of(teams, employees):
    """Whether the user manages one of the teams (or a team above them) and
    is none of the employees: nobody approves their own target.

    Buttons run without access checks, so only root (server code) is
    exempt."""
    pool = Pool()
    Rule = pool.get('ir.rule')
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    transaction = Transaction()
    if transaction.user == 0:
        return True
    admin_group = ModelData.get_id('hitech_crm_base', 'group_crm_admin')
    if admin_group in User.get_groups():
        return True
    own = set(User.get_employees())
    if own & {e.id for e in employees if e}:
        return False
    managed = set(Rule._hitech_context()['hitech_managed_teams'])
    return bool(managed & {t.id for t in teams if t})


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def _hitech_rule_models(cls):
        return super()._hitech_rule_models() | {
            'hitech.quota', 'hitech.forecast', 'hitech.forecast.report'}


class Share(metaclass=PoolMeta):
    __name__ = 'hitech.share'

    @classmethod
    def _get_resources(cls):
        return super()._get_resources() + ['hitech.quota']


class Seasonality(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'hitech.quota.seasonality'
    __string__ = "Quota Seasonality Profile"

    name = fields.Char("Name", required=True, translate=True)
    company = fields.Many2One(
        'company.company', "Company", required=True,
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ])
    total_weight = fields.Function(
        fields.Numeric("Total Weight", digits=(16, 4)), 'get_total_weight')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    def get_total_weight(self, name):
        return sum(self.weights(), Decimal(0))

    def weight(self, month):
        "The weight of the calendar month (1-12)"
        return getattr(self, MONTHS[month - 1]) or Decimal(0)

    def weights(self):
        return [self.weight(m) for m in range(1, 13)]

    @classmethod
    def validate_fields(cls, profiles, field_names):
        super().validate_fields(profiles, field_names)
        if field_names and not (field_names & set(MONTHS)):
            return
        for profile in profiles:
            weights = profile.weights()
            if any(w < 0 for w in weights) or not sum(weights):
                raise QuotaValidationError(gettext(
                        'hitech_crm_base.msg_quota_seasonality_weights',
                        profile=profile.rec_name))


for _month, _name in zip(MONTHS, MONTH_NAMES):
    setattr(Seasonality, _month, fields.Numeric(
            _name, digits=(16, 4), required=True,
            help="The relative weight of %s: a month weighing 2 gets twice "
            "the target of a month weighing 1." % _name))
    setattr(Seasonality, 'default_' + _month,
        staticmethod(lambda: Decimal(1)))
del _month, _name


class Quota(ShareableMixin, Workflow, ModelSQL, ModelView):
    __name__ = 'hitech.quota'
    __string__ = "Sales Quota"

    _draft = {
        'readonly': Eval('state') != 'draft',
        }

    company = fields.Many2One(
        'company.company', "Company", required=True, states=_draft,
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ])
    employee = fields.Many2One(
        'company.employee', "Sales Representative", ondelete='CASCADE',
        domain=[('company', '=', Eval('company', -1))],
        states={
            'readonly': Eval('state') != 'draft',
            'required': ~Eval('team'),
            'invisible': Bool(Eval('team')),
            },
        help="The representative the target is for; leave empty for a team "
        "target.")
    team = fields.Many2One(
        'hitech.sales.team', "Sales Team", ondelete='CASCADE',
        domain=[('company', '=', Eval('company', -1))],
        states={
            'readonly': Eval('state') != 'draft',
            'required': ~Eval('employee'),
            'invisible': Bool(Eval('employee')),
            },
        help="The team the target is for; leave empty for a "
        "representative's target.")
    year = fields.Integer("Fiscal Year", required=True, states=_draft,
        help="The fiscal year, named after the calendar year it starts in.")
    start_date = fields.Date("Start Date", required=True, states=_draft,
        help="The first day of the fiscal year (the first day of a month); "
        "the year runs twelve months from it.")
    end_date = fields.Date("End Date", readonly=True,
        help="The last day of the fiscal year.")
    product_line = fields.Many2One(
        'product.category', "Product Line", ondelete='RESTRICT',
        states=_draft,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        help="Only opportunities of this product line count towards the "
        "target; leave empty for all product lines.")
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')
    amount = Monetary(
        "Amount", currency='currency', digits='currency', required=True,
        states={
            'readonly': ~Eval('state').in_(['draft', 'submitted']),
            },
        help="The yearly target in the company currency.  The manager may "
        "adjust it before approving.")
    submitted_amount = Monetary(
        "Submitted Amount", currency='currency', digits='currency',
        readonly=True,
        help="The amount the representative submitted, kept when the "
        "manager adjusts it.")
    seasonality = fields.Many2One(
        'hitech.quota.seasonality', "Seasonality", ondelete='RESTRICT',
        states=_draft,
        domain=[('company', '=', Eval('company', -1))],
        help="The monthly weights the amount is split by; leave empty to "
        "split evenly.")
    periods = fields.One2Many(
        'hitech.quota.period', 'quota', "Periods", readonly=True,
        order=[('kind', 'DESC'), ('start_date', 'ASC')],
        help="Filled by \"Split\": the months and quarters of the year.")
    comment = fields.Text("Comment",
        help="The representative's notes on the target.")
    manager_comment = fields.Text("Manager Comment",
        states={
            'readonly': Eval('state') != 'submitted',
            },
        help="Why the manager adjusted the amount; required when the "
        "approved amount differs from the submitted one.")
    submitted_by = fields.Many2One(
        'res.user', "Submitted By", readonly=True, ondelete='SET NULL')
    approved_by = fields.Many2One(
        'res.user', "Approved By", readonly=True, ondelete='SET NULL')
    approved_date = fields.Date("Approved On", readonly=True)
    state = fields.Selection([
            ('draft', "Draft"),
            ('submitted', "Submitted"),
            ('approved', "Approved"),
            ], "State", required=True, readonly=True, sort=False)

    won_amount = fields.Function(Monetary(
            "Won", currency='currency', digits='currency',
            help="Won opportunities with an end date in the year (of the "
            "team and the teams below it for a team target)."),
        'get_won_amount')
    attainment = fields.Function(fields.Float(
            "Attainment (%)", digits=(16, 1),
            help="Won divided by the target."),
        'get_attainment')
    rollup_amount = fields.Function(Monetary(
            "Members and Sub-teams", currency='currency', digits='currency',
            help="The sum of the targets of the team's members and of its "
            "direct sub-teams for the same year and product line, to compare "
            "with the team's own target."),
        'get_rollup_amount')

    del _draft

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.employee, Index.Equality()),
                    (t.start_date, Index.Range())),
                Index(t, (t.team, Index.Equality()),
                    (t.start_date, Index.Range())),
                Index(t, (t.state, Index.Equality(cardinality='low'))),
                })
        cls._order = [('start_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'submitted'),
            ('submitted', 'approved'),
            ('submitted', 'draft'),
            ('approved', 'draft'),
            }
        cls._buttons.update({
                'split': {
                    'invisible': Eval('state') != 'draft',
                    'depends': ['state'],
                    },
                'submit': {
                    'invisible': Eval('state') != 'draft',
                    'depends': ['state'],
                    },
                'approve': {
                    'invisible': Eval('state') != 'submitted',
                    'depends': ['state'],
                    },
                'reopen': {
                    'invisible': Eval('state') == 'draft',
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_employee():
        context = Transaction().context
        if not context.get('hitech_quota_team'):
            return context.get('employee')

    @staticmethod
    def default_year():
        return datetime.date.today().year

    @staticmethod
    def default_start_date():
        return datetime.date(datetime.date.today().year, 1, 1)

    @staticmethod
    def default_state():
        return 'draft'

    @fields.depends('year', 'start_date')
    def on_change_year(self):
        if self.year and (not self.start_date
                or self.start_date.year != self.year):
            month = self.start_date.month if self.start_date else 1
            self.start_date = datetime.date(self.year, month, 1)

    @fields.depends('start_date')
    def on_change_with_end_date(self, name=None):
        if self.start_date:
            return self._end_date(self.start_date)

    @staticmethod
    def _end_date(start_date):
        return (start_date + relativedelta(months=12)
            - datetime.timedelta(days=1))

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if (mode == 'create' and not values.get('start_date')
                and values.get('year')):
            values['start_date'] = datetime.date(values['year'], 1, 1)
        if values.get('start_date'):
            values['end_date'] = cls._end_date(values['start_date'])
        return values

    @fields.depends('company')
    def on_change_with_currency(self, name=None):
        return self.company.currency if self.company else None

    def get_rec_name(self, name):
        owner = self.employee or self.team
        name = '%s %s' % (owner.rec_name if owner else '', self.year)
        if self.product_line:
            name += ' (%s)' % self.product_line.rec_name
        return name

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('employee.rec_name', operator, operand, *extra),
            ('team.rec_name', operator, operand, *extra),
            ]

    @classmethod
    def validate_fields(cls, quotas, field_names):
        super().validate_fields(quotas, field_names)
        cls.check_owner(quotas, field_names)
        cls.check_dates(quotas, field_names)
        cls.check_unique(quotas, field_names)
        cls.check_amount(quotas, field_names)

    @classmethod
    def check_owner(cls, quotas, field_names=None):
        if field_names and not (field_names & {'employee', 'team'}):
            return
        for quota in quotas:
            if bool(quota.employee) == bool(quota.team):
                raise QuotaValidationError(gettext(
                        'hitech_crm_base.msg_quota_owner'))

    @classmethod
    def check_dates(cls, quotas, field_names=None):
        if field_names and not (field_names & {'start_date', 'year'}):
            return
        for quota in quotas:
            start = quota.start_date
            if start.day != 1 or start.year not in {
                    quota.year, quota.year - 1}:
                raise QuotaValidationError(gettext(
                        'hitech_crm_base.msg_quota_start_date',
                        quota=quota.rec_name))

    @classmethod
    def check_amount(cls, quotas, field_names=None):
        if field_names and 'amount' not in field_names:
            return
        for quota in quotas:
            if quota.amount is not None and quota.amount < 0:
                raise QuotaValidationError(gettext(
                        'hitech_crm_base.msg_quota_negative',
                        quota=quota.rec_name))

    @classmethod
    def check_unique(cls, quotas, field_names=None):
        if field_names and not (field_names & {
                    'employee', 'team', 'year', 'product_line', 'company'}):
            return
        for quota in quotas:
            domain = [
                ('id', '!=', quota.id),
                ('company', '=', quota.company.id),
                ('year', '=', quota.year),
                ('product_line', '=',
                    quota.product_line.id if quota.product_line else None),
                ]
            if quota.employee:
                domain.append(('employee', '=', quota.employee.id))
            else:
                domain.append(('team', '=', quota.team.id))
            with without_check_access():
                others = cls.search(domain, limit=1)
            if others:
                raise QuotaValidationError(gettext(
                        'hitech_crm_base.msg_quota_unique',
                        owner=(quota.employee or quota.team).rec_name,
                        year=quota.year,
                        product_line=(quota.product_line.rec_name
                            if quota.product_line else '-')))

    @classmethod
    def check_modification(cls, mode, quotas, values=None, external=False):
        super().check_modification(
            mode, quotas, values=values, external=external)
        if mode == 'delete':
            for quota in quotas:
                if quota.state != 'draft':
                    raise QuotaError(gettext(
                            'hitech_crm_base.msg_quota_delete_draft',
                            quota=quota.rec_name))
        elif mode == 'write':
            values = {k for k in values if k not in {'hitech_shares'}}
            if not check_protected(quotas, values, {
                        'state', 'submitted_amount', 'submitted_by',
                        'approved_by', 'approved_date', 'end_date',
                        'periods'}, {'draft', 'submitted'}, external):
                raise QuotaError(gettext(
                        'hitech_crm_base.msg_quota_readonly'))
        elif mode == 'create' and external:
            for quota in quotas:
                if quota.state != 'draft' or quota.approved_by:
                    raise QuotaError(gettext(
                            'hitech_crm_base.msg_quota_readonly'))

    @classmethod
    def copy(cls, quotas, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('periods', None)
        default.setdefault('submitted_amount', None)
        default.setdefault('submitted_by', None)
        default.setdefault('approved_by', None)
        default.setdefault('approved_date', None)
        default.setdefault('manager_comment', None)
        default.setdefault('year', lambda data: data['year'] + 1)
        default.setdefault('start_date', lambda data: (
                data['start_date'] + relativedelta(years=1)))
        default.setdefault('state', 'draft')
        return super().copy(quotas, default=default)

    def _period_weights(self):
        "The weights of the twelve months of the year"
        months = [(self.start_date + relativedelta(months=i)).month
            for i in range(12)]
        if self.seasonality:
            return [self.seasonality.weight(m) for m in months]
        return [Decimal(1)] * 12

    def _get_periods(self):
        "Return the values of the month and quarter lines of the quota"
        currency = self.company.currency
        amounts = split_amount(
            self.amount, self._period_weights(), currency.round)
        periods = []
        for i, amount in enumerate(amounts):
            start = self.start_date + relativedelta(months=i)
            periods.append({
                    'quota': self.id,
                    'kind': 'month',
                    'number': i + 1,
                    'start_date': start,
                    'end_date': (start + relativedelta(months=1)
                        - datetime.timedelta(days=1)),
                    'amount': amount,
                    })
        for q in range(4):
            months = periods[3 * q:3 * q + 3]
            periods.append({
                    'quota': self.id,
                    'kind': 'quarter',
                    'number': q + 1,
                    'start_date': months[0]['start_date'],
                    'end_date': months[-1]['end_date'],
                    'amount': sum(m['amount'] for m in months),
                    })
        return periods

    @classmethod
    def _split(cls, quotas):
        pool = Pool()
        Period = pool.get('hitech.quota.period')
        for quota in quotas:
            if quota.amount is None or quota.amount < 0:
                raise QuotaError(gettext(
                        'hitech_crm_base.msg_quota_split_negative',
                        quota=quota.rec_name))
            if quota.seasonality and not sum(quota._period_weights()):
                raise QuotaError(gettext(
                        'hitech_crm_base.msg_quota_seasonality_weights',
                        profile=quota.seasonality.rec_name))
        Period.delete([p for q in quotas for p in q.periods])
        Period.create([v for q in quotas for v in q._get_periods()])

    @classmethod
    def _split_needed(cls, quotas):
        "Quotas whose month lines do not add up to the amount"
        return [q for q in quotas
            if sum(p.amount for p in q.periods if p.kind == 'month')
            != q.amount or len(q.periods) != 16]

    @classmethod
    @ModelView.button
    @protected_write
    def split(cls, quotas):
        "Create the month and quarter lines of the quotas"
        cls._split(quotas)

    @classmethod
    @ModelView.button
    @protected_write
    @Workflow.transition('submitted')
    def submit(cls, quotas):
        cls._split(cls._split_needed(quotas))
        for quota in quotas:
            quota.submitted_amount = quota.amount
            quota.submitted_by = Transaction().user
        cls.save(quotas)

    @classmethod
    @ModelView.button
    @protected_write
    @Workflow.transition('approved')
    def approve(cls, quotas):
        pool = Pool()
        Date = pool.get('ir.date')
        for quota in quotas:
            cls._check_approver(quota)
            if (quota.submitted_amount is not None
                    and quota.amount != quota.submitted_amount
                    and not (quota.manager_comment or '').strip()):
                raise QuotaError(gettext(
                        'hitech_crm_base.msg_quota_adjust_comment',
                        quota=quota.rec_name))
        cls._split(cls._split_needed(quotas))
        for quota in quotas:
            quota.approved_by = Transaction().user
            quota.approved_date = Date.today()
        cls.save(quotas)

    @classmethod
    def _check_approver(cls, quota):
        if quota.employee:
            employees = [quota.employee]
            teams = [m.team for m in quota.employee.sales_teams]
        else:
            employees = [quota.team.manager]
            teams = [quota.team.parent]
        with without_check_access():
            if not is_manager_of(teams, employees):
                raise QuotaError(gettext(
                        'hitech_crm_base.msg_quota_approve_rights',
                        quota=quota.rec_name))

    @classmethod
    @ModelView.button
    @protected_write
    @Workflow.transition('draft')
    def reopen(cls, quotas):
        for quota in quotas:
            if quota.state == 'approved':
                cls._check_approver(quota)
        cls.write(quotas, {
                'approved_by': None,
                'approved_date': None,
                })

    @classmethod
    def get_won_amount(cls, quotas, name):
        "Won amounts of representatives and team subtrees, set-based"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        cursor = Transaction().connection.cursor()
        amounts = dict.fromkeys([q.id for q in quotas], Decimal(0))
        for sub_ids in grouped_slice(
                [q.id for q in quotas], backend.MAX_QUERY_PARAMS):
            sub_ids = list(sub_ids)
            quota = cls.__table__()
            opportunity = Opportunity.__table__()
            closure = team_closure()
            common = ((opportunity.company == quota.company)
                & opportunity.state.in_(WON_STATES)
                & (opportunity.end_date >= quota.start_date)
                & (opportunity.end_date <= quota.end_date)
                & ((quota.product_line == Null)
                    | (opportunity.product_line == quota.product_line)))
            queries = [
                quota.join(opportunity,
                    condition=common
                    & (opportunity.employee == quota.employee)
                    ).select(quota.id, Sum(opportunity.amount),
                    where=reduce_ids(quota.id, sub_ids)
                    & (quota.employee != Null),
                    group_by=quota.id),
                quota.join(closure, condition=closure.root == quota.team
                    ).join(opportunity,
                    condition=common
                    & (opportunity.sales_team == closure.node)
                    ).select(quota.id, Sum(opportunity.amount),
                    where=reduce_ids(quota.id, sub_ids)
                    & (quota.team != Null),
                    group_by=quota.id,
                    with_=[closure]),
                ]
            for query in queries:
                cursor.execute(*query)
                for quota_id, amount in cursor:
                    amounts[quota_id] = Decimal(str(amount or 0))
        return {q.id: q.company.currency.round(amounts[q.id])
            for q in quotas}

    def get_attainment(self, name):
        if self.amount:
            return round(float(self.won_amount / self.amount * 100), 1)

    @classmethod
    def get_rollup_amount(cls, quotas, name):
        "Sum the members' and direct sub-teams' targets in one query"
        pool = Pool()
        Member = pool.get('hitech.sales.team.member')
        Team = pool.get('hitech.sales.team')
        cursor = Transaction().connection.cursor()
        quota = cls.__table__()
        other = cls.__table__()
        member = Member.__table__()
        child = Team.__table__()
        result = {q.id: (Decimal(0) if q.team else None) for q in quotas}
        team_ids = [q.id for q in quotas if q.team]
        for sub_ids in grouped_slice(team_ids, backend.MAX_QUERY_PARAMS):
            query = quota.join(other,
                condition=(other.company == quota.company)
                & (other.year == quota.year)
                & (other.id != quota.id)
                & ((other.product_line == quota.product_line)
                    | ((other.product_line == Null)
                        & (quota.product_line == Null)))
                ).join(member, 'LEFT',
                condition=(member.team == quota.team)
                & (member.employee == other.employee)
                ).join(child, 'LEFT',
                condition=(child.id == other.team)
                & (child.parent == quota.team)
                ).select(quota.id, Sum(other.amount),
                where=reduce_ids(quota.id, sub_ids)
                & ((member.id != Null) | (child.id != Null)),
                group_by=quota.id)
            cursor.execute(*query)
            for quota_id, amount in cursor:
                result[quota_id] = Decimal(str(amount or 0))
        return {q.id: (q.company.currency.round(result[q.id])
                if result[q.id] is not None else None) for q in quotas}


class QuotaPeriod(ModelSQL, ModelView):
    __name__ = 'hitech.quota.period'
    __string__ = "Sales Quota Period"

    quota = fields.Many2One(
        'hitech.quota', "Quota", required=True, ondelete='CASCADE')
    kind = fields.Selection([
            ('month', "Month"),
            ('quarter', "Quarter"),
            ], "Kind", required=True)
    number = fields.Integer("Number", required=True,
        help="The month (1-12) or quarter (1-4) of the fiscal year.")
    start_date = fields.Date("Start Date", required=True)
    end_date = fields.Date("End Date", required=True)
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"), 'get_currency')
    amount = Monetary(
        "Amount", currency='currency', digits='currency', required=True)
    employee = fields.Function(
        fields.Many2One('company.employee', "Sales Representative"),
        'get_quota_field', searcher='search_quota_field')
    team = fields.Function(
        fields.Many2One('hitech.sales.team', "Sales Team"),
        'get_quota_field', searcher='search_quota_field')
    state = fields.Function(fields.Selection(
            'get_states', "State"), 'get_quota_field')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'quota'})
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.quota, Index.Equality()),
                (t.start_date, Index.Range())))
        cls._order = [
            ('quota', 'ASC'), ('kind', 'DESC'), ('start_date', 'ASC'),
            ('id', 'ASC')]

    def get_rec_name(self, name):
        prefix = 'M' if self.kind == 'month' else 'Q'
        return '%s %s%s' % (self.quota.rec_name, prefix, self.number)

    def get_currency(self, name):
        return self.quota.company.currency.id

    def get_quota_field(self, name):
        value = getattr(self.quota, name)
        return value.id if isinstance(value, ModelSQL) else value

    @classmethod
    def search_quota_field(cls, name, clause):
        return [('quota.' + clause[0],) + tuple(clause[1:])]

    @classmethod
    def get_states(cls):
        pool = Pool()
        Quota = pool.get('hitech.quota')
        return Quota.fields_get(['state'])['state']['selection']
