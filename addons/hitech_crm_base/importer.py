# This file is part of HiTech CRM. See LICENSE for details.
"""Import of accounts and contacts from CSV and XLSX files, and the XLSX
export of accounts.

The first part holds pure helpers (reading, decoding, header mapping, cell
validation and normalisation) that need no database and raise
``ImportFileError`` / return ``Issue`` tuples carrying message ids; the
models translate them with ``gettext``.  The second part holds the models.
"""
import csv
import io
import logging
import re
import unicodedata
from collections import defaultdict, namedtuple
from contextvars import ContextVar
from itertools import islice

try:
    import phonenumbers
    from phonenumbers import NumberParseException, PhoneNumberFormat
except ImportError:  # pragma: no cover
    phonenumbers = None

from sql import Column
from sql.aggregate import Count
from sql.functions import CurrentTimestamp

from trytond.config import config
from trytond.i18n import gettext
from trytond import backend
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.model.exceptions import (
    RequiredValidationError, SelectionValidationError, SizeValidationError)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.report import Report
from trytond.tools import grouped_slice, reduce_ids
from trytond.tools.email_ import (
    EmailNotValidError, normalize_email, validate_email)
from trytond.transaction import (
    Transaction, check_access, without_check_access)

from .dedup import party_keys
from .exceptions import ImportJobError

logger = logging.getLogger(__name__)

# ---------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------

MAX_FILE_SIZE = config.getint(
    'hitech_import', 'max_file_size', default=10 * 1024 * 1024)
MAX_ROWS = config.getint('hitech_import', 'max_rows', default=200_000)
# Write the validated rows with SQL (see FastWriter)
FAST_PATH = config.getboolean('hitech_import', 'fast_path', default=True)
MAX_NAME = 200
MAX_TEXT = 500
MAX_EMAIL = 254
EXCERPT = 80
DEFAULT_REGION = 'CN'
# Tried in this order; utf-8-sig also reads plain UTF-8
ENCODINGS = ('utf-8-sig', 'gb18030', 'big5')
# Cells starting with one of these are evaluated by spreadsheets
FORMULA_PREFIXES = ('=', '+', '-', '@', '\t', '\r')
EMAIL_RE = re.compile(r'^[^@\s"<>(),;:\\\[\]]+@[^@\s"<>(),;:\\\[\]]+\.[^@\s]+$')
PHONE_CHARS_RE = re.compile(r'^\+?[\d\s().\-/]+(?:\s*(?:ext\.?|x|#|转)\s*\d+)?$',
    re.IGNORECASE)

ACCOUNT_FIELDS = [
    'name', 'code', 'tax_identifier', 'phone', 'mobile', 'email', 'website',
    'street', 'city', 'postal_code', 'country_code']
CONTACT_FIELDS = [
    'account', 'contact_name', 'role', 'title', 'phone', 'mobile', 'email']
TARGET_FIELDS = {
    'accounts': ACCOUNT_FIELDS,
    'contacts': CONTACT_FIELDS,
    }
REQUIRED_FIELDS = {
    'accounts': {'name'},
    'contacts': {'account', 'contact_name'},
    }
PHONE_FIELDS = {'phone', 'mobile'}
FIELD_STRINGS = [
    ('name', "Name"),
    ('code', "Customer Code"),
    ('tax_identifier', "Tax Identifier"),
    ('phone', "Phone"),
    ('mobile', "Mobile"),
    ('email', "Email"),
    ('website', "Website"),
    ('street', "Street"),
    ('city', "City"),
    ('postal_code', "Postal Code"),
    ('country_code', "Country Code"),
    ('account', "Account (code or name)"),
    ('contact_name', "Contact Name"),
    ('role', "Role"),
    ('title', "Title"),
    ]

# Normalised header (see header_key) -> field, per target
_COMMON_ALIASES = {
    'phone': ['phone', 'telephone', 'tel', 'phonenumber', 'officephone',
        '电话', '联系电话', '座机', '固定电话', '办公电话', '電話', '聯絡電話'],
    'mobile': ['mobile', 'mobilephone', 'cell', 'cellphone', '手机',
        '手机号', '手机号码', '移动电话', '手機', '行動電話'],
    'email': ['email', 'mail', 'emailaddress', '邮箱', '电子邮箱', '电子邮件',
        '邮件', '郵箱', '電子郵件', '電郵'],
    }
_ACCOUNT_ALIASES = {
    'name': ['name', 'company', 'companyname', 'account', 'accountname',
        'customer', 'customername', 'organisation', 'organization',
        '名称', '公司名称', '公司', '客户名称', '客户', '单位名称', '企业名称',
        '名稱', '公司名稱', '客戶名稱'],
    'code': ['code', 'customercode', 'accountcode', 'customerno',
        'customernumber', '客户编码', '客户编号', '客户代码', '编码', '编号',
        '客戶編號', '客戶代碼'],
    'tax_identifier': ['taxid', 'taxidentifier', 'taxnumber', 'vat',
        'vatnumber', 'uscc', '税号', '纳税人识别号', '统一社会信用代码',
        '稅號', '統一編號'],
    'website': ['website', 'web', 'url', 'homepage', '网站', '网址', '官网',
        '網站', '網址'],
    'street': ['street', 'address', 'streetaddress', '地址', '详细地址',
        '街道', '公司地址', '詳細地址'],
    'city': ['city', 'town', '城市', '市', '所在城市'],
    'postal_code': ['postalcode', 'postcode', 'zip', 'zipcode', '邮编',
        '邮政编码', '郵遞區號', '郵編'],
    'country_code': ['country', 'countrycode', '国家', '国家代码', '國家'],
    }
_CONTACT_ALIASES = {
    'account': ['account', 'accountcode', 'accountname', 'company',
        'companyname', 'customer', 'customercode', '公司', '公司名称', '客户',
        '客户名称', '客户编码', '所属公司', '所属客户', '公司名稱', '客戶'],
    'contact_name': ['contactname', 'contact', 'name', 'fullname',
        'person', '联系人', '姓名', '联系人姓名', '聯絡人'],
    'role': ['role', 'contactrole', '角色', '职能'],
    'title': ['title', 'jobtitle', 'position', '职位', '职务', '头衔',
        '職位', '職稱'],
    }


def _build_aliases(specific):
    result = {}
    for field, names in list(specific.items()) + list(_COMMON_ALIASES.items()):
        for name in names:
            result.setdefault(header_key(name), field)
    return result


def header_key(header):
    "Normalise a column header for matching"
    text = unicodedata.normalize('NFKC', str(header or '')).casefold()
    return re.sub(r'[\s_\-.:*()（）：#/]+', '', text)


HEADER_ALIASES = {}  # filled below, header_key must exist first

Issue = namedtuple('Issue', ['field', 'value', 'msg_id', 'params', 'level'])
Table = namedtuple('Table', ['format', 'encoding', 'header', 'rows'])


class ImportFileError(Exception):
    "A file that can not be read at all, with a message id"

    def __init__(self, msg_id, **params):
        super().__init__(msg_id)
        self.msg_id = msg_id
        self.params = params


def excerpt(value, length=EXCERPT):
    value = '' if value is None else str(value)
    value = value.replace('\r', ' ').replace('\n', ' ').replace('\t', ' ')
    if len(value) > length:
        value = value[:length - 1] + '…'
    return value


def normalise_text(value):
    "casefold + NFKC + whitespace collapse"
    if not value:
        return ''
    value = unicodedata.normalize('NFKC', value).casefold()
    return ' '.join(value.split())


def detect_format(data, filename=None):
    "Return 'csv' or 'xlsx' or raise ImportFileError"
    if not data:
        raise ImportFileError('msg_import_file_empty')
    if data[:4] == b'PK\x03\x04':
        return 'xlsx'
    if data[:8] == b'\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1':
        raise ImportFileError('msg_import_format_xls')
    name = (filename or '').lower()
    if name.endswith(('.xlsx', '.xlsm')):
        raise ImportFileError('msg_import_xlsx_invalid')
    if b'\x00' in data[:65536]:
        raise ImportFileError('msg_import_format_binary')
    return 'csv'


def _chinese_score(text):
    "Share of CJK characters that belong to the common simplified set"
    total = common = 0
    for char in islice((c for c in text if ord(c) > 0x2e7f), 2000):
        total += 1
        try:
            char.encode('gb2312')
        except UnicodeEncodeError:
            continue
        if not ('\u3040' <= char <= '\u30ff'):  # kana: a Big5 misreading
            common += 1
    return common / total if total else 1.0


