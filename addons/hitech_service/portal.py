# This file is part of HiTech CRM. See LICENSE for details.
"""The customer portal: JSON routes (and a few escaped HTML pages) for
customer contacts logged in as web users.

Every route runs as root without access checks, as the stock web_user
routes do, so the portal itself is the access control: every query goes
through ``ticket_domain`` (the web user's parties) and every record
fetched by id is re-checked by ``_get_ticket``/``_get_attachment``,
answering 404 for what the user may not see, whether it exists or not.
"""
import datetime
import hashlib
import hmac
import html
import json
import logging
import re
import secrets
import unicodedata
import urllib.parse
from functools import wraps

from werkzeug.exceptions import HTTPException

from trytond import backend
from trytond.exceptions import RateLimitException, UserError, UserWarning
from trytond.i18n import gettext
from trytond.model import ModelSQL, fields
from trytond.pool import PoolMeta
from trytond.protocols.wrappers import (
    Response, set_max_request_size, with_pool, with_transaction)
from trytond.transaction import Transaction, TransactionError
from trytond.wsgi import app

logger = logging.getLogger(__name__)

PREFIX = '/<database_name>/hitech/portal'
COOKIE = 'hitech_portal'
CSRF_HEADER = 'X-CSRF-Token'
# the hard ceiling of an upload request; the configured limit is lower
MAX_UPLOAD_REQUEST = 32 * 1024 * 1024
MAX_TEXT = 20000
PAGE_SIZE = 50

DEFAULT_TYPES = 'application/pdf image/png image/jpeg image/gif text/plain'

# file signatures: the content type of an upload is sniffed from its first
# bytes, never taken from the client
SIGNATURES = [
    (b'%PDF-', 'application/pdf'),
    (b'\x89PNG\r\n\x1a\n', 'image/png'),
    (b'\xff\xd8\xff', 'image/jpeg'),
    (b'GIF87a', 'image/gif'),
    (b'GIF89a', 'image/gif'),
    (b'PK\x03\x04', 'application/zip'),
    (b'\x1f\x8b', 'application/gzip'),
    (b'MZ', 'application/x-msdownload'),
    (b'\x7fELF', 'application/x-executable'),
    ]


def sniff_type(data):
    "The content type of data from its signature (text if it decodes)"
    for signature, mimetype in SIGNATURES:
        if data.startswith(signature):
            return mimetype
    head = data[:4096]
    if b'\x00' in head:
        return 'application/octet-stream'
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError:
        # a cut in the middle of a multi-byte character
        try:
            text = head[:-3].decode('utf-8')
        except UnicodeDecodeError:
            return 'application/octet-stream'
    lowered = text.lstrip().lower()
    if lowered.startswith(('<!doctype html', '<html', '<svg', '<?xml',
                '<script')):
        return 'text/html'
    return 'text/plain'


class PortalHTTPError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def not_found():
    return PortalHTTPError(
        404, 'not_found', gettext('hitech_service.msg_portal_not_found'))


def bad_request(message, code='invalid'):
    return PortalHTTPError(400, code, message)


MAX_ID = 2 ** 31 - 1


def _record_id(value):
    "The id a client sent, or 404 (no database error for odd integers)"
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise not_found()
    if not 0 < value <= MAX_ID:
        raise not_found()
    return value


class Secret(ModelSQL):
    "Service Secret"
    __name__ = 'hitech.service.secret'
    __string__ = "Service Secret"

    name = fields.Char("Name", required=True)
    value = fields.Char("Value", required=True, strip=False)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__rpc__ = {}

    @classmethod
    def get(cls, name):
        """The per-database secret named name, created on first use.

        It is never readable over RPC (no RPC methods, no access granted)."""
        secrets_ = cls.search([('name', '=', name)], limit=1)
        if secrets_:
            secret, = secrets_
        elif Transaction().readonly:
            # nothing was ever signed with it: nothing can verify
            return None
        else:
            secret, = cls.create([{
                        'name': name,
                        'value': secrets.token_urlsafe(48),
                        }])
        return secret.value.encode('ascii')


class Configuration(metaclass=PoolMeta):
    __name__ = 'hitech.service.configuration'

    portal_attachment_max_size = fields.Integer(
        "Portal Attachment Maximum Size",
        help="The largest file, in bytes, a customer may attach in the "
        "portal.")
    portal_attachment_types = fields.Char("Portal Attachment Types",
        help="The content types customers may attach in the portal, "
        "separated by spaces; the type is found from the file's content, "
        "not from its name.")

    @classmethod
    def default_portal_attachment_max_size(cls):
        return 5 * 1024 * 1024

    @classmethod
    def default_portal_attachment_types(cls):
        return DEFAULT_TYPES

    def get_portal_attachment_max_size(self):
        return min(self.portal_attachment_max_size
            or self.default_portal_attachment_max_size(), MAX_UPLOAD_REQUEST)

    def get_portal_attachment_types(self):
        return set((self.portal_attachment_types or DEFAULT_TYPES).split())


# Scoping -------------------------------------------------------------------

def ticket_domain(web_user):
    """The domain of the tickets web_user may see: those of its party and
    its secondary parties.  EVERY ticket query of the portal uses it."""
    parties = web_user.portal_parties
    if not parties:
        return [('id', '=', -1)]
    return ['OR',
        ('account', 'in', parties),
        ('contact', 'in', parties),
        ]


def _get_ticket(pool, web_user, ticket_id):
    "The ticket of id if web_user may see it, else 404"
    Ticket = pool.get('hitech.ticket')
    ticket_id = _record_id(ticket_id)
    tickets = Ticket.search([
            ('id', '=', ticket_id),
            ticket_domain(web_user),
            ], limit=1)
    if not tickets:
        raise not_found()
    ticket, = tickets
    return ticket


def _visible_messages(ticket):
    return [m for m in ticket.messages if m.direction != 'internal']


def _attachment_resources(ticket):
    return [str(ticket)] + [str(m) for m in _visible_messages(ticket)]


def _get_attachment(pool, web_user, attachment_id):
    "The attachment of id if it belongs to a ticket web_user sees, else 404"
    Attachment = pool.get('ir.attachment')
    Message = pool.get('hitech.ticket.message')
    Ticket = pool.get('hitech.ticket')
    attachment_id = _record_id(attachment_id)
    attachments = Attachment.search([('id', '=', attachment_id)], limit=1)
    if not attachments:
        raise not_found()
    attachment, = attachments
    resource = attachment.resource
    if isinstance(resource, Message):
        if resource.direction == 'internal':
            raise not_found()
        ticket = resource.ticket
    elif isinstance(resource, Ticket):
        ticket = resource
    else:
        raise not_found()
    # re-checked with the scoping domain
    _get_ticket(pool, web_user, ticket.id)
    return attachment


