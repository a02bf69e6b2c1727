# This file is part of HiTech CRM. See LICENSE for details.
"""The web capture route: company websites post their lead forms to
``POST /<database>/hitech/lead`` (form-encoded or JSON).

Every answer is JSON: 201 with the lead number, or 400 (field named),
403 (unknown form or bad secret), 413 (body too large), 429 (rate
limit).  A rejected post writes nothing but its rate-limit hit."""
import json
import logging
from functools import wraps
from http import HTTPStatus

from werkzeug.exceptions import HTTPException

from trytond import backend
from trytond.exceptions import UserError
from trytond.i18n import gettext
from trytond.protocols.wrappers import (
    Response, set_max_request_size, with_pool, with_transaction)
from trytond.transaction import Transaction, TransactionError
from trytond.wsgi import app

logger = logging.getLogger(__name__)
# Hard ceiling of the body read by werkzeug; the configured limit is lower
HARD_MAX_SIZE = 1024 * 1024


def _answer(code, **values):
    return Response(
        json.dumps(values, ensure_ascii=False), status=int(code),
        content_type='application/json; charset=utf-8',
        headers=[('Cache-Control', 'no-store'),
            ('X-Content-Type-Options', 'nosniff')])


def _error(status, message, field=None):
    values = {'status': int(status), 'error': message}
    if field:
        values['field'] = field
    return _answer(status, **values)


def _posted_data(request):
    "Return the posted values as a dictionary of strings (or None)"
    content_type = request.mimetype or ''
    if content_type == 'application/json':
        try:
            data = json.loads(request.get_data(cache=False).decode('utf-8'))
        except (UnicodeDecodeError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        return data
    if content_type in {
            'application/x-www-form-urlencoded', 'multipart/form-data'}:
        return {k: v for k, v in request.form.items()}
    return None


def _busy_answer(func):
    """A database still busy after the retries of with_transaction (locks
    held by concurrent posts) is a clean 503 with Retry-After, never the
    database's own message in an HTML error page"""
    @wraps(func)
    def wrapper(request, pool, *args, **kwargs):
        try:
            return func(request, pool, *args, **kwargs)
        except backend.DatabaseOperationalError:
            logger.warning("lead capture: database busy", exc_info=True)
            with Transaction().start(pool.database_name, 0, readonly=True):
                message = gettext('hitech_crm_base.msg_lead_capture_busy')
            response = _error(HTTPStatus.SERVICE_UNAVAILABLE, message)
            response.headers['Retry-After'] = '5'
            return response
    return wrapper


@app.route('/<database_name>/hitech/lead', methods=['POST'])
@set_max_request_size(HARD_MAX_SIZE)
@with_pool
@_busy_answer
@with_transaction(context={'_skip_warnings': True})
def capture_lead(request, pool):
    try:
        return _capture_lead(request, pool)
    except (backend.DatabaseOperationalError, TransactionError,
            HTTPException):
        # retried by with_transaction or answered by werkzeug
        raise
    except Exception:
        logger.exception("lead capture failed")
        Transaction().rollback()
        return _error(HTTPStatus.INTERNAL_SERVER_ERROR,
            gettext('hitech_crm_base.msg_lead_capture_failed'))


def _capture_lead(request, pool):
    Configuration = pool.get('hitech.crm.configuration')
    Form = pool.get('hitech.lead.form')
    Hit = pool.get('hitech.lead.capture.hit')
    Opportunity = pool.get('sale.opportunity')
    transaction = Transaction()

    config = Configuration.capture_settings()
    length = request.content_length
    if length is None or length > config['max_size']:
        if length is None:
            return _error(HTTPStatus.LENGTH_REQUIRED,
                gettext('hitech_crm_base.msg_lead_capture_length'))
        return _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            gettext('hitech_crm_base.msg_lead_capture_too_large',
                size=config['max_size']))

    address = request.remote_addr or 'unknown'
    # The hit is committed on its own so that it counts even when the
    # post is rejected and nothing else is written.
    with transaction.new_transaction() as hit_transaction:
        allowed = Hit.hit(
            address, config['rate_limit'], config['rate_window'])
        hit_transaction.commit()
    if not allowed:
        response = _error(HTTPStatus.TOO_MANY_REQUESTS,
            gettext('hitech_crm_base.msg_lead_capture_rate'))
        response.headers['Retry-After'] = str(config['rate_window'])
        return response

    data = _posted_data(request)
    if data is None:
        return _error(HTTPStatus.BAD_REQUEST,
            gettext('hitech_crm_base.msg_lead_capture_body'))
    code = data.get('form')
    forms = Form.search([('code', '=', code)], limit=1) if (
        isinstance(code, str) and code) else []
    if not forms:
        return _error(HTTPStatus.BAD_REQUEST,
            gettext('hitech_crm_base.msg_lead_capture_form'), field='form')
    form, = forms
    key = data.get('key') or request.headers.get('X-Lead-Key')
    if not form.check_key(key if isinstance(key, str) else None):
        return _error(HTTPStatus.FORBIDDEN,
            gettext('hitech_crm_base.msg_lead_capture_key'))
    if data.get(form.honeypot):
        return _error(HTTPStatus.BAD_REQUEST,
            gettext('hitech_crm_base.msg_lead_capture_rejected'))

    try:
        with transaction.set_context(company=form.company.id):
            if config['queue']:
                Opportunity.capture_stage(form, data)
                return _answer(HTTPStatus.ACCEPTED, status=202, queued=True)
            lead, created = Opportunity.capture(form, data, address=address)
    except UserError as error:
        # LeadCaptureError names the field; other errors are values the
        # models refuse, their message names them
        transaction.rollback()
        return _error(HTTPStatus.BAD_REQUEST, error.message,
            field=getattr(error, 'field', None))
    if created:
        return _answer(HTTPStatus.CREATED, status=201, number=lead.number)
    return _answer(HTTPStatus.OK, status=200, number=lead.number,
        duplicate=True)
