# This file is part of HiTech CRM. See LICENSE for details.
"""Pipeline analytics over the stage history.

Reporting models built like the stock ones of ``sale_opportunity``
(``table_query`` split into ``_joins``, ``_columns``, ``_where`` and
``_group_by``, a context model for the filters), one SQL query each:

* stages: funnel (opportunities that reached the stage, with their
  amount, and those in it now), conversion to a later stage, average,
  median and 90th percentile of the time spent in the stage;
* transitions: stage-to-stage moves and their share of the moves out of
  a stage;
* cycle: deals closed, won and lost, win rate, cycle length (creation to
  won or lost: average, median, 90th percentile).

Each can be split by team, rep, product line or source (the context's
dimension) and by period (the time series models).  Percentiles are
``percentile_cont`` on PostgreSQL; on other backends the same linear
interpolation is computed from ``ROW_NUMBER``/``COUNT`` window functions.
The rows are limited to the opportunities the user may read.
"""
from dateutil.relativedelta import relativedelta
from sql import (
    Cast, Column, Expression, Literal, Null, Union, Window, With)
from sql.aggregate import Avg, Count, Min, Sum
from sql.conditionals import Case, NullIf
from sql.functions import DateTrunc, RowNumber

from trytond import backend
from trytond.model import ModelSQL, ModelView, fields
from trytond.model.modelsql import _TABLE_QUERY_COLUMNS
from trytond.tools import cursor_dict, grouped_slice
from trytond.transaction import record_cache_size
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool
from trytond.pyson import Eval, If
from trytond.transaction import Transaction

from .stage import OPEN_STATES

DIMENSIONS = [
    (None, ""),
    ('sales_team', "Team"),
    ('employee', "Rep"),
    ('product_line', "Product Line"),
    ('source', "Source"),
    ]


class PercentileCont(Expression):
    "PERCENTILE_CONT(fraction) WITHIN GROUP (ORDER BY expression)"
    __slots__ = ('fraction', 'expression')

    def __init__(self, fraction, expression):
        super().__init__()
        self.fraction = float(fraction)
        self.expression = expression

    def __str__(self):
        return 'PERCENTILE_CONT(%r) WITHIN GROUP (ORDER BY %s)' % (
            self.fraction, self.expression)

    @property
    def params(self):
        return tuple(self.expression.params)


PERIODS = {'year', 'month', 'week', 'day'}


class PeriodTrunc(Expression):
    "DATE_TRUNC with the period as SQL text, not as a parameter"
    __slots__ = ('period', 'expression')

    def __init__(self, period, expression):
        super().__init__()
        assert period in PERIODS
        self.period = period
        self.expression = expression

    def __str__(self):
        return "DATE_TRUNC('%s', %s)" % (self.period, self.expression)

    @property
    def params(self):
        return tuple(self.expression.params)


def percentile_by_window(fraction, value, rank, count):
    """The linear interpolation of percentile_cont from the rank of the
    value among the non-null values of its group and their count"""
    position = Literal(1.0) + Literal(float(fraction)) * (count - 1)
    lower = Cast(position, 'INTEGER')
    weight = position - lower
    return Sum(Case(
            ((value != Null) & (rank == lower),
                value * (Literal(1.0) - weight)),
            ((value != Null) & (rank == lower + 1), value * weight),
            else_=Null))