def _scoped_party(pool, web_user, party_id):
    "A party of web_user chosen by the client, else 404"
    Party = pool.get('party.party')
    party_id = _record_id(party_id)
    if party_id not in web_user.portal_parties:
        raise not_found()
    return Party(party_id)


# Language ------------------------------------------------------------------
#
# The pages and messages speak the language of the customer: the language
# of the web user's party, else the best translatable language of the
# browser's Accept-Language header, else the company's or the server's.

# browser tags naming a script or region of the Chinese translations
LANGUAGE_ALIASES = {
    'zh-hant': 'zh-tw',
    'zh-hk': 'zh-tw',
    'zh-mo': 'zh-tw',
    'zh-hans': 'zh-cn',
    'zh-sg': 'zh-cn',
    'zh-my': 'zh-cn',
    }
# the preferences of a header read at most (a long header costs nothing)
MAX_ACCEPTED_LANGUAGES = 20


def language_tag(code):
    "The BCP 47 tag of a Tryton language code: zh_CN gives zh-CN"
    return (code or '').replace('_', '-')


def _normal_tag(value):
    return language_tag(value).lower()


def _exact_language(tag, by_tag):
    """The code of by_tag (lower case tags to codes) for tag, or one of
    its prefixes or their aliases (zh-Hant-HK, zh-Hant, zh-TW)"""
    subtags = tag.split('-')
    for i in range(len(subtags), 0, -1):
        prefix = '-'.join(subtags[:i])
        for candidate in [prefix, LANGUAGE_ALIASES.get(prefix)]:
            if candidate in by_tag:
                return by_tag[candidate]


def match_language(accepted, codes):
    """The code among codes (Tryton language codes) that best answers
    accepted, the (tag, quality) pairs of an Accept-Language header best
    first, or None.

    The first preference that names a language of codes wins: its tag,
    then its prefixes (and their aliases: zh-HK and zh-Hant are zh-TW),
    then any region of its language (zh gives zh_CN, or zh_TW when the
    header names it later); ``*`` names none."""
    by_tag = {_normal_tag(c): c for c in codes}
    tags = [_normal_tag(tag) for tag, quality in
        list(accepted)[:MAX_ACCEPTED_LANGUAGES]
        if quality > 0 and tag and tag != '*']
    for i, tag in enumerate(tags):
        code = _exact_language(tag, by_tag)
        if code:
            return code
        primary = tag.split('-')[0]
        same = sorted(c for t, c in by_tag.items()
            if t.split('-')[0] == primary)
        if same:
            for later in tags[i + 1:]:
                code = _exact_language(later, by_tag)
                if code in same:
                    return code
            return same[0]


def query_language(request, pool):
    "The translatable language of the lang query parameter, or None"
    Lang = pool.get('ir.lang')
    value = request.args.get('lang')
    if not value or len(value) > 20:
        return None
    codes = {_normal_tag(c): c for c in Lang.get_translatable_languages()}
    return codes.get(_normal_tag(value))


def default_language(pool, company=None):
    """The language of company's party when translatable, else the default
    language of the server (``[database] language``)"""
    Company = pool.get('company.company')
    Configuration = pool.get('ir.configuration')
    if company is None:
        companies = Company.search([], limit=2)
        if len(companies) == 1:
            company, = companies
    if company:
        code = party_language(pool, company.party, company)
        if code:
            return code
    return Configuration.get_language()


def request_language(request, pool, query=False, company=None):
    """The language of an anonymous request: the lang query parameter
    (when query), else the best translatable language of its
    Accept-Language header, else the default language of company"""
    Lang = pool.get('ir.lang')
    code = query_language(request, pool) if query else None
    return (code
        or match_language(request.accept_languages,
            Lang.get_translatable_languages())
        or default_language(pool, company))


def party_language(pool, party, company=None):
    "The language of party (for company) when translatable, else None"
    Lang = pool.get('ir.lang')
    Party = pool.get('party.party')
    if not party:
        return None
    # the language of a party may be set per company
    with Transaction().set_context(company=company.id if company else None):
        lang = Party(party.id).lang
    if lang and lang.code in Lang.get_translatable_languages():
        return lang.code


def user_language(request, pool, user):
    """The language of the portal user: its party's when translatable,
    else the language of its request"""
    company = user.get_portal_company()
    return (party_language(pool, user.party, company)
        or request_language(request, pool, company=company))


def field_labels(Model, names):
    "The labels of the fields names of Model in the language of the context"
    return {name: definition['string']
        for name, definition in Model.fields_get(names).items()}


# Sessions and CSRF ---------------------------------------------------------

def _csrf_token(pool, session_key):
    Secret = pool.get('hitech.service.secret')
    secret = Secret.get('portal_csrf')
    if secret is None:
        return None
    return hmac.new(secret, b'csrf:' + session_key.encode('utf-8'),
        hashlib.sha256).hexdigest()


def _session_key(request):
    "The session key and how it came: ('bearer'|'cookie', key) or None"
    header = request.headers.get('Authorization', '')
    if header[:7].lower() == 'bearer ':
        return 'bearer', header[7:].strip()
    cookie = request.cookies.get(COOKIE)
    if cookie:
        return 'cookie', cookie
    return None


def _authenticate(request, pool, form_token=False):
    """The web user of the request or 401; 403 when a cookie session sends
    a state-changing request without its CSRF token (in the header, or in
    the ``csrf_token`` field of the forms of the HTML pages)"""
    WebUser = pool.get('web.user')
    found = _session_key(request)
    if not found:
        raise PortalHTTPError(401, 'unauthenticated',
            gettext('hitech_service.msg_portal_login_required'))
    kind, key = found
    user = WebUser.get_user(key) if key else None
    if not user or not user.active:
        raise PortalHTTPError(401, 'unauthenticated',
            gettext('hitech_service.msg_portal_login_required'))
    if kind == 'cookie' and request.method not in {'GET', 'HEAD'}:
        expected = _csrf_token(pool, key)
        given = request.headers.get(CSRF_HEADER, '')
        if form_token and not given:
            given = request.form.get('csrf_token', '')
        if (not expected or not given
                or not hmac.compare_digest(expected, given)):
            raise PortalHTTPError(403, 'csrf', gettext(
                    'hitech_service.msg_portal_csrf_form' if form_token
                    else 'hitech_service.msg_portal_csrf'))
    return user, key


