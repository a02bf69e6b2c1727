# This file is part of HiTech CRM. See LICENSE for details.
"""Duplicate detection and merge of accounts (party.party).

The top of the file holds pure-Python normalisation and scoring helpers
(no Pool, no database) so that they can be unit-tested and reused by the
benchmark; the Tryton models follow.
"""
import datetime
import functools
import re
import unicodedata
from collections import defaultdict, namedtuple
from itertools import combinations

try:
    import phonenumbers
except ImportError:
    phonenumbers = None
try:
    from rapidfuzz import fuzz
    from rapidfuzz import process as rf_process
    from rapidfuzz.distance import OSA
except ImportError:
    fuzz = OSA = rf_process = None

from sql import Literal, Null, Values
from sql.operators import BinaryOperator

from trytond import backend
from trytond.exceptions import UserWarning
from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction
from trytond.wizard import (
    Button, StateAction, StateTransition, StateView, Wizard)

# --------------------------------------------------------------------------
# Normalisation (pure Python)
# --------------------------------------------------------------------------

DEFAULT_PHONE_REGION = 'CN'
# Parties per query when maintaining keys
BATCH = 1000

# Legal-form words removed from the end of Latin-script names, as tokens
# (never as substrings: "Costco" keeps its "co").
LEGAL_SUFFIXES = frozenset({
        'co', 'company', 'cos', 'ltd', 'ltda', 'limited', 'inc',
        'incorporated', 'corp', 'corporation', 'llc', 'llp', 'lp', 'plc',
        'gmbh', 'ag', 'kg', 'sa', 'sas', 'sarl', 'srl', 'spa', 'bv', 'nv',
        'ab', 'as', 'oy', 'pte', 'pty', 'kk', 'group', 'holding',
        'holdings',
        })
# Suffixes of Chinese names, glued to the name (no spaces); longest first.
CJK_SUFFIXES = tuple(sorted({
            '股份有限公司', '有限责任公司', '有限責任公司', '有限公司',
            '股份公司', '集团公司', '集團公司', '集团', '集團', '公司',
            }, key=len, reverse=True))
# Region markers in brackets: "ACME (China) Co., Ltd.", "华为（中国）".
_REGION_RE = re.compile(
    r'\(\s*(?:china|prc|p\.r\.c\.?|中国|中國|hong ?kong|hk|香港|asia(?: ?pacific)?'
    r'|亚太|亞太|shanghai|beijing|shenzhen|上海|北京|深圳)\s*\)')
_DOTTED_RE = re.compile(r'\b((?:\w\.){2,})')
_TOKEN_RE = re.compile(r'[^\W_]+')

# Words that many unrelated companies share (cities, trades): a name
# differing only there is the same brand, a name sharing only them is not.
GENERIC_WORDS = frozenset({
        'shenzhen', 'shanghai', 'beijing', 'guangzhou', 'hangzhou',
        'suzhou', 'chengdu', 'wuhan', 'xiamen', 'nanjing', 'tianjin',
        'dongguan', 'hefei', 'qingdao', 'ningbo', 'xian', 'changsha',
        'zhuhai', 'chongqing', 'foshan', 'wuxi', 'jinan', 'shenyang',
        'dalian', 'hongkong', 'hong', 'kong', 'china', 'chinese',
        'technology', 'technologies', 'tech', 'electronics', 'electronic',
        'semiconductor', 'semiconductors', 'optics', 'optical', 'software',
        'robotics', 'automation', 'instruments', 'instrument', 'photonics',
        'networks', 'network', 'systems', 'system', 'microelectronics',
        'power', 'sensors', 'sensor', 'medical', 'devices', 'device',
        'telecom', 'communication', 'communications', 'materials',
        'material', 'data', 'intelligent', 'smart', 'equipment', 'trading',
        'trade', 'precision', 'machinery', 'new', 'energy', 'display',
        'components', 'international', 'industrial', 'industry',
        'industries', 'development', 'science', 'information',
        'engineering', 'solutions', 'services', 'service',
        'manufacturing', 'digital', 'the', 'and', 'of',
        })
CJK_GENERIC_PREFIXES = tuple(sorted({
            '深圳市', '深圳', '上海市', '上海', '北京市', '北京', '广州市',
            '广州', '杭州市', '杭州', '苏州市', '苏州', '成都市', '成都',
            '武汉市', '武汉', '厦门市', '厦门', '南京市', '南京', '天津市',
            '天津', '东莞市', '东莞', '重庆市', '重庆', '西安市', '西安',
            '合肥市', '合肥', '青岛市', '青岛', '宁波市', '宁波', '珠海市',
            '珠海', '长沙市', '长沙', '香港', '中国',
            }, key=len, reverse=True))
CJK_GENERIC_SUFFIXES = tuple(sorted({
            '科技', '电子', '電子', '半导体', '光电', '软件', '机器人',
            '自动化', '仪器', '通信', '智能装备', '智能', '装备', '新材料',
            '材料', '精密机械', '精密', '机械', '技术', '信息', '网络',
            '系统', '设备', '实业', '贸易', '发展', '工业', '电气', '能源',
            '新能源', '数据', '医疗器械', '控股', '国际',
            }, key=len, reverse=True))
# Set lookups by length, longest first, instead of a loop over the words
_CJK_PREFIX_SET = frozenset(CJK_GENERIC_PREFIXES)
_CJK_PREFIX_LENGTHS = sorted({len(p) for p in CJK_GENERIC_PREFIXES},
    reverse=True)
_CJK_SUFFIX_SET = frozenset(CJK_GENERIC_SUFFIXES)
_CJK_SUFFIX_LENGTHS = sorted({len(s) for s in CJK_GENERIC_SUFFIXES},
    reverse=True)

FREE_MAIL_DOMAINS = frozenset({
        'qq.com', 'vip.qq.com', 'foxmail.com', '163.com', '126.com',
        'yeah.net', 'vip.163.com', 'vip.126.com', '188.com', 'sina.com',
        'sina.cn', 'sohu.com', 'aliyun.com', '139.com', '189.cn',
        'wo.cn', 'tom.com', '21cn.com', 'gmail.com', 'googlemail.com',
        'hotmail.com', 'outlook.com', 'live.com', 'msn.com', 'yahoo.com',
        'yahoo.com.cn', 'yahoo.com.hk', 'icloud.com', 'me.com', 'mac.com',
        'aol.com', 'proton.me', 'protonmail.com', 'gmx.com', 'gmx.de',
        'web.de', 'mail.ru', 'yandex.ru', 'example.com',
        })


def fold(text):
    "Fold full-width forms and case: the comparable form of a text"
    return unicodedata.normalize('NFKC', text or '').casefold()


