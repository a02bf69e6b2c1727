# This file is part of HiTech CRM. See LICENSE for details.
"""Search keywords: the terms the company buys or ranks for, their rank
snapshots per search engine and date (imported from a provider CSV file
or fetched through an adapter), and the leads they bring."""
import csv
import datetime
import io

from sql import Cast, Literal, Null, Union
from sql.aggregate import Avg, Count, Max, Min, Sum
from sql.conditionals import Coalesce
from sql.functions import CurrentTimestamp, Extract, Lower

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, Unique, fields)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, Get, If, In
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import KeywordImportError

ENGINES = [
    ('baidu', "Baidu"),
    ('google', "Google"),
    ('bing', "Bing"),
    ('sogou', "Sogou"),
    ('so360', "360 Search"),
    ('other', "Other"),
    ]


class RankAdapter:
    """Interface of a rank provider: subclass it and give it to
    ``hitech.keyword.rank.fetch``.  ``fetch`` returns an iterable of
    dictionaries with the keys ``keyword`` (the text), ``engine`` (a code
    of ENGINES), ``rank`` (int or None when not ranked) and optionally
    ``url`` and ``search_volume``.  Adapters call a provider's API; they
    never scrape search engines."""

    def fetch(self, keywords, date):
        raise NotImplementedError


class Keyword(DeactivableMixin, ModelSQL, ModelView):
    __name__ = 'hitech.keyword'
    __string__ = "Keyword"
    _rec_name = 'text'

    text = fields.Char("Keyword", required=True, strip=True)
    company = fields.Many2One(
        'company.company', "Company", required=True,
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ])
    target_url = fields.Char(
        "Target URL", help="The landing page the keyword should bring.")
    product_line = fields.Many2One(
        'product.category', "Product Line", ondelete='SET NULL',
        context={'company': Eval('company', -1)}, depends={'company'})
    ranks = fields.One2Many('hitech.keyword.rank', 'keyword', "Ranks")
    best_rank = fields.Function(
        fields.Integer("Best Rank", help="The best rank ever recorded."),
        'get_stats')
    lead_count = fields.Function(
        fields.Integer("Leads", help="The leads the keyword brought."),
        'get_stats')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('text_unique', Unique(t, t.company, t.text),
                'hitech_crm_base.msg_keyword_text_unique'),
            ]
        cls._sql_indexes.add(Index(t, (Lower(t.text), Index.Equality())))
        cls._order.insert(0, ('text', 'ASC'))

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def get_stats(cls, keywords, names):
        pool = Pool()
        Rank = pool.get('hitech.keyword.rank')
        Opportunity = pool.get('sale.opportunity')
        rank = Rank.__table__()
        opportunity = Opportunity.__table__()
        cursor = Transaction().connection.cursor()
        ids = [k.id for k in keywords]
        result = {n: {i: None for i in ids} for n in names}
        if 'lead_count' in names:
            result['lead_count'] = dict.fromkeys(ids, 0)
        for sub_ids in grouped_slice(ids, backend.MAX_QUERY_PARAMS):
            if 'best_rank' in names:
                cursor.execute(*rank.select(rank.keyword, Min(rank.rank),
                        where=reduce_ids(rank.keyword, sub_ids),
                        group_by=[rank.keyword]))
                result['best_rank'].update(cursor)
            if 'lead_count' in names:
                cursor.execute(*opportunity.select(
                        opportunity.keyword, Count(Literal(1)),
                        where=reduce_ids(opportunity.keyword, sub_ids),
                        group_by=[opportunity.keyword]))
                result['lead_count'].update(cursor)
        return result

    @classmethod
    def match(cls, text):
        "Return the active keyword of the text (case-insensitive) or None"
        if not text:
            return None
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        company = Transaction().context.get('company')
        where = (Lower(table.text) == text.strip().lower()) & (
            table.active == Literal(True))
        if company:
            where &= table.company == company
        cursor.execute(*table.select(table.id, where=where, limit=1))
        row = cursor.fetchone()
        return cls(row[0]) if row else None