def _same_origin(request):
    """Whether the Origin (or else the Referer) header, when the browser
    sent one, names the host of the request"""
    for header in ['Origin', 'Referer']:
        value = request.headers.get(header)
        if value:
            try:
                netloc = urllib.parse.urlsplit(value).netloc
            except ValueError:
                return False
            return netloc.lower() == (request.host or '').lower()
    return True


# Responses -----------------------------------------------------------------

def _headers(response):
    response.headers['Cache-Control'] = 'no-store'
    response.headers['X-Content-Type-Options'] = 'nosniff'
    response.headers['X-Frame-Options'] = 'DENY'
    response.headers['Referrer-Policy'] = 'no-referrer'
    return response


def _language_headers(response):
    "The language of the answer: that of the context it was made in"
    response.headers['Content-Language'] = language_tag(
        Transaction().language)
    response.vary.add('Accept-Language')
    return response


def json_response(data, status=200):
    return _headers(_language_headers(Response(
                json.dumps(data, default=_json_default), status=status,
                content_type='application/json')))


def _json_default(value):
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    raise TypeError(repr(value))


def html_response(body, title, status=200):
    page = (
        '<!DOCTYPE html><html lang="%s"><head><meta charset="utf-8">'
        '<title>%s</title></head><body>%s</body></html>' % (
            html.escape(language_tag(Transaction().language)),
            html.escape(title), body))
    response = _language_headers(Response(page, status=status,
            content_type='text/html; charset=utf-8'))
    response.headers['Content-Security-Policy'] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'")
    return _headers(response)


def _wants_html(request):
    return request.path.endswith('.html')


def _portal_path(request):
    "The path of the portal of the request's database (the cookie path)"
    return '/%s/hitech/portal' % request.view_args['database_name']


def _url(request, page):
    "The URL path of page (a path under the portal)"
    return '/%s/hitech/portal/%s' % (
        urllib.parse.quote(request.view_args['database_name']), page)


def redirect_response(request, page):
    "303 See Other to page (a path under the portal)"
    response = Response(status=303)
    response.headers['Location'] = _url(request, page)
    return _headers(response)


def _error(request, status, code, message):
    Transaction().rollback()
    if (_wants_html(request)
            or request.path.endswith('/hitech/portal/survey')):
        if 'application/json' not in request.headers.get('Accept', ''):
            body = '<p>%s</p>' % html.escape(message)
            if _wants_html(request) and status != 401:
                body += '<p><a href="%s">%s</a></p>' % (
                    html.escape(_url(request, 'tickets.html')), html.escape(
                        gettext('hitech_service.msg_portal_page_tickets')))
            return html_response(body, message, status=status)
    return json_response({'error': code, 'message': message}, status)


def portal_route(path, methods, login=True, max_size=None, page=False,
        language=None):
    """Declare a portal route: the database transaction, the web user (401
    or 403 otherwise) and clean JSON errors, never a trace, in the
    language of the user (or of the request).

    A page (HTML) route redirects to the login page instead of 401 and
    takes the CSRF token of its forms from their csrf_token field.
    language(request, pool) may give the language of a route without
    login that knows its customer (None keeps that of the request)."""
    def decorator(func):
        def answer(request, call):
            "The result of call, or the clean answer of its error"
            try:
                return call()
            except (TransactionError, backend.DatabaseOperationalError):
                # with_transaction retries with the tables locked
                raise
            except PortalHTTPError as e:
                if page and e.status == 401:
                    Transaction().rollback()
                    return redirect_response(request, 'login.html')
                return _error(request, e.status, e.code, e.message)
            except RateLimitException:
                return _error(request, 429, 'rate_limited',
                    gettext('hitech_service.msg_portal_rate_limited'))
            except (UserError, UserWarning) as e:
                return _error(request, 400, 'invalid', e.message)
            except HTTPException as e:
                return _error(request, e.code, 'http_%s' % e.code,
                    e.description or e.name)
            except Exception:
                logger.exception("portal route %s failed", path)
                return _error(request, 500, 'internal',
                    gettext('hitech_service.msg_portal_internal'))

        @wraps(func)
        def wrapper(request, pool, *args, **kwargs):
            def user_route():
                user, session = _authenticate(
                    request, pool, form_token=page)
                # the route, and its errors, in the user's language
                with Transaction().set_context(
                        language=user_language(request, pool, user)):
                    return answer(request, lambda: func(
                            request, pool, *args, user=user,
                            session=session, **kwargs))

            def request_route():
                # before the user is known (anonymous pages, login, 401):
                # the language of the request
                with Transaction().set_context(language=request_language(
                            request, pool, query=not login)):
                    if login:
                        return answer(request, user_route)
                    code = language(request, pool) if language else None
                    with Transaction().set_context(
                            language=code or Transaction().language):
                        return answer(request,
                            lambda: func(request, pool, *args, **kwargs))
            return answer(request, request_route)
        route = with_pool(with_transaction()(wrapper))
        if max_size:
            route = set_max_request_size(max_size)(route)
        return app.route(PREFIX + path, methods=methods)(route)
    return decorator


def _json_body(request):
    "The JSON object of the request body or 400"
    try:
        data = json.loads(request.get_data(cache=True) or b'{}')
    except (ValueError, UnicodeDecodeError):
        raise bad_request(gettext('hitech_service.msg_portal_bad_json'))
    if not isinstance(data, dict):
        raise bad_request(gettext('hitech_service.msg_portal_bad_json'))
    return data


def _only(data, allowed):
    "Refuse any key the route does not take (no mass assignment)"
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise bad_request(gettext('hitech_service.msg_portal_unknown_field',
                fields=', '.join(str(u)[:40] for u in unknown)),
            code='unknown_field')


# control characters (tab and newlines are allowed in multi-line text
# only) and the direction overrides that make text read differently
_FORBIDDEN = re.compile(
    '[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]')
_LINE_BREAKS = re.compile('[\t\n\r\u2028\u2029\x85]')


def _text(data, name, required=False, size=MAX_TEXT, single_line=False):
    """The text value of name, or 400: not text, too long, or holding
    characters that are not allowed (refused rather than silently
    dropped, so what is stored is what the customer sent)"""
    value = data.get(name)
    if value is None:
        value = ''
    if not isinstance(value, str):
        raise bad_request(gettext(
                'hitech_service.msg_portal_field_text', field=name))
    if len(value) > size * 4:
        raise bad_request(gettext(
                'hitech_service.msg_portal_field_size', field=name,
                size=size))
    try:
        # lone surrogates of JSON escapes cannot be stored
        value.encode('utf-8')
    except UnicodeEncodeError:
        raise bad_request(gettext(
                'hitech_service.msg_portal_field_characters', field=name))
    value = unicodedata.normalize('NFC', value).strip()
    if _FORBIDDEN.search(value) or (
            single_line and _LINE_BREAKS.search(value)):
        raise bad_request(gettext(
                'hitech_service.msg_portal_field_characters', field=name))
    if required and not value:
        raise bad_request(gettext(
                'hitech_service.msg_portal_field_required', field=name))
    if len(value) > size:
        raise bad_request(gettext(
                'hitech_service.msg_portal_field_size', field=name,
                size=size))
    return value