class Context(ModelView):
    "Pipeline Reporting Context"
    __name__ = 'hitech.opportunity.reporting.context'

    company = fields.Many2One('company.company', "Company", required=True)
    from_date = fields.Date("From Date",
        domain=[
            If(Eval('to_date') & Eval('from_date'),
                ('from_date', '<=', Eval('to_date')),
                ()),
            ],
        help="Count the stage entries (and closings) from this date.")
    to_date = fields.Date("To Date",
        domain=[
            If(Eval('from_date') & Eval('to_date'),
                ('to_date', '>=', Eval('from_date')),
                ()),
            ])
    period = fields.Selection([
            ('year', "Year"),
            ('month', "Month"),
            ('week', "Week"),
            ('day', "Day"),
            ], "Period", required=True,
        help="The length of the periods of the time series.")
    dimension = fields.Selection(DIMENSIONS, "Split by",
        help="Show one row per team, rep, product line or source.")
    process = fields.Many2One('hitech.sales.process', "Sales Process")
    sales_team = fields.Many2One('hitech.sales.team', "Sales Team",
        help="Only the opportunities of the team and of its sub-teams.")
    employee = fields.Many2One('company.employee', "Rep",
        domain=[('company', '=', Eval('company', -1))])
    product_line = fields.Many2One('product.category', "Product Line",
        context={'company': Eval('company', -1)}, depends={'company'})
    source = fields.Many2One('hitech.lead.source', "Source")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_from_date(cls):
        pool = Pool()
        Date = pool.get('ir.date')
        context = Transaction().context
        if 'from_date' in context:
            return context['from_date']
        return Date.today() - relativedelta(years=1)

    @classmethod
    def default_to_date(cls):
        pool = Pool()
        Date = pool.get('ir.date')
        context = Transaction().context
        if 'to_date' in context:
            return context['to_date']
        return Date.today()

    @classmethod
    def default_period(cls):
        return Transaction().context.get('period', 'month')

    @classmethod
    def default_dimension(cls):
        return Transaction().context.get('dimension')