def name_tokens(name):
    """Return the tokens of a party name without legal suffixes.

    >>> name_tokens("ACME (China) Co., Ltd.")
    ['acme']
    """
    text = fold(name)
    text = _REGION_RE.sub(' ', text)
    # "L.L.C." -> "llc" before tokenising
    text = _DOTTED_RE.sub(lambda m: m.group(1).replace('.', '') + ' ', text)
    tokens = _TOKEN_RE.findall(text)
    changed = True
    while changed and tokens:
        changed = False
        if len(tokens) > 1 and tokens[-1] in LEGAL_SUFFIXES:
            tokens.pop()
            changed = True
            continue
        last = tokens[-1]
        for suffix in CJK_SUFFIXES:
            if last.endswith(suffix) and len(last) > len(suffix):
                tokens[-1] = last[:-len(suffix)]
                changed = True
                break
            elif last == suffix and len(tokens) > 1:
                tokens.pop()
                changed = True
                break
    return tokens


def split_generic(tokens):
    """Return the distinctive tokens of a name (without city and trade
    words; all tokens when nothing else is left) and the set of generic
    words removed"""
    core, generic = [], set()
    for token in tokens:
        if token in GENERIC_WORDS:
            generic.add(token)
            continue
        if token.isascii():
            # the Chinese prefixes and suffixes can not match
            core.append(token)
            continue
        changed = True
        while changed:
            changed = False
            # the longest prefix (suffix) leaving something of the token
            for length in _CJK_PREFIX_LENGTHS:
                if (len(token) > length
                        and token[:length] in _CJK_PREFIX_SET):
                    generic.add(token[:length].rstrip('市'))
                    token = token[length:]
                    changed = True
                    break
            for length in _CJK_SUFFIX_LENGTHS:
                if (len(token) > length
                        and token[-length:] in _CJK_SUFFIX_SET):
                    generic.add(token[-length:])
                    token = token[:-length]
                    changed = True
                    break
        core.append(token)
    if not core:
        return list(tokens), set()
    return core, generic


def core_tokens(tokens):
    "Return the distinctive tokens of a name"
    return split_generic(tokens)[0]


def normalize_name(name):
    """Return the compact normalised name used as exact key.

    >>> normalize_name("Ａｃｍｅ  Trading Co., Ltd.")
    'acmetrading'
    """
    if name is None:
        return None
    return ''.join(name_tokens(name))


def normalize_names(name):
    "Return the normalised name and its distinctive part"
    if name is None:
        return None, None
    tokens = name_tokens(name)
    return ''.join(tokens), ''.join(core_tokens(tokens))


@functools.lru_cache(maxsize=100_000)
def normalize_phone(value, region=DEFAULT_PHONE_REGION):
    "Return the E.164 form of a phone number or None"
    if not value:
        return None
    value = unicodedata.normalize('NFKC', value).strip()
    if phonenumbers:
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            number = None
        if number and phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(
                number, phonenumbers.PhoneNumberFormat.E164)
    digits = re.sub(r'\D', '', value)
    if len(digits) < 6:
        return None
    return ('+' if value.startswith('+') else '') + digits


def normalize_email(value):
    "Return the lower-case e-mail address or None"
    if not value:
        return None
    value = unicodedata.normalize('NFKC', value).strip().lower()
    if value.startswith('mailto:'):
        value = value[len('mailto:'):]
    if '@' not in value:
        return None
    return value


def email_domain(value):
    "Return the company domain of an e-mail address (not free mail)"
    email = normalize_email(value)
    if not email:
        return None
    return normalize_domain(email.rsplit('@', 1)[1])


def normalize_domain(value):
    """Return the web domain of a URL or host, without "www."; None for
    free-mail domains

    >>> normalize_domain("HTTPS://www.Example.org/contact")
    'example.org'
    """
    if not value:
        return None
    value = unicodedata.normalize('NFKC', value).strip().lower()
    value = re.sub(r'^[a-z][a-z0-9+.-]*://', '', value)
    value = value.split('/', 1)[0].split('?', 1)[0].split('#', 1)[0]
    value = value.rsplit('@', 1)[-1].split(':', 1)[0].strip('.')
    if value.startswith('www.'):
        value = value[4:]
    if '.' not in value or value in FREE_MAIL_DOMAINS:
        return None
    return value


def normalize_identifier(code):
    "Return an identifier code without separators, upper case"
    if not code:
        return None
    code = re.sub(r'[\W_]', '', unicodedata.normalize('NFKC', code)).upper()
    return code or None


def contact_keys(type_, value):
    "Yield the (kind, value) keys of a contact mechanism"
    if type_ in {'phone', 'mobile'}:
        phone = normalize_phone(value)
        if phone:
            yield 'phone', phone
    elif type_ == 'email':
        email = normalize_email(value)
        if email:
            yield 'email', email
            domain = email_domain(email)
            if domain:
                yield 'domain', domain
    elif type_ == 'website':
        domain = normalize_domain(value)
        if domain:
            yield 'domain', domain


def party_keys(name, mechanisms=(), codes=()):
    """Return the set of (kind, value) keys of an active party from its
    name, its active (type, value) contact mechanisms and identifier
    codes"""
    keys = set()
    compact = normalize_name(name)
    if compact:
        keys.add(('name', compact))
    for type_, value in mechanisms:
        if type_ in {'phone', 'mobile', 'email', 'website'}:
            keys.update(contact_keys(type_, value))
    for code in codes:
        code = normalize_identifier(code)
        if code:
            keys.add(('identifier', code))
    return keys


# --------------------------------------------------------------------------
# Scoring (pure Python)
# --------------------------------------------------------------------------

# How much a shared key alone says that two accounts are the same.
KEY_WEIGHTS = {
    'identifier': 0.98,
    'email': 0.93,
    'phone': 0.90,
    'domain': 0.60,
    }
# A name similarity below this brings no evidence at all.
NAME_FLOOR = 60
# Score from which a pair is a candidate, and from which creating an
# account asks for confirmation.
CANDIDATE_SCORE = 85
STRONG_SCORE = 92
# Largest number of accounts sharing a key for it to count as evidence
MAX_BLOCK = 30

Probe = namedtuple(
    'Probe', ['id', 'tokens', 'compact', 'core', 'generic', 'keys',
        'sorted_compact'])
Candidate = namedtuple('Candidate', ['party', 'score', 'reasons'])


@functools.lru_cache(maxsize=200_000)
def _name_parts(name):
    "Tokens, compact, core and generic words of a name (cached: the same "
    "candidates come back for many probes)"
    tokens = name_tokens(name) if name else []
    core, generic = split_generic(tokens)
    return (tuple(tokens), ''.join(tokens), ''.join(core), frozenset(generic),
        ''.join(sorted(tokens)))


def make_probe(id_, name, keys=()):
    tokens, compact, core, generic, sorted_compact = _name_parts(name or '')
    return Probe(id_, list(tokens), compact, core, generic, frozenset(keys),
        sorted_compact)


def _distance_score(a, b):
    """Score 0-100 of two strings from their edit distance: one typo in a
    long name is likely the same name, three are not, whatever the
    length (a ratio would let long shared city and trade words hide a
    different brand)"""
    if a == b:
        return 100
    distance = OSA.distance(a, b)
    length = max(len(a), len(b))
    if distance == 1:
        return 96 if length >= 8 else 92 if length >= 6 else 80
    if distance == 2:
        return 88 if length >= 12 else 75 if length >= 8 else 50
    return max(0, int(100 * (1 - distance / length)) - 10 * distance)