# Serialisation: only what a customer may see --------------------------------

def _party(party):
    return {'id': party.id, 'name': party.rec_name} if party else None


def _state_label(record, name):
    return dict(record.__class__.fields_get([name])[name]['selection']).get(
        getattr(record, name))


def _sla(ticket):
    now = datetime.datetime.now()
    deadlines = {}
    for name in ['response_deadline', 'resolution_deadline', 'sla_deadline']:
        deadlines[name] = getattr(ticket, name, None)
    overdue = bool(ticket.sla_deadline and ticket.sla_deadline < now
        and ticket.state not in {'resolved', 'closed', 'cancelled'})
    return dict(deadlines, overdue=overdue)


def ticket_summary(ticket):
    return {
        'id': ticket.id,
        'number': ticket.number,
        'subject': ticket.subject,
        'state': ticket.state,
        'state_label': _state_label(ticket, 'state'),
        'priority': ticket.priority,
        'account': _party(ticket.account),
        'contact': _party(ticket.contact),
        'created_at': ticket.create_date,
        'sla': _sla(ticket),
        }


def _attachment(attachment):
    return {
        'id': attachment.id,
        'name': attachment.name,
        'size': attachment.data_size,
        'created_at': attachment.create_date,
        }


def ticket_detail(pool, ticket):
    Attachment = pool.get('ir.attachment')
    Survey = pool.get('hitech.ticket.survey')
    result = ticket_summary(ticket)
    messages = _visible_messages(ticket)
    attachments = Attachment.search([
            ('resource', 'in', _attachment_resources(ticket)),
            ], order=[('create_date', 'ASC'), ('id', 'ASC')])
    by_resource = {}
    for attachment in attachments:
        by_resource.setdefault(str(attachment.resource), []).append(
            _attachment(attachment))
    surveys = Survey.search([('ticket', '=', ticket.id)],
        order=[('id', 'ASC')])
    result.update({
            'description': ticket.description,
            'product': ticket.product.rec_name if ticket.product else None,
            'serial_number': ticket.serial_number,
            'closed_at': ticket.closed_at,
            'resolved_at': ticket.resolved_at,
            'messages': [{
                    'id': m.id,
                    'direction': m.direction,
                    'date': m.date,
                    'author': (
                        m.party.rec_name if m.party and m.direction
                        == 'incoming' else (
                            m.author.name if m.author else None)),
                    'body': m.body,
                    'attachments': by_resource.get(str(m), []),
                    } for m in messages],
            'attachments': by_resource.get(str(ticket), []),
            'surveys': [{
                    'id': s.id,
                    'state': s.state,
                    'rating': s.rating,
                    'comment': s.comment,
                    'answered_at': s.answered_at,
                    'expire_at': s.expire_at,
                    } for s in surveys],
            })
    return result


# Routes: session -----------------------------------------------------------

def _check_login(pool, data):
    """The active web user of the email and password of data (a JSON
    object or a form), None for wrong credentials; 400 for missing ones,
    429 when web_user throttles the attempts"""
    WebUser = pool.get('web.user')
    email = _text(data, 'email', required=True, size=320,
        single_line=True)
    password = data.get('password')
    if not isinstance(password, str) or not password:
        raise bad_request(gettext(
                'hitech_service.msg_portal_field_required', field='password'))
    # web_user throttles the attempts per email and per network
    user = WebUser.authenticate(email, password)
    if not user or not user.active:
        return None
    return user


def _set_session_cookie(request, response, key, max_age):
    response.set_cookie(COOKIE, key, httponly=True, samesite='Strict',
        secure=request.scheme == 'https', path=_portal_path(request),
        max_age=max_age)


def _session_timeout(pool):
    return int(pool.get('web.user.session').timeout().total_seconds())


@portal_route('/login', ['POST'], login=False)
def login(request, pool):
    data = _json_body(request)
    _only(data, {'email', 'password', 'mode'})
    mode = data.get('mode') or 'cookie'
    if mode not in {'cookie', 'bearer'}:
        raise bad_request(gettext(
                'hitech_service.msg_portal_field_value', field='mode'))
    user = _check_login(pool, data)
    if not user:
        # the failed attempt web_user recorded is committed
        return json_response({
                'error': 'invalid_credentials',
                'message': gettext('hitech_service.msg_portal_login_failed'),
                }, 401)
    key = user.new_session()
    result = {
        'user': {'email': user.email, 'parties': [
                _party(p) for p in [user.party] + list(user.secondary_parties)
                if p]},
        'expires_in': _session_timeout(pool),
        }
    if mode == 'bearer':
        result['token'] = key
        return json_response(result)
    result['csrf_token'] = _csrf_token(pool, key)
    response = json_response(result)
    _set_session_cookie(request, response, key, result['expires_in'])
    return response


def _end_session(request, pool, session, response):
    "Remove the session and clear its cookie on response"
    Session = pool.get('web.user.session')
    Session.remove(session)
    response.delete_cookie(COOKIE, path=_portal_path(request))
    return response


@portal_route('/logout', ['POST'])
def logout(request, pool, user, session):
    return _end_session(request, pool, session,
        json_response({'logged_out': True}))


@portal_route('/me', ['GET'])
def me(request, pool, user, session):
    result = {
        'email': user.email,
        # the language of the portal's texts for the user
        'language': Transaction().language,
        'party': _party(user.party),
        'parties': [_party(p) for p in [user.party] + list(
                user.secondary_parties) if p],
        }
    if _session_key(request)[0] == 'cookie':
        result['csrf_token'] = _csrf_token(pool, session)
    return json_response(result)


# Routes: tickets ------------------------------------------------------------

def _int_arg(request, name, default, maximum=None):
    value = request.args.get(name)
    if value in {None, ''}:
        return default
    try:
        value = int(value)
    except ValueError:
        raise bad_request(gettext(
                'hitech_service.msg_portal_field_value', field=name))
    if value < 0:
        raise bad_request(gettext(
                'hitech_service.msg_portal_field_value', field=name))
    return min(value, maximum) if maximum else value