def decode_text(data):
    "Return (text, encoding) trying ENCODINGS in order"
    candidates = []
    for encoding in ENCODINGS:
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            continue
        if encoding == 'utf-8-sig':
            encoding = 'utf-8-sig' if data[:3] == b'\xef\xbb\xbf' else 'utf-8'
            return text, encoding
        candidates.append((text, encoding))
    if not candidates:
        raise ImportFileError('msg_import_encoding_unknown',
            encodings=', '.join(['utf-8', 'gb18030', 'big5']))
    text, encoding = candidates[0]
    # Big5 bytes nearly always decode as GB18030 too, as kana and rare
    # characters: prefer Big5 when GB18030 gives such a reading.
    if (len(candidates) > 1 and candidates[1][1] == 'big5'
            and _chinese_score(text) < 0.9):
        text, encoding = candidates[1]
    if '\x00' in text or sum(
            1 for c in text[:4096]
            if unicodedata.category(c) == 'Cc' and c not in '\r\n\t'
            ) > 8:
        raise ImportFileError('msg_import_format_binary')
    return text, encoding


def read_csv(data, max_rows=MAX_ROWS):
    text, encoding = decode_text(data)
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=',;\t|')
    except csv.Error:
        dialect = csv.excel
    try:
        reader = csv.reader(io.StringIO(text, newline=''), dialect)
        header = next(reader, None)
        rows = []
        for row in reader:
            if len(rows) >= max_rows:
                raise ImportFileError('msg_import_too_many_rows',
                    limit=max_rows)
            rows.append(row)
    except csv.Error as exception:
        raise ImportFileError('msg_import_csv_invalid',
            error=excerpt(str(exception), 120))
    if not header or not any((h or '').strip() for h in header):
        raise ImportFileError('msg_import_no_header')
    return Table('csv', encoding, [(h or '').strip() for h in header], rows)


def cell_text(value):
    "Text of a spreadsheet cell as the user sees it"
    if value is None:
        return ''
    if isinstance(value, bool):
        return 'TRUE' if value else 'FALSE'
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, 'isoformat'):
        return value.isoformat()
    return str(value)


def read_xlsx(data, max_rows=MAX_ROWS):
    import openpyxl
    try:
        # read-only streams the sheet; formulas are read as their text
        # (data_only=False) so that they are reported, never computed
        workbook = openpyxl.load_workbook(
            io.BytesIO(data), read_only=True, data_only=False)
    except Exception:
        raise ImportFileError('msg_import_xlsx_invalid')
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None:
            raise ImportFileError('msg_import_no_header')
        rows = []
        header = None
        for values in sheet.iter_rows(values_only=True):
            row = [cell_text(v) for v in values]
            if header is None:
                if not any(c.strip() for c in row):
                    continue
                header = [c.strip() for c in row]
                continue
            if len(rows) >= max_rows:
                raise ImportFileError('msg_import_too_many_rows',
                    limit=max_rows)
            rows.append(row)
    except ImportFileError:
        raise
    except Exception:
        raise ImportFileError('msg_import_xlsx_invalid')
    finally:
        workbook.close()
    if not header:
        raise ImportFileError('msg_import_no_header')
    return Table('xlsx', None, header, rows)