def name_similarity(a, b):
    "Similarity 0-100 of two probes' names"
    if not a.compact or not b.compact:
        return 0
    if a.compact == b.compact:
        return 100
    full = _distance_score(a.compact, b.compact)
    if len(a.tokens) > 1 or len(b.tokens) > 1:
        full = max(full, _distance_score(a.sorted_compact, b.sorted_compact))
    if a.core == b.core:
        if a.generic <= b.generic or b.generic <= a.generic:
            # Same brand, a city or trade word left out on one side
            return 92
        # Same brand in another city or trade: a sister company more
        # often than the same account
        return 80
    core = _distance_score(a.core, b.core)
    if OSA.distance(a.core, b.core) > OSA.distance(a.compact, b.compact):
        # The difference is in a city or trade word (misspelt, so not
        # recognised): the full name tells more
        return full
    return min(full, core)


def score_pair(a, b, name_score=None):
    """Return (score 0-100, reasons, name similarity) for two probes.

    Evidence is combined as independent signals (noisy-OR); different
    identifiers on both sides halve the score.
    """
    if name_score is None:
        name_score = name_similarity(a, b)
    reasons = []
    remaining = 1.0
    for kind in sorted({k for k, _ in (a.keys & b.keys)} - {'name'}):
        remaining *= 1 - KEY_WEIGHTS.get(kind, 0)
        reasons.append(kind)
    if name_score == 100:
        reasons.append('name')
    elif name_score >= CANDIDATE_SCORE:
        reasons.append('similar_name')
    if name_score >= NAME_FLOOR:
        remaining *= 1 - name_score / 100 * 0.999
    score = 100 * (1 - remaining)
    a_ids = {v for k, v in a.keys if k == 'identifier'}
    b_ids = {v for k, v in b.keys if k == 'identifier'}
    if a_ids and b_ids and not (a_ids & b_ids):
        score /= 2
        reasons.append('different_identifier')
    return int(round(score)), reasons, name_score


def block_pairs(probes, window=6, max_block=MAX_BLOCK):
    """Yield candidate pairs (index_a, index_b) of a list of probes.

    Blocking: shared exact keys (blocks larger than max_block are
    ignored: a switchboard number shared by 500 accounts tells nothing)
    and a sorted neighbourhood of the normalised names, forwards and
    backwards, so that a typo at either end still meets its twin.
    """
    seen = set()
    blocks = defaultdict(list)
    for i, probe in enumerate(probes):
        if probe.compact:
            blocks[('name', probe.compact)].append(i)
        for key in probe.keys:
            blocks[key].append(i)
    for members in blocks.values():
        if 1 < len(members) <= max_block:
            for pair in combinations(members, 2):
                if pair not in seen:
                    seen.add(pair)
                    yield pair
    for keyfunc in [
            lambda i: probes[i].compact,
            lambda i: probes[i].compact[::-1],
            lambda i: probes[i].core,
            lambda i: probes[i].core[::-1]]:
        order = sorted(
            (i for i, p in enumerate(probes) if p.compact), key=keyfunc)
        for pos, i in enumerate(order):
            for j in order[pos + 1:pos + 1 + window]:
                pair = (i, j) if i < j else (j, i)
                if pair not in seen:
                    seen.add(pair)
                    yield pair


def max_name_distance(threshold):
    """Return the largest edit distance between two names (whole or with
    sorted words) with which a pair sharing no key can still score
    threshold, or None when any pair can.

    Without a shared key the score is the name similarity (x 0.999) and
    _distance_score gives at most 96 for one edit, 88 for two, 69 for
    three and less than the name floor for more; the same distinctive
    name (92 or 80) is checked apart.  So this bound rejects only pairs
    that score_pair would reject: it is a shortcut, not a heuristic.
    """
    if threshold <= 0:
        return None
    needed = max(NAME_FLOOR, (threshold - 0.5) / 0.999)
    if needed > 96:
        return 0
    elif needed > 88:
        return 1
    elif needed > 69:
        return 2
    return 3


def may_match(a, b, distance):
    """Tell if two probes sharing no key may have a name similarity
    giving a score within distance (see max_name_distance)"""
    if a.core == b.core:
        return True
    if abs(len(a.compact) - len(b.compact)) > distance:
        # the words sorted have the same length as the whole name
        return False
    if OSA.distance(a.compact, b.compact, score_cutoff=distance) <= distance:
        return True
    return ((len(a.tokens) > 1 or len(b.tokens) > 1)
        and OSA.distance(a.sorted_compact, b.sorted_compact,
            score_cutoff=distance) <= distance)


def score_pairs(pairs, probe_of, threshold=CANDIDATE_SCORE):
    """Yield (a, b, score, reasons, name_score) of the candidate pairs
    (a, b) scoring at least threshold; probe_of returns the probe of a
    member of a pair"""
    distance = max_name_distance(threshold)
    osa = OSA.distance
    for i, j in pairs:
        a, b = probe_of(i), probe_of(j)
        if not (a.keys & b.keys):
            # A pair with only a name to go on must reach the threshold
            # by name: cheap bounds first (may_match inlined: this loop
            # runs for a million pairs), then the name ratio cut-off.
            if not a.compact or not b.compact:
                continue
            if (distance is not None and a.core != b.core
                    and (abs(len(a.compact) - len(b.compact)) > distance
                        or (osa(a.compact, b.compact,
                                score_cutoff=distance) > distance
                            and (not (len(a.tokens) > 1
                                    or len(b.tokens) > 1)
                                or osa(a.sorted_compact, b.sorted_compact,
                                    score_cutoff=distance) > distance)))):
                continue
            if (a.compact != b.compact
                    and fuzz.ratio(a.compact, b.compact,
                        score_cutoff=60) == 0
                    and fuzz.token_sort_ratio(a.tokens, b.tokens,
                        score_cutoff=60) == 0):
                continue
        score, reasons, name_score = score_pair(a, b)
        if score >= threshold:
            yield i, j, score, reasons, name_score


def _near_pairs(rows, probes, distance):
    """Yield the pairs (a, b) of rows (may share a key, a, [b, ...])
    worth scoring: all those that may share a key, and those that share
    none only when may_match (computed with one rapidfuzz call per
    account and its neighbours instead of one per pair)"""
    for strong, a, others in rows:
        if strong or distance is None:
            for b in others:
                yield a, b
            continue
        probe = probes[a]
        candidates = list(map(probes.__getitem__, others))
        keep = set()
        for attribute, cutoff in [
                ('core', 0), ('compact', distance),
                ('sorted_compact', distance)]:
            found = rf_process.extract(
                getattr(probe, attribute),
                [getattr(c, attribute) for c in candidates],
                scorer=OSA.distance, score_cutoff=cutoff, limit=None)
            if attribute == 'sorted_compact' and len(probe.tokens) <= 1:
                keep.update(i for _, _, i in found
                    if len(candidates[i].tokens) > 1)
            else:
                keep.update(i for _, _, i in found)
        for i in sorted(keep):
            yield a, others[i]


def find_pairs(
        probes, threshold=CANDIDATE_SCORE, window=6, max_block=MAX_BLOCK):
    """Return [(index_a, index_b, score, reasons, name_score)] of the
    pairs of probes scoring at least threshold (blocking in Python: the
    finder blocks by SQL on PostgreSQL)"""
    return list(score_pairs(
            block_pairs(probes, window=window, max_block=max_block),
            probes.__getitem__, threshold=threshold))


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