@portal_route('/tickets', ['GET'])
def tickets(request, pool, user, session):
    Ticket = pool.get('hitech.ticket')
    domain = [ticket_domain(user)]
    status = request.args.get('status', 'all')
    if status == 'open':
        domain.append(('state', 'not in', ['resolved', 'closed', 'cancelled']))
    elif status == 'done':
        domain.append(('state', 'in', ['resolved', 'closed', 'cancelled']))
    elif status != 'all':
        raise bad_request(gettext(
                'hitech_service.msg_portal_field_value', field='status'))
    offset = _int_arg(request, 'offset', 0)
    limit = _int_arg(request, 'limit', PAGE_SIZE, PAGE_SIZE) or PAGE_SIZE
    records = Ticket.search(domain, offset=offset, limit=limit,
        order=[('create_date', 'DESC'), ('id', 'DESC')])
    return json_response({
            'tickets': [ticket_summary(t) for t in records],
            'count': Ticket.search(domain, count=True),
            'offset': offset,
            'limit': limit,
            })


PRIORITIES = {'low', 'normal', 'high'}


TICKET_FIELDS = {'subject', 'description', 'party', 'priority',
    'serial_number'}


def new_ticket(pool, user, data):
    """Create the ticket of data (the values a client sent, checked here)
    for user's party: the work of the JSON route and of the HTML form"""
    Ticket = pool.get('hitech.ticket')
    subject = _text(data, 'subject', required=True, size=200,
        single_line=True)
    description = _text(data, 'description')
    serial_number = _text(data, 'serial_number', size=100,
        single_line=True) or None
    priority = data.get('priority') or 'normal'
    if priority not in PRIORITIES:
        raise bad_request(gettext(
                'hitech_service.msg_portal_field_value', field='priority'))
    if data.get('party') is not None:
        account = _scoped_party(pool, user, data['party'])
    else:
        account = (user.secondary_parties[0] if user.secondary_parties
            else user.party)
    if not account:
        raise not_found()
    company = user.get_portal_company()
    if not company:
        raise bad_request(gettext('hitech_service.msg_portal_no_company'))
    with Transaction().set_context(company=company.id):
        ticket, = Ticket.create([{
                    'subject': subject,
                    'description': description or None,
                    'serial_number': serial_number,
                    'priority': priority,
                    'company': company.id,
                    'account': account.id,
                    'contact': user.party.id if user.party else None,
                    'channel': 'portal',
                    }])
    return ticket


@portal_route('/tickets', ['POST'])
def create_ticket(request, pool, user, session):
    data = _json_body(request)
    _only(data, TICKET_FIELDS)
    ticket = new_ticket(pool, user, data)
    return json_response(ticket_detail(pool, ticket), 201)


@portal_route('/tickets/<int:ticket_id>', ['GET'])
def ticket(request, pool, ticket_id, user, session):
    record = _get_ticket(pool, user, ticket_id)
    return json_response(ticket_detail(pool, record))


def _check_writable(record):
    "409 for a closed or cancelled ticket"
    if record.state in {'closed', 'cancelled'}:
        raise PortalHTTPError(409, 'ticket_closed',
            gettext('hitech_service.msg_portal_ticket_closed',
                ticket=record.rec_name))


def add_reply(pool, user, record, body):
    """Add body (checked text) as an incoming message of record, a ticket
    of user open for answers"""
    Ticket = pool.get('hitech.ticket')
    Message = pool.get('hitech.ticket.message')
    _check_writable(record)
    message, = Message.create([{
                'ticket': record.id,
                'direction': 'incoming',
                'party': user.party.id if user.party else None,
                'email_from': user.email,
                'subject': record.get_email_subject(),
                'body': body,
                }])
    # an answer to a resolved or waiting ticket puts it back to work
    Ticket._thread_reopen(Ticket.browse([record.id]))
    return message


@portal_route('/tickets/<int:ticket_id>/messages', ['POST'])
def reply(request, pool, ticket_id, user, session):
    record = _get_ticket(pool, user, ticket_id)
    data = _json_body(request)
    _only(data, {'body'})
    body = _text(data, 'body', required=True)
    message = add_reply(pool, user, record, body)
    return json_response({'id': message.id, 'ticket': record.id}, 201)


def check_upload_length(pool, request):
    "413 when the request is clearly larger than the largest file allowed"
    Configuration = pool.get('hitech.service.configuration')
    max_size = Configuration(1).get_portal_attachment_max_size()
    if (request.content_length or 0) > max_size + 64 * 1024:
        raise PortalHTTPError(413, 'too_large', gettext(
                'hitech_service.msg_portal_attachment_size',
                size=max_size))


def read_upload(pool, upload):
    """The (name, data, mimetype) of the uploaded file, checked against
    the configured size (413) and types (415); 400 when empty"""
    Configuration = pool.get('hitech.service.configuration')
    config = Configuration(1)
    max_size = config.get_portal_attachment_max_size()
    data = upload.stream.read(max_size + 1)
    if len(data) > max_size:
        raise PortalHTTPError(413, 'too_large', gettext(
                'hitech_service.msg_portal_attachment_size',
                size=max_size))
    if not data:
        raise bad_request(gettext(
                'hitech_service.msg_portal_field_required', field='file'))
    mimetype = sniff_type(data)
    if mimetype not in config.get_portal_attachment_types():
        raise PortalHTTPError(415, 'type_refused', gettext(
                'hitech_service.msg_portal_attachment_type',
                type=mimetype))
    name = (upload.filename or 'file').replace('\\', '/').split('/')[-1]
    name = ''.join(c for c in name if c.isprintable())[:120] or 'file'
    return name, data, mimetype


def add_attachment(pool, user, resource, name, data):
    "Attach the checked file to resource (a ticket of user or its message)"
    Attachment = pool.get('ir.attachment')
    attachment, = Attachment.create([{
                'name': name,
                'resource': str(resource),
                'type': 'data',
                'data': data,
                'description': gettext(
                    'hitech_service.msg_portal_attachment_description',
                    email=user.email),
                }])
    return attachment


@portal_route('/tickets/<int:ticket_id>/attachments', ['POST'],
    max_size=MAX_UPLOAD_REQUEST)
def attach(request, pool, ticket_id, user, session):
    record = _get_ticket(pool, user, ticket_id)
    _check_writable(record)
    check_upload_length(pool, request)
    upload = request.files.get('file')
    if upload is None:
        raise bad_request(gettext(
                'hitech_service.msg_portal_field_required', field='file'))
    name, data, mimetype = read_upload(pool, upload)
    attachment = add_attachment(pool, user, record, name, data)
    return json_response(dict(_attachment(attachment), type=mimetype), 201)