def read_table(data, filename=None, max_size=MAX_FILE_SIZE,
        max_rows=MAX_ROWS):
    "Read a CSV or XLSX file into a Table or raise ImportFileError"
    if data is None:
        raise ImportFileError('msg_import_file_empty')
    data = bytes(data)
    if len(data) > max_size:
        raise ImportFileError('msg_import_file_too_big',
            size=len(data) // 1024, limit=max_size // 1024)
    format_ = detect_format(data, filename)
    if format_ == 'xlsx':
        table = read_xlsx(data, max_rows=max_rows)
    else:
        table = read_csv(data, max_rows=max_rows)
    # trailing empty rows
    rows = table.rows
    while rows and not any((c or '').strip() for c in rows[-1]):
        rows.pop()
    return table


def propose_mapping(header, target):
    "Return {column index: field} proposed from the header names"
    aliases = HEADER_ALIASES[target]
    result, used = {}, set()
    for index, name in enumerate(header):
        field = aliases.get(header_key(name))
        if field and field not in used:
            result[index] = field
            used.add(field)
    return result


def missing_required(mapping, target):
    return sorted(REQUIRED_FIELDS[target] - set(mapping.values()))


def is_formula(value, field=None):
    "Whether a spreadsheet would evaluate the text"
    if not value or value[0] not in FORMULA_PREFIXES:
        return False
    if field in PHONE_FIELDS and value[0] in '+-' and PHONE_CHARS_RE.match(
            value):
        return False
    return True


def parse_phone(value, region=DEFAULT_REGION):
    "Return (international, e164) or None when the number is not valid"
    if phonenumbers is None:  # pragma: no cover
        return value, value
    try:
        number = phonenumbers.parse(value, region or None)
    except NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return (
        phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
        phonenumbers.format_number(number, PhoneNumberFormat.E164))


def check_email(value):
    "Return the normalised email or None"
    if len(value) > MAX_EMAIL or not EMAIL_RE.match(value):
        return None
    try:
        validate_email(value)
    except EmailNotValidError:
        return None
    return normalize_email(value)


def clean_row(raw, target, region=DEFAULT_REGION, formula='reject'):
    """Validate and normalise one row.

    raw is {field: text}; return (values, issues) where values holds the
    normalised values and, for phones, (international, e164) tuples.
    A row with an issue of level 'error' must not be imported."""
    values, issues = {}, []
    for field in TARGET_FIELDS[target]:
        value = raw.get(field)
        value = (value or '').strip() if isinstance(value, str) else (
            cell_text(value).strip())
        if not value:
            if field in REQUIRED_FIELDS[target]:
                issues.append(Issue(field, '', 'msg_import_value_required',
                        {}, 'error'))
            continue
        if is_formula(value, field):
            if formula == 'reject':
                issues.append(Issue(field, value, 'msg_import_formula',
                        {}, 'error'))
                continue
            issues.append(Issue(field, value, 'msg_import_formula_kept',
                    {}, 'warning'))
        # no tab or line break in one-line fields (Tryton refuses them)
        if field == 'street':
            value = value.replace('\t', ' ')
        else:
            value = ' '.join(value.split())
        if field in {'name', 'contact_name', 'account'}:
            if len(value) > MAX_NAME:
                issues.append(Issue(field, value, 'msg_import_name_too_long',
                        {'length': len(value), 'limit': MAX_NAME}, 'error'))
                continue
        elif len(value) > MAX_TEXT:
            issues.append(Issue(field, value, 'msg_import_value_too_long',
                    {'length': len(value), 'limit': MAX_TEXT}, 'error'))
            continue
        if field in PHONE_FIELDS:
            parsed = parse_phone(value, region)
            if not parsed:
                issues.append(Issue(field, value, 'msg_import_phone_invalid',
                        {'region': region or '-'}, 'error'))
                continue
            value = parsed
        elif field == 'email':
            email = check_email(value)
            if not email:
                issues.append(Issue(field, value, 'msg_import_email_invalid',
                        {}, 'error'))
                continue
            value = email
        elif field == 'country_code':
            if not re.fullmatch(r'[A-Za-z]{2}', value):
                issues.append(Issue(field, value,
                        'msg_import_country_invalid', {}, 'error'))
                continue
            value = value.upper()
        values[field] = value
    return values, issues


def row_keys(values):
    "Exact dedup keys of a cleaned row"
    keys = []
    name = values.get('name') or values.get('contact_name')
    if name:
        keys.append(('name', normalise_text(name)))
    for field in PHONE_FIELDS:
        if values.get(field):
            keys.append(('phone', values[field][1]))
    if values.get('email'):
        keys.append(('email', values['email'].casefold()))
    return keys


def escape_cell(value):
    "Text safe to write in a spreadsheet cell: never a formula"
    if isinstance(value, str) and value and value[0] in FORMULA_PREFIXES:
        return "'" + value
    return value


for _target, _specific in [
        ('accounts', _ACCOUNT_ALIASES), ('contacts', _CONTACT_ALIASES)]:
    HEADER_ALIASES[_target] = _build_aliases(_specific)

# Set while the importer creates new records: their multi-values are
# created in bulk (see _BulkMultiValueMixin)
_bulk_multivalues = ContextVar('hitech_import_bulk_mv', default=False)

# Contact mechanism values the importer has validated and formatted itself
# in this context: (type, value) -> value_compact.  A context variable, not
# a transaction context key, so that no client can set it.
_trusted_mechanisms = ContextVar('hitech_import_trusted', default=None)


# ---------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------

class _BulkMultiValueMixin:
    """Create the multi-value records (language, payment terms, ...) of
    records the importer just created with one create per field instead of
    one lookup and one save per record, with the values stock computes."""
    __slots__ = ()

    @classmethod
    def _multivalue_setter(cls, records, name, val):
        if not _bulk_multivalues.get() or len(records) < 2:
            return super()._multivalue_setter(records, name, val)
        Value = cls.multivalue_model(name)
        parents = [n for n, f in Value._fields.items()
            if getattr(f, 'model_name', None) == cls.__name__
            and f._type == 'many2one']
        template = records[0].set_multivalue(name, val, save=False)
        if len(parents) != 1 or len(template) != 1:
            return super()._multivalue_setter(records, name, val)
        parent, = parents
        ids = [r.id for r in records]
        with without_check_access():
            existing = Value.search([(parent, 'in', ids)])
        if not existing:
            data = template[0]._save_values()
            Value.create([dict(data, **{parent: i}) for i in ids])
        elif (len(existing) == len(ids)
                and {getattr(v, parent).id for v in existing} == set(ids)
                and template[0].id is not None and template[0].id >= 0):
            # the value record another field of the same model created
            # just before, one per record
            if isinstance(val, (list, tuple)):
                return super()._multivalue_setter(records, name, val)
            Value.write(existing, {name: val})
        else:
            return super()._multivalue_setter(records, name, val)


class Party(_BulkMultiValueMixin, metaclass=PoolMeta):
    __name__ = 'party.party'


class ContactMechanism(_BulkMultiValueMixin, metaclass=PoolMeta):
    __name__ = 'party.contact_mechanism'

    # The importer parses, validates and formats every phone and email
    # once, set-based, before it creates the mechanisms: skip the second
    # parse (which also reads the party's addresses for each record) for
    # exactly the values it vouches for.

    @fields.depends(methods=['_parse_phonenumber'])
    def format_value(self, value=None, type_=None):
        trusted = _trusted_mechanisms.get()
        if trusted and (type_, value) in trusted:
            return value
        return super().format_value(value=value, type_=type_)

    @fields.depends(methods=['_parse_phonenumber'])
    def format_value_compact(self, value=None, type_=None):
        trusted = _trusted_mechanisms.get()
        if trusted and (type_, value) in trusted:
            return trusted[(type_, value)]
        return super().format_value_compact(value=value, type_=type_)

    @classmethod
    def _untrusted(cls, mechanisms):
        trusted = _trusted_mechanisms.get()
        if not trusted:
            return mechanisms
        return [m for m in mechanisms if (m.type, m.value) not in trusted]

    @classmethod
    def check_valid_phonenumber(cls, mechanisms, field_names=None):
        super().check_valid_phonenumber(
            cls._untrusted(mechanisms), field_names=field_names)

    @classmethod
    def check_valid_email(cls, mechanisms, field_names=None):
        super().check_valid_email(
            cls._untrusted(mechanisms), field_names=field_names)


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def _hitech_rule_models(cls):
        return super()._hitech_rule_models() | {
            'hitech.import.job', 'hitech.import.job.mapping',
            'hitech.import.job.error'}


_DRAFT = {'readonly': Eval('state') != 'draft'}


class ImportJob(Workflow, ModelSQL, ModelView):
    "Import Job"
    __name__ = 'hitech.import.job'

    file = fields.Binary("File", filename='filename', required=True,
        states=_DRAFT,
        help="A CSV file (UTF-8, GB18030/GBK or Big5) or an Excel XLSX "
        "file with the column names on the first line.")
    filename = fields.Char("File Name", states=_DRAFT)
    format = fields.Selection([
            (None, ""),
            ('csv', "CSV"),
            ('xlsx', "Excel (XLSX)"),
            ], "Format", readonly=True)
    encoding = fields.Char("Encoding", readonly=True,
        help="The text encoding detected in the CSV file.")
    target = fields.Selection([
            ('accounts', "Accounts"),
            ('contacts', "Contacts"),
            ], "Import", required=True, states=_DRAFT,
        help="Accounts create parties; contacts add named phones and "
        "emails to existing accounts.")
    mappings = fields.One2Many('hitech.import.job.mapping', 'job',
        "Column Mapping", states=_DRAFT,
        help="Which column fills which field; proposed from the column "
        "names when the file is validated.")
    batch_size = fields.Integer("Batch Size", required=True, states=_DRAFT,
        domain=[('batch_size', '>', 0), ('batch_size', '<=', 10000)],
        help="Rows created together.")
    commit_mode = fields.Selection([
            ('file', "All or nothing"),
            ('batch', "Per batch"),
            ], "Commit", required=True, states=_DRAFT,
        help="All or nothing: the whole file in one transaction.\n"
        "Per batch: each batch is saved on its own and a failed import "
        "resumes after the last saved row.")
    on_duplicate = fields.Selection([
            ('skip', "Skip"),
            ('link', "Link"),
            ], "Duplicates", required=True, states=_DRAFT,
        help="Skip: rows matching an existing account are reported and "
        "not imported.\nLink: their new phones and emails are added to the "
        "existing account.")
    formula = fields.Selection([
            ('reject', "Reject the row"),
            ('text', "Keep as plain text"),
            ], "Formula Cells", required=True, states=_DRAFT,
        help="Cells starting with =, +, -, @ are formulas for spreadsheets. "
        "They are never evaluated; keep them as text with a warning or "
        "reject the row.")
    skip_invalid = fields.Boolean("Skip Invalid Rows", states=_DRAFT,
        help="Import the valid rows even if others have errors.")
    phone_region = fields.Char("Phone Region", size=2, states=_DRAFT,
        help="Country code used for phone numbers written without "
        "international prefix.")
    rows_total = fields.Integer("Rows", readonly=True)
    rows_done = fields.Integer("Rows Done", readonly=True)
    last_row = fields.Integer("Last Saved Row", readonly=True,
        help="The import resumes after this row.")
    progress = fields.Function(fields.Float("Progress", digits=(3, 0)),
        'get_progress')
    created_count = fields.Integer("Created", readonly=True)
    linked_count = fields.Integer("Linked", readonly=True)
    duplicate_count = fields.Integer("Duplicates", readonly=True)
    error_count = fields.Integer("Errors", readonly=True)
    warning_count = fields.Integer("Warnings", readonly=True)
    errors = fields.One2Many('hitech.import.job.error', 'job', "Report",
        readonly=True)
    message = fields.Text("Message", readonly=True)
    state = fields.Selection([
            ('draft', "Draft"),
            ('validated', "Validated"),
            ('running', "Running"),
            ('done', "Done"),
            ('failed', "Failed"),
            ('cancelled', "Cancelled"),
            ], "State", readonly=True, required=True, sort=False)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('create_date', 'DESC'))
        cls._transitions |= {
            ('draft', 'validated'),
            ('validated', 'draft'),
            ('validated', 'running'),
            ('failed', 'running'),
            ('running', 'done'),
            ('running', 'failed'),
            ('draft', 'cancelled'),
            ('validated', 'cancelled'),
            ('failed', 'cancelled'),
            ('failed', 'draft'),
            ('cancelled', 'draft'),
            }
        cls._buttons.update({
                'propose': {
                    'invisible': Eval('state') != 'draft',
                    'depends': ['state'],
                    },
                'validate_file': {
                    'invisible': Eval('state') != 'draft',
                    'depends': ['state'],
                    },
                'draft': {
                    'invisible': ~Eval('state').in_(
                        ['validated', 'failed', 'cancelled']),
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': ~Eval('state').in_(
                        ['draft', 'validated', 'failed']),
                    'depends': ['state'],
                    },
                'import_': {
                    'invisible': ~Eval('state').in_(['validated', 'failed']),
                    'icon': If(Eval('state') == 'failed',
                        'tryton-refresh', 'tryton-forward'),
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_state(cls):
        return 'draft'

    @classmethod
    def default_target(cls):
        return 'accounts'

    @classmethod
    def default_batch_size(cls):
        return 1000

    @classmethod
    def default_commit_mode(cls):
        return 'file'

    @classmethod
    def default_on_duplicate(cls):
        return 'skip'

    @classmethod
    def default_formula(cls):
        return 'reject'

    @classmethod
    def default_skip_invalid(cls):
        return False

    @classmethod
    def default_phone_region(cls):
        return DEFAULT_REGION

    def get_rec_name(self, name):
        return self.filename or str(self.id)

    @classmethod
    def get_progress(cls, jobs, name):
        pool = Pool()
        Progress = pool.get('hitech.import.job.progress')
        progress = Progress.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        live = {}
        running = [j.id for j in jobs if j.state == 'running']
        for sub_ids in grouped_slice(running, backend.MAX_QUERY_PARAMS):
            cursor.execute(*progress.select(
                    progress.job, progress.rows_done, progress.rows_total,
                    where=reduce_ids(progress.job, list(sub_ids))))
            for job_id, done, total in cursor:
                live[job_id] = (done or 0, total or 0)
        database = transaction.database.name
        result = {}
        for job in jobs:
            done, total = job.rows_done or 0, job.rows_total or 0
            if job.state == 'running':
                for other in [live.get(job.id),
                        _LIVE_PROGRESS.get((database, job.id))]:
                    if other and other[1]:
                        done, total = max(done, other[0]), other[1]
            result[job.id] = 100.0 * done / total if total else 0.0
        return result

    @classmethod
    def copy(cls, jobs, default=None):
        default = default.copy() if default is not None else {}
        for name in ['errors', 'rows_total', 'rows_done', 'last_row',
                'created_count', 'linked_count', 'duplicate_count',
                'error_count', 'warning_count', 'message', 'format',
                'encoding']:
            default.setdefault(name, None)
        return super().copy(jobs, default=default)

    # Reading

    def read_file(self):
        "Return the Table of the file or raise a translated ImportJobError"
        try:
            return read_table(self.file, self.filename)
        except ImportFileError as exception:
            raise ImportJobError(gettext(
                    'hitech_crm_base.' + exception.msg_id,
                    **exception.params)) from exception

    def mapping_dict(self, table):
        "Return {column index: field} from the mapping lines"
        allowed = set(TARGET_FIELDS[self.target])
        result = {}
        by_name = {header_key(h): i for i, h in enumerate(table.header)}
        for line in self.mappings:
            if not line.field:
                continue
            index = by_name.get(header_key(line.column))
            if index is None:
                raise ImportJobError(gettext(
                        'hitech_crm_base.msg_import_column_missing',
                        column=excerpt(line.column, 60)))
            if line.field not in allowed:
                raise ImportJobError(gettext(
                        'hitech_crm_base.msg_import_field_target',
                        column=excerpt(line.column, 60)))
            result[index] = line.field
        missing = missing_required(result, self.target)
        if missing:
            strings = dict(FIELD_STRINGS)
            raise ImportJobError(gettext(
                    'hitech_crm_base.msg_import_required_columns',
                    fields=', '.join(strings[f] for f in missing)))
        return result

    @classmethod
    def _propose(cls, jobs):
        pool = Pool()
        Mapping = pool.get('hitech.import.job.mapping')
        to_delete, to_create = [], []
        for job in jobs:
            table = job.read_file()
            proposal = propose_mapping(table.header, job.target)
            to_delete.extend(job.mappings)
            to_create.extend({
                    'job': job.id,
                    'sequence': index,
                    'column': excerpt(name, 200) or str(index + 1),
                    'field': proposal.get(index),
                    } for index, name in enumerate(table.header))
        Mapping.delete(to_delete)
        Mapping.create(to_create)

    @classmethod
    @ModelView.button
    def propose(cls, jobs):
        cls._propose(jobs)

    @classmethod
    @ModelView.button
    def validate_file(cls, jobs):
        "Check the whole file and report the rows in error; write nothing"
        pool = Pool()
        Error = pool.get('hitech.import.job.error')
        Error.delete([e for j in jobs for e in j.errors])
        to_validate = []
        for job in jobs:
            if job.state != 'draft':
                continue
            if not job.mappings:
                cls._propose([job])
                job = cls(job.id)
            table = job.read_file()
            mapping = job.mapping_dict(table)
            lines, errors, warnings = [], 0, 0
            seen_error_rows = set()
            for number, row in enumerate(table.rows, 2):
                raw = {f: (row[i] if i < len(row) else '')
                    for i, f in mapping.items()}
                _, issues = clean_row(raw, job.target,
                    region=job.phone_region, formula=job.formula)
                for issue in issues:
                    lines.append(job._issue_line(number, issue))
                    if issue.level == 'error':
                        seen_error_rows.add(number)
                    else:
                        warnings += 1
            errors = len(seen_error_rows)
            Error.create(lines)
            values = {
                'format': table.format,
                'encoding': table.encoding,
                'rows_total': len(table.rows),
                'rows_done': 0,
                'last_row': 0,
                'error_count': errors,
                'warning_count': warnings,
                'created_count': 0,
                'linked_count': 0,
                'duplicate_count': 0,
                }
            if errors and not job.skip_invalid:
                values['message'] = gettext(
                    'hitech_crm_base.msg_import_rows_invalid',
                    errors=errors, rows=len(table.rows))
            else:
                values['message'] = None
                to_validate.append(job)
            cls.write([job], values)
        cls.validated(to_validate)

    @classmethod
    @Workflow.transition('validated')
    def validated(cls, jobs):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, jobs):
        cls.write(jobs, {'last_row': 0, 'rows_done': 0, 'message': None})

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, jobs):
        pass

    @classmethod
    @ModelView.button
    @Workflow.transition('running')
    def import_(cls, jobs):
        pool = Pool()
        Progress = pool.get('hitech.import.job.progress')
        cls.write(jobs, {'message': None})
        # The row the import updates from its own short transactions; it
        # exists before the import starts, so that those only update it
        with without_check_access():
            Progress.delete(Progress.search([('job', 'in', [
                                j.id for j in jobs])]))
            Progress.create([{
                        'job': j.id,
                        'rows_done': (j.last_row or 0)
                        if j.commit_mode == 'batch' else 0,
                        'rows_total': j.rows_total,
                        } for j in jobs])
        cls.__queue__.run_import(jobs)

    @classmethod
    @Workflow.transition('done')
    def done(cls, jobs):
        pass

    @classmethod
    @Workflow.transition('failed')
    def fail(cls, jobs):
        pass

    def _issue_line(self, number, issue, party=None):
        strings = dict(FIELD_STRINGS)
        return {
            'job': self.id,
            'row': number,
            'column': strings.get(issue.field, issue.field),
            'value': excerpt(issue.value),
            'level': issue.level,
            'message': gettext(
                'hitech_crm_base.' + issue.msg_id, **issue.params),
            'party': party,
            }

    # Running

    @classmethod
    def run_import(cls, jobs):
        "Run the imports (queue task, as the user who started them)"
        for job in jobs:
            job = cls(job.id)
            if job.state != 'running':
                continue
            job._run()

    def _run(self):
        transaction = Transaction()
        cls = self.__class__
        job_id = self.id
        try:
            self._run_rows()
        except Exception as exception:
            transaction.rollback()
            if isinstance(exception, (ImportJobError,)) or hasattr(
                    exception, 'message') and isinstance(
                    getattr(exception, 'message', None), str):
                message = exception.message
            else:
                logger.exception("import job %s failed", job_id)
                message = gettext('hitech_crm_base.msg_import_failed')
            job = cls(job_id)
            cls.write([job], {'message': message})
            cls.fail([job])
            if job.commit_mode == 'batch':
                transaction.commit()

    def publish_progress(self, done, total):
        """Show the progress to every session while the import runs.

        All or nothing, the import's own writes are invisible until it
        ends, so the rows done go to the job's progress record from a
        separate short transaction (never to the job row, which this
        transaction writes at the end: repeatable read would refuse
        it).  SQLite has a single writer, locked by the import: there the
        progress is kept in memory, visible to the sessions of this
        server process."""
        pool = Pool()
        Progress = pool.get('hitech.import.job.progress')
        transaction = Transaction()
        _LIVE_PROGRESS[(transaction.database.name, self.id)] = (done, total)
        if backend.name != 'postgresql':
            return
        progress = Progress.__table__()
        try:
            with transaction.new_transaction() as other:
                other.connection.cursor().execute(*progress.update(
                        [progress.rows_done, progress.rows_total],
                        [done, total],
                        where=progress.job == self.id))
                other.commit()
        except backend.DatabaseOperationalError:
            # progress is informative: never fail the import for it
            logger.debug("progress of import job %s not written", self.id,
                exc_info=True)

    def _run_rows(self):
        pool = Pool()
        Error = pool.get('hitech.import.job.error')
        cls = self.__class__
        transaction = Transaction()
        table = self.read_file()
        mapping = self.mapping_dict(table)
        rows = table.rows
        batch_mode = self.commit_mode == 'batch'
        start = (self.last_row or 0) if batch_mode else 0
        counts = {
            'created_count': self.created_count or 0 if start else 0,
            'linked_count': self.linked_count or 0 if start else 0,
            'duplicate_count': self.duplicate_count or 0 if start else 0,
            'error_count': self.error_count or 0,
            }
        if not start:
            Error.delete(Error.search([
                        ('job', '=', self.id),
                        ('level', '=', 'duplicate'),
                        ]))
        importer = Importer(self, mapping)
        if start:
            # the rows already saved are part of the in-file dedup
            importer.remember(rows[:start], 2)
        size = self.batch_size or 1000
        for begin in range(start, len(rows), size):
            importer.refresh_statistics()
            result = importer.process(rows[begin:begin + size], begin + 2)
            Error.create(result.lines)
            for key in counts:
                counts[key] += result.counts.get(key, 0)
            values = dict(counts,
                rows_total=len(rows),
                rows_done=min(begin + size, len(rows)),
                last_row=min(begin + size, len(rows)))
            if batch_mode:
                cls.write([self], values)
                transaction.commit()
            self.publish_progress(values['rows_done'], len(rows))
        cls.write([self], dict(counts,
                rows_total=len(rows), rows_done=len(rows),
                last_row=len(rows)))
        cls.done([self])
        _LIVE_PROGRESS.pop((transaction.database.name, self.id), None)