class Abstract(ModelSQL):

    company = fields.Many2One('company.company', "Company")
    process = fields.Many2One('hitech.sales.process', "Sales Process")
    sales_team = fields.Many2One('hitech.sales.team', "Sales Team")
    employee = fields.Many2One('company.employee', "Rep")
    product_line = fields.Many2One('product.category', "Product Line",
        context={'company': Eval('company', -1)}, depends={'company'})
    source = fields.Many2One('hitech.lead.source', "Source")
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"), 'get_currency')

    _dimensions = ['sales_team', 'employee', 'product_line', 'source']
    # name -> percentile fraction, for the value of _percentile_value
    _percentiles = {}

    @classmethod
    def search_read(cls, domain, offset=0, limit=None, order=None,
            fields_names=None):
        """Select the columns to read in the query of the search: the read
        of ModelSQL would run the aggregation of table_query a second
        time (filtered on the ids, which cannot be pushed below the GROUP
        BY), doubling the time of every report"""
        fields_names = list(fields_names or ['id'])
        if 'id' not in fields_names:
            fields_names.append('id')

        def fallback():
            return super(Abstract, cls).search_read(domain, offset=offset,
                limit=limit, order=order, fields_names=fields_names)

        def plain(field):
            return (not isinstance(field, fields.Function)
                and field.sql_type() and field.loading == 'eager'
                and not getattr(field, 'translate', False))
        columns, getters, related = [], [], {}
        for name in fields_names:
            base, _, target_name = name.partition('.')
            field = cls._fields.get(base)
            if name == 'id':
                continue
            elif field is None or base in _TABLE_QUERY_COLUMNS:
                # :string, _timestamp, ...
                return fallback()
            elif target_name:
                if (not isinstance(field, fields.Many2One)
                        or not plain(field) or field.context):
                    # a context for the target (product line) is per row
                    return fallback()
                related.setdefault(base, []).append(target_name)
                if base not in columns:
                    columns.append(base)
            elif isinstance(field, fields.Function):
                getters.append(name)
            elif plain(field):
                if name not in columns:
                    columns.append(name)
            else:
                return fallback()
        query = cls.search(domain, offset=offset, limit=limit, order=order,
            query=True)
        table = query.columns[0].expression.table
        if isinstance(table, Union):
            # the OR-to-UNION optimization selects only the ids
            return fallback()
        selected = [table.id.as_('id')]
        if getters:
            # their getters read the other columns from the cache
            columns = [n for n, f in sorted(cls._fields.items())
                if n != 'id' and plain(f)]
        for name in columns:
            column = _TABLE_QUERY_COLUMNS.get(name, Column(table, name))
            column = column.as_(name)
            if backend.name == 'sqlite':
                column.output_name += ' [%s]' % (
                    cls._fields[name].sql_type().base)
            selected.append(column)
        query.columns = selected
        cls._before_read([], fields_names)
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        cursor.execute(*query)
        rows = list(cursor_dict(cursor))
        if getters:
            # their getters find the columns in the cache, no SQL query
            cache = transaction.get_cache()[cls.__name__]
            for sub_rows in grouped_slice(
                    rows, record_cache_size(transaction)):
                sub_rows = list(sub_rows)
                for row in sub_rows:
                    cache[row['id']]._update(row)
                read = {r['id']: r for r in cls.read(
                        [r['id'] for r in sub_rows], getters)}
                for row in sub_rows:
                    row.update(read[row['id']])
        limit = transaction.context.get('related_read_limit')
        for base, target_names in related.items():
            # as ModelSQL.read does for a Many2One
            Target = cls._fields[base].get_target()
            ids = list(dict.fromkeys(
                    r[base] for r in rows if r[base] is not None))
            targets = {t['id']: t for t in Target.read(
                    ids[:limit], target_names)}
            if limit is not None:
                targets.update((i, {'id': i}) for i in ids[limit:])
            for row in rows:
                value = row[base]
                row[base + '.'] = (targets[value]
                    if value is not None and value >= 0 else None)
        names = [n for n in fields_names if '.' not in n] + [
            b + '.' for b in related]
        rows = [{n: r[n] for n in names} for r in rows]
        return cls._after_read(rows)

    @classmethod
    def table_query(cls):
        from_item, tables, withs = cls._joins()
        return from_item.select(*cls._columns(tables, withs),
            where=cls._where(tables, withs),
            group_by=cls._group_by(tables, withs),
            with_=withs.values())

    @classmethod
    def _base_joins(cls):
        pool = Pool()
        History = pool.get('hitech.opportunity.stage.history')
        Opportunity = pool.get('sale.opportunity')
        Stage = pool.get('hitech.opportunity.stage')
        tables = {}
        tables['history'] = history = History.__table__()
        tables['opportunity'] = opportunity = Opportunity.__table__()
        tables['stage'] = stage = Stage.__table__()
        tables['next_stage'] = next_stage = Stage.__table__()
        from_item = (history
            .join(opportunity,
                condition=history.opportunity == opportunity.id)
            .join(stage, condition=history.to_stage == stage.id)
            .join(next_stage, 'LEFT',
                condition=history.next_stage == next_stage.id))
        return from_item, tables

    @classmethod
    def _joins(cls):
        from_item, tables = cls._base_joins()
        withs = {}
        if cls._percentiles and not cls._percentile_cont():
            # rank the values in their group for the percentiles
            r_from, r_tables = cls._base_joins()
            r_withs = {}
            value = cls._percentile_value(r_tables)
            partition = cls._group_by(r_tables, r_withs)
            ranked = With(query=r_from.select(
                    r_tables['history'].id.as_('id'),
                    RowNumber(window=Window(
                            partition + [value == Null],
                            order_by=[value.asc])).as_('rank'),
                    Count(value, window=Window(partition)).as_('count'),
                    where=cls._where(r_tables, r_withs)))
            withs['ranked'] = ranked
            from_item = from_item.join(ranked,
                condition=ranked.id == tables['history'].id)
            tables['ranked'] = ranked
        return from_item, tables, withs

    @classmethod
    def _percentile_cont(cls):
        "Whether the database has PERCENTILE_CONT"
        return backend.name == 'postgresql'

    @classmethod
    def _percentile_value(cls, tables):
        raise NotImplementedError

    @classmethod
    def _percentile_columns(cls, tables, withs):
        value = cls._percentile_value(tables)
        columns = []
        for name, fraction in cls._percentiles.items():
            if 'ranked' in tables:
                ranked = tables['ranked']
                column = percentile_by_window(
                    fraction, value, ranked.rank, ranked.count)
            else:
                column = PercentileCont(fraction, value)
            columns.append(column.as_(name))
        return columns

    @classmethod
    def _dimension(cls):
        dimension = Transaction().context.get('dimension')
        if dimension in cls._dimensions:
            return dimension

    @classmethod
    def _columns(cls, tables, withs):
        opportunity = tables['opportunity']
        history = tables['history']
        dimension = cls._dimension()
        columns = [
            Min(history.id).as_('id'),
            opportunity.company.as_('company'),
            history.process.as_('process'),
            ]
        for name in cls._dimensions:
            if name == dimension:
                column = getattr(opportunity, name)
            else:
                column = getattr(cls, name).sql_cast(Literal(None))
            columns.append(column.as_(name))
        return columns

    @classmethod
    def _group_by(cls, tables, withs):
        opportunity = tables['opportunity']
        history = tables['history']
        group_by = [opportunity.company, history.process]
        dimension = cls._dimension()
        if dimension:
            group_by.append(getattr(opportunity, dimension))
        return group_by

    @classmethod
    def _column_date(cls, tables, withs):
        return tables['history'].date

    @classmethod
    def _where(cls, tables, withs):
        pool = Pool()
        Team = pool.get('hitech.sales.team')
        Rule = pool.get('ir.rule')
        Opportunity = pool.get('sale.opportunity')
        context = Transaction().context
        opportunity = tables['opportunity']
        history = tables['history']

        where = opportunity.company == context.get('company')
        date = cls._column_date(tables, withs)
        from_date = context.get('from_date')
        if from_date:
            where &= date >= from_date
        to_date = context.get('to_date')
        if to_date:
            where &= date < to_date + relativedelta(days=1)
        if context.get('process'):
            where &= history.process == context['process']
        if context.get('sales_team'):
            teams = [t.id for t in Team.search([
                        ('parent', 'child_of', [context['sales_team']]),
                        ])]
            where &= opportunity.sales_team.in_(teams or [-1])
        for name in ['employee', 'product_line', 'source']:
            if context.get(name):
                where &= getattr(opportunity, name) == context[name]
        # the figures of the opportunities the user may read only
        if Rule.domain_get(Opportunity.__name__, mode='read'):
            where &= opportunity.id.in_(
                Rule.query_get(Opportunity.__name__, mode='read'))
        return where

    @classmethod
    def _rate(cls, numerator, denominator):
        return (cls._float(numerator) / NullIf(denominator, 0))

    @classmethod
    def _float(cls, expression):
        return Cast(expression, 'FLOAT')

    def get_currency(self, name):
        return self.company.currency.id if self.company else None

    def get_rec_name(self, name):
        for dimension in self._dimensions:
            value = getattr(self, dimension, None)
            if value:
                return value.rec_name
        return self.process.rec_name if self.process else ''