@portal_route('/attachments/<int:attachment_id>', ['GET'])
def download(request, pool, attachment_id, user, session):
    attachment = _get_attachment(pool, user, attachment_id)
    data = attachment.data or b''
    mimetype = sniff_type(data)
    if mimetype == 'text/html':
        mimetype = 'text/plain'
    response = Response(data, content_type=mimetype)
    name = attachment.name.encode('ascii', 'replace').decode('ascii')
    name = name.replace('"', '_').replace('\\', '_')
    response.headers['Content-Disposition'] = (
        'attachment; filename="%s"' % name)
    response.headers['Content-Security-Policy'] = "default-src 'none'"
    return _headers(response)


# Routes: knowledge base -----------------------------------------------------

def _kb_query(request):
    "The search text (may be empty) and limit of the request"
    text = (request.args.get('q') or '').strip()[:200]
    limit = _int_arg(request, 'limit', 10, 25) or 10
    return text, limit


def kb_articles(pool, text, limit):
    """The published public articles matching text, with their score, in
    the portal's language (the routes run in it) as search_text does"""
    Article = pool.get('hitech.kb.article')
    return Article.search_public(
        text, limit, language=Transaction().language)


@portal_route('/kb', ['GET'])
def kb_search(request, pool, user, session):
    text, limit = _kb_query(request)
    if not text:
        raise bad_request(gettext(
                'hitech_service.msg_portal_field_required', field='q'))
    return json_response({'articles': [{
                    'id': a.id,
                    'number': a.number,
                    'title': a.title,
                    'problem': a.problem,
                    'cause': a.cause,
                    'resolution': a.resolution,
                    'score': score,
                    } for a, score in kb_articles(pool, text, limit)]})


# Routes: surveys ------------------------------------------------------------

def _survey_form(survey, action, csrf=None):
    ticket = survey.ticket
    options = ''.join(
        '<label><input type="radio" name="rating" value="%d" required> '
        '%d</label> ' % (i, i) for i in range(1, 6))
    hidden = ''
    if csrf:
        hidden = '<input type="hidden" name="csrf_token" value="%s">' % (
            html.escape(csrf))
    return (
        '<h1>%s</h1><p>%s</p>'
        '<form method="post" action="%s">%s'
        '<fieldset><legend>%s</legend>%s</fieldset>'
        '<p><label>%s<br><textarea name="comment" rows="4" cols="60" '
        'maxlength="4000"></textarea></label></p>'
        '<p><button type="submit">%s</button></p></form>') % (
        html.escape(gettext('hitech_service.msg_survey_page_title')),
        html.escape('%s: %s' % (ticket.number or '', ticket.subject or '')),
        html.escape(action), hidden,
        html.escape(gettext('hitech_service.msg_survey_page_question')),
        options,
        html.escape(gettext('hitech_service.msg_survey_page_comment')),
        html.escape(gettext('hitech_service.msg_survey_page_send')))


def _survey_token(request):
    token = request.args.get('token') or request.form.get('token')
    if not token:
        raise PortalHTTPError(400, 'invalid',
            gettext('hitech_service.msg_survey_invalid'))
    return token[:200]


def survey_open(pool, token):
    "The survey of a signed token, as the route serves it"
    Survey = pool.get('hitech.ticket.survey')
    return Survey.from_token(token)


def survey_answer(pool, token, rating, comment=None):
    """Store the answer of a signed link: the route's work, callable from a
    scenario without HTTP"""
    survey = survey_open(pool, token)
    survey.answer(rating, comment, through='email')
    return survey


def survey_language(request, pool):
    """The language of the customer the survey of the request's token was
    sent to, None when the lang parameter chooses or the token opens no
    survey"""
    if query_language(request, pool):
        return None
    token = request.args.get('token')
    if not token:
        return None
    try:
        survey = survey_open(pool, token[:200])
    except UserError:
        return None
    return party_language(pool, survey.contact, survey.company)


@portal_route('/survey', ['GET'], login=False, language=survey_language)
def survey_page(request, pool):
    token = _survey_token(request)
    survey = survey_open(pool, token)
    query = {'token': token}
    language = query_language(request, pool)
    if language:
        query['lang'] = language
    return html_response(
        _survey_form(survey, '?' + urllib.parse.urlencode(query)),
        gettext('hitech_service.msg_survey_page_title'))


@portal_route('/survey', ['POST'], login=False, language=survey_language)
def survey_post(request, pool):
    token = _survey_token(request)
    if request.mimetype == 'application/json':
        data = _json_body(request)
        _only(data, {'rating', 'comment'})
        rating, comment = data.get('rating'), data.get('comment')
    else:
        rating = request.form.get('rating')
        comment = request.form.get('comment')
    comment = _text({'comment': comment}, 'comment', size=4000) or None
    survey = survey_answer(pool, token, rating, comment)
    if request.mimetype == 'application/json':
        return json_response({'id': survey.id, 'state': survey.state})
    return html_response('<p>%s</p>' % html.escape(
            gettext('hitech_service.msg_survey_page_thanks')),
        gettext('hitech_service.msg_survey_page_title'))


def pending_survey(pool, record):
    "The survey of record waiting for an answer, or None"
    Survey = pool.get('hitech.ticket.survey')
    surveys = Survey.search([
            ('ticket', '=', record.id),
            ('state', '=', 'sent'),
            ('expire_at', '>=', datetime.datetime.now()),
            ], order=[('id', 'DESC')], limit=1)
    return surveys[0] if surveys else None


def answer_survey(pool, user, record, rating, comment):
    """Answer the pending survey of record, a ticket of user (409 when
    there is none)"""
    comment = _text({'comment': comment}, 'comment', size=4000) or None
    survey = pending_survey(pool, record)
    if not survey:
        raise PortalHTTPError(409, 'no_survey',
            gettext('hitech_service.msg_portal_no_survey',
                ticket=record.rec_name))
    survey.answer(rating, comment, through='portal', contact=user.party)
    return survey


@portal_route('/tickets/<int:ticket_id>/survey', ['POST'])
def portal_survey(request, pool, ticket_id, user, session):
    record = _get_ticket(pool, user, ticket_id)
    data = _json_body(request)
    _only(data, {'rating', 'comment'})
    survey = answer_survey(pool, user, record, data.get('rating'),
        data.get('comment'))
    return json_response({'id': survey.id, 'state': survey.state})


# Routes: HTML pages ---------------------------------------------------------
#
# Server-rendered pages for a browser, without JavaScript: every value is
# escaped, every form that changes something carries the CSRF token of the
# session, and the work is done by the same helpers as the JSON routes.