class KeywordRank(ModelSQL, ModelView):
    __name__ = 'hitech.keyword.rank'
    __string__ = "Keyword Rank"

    keyword = fields.Many2One(
        'hitech.keyword', "Keyword", required=True, ondelete='CASCADE')
    engine = fields.Selection(ENGINES, "Search Engine", required=True)
    date = fields.Date("Date", required=True)
    rank = fields.Integer(
        "Rank", domain=['OR', ('rank', '=', None), ('rank', '>', 0)],
        help="The position in the results; empty when not ranked.")
    url = fields.Char("Ranked URL")
    search_volume = fields.Integer("Search Volume")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'keyword'})
        t = cls.__table__()
        cls._sql_constraints += [
            ('snapshot_unique', Unique(t, t.keyword, t.engine, t.date),
                'hitech_crm_base.msg_keyword_rank_unique'),
            ]
        cls._order = [('date', 'DESC'), ('keyword', 'ASC'), ('id', 'DESC')]

    @classmethod
    def store(cls, keyword_company, rows, date=None):
        """Create the rank snapshots of rows (dicts as RankAdapter.fetch
        returns, or parsed CSV rows); return (records, errors) where errors
        lists (row number, message); nothing is created if there is any"""
        pool = Pool()
        Keyword = pool.get('hitech.keyword')
        engines = dict(ENGINES)
        keywords = {k.text.lower(): k for k in Keyword.search([
                    ('company', '=', keyword_company.id),
                    ])}
        to_create, errors, seen = [], [], set()
        for number, row in enumerate(rows, 1):
            text = (row.get('keyword') or '').strip()
            keyword = keywords.get(text.lower())
            if not keyword:
                errors.append((number, gettext(
                            'hitech_crm_base.msg_keyword_import_unknown',
                            keyword=text)))
                continue
            engine = (row.get('engine') or '').strip().lower()
            if engine not in engines:
                errors.append((number, gettext(
                            'hitech_crm_base.msg_keyword_import_engine',
                            engine=engine)))
                continue
            row_date = row.get('date') or date
            if isinstance(row_date, str):
                try:
                    row_date = datetime.date.fromisoformat(row_date.strip())
                except ValueError:
                    row_date = None
            if not isinstance(row_date, datetime.date):
                errors.append((number, gettext(
                            'hitech_crm_base.msg_keyword_import_date')))
                continue
            values = {
                'keyword': keyword.id, 'engine': engine, 'date': row_date}
            try:
                for name in ['rank', 'search_volume']:
                    value = row.get(name)
                    if isinstance(value, str):
                        value = value.strip() or None
                    value = int(value) if value is not None else None
                    if value is not None and value < (
                            1 if name == 'rank' else 0):
                        raise ValueError
                    values[name] = value
            except (TypeError, ValueError):
                errors.append((number, gettext(
                            'hitech_crm_base.msg_keyword_import_rank')))
                continue
            key = (keyword.id, engine, row_date)
            if key in seen:
                errors.append((number, gettext(
                            'hitech_crm_base.msg_keyword_import_twice')))
                continue
            seen.add(key)
            url = (row.get('url') or '').strip() or None
            values['url'] = url
            to_create.append(values)
        if errors:
            return [], errors
        existing = cls.search(['OR'] + [[
                    ('keyword', '=', v['keyword']),
                    ('engine', '=', v['engine']),
                    ('date', '=', v['date']),
                    ] for v in to_create]) if to_create else []
        if existing:
            cls.delete(existing)
        return cls.create(to_create), []

    @classmethod
    def fetch(cls, adapter, keywords, date):
        "Store the snapshots an adapter returns for the keywords and date"
        keywords = list(keywords)
        if not keywords:
            return []
        rows = list(adapter.fetch([k.text for k in keywords], date))
        records, errors = cls.store(keywords[0].company, rows, date=date)
        if errors:
            raise KeywordImportError(gettext(
                    'hitech_crm_base.msg_keyword_import_errors',
                    errors='\n'.join('%s: %s' % e for e in errors[:20])))
        return records


class KeywordImportStart(ModelView):
    __name__ = 'hitech.keyword.rank.import.start'
    __string__ = "Import Keyword Ranks"

    company = fields.Many2One('company.company', "Company", required=True)
    file = fields.Binary(
        "File", required=True,
        help="A UTF-8 CSV file with a header row: keyword, engine, date "
        "(YYYY-MM-DD), rank, url, search_volume.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')


class KeywordImport(Wizard):
    __name__ = 'hitech.keyword.rank.import'
    start = StateView('hitech.keyword.rank.import.start',
        'hitech_crm_base.keyword_rank_import_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Import", 'import_', 'tryton-ok', default=True),
            ])
    import_ = StateTransition()

    def transition_import_(self):
        pool = Pool()
        Rank = pool.get('hitech.keyword.rank')
        try:
            text = bytes(self.start.file).decode('utf-8-sig')
            rows = list(csv.DictReader(io.StringIO(text)))
        except (UnicodeDecodeError, csv.Error):
            raise KeywordImportError(gettext(
                    'hitech_crm_base.msg_keyword_import_file'))
        rows = [{(k or '').strip().lower(): v for k, v in r.items()}
            for r in rows]
        if not rows or 'keyword' not in rows[0]:
            raise KeywordImportError(gettext(
                    'hitech_crm_base.msg_keyword_import_file'))
        records, errors = Rank.store(self.start.company, rows)
        if errors:
            # row numbers count the header line as line 1
            raise KeywordImportError(gettext(
                    'hitech_crm_base.msg_keyword_import_errors',
                    errors='\n'.join(
                        '%s: %s' % (n + 1, m) for n, m in errors[:20])))
        return 'end'


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    keyword = fields.Many2One(
        'hitech.keyword', "Keyword", ondelete='SET NULL',
        help="The tracked keyword of the search terms.")


