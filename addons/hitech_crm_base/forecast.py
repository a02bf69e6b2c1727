# This file is part of HiTech CRM. See LICENSE for details.
"""Sales forecasts: the figures of a period (won, commit, best case,
weighted pipeline) against the quota, computed set-based in a report
and frozen in snapshots that representatives submit and managers adjust."""
import datetime
from decimal import Decimal

from dateutil.relativedelta import relativedelta
from sql import Literal, Null, Union
from sql.aggregate import Sum
from sql.conditionals import Case, Coalesce
from sql.operators import Exists

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, Get, If, In
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .access import SystemRecordMixin
from .exceptions import ForecastError, ForecastValidationError
from .quota import (
    OPEN_STATES, PROTECTED_KEY, WON_STATES, check_protected, is_manager_of,
    protected_write, team_closure)

FORECAST_CATEGORIES = [
    ('pipeline', "Pipeline"),
    ('best_case', "Best Case"),
    ('commit', "Commit"),
    ('omitted', "Omitted"),
    ]
FIGURES = [
    ('won', "Closed Won"),
    ('commit', "Commit"),
    ('best_case', "Best Case"),
    ('weighted', "Weighted Pipeline"),
    ]
PERIOD_TYPES = [
    ('month', "Month"),
    ('quarter', "Quarter"),
    ]
STALLED_DAYS = 30