def _msg(name, **kwargs):
    "The escaped translated text of the message name"
    return html.escape(gettext('hitech_service.' + name, **kwargs))


def _multiline(value):
    return html.escape(value or '').replace('\n', '<br>')


def _csrf_field(pool, session):
    return '<input type="hidden" name="csrf_token" value="%s">' % (
        html.escape(_csrf_token(pool, session) or ''))


def _nav(request, pool, session):
    "The links of every page and the logout form"
    e = html.escape
    return (
        '<nav><a href="%s">%s</a> | <a href="%s">%s</a> '
        '<form method="post" action="%s" style="display:inline">%s'
        '<button type="submit">%s</button></form></nav>') % (
        e(_url(request, 'tickets.html')),
        _msg('msg_portal_page_tickets'),
        e(_url(request, 'kb.html')), _msg('msg_portal_page_kb'),
        e(_url(request, 'logout.html')), _csrf_field(pool, session),
        _msg('msg_portal_page_logout'))


def _login_url(request, pool):
    "The login page, keeping the language chosen by the lang parameter"
    code = query_language(request, pool)
    if code:
        return 'login.html?' + urllib.parse.urlencode({'lang': code})
    return 'login.html'


def _login_form(request, pool, error=None, email=''):
    title = gettext('hitech_service.msg_portal_page_login')
    body = '<h1>%s</h1>' % html.escape(title)
    if error:
        body += '<p role="alert"><strong>%s</strong></p>' % html.escape(error)
    body += (
        '<form method="post" action="%s">'
        '<p><label>%s<br><input type="email" name="email" value="%s" '
        'maxlength="320" autocomplete="username" required></label></p>'
        '<p><label>%s<br><input type="password" name="password" '
        'autocomplete="current-password" required></label></p>'
        '<p><button type="submit">%s</button></p></form>') % (
        html.escape(_url(request, _login_url(request, pool))),
        _msg('msg_portal_page_email'), html.escape(email[:320]),
        _msg('msg_portal_page_password'),
        _msg('msg_portal_page_login_button'))
    return body, title


@portal_route('/login.html', ['GET'], login=False)
def login_page(request, pool):
    body, title = _login_form(request, pool)
    return html_response(body, title)


@portal_route('/login.html', ['POST'], login=False)
def login_page_post(request, pool):
    # no session yet, so no token: the SameSite=Strict cookie and the
    # origin of the form protect the login
    if not _same_origin(request):
        raise PortalHTTPError(403, 'origin',
            gettext('hitech_service.msg_portal_origin'))
    email = request.form.get('email') or ''
    try:
        user = _check_login(pool, request.form)
    except PortalHTTPError as e:
        if e.status != 400:
            raise
        body, title = _login_form(request, pool, e.message, email)
        return html_response(body, title, status=400)
    if not user:
        # the failed attempt web_user recorded is committed
        body, title = _login_form(request, pool,
            gettext('hitech_service.msg_portal_login_failed'), email)
        return html_response(body, title, status=401)
    key = user.new_session()
    # the secret of the CSRF tokens exists before the first page (a GET,
    # read-only, cannot create it)
    _csrf_token(pool, key)
    response = redirect_response(request, 'tickets.html')
    _set_session_cookie(request, response, key, _session_timeout(pool))
    return response


@portal_route('/logout.html', ['POST'], page=True)
def logout_page(request, pool, user, session):
    page = 'login.html'
    language = Transaction().language
    if language != request_language(request, pool):
        # the login page in the language of the user, not of the browser
        page += '?' + urllib.parse.urlencode({'lang': language})
    return _end_session(request, pool, session,
        redirect_response(request, page))


def _new_ticket_form(request, pool, user, session, values=None,
        error=None):
    "The new ticket form, filled with values and error when refused"
    Ticket = pool.get('hitech.ticket')
    e = html.escape
    values = values or {}
    labels = field_labels(Ticket,
        ['account', 'subject', 'description', 'priority', 'serial_number'])

    def value(name):
        return e((values.get(name) or '')[:MAX_TEXT])

    selection = dict(
        Ticket.fields_get(['priority'])['priority']['selection'])
    priority = values.get('priority') or 'normal'
    priorities = ''.join('<option value="%s"%s>%s</option>' % (
            p, ' selected' if p == priority else '',
            e(selection.get(p, p)))
        for p in ['low', 'normal', 'high'])
    # the default account of new_ticket comes first
    parties = list(user.secondary_parties) + (
        [user.party] if user.party else [])
    party = ''
    if len(parties) > 1:
        party = '<p><label>%s<br><select name="party">%s</select>' \
            '</label></p>' % (e(labels['account']), ''.join(
                '<option value="%d"%s>%s</option>' % (p.id,
                    ' selected' if str(p.id) == values.get('party') else '',
                    e(p.rec_name))
                for p in parties))
    alert = ''
    if error:
        alert = '<p role="alert"><strong>%s</strong></p>' % e(error)
    return (
        '<h2 id="new">%s</h2>%s<form method="post" action="%s">%s'
        '<p><label>%s<br><input name="subject" maxlength="200" size="60" '
        'value="%s" required></label></p>%s'
        '<p><label>%s<br><textarea name="description" rows="6" cols="60" '
        'maxlength="%d">%s</textarea></label></p>'
        '<p><label>%s<br><select name="priority">%s</select></label></p>'
        '<p><label>%s<br><input name="serial_number" maxlength="100" '
        'value="%s"></label></p>'
        '<p><button type="submit">%s</button></p></form>') % (
        _msg('msg_portal_page_new_ticket'), alert,
        e(_url(request, 'tickets.html')), _csrf_field(pool, session),
        e(labels['subject']), value('subject'), party,
        e(labels['description']), MAX_TEXT, value('description'),
        e(labels['priority']), priorities,
        e(labels['serial_number']), value('serial_number'),
        _msg('msg_portal_page_create'))


def _kb_form(request, text=''):
    return (
        '<form method="get" action="%s"><label>%s '
        '<input type="search" name="q" value="%s" maxlength="200" required>'
        '</label> <button type="submit">%s</button></form>') % (
        html.escape(_url(request, 'kb.html')), _msg('msg_portal_page_kb'),
        html.escape(text), _msg('msg_portal_page_kb_search'))