class KeywordReportContext(ModelView):
    __name__ = 'hitech.keyword.report.context'
    __string__ = "Keyword Report Context"

    from_date = fields.Date("From Date",
        domain=[If(Eval('to_date') & Eval('from_date'),
                ('from_date', '<=', Eval('to_date')), ())])
    to_date = fields.Date("To Date",
        domain=[If(Eval('from_date') & Eval('to_date'),
                ('to_date', '>=', Eval('from_date')), ())])
    engine = fields.Selection([(None, "")] + ENGINES, "Search Engine")
    period = fields.Selection([
            ('month', "Month"),
            ('year', "Year"),
            ], "Period", required=True)

    @classmethod
    def default_period(cls):
        return Transaction().context.get('period', 'month')

    @classmethod
    def default_from_date(cls):
        return Transaction().context.get('from_date')

    @classmethod
    def default_to_date(cls):
        return Transaction().context.get('to_date')

    @classmethod
    def default_engine(cls):
        return Transaction().context.get('engine')


class KeywordReport(ModelSQL, ModelView):
    "Keyword Report: best and average rank per keyword and period"
    __name__ = 'hitech.keyword.report'

    keyword = fields.Many2One('hitech.keyword', "Keyword", readonly=True)
    company = fields.Many2One('company.company', "Company", readonly=True)
    year = fields.Integer("Year", readonly=True)
    month = fields.Integer("Month", readonly=True)
    period = fields.Function(fields.Char("Period"), 'get_period')
    best_rank = fields.Integer("Best Rank", readonly=True)
    average_rank = fields.Float(
        "Average Rank", digits=(16, 1), readonly=True)
    snapshots = fields.Integer("Snapshots", readonly=True)
    lead_count = fields.Integer("Leads", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('year', 'DESC'), ('month', 'DESC'), ('keyword', 'ASC'),
            ('id', 'ASC')]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Rank = pool.get('hitech.keyword.rank')
        Keyword = pool.get('hitech.keyword')
        Opportunity = pool.get('sale.opportunity')
        rank = Rank.__table__()
        keyword = Keyword.__table__()
        opportunity = Opportunity.__table__()
        context = Transaction().context
        by_month = context.get('period', 'month') != 'year'

        def periods(date_column):
            year = Cast(Extract('YEAR', date_column), 'INTEGER')
            month = (Cast(Extract('MONTH', date_column), 'INTEGER')
                if by_month else Literal(0))
            return year, month

        where = Literal(True)
        lead_where = opportunity.keyword != Null
        if context.get('from_date'):
            where &= rank.date >= context['from_date']
            lead_where &= opportunity.start_date >= context['from_date']
        if context.get('to_date'):
            where &= rank.date <= context['to_date']
            lead_where &= opportunity.start_date <= context['to_date']
        if context.get('engine'):
            where &= rank.engine == context['engine']
        r_year, r_month = periods(rank.date)
        ranks = rank.select(
            rank.keyword.as_('keyword'),
            r_year.as_('year'), r_month.as_('month'),
            rank.rank.as_('rank'),
            Literal(1).as_('snapshot'),
            Literal(0).as_('lead'),
            where=where)
        o_year, o_month = periods(opportunity.start_date)
        leads = opportunity.select(
            opportunity.keyword.as_('keyword'),
            o_year.as_('year'), o_month.as_('month'),
            Literal(None).as_('rank'),
            Literal(0).as_('snapshot'),
            Literal(1).as_('lead'),
            where=lead_where)
        union = Union(ranks, leads, all_=True)
        key_id = (union.keyword * Literal(10000) + Coalesce(
                union.year, 0)) * Literal(100) + Coalesce(union.month, 0)
        query = union.join(keyword, condition=union.keyword == keyword.id
            ).select(
                Max(key_id).as_('id'),
                Literal(0).as_('create_uid'),
                Max(CurrentTimestamp()).as_('create_date'),
                Literal(None).as_('write_uid'),
                Literal(None).as_('write_date'),
                union.keyword.as_('keyword'),
                keyword.company.as_('company'),
                union.year.as_('year'),
                union.month.as_('month'),
                Min(union.rank).as_('best_rank'),
                Avg(union.rank).as_('average_rank'),
                Sum(union.snapshot).as_('snapshots'),
                Sum(union.lead).as_('lead_count'),
                group_by=[union.keyword, keyword.company, union.year,
                    union.month])
        return query

    def get_period(self, name):
        if not self.year:
            return None
        if self.month:
            return '%04d-%02d' % (self.year, self.month)
        return '%04d' % self.year

    def get_rec_name(self, name):
        return '%s %s' % (self.keyword.rec_name if self.keyword else '',
            self.period or '')