def period_range(period_type, date):
    "The first and last day of the calendar month or quarter of date"
    if period_type == 'quarter':
        start = datetime.date(date.year, 3 * ((date.month - 1) // 3) + 1, 1)
        months = 3
    else:
        start = date.replace(day=1)
        months = 1
    return start, start + relativedelta(months=months, days=-1)


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    forecast_category = fields.Selection(
        FORECAST_CATEGORIES, "Forecast Category", required=True,
        states={
            'readonly': ~Eval('state').in_(OPEN_STATES),
            },
        help="How the representative forecasts the deal: Commit (will "
        "close in the period), Best Case (may close), Pipeline (early), "
        "Omitted (left out of the forecast).")
    hitech_scope = fields.Function(fields.Selection([
                (None, ""),
                ('mine', "Mine"),
                ('team', "My Teams"),
                ], "Scope",
            help="Search \"Mine\" for the opportunities you handle, "
            "\"My Teams\" for those of the teams you manage too."),
        'get_hitech_scope', searcher='search_hitech_scope')
    hitech_stalled = fields.Function(fields.Boolean("Stalled",
            help="Open, and its expected close date has passed or nothing "
            "happened on it (activity, stage change) for %s days."
            % STALLED_DAYS),
        'get_hitech_stalled', searcher='search_hitech_stalled')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t,
                (t.forecast_category, Index.Equality(cardinality='low')),
                (t.end_date, Index.Range())))

    @staticmethod
    def default_forecast_category():
        return 'pipeline'

    @classmethod
    def _hitech_scope_domain(cls, scope):
        pool = Pool()
        Rule = pool.get('ir.rule')
        User = pool.get('res.user')
        employees = list(User.get_employees())
        if scope == 'mine':
            return [('employee', 'in', employees)]
        with without_check_access():
            managed = Rule._hitech_context()['hitech_managed_teams']
        return ['OR',
            ('employee', 'in', employees),
            ('sales_team', 'in', managed),
            ('employee.sales_teams.team', 'in', managed),
            ]

    @classmethod
    def get_hitech_scope(cls, opportunities, name):
        pool = Pool()
        User = pool.get('res.user')
        employees = set(User.get_employees())
        result = {o.id: None for o in opportunities}
        ids = [o.id for o in opportunities]
        with without_check_access():
            for scope in ['team', 'mine']:
                for record in cls.search([
                            ('id', 'in', ids),
                            cls._hitech_scope_domain(scope)]):
                    result[record.id] = scope
        del employees
        return result

    @classmethod
    def search_hitech_scope(cls, name, clause):
        _, operator, value = clause[:3]
        if operator != '=' or value not in {'mine', 'team'}:
            return [('id', '=', -1)]
        return cls._hitech_scope_domain(value)

    @classmethod
    def _hitech_stalled_query(cls):
        "Select the ids of stalled opportunities"
        pool = Pool()
        Activity = pool.get('hitech.activity')
        Date = pool.get('ir.date')
        opportunity = cls.__table__()
        activity = Activity.__table__()
        today = Date.today()
        threshold = datetime.datetime.combine(
            today - datetime.timedelta(days=STALLED_DAYS),
            datetime.time())
        recent = Exists(activity.select(activity.id,
                where=(activity.opportunity == opportunity.id)
                & (activity.state != 'cancelled')
                & (Coalesce(activity.done_at, activity.planned_at)
                    >= threshold)))
        quiet = ~recent & (opportunity.create_date < threshold)
        # stage_entered_at is added by the stages feature when installed
        if 'stage_entered_at' in cls._fields:
            column = getattr(opportunity, 'stage_entered_at')
            quiet &= (column == Null) | (column < threshold)
        return opportunity.select(opportunity.id,
            where=opportunity.state.in_(OPEN_STATES)
            & ((opportunity.end_date < today) | quiet))

    @classmethod
    def get_hitech_stalled(cls, opportunities, name):
        cursor = Transaction().connection.cursor()
        ids = [o.id for o in opportunities]
        query = cls._hitech_stalled_query()
        query.where &= query.from_[0].id.in_(ids)
        cursor.execute(*query)
        stalled = {i for i, in cursor}
        return {i: i in stalled for i in ids}

    @classmethod
    def search_hitech_stalled(cls, name, clause):
        _, operator, value = clause[:3]
        positive = (operator == '=') == bool(value)
        return [('id', 'in' if positive else 'not in',
                cls._hitech_stalled_query())]

    @classmethod
    def copy(cls, opportunities, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('forecast_category', 'pipeline')
        return super().copy(opportunities, default=default)


class ForecastReportContext(ModelView):
    __name__ = 'hitech.forecast.report.context'
    __string__ = "Forecast Report Context"

    company = fields.Many2One('company.company', "Company", required=True)
    period_type = fields.Selection(PERIOD_TYPES, "Period", required=True)
    period_date = fields.Date("Date", required=True,
        help="Any day of the month or quarter to show.")
    start_date = fields.Function(
        fields.Date("From"), 'on_change_with_start_date')
    end_date = fields.Function(
        fields.Date("To"), 'on_change_with_end_date')
    sales_team = fields.Many2One(
        'hitech.sales.team', "Sales Team",
        domain=[('company', '=', Eval('company', -1))],
        help="Show the team, the teams below it and their members.")
    sales_rep = fields.Many2One(
        'company.employee', "Sales Representative",
        domain=[('company', '=', Eval('company', -1))])
    product_line = fields.Many2One(
        'product.category', "Product Line",
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        help="Count only this product line, against the quotas of the "
        "product line; leave empty for the general quotas.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_period_type(cls):
        return Transaction().context.get('period_type', 'quarter')

    @classmethod
    def default_period_date(cls):
        pool = Pool()
        Date = pool.get('ir.date')
        return Transaction().context.get('period_date') or Date.today()

    @classmethod
    def default_sales_team(cls):
        return Transaction().context.get('sales_team')

    @classmethod
    def default_sales_rep(cls):
        return Transaction().context.get('sales_rep')

    @fields.depends('period_type', 'period_date')
    def on_change_with_start_date(self, name=None):
        if self.period_type and self.period_date:
            return period_range(self.period_type, self.period_date)[0]

    @fields.depends('period_type', 'period_date')
    def on_change_with_end_date(self, name=None):
        if self.period_type and self.period_date:
            return period_range(self.period_type, self.period_date)[1]


class ForecastFiguresMixin:
    "The figures of a forecast, in the company currency"
    __slots__ = ()

    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"), 'get_currency')
    quota = Monetary("Quota", currency='currency', digits='currency',
        readonly=True,
        help="The approved quota of the months of the period.")
    won = Monetary("Closed Won", currency='currency', digits='currency',
        readonly=True,
        help="Won opportunities whose end date is in the period.")
    commit = Monetary("Commit", currency='currency', digits='currency',
        readonly=True,
        help="Open opportunities of the period flagged Commit.")
    best_case = Monetary("Best Case", currency='currency',
        digits='currency', readonly=True,
        help="Open opportunities of the period flagged Best Case.")
    weighted = Monetary("Weighted Pipeline", currency='currency',
        digits='currency', readonly=True,
        help="Amount × conversion probability of the open, not omitted "
        "opportunities of the period.")
    attainment = fields.Function(fields.Float(
            "Attainment (%)", digits=(16, 1),
            help="Closed won divided by the quota."),
        'get_attainment')
    gap = fields.Function(Monetary(
            "Gap", currency='currency', digits='currency',
            help="Quota minus closed won."),
        'get_gap')
    coverage = fields.Function(fields.Float(
            "Coverage", digits=(16, 2),
            help="Commit plus best case divided by the gap: 1.0 means the "
            "open deals flagged to close would just fill it."),
        'get_coverage')

    def get_currency(self, name):
        return self.company.currency.id if self.company else None

    def get_attainment(self, name):
        if self.quota:
            return round(float((self.won or 0) / self.quota * 100), 1)

    def get_gap(self, name):
        return (self.quota or Decimal(0)) - (self.won or Decimal(0))

    def get_coverage(self, name):
        gap = self.get_gap(name)
        if gap > 0:
            return round(float(
                    ((self.commit or 0) + (self.best_case or 0)) / gap), 2)


class ForecastReport(ForecastFiguresMixin, ModelSQL, ModelView):
    __name__ = 'hitech.forecast.report'
    __string__ = "Forecast"

    company = fields.Many2One('company.company', "Company")
    kind = fields.Selection([
            ('employee', "Representative"),
            ('team', "Team"),
            ], "Kind")
    employee = fields.Many2One('company.employee', "Sales Representative")
    sales_team = fields.Many2One('hitech.sales.team', "Sales Team")
    name = fields.Function(
        fields.Char("Name"), 'get_name', searcher='search_name')
    pipeline = Monetary("Pipeline", currency='currency', digits='currency',
        help="Open opportunities of the period flagged Pipeline.")
    open_count = fields.Integer("Open Opportunities")
    start_date = fields.Function(fields.Date("From"), 'get_period')
    end_date = fields.Function(fields.Date("To"), 'get_period')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('kind', 'DESC'), ('id', 'ASC')]

    @classmethod
    def _period(cls):
        pool = Pool()
        Date = pool.get('ir.date')
        context = Transaction().context
        date = context.get('period_date') or Date.today()
        if isinstance(date, str):
            date = datetime.date.fromisoformat(date)
        return period_range(context.get('period_type') or 'quarter', date)

    def get_period(self, name):
        start, end = self._period()
        return start if name == 'start_date' else end

    def get_name(self, name):
        owner = self.employee or self.sales_team
        return owner.rec_name if owner else ''

    @classmethod
    def search_name(cls, name, clause):
        _, operator, operand, *extra = clause
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('employee.rec_name', operator, operand, *extra),
            ('sales_team.rec_name', operator, operand, *extra),
            ]

    @classmethod
    def _scope(cls):
        "Employee and team ids the rows are restricted to (None for all)"
        pool = Pool()
        Team = pool.get('hitech.sales.team')
        Member = pool.get('hitech.sales.team.member')
        context = Transaction().context
        if context.get('sales_rep') and not context.get('sales_team'):
            return [context['sales_rep']], []
        if context.get('sales_team'):
            with without_check_access():
                teams = Team.get_subtree([Team(context['sales_team'])])
                employees = {m.employee.id for m in Member.search([
                            ('team', 'in', list(teams))])}
            if context.get('sales_rep'):
                employees &= {context['sales_rep']}
                teams = set()
            return sorted(employees), sorted(teams)
        return None, None

    @classmethod
    def table_query(cls):
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Quota = pool.get('hitech.quota')
        Period = pool.get('hitech.quota.period')
        Employee = pool.get('company.employee')
        Team = pool.get('hitech.sales.team')
        context = Transaction().context
        company_id = context.get('company') or -1
        product_line = context.get('product_line')
        start, end = cls._period()
        employees, teams = cls._scope()

        opportunity = Opportunity.__table__()
        is_open = opportunity.state.in_(OPEN_STATES)
        category = opportunity.forecast_category
        amount = Coalesce(opportunity.amount, 0)
        zero = Literal(0)

        def total(condition, value=amount):
            return Sum(Case((condition, value), else_=zero))
        where = ((opportunity.company == company_id)
            & (opportunity.end_date >= start)
            & (opportunity.end_date <= end))
        if product_line:
            where &= opportunity.product_line == product_line

        def figures(key):
            return opportunity.select(key.as_('key'),
                total(opportunity.state.in_(WON_STATES)).as_('won'),
                total(is_open & (category == 'commit')).as_('commit'),
                total(is_open & (category == 'best_case')).as_('best_case'),
                total(is_open & (category == 'pipeline')).as_('pipeline'),
                total(is_open & (category != 'omitted'),
                    amount * Coalesce(opportunity.conversion_probability, 0)
                    ).as_('weighted'),
                total(is_open, Literal(1)).as_('open_count'),
                where=where & (key != Null),
                group_by=key)

        quota = Quota.__table__()
        period = Period.__table__()

        def quotas(key):
            quota_where = ((quota.company == company_id)
                & (quota.state == 'approved')
                & (period.kind == 'month')
                & (period.start_date >= start)
                & (period.start_date <= end)
                & (key != Null))
            if product_line:
                quota_where &= quota.product_line == product_line
            else:
                quota_where &= quota.product_line == Null
            return period.join(quota, condition=period.quota == quota.id
                ).select(key.as_('key'), Sum(period.amount).as_('amount'),
                where=quota_where, group_by=key)

        def columns(base, figure, quota_, kind, employee, team, id_):
            return [
                id_.as_('id'),
                base.company.as_('company'),
                Literal(kind).as_('kind'),
                employee.as_('employee'),
                team.as_('sales_team'),
                Coalesce(quota_.amount, 0).as_('quota'),
                Coalesce(figure.won, 0).as_('won'),
                Coalesce(figure.commit, 0).as_('commit'),
                Coalesce(figure.best_case, 0).as_('best_case'),
                Coalesce(figure.pipeline, 0).as_('pipeline'),
                Coalesce(figure.weighted, 0).as_('weighted'),
                Coalesce(figure.open_count, 0).as_('open_count'),
                ]

        # representatives
        employee = Employee.__table__()
        emp_figures = figures(opportunity.employee)
        emp_quotas = quotas(quota.employee)
        emp_where = (employee.company == company_id) & (
            (emp_figures.key != Null) | (emp_quotas.key != Null))
        if employees is not None:
            emp_where &= employee.id.in_(employees or [-1])
        emp_query = employee.join(emp_figures, 'LEFT',
            condition=emp_figures.key == employee.id
            ).join(emp_quotas, 'LEFT',
            condition=emp_quotas.key == employee.id
            ).select(*columns(employee, emp_figures, emp_quotas,
                'employee', employee.id, Literal(None),
                employee.id * 2),
            where=emp_where)

        # teams: their own quota against the figures of their subtree
        team = Team.__table__()
        closure = team_closure()
        team_figures_by = figures(opportunity.sales_team)
        subtree = closure.join(team_figures_by,
            condition=team_figures_by.key == closure.node
            ).select(closure.root.as_('key'),
            *[Sum(getattr(team_figures_by, c)).as_(c) for c in [
                    'won', 'commit', 'best_case', 'pipeline', 'weighted',
                    'open_count']],
            group_by=closure.root)
        team_quotas = quotas(quota.team)
        team_where = (team.company == company_id) & (
            (subtree.key != Null) | (team_quotas.key != Null))
        if teams is not None:
            team_where &= team.id.in_(teams or [-1])
        team_query = team.join(subtree, 'LEFT',
            condition=subtree.key == team.id
            ).join(team_quotas, 'LEFT',
            condition=team_quotas.key == team.id
            ).select(*columns(team, subtree, team_quotas,
                'team', Literal(None), team.id, team.id * 2 + 1),
            where=team_where)
        return Union(emp_query, team_query, all_=True, with_=[closure])

    @classmethod
    def read(cls, ids, fields_names):
        # SQLite returns floats for the aggregates of a sub-query
        result = super().read(ids, fields_names)
        numeric = {n for n in fields_names
            if n in {'quota', 'won', 'commit', 'best_case', 'pipeline',
                'weighted'}}
        if numeric:
            for row in result:
                for name in numeric:
                    if row[name] is not None and not isinstance(
                            row[name], Decimal):
                        row[name] = Decimal(str(row[name]))
        return result