CREATE_CHUNK = 100
# the tables an import of accounts grows, whose statistics the plans of
# the duplicate lookups depend on
ANALYZE_MODELS = [
    'party.party', 'hitech.party.dedup.key', 'party.contact_mechanism',
    'party.address', 'party.identifier']
# ANALYZE again when the parties have grown by this factor (and by at
# least ANALYZE_MIN_ROWS) since the statistics were last taken
ANALYZE_GROWTH = 1.5
ANALYZE_MIN_ROWS = 1000
BatchResult = namedtuple('BatchResult', ['lines', 'counts'])


class Importer:
    "Set-based creation of one job's rows, batch after batch"

    def __init__(self, job, mapping):
        pool = Pool()
        self.job = job
        self.mapping = mapping
        self.Party = pool.get('party.party')
        self.seen = {}  # in-file keys -> row number
        self._base = None
        self._countries = None
        self.use_finder = hasattr(self.Party, 'find_duplicates')
        self.writer = None
        self._analyzed_size = None
        if self.fast_path:
            try:
                self.writer = FastWriter()
            except FastPathUnavailable as exception:
                logger.info("import job %s through the ORM: %s",
                    job.id, exception)

    # Class attribute, so that tests can compare both paths
    fast_path = FAST_PATH

    def refresh_statistics(self):
        """ANALYZE the tables the import grows when the parties grew by
        ANALYZE_GROWTH since their statistics were taken (PostgreSQL).

        Autovacuum analyses a table at most once a minute and never sees
        the rows of an all-or-nothing import: the plans of the duplicate
        lookup of each chunk were made for the size of the table before
        the import (an empty database at the first import), and chose
        scans that grow with the table."""
        if backend.name != 'postgresql':
            return
        party = self.Party.__table__()
        cursor = Transaction().connection.cursor()
        # the rows of this transaction count (ANALYZE counts them too)
        cursor.execute(*party.select(Count(party.id)))
        size, = cursor.fetchone()
        if self._analyzed_size is None:
            cursor.execute(
                'SELECT reltuples FROM pg_class WHERE oid = %s::regclass',
                (self.Party._table,))
            row = cursor.fetchone()
            self._analyzed_size = max(row[0], 0) if row else 0
        if (size - self._analyzed_size < ANALYZE_MIN_ROWS
                or size < self._analyzed_size * ANALYZE_GROWTH):
            return
        pool = Pool()
        for name in ANALYZE_MODELS:
            try:
                Model = pool.get(name)
            except KeyError:
                continue
            cursor.execute('ANALYZE "%s"' % Model._table)
        self._analyzed_size = size

    # keys of the base, loaded once

    def base_keys(self):
        "{key: party id} of the active parties, loaded once in bulk"
        if self._base is not None:
            return self._base
        pool = Pool()
        Mechanism = pool.get('party.contact_mechanism')
        party = self.Party.__table__()
        mechanism = Mechanism.__table__()
        cursor = Transaction().connection.cursor()
        base = {}
        cursor.execute(*party.select(party.id, party.name, party.code,
                where=party.active == True))  # noqa: E712
        for party_id, name, code in cursor:
            if name:
                base.setdefault(('name', normalise_text(name)), party_id)
            if code:
                base.setdefault(('code', code), party_id)
        cursor.execute(*mechanism.select(
                mechanism.party, mechanism.type, mechanism.value,
                mechanism.value_compact,
                where=(mechanism.active == True)  # noqa: E712
                & mechanism.type.in_(['phone', 'mobile', 'email'])))
        for party_id, type_, value, compact in cursor:
            if type_ == 'email':
                key = ('email', (value or '').casefold())
            else:
                key = ('phone', compact or value)
            base.setdefault(key, party_id)
        self._base = base
        return base

    def countries(self):
        if self._countries is None:
            pool = Pool()
            Country = pool.get('country.country')
            country = Country.__table__()
            cursor = Transaction().connection.cursor()
            cursor.execute(*country.select(country.id, country.code))
            self._countries = {c: i for i, c in cursor if c}
        return self._countries

    def clean(self, rows, first_number):
        job = self.job
        for number, row in enumerate(rows, first_number):
            raw = {f: (row[i] if i < len(row) else '')
                for i, f in self.mapping.items()}
            values, issues = clean_row(raw, job.target,
                region=job.phone_region, formula=job.formula)
            yield number, values, issues

    def remember(self, rows, first_number):
        for number, values, issues in self.clean(rows, first_number):
            if not any(i.level == 'error' for i in issues):
                for key in self._file_keys(values):
                    self.seen.setdefault(key, number)

    def _file_keys(self, values):
        if self.job.target == 'contacts':
            account = normalise_text(values.get('account'))
            return [(account,) + k for k in row_keys(values)
                if k[0] != 'name'] or [
                (account, 'name', normalise_text(values.get('contact_name')))]
        keys = row_keys(values)
        if values.get('code'):
            keys.append(('code', values['code']))
        return keys

    def process(self, rows, first_number):
        lines = []
        counts = defaultdict(int)
        job = self.job
        good = []
        for number, values, issues in self.clean(rows, first_number):
            # validation reported the issues already
            if any(i.level == 'error' for i in issues):
                continue
            keys = self._file_keys(values)
            first = next((self.seen[k] for k in keys if k in self.seen),
                None)
            if first is not None:
                counts['duplicate_count'] += 1
                lines.append(job._issue_line(number, Issue(
                            None, values.get('name')
                            or values.get('contact_name'),
                            'msg_import_duplicate_row', {'row': first},
                            'duplicate')))
                continue
            for key in keys:
                self.seen[key] = number
            good.append((number, values))
        if job.target == 'accounts':
            # Creates of CREATE_CHUNK records: ModelStorage checks the ids of
            # a browse list for each of its records, so the ORM cost grows
            # with the square of the list length.
            for i in range(0, len(good), CREATE_CHUNK):
                self._process_accounts(
                    good[i:i + CREATE_CHUNK], lines, counts)
        else:
            self._process_contacts(good, lines, counts)
        return BatchResult(lines, counts)

    # accounts

    def _find_existing(self, good):
        "Return {row number: existing party id}"
        result = {}
        if self.use_finder:
            probes = []
            for number, values in good:
                probe = {'name': values['name']}
                for field in ['phone', 'mobile']:
                    if values.get(field):
                        probe[field] = values[field][0]
                if values.get('email'):
                    probe['email'] = values['email']
                if values.get('tax_identifier'):
                    probe['identifiers'] = [values['tax_identifier']]
                probes.append(probe)
            found = self.Party.find_duplicates(probes) if probes else []
            for (number, values), candidates in zip(good, found):
                if candidates:
                    result[number] = candidates[0].party.id
        base = self.base_keys()
        for number, values in good:
            if number in result:
                continue
            keys = row_keys(values)
            if values.get('code'):
                keys.insert(0, ('code', values['code']))
            for key in keys:
                if key in base:
                    result[number] = base[key]
                    break
        return result

    def _process_accounts(self, good, lines, counts):
        Party = self.Party
        job = self.job
        existing = self._find_existing(good)
        to_create, to_link = [], []
        for number, values in good:
            party_id = existing.get(number)
            if party_id is None:
                to_create.append((number, values))
                continue
            if job.on_duplicate == 'link':
                to_link.append((party_id, values))
                counts['linked_count'] += 1
                msg_id = 'msg_import_linked'
            else:
                counts['duplicate_count'] += 1
                msg_id = 'msg_import_duplicate_base'
            lines.append(job._issue_line(number, Issue(
                        None, values['name'], msg_id, {}, 'duplicate'),
                    party=party_id))
        countries = self.countries()
        for number, values in to_create:
            code = values.get('country_code')
            if code and code not in countries:
                lines.append(job._issue_line(number, Issue(
                            'country_code', code,
                            'msg_import_country_unknown', {}, 'warning')))
                values.pop('country_code')
        if not to_create and not to_link:
            return
        transaction = Transaction()
        checked = check_access() if transaction.user else _nullcontext()
        bulk = _bulk_multivalues.set(True)
        with checked, transaction.set_context(
                hitech_skip_duplicate_check=True, _skip_warnings=True):
            party_ids = []
            if to_create:
                codes = self._codes(
                    sum(1 for _, v in to_create if not v.get('code')))
                party_values = []
                for _, values in to_create:
                    party_values.append({
                            'name': values['name'],
                            'code': values.get('code') or next(codes),
                            })
                if self.writer:
                    party_ids = self.writer.create(Party, party_values)
                else:
                    party_ids = [p.id for p in Party.create(
                            with_computed(Party, party_values))]
                counts['created_count'] += len(party_ids)
                base = self.base_keys()
                for party_id, (_, values) in zip(party_ids, to_create):
                    for key in row_keys(values):
                        base.setdefault(key, party_id)
            rows = list(zip(party_ids, (v for _, v in to_create)))
            self._create_children(rows, to_link)
            if self.writer:
                self._fast_side_effects(Party, party_ids, party_values
                    if to_create else [], {p for p, _ in to_link})
        _bulk_multivalues.reset(bulk)

    def _fast_side_effects(self, Party, party_ids, party_values, linked):
        """What on_modification of the parties, mechanisms and identifiers
        does after an ORM create: dedup keys, stage history"""
        pool = Pool()
        Key = pool.get('hitech.party.dedup.key')
        Log = pool.get('hitech.account.stage.log')
        transaction = Transaction()
        keys = {}
        for party_id, values in zip(party_ids, party_values):
            keys[party_id] = party_keys(values['name'],
                self._new_mechanisms.get(party_id, ()),
                self._new_codes.get(party_id, ()))
        with without_check_access():
            Key.insert_keys(keys)
            if linked:
                Key.refresh(linked)
            stages = self.writer.defaults(Party)[0].get('stage')
            if stages and party_ids:
                self.writer.create(Log, [{
                            'party': party_id,
                            'from_stage': None,
                            'to_stage': stages,
                            'user': transaction.user,
                            } for party_id in party_ids])

    def _codes(self, n):
        Party = self.Party
        if not n:
            return iter(())
        sequence = Party._code_sequence()
        if not sequence:
            return iter(())
        return sequence.get_many(n)

    def _create_children(self, rows, to_link):
        pool = Pool()
        Mechanism = pool.get('party.contact_mechanism')
        Address = pool.get('party.address')
        Identifier = pool.get('party.identifier')
        countries = self.countries()
        base = self.base_keys()
        mechanisms, addresses, identifiers = [], [], []
        trusted = {}
        for party_id, values in rows + to_link:
            linking = (party_id, values) in to_link
            for field in ['phone', 'mobile']:
                if values.get(field):
                    international, e164 = values[field]
                    if linking and base.get(('phone', e164)) == party_id:
                        continue
                    mechanisms.append({'party': party_id, 'type': field,
                            'value': international})
                    trusted[(field, international)] = e164
                    base.setdefault(('phone', e164), party_id)
            if values.get('email'):
                email = values['email']
                if not (linking and base.get(
                            ('email', email.casefold())) == party_id):
                    mechanisms.append({'party': party_id, 'type': 'email',
                            'value': email})
                    trusted[('email', email)] = email
                    base.setdefault(('email', email.casefold()), party_id)
            if values.get('website') and not linking:
                mechanisms.append({'party': party_id, 'type': 'website',
                        'value': values['website']})
            if linking:
                continue
            if any(values.get(f) for f in [
                        'street', 'city', 'postal_code', 'country_code']):
                addresses.append({
                        'party': party_id,
                        'street_unstructured': values.get('street'),
                        'city': values.get('city'),
                        'postal_code': values.get('postal_code'),
                        'country': countries.get(values.get('country_code')),
                        })
            if values.get('tax_identifier'):
                identifiers.append(self._identifier(
                        party_id, values['tax_identifier']))
        token = _trusted_mechanisms.set(trusted)
        try:
            if self.writer:
                # the keys are computed from the values as written
                self.writer.create(Address, addresses)
                self.writer.create(Mechanism, mechanisms)
                self._new_mechanisms = defaultdict(list)
                for values in self.writer.rows:
                    if values.get('active', True):
                        self._new_mechanisms[values['party']].append(
                            (values['type'], values['value']))
                self.writer.create(Identifier, identifiers)
                self._new_codes = defaultdict(list)
                for values in self.writer.rows:
                    if values.get('active', True):
                        self._new_codes[values['party']].append(
                            values['code'])
            else:
                if addresses:
                    Address.create(with_computed(Address, addresses))
                if mechanisms:
                    Mechanism.create(with_computed(Mechanism, mechanisms))
                if identifiers:
                    Identifier.create(with_computed(Identifier, identifiers))
        finally:
            _trusted_mechanisms.reset(token)

    def _identifier(self, party_id, code):
        try:
            from stdnum.cn import uscc
            if uscc.is_valid(code):
                return {'party': party_id, 'type': 'cn_uscc',
                    'code': uscc.compact(code)}
        except ImportError:  # pragma: no cover
            pass
        return {'party': party_id, 'type': None, 'code': code}

    # contacts

    def _accounts(self, good):
        "Return {normalised account text: party ids} for the batch"
        party = self.Party.__table__()
        cursor = Transaction().connection.cursor()
        wanted = {values['account'] for _, values in good}
        found = defaultdict(set)
        for sub in grouped_slice(sorted(wanted), backend.MAX_QUERY_PARAMS):
            cursor.execute(*party.select(party.id, party.code,
                    where=party.code.in_(list(sub))
                    & (party.active == True)))  # noqa: E712
            for party_id, code in cursor:
                found[normalise_text(code)].add(party_id)
        names = defaultdict(set)
        for sub in grouped_slice(sorted(wanted), backend.MAX_QUERY_PARAMS):
            cursor.execute(*party.select(party.id, party.name,
                    where=party.name.in_(list(sub))
                    & (party.active == True)))  # noqa: E712
            for party_id, name in cursor:
                names[normalise_text(name)].add(party_id)
        missing = {normalise_text(w) for w in wanted} - set(found) - set(
            names)
        if missing:
            # names written differently (case, width, spaces)
            base = self.base_keys()
            for key, party_id in base.items():
                if key[0] == 'name' and key[1] in missing:
                    names[key[1]].add(party_id)
        for key, ids in names.items():
            if key not in found:
                found[key] = ids
        return found

    def _process_contacts(self, good, lines, counts):
        pool = Pool()
        Mechanism = pool.get('party.contact_mechanism')
        job = self.job
        if not good:
            return
        accounts = self._accounts(good)
        resolved = []
        for number, values in good:
            ids = accounts.get(normalise_text(values['account']), set())
            if len(ids) != 1:
                msg_id = ('msg_import_account_unknown' if not ids
                    else 'msg_import_account_ambiguous')
                lines.append(job._issue_line(number, Issue(
                            'account', values['account'], msg_id, {},
                            'error')))
                counts['error_count'] += 1
                continue
            resolved.append((number, next(iter(ids)), values))
        party_ids = sorted({p for _, p, _ in resolved})
        mechanism = Mechanism.__table__()
        cursor = Transaction().connection.cursor()
        existing = set()
        for sub in grouped_slice(party_ids, backend.MAX_QUERY_PARAMS):
            cursor.execute(*mechanism.select(mechanism.party,
                    mechanism.type, mechanism.value, mechanism.value_compact,
                    mechanism.name,
                    where=reduce_ids(mechanism.party, list(sub))
                    & (mechanism.active == True)))  # noqa: E712
            for party_id, type_, value, compact, name in cursor:
                if type_ == 'email':
                    existing.add((party_id, 'email', (value or '').casefold()))
                elif type_ in PHONE_FIELDS:
                    existing.add((party_id, 'phone', compact or value))
                else:
                    existing.add((party_id, type_, normalise_text(
                                name or value)))
        to_create, trusted = [], {}
        for number, party_id, values in resolved:
            comment = '\n'.join(v for v in [
                    values.get('title'), values.get('role')] if v) or None
            new = []
            for field in ['phone', 'mobile']:
                if values.get(field):
                    international, e164 = values[field]
                    if (party_id, 'phone', e164) in existing:
                        continue
                    existing.add((party_id, 'phone', e164))
                    new.append({'type': field, 'value': international})
                    trusted[(field, international)] = e164
            if values.get('email'):
                email = values['email']
                if (party_id, 'email', email.casefold()) not in existing:
                    existing.add((party_id, 'email', email.casefold()))
                    new.append({'type': 'email', 'value': email})
                    trusted[('email', email)] = email
            if not any(values.get(f) for f in ['phone', 'mobile', 'email']):
                key = (party_id, 'other', normalise_text(
                        values['contact_name']))
                if key not in existing:
                    existing.add(key)
                    new.append({'type': 'other',
                            'value': values['contact_name']})
            if not new:
                counts['duplicate_count'] += 1
                lines.append(job._issue_line(number, Issue(
                            None, values['contact_name'],
                            'msg_import_duplicate_base', {}, 'duplicate'),
                        party=party_id))
                continue
            for value in new:
                value.update(party=party_id, name=values['contact_name'],
                    comment=comment)
            to_create.extend(new)
            counts['created_count'] += 1
        if not to_create:
            return
        transaction = Transaction()
        checked = check_access() if transaction.user else _nullcontext()
        token = _trusted_mechanisms.set(trusted)
        bulk = _bulk_multivalues.set(True)
        try:
            with checked:
                if self.writer:
                    self.writer.create(Mechanism, to_create)
                    with without_check_access():
                        Pool().get('hitech.party.dedup.key').refresh(
                            {v['party'] for v in to_create})
                else:
                    Mechanism.create(with_computed(Mechanism, to_create))
        finally:
            _trusted_mechanisms.reset(token)
            _bulk_multivalues.reset(bulk)


