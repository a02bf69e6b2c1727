# This file is part of HiTech CRM. See LICENSE for details.
"""The knowledge base of the service desk: categories, articles with a
review workflow, and a fuzzy search that tolerates typos, partial words
and Chinese text.

The top of the file holds the pure-Python normalisation and scoring (no
Pool, no database) so that the benchmark and the tests reuse them; the
Tryton models follow.

Search works in two steps:

1. candidates: on PostgreSQL with pg_trgm, the word similarity operator
   ``<%`` of each query token against the stored ``search_index`` (GIN
   trigram index), ordered by the summed word similarity; elsewhere, a
   ``LIKE`` prefilter on the first and last three characters of each
   token;
2. ranking: every candidate is scored in Python with rapidfuzz (exact
   word, prefix of a word, edit similarity), the title counting more.

Chinese has no spaces: runs of CJK characters are indexed and searched
as overlapping character bigrams ("打印机" -> "打印 印机").
"""
import datetime
import re
import unicodedata

try:
    from rapidfuzz import fuzz, process
except ImportError:
    fuzz = process = None

from sql import Cast, Literal, Null, Select, Union
from sql.aggregate import Count, Max, Sum
from sql.conditionals import Case, Coalesce
from sql.functions import Function
from sql.operators import BinaryOperator

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, Unique, Workflow, fields,
    tree)
from trytond.model.exceptions import AccessError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, Id
from trytond.rpc import RPC
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction, without_check_access
from trytond.wizard import Button, StateAction, StateView, Wizard

from .exceptions import KBArticleError
from .ticket import DONE_STATES

# --------------------------------------------------------------------------
# Normalisation and scoring (pure Python)
# --------------------------------------------------------------------------

# The stored search index is cut at this length: the start of the problem
# is what describes it; the cut keeps the trigram checks cheap.
INDEX_SIZE = 1000
# A query token scoring less than this against every word of an article
# does not match it.
TOKEN_CUTOFF = 75
# A prefix of a word ("print" for "printer") scores this much.
PREFIX_SCORE = 92
# Share of the score given by the title
TITLE_WEIGHT = 0.25
# pg_trgm similarity above which a word of the vocabulary stands for a
# query token
TRIGRAM_THRESHOLD = 0.3
# Words of the vocabulary a query token stands for, at most
WORDS_PER_TOKEN = 8
# Candidates fetched per result before ranking in Python
CANDIDATE_FACTOR = 5
MIN_CANDIDATES = 50
# The articles matching best are filtered on their state and visibility
# among this many times the candidates first
BEST_FACTOR = 4
# On other backends, at most this many candidates are scored
FALLBACK_CANDIDATES = 2000
# A query token whose words are in more than this share of the articles
# (as "error" in "error code 42") does not choose the candidates when a
# rarer token is there: it is only used to rank them
FREQUENT_SHARE = 0.2

_WORD_RE = re.compile(r'[^\W_]+')


def _is_cjk(char):
    code = ord(char)
    return (0x2e80 <= code <= 0x9fff or 0xac00 <= code <= 0xd7af
        or 0xf900 <= code <= 0xfaff or 0x20000 <= code <= 0x2fa1f)


def fold(text):
    "Fold full-width forms, accents and case"
    text = unicodedata.normalize('NFKC', text or '').casefold()
    text = unicodedata.normalize('NFKD', text)
    return ''.join(c for c in text if not unicodedata.combining(c))


def tokenize(text):
    """Return the search tokens of a text: folded words, and CJK runs as
    overlapping character bigrams.

    >>> tokenize("Pritner 打印机")
    ['pritner', '打印', '印机']
    """
    tokens = []
    for word in _WORD_RE.findall(fold(text)):
        run, cjk = [], None
        for char in word + ' ':
            is_cjk = _is_cjk(char) if char != ' ' else None
            if run and is_cjk != cjk:
                chunk = ''.join(run)
                if cjk:
                    if len(chunk) == 1:
                        tokens.append(chunk)
                    else:
                        tokens.extend(chunk[i:i + 2]
                            for i in range(len(chunk) - 1))
                else:
                    tokens.append(chunk)
                run = []
            run.append(char)
            cjk = is_cjk
    return tokens


def query_tokens(text):
    "The distinct tokens of a query that carry meaning"
    seen, result = set(), []
    for token in tokenize(text):
        if token in seen:
            continue
        if len(token) < 2 and not _is_cjk(token):
            continue
        seen.add(token)
        result.append(token)
    return result


def index_text(*texts):
    """The stored search index: distinct tokens of the texts, in order,
    between spaces so that a word is matched by LIKE '% word %'"""
    seen, result, size = set(), [], 0
    for text in texts:
        for token in tokenize(text):
            if token in seen:
                continue
            if size + len(token) + 1 > INDEX_SIZE:
                return ' %s ' % ' '.join(result)
            seen.add(token)
            result.append(token)
            size += len(token) + 1
    return ' %s ' % ' '.join(result)