class StageMixin:
    "Funnel, conversion and time in stage, per stage"
    __slots__ = ()

    stage = fields.Many2One('hitech.opportunity.stage', "Stage")
    sequence = fields.Integer("Sequence")
    kind = fields.Selection([
            ('open', "Open"),
            ('won', "Won"),
            ('lost', "Lost"),
            ], "Kind")
    entries = fields.Integer("Entries",
        help="How many times opportunities entered the stage.")
    reached = fields.Integer("Reached",
        help="The opportunities that reached the stage (funnel).")
    reached_amount = Monetary("Reached Amount",
        currency='currency', digits='currency',
        help="The amount of the opportunities when they first reached "
        "the stage.")
    current = fields.Integer("In Stage Now",
        help="The open opportunities that are in the stage now.")
    current_amount = Monetary("Amount in Stage Now",
        currency='currency', digits='currency')
    left = fields.Integer("Left",
        help="The stays in the stage that ended.")
    advanced = fields.Integer("Moved On",
        help="The stays that ended by a move to a later stage or a win.")
    dropped = fields.Integer("Lost Here",
        help="The stays that ended by a loss.")
    conversion_rate = fields.Float("Conversion Rate", digits=(1, 4),
        help="The share of the entries that moved on to a later stage.")
    average_days = fields.Float("Average Days", digits=(16, 2),
        help="The average time spent in the stage, in days.")
    median_days = fields.Float("Median Days", digits=(16, 2))
    p90_days = fields.Float("P90 Days", digits=(16, 2),
        help="Nine stays out of ten were shorter than this.")

    _percentiles = {'median_days': 0.5, 'p90_days': 0.9}

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('process', 'ASC'), ('sequence', 'ASC'),
            ('stage', 'ASC'), ('id', 'ASC')]

    @classmethod
    def _percentile_value(cls, tables):
        return tables['history'].stay_days

    @classmethod
    def _columns(cls, tables, withs):
        history = tables['history']
        opportunity = tables['opportunity']
        stage = tables['stage']
        next_stage = tables['next_stage']
        first = history.first_entry == Literal(True)
        current = ((history.left_at == Null)
            & (opportunity.stage == history.to_stage)
            & opportunity.state.in_(OPEN_STATES))
        forward = (
            ((next_stage.kind == 'won') & (stage.kind != 'won'))
            | ((stage.kind == 'open') & (next_stage.kind == 'open')
                & ((next_stage.sequence > stage.sequence)
                    | ((next_stage.sequence == stage.sequence)
                        & (next_stage.id > stage.id)))))
        advanced = Sum(Case((forward, Literal(1)), else_=Literal(0)))
        return super()._columns(tables, withs) + [
            history.to_stage.as_('stage'),
            stage.sequence.as_('sequence'),
            stage.kind.as_('kind'),
            Count().as_('entries'),
            Sum(Case((first, Literal(1)), else_=Literal(0))).as_('reached'),
            Sum(Case((first, history.amount), else_=Literal(0))
                ).as_('reached_amount'),
            Sum(Case((current, Literal(1)), else_=Literal(0))
                ).as_('current'),
            Sum(Case((current, opportunity.amount), else_=Literal(0))
                ).as_('current_amount'),
            Count(history.stay_days).as_('left'),
            advanced.as_('advanced'),
            Sum(Case((next_stage.kind == 'lost', Literal(1)),
                    else_=Literal(0))).as_('dropped'),
            cls._rate(advanced, Count()).as_('conversion_rate'),
            Avg(history.stay_days).as_('average_days'),
            ] + cls._percentile_columns(tables, withs)

    @classmethod
    def _group_by(cls, tables, withs):
        history = tables['history']
        stage = tables['stage']
        return super()._group_by(tables, withs) + [
            history.to_stage, stage.sequence, stage.kind]

    def get_rec_name(self, name):
        names = [self.stage.rec_name if self.stage else '']
        other = super().get_rec_name(name)
        if other and (not self.process or other != self.process.rec_name):
            names.append(other)
        return ' - '.join(names)