REASONS = [
    ('identifier', "Same identifier"),
    ('email', "Same e-mail"),
    ('phone', "Same phone"),
    ('domain', "Same web domain"),
    ('name', "Same name"),
    ('similar_name', "Similar name"),
    ('different_identifier', "Different identifiers"),
    ]
KINDS = [
    ('name', "Name"),
    ('identifier', "Identifier"),
    ('phone', "Phone"),
    ('email', "E-mail"),
    ('domain', "Web Domain"),
    ]


class PartyDuplicateWarning(UserWarning):
    pass


class TrigramSimilar(BinaryOperator):
    "pg_trgm similarity operator: uses the GIN trigram index"
    __slots__ = ()
    _operator = '%%'


def _has_trigram():
    database = Transaction().database
    return (backend.name == 'postgresql'
        and database.has_extension('pg_trgm')
        and database.has_similarity())


class PartyDedupKey(ModelSQL):
    "Party Deduplication Key"
    __name__ = 'hitech.party.dedup.key'

    party = fields.Many2One(
        'party.party', "Party", required=True, ondelete='CASCADE')
    kind = fields.Selection(KINDS, "Kind", required=True)
    value = fields.Char("Value", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'party'})
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t,
                    (t.kind, Index.Equality()),
                    (t.value, Index.Equality(cardinality='high'))),
                Index(t, (t.party, Index.Range())),
                })

    @classmethod
    def compute(cls, party_ids):
        """Return {party id: set of (kind, value)} for the active parties,
        read with one query per source table"""
        pool = Pool()
        Party = pool.get('party.party')
        ContactMechanism = pool.get('party.contact_mechanism')
        Identifier = pool.get('party.identifier')
        party = Party.__table__()
        mechanism = ContactMechanism.__table__()
        identifier = Identifier.__table__()
        cursor = Transaction().connection.cursor()

        names = {}
        cursor.execute(*party.select(party.id, party.name,
                where=reduce_ids(party.id, party_ids)
                & (party.active == Literal(True))))
        names.update(cursor)
        if not names:
            return {}
        mechanisms = defaultdict(list)
        cursor.execute(*mechanism.select(
                mechanism.party, mechanism.type, mechanism.value,
                where=reduce_ids(mechanism.party, list(names))
                & (mechanism.active == Literal(True))
                & mechanism.type.in_(['phone', 'mobile', 'email', 'website'])))
        for party_id, type_, value in cursor:
            mechanisms[party_id].append((type_, value))
        codes = defaultdict(list)
        cursor.execute(*identifier.select(
                identifier.party, identifier.code,
                where=reduce_ids(identifier.party, list(names))
                & (identifier.active == Literal(True))))
        for party_id, code in cursor:
            codes[party_id].append(code)
        return {
            party_id: party_keys(name, mechanisms[party_id], codes[party_id])
            for party_id, name in names.items()}

    @classmethod
    def refresh(cls, parties):
        "Recompute the keys of parties (records or ids), set-based"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        party_ids = sorted({int(p) for p in parties})
        for sub_ids in grouped_slice(party_ids, BATCH):
            sub_ids = list(sub_ids)
            cursor.execute(*table.delete(
                    where=reduce_ids(table.party, sub_ids)))
            cls.insert_keys(cls.compute(sub_ids))

    @classmethod
    def insert_keys(cls, keys):
        """Insert {party id: set of (kind, value)} for parties that have no
        key yet (the importer gives the keys of the accounts it inserts)"""
        table = cls.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        user = transaction.user
        now = datetime.datetime.now()
        rows = [
            (party_id, kind, value, user, now)
            for party_id, values in sorted(keys.items())
            for kind, value in sorted(values)]
        if not rows:
            return
        # one prepared statement for all rows (pipelined by psycopg)
        query, _ = tuple(table.insert(
                [table.party, table.kind, table.value,
                    table.create_uid, table.create_date], [rows[0]]))
        cursor.executemany(query, rows)


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    dedup_name = fields.Char(
        "Normalised Name", readonly=True,
        help="The name folded for duplicate detection: lower case, "
        "half-width, without punctuation, spaces and legal form.")
    dedup_core = fields.Char(
        "Distinctive Name", readonly=True,
        help="The normalised name without city and trade words, "
        "compared by trigrams to find similar names.")
    possible_duplicates = fields.Function(fields.Many2Many(
            'party.party', None, None, "Possible Duplicates", readonly=True,
            help="Existing accounts that look like this one "
            "(same identifier, phone, e-mail, web domain or a similar "
            "name)."),
        'get_possible_duplicates')
    duplicate_summary = fields.Function(fields.Text(
            "Possible Duplicates",
            states={'invisible': ~Eval('duplicate_summary')},
            help="Why the accounts listed look like this one, "
            "with a score out of 100."),
        'get_possible_duplicates')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.dedup_core, Index.Similarity())),
                })

    @classmethod
    def __register__(cls, module):
        # The trigram index on dedup_core needs pg_trgm; it is a trusted
        # extension (PostgreSQL 13+) so the database owner may create it.
        # It must be committed for has_extension (another connection)
        # to see it.
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
            database._extensions[database.name].pop('pg_trgm', None)
        super().__register__(module)

    @classmethod
    def _update_sql_indexes(cls, concurrently=False):
        super()._update_sql_indexes(concurrently=concurrently)
        if backend.name == 'postgresql':
            cls._dedup_index_no_fastupdate()

    @classmethod
    def _dedup_index_no_fastupdate(cls):
        """Turn off the pending list of the trigram index on dedup_core.

        With fastupdate (the GIN default) new rows go to a pending list
        that every search of the index reads sequentially until a vacuum
        or a full list (4 MB) merges it: during an import, the similar-name
        lookup of each chunk read the trigrams of the thousands of
        accounts the import had just inserted, 100 times per chunk (a
        chunk of 100 probes took 7 to 9 s instead of 0.2 s after 6,000
        inserts).  Without it, each insert updates the index (a little
        slower) and searches stay indexed."""
        cursor = Transaction().connection.cursor()
        cursor.execute(
            'SELECT c.relname, c.reloptions FROM pg_index AS i '
            'JOIN pg_class AS c ON c.oid = i.indexrelid '
            'WHERE i.indrelid = %s::regclass '
            'AND pg_get_indexdef(i.indexrelid) LIKE %s',
            (cls._table, '%% USING gin (dedup_core gin_trgm_ops)%%'))
        for name, options in cursor.fetchall():
            if 'fastupdate=off' in (options or []):
                continue
            cursor.execute('ALTER INDEX "%s" SET (fastupdate = off)' % name)
            # merge what is pending now
            cursor.execute('SELECT gin_clean_pending_list(%s::regclass)',
                (name,))

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if 'name' in values:
            values['dedup_name'], values['dedup_core'] = normalize_names(
                values['name'])
        return values

    @classmethod
    def on_modification(cls, mode, parties, field_names=None):
        pool = Pool()
        Key = pool.get('hitech.party.dedup.key')
        super().on_modification(mode, parties, field_names=field_names)
        if mode == 'create' or (
                mode == 'write' and field_names & {'name', 'active'}):
            Key.refresh(parties)
        if mode == 'create':
            cls._check_duplicates_on_create(parties)

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('dedup_name', None)
        default.setdefault('dedup_core', None)
        return super().copy(parties, default=default)

    @classmethod
    def _check_duplicates_on_create(cls, parties):
        pool = Pool()
        Warning = pool.get('res.user.warning')
        transaction = Transaction()
        context = transaction.context
        # Batch jobs (root, imports with _skip_warnings) are not asked.
        if (not transaction.user or context.get('_skip_warnings')
                or context.get('hitech_skip_duplicate_check')):
            return
        for party, candidates in zip(
                parties, cls.find_duplicates(parties, threshold=STRONG_SCORE)):
            if not candidates:
                continue
            warning_name = Warning.format(
                'hitech_party_duplicate',
                [party] + [c.party for c in candidates])
            if Warning.check(warning_name):
                raise PartyDuplicateWarning(warning_name, gettext(
                        'hitech_crm_base.msg_party_possible_duplicate',
                        party=party.rec_name,
                        duplicates=cls._format_candidates(candidates)))

    @classmethod
    def _format_candidates(cls, candidates):
        pool = Pool()
        Duplicate = pool.get('hitech.party.duplicate')
        labels = dict(
            Duplicate.fields_get(['reasons'])['reasons']['selection'])
        return '\n'.join(
            '%s (%s): %s' % (
                c.party.rec_name, c.score,
                ', '.join(labels.get(r, r) for r in c.reasons))
            for c in candidates)

    @classmethod
    def _dedup_probe(cls, value):
        "Return the probe of a party record or of a dictionary of values"
        keys = set()
        if isinstance(value, dict):
            id_ = value.get('id')
            name = value.get('name')
            for type_ in ['phone', 'mobile', 'email', 'website']:
                if value.get(type_):
                    keys.update(contact_keys(type_, value[type_]))
            for mechanism in value.get('contact_mechanisms') or []:
                keys.update(contact_keys(
                        mechanism.get('type'), mechanism.get('value')))
            for identifier in value.get('identifiers') or []:
                if isinstance(identifier, dict):
                    identifier = identifier.get('code')
                code = normalize_identifier(identifier)
                if code:
                    keys.add(('identifier', code))
        else:
            id_ = value.id if value.id is not None and value.id >= 0 else None
            name = getattr(value, 'name', None)
            for mechanism in getattr(value, 'contact_mechanisms', None) or []:
                if getattr(mechanism, 'active', True) is False:
                    continue
                keys.update(contact_keys(
                        getattr(mechanism, 'type', None),
                        getattr(mechanism, 'value', None)))
            for identifier in getattr(value, 'identifiers', None) or []:
                if getattr(identifier, 'active', True) is False:
                    continue
                code = normalize_identifier(getattr(identifier, 'code', None))
                if code:
                    keys.add(('identifier', code))
        probe = make_probe(id_, name, keys)
        if probe.compact:
            probe = probe._replace(keys=probe.keys | {('name', probe.compact)})
        return probe

    @classmethod
    def find_duplicates(
            cls, values_or_records, threshold=CANDIDATE_SCORE, limit=10):
        """Return for each party record or dictionary of values the list of
        Candidate(party, score, reasons) among the active parties, best
        first.

        Blocking uses the exact keys (index on kind, value) and, for the
        name, the pg_trgm index on PostgreSQL or a prefix/suffix block
        elsewhere; the candidates are then scored in Python.
        """
        probes = [cls._dedup_probe(v) for v in values_or_records]
        if not probes:
            return []
        own_ids = {p.id for p in probes if p.id is not None}

        if _has_trigram():
            candidates, others = cls._dedup_candidates_trigram(probes)
        else:
            candidates, others = cls._dedup_candidates(probes)
        if not any(ids - own_ids for ids in candidates):
            return [[] for _ in probes]

        result = []
        for probe, ids in zip(probes, candidates):
            found = []
            for party_id in ids - own_ids:
                if party_id not in others:
                    continue
                score, reasons, _ = score_pair(probe, others[party_id])
                if score >= threshold:
                    found.append((score, party_id, reasons))
            found.sort(key=lambda x: (-x[0], x[1]))
            result.append([
                    Candidate(cls(party_id), score, reasons)
                    for score, party_id, reasons in found[:limit]])
        return result

    @classmethod
    def _dedup_candidates(cls, probes):
        """Return the candidate ids of each probe and the probes of the
        candidates, with one indexed query per key kind and a prefix or
        suffix LIKE per name (without pg_trgm)"""
        pool = Pool()
        Key = pool.get('hitech.party.dedup.key')
        key = Key.__table__()
        party = cls.__table__()
        cursor = Transaction().connection.cursor()

        # Exact keys: one indexed query per key; a key shared by more
        # than MAX_BLOCK accounts (a switchboard, a group's web domain)
        # tells nothing and is skipped, as in the finder.
        candidates = [set() for _ in probes]
        by_key = defaultdict(set)
        for i, probe in enumerate(probes):
            for k in probe.keys:
                by_key[k].add(i)
        by_kind = defaultdict(list)
        for kind, value in by_key:
            by_kind[kind].append(value)
        found = defaultdict(list)
        for kind, values in sorted(by_kind.items()):
            for sub_values in grouped_slice(
                    sorted(values), backend.MAX_QUERY_PARAMS):
                cursor.execute(*key.select(key.value, key.party,
                        where=(key.kind == kind)
                        & key.value.in_(list(sub_values))))
                for value, party_id in cursor:
                    found[(kind, value)].append(party_id)
        for k, party_ids in found.items():
            if len(party_ids) > MAX_BLOCK:
                continue
            for i in by_key[k]:
                candidates[i].update(party_ids)

        # Similar names: a prefix or suffix block
        for i, probe in enumerate(probes):
            if len(probe.core) < 3:
                continue
            prefix, suffix = probe.core[:3], probe.core[-3:]
            cursor.execute(*party.select(party.id,
                    where=(party.dedup_core.like(prefix + '%')
                        | party.dedup_core.like('%' + suffix))
                    & (party.active == Literal(True)),
                    limit=500))
            candidates[i].update(r for r, in cursor)

        all_ids = set().union(*candidates)
        if not all_ids:
            return candidates, {}
        # Probes of the candidates from the stored keys and names
        others = {}
        names = {}
        for sub_ids in grouped_slice(sorted(all_ids), BATCH):
            cursor.execute(*party.select(party.id, party.name,
                    where=reduce_ids(party.id, list(sub_ids))))
            names.update(cursor)
        keys = defaultdict(set)
        for sub_ids in grouped_slice(sorted(all_ids), BATCH):
            cursor.execute(*key.select(key.party, key.kind, key.value,
                    where=reduce_ids(key.party, list(sub_ids))))
            for party_id, kind, value in cursor:
                keys[party_id].add((kind, value))
        for party_id, name in names.items():
            others[party_id] = make_probe(party_id, name, keys[party_id])
        return candidates, others

    @classmethod
    def _dedup_candidates_trigram(cls, probes, batch=200):
        """Return the candidate ids of each probe and the probes of the
        candidates, with one PostgreSQL statement per batch of probes:

        - exact keys through the (kind, value) index, at most
          MAX_BLOCK + 1 accounts per key (a key shared by more than
          MAX_BLOCK accounts tells nothing and is skipped);
        - similar distinctive names through the trigram GIN index (the
          %% operator, 20 most similar);
        - the names and keys of the candidates, to score them (two
          statements by their primary key and party index).
        """
        pool = Pool()
        Key = pool.get('hitech.party.dedup.key')
        cursor = Transaction().connection.cursor()
        candidates = [set() for _ in probes]
        others = {}
        keys = defaultdict(set)
        names = {}
        for start in range(0, len(probes), batch):
            sub = list(enumerate(probes[start:start + batch], start))
            key_rows = [(i, kind, value)
                for i, probe in sub for kind, value in sorted(probe.keys)]
            core_rows = [(i, probe.core) for i, probe in sub
                if len(probe.core) >= 3]
            if not key_rows and not core_rows:
                continue
            # arrays rather than VALUES lists: the statement is the same
            # for every batch, planned in about 1 ms instead of 40 ms for
            # 600 parameters, and psycopg prepares it after a few runs
            params = [
                [r[0] for r in key_rows], [r[1] for r in key_rows],
                [r[2] for r in key_rows],
                [r[0] for r in core_rows], [r[1] for r in core_rows]]
            probe_key = ('SELECT * FROM unnest('
                '%s::integer[], %s::varchar[], %s::varchar[]) '
                'AS v (i, kind, value)')
            # the threshold of %% is set by the rows of this CTE: a
            # volatile function keeps it from being inlined, so it is
            # computed before the trigram scans
            probe_core = ('SELECT * FROM unnest('
                '%s::integer[], %s::varchar[]) AS v (i, core) '
                "WHERE set_config('pg_trgm.similarity_threshold', "
                "'0.3', true) IS NOT NULL")
            cursor.execute(
                'WITH probe_key AS (' + probe_key + '), '
                'probe_core AS (' + probe_core + '), '
                'exact AS ('
                'SELECT pk.i, m.party, COUNT(*) OVER ('
                'PARTITION BY pk.i, pk.kind, pk.value) AS size '
                'FROM probe_key AS pk CROSS JOIN LATERAL ('
                'SELECT k.party FROM "' + Key._table + '" AS k '
                'WHERE k.kind = pk.kind AND k.value = pk.value '
                'LIMIT %s) AS m), '
                'near AS ('
                'SELECT pc.i, t.id AS party '
                'FROM probe_core AS pc CROSS JOIN LATERAL ('
                'SELECT t.id FROM "' + cls._table + '" AS t '
                'WHERE t.dedup_core %% pc.core AND t.active '
                'ORDER BY similarity(t.dedup_core, pc.core) DESC '
                'LIMIT 20) AS t), '
                'candidate AS ('
                'SELECT i, party FROM exact WHERE size <= %s '
                'UNION SELECT i, party FROM near) '
                'SELECT i, party FROM candidate',
                params + [MAX_BLOCK + 1, MAX_BLOCK])
            new_ids = set()
            for i, party_id in cursor:
                candidates[i].add(party_id)
                if party_id not in names:
                    new_ids.add(party_id)
            # the names and keys of the candidates by their index, in
            # statements of their own: joined above, the planner read the
            # whole party or key table by a merge join
            if new_ids:
                cursor.execute(
                    'SELECT p.id, p.name FROM "' + cls._table + '" AS p '
                    'WHERE p.id = ANY(%s)', (sorted(new_ids),))
                names.update(cursor)
                cursor.execute(
                    'SELECT k.party, k.kind, k.value FROM "'
                    + Key._table + '" AS k WHERE k.party = ANY(%s)',
                    (sorted(new_ids),))
                for party_id, kind, value in cursor:
                    keys[party_id].add((kind, value))
        for party_id, name in names.items():
            others[party_id] = make_probe(party_id, name, keys[party_id])
        return candidates, others

    @classmethod
    def get_possible_duplicates(cls, parties, names):
        result = {n: {} for n in names}
        for party, candidates in zip(parties, cls.find_duplicates(parties)):
            if 'possible_duplicates' in result:
                result['possible_duplicates'][party.id] = [
                    c.party.id for c in candidates]
            if 'duplicate_summary' in result:
                result['duplicate_summary'][party.id] = (
                    cls._format_candidates(candidates) or None)
        return result

    @fields.depends('name', 'contact_mechanisms', 'identifiers')
    def on_change_with_possible_duplicates(self, name=None):
        if not self.name:
            return []
        candidates, = self.find_duplicates([self])
        return [c.party.id for c in candidates]

    @fields.depends('name', 'contact_mechanisms', 'identifiers')
    def on_change_with_duplicate_summary(self, name=None):
        if not self.name:
            return None
        candidates, = self.find_duplicates([self])
        return self._format_candidates(candidates) or None

    @classmethod
    def dedup_rebuild(cls, parties=None):
        """Recompute the normalised names and keys of parties, or of the
        parties that have none yet (accounts that existed before the
        module was activated or that were inserted by SQL)"""
        pool = Pool()
        Key = pool.get('hitech.party.dedup.key')
        party = cls.__table__()
        cursor = Transaction().connection.cursor()
        if parties is None:
            cursor.execute(*party.select(party.id, party.name,
                    where=(party.dedup_name == Null)
                    & (party.name != Null)))
        else:
            ids = [int(p) for p in parties]
            cursor.execute(*party.select(party.id, party.name,
                    where=reduce_ids(party.id, ids)))
        rows = cursor.fetchall()
        for sub_rows in grouped_slice(rows, 1000):
            values = Values([
                    (party_id, *normalize_names(name))
                    for party_id, name in sub_rows])
            cursor.execute(*party.update(
                    [party.dedup_name, party.dedup_core],
                    [values.column2, values.column3],
                    from_=[values],
                    where=party.id == values.column1))
        Key.refresh([r[0] for r in rows])
        return len(rows)