def _tickets_page(request, pool, user, session, values=None, error=None,
        status=200):
    Ticket = pool.get('hitech.ticket')
    records = Ticket.search([ticket_domain(user)], limit=PAGE_SIZE,
        order=[('create_date', 'DESC'), ('id', 'DESC')])
    e = html.escape
    rows = ''.join(
        '<tr><td><a href="%s">%s</a></td><td>%s</td>'
        '<td>%s</td><td>%s</td></tr>' % (
            e(_url(request, 'tickets/%d.html' % t.id)), e(t.number or ''),
            e(t.subject or ''), e(_state_label(t, 'state') or ''),
            e(str(t.sla_deadline or ''))) for t in records)
    title = gettext('hitech_service.msg_portal_page_tickets')
    labels = field_labels(Ticket, ['subject', 'state', 'sla_deadline'])
    return html_response(
        '%s<h1>%s</h1><table><tr><th>#</th><th>%s</th><th>%s</th>'
        '<th>%s</th></tr>%s</table>%s<h2>%s</h2>%s' % (
            _nav(request, pool, session),
            e(title), e(labels['subject']), e(labels['state']),
            e(labels['sla_deadline']), rows,
            _new_ticket_form(request, pool, user, session, values, error),
            _msg('msg_portal_page_kb'), _kb_form(request)), title,
        status=status)


@portal_route('/tickets.html', ['GET'], page=True)
def tickets_page(request, pool, user, session):
    return _tickets_page(request, pool, user, session)


@portal_route('/tickets.html', ['POST'], page=True)
def create_ticket_page(request, pool, user, session):
    # the form sends empty fields: they count as not given
    data = {name: request.form[name] for name in TICKET_FIELDS
        if request.form.get(name)}
    try:
        ticket = new_ticket(pool, user, data)
    except (PortalHTTPError, UserError) as e:
        if isinstance(e, PortalHTTPError) and e.status != 400:
            raise
        # nothing of the refused ticket is kept; the form comes back
        # with what the customer typed and the reason
        Transaction().rollback()
        return _tickets_page(request, pool, user, session, data,
            e.message, status=400)
    return redirect_response(request, 'tickets/%d.html' % ticket.id)


@portal_route('/kb.html', ['GET'], page=True)
def kb_page(request, pool, user, session):
    text, limit = _kb_query(request)
    e = html.escape
    title = gettext('hitech_service.msg_portal_page_kb')
    body = '%s<h1>%s</h1>%s' % (
        _nav(request, pool, session), e(title), _kb_form(request, text))
    if text:
        articles = kb_articles(pool, text, limit)
        body += ''.join(
            '<article><h2>%s %s</h2><p>%s</p><p>%s</p><p>%s</p></article>'
            % (e(a.number or ''), e(a.title or ''), _multiline(a.problem),
                _multiline(a.cause), _multiline(a.resolution))
            for a, _ in articles) or '<p>%s</p>' % _msg(
            'msg_portal_page_kb_none')
    return html_response(body, title)


@portal_route('/tickets/<int:ticket_id>.html', ['GET'], page=True)
def ticket_page(request, pool, ticket_id, user, session):
    record = _get_ticket(pool, user, ticket_id)
    detail = ticket_detail(pool, record)
    e = html.escape
    text = _multiline

    def download(attachment_id):
        return e(_url(request, 'attachments/%d' % attachment_id))

    messages = ''.join(
        '<article><header>%s &middot; %s</header><p>%s</p>%s</article>' % (
            e(str(m['date'] or '')), e(m['author'] or ''), text(m['body']),
            ''.join('<p>&#128206; <a href="%s">%s</a></p>'
                % (download(a['id']), e(a['name'])) for a in m['attachments']))
        for m in detail['messages'])
    attachments = ''.join(
        '<li><a href="%s">%s</a></li>' % (download(a['id']), e(a['name']))
        for a in detail['attachments'])
    labels = field_labels(record.__class__,
        [n for n in detail['sla'] if n != 'overdue'])
    sla = ''.join('<li>%s: %s</li>' % (e(labels[name]), e(str(value)))
        for name, value in detail['sla'].items()
        if name != 'overdue' and value)
    surveys = ''.join(
        '<li>%s/5 %s</li>' % (e(str(s['rating'])), text(s['comment']))
        for s in detail['surveys'] if s['state'] == 'answered')
    if record.state in {'closed', 'cancelled'}:
        form = '<p>%s</p>' % _msg('msg_portal_ticket_closed',
            ticket=record.rec_name)
    else:
        form = (
            '<h2>%s</h2><form method="post" action="%s" '
            'enctype="multipart/form-data">%s'
            '<p><textarea name="body" rows="6" cols="60" maxlength="%d">'
            '</textarea></p>'
            '<p><label>%s<br><input type="file" name="file"></label></p>'
            '<p><button type="submit">%s</button></p></form>') % (
            _msg('msg_portal_page_reply'),
            e(_url(request, 'tickets/%d/reply.html' % record.id)),
            _csrf_field(pool, session), MAX_TEXT,
            _msg('msg_portal_page_reply_file'),
            _msg('msg_survey_page_send'))
    survey = pending_survey(pool, record) if record.state == 'closed' else None
    if survey:
        form += _survey_form(survey,
            _url(request, 'tickets/%d/survey.html' % record.id),
            _csrf_token(pool, session))
    title = '%s %s' % (record.number or '', record.subject or '')
    return html_response(
        '%s<h1>%s</h1><p>%s</p><p>%s</p><ul>%s</ul><ul>%s</ul>%s<ul>%s</ul>'
        '%s' % (_nav(request, pool, session), e(title),
            e(detail['state_label'] or ''),
            text(detail['description']), sla, attachments, messages,
            surveys, form), title)


@portal_route('/tickets/<int:ticket_id>/reply.html', ['POST'],
    max_size=MAX_UPLOAD_REQUEST, page=True)
def reply_page(request, pool, ticket_id, user, session):
    "An answer and an optional file, checked before anything is written"
    record = _get_ticket(pool, user, ticket_id)
    _check_writable(record)
    check_upload_length(pool, request)
    upload = request.files.get('file')
    if upload is not None and not upload.filename:
        # the browser sends an empty part when no file is chosen
        upload = None
    body = _text(request.form, 'body', required=upload is None)
    file = read_upload(pool, upload) if upload is not None else None
    resource = record
    if body:
        resource = add_reply(pool, user, record, body)
    if file:
        name, data, _ = file
        add_attachment(pool, user, resource, name, data)
    return redirect_response(request, 'tickets/%d.html' % record.id)


@portal_route('/tickets/<int:ticket_id>/survey.html', ['POST'], page=True)
def survey_answer_page(request, pool, ticket_id, user, session):
    record = _get_ticket(pool, user, ticket_id)
    answer_survey(pool, user, record, request.form.get('rating'),
        request.form.get('comment'))
    return redirect_response(request, 'tickets/%d.html' % record.id)
