# This file is part of HiTech CRM. See LICENSE for details.
"""POST /<database>/hitech/ticket: the public web form of the service desk.

Form-encoded or JSON; answers JSON.  201 with the ticket number, 202 when
the honeypot field is filled (nothing is created), 4xx with
{"status": "error", "code": ..., "error": ..., "field": ...} otherwise.
The messages are in the best translatable language of the request's
Accept-Language header (the server's default otherwise).
"""
import json
import logging

from werkzeug.exceptions import RequestEntityTooLarge

import trytond.config as config
from trytond.exceptions import UserError, UserWarning
from trytond.i18n import gettext
from trytond.protocols.wrappers import (
    Response, allow_null_origin, set_max_request_size, with_pool,
    with_transaction)
from trytond.transaction import Transaction
from trytond.wsgi import app

from . import web_form
from .portal import language_tag, request_language

logger = logging.getLogger(__name__)
# hard cap read before the database is reached; the configured size of the
# service configuration applies below it
MAX_REQUEST_SIZE = config.getint(
    'hitech_service', 'web_form_max_request_size', default=1024 * 1024)


def _json(status, value):
    response = Response(
        json.dumps(value), status=status, content_type='application/json')
    response.headers['Content-Language'] = language_tag(
        Transaction().language)
    response.vary.add('Accept-Language')
    return response


def _values(request):
    "Return the submitted fields as a dict of strings"
    if request.mimetype == 'application/json':
        try:
            value = json.loads(request.get_data(cache=True) or b'null')
        except (ValueError, UnicodeDecodeError):
            web_form.refuse_invalid_json()
        if not isinstance(value, dict):
            web_form.refuse_invalid_json()
        return value
    if request.mimetype in {
            'application/x-www-form-urlencoded', 'multipart/form-data'}:
        if request.files:
            web_form.refuse_invalid_json()
        form = request.form
        if any(len(form.getlist(k)) > 1 for k in form.keys()):
            web_form.refuse_invalid_json()
        return form.to_dict()
    raise web_form.FormRefused(415, 'unsupported_media_type',
        "Send application/json or application/x-www-form-urlencoded.")


@app.route('/<database_name>/hitech/ticket', methods={'POST'})
@set_max_request_size(MAX_REQUEST_SIZE)
@allow_null_origin
@with_pool
@with_transaction()
def ticket_form(request, pool):
    with Transaction().set_context(
            language=request_language(request, pool)):
        return _ticket_form(request, pool)


def _ticket_form(request, pool):
    Configuration = pool.get('hitech.service.configuration')
    config_ = Configuration(1)
    ip_address = request.remote_addr or 'unknown'
    try:
        web_form.check_rate(config_, ip_address)
        max_size = config_.get_web_form_max_size()
        try:
            length = request.content_length
            if max_size and length is not None and length > max_size:
                raise RequestEntityTooLarge
            data = request.get_data(cache=True)
            if max_size and len(data) > max_size:
                raise RequestEntityTooLarge
            values = _values(request)
        except RequestEntityTooLarge:
            raise web_form.FormRefused(413, 'too_large',
                gettext('hitech_service.msg_web_form_too_large'))
        web_form.check_secret(config_, values, request.headers)
        if values.get(web_form.HONEYPOT):
            web_form.record_attempt(ip_address, False)
            logger.info("web form: honeypot filled by %s", ip_address)
            return _json(202, {'status': 'accepted'})
        ticket_values, message_values = web_form.ticket_values(
            config_, values)
    except web_form.FormRefused as refused:
        web_form.record_attempt(ip_address, False)
        return _json(refused.status, refused.as_dict())
    try:
        ticket = web_form.create_ticket(ticket_values, message_values)
    except (UserError, UserWarning) as exception:
        # nothing of a failed ticket is kept
        Transaction().rollback()
        web_form.record_attempt(ip_address, False)
        return _json(400, {
                'status': 'error', 'code': 'invalid',
                'error': exception.message})
    web_form.record_attempt(ip_address, True)
    logger.info("web form: ticket %s from %s", ticket.number, ip_address)
    return _json(201, {'status': 'created', 'number': ticket.number})
