# This file is part of HiTech CRM. See LICENSE for details.
"""A JSON-RPC client for tests that talk to trytond's WSGI application.

The requests go through the same stack as the web client's (werkzeug
request parsing, JSON-RPC decoding, the dispatcher with its access
checks and session authentication), without a network socket.
"""
import base64

from werkzeug.test import Client
from werkzeug.wrappers import Response

from trytond.wsgi import app

ACCESS_DENIED = (
    'You are not allowed to access',
    )


class RPCError(Exception):

    def __init__(self, error):
        super().__init__(error)
        self.error = error

    @property
    def message(self):
        error = self.error
        if (isinstance(error, list) and len(error) == 2
                and isinstance(error[1], list) and error[1]):
            return str(error[1][0])
        return str(error)

    @property
    def unexposed(self):
        "The method is not published over RPC (HTTP 403)"
        return self.error[0] == 'HTTP'

    @property
    def access_denied(self):
        return self.message.startswith(ACCESS_DENIED)


class RPCClient:
    "Log in as a user and call model methods as that user"

    def __init__(self, database, login, password):
        self.database = database
        self.client = Client(app, Response)
        self.url = '/%s/rpc/' % database
        self._id = 0
        self.user_id, token = self.call(
            'common.db.login', login, {'password': password}, 'en')[:2]
        session = '%s:%s:%s' % (login, self.user_id, token)
        self.headers = [('Authorization', 'Session ' + base64.b64encode(
                    session.encode()).decode())]
        self.context = self.call('model.res.user.get_preferences', True, {})

    headers = []

    def call(self, method, *params):
        self._id += 1
        response = self.client.post(self.url, json={
                'id': self._id, 'method': method, 'params': list(params)},
            headers=self.headers)
        if response.status_code != 200:
            raise RPCError(['HTTP', [str(response.status_code)]])
        data = response.get_json()
        if 'error' in data:
            raise RPCError(data['error'])
        return data['result']

    def model(self, model, method, *args):
        return self.call(
            'model.%s.%s' % (model, method), *args, self.context)