class ContactMechanism(metaclass=PoolMeta):
    __name__ = 'party.contact_mechanism'

    @classmethod
    def on_modification(cls, mode, mechanisms, field_names=None):
        pool = Pool()
        Key = pool.get('hitech.party.dedup.key')
        super().on_modification(mode, mechanisms, field_names=field_names)
        if mode == 'create' or (mode == 'write' and field_names
                & {'type', 'value', 'active', 'party'}):
            Key.refresh([m.party for m in mechanisms])

    @classmethod
    def on_delete(cls, mechanisms):
        pool = Pool()
        Key = pool.get('hitech.party.dedup.key')
        callback = super().on_delete(mechanisms)
        party_ids = {m.party.id for m in mechanisms}
        callback.append(lambda: Key.refresh(party_ids))
        return callback


class Identifier(metaclass=PoolMeta):
    __name__ = 'party.identifier'

    @classmethod
    def on_modification(cls, mode, identifiers, field_names=None):
        pool = Pool()
        Key = pool.get('hitech.party.dedup.key')
        super().on_modification(mode, identifiers, field_names=field_names)
        if mode == 'create' or (mode == 'write' and field_names
                & {'code', 'active', 'party'}):
            Key.refresh([i.party for i in identifiers])

    @classmethod
    def on_delete(cls, identifiers):
        pool = Pool()
        Key = pool.get('hitech.party.dedup.key')
        callback = super().on_delete(identifiers)
        party_ids = {i.party.id for i in identifiers}
        callback.append(lambda: Key.refresh(party_ids))
        return callback