def with_computed(Model, vlist):
    """Add to the values what compute_fields would write right after the
    insert, so that the create does not update each record again"""
    result = []
    for values in vlist:
        try:
            computed = Model(**values).compute_fields()
        except Exception:
            computed = {}
        result.append(dict(values, **computed) if computed else values)
    return result


# ---------------------------------------------------------------------------
# Fast path: the validated rows written with multi-row SQL inserts
# ---------------------------------------------------------------------------

# The creation hooks of the written models.  The fast path reproduces what
# the classes listed in FAST_KNOWN do in them; any other class defining one
# of them (a module activated later) turns the fast path off, and the
# import goes through the ORM.
FAST_HOOKS = (
    'create', '_before_create', '_after_create', 'preprocess_values',
    'validate', 'validate_fields', 'pre_validate', '_validate',
    'check_modification', 'on_modification', 'compute_fields',
    '_insert_history', 'default_get')
_PARTY = 'trytond.modules.party.'
_CRM = 'trytond.modules.hitech_crm_base.'
FAST_KNOWN = {
    'party.party': {
        # code from the sequence and addresses (party); normalised names
        'preprocess_values': {_PARTY + 'party.Party', _CRM + 'dedup.Party'},
        # code_alnum and code_digit
        'compute_fields': {_PARTY + 'party.Party'},
        # dedup keys and the duplicate check (skipped by imports);
        # stage history
        'on_modification': {_CRM + 'dedup.Party', _CRM + 'account.Party'},
        'default_get': {_PARTY + 'party.Party'},
        },
    'party.address': {
        # write only
        'check_modification': {_PARTY + 'address.Address'},
        },
    'party.contact_mechanism': {
        # phone and email validity: checked by clean_row with the same
        # libraries (phonenumbers, trytond.tools.email_)
        'validate_fields': {_PARTY + 'contact_mechanism.ContactMechanism'},
        'check_modification': {
            _PARTY + 'contact_mechanism.ContactMechanism'},
        'on_modification': {_CRM + 'dedup.ContactMechanism'},
        'compute_fields': {_PARTY + 'contact_mechanism.ContactMechanism'},
        },
    'party.identifier': {
        'preprocess_values': {_PARTY + 'party.Identifier'},
        'compute_fields': {_PARTY + 'party.Identifier'},
        'pre_validate': {_PARTY + 'party.Identifier'},
        'on_modification': {_CRM + 'dedup.Identifier'},
        },
    'hitech.account.stage.log': {},
    }