class TimeseriesMixin:
    __slots__ = ()

    date = fields.Date("Date")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('date', 'ASC'))

    @classmethod
    def _column_period(cls, tables, withs):
        context = Transaction().context
        period = context.get('period', 'month')
        if period not in PERIODS:
            period = 'month'
        if backend.name == 'postgresql':
            # the same SQL text in SELECT and GROUP BY (no parameter)
            date = PeriodTrunc(period, cls._column_date(tables, withs))
        else:
            date = DateTrunc(period, cls._column_date(tables, withs))
        return cls.date.sql_cast(date)

    @classmethod
    def _columns(cls, tables, withs):
        return super()._columns(tables, withs) + [
            cls._column_period(tables, withs).as_('date')]

    @classmethod
    def _group_by(cls, tables, withs):
        return super()._group_by(tables, withs) + [
            cls._column_period(tables, withs)]


class StageReport(StageMixin, Abstract, ModelView):
    "Pipeline Stage Analysis"
    __name__ = 'hitech.opportunity.reporting.stage'


class StageTimeseries(TimeseriesMixin, StageMixin, Abstract, ModelView):
    "Pipeline Stage Analysis per Period"
    __name__ = 'hitech.opportunity.reporting.stage.time_series'


class Transition(Abstract, ModelView):
    "Pipeline Stage Transition"
    __name__ = 'hitech.opportunity.reporting.transition'

    from_stage = fields.Many2One('hitech.opportunity.stage', "From Stage")
    to_stage = fields.Many2One('hitech.opportunity.stage', "To Stage")
    moves = fields.Integer("Moves")
    rate = fields.Float("Share", digits=(1, 4),
        help="The share of the moves out of the from stage that went to "
        "the to stage.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('process', 'ASC'), ('from_stage', 'ASC'),
            ('moves', 'DESC'), ('id', 'ASC')]

    @classmethod
    def _columns(cls, tables, withs):
        history = tables['history']
        partition = Abstract._group_by.__func__(cls, tables, withs) + [
            history.from_stage]
        return super()._columns(tables, withs) + [
            history.from_stage.as_('from_stage'),
            history.to_stage.as_('to_stage'),
            Count().as_('moves'),
            cls._rate(Count(),
                Sum(Count(), window=Window(partition))
                ).as_('rate'),
            ]

    @classmethod
    def _group_by(cls, tables, withs):
        history = tables['history']
        return super()._group_by(tables, withs) + [
            history.from_stage, history.to_stage]

    @classmethod
    def _where(cls, tables, withs):
        history = tables['history']
        return super()._where(tables, withs) & (history.from_stage != Null)

    def get_rec_name(self, name):
        return '%s → %s' % (
            self.from_stage.rec_name if self.from_stage else '',
            self.to_stage.rec_name if self.to_stage else '')