class PartyDuplicate(Workflow, ModelSQL, ModelView):
    "Possible Duplicate Accounts"
    __name__ = 'hitech.party.duplicate'

    party_a = fields.Many2One(
        'party.party', "Account", required=True, readonly=True,
        ondelete='CASCADE',
        help="The older account of the pair.")
    party_b = fields.Many2One(
        'party.party', "Possible Duplicate", required=True, readonly=True,
        ondelete='CASCADE',
        help="The newer account of the pair.")
    score = fields.Integer(
        "Score", readonly=True,
        help="How likely the two accounts are the same, out of 100.")
    name_similarity = fields.Integer(
        "Name Similarity", readonly=True,
        help="How close the normalised names are, out of 100.")
    reasons = fields.MultiSelection(
        REASONS, "Reasons", readonly=True,
        help="The evidence that the two accounts are the same.")
    state = fields.Selection([
            ('open', "Open"),
            ('merged', "Merged"),
            ('dismissed', "Dismissed"),
            ], "State", readonly=True, required=True, sort=False)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'party_a', 'party_b'})
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.party_a, Index.Range()),
                    (t.party_b, Index.Range())),
                Index(t, (t.party_b, Index.Range())),
                Index(t, (t.state, Index.Equality(cardinality='low')),
                    where=t.state == 'open'),
                })
        cls._order = [
            ('score', 'DESC'),
            ('id', 'ASC'),
            ]
        cls._transitions |= {
            ('open', 'dismissed'),
            ('dismissed', 'open'),
            ('open', 'merged'),
            }
        cls._buttons.update({
                'merge': {
                    'invisible': Eval('state') != 'open',
                    'depends': ['state'],
                    },
                'dismiss': {
                    'invisible': Eval('state') != 'open',
                    'depends': ['state'],
                    },
                'reopen': {
                    'invisible': Eval('state') != 'dismissed',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'open'

    def get_rec_name(self, name):
        return '%s ~ %s' % (self.party_a.rec_name, self.party_b.rec_name)

    @classmethod
    @ModelView.button_action('hitech_crm_base.wizard_party_duplicate_merge')
    def merge(cls, duplicates):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('dismissed')
    def dismiss(cls, duplicates):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('open')
    def reopen(cls, duplicates):
        pass

    @classmethod
    def find(cls, threshold=CANDIDATE_SCORE, window=6):
        """Scan every active account and record the new pairs scoring at
        least threshold; return the number of pairs created.

        Pairs already recorded (open, merged or dismissed) are kept as
        they are: a dismissed pair is not proposed again.
        """
        pool = Pool()
        Party = pool.get('party.party')
        Key = pool.get('hitech.party.dedup.key')
        party = Party.__table__()
        key = Key.__table__()
        table = cls.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()

        Party.dedup_rebuild()

        cursor.execute(*party.select(party.id, party.name,
                where=(party.active == Literal(True))
                & (party.name != Null),
                order_by=[party.id.asc]))
        names = dict(cursor.fetchall())
        keys = defaultdict(set)
        cursor.execute(*key.select(key.party, key.kind, key.value,
                where=key.kind != 'name'))
        for party_id, kind, value in cursor.fetchall():
            keys[party_id].add((kind, value))

        if backend.name == 'postgresql':
            # Blocking by SQL: pairs of accounts sharing a key and
            # neighbours in the sorted names, without the pairs already
            # recorded
            pairs = cls._candidate_pairs(
                window, max_name_distance(threshold))
            probes = {
                i: make_probe(i, n, keys.get(i, ())) for i, n in names.items()}
            found = score_pairs(
                _near_pairs(pairs, probes, max_name_distance(threshold)),
                probes.__getitem__, threshold=threshold)
        else:
            probe_list = [make_probe(i, n, keys[i]) for i, n in names.items()]
            existing = set()
            cursor.execute(*table.select(table.party_a, table.party_b))
            for a, b in cursor:
                existing.add((min(a, b), max(a, b)))
            found = (
                (probe_list[i].id, probe_list[j].id, *result)
                for i, j, *result in find_pairs(
                    probe_list, threshold=threshold, window=window)
                if (min(probe_list[i].id, probe_list[j].id),
                    max(probe_list[i].id, probe_list[j].id))
                not in existing)

        rows = []
        user = transaction.user
        now = datetime.datetime.now()
        for a, b, score, reasons, name_score in found:
            a, b = sorted([a, b])
            rows.append([a, b, score, name_score,
                    cls.reasons.sql_format(reasons), 'open', user, now])
        # multi-row inserts: the pairs need none of the ORM checks (both
        # accounts exist, the values are computed here)
        columns = [table.party_a, table.party_b, table.score,
            table.name_similarity, table.reasons, table.state,
            table.create_uid, table.create_date]
        for sub_rows in grouped_slice(rows, BATCH):
            cursor.execute(*table.insert(columns, list(sub_rows)))
        return len(rows)

    @classmethod
    def _candidate_pairs(cls, window, distance, max_block=MAX_BLOCK):
        """Return the candidate pairs of active accounts not recorded yet
        as rows (may share a key, a, [b, ...]) with a < b, from one
        PostgreSQL statement (same blocking as block_pairs):

        - accounts sharing an exact key (blocks of 2 to max_block);
        - neighbours within window in the normalised and distinctive
          names sorted, forwards and reversed (window functions), kept
          only when their lengths differ by at most distance (see
          max_name_distance), their distinctive names are equal or one of
          them has a key too common to block on (it may still count).
        """
        pool = Pool()
        Party = pool.get('party.party')
        Key = pool.get('hitech.party.dedup.key')
        cursor = Transaction().connection.cursor()
        windows = ['w%d' % i for i in range(4)]
        leads = ', '.join(
            'lead(v, %d) OVER %s' % (k, w)
            for w in windows for k in range(1, window + 1))
        if distance is None:
            length = 'TRUE'
        else:
            length = (
                'abs(((v >> 17) & 255) - ((o >> 17) & 255)) <= %d'
                % int(distance))
        # Each account is packed in one bigint for the window functions:
        # id << 25 | min(length of the name, 255) << 17 | has a too common
        # key << 16 | 16 bits of the hash of the distinctive name.  A hash
        # collision or the length cap only lets more pairs through, to be
        # scored in Python.
        query = (
            'WITH kc AS MATERIALIZED ('
            'SELECT k.party, k.kind, k.value, '
            'COUNT(*) OVER (PARTITION BY k.kind, k.value) AS size '
            'FROM "%(key)s" AS k JOIN "%(party)s" AS p ON p.id = k.party '
            'WHERE p.active AND p.name IS NOT NULL), '
            'big AS ('
            'SELECT DISTINCT party FROM kc '
            "WHERE size > %(max_block)d AND kind <> 'name'), "
            'named AS ('
            'SELECT (p.id::bigint << 25) '
            '| (LEAST(length(p.dedup_name), 255)::bigint << 17) '
            '| (CASE WHEN big.party IS NULL THEN 0 ELSE 65536 END) '
            '| (hashtext(p.dedup_core) & 65535) AS v, '
            'p.id, p.dedup_name AS n, p.dedup_core AS c '
            'FROM "%(party)s" AS p '
            'LEFT JOIN big ON big.party = p.id '
            'WHERE p.active AND p.name IS NOT NULL '
            "AND p.dedup_name <> ''), "
            'neighbour AS ('
            'SELECT v, unnest(ARRAY[%(leads)s]) AS o FROM named '
            'WINDOW w0 AS (ORDER BY n COLLATE "C", id), '
            'w1 AS (ORDER BY reverse(n) COLLATE "C", id), '
            'w2 AS (ORDER BY c COLLATE "C", id), '
            'w3 AS (ORDER BY reverse(c) COLLATE "C", id)), '
            'near AS ('
            'SELECT DISTINCT LEAST(v >> 25, o >> 25) AS a, '
            'GREATEST(v >> 25, o >> 25) AS b, '
            '((v | o) & 65536) <> 0 AS big '
            'FROM neighbour WHERE o IS NOT NULL '
            'AND (%(length)s OR (v & 65535) = (o & 65535) '
            'OR ((v | o) & 65536) <> 0)), '
            'keyed AS ('
            'SELECT x.party AS a, y.party AS b FROM kc AS x '
            'JOIN kc AS y ON y.kind = x.kind '
            'AND y.value = x.value AND y.party > x.party '
            'WHERE x.size BETWEEN 2 AND %(max_block)d), '
            'recorded AS ('
            'SELECT LEAST(party_a, party_b) AS a, '
            'GREATEST(party_a, party_b) AS b FROM "%(duplicate)s"), '
            # pairs that may share a key
            'strong AS ('
            'SELECT a, b FROM keyed UNION SELECT a, b FROM near WHERE big '
            'EXCEPT SELECT a, b FROM recorded), '
            # pairs that share no key (but maybe the name)
            'weak AS ('
            'SELECT a, b FROM near WHERE NOT big '
            'EXCEPT SELECT a, b FROM keyed '
            'EXCEPT SELECT a, b FROM recorded) '
            'SELECT TRUE, a, array_agg(b) FROM strong GROUP BY a '
            'UNION ALL '
            'SELECT FALSE, a, array_agg(b) FROM weak GROUP BY a') % {
            'party': Party._table,
            'key': Key._table,
            'duplicate': cls._table,
            'max_block': max_block,
            'leads': leads,
            'length': length,
            }
        # JIT compiling the hundred window expressions costs more than the
        # query; the sorts need more than the default work_mem
        settings = {'jit': 'off', 'work_mem': '64MB'}
        cursor.execute('SELECT %s' % ', '.join(
                ["current_setting('%s')" % n for n in settings]))
        previous = dict(zip(settings, cursor.fetchone()))
        cursor.execute('SELECT %s' % ', '.join(
                ["set_config('%s', %%s, true)" % n for n in settings]),
            list(settings.values()))
        try:
            cursor.execute(query)
            return cursor.fetchall()
        finally:
            cursor.execute('SELECT %s' % ', '.join(
                    ["set_config('%s', %%s, true)" % n for n in previous]),
                list(previous.values()))

    @classmethod
    def cron_find(cls):
        cls.find()

    @classmethod
    def mark_merged(cls, parties):
        "Close the open pairs between parties that were merged"
        ids = [int(p) for p in parties]
        duplicates = cls.search([
                ('state', '=', 'open'),
                ('party_a', 'in', ids),
                ('party_b', 'in', ids),
                ])
        if duplicates:
            cls.write(duplicates, {'state': 'merged'})


class PartyDuplicateFindStart(ModelView):
    "Find Duplicate Accounts"
    __name__ = 'hitech.party.duplicate.find.start'

    threshold = fields.Integer(
        "Minimal Score", required=True,
        domain=[('threshold', '>=', 50), ('threshold', '<=', 100)],
        help="Only pairs scoring at least this (out of 100) are recorded.")

    @classmethod
    def default_threshold(cls):
        return CANDIDATE_SCORE


class PartyDuplicateFind(Wizard):
    "Find Duplicate Accounts"
    __name__ = 'hitech.party.duplicate.find'
    start = StateView(
        'hitech.party.duplicate.find.start',
        'hitech_crm_base.party_duplicate_find_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Find", 'find', 'tryton-search', default=True),
            ])
    find = StateTransition()
    open_ = StateAction('hitech_crm_base.act_party_duplicate_form')

    def transition_find(self):
        pool = Pool()
        Duplicate = pool.get('hitech.party.duplicate')
        Duplicate.find(threshold=self.start.threshold)
        return 'open_'

    def do_open_(self, action):
        return action, {}


class Replace(metaclass=PoolMeta):
    __name__ = 'party.replace'

    @classmethod
    def fields_to_replace(cls):
        return super().fields_to_replace() + [
            ('hitech.party.dedup.key', 'party'),
            ('hitech.party.duplicate', 'party_a'),
            ('hitech.party.duplicate', 'party_b'),
            ]

    def transition_replace(self):
        pool = Pool()
        Duplicate = pool.get('hitech.party.duplicate')
        Party = pool.get('party.party')
        source, destination = self.ask.source, self.ask.destination
        Duplicate.mark_merged([source, destination])
        state = super().transition_replace()
        Party.dedup_rebuild([source, destination])
        return state


class ReplaceAsk(metaclass=PoolMeta):
    __name__ = 'party.replace.ask'

    @classmethod
    def default_source(cls):
        pool = Pool()
        Duplicate = pool.get('hitech.party.duplicate')
        context = Transaction().context
        if context.get('active_model') == 'hitech.party.duplicate':
            if context.get('active_id') is not None:
                return Duplicate(context['active_id']).party_b.id
            return None
        return super().default_source()

    @classmethod
    def default_destination(cls):
        pool = Pool()
        Duplicate = pool.get('hitech.party.duplicate')
        context = Transaction().context
        if (context.get('active_model') == 'hitech.party.duplicate'
                and context.get('active_id') is not None):
            return Duplicate(context['active_id']).party_a.id
        if hasattr(super(), 'default_destination'):
            return super().default_destination()


class Erase(metaclass=PoolMeta):
    __name__ = 'party.erase'

    def to_erase(self, party_id):
        pool = Pool()
        Party = pool.get('party.party')
        Key = pool.get('hitech.party.dedup.key')
        return super().to_erase(party_id) + [
            (Party, [('id', '=', party_id)], True,
                ['dedup_name', 'dedup_core'], [None, None]),
            (Key, [('party', '=', party_id)], True,
                ['value'], ['****']),
            ]


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('hitech.party.duplicate|cron_find', "Find Duplicate Accounts"))