SYSTEM_COLUMNS = {'id', 'create_uid', 'create_date', 'write_uid',
    'write_date'}


class FastPathUnavailable(Exception):
    "The models' creation is extended in a way the fast path does not know"


def _qualname(klass):
    return '%s.%s' % (klass.__module__, klass.__qualname__)


class FastWriter:
    """Create records with multi-row INSERTs doing what ModelSQL.create
    would: defaults, preprocess_values, compute_fields, required, size and
    selection checks, multi-values, create_uid/create_date, record rules,
    caches.  Access is checked once per model; see the documentation for
    what is bypassed and why it is safe."""

    def __init__(self):
        pool = Pool()
        self.Party = pool.get('party.party')
        self._defaults = {}
        self._templates = {}
        self._access_checked = set()
        self._fields_checked = defaultdict(set)
        self._rules = {}
        models = [pool.get(n) for n in [
                'party.party', 'party.address', 'party.contact_mechanism',
                'party.identifier', 'hitech.account.stage.log']]
        multivalues = {self.Party.multivalue_model(f)
            for f in self.defaults(self.Party)[1]}
        for Model in models + sorted(multivalues, key=lambda m: m.__name__):
            self.guard(Model)
        self.check_access(models[:4] + list(multivalues))

    @classmethod
    def guard(cls, Model):
        "Raise FastPathUnavailable unless the fast path knows Model"
        pool = Pool()
        Trigger = pool.get('ir.trigger')
        known = FAST_KNOWN.get(Model.__name__, {})
        for hook in FAST_HOOKS:
            for klass in Model.__mro__:
                if (hook in klass.__dict__
                        and not klass.__module__.startswith('trytond.model')
                        and _qualname(klass) not in known.get(hook, ())):
                    raise FastPathUnavailable(
                        '%s.%s of %s' % (Model.__name__, hook,
                            _qualname(klass)))
        if (Model._history or Model._path_fields or Model._mptt_fields
                or Trigger.get_triggers(Model.__name__, 'create')):
            raise FastPathUnavailable(Model.__name__)
        for name, field in Model._fields.items():
            if getattr(field, 'translate', False):
                raise FastPathUnavailable('%s.%s' % (Model.__name__, name))

    def check_access(self, models):
        "Check once the create access of the user on the models written"
        pool = Pool()
        ModelAccess = pool.get('ir.model.access')
        transaction = Transaction()
        if not transaction.user:
            return
        with check_access():
            for Model in models:
                if Model.__name__ not in self._access_checked:
                    ModelAccess.check(Model.__name__, 'create')
                    self._access_checked.add(Model.__name__)

    def check_field_access(self, Model, names):
        pool = Pool()
        ModelFieldAccess = pool.get('ir.model.field.access')
        transaction = Transaction()
        names = set(names) - self._fields_checked[Model.__name__]
        if not transaction.user or not names:
            return
        with check_access():
            ModelFieldAccess.check(Model.__name__, list(names), 'write')
        self._fields_checked[Model.__name__] |= names

    def defaults(self, Model):
        """Return the defaults of Model's stored fields and of its
        multi-value fields, as ModelSQL.create computes them"""
        if Model not in self._defaults:
            names = [n for n, f in Model._fields.items()
                if n not in SYSTEM_COLUMNS
                and not (isinstance(f, fields.Function) and not f.setter)]
            defaults = Model._clean_defaults(
                Model.default_get(names, with_rec_name=False))
            stored, multi = {}, {}
            for name, value in defaults.items():
                field = Model._fields[name]
                if not hasattr(field, 'set'):
                    stored[name] = value
                elif isinstance(field, fields.Function):
                    if field.setter != '_multivalue_setter':
                        raise FastPathUnavailable(
                            '%s.%s' % (Model.__name__, name))
                    multi[name] = value
                elif value:
                    raise FastPathUnavailable(
                        '%s.%s' % (Model.__name__, name))
            self._defaults[Model] = stored, multi
        return self._defaults[Model]

    def prepare(self, Model, vlist):
        """Return the values of each record as the ORM inserts them and
        the multi-values to set"""
        stored_defaults, multi_defaults = self.defaults(Model)
        relations = {n for n, f in Model._fields.items()
            if f._type in {'many2one', 'one2many', 'many2many', 'reference'}}
        rows, multi = [], []
        for values in vlist:
            with without_check_access():
                values = Model.preprocess_values('create', values)
            for name, value in stored_defaults.items():
                values.setdefault(name, value)
            mvalues = {}
            for name, value in multi_defaults.items():
                mvalues[name] = values.pop(name, value)
            for name in list(values):
                field = Model._fields[name]
                if hasattr(field, 'set'):
                    if values[name]:
                        raise FastPathUnavailable(
                            '%s.%s' % (Model.__name__, name))
                    del values[name]
            # what _compute_fields would update right after the insert
            # (the known compute_fields read no relation: an instance
            # without them costs less)
            values.update(Model(**{n: v for n, v in values.items()
                        if n not in relations}).compute_fields())
            rows.append(values)
            multi.append(mvalues)
        return rows, multi

    def check_values(self, Model, rows):
        "The required, size and selection checks of ModelStorage._validate"
        checks = []
        for name in sorted(set().union(*rows)):
            field = Model._fields[name]
            size = getattr(field, 'size', None)
            selection = None
            if (field._type == 'selection'
                    and isinstance(field.selection, (list, tuple))):
                selection = {v for v, _ in field.selection}
            elif (field._type == 'selection'
                    and not getattr(field, 'selection_change_with', None)):
                try:
                    selection = {v for v, _ in field.get_selection(
                            Model, name, None)}
                except Exception:
                    # depends on the record: left to the model's checks
                    selection = None
            checks.append((name, field.required, size
                if isinstance(size, int) else None, selection))
        for name, field in Model._fields.items():
            if (field.required and name not in SYSTEM_COLUMNS
                    and not isinstance(field, fields.Function)
                    and not all(name in r for r in rows)):
                checks.append((name, True, None, None))
        for values in rows:
            for name, required, size, selection in checks:
                value = values.get(name)
                if required and (value is None or value == ''):
                    raise RequiredValidationError(gettext(
                            'ir.msg_required_validation',
                            **Model.__names__(name)))
                if (size is not None and isinstance(value, str)
                        and len(value) > size):
                    raise SizeValidationError(gettext(
                            'ir.msg_size_validation',
                            value=value, size=len(value), max_size=size,
                            **Model.__names__(name)))
                if (selection is not None and value is not None
                        and value not in selection):
                    raise SelectionValidationError(gettext(
                            'ir.msg_selection_validation',
                            value=value, **Model.__names__(name)))

    def create(self, Model, vlist):
        """Create the records of vlist; return their ids in order (and
        keep their values as written in rows)"""
        self.rows = []
        if not vlist:
            return []
        transaction = Transaction()
        self.check_access([Model])
        self.check_field_access(Model, set().union(*vlist))
        transaction.counter += 1
        rows, multi = self.prepare(Model, vlist)
        self.check_values(Model, rows)
        known = FAST_KNOWN.get(Model.__name__, {})
        if 'pre_validate' in known:
            for values in rows:
                Model(**values).pre_validate()
        ids = self.insert(Model, rows)
        if any(multi):
            self.set_multivalues(Model, ids, multi)
        for id_, values in zip(ids, rows):
            values['id'] = id_
        self.rows = rows
        self.check_rules(Model, ids)
        Model._count_cache.set(Model.__name__, None)
        transaction.create_records[Model.__name__].extend(ids)
        return ids

    def insert(self, Model, rows):
        """Insert the rows with the ids taken from the sequence in bulk:
        one prepared INSERT sent for all rows at once (psycopg pipelines
        executemany), which costs less than parsing a multi-row INSERT
        of the same size"""
        transaction = Transaction()
        database = transaction.database
        connection = transaction.connection
        cursor = connection.cursor()
        table = Model.__table__()
        names = sorted(set().union(*rows))
        columns = [table.create_uid, table.create_date] + [
            Column(table, n) for n in names]
        formats = [Model._fields[n].sql_format for n in names]
        user = transaction.user
        values = [[user] + [f(r.get(n)) for f, n in zip(formats, names)]
            for r in rows]
        ids = database.nextid(connection, Model._table, count=len(values))
        if ids is not None:
            if len(values) == 1:
                ids = [ids]
            for value, id_ in zip(values, ids):
                value.append(id_)
            query, _ = tuple(table.insert(columns + [table.id], [
                        [values[0][0], CurrentTimestamp()] + values[0][1:]]))
            cursor.executemany(query, values)
            return list(ids)
        # SQLite: no sequence, one insert per row
        ids = []
        query, _ = tuple(table.insert(columns, [
                    [values[0][0], CurrentTimestamp()] + values[0][1:]]))
        for value in values:
            cursor.execute(query, value)
            ids.append(database.lastid(cursor))
        return ids

    def set_multivalues(self, Model, ids, multi):
        """Create the multi-value records as the stock setter does: one
        record per parent and value model, holding all its fields"""
        by_value = defaultdict(list)
        for id_, mvalues in zip(ids, multi):
            records = defaultdict(dict)
            for name, value in sorted(mvalues.items()):
                Value, parent, template = self.template(
                    Model, name, value, id_)
                records[(Value, parent)].update(template)
            for (Value, parent), values in records.items():
                values[parent] = id_
                by_value[Value].append(values)
        for Value, vlist in by_value.items():
            self.create(Value, vlist)

    def template(self, Model, name, value, parent_id):
        """The values of the multi-value record set_multivalue creates
        for a new record (parent_id, which has none yet)"""
        key = (Model.__name__, name, repr(value))
        if key not in self._templates:
            Value = Model.multivalue_model(name)
            parents = [n for n, f in Value._fields.items()
                if getattr(f, 'model_name', None) == Model.__name__
                and f._type == 'many2one']
            if len(parents) != 1:
                raise FastPathUnavailable('%s.%s' % (Model.__name__, name))
            parent, = parents
            record, = Model(parent_id).set_multivalue(
                name, value, save=False)
            template = record._save_values()
            template.pop(parent, None)
            for key_ in list(template):
                if key_ in SYSTEM_COLUMNS:
                    del template[key_]
            self._templates[key] = Value, parent, template
        return self._templates[key]

    def check_rules(self, Model, ids):
        "The record rules for creation, as ModelSQL.create checks them"
        transaction = Transaction()
        if not transaction.user or not ids:
            return
        with check_access():
            # the stock check (name-mangled private method of ModelSQL)
            getattr(Model, '_ModelSQL__check_domain_rule')(ids, 'create')


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *args):
        return False