def token_score(token, words):
    "Best score 0-100 of a query token against a list of words"
    if not words:
        return 0
    if token in words:
        return 100
    best = 0
    if len(token) >= 3:
        if any(w.startswith(token) for w in words):
            return PREFIX_SCORE
        if fuzz is not None:
            match = process.extractOne(
                token, words, scorer=fuzz.ratio, score_cutoff=TOKEN_CUTOFF)
            if match:
                best = match[1]
            # a partial word with a typo: "pritn" for "printer"
            prefixes = [w[:len(token)] for w in words if len(w) > len(token)]
            match = process.extractOne(
                token, prefixes, scorer=fuzz.ratio,
                score_cutoff=TOKEN_CUTOFF)
            if match:
                best = max(best, match[1] * PREFIX_SCORE / 100)
    return best if best >= TOKEN_CUTOFF else 0


def score(tokens, index, title):
    """Return the score 0-100 of an article for the query tokens, from its
    search index and its title"""
    if not tokens:
        return 0
    words = index.split() if isinstance(index, str) else list(index)
    title_words = tokenize(title)
    total = 0
    for token in tokens:
        body = token_score(token, words)
        head = token_score(token, title_words) if body else 0
        total += body * (1 - TITLE_WEIGHT) + head * TITLE_WEIGHT
    return round(total / len(tokens), 2)


def rank(tokens, candidates, limit):
    """Rank candidates (id, index, title) for the tokens; return
    [(id, score)] best first, without the ones that do not match"""
    scored = []
    for id_, index, title in candidates:
        value = score(tokens, index or '', title or '')
        if value > 0:
            scored.append((id_, value))
    scored.sort(key=lambda s: (-s[1], -s[0]))
    if limit is not None:
        scored = scored[:limit]
    return scored


def _has_trigram():
    database = Transaction().database
    return (backend.name == 'postgresql'
        and database.has_extension('pg_trgm'))


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

STATES = [
    ('draft', "Draft"),
    ('review', "To Review"),
    ('published', "Published"),
    ('archived', "Archived"),
    ]
VISIBILITIES = [
    ('internal', "Internal"),
    ('public', "Public"),
    ]
# Fields of the content an agent may only change while the article is a
# draft
CONTENT_FIELDS = {
    'title', 'problem', 'cause', 'resolution', 'keywords', 'category',
    'product_categories', 'products', 'language', 'visibility'}


def _is_manager():
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    transaction = Transaction()
    if transaction.user == 0:
        return True
    group = ModelData.get_id('hitech_service', 'group_service_manager')
    return group in User.get_groups()


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def _hitech_rule_models(cls):
        # the rules of the articles use hitech_user (own drafts)
        return super()._hitech_rule_models() | {'hitech.kb.article'}


class Category(
        DeactivableMixin, tree(separator=' / '), ModelSQL, ModelView):
    "Knowledge Category"
    __name__ = 'hitech.kb.category'
    __string__ = "Knowledge Category"

    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", strip=True)
    parent = fields.Many2One(
        'hitech.kb.category', "Parent", ondelete='RESTRICT',
        help="The category above this one.")
    children = fields.One2Many(
        'hitech.kb.category', 'parent', "Children",
        help="The categories below this one.")
    description = fields.Text("Description", translate=True)
    articles = fields.One2Many(
        'hitech.kb.article', 'category', "Articles", readonly=True)
    article_count = fields.Function(
        fields.Integer("Articles",
            help="The number of articles of the category (not of its "
            "children)."),
        'get_article_count')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('name', 'ASC'))

    @classmethod
    def get_article_count(cls, categories, name):
        pool = Pool()
        Article = pool.get('hitech.kb.article')
        article = Article.__table__()
        cursor = Transaction().connection.cursor()
        result = {c.id: 0 for c in categories}
        for sub_ids in grouped_slice(
                [c.id for c in categories], backend.MAX_QUERY_PARAMS):
            cursor.execute(*article.select(
                    article.category, Count(article.id),
                    where=reduce_ids(article.category, sub_ids),
                    group_by=article.category))
            result.update(cursor)
        return result