class Forecast(ForecastFiguresMixin, Workflow, ModelSQL, ModelView):
    __name__ = 'hitech.forecast'
    __string__ = "Forecast Snapshot"

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
            'required': ~Eval('sales_team'),
            'invisible': Bool(Eval('sales_team')),
            })
    sales_team = fields.Many2One(
        'hitech.sales.team', "Sales Team", ondelete='CASCADE',
        domain=[('company', '=', Eval('company', -1))],
        states={
            'readonly': Eval('state') != 'draft',
            'required': ~Eval('employee'),
            'invisible': Bool(Eval('employee')),
            },
        help="For a team forecast: the figures of the team and of the teams "
        "below it.")
    period_type = fields.Selection(
        PERIOD_TYPES, "Period", required=True, states=_draft)
    start_date = fields.Date("Start Date", required=True, states=_draft,
        help="Any day of the period; it is moved to its first day.")
    end_date = fields.Date("End Date", readonly=True)
    product_line = fields.Many2One(
        'product.category', "Product Line", ondelete='RESTRICT',
        states=_draft,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    comment = fields.Text("Comment")
    submitted_by = fields.Many2One(
        'res.user', "Submitted By", readonly=True, ondelete='SET NULL')
    submitted_at = fields.DateTime("Submitted At", readonly=True)
    adjustments = fields.One2Many(
        'hitech.forecast.adjustment', 'forecast', "Adjustments",
        readonly=True)
    state = fields.Selection([
            ('draft', "Draft"),
            ('submitted', "Submitted"),
            ], "State", required=True, readonly=True, sort=False)

    del _draft

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.employee, Index.Equality()),
                    (t.start_date, Index.Range())),
                Index(t, (t.sales_team, Index.Equality()),
                    (t.start_date, Index.Range())),
                })
        cls._order = [('start_date', 'DESC'), ('id', 'DESC')]
        cls._transitions |= {
            ('draft', 'submitted'),
            ('submitted', 'draft'),
            }
        cls._buttons.update({
                'compute': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-refresh',
                    'depends': ['state'],
                    },
                'submit': {
                    'invisible': Eval('state') != 'draft',
                    'depends': ['state'],
                    },
                'draft': {
                    'invisible': Eval('state') != 'submitted',
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                'adjust': {
                    'invisible': Eval('state') != 'submitted',
                    'depends': ['state'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_employee():
        return Transaction().context.get('employee')

    @staticmethod
    def default_period_type():
        return 'quarter'

    @staticmethod
    def default_start_date():
        pool = Pool()
        Date = pool.get('ir.date')
        return period_range('quarter', Date.today())[0]

    @staticmethod
    def default_state():
        return 'draft'

    def get_rec_name(self, name):
        owner = self.employee or self.sales_team
        start = self.start_date
        if self.period_type == 'quarter':
            period = '%s-Q%s' % (start.year, (start.month - 1) // 3 + 1)
        else:
            period = start.strftime('%Y-%m')
        return '%s %s' % (owner.rec_name if owner else '', period)

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create':
            period_type = values.get('period_type') or 'quarter'
            start = values.get('start_date') or cls.default_start_date()
            values['start_date'], values['end_date'] = (
                period_range(period_type, start))
        return values

    @classmethod
    def on_modification(cls, mode, forecasts, field_names=None):
        super().on_modification(mode, forecasts, field_names=field_names)
        if mode == 'write' and field_names & {'start_date', 'period_type'}:
            to_save = []
            for forecast in forecasts:
                start, end = period_range(
                    forecast.period_type, forecast.start_date)
                if (start, end) != (forecast.start_date, forecast.end_date):
                    forecast.start_date, forecast.end_date = start, end
                    to_save.append(forecast)
            if to_save:
                with Transaction().set_context({PROTECTED_KEY: True}):
                    cls.save(to_save)

    @classmethod
    def validate_fields(cls, forecasts, field_names):
        super().validate_fields(forecasts, field_names)
        if field_names and not (field_names & {
                    'employee', 'sales_team', 'start_date', 'period_type',
                    'product_line'}):
            return
        for forecast in forecasts:
            if bool(forecast.employee) == bool(forecast.sales_team):
                raise ForecastValidationError(gettext(
                        'hitech_crm_base.msg_forecast_owner'))
            domain = [
                ('id', '!=', forecast.id),
                ('company', '=', forecast.company.id),
                ('employee', '=',
                    forecast.employee.id if forecast.employee else None),
                ('sales_team', '=',
                    forecast.sales_team.id if forecast.sales_team else None),
                ('period_type', '=', forecast.period_type),
                ('start_date', '=', forecast.start_date),
                ('product_line', '=', forecast.product_line.id
                    if forecast.product_line else None),
                ]
            with without_check_access():
                if cls.search(domain, limit=1):
                    raise ForecastValidationError(gettext(
                            'hitech_crm_base.msg_forecast_unique',
                            forecast=forecast.rec_name))

    @classmethod
    def check_modification(cls, mode, forecasts, values=None,
            external=False):
        super().check_modification(
            mode, forecasts, values=values, external=external)
        if mode == 'delete':
            for forecast in forecasts:
                if forecast.state != 'draft':
                    raise ForecastError(gettext(
                            'hitech_crm_base.msg_forecast_delete_draft',
                            forecast=forecast.rec_name))
        elif mode == 'write':
            protected = {'state', 'submitted_by', 'submitted_at',
                'end_date', 'quota', 'adjustments'} | {f for f, _ in FIGURES}
            if not check_protected(
                    forecasts, values, protected, {'draft'}, external):
                raise ForecastError(gettext(
                        'hitech_crm_base.msg_forecast_readonly'))
        elif mode == 'create' and external:
            for forecast in forecasts:
                if forecast.state != 'draft':
                    raise ForecastError(gettext(
                            'hitech_crm_base.msg_forecast_readonly'))

    @classmethod
    def copy(cls, forecasts, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('adjustments', None)
        default.setdefault('submitted_by', None)
        default.setdefault('submitted_at', None)
        default.setdefault('state', 'draft')
        return super().copy(forecasts, default=default)

    def _report_context(self):
        return {
            'company': self.company.id,
            'period_type': self.period_type,
            'period_date': self.start_date,
            'product_line': (
                self.product_line.id if self.product_line else None),
            'sales_rep': self.employee.id if self.employee else None,
            'sales_team': (
                self.sales_team.id if self.sales_team else None),
            }

    @classmethod
    def _compute(cls, forecasts):
        "Set the figures of the forecasts from the forecast report"
        pool = Pool()
        Report = pool.get('hitech.forecast.report')
        for forecast in forecasts:
            with Transaction().set_context(forecast._report_context()), \
                    without_check_access():
                if forecast.employee:
                    domain = [('employee', '=', forecast.employee.id)]
                else:
                    domain = [('sales_team', '=', forecast.sales_team.id)]
                rows = Report.search(domain)
                for name, _ in [('quota', None)] + FIGURES:
                    value = rows[0].__getattr__(name) if rows else 0
                    setattr(forecast, name,
                        forecast.company.currency.round(
                            Decimal(str(value or 0))))
        cls.save(forecasts)

    @classmethod
    @ModelView.button
    @protected_write
    def compute(cls, forecasts):
        cls._compute(forecasts)

    @classmethod
    @ModelView.button
    @protected_write
    @Workflow.transition('submitted')
    def submit(cls, forecasts):
        cls._compute(forecasts)
        cls.write(forecasts, {
                'submitted_by': Transaction().user,
                'submitted_at': datetime.datetime.now(),
                })

    @classmethod
    @ModelView.button
    @protected_write
    @Workflow.transition('draft')
    def draft(cls, forecasts):
        for forecast in forecasts:
            if forecast.adjustments:
                raise ForecastError(gettext(
                        'hitech_crm_base.msg_forecast_adjusted_draft',
                        forecast=forecast.rec_name))

    @classmethod
    @ModelView.button_action('hitech_crm_base.wizard_forecast_adjust')
    def adjust(cls, forecasts):
        pass

    @classmethod
    def check_adjuster(cls, forecasts):
        for forecast in forecasts:
            if forecast.employee:
                employees = [forecast.employee]
                teams = [m.team for m in forecast.employee.sales_teams]
            else:
                employees = [forecast.sales_team.manager]
                teams = [forecast.sales_team.parent]
            with without_check_access():
                if not is_manager_of(teams, employees):
                    raise ForecastError(gettext(
                            'hitech_crm_base.msg_forecast_adjust_rights',
                            forecast=forecast.rec_name))

    @classmethod
    @protected_write
    def apply_adjustment(cls, forecast, figure, amount, comment):
        "Set figure of the submitted forecast to amount, keeping a trace"
        pool = Pool()
        Adjustment = pool.get('hitech.forecast.adjustment')
        if forecast.state != 'submitted':
            raise ForecastError(gettext(
                    'hitech_crm_base.msg_forecast_adjust_submitted',
                    forecast=forecast.rec_name))
        if amount is None or amount < 0:
            raise ForecastError(gettext(
                    'hitech_crm_base.msg_forecast_adjust_negative',
                    forecast=forecast.rec_name))
        if not (comment or '').strip():
            raise ForecastError(gettext(
                    'hitech_crm_base.msg_forecast_adjust_comment',
                    forecast=forecast.rec_name))
        cls.check_adjuster([forecast])
        previous = [a for a in forecast.adjustments if a.figure == figure]
        current = getattr(forecast, figure)
        original = previous[0].original_amount if previous else current
        # adjustments are only added here, once the adjuster is checked
        with without_check_access():
            adjustment, = Adjustment.create([{
                        'forecast': forecast.id,
                        'figure': figure,
                        'original_amount': original,
                        'previous_amount': current,
                        'amount': amount,
                        'comment': comment,
                        }])
        cls.write([forecast], {figure: amount})
        return adjustment


class ForecastAdjustment(SystemRecordMixin, ModelSQL, ModelView):
    __name__ = 'hitech.forecast.adjustment'
    __string__ = "Forecast Adjustment"

    forecast = fields.Many2One(
        'hitech.forecast', "Forecast", required=True, ondelete='CASCADE',
        readonly=True)
    figure = fields.Selection(FIGURES, "Figure", required=True,
        readonly=True)
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"), 'get_currency')
    original_amount = Monetary(
        "Original Amount", currency='currency', digits='currency',
        readonly=True,
        help="The figure as the representative submitted it.")
    previous_amount = Monetary(
        "Previous Amount", currency='currency', digits='currency',
        readonly=True)
    amount = Monetary(
        "Amount", currency='currency', digits='currency', required=True,
        readonly=True)
    comment = fields.Text("Comment", required=True, readonly=True)
    user = fields.Many2One('res.user', "Adjusted By", readonly=True,
        ondelete='SET NULL')
    adjusted_at = fields.DateTime("Adjusted At", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'forecast'})
        cls._order = [('adjusted_at', 'DESC'), ('id', 'DESC')]

    def get_currency(self, name):
        return self.forecast.company.currency.id

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create':
            values['user'] = Transaction().user
            values['adjusted_at'] = datetime.datetime.now()
        return values


class ForecastAdjustStart(ModelView):
    __name__ = 'hitech.forecast.adjust.start'
    __string__ = "Adjust Forecast"

    figure = fields.Selection(FIGURES, "Figure", required=True)
    currency = fields.Many2One('currency.currency', "Currency",
        readonly=True)
    current_amount = Monetary(
        "Current Amount", currency='currency', digits='currency',
        readonly=True)
    amount = Monetary(
        "New Amount", currency='currency', digits='currency', required=True)
    comment = fields.Text("Comment", required=True,
        help="Why the figure is adjusted; kept with the adjustment.")
    forecast = fields.Many2One('hitech.forecast', "Forecast", readonly=True)

    @fields.depends('figure', 'forecast')
    def on_change_with_current_amount(self):
        if self.figure and self.forecast:
            return getattr(self.forecast, self.figure)


class ForecastAdjust(Wizard):
    __name__ = 'hitech.forecast.adjust'
    start = StateView('hitech.forecast.adjust.start',
        'hitech_crm_base.forecast_adjust_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Adjust", 'adjust', 'tryton-ok', default=True),
            ])
    adjust = StateTransition()

    def default_start(self, fields):
        forecast = self.record
        return {
            'forecast': forecast.id,
            'figure': 'commit',
            'currency': forecast.company.currency.id,
            'current_amount': forecast.commit,
            'amount': forecast.commit,
            }

    def transition_adjust(self):
        pool = Pool()
        Forecast = pool.get('hitech.forecast')
        Forecast.apply_adjustment(
            self.record, self.start.figure, self.start.amount,
            self.start.comment)
        return 'end'