# (database name, job id) -> (rows done, rows total) of the imports
# running in this process (SQLite: see ImportJob.publish_progress)
_LIVE_PROGRESS = {}


class ImportJobProgress(ModelSQL):
    "Import Job Progress"
    __name__ = 'hitech.import.job.progress'

    job = fields.Many2One('hitech.import.job', "Job", required=True,
        ondelete='CASCADE')
    rows_done = fields.Integer("Rows Done")
    rows_total = fields.Integer("Rows")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'job'})
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.job, Index.Range())))


class ImportJobMapping(ModelSQL, ModelView):
    "Import Column Mapping"
    __name__ = 'hitech.import.job.mapping'

    job = fields.Many2One('hitech.import.job', "Job", required=True,
        ondelete='CASCADE')
    sequence = fields.Integer("Column Number")
    column = fields.Char("Column", required=True,
        help="The column name as written on the first line of the file.")
    field = fields.Selection([(None, "")] + FIELD_STRINGS, "Field",
        help="Leave empty to ignore the column.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'job'})
        cls._order.insert(0, ('sequence', 'ASC'))


class ImportJobLine(ModelSQL, ModelView):
    "Import Report Line"
    __name__ = 'hitech.import.job.error'

    job = fields.Many2One('hitech.import.job', "Job", required=True,
        ondelete='CASCADE')
    row = fields.Integer("Row", help="The line number in the file.")
    column = fields.Char("Column")
    value = fields.Char("Value", help="The beginning of the cell.")
    level = fields.Selection([
            ('error', "Error"),
            ('warning', "Warning"),
            ('duplicate', "Duplicate"),
            ], "Level", required=True)
    message = fields.Char("Message")
    party = fields.Many2One('party.party', "Existing Account",
        ondelete='SET NULL')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'job'})
        cls._order.insert(0, ('row', 'ASC'))