class Article(Workflow, ModelSQL, ModelView):
    "Knowledge Article"
    __name__ = 'hitech.kb.article'
    __string__ = "Knowledge Article"
    _rec_name = 'title'

    _content_states = {
        'readonly': ((Eval('state') != 'draft')
            & ~Id('hitech_service', 'group_service_manager').in_(
                Eval('context', {}).get('groups', []))),
        }

    number = fields.Char("Number", readonly=True,
        help="The reference of the article, given when it is created.")
    title = fields.Char("Title", required=True, states=_content_states,
        help="A short description of the problem as a customer would "
        "say it.")
    problem = fields.Text("Problem", states=_content_states,
        help="The symptoms: what the customer sees, error messages.")
    cause = fields.Text("Cause", states=_content_states,
        help="Why it happens.")
    resolution = fields.Text("Resolution", states=_content_states,
        help="The steps that solve the problem.")
    keywords = fields.Char("Keywords", states=_content_states,
        help="Other words customers use for the problem, separated by "
        "spaces or commas; they are searched like the title.")
    category = fields.Many2One(
        'hitech.kb.category', "Category", ondelete='RESTRICT',
        states=_content_states)
    product_categories = fields.Many2Many(
        'hitech.kb.article-product.category', 'article', 'category',
        "Product Categories", states=_content_states,
        help="The product lines the article applies to.")
    products = fields.Many2Many(
        'hitech.kb.article-product.product', 'article', 'product',
        "Products", states=_content_states,
        help="The products the article applies to.")
    language = fields.Many2One(
        'ir.lang', "Language", required=True, ondelete='RESTRICT',
        domain=[('translatable', '=', True)],
        states=_content_states,
        help="The language the article is written in.")
    visibility = fields.Selection(
        VISIBILITIES, "Visibility", required=True, states=_content_states,
        help="Internal articles are read by the staff only; public ones "
        "are also shown to customers on the portal once published.")
    state = fields.Selection(STATES, "State", readonly=True, required=True,
        sort=False)
    author = fields.Many2One(
        'res.user', "Author", readonly=True, ondelete='RESTRICT')
    reviewer = fields.Many2One(
        'res.user', "Reviewer", readonly=True, ondelete='RESTRICT',
        help="The service manager who published the article.")
    published_date = fields.Date("Published Date", readonly=True)
    revision = fields.Integer("Revision", readonly=True,
        help="Increased each time a published article is taken back to "
        "draft for a new revision.")
    search_index = fields.Text("Search Index", readonly=True,
        help="Title, keywords and problem normalised for the fuzzy "
        "search.")
    search_title = fields.Char("Search Title", readonly=True,
        help="The title normalised for the fuzzy search.")
    fuzzy = fields.Function(
        fields.Char("Search",
            help="Search the title, keywords and problem tolerating typos "
            "and partial words."),
        'get_fuzzy', searcher='search_fuzzy')
    mine = fields.Function(
        fields.Boolean("Mine", help="Written by you."),
        'get_mine', searcher='search_mine')
    articles = fields.Function(
        fields.Integer("Articles", help="1 per article, for the graphs."),
        'get_articles')
    usage_count = fields.Function(
        fields.Integer("Usage",
            help="The number of tickets resolved with the article."),
        'get_usage_count')

    del _content_states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.state, Index.Equality()),
                    (t.visibility, Index.Equality())),
                })
        cls._order = [
            ('published_date', 'DESC NULLS FIRST'),
            ('number', 'DESC'),
            ('id', 'DESC'),
            ]
        cls.__rpc__.update({
                'search_ranked': RPC(readonly=True),
                })
        cls._transitions |= {
            ('draft', 'review'),
            ('review', 'draft'),
            ('review', 'published'),
            ('published', 'archived'),
            ('archived', 'published'),
            ('published', 'draft'),
            ('archived', 'draft'),
            }
        cls._buttons.update({
                'submit': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'reject': {
                    'invisible': Eval('state') != 'review',
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                'publish': {
                    'invisible': ~Eval('state').in_(['review', 'archived']),
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'archive': {
                    'invisible': Eval('state') != 'published',
                    'icon': 'tryton-archive',
                    'depends': ['state'],
                    },
                'revise': {
                    'invisible': ~Eval('state').in_(['published', 'archived']),
                    'icon': 'tryton-refresh',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def __register__(cls, module):
        # The trigram index needs pg_trgm, a trusted extension (PostgreSQL
        # 13+): the database owner may create it.  It is created in its
        # own committed connection so that has_extension sees it; when it
        # cannot be created the search falls back to LIKE + rapidfuzz.
        database = Transaction().database
        if backend.name == 'postgresql':
            connection = database.get_connection(autocommit=True)
            try:
                with connection.cursor() as cursor:
                    cursor.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
            except Exception:
                pass
            finally:
                database.put_connection(connection)
            database._extensions.get(database.name, {}).pop('pg_trgm', None)
        super().__register__(module)

    @classmethod
    def default_state(cls):
        return 'draft'

    @classmethod
    def default_visibility(cls):
        return 'internal'

    @classmethod
    def default_revision(cls):
        return 1

    @classmethod
    def default_author(cls):
        return Transaction().user or None

    @classmethod
    def default_language(cls):
        pool = Pool()
        Lang = pool.get('ir.lang')
        code = Transaction().language
        langs = Lang.search([('code', '=', code)], limit=1)
        if langs:
            return langs[0].id

    def get_rec_name(self, name):
        if self.number:
            return '%s: %s' % (self.number, self.title)
        return self.title

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        if (operator in {'ilike', 'like'} and isinstance(operand, str)
                and query_tokens(operand.replace('%', ' '))):
            return ['OR',
                ('number', operator, operand, *extra),
                ('title', operator, operand, *extra),
                ('fuzzy', '=', operand.replace('%', ' ').strip()),
                ]
        return ['OR',
            ('number', operator, operand, *extra),
            ('title', operator, operand, *extra),
            ]

    def get_mine(self, name):
        return bool(self.author and self.author.id == Transaction().user)

    @classmethod
    def search_mine(cls, name, clause):
        _, operator, value = clause[:3]
        positive = (operator == '=') == bool(value)
        return [('author', '=' if positive else '!=', Transaction().user)]

    def get_articles(self, name):
        return 1

    def get_fuzzy(self, name):
        return None

    @classmethod
    def search_fuzzy(cls, name, clause):
        _, operator, value = clause[:3]
        if (operator not in {'=', 'ilike', 'like'}
                or not isinstance(value, str)):
            return [('id', '=', -1)]
        tokens = query_tokens(value.replace('%', ' '))
        if not tokens:
            return [('id', '=', -1)]
        if _has_trigram():
            Word = Pool().get('hitech.kb.word')
            Word.set_threshold()
            return [('id', 'in', cls._word_query(tokens))]
        return [('id', 'in', [i for i, _ in cls._fuzzy_ids(
                        tokens, None, None)])]

    @classmethod
    def get_usage_count(cls, articles, name):
        return cls._usage_counts([a.id for a in articles])

    @classmethod
    def _usage_counts(cls, ids):
        "Return {article id: number of tickets resolved with it}"
        pool = Pool()
        Link = pool.get('hitech.ticket-hitech.kb.article')
        link = Link.__table__()
        cursor = Transaction().connection.cursor()
        result = {i: 0 for i in ids}
        for sub_ids in grouped_slice(ids, backend.MAX_QUERY_PARAMS):
            cursor.execute(*link.select(
                    link.article, Count(link.id),
                    where=reduce_ids(link.article, sub_ids),
                    group_by=link.article))
            result.update(cursor)
        return result

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        Sequence = pool.get('ir.sequence')
        values = super().preprocess_values(mode, values)
        if mode == 'create':
            values.setdefault('author', Transaction().user or None)
            if not values.get('number'):
                with without_check_access():
                    sequence = Sequence(ModelData.get_id(
                            'hitech_service', 'sequence_kb_article'))
                    values['number'] = sequence.get()
        return values

    def compute_fields(self, field_names=None):
        values = super().compute_fields(field_names=field_names)
        if (field_names is None
                or field_names & {'title', 'keywords', 'problem'}):
            index = index_text(self.title, self.keywords, self.problem)
            if index != self.search_index:
                values['search_index'] = index
            title = index_text(self.title)
            if title != self.search_title:
                values['search_title'] = title
        return values

    @classmethod
    def check_modification(cls, mode, articles, values=None, external=False):
        super().check_modification(
            mode, articles, values=values, external=external)
        if mode == 'delete':
            for article in articles:
                if article.state not in {'draft', 'archived'}:
                    raise AccessError(gettext(
                            'hitech_service.msg_kb_article_delete',
                            article=article.rec_name))
        elif mode == 'write' and external and not _is_manager():
            if values.keys() & CONTENT_FIELDS:
                for article in articles:
                    if article.state != 'draft':
                        raise AccessError(gettext(
                                'hitech_service.msg_kb_article_readonly',
                                article=article.rec_name))

    @classmethod
    def on_modification(cls, mode, articles, field_names=None):
        pool = Pool()
        super().on_modification(mode, articles, field_names=field_names)
        if mode == 'write' and field_names & {
                'search_index', 'search_title'}:
            Posting = pool.get('hitech.kb.article-hitech.kb.word')
            Posting.update_articles([
                    (a.id, a.search_index, a.search_title)
                    for a in articles])

    @classmethod
    def copy(cls, articles, default=None):
        default = default.copy() if default is not None else {}
        for name in ['number', 'reviewer', 'published_date']:
            default.setdefault(name)
        default.setdefault('revision', 1)
        default.setdefault('author', Transaction().user or None)
        return super().copy(articles, default=default)

    # Workflow ------------------------------------------------------------

    @classmethod
    @ModelView.button
    @Workflow.transition('review')
    def submit(cls, articles):
        for article in articles:
            if not (article.resolution or '').strip():
                raise KBArticleError(gettext(
                        'hitech_service.msg_kb_article_resolution_required',
                        article=article.rec_name))

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def reject(cls, articles):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('published')
    def publish(cls, articles):
        pool = Pool()
        Date = pool.get('ir.date')
        today = Date.today()
        user = Transaction().user or None
        for article in articles:
            article.reviewer = user
            if not article.published_date or article.state == 'review':
                article.published_date = today
        cls.save(articles)

    @classmethod
    @ModelView.button
    @Workflow.transition('archived')
    def archive(cls, articles):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def revise(cls, articles):
        for article in articles:
            article.revision = (article.revision or 1) + 1
            article.reviewer = None
        cls.save(articles)

    # Search --------------------------------------------------------------

    @classmethod
    def _search_where(cls, public_only, languages=None):
        """Return a function giving the condition on the searched articles
        (of the ir.lang ids languages when given)"""
        def where(table):
            condition = (table.state == 'published')
            if public_only:
                condition &= (table.visibility == 'public')
            if languages:
                condition &= table.language.in_(languages)
            return condition
        return where

    @classmethod
    def _language_ids(cls, code):
        "Return the ids of the ir.lang of code (none when it is unknown)"
        Lang = Pool().get('ir.lang')
        if not code:
            return []
        with without_check_access():
            return [lang.id for lang in Lang.search([('code', '=', code)])]

    @classmethod
    def _word_query(cls, tokens, where=None, limit=None, columns=None,
            best=None):
        """A query on the articles containing the vocabulary words the
        tokens stand for (PostgreSQL with pg_trgm), those matching most
        tokens (in the title first) first.

        It is one statement for all the tokens: the words come from the
        vocabulary (GIN trigram index), the articles from the postings
        (B-tree index on the word), so no article text is scanned."""
        pool = Pool()
        Word = pool.get('hitech.kb.word')
        Posting = pool.get('hitech.kb.article-hitech.kb.word')
        table = cls.__table__()
        posting = Posting.__table__()
        words = Word.similar_query(tokens)
        join = posting.join(words, condition=posting.word == words.id)
        if columns is None:
            return join.select(posting.article)
        # per token: 2 when the article holds one of its words, 3 when
        # the title does
        hits = join.select(
            posting.article, words.position,
            Max(Case((posting.title, 3), else_=2)).as_('rank'),
            group_by=[posting.article, words.position])
        # best: only the best articles of all are joined to the articles
        # (the caller checks that enough of them pass the condition)
        ranked = hits.select(
            hits.article, Sum(hits.rank).as_('rank'),
            group_by=[hits.article],
            order_by=[Sum(hits.rank).desc, hits.article.desc]
            if best else None, limit=best)
        condition = where(table) if where is not None else Literal(True)
        join = ranked.join(table, condition=table.id == ranked.article)
        return join.select(*columns(table), where=condition,
            order_by=[ranked.rank.desc, ranked.article.desc],
            limit=limit)

    @classmethod
    def _selective_tokens(cls, tokens):
        """Return the tokens the candidates are searched for: without the
        frequent ones (words in more than FREQUENT_SHARE of the articles)
        when a rarer token remains, else the least frequent token alone.
        A frequent word has tens of thousands of postings: aggregating
        them took most of the time of a query, for candidates the rarer
        tokens choose anyway."""
        pool = Pool()
        Word = pool.get('hitech.kb.word')
        if len(tokens) < 2:
            return tokens
        # a token without words finds nothing: it never chooses
        frequencies = Word.frequencies(tokens)
        if not frequencies:
            return tokens
        # the statistics of the database may be reset (after a crash):
        # then the most frequent word stands for the number of articles
        articles = max(cls.estimated_count(), max(frequencies.values()))
        most = FREQUENT_SHARE * articles
        selective = [t for i, t in enumerate(tokens)
            if i in frequencies and frequencies[i] <= most]
        if selective:
            return selective
        position = min(frequencies, key=lambda i: (frequencies[i], i))
        return [tokens[position]]

    @classmethod
    def _fuzzy_ids(cls, tokens, where, limit):
        "Return [(id, score)] of the articles matching the tokens, ranked"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()

        def columns(t):
            return [t.id, t.search_index, t.title]
        if _has_trigram():
            size = max(MIN_CANDIDATES, (limit or 0) * CANDIDATE_FACTOR)
            Word = Pool().get('hitech.kb.word')
            Word.set_threshold()
            # the candidates are the articles of the selective tokens, the
            # ranking below scores all the tokens
            selective = cls._selective_tokens(tokens)
            # Joining every matching article to filter on its state costs
            # a row read each (thousands for frequent words): the best
            # ones are taken first; if too few of them are searchable the
            # query is run on all of them.  Both give the same result.
            for best in [size * BEST_FACTOR, None]:
                cursor.execute(*cls._word_query(selective, where=where,
                        limit=size, columns=columns, best=best))
                candidates = cursor.fetchall()
                if len(candidates) >= size:
                    break
            return rank(tokens, candidates, limit)
        else:
            condition = None
            for token in tokens:
                if len(token) <= 3:
                    parts = {token}
                else:
                    parts = {token[:3], token[-3:]}
                for part in parts:
                    # tokens hold letters and digits only: no wildcard
                    like = table.search_index.like('%' + part + '%')
                    condition = like if condition is None else (
                        condition | like)
            if where is not None:
                condition &= where(table)
            query = table.select(*columns(table), where=condition,
                order_by=[table.id.desc], limit=FALLBACK_CANDIDATES)
        cursor.execute(*query)
        return rank(tokens, cursor, limit)

    @classmethod
    def search_text(cls, text, limit=10, public_only=False, language=None):
        """Return [(article, score)] of the published articles matching
        text, best first; score goes from 0 to 100.

        Typos ("pritner") and partial words ("netw") match; Chinese is
        matched by character bigrams.  The record rules of the user apply
        when access is checked; public_only keeps the public articles.
        With a language code, the articles written in that language are
        returned; the other languages only when none of it matches (an
        answer in another language beats no answer).
        """
        tokens = query_tokens(text)
        if not tokens:
            return []
        ranked = []
        languages = cls._language_ids(language)
        if languages:
            ranked = cls._fuzzy_ids(
                tokens, cls._search_where(public_only, languages), limit)
        if not ranked:
            ranked = cls._fuzzy_ids(
                tokens, cls._search_where(public_only), limit)
        if not ranked:
            return []
        # the record rules (and the access check) of the user apply
        allowed = {a.id: a for a in cls.search(
                [('id', 'in', [i for i, _ in ranked])])}
        return [(allowed[i], s) for i, s in ranked if i in allowed]

    @classmethod
    def search_ranked(cls, text, limit=10, public_only=False,
            language=None):
        """search_text for RPC clients: a list of dictionaries with id,
        rec_name and score (language: a code, as search_text)"""
        try:
            limit = max(1, min(int(limit), 100))
        except (TypeError, ValueError):
            limit = 10
        if not isinstance(text, str):
            return []
        if not isinstance(language, str):
            language = None
        return [{'id': a.id, 'rec_name': a.rec_name, 'score': s}
            for a, s in cls.search_text(
                text[:200], limit=limit, public_only=bool(public_only),
                language=language and language[:20])]

    @classmethod
    def related_to(cls, text, limit=5, language=None):
        """Return the published articles related to a text (a ticket
        subject), those in language (a code) first as search_text does"""
        return [a for a, _ in cls.search_text(
                text, limit=limit, language=language)]

    @classmethod
    def search_public(cls, text, limit=10, language=None):
        """Return [(article, score)] of the published public articles
        matching text, for the customer portal, in language (a code, the
        portal's) as search_text does.

        It runs without the user's rights (the portal user is a web user,
        not a res.user) but never returns anything else than published
        public articles.
        """
        transaction = Transaction()
        with transaction.set_user(0), without_check_access():
            return cls.search_text(
                text, limit=limit, public_only=True, language=language)


class Word(ModelSQL):
    """Knowledge Search Word

    The vocabulary of the articles: the words a misspelt or partial query
    token stands for are looked up here (GIN trigram index), then the
    articles containing them by their search index."""
    __name__ = 'hitech.kb.word'
    __string__ = "Knowledge Search Word"

    word = fields.Char("Word", required=True)
    frequency = fields.Integer("Articles", readonly=True,
        help="The number of articles holding the word, counted by the "
        "daily cron and after bulk loads.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('word_uniq', Unique(t, t.word),
                'hitech_service.msg_kb_word_unique'),
            ]
        cls._sql_indexes.add(Index(t, (t.word, Index.Similarity())))

    @classmethod
    def __register__(cls, module):
        pool = Pool()
        Posting = pool.get('hitech.kb.article-hitech.kb.word')
        table_h = cls.__table_handler__(module)
        counted = table_h.column_exist('frequency')
        super().__register__(module)
        if (not counted
                and backend.TableHandler.table_exist(Posting._table)):
            # the words of earlier versions
            cls.update_frequencies()

    @classmethod
    def update_frequencies(cls):
        "Count the articles of every word, set-based (the daily cron)"
        pool = Pool()
        Posting = pool.get('hitech.kb.article-hitech.kb.word')
        table = cls.__table__()
        posting = Posting.__table__()
        cursor = Transaction().connection.cursor()
        if backend.name == 'postgresql':
            # the counts are read first and written from arrays: joined in
            # one statement right after a bulk load (no statistics yet),
            # the planner chose a nested loop that ran for minutes
            cursor.execute(*posting.select(posting.word, Count(Literal(1)),
                    group_by=[posting.word]))
            counts = cursor.fetchall()
            cursor.execute(*table.update([table.frequency], [0],
                    where=(table.frequency != 0) | (table.frequency == Null)))
            for sub_counts in grouped_slice(counts, 50000):
                ids, frequencies = zip(*sub_counts)
                values = Select([
                        Unnest(Cast(Literal(list(ids)), 'INTEGER[]')
                            ).as_('id'),
                        Unnest(Cast(Literal(list(frequencies)), 'INTEGER[]')
                            ).as_('frequency')])
                cursor.execute(*table.update(
                        [table.frequency], [values.frequency],
                        from_=[values], where=table.id == values.id))
        else:
            cursor.execute(*table.update([table.frequency], [
                        posting.select(Count(Literal(1)),
                            where=posting.word == table.id)]))

    @classmethod
    def frequencies(cls, tokens):
        """Return {position: number of articles} of the words each token
        stands for (summed: an upper bound), one statement; the pg_trgm
        threshold must be set"""
        table = cls.__table__()
        words = cls.similar_query(tokens)
        cursor = Transaction().connection.cursor()
        cursor.execute(*words.join(table, condition=table.id == words.id
                ).select(words.position,
                Sum(Coalesce(table.frequency, 0)),
                group_by=[words.position]))
        return dict(cursor)

    @classmethod
    def add(cls, words):
        """Add the words missing from the vocabulary and return {word: id}
        of all the words (Chinese bigrams included: the postings refer to
        them)"""
        words = sorted({w for w in words if w})
        if not words:
            return {}
        table = cls.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        now = datetime.datetime.now()
        user = transaction.user
        ids = {}
        for sub_words in grouped_slice(words, 500):
            sub_words = list(sub_words)
            query = table.insert(
                [table.word, table.create_uid, table.create_date],
                [[w, user, now] for w in sub_words])
            sql, params = tuple(query)
            # both PostgreSQL and SQLite 3.24+ skip the known words
            cursor.execute(sql + ' ON CONFLICT DO NOTHING', params)
            cursor.execute(*table.select(table.word, table.id,
                    where=table.word.in_(sub_words)))
            ids.update(cursor)
        return ids

    @classmethod
    def set_threshold(cls):
        "Set the threshold of the pg_trgm % operator for the transaction"
        cursor = Transaction().connection.cursor()
        cursor.execute(
            "SELECT set_config('pg_trgm.similarity_threshold', %s, true)",
            (str(TRIGRAM_THRESHOLD),))

    @classmethod
    def _similar_select(cls, table, token, limit):
        "The query of the words a (not Chinese) token stands for"
        database = Transaction().database
        prefix = table.word.like(token + '%')
        similarity = database.similarity(table.word, token)
        return table.select(table.id, table.word,
            where=TrigramSimilar(table.word, token) | prefix,
            order_by=[
                Case((table.word == token, 0), else_=1),
                Case((prefix, 0), else_=1),
                similarity.desc, table.word],
            limit=limit)

    @classmethod
    def similar(cls, token, limit=WORDS_PER_TOKEN):
        """Return the words of the vocabulary a query token stands for:
        the token itself, the words it begins, the similar words"""
        if _is_cjk(token[0]) or not _has_trigram():
            return [token]
        cls.set_threshold()
        cursor = Transaction().connection.cursor()
        cursor.execute(*cls._similar_select(cls.__table__(), token, limit))
        return [w for _, w in cursor]

    @classmethod
    def similar_query(cls, tokens, limit=WORDS_PER_TOKEN):
        """Return a query of (position, id) of the words each token
        stands for (as similar() does; a Chinese bigram stands for
        itself), for all the tokens at once.  The pg_trgm threshold must
        be set (set_threshold) in the transaction."""
        queries = []
        for position, token in enumerate(tokens):
            table = cls.__table__()
            if _is_cjk(token[0]):
                words = table.select(table.id, where=table.word == token)
            else:
                words = cls._similar_select(table, token, limit)
            queries.append(words.select(
                    Literal(position).as_('position'), words.id))
        query = queries[0]
        for other in queries[1:]:
            query = Union(query, other, all_=True)
        return query


class Unnest(Function):
    "The elements of an array as rows"
    __slots__ = ()
    _function = 'UNNEST'


class TrigramSimilar(BinaryOperator):
    "pg_trgm similarity operator: uses the GIN trigram index"
    __slots__ = ()
    _operator = '%%'


class ArticleWord(ModelSQL):
    """Knowledge Article - Search Word

    The postings of the search: which words of the vocabulary each
    article holds in its search index (and in its title).  They are
    written by the system when the search index of an article changes."""
    __name__ = 'hitech.kb.article-hitech.kb.word'
    __string__ = "Knowledge Article - Search Word"

    article = fields.Many2One(
        'hitech.kb.article', "Article", required=True, ondelete='CASCADE')
    word = fields.Many2One(
        'hitech.kb.word', "Word", required=True, ondelete='CASCADE')
    title = fields.Boolean("In Title",
        help="The word is in the title of the article.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                # the search: the articles of a word with the title flag
                # from the index only
                Index(t, (t.word, Index.Equality()),
                    (t.article, Index.Equality()),
                    (t.title, Index.Equality())),
                # the update of the postings of an article
                Index(t, (t.article, Index.Equality())),
                })

    @classmethod
    def __register__(cls, module):
        pool = Pool()
        Article = pool.get('hitech.kb.article')
        Word = pool.get('hitech.kb.word')
        exists = backend.TableHandler.table_exist(cls._table)
        super().__register__(module)
        if not exists:
            # the postings of the articles written before they existed
            article = Article.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*article.select(
                    article.id, article.search_index, article.search_title))
            cls._update_articles(cursor.fetchall())
            Word.update_frequencies()

    # from this many articles at once (a bulk load) the word frequencies
    # are counted again at once
    BULK = 1000

    @classmethod
    def update_articles(cls, rows):
        """Replace the postings of the articles from rows of (id, search
        index, search title)"""
        pool = Pool()
        Word = pool.get('hitech.kb.word')
        rows = list(rows)
        cls._update_articles(rows)
        if len(rows) >= cls.BULK:
            Word.update_frequencies()

    @classmethod
    def _update_articles(cls, rows):
        pool = Pool()
        Word = pool.get('hitech.kb.word')
        table = cls.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        rows = list(rows)
        if not rows:
            return
        ids = Word.add({w for _, index, _ in rows
                for w in (index or '').split()})
        for sub_ids in grouped_slice(
                [r[0] for r in rows], backend.MAX_QUERY_PARAMS):
            cursor.execute(*table.delete(
                    where=reduce_ids(table.article, sub_ids)))
        now = datetime.datetime.now()
        user = transaction.user
        values = []
        for id_, index, title in rows:
            title = set((title or '').split())
            # the words of an index are distinct
            values.extend((id_, ids[w], w in title)
                for w in (index or '').split())
        if not values:
            return
        if backend.name == 'postgresql':
            # three arrays instead of a parameter per value: an article
            # has some 50 words and a bulk load millions of postings
            for sub_values in grouped_slice(values, 50000):
                articles, words, titles = zip(*sub_values)
                cursor.execute(*table.insert(
                        [table.article, table.word, table.title,
                            table.create_uid, table.create_date],
                        Select([
                                Unnest(Cast(Literal(list(articles)),
                                        'INTEGER[]')),
                                Unnest(Cast(Literal(list(words)),
                                        'INTEGER[]')),
                                Unnest(Cast(Literal(list(titles)),
                                        'BOOLEAN[]')),
                                Literal(user), Literal(now)])))
        else:
            columns = [table.article, table.word, table.title,
                table.create_uid, table.create_date]
            for sub_values in grouped_slice(values, 1000):
                cursor.execute(*table.insert(
                        columns, [v + (user, now) for v in sub_values]))


class ArticleProductCategory(ModelSQL):
    "Knowledge Article - Product Category"
    __name__ = 'hitech.kb.article-product.category'
    __string__ = "Knowledge Article - Product Category"
    article = fields.Many2One(
        'hitech.kb.article', "Article", required=True, ondelete='CASCADE')
    category = fields.Many2One(
        'product.category', "Product Category", required=True,
        ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # access and record rules follow the parent (a class-level
        # __access__ is reset by Model.__setup__)
        cls.__access__.update({'article'})


class ArticleProduct(ModelSQL):
    "Knowledge Article - Product"
    __name__ = 'hitech.kb.article-product.product'
    __string__ = "Knowledge Article - Product"
    article = fields.Many2One(
        'hitech.kb.article', "Article", required=True, ondelete='CASCADE')
    product = fields.Many2One(
        'product.product', "Product", required=True, ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # access and record rules follow the parent (a class-level
        # __access__ is reset by Model.__setup__)
        cls.__access__.update({'article'})


class TicketArticle(ModelSQL):
    "Ticket - Knowledge Article"
    __name__ = 'hitech.ticket-hitech.kb.article'
    __string__ = "Ticket - Knowledge Article"
    ticket = fields.Many2One(
        'hitech.ticket', "Ticket", required=True, ondelete='CASCADE')
    article = fields.Many2One(
        'hitech.kb.article', "Article", required=True, ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'ticket'})
        t = cls.__table__()
        cls._sql_constraints += [
            ('ticket_article_uniq', Unique(t, t.ticket, t.article),
                'hitech_service.msg_ticket_article_unique'),
            ]
        cls._sql_indexes.add(Index(t, (t.article, Index.Equality())))


class Ticket(metaclass=PoolMeta):
    __name__ = 'hitech.ticket'

    resolution = fields.Text("Resolution",
        states={
            'readonly': Eval('state').in_(['closed', 'cancelled']),
            },
        help="How the ticket was solved; it is proposed as the resolution "
        "of an article created from the ticket.")
    kb_articles = fields.Many2Many(
        'hitech.ticket-hitech.kb.article', 'ticket', 'article',
        "Knowledge Articles",
        states={
            'readonly': Eval('state') == 'cancelled',
            },
        help="The articles used to resolve the ticket; they count in the "
        "usage of the articles.")
    related_articles = fields.Function(fields.Many2Many(
            'hitech.kb.article', None, None, "Related Articles",
            help="Published articles whose title, keywords or problem "
            "look like the subject of the ticket."),
        'get_related_articles')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'create_article': {
                    'invisible': ~Eval('state').in_(['resolved', 'closed']),
                    'icon': 'tryton-add',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def get_related_articles(cls, tickets, name):
        pool = Pool()
        Article = pool.get('hitech.kb.article')
        result = {}
        for ticket in tickets:
            linked = {a.id for a in ticket.kb_articles}
            result[ticket.id] = [a.id for a in Article.related_to(
                    ticket.subject or '', limit=5 + len(linked),
                    language=ticket._kb_language())
                if a.id not in linked][:5]
        return result

    def _kb_language(self):
        """The language the related articles are chosen in: the contact's,
        else the account's, when translatable (as the portal and the
        survey email); None (every language) otherwise"""
        from .portal import party_language
        pool = Pool()
        for party in [self.contact, self.account]:
            code = party_language(pool, party, self.company)
            if code:
                return code

    @classmethod
    def copy(cls, tickets, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('kb_articles')
        default.setdefault('resolution')
        return super().copy(tickets, default=default)

    @classmethod
    @ModelView.button_action('hitech_service.wizard_ticket_create_article')
    def create_article(cls, tickets):
        pass


class TicketCreateArticleStart(ModelView):
    "Create Knowledge Article from Ticket"
    __name__ = 'hitech.ticket.create_article.start'
    __string__ = "Create Knowledge Article from Ticket"

    ticket = fields.Many2One('hitech.ticket', "Ticket", readonly=True)
    title = fields.Char("Title", required=True)
    category = fields.Many2One('hitech.kb.category', "Category")
    problem = fields.Text("Problem")
    resolution = fields.Text("Resolution", required=True)
    visibility = fields.Selection(VISIBILITIES, "Visibility", required=True)


class TicketCreateArticle(Wizard):
    "Create Knowledge Article from Ticket"
    __name__ = 'hitech.ticket.create_article'

    start = StateView('hitech.ticket.create_article.start',
        'hitech_service.ticket_create_article_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Create", 'create_', 'tryton-ok', default=True),
            ])
    create_ = StateAction('hitech_service.act_kb_article_form')

    def default_start(self, fields):
        ticket = self.record
        if ticket.state not in DONE_STATES or ticket.state == 'cancelled':
            raise KBArticleError(gettext(
                    'hitech_service.msg_ticket_article_not_resolved',
                    ticket=ticket.rec_name))
        resolution = ticket.resolution
        if not resolution:
            # the last answer sent to the customer
            outgoing = [m for m in ticket.messages
                if m.direction == 'outgoing' and m.body]
            if outgoing:
                resolution = max(
                    outgoing, key=lambda m: (m.date, m.id)).body
        return {
            'ticket': ticket.id,
            'title': ticket.subject,
            'problem': ticket.description,
            'resolution': resolution,
            'visibility': 'internal',
            }

    def do_create_(self, action):
        pool = Pool()
        Article = pool.get('hitech.kb.article')
        Ticket = pool.get('hitech.ticket')
        ticket = self.record
        article = Article(
            title=self.start.title,
            category=self.start.category,
            problem=self.start.problem,
            resolution=self.start.resolution,
            visibility=self.start.visibility,
            products=[ticket.product] if ticket.product else [],
            )
        article.save()
        Ticket.write([ticket], {'kb_articles': [('add', [article.id])]})
        action['res_id'] = [article.id]
        action['views'].reverse()
        return action, {}


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('hitech.kb.word|update_frequencies',
                "Count the Articles of the Knowledge Search Words"))