class CycleMixin:
    "Deals closed, win rate and cycle length"
    __slots__ = ()

    closed = fields.Integer("Closed",
        help="The opportunities that ended won or lost.")
    won = fields.Integer("Won")
    lost = fields.Integer("Lost")
    win_rate = fields.Float("Win Rate", digits=(1, 4),
        help="The share of the closed opportunities that were won.")
    won_amount = Monetary("Won Amount",
        currency='currency', digits='currency')
    average_cycle = fields.Float("Average Cycle Days", digits=(16, 2),
        help="Days from the creation of the opportunity to its closing.")
    median_cycle = fields.Float("Median Cycle Days", digits=(16, 2))
    p90_cycle = fields.Float("P90 Cycle Days", digits=(16, 2))

    _percentiles = {'median_cycle': 0.5, 'p90_cycle': 0.9}

    @classmethod
    def _percentile_value(cls, tables):
        return tables['history'].cycle_days

    @classmethod
    def _columns(cls, tables, withs):
        history = tables['history']
        stage = tables['stage']
        won = Sum(Case((stage.kind == 'won', Literal(1)), else_=Literal(0)))
        return super()._columns(tables, withs) + [
            Count().as_('closed'),
            won.as_('won'),
            Sum(Case((stage.kind == 'lost', Literal(1)), else_=Literal(0))
                ).as_('lost'),
            cls._rate(won, Count()).as_('win_rate'),
            Sum(Case((stage.kind == 'won', history.amount),
                    else_=Literal(0))).as_('won_amount'),
            Avg(history.cycle_days).as_('average_cycle'),
            ] + cls._percentile_columns(tables, withs)

    @classmethod
    def _where(cls, tables, withs):
        history = tables['history']
        stage = tables['stage']
        # the closing that stands: not reopened since
        return (super()._where(tables, withs)
            & stage.kind.in_(['won', 'lost'])
            & (history.left_at == Null))


class Cycle(CycleMixin, Abstract, ModelView):
    "Pipeline Win Rate and Cycle"
    __name__ = 'hitech.opportunity.reporting.cycle'


class CycleTimeseries(TimeseriesMixin, CycleMixin, Abstract, ModelView):
    "Pipeline Win Rate and Cycle per Period"
    __name__ = 'hitech.opportunity.reporting.cycle.time_series'