class AccountExport(Report):
    "Accounts as an Excel file whose cells are never formulas"
    __name__ = 'hitech.party.export.xlsx'

    @classmethod
    def _columns(cls):
        return [
            ('name', "Name"),
            ('code', "Code"),
            ('tax_identifier', "Tax Identifier"),
            ('phone', "Phone"),
            ('mobile', "Mobile"),
            ('email', "Email"),
            ('website', "Website"),
            ('street', "Street"),
            ('city', "City"),
            ('postal_code', "Postal Code"),
            ('country_code', "Country Code"),
            ]

    @classmethod
    def _row(cls, party):
        address = party.addresses[0] if party.addresses else None
        return {
            'name': party.name,
            'code': party.code,
            'tax_identifier': (party.tax_identifier.code
                if party.tax_identifier else (
                    party.identifiers[0].code if party.identifiers
                    else None)),
            'phone': party.phone,
            'mobile': party.mobile,
            'email': party.email,
            'website': party.website,
            'street': address.street if address else None,
            'city': address.city if address else None,
            'postal_code': address.postal_code if address else None,
            'country_code': (address.country.code
                if address and address.country else None),
            }

    @classmethod
    def safe_text(cls, field, value):
        "Text of the cell; formula-like text is escaped with a quote"
        if value is None:
            return ''
        value = str(value)
        if field in PHONE_FIELDS and PHONE_CHARS_RE.match(value):
            return value
        return escape_cell(value)

    @classmethod
    def _execute(cls, records, header, data, action):
        import xlsxwriter
        output = io.BytesIO()
        workbook = xlsxwriter.Workbook(output, {
                'in_memory': True,
                # never turn text into numbers, formulas or links
                'strings_to_numbers': False,
                'strings_to_formulas': False,
                'strings_to_urls': False,
                })
        sheet = workbook.add_worksheet("Accounts")
        bold = workbook.add_format({'bold': True})
        columns = cls._columns()
        for col, (_, string) in enumerate(columns):
            sheet.write_string(0, col, string, bold)
        for row, party in enumerate(records, 1):
            values = cls._row(party)
            for col, (field, _) in enumerate(columns):
                sheet.write_string(
                    row, col, cls.safe_text(field, values.get(field)))
        workbook.close()
        return 'xlsx', output.getvalue()
