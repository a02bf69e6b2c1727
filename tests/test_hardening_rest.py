# This file is part of HiTech CRM. See LICENSE for details.
"""Platform hardening through Tryton's REST API (/<db>/rest/...).

A user with no groups holds a REST application key (created by the
server, as an administrator would); through the REST API they can neither
read nor filter on other users' secret fields, nor reach the internal
storage models, nor create application keys; the key stops working when
the user changes password.
"""
import base64
import datetime
import json
import unittest

from werkzeug.test import Client
from werkzeug.wrappers import Response

from trytond.pool import Pool
from trytond.tests.test_tryton import DB_NAME, activate_module, drop_db
from trytond.transaction import Transaction
from trytond.wsgi import app


def b64(value):
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


class HardeningRESTTestCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        drop_db()
        activate_module(['hitech_crm_base'])
        with Transaction().start(DB_NAME, 0) as transaction:
            pool = Pool()
            User = pool.get('res.user')
            Application = pool.get('res.user.application')
            plain, other = User.create([{
                        'login': 'plain', 'password': 'plain-password-123',
                        }, {
                        'login': 'other', 'password': 'other-password-123',
                        }])
            User.write([other], {
                    'password_reset': 'reset-token-98765',
                    'password_reset_expire': (
                        datetime.datetime.now() + datetime.timedelta(1)),
                    })
            application, = Application.create([{
                        'user': plain.id, 'application': 'rest',
                        'state': 'validated'}])
            cls.key = application.key
            cls.plain_id, cls.other_id = plain.id, other.id
            transaction.commit()

    @classmethod
    def tearDownClass(cls):
        drop_db()

    def request(self, method, path, **kwargs):
        client = Client(app, Response)
        headers = [('Authorization', 'Bearer ' + self.key)]
        return client.open(
            '/%s/rest/%s' % (DB_NAME, path), method=method,
            headers=headers, **kwargs)

    def test_key_works(self):
        "The key reads what the user may read"
        response = self.request('GET', 'model/res.user/%s' % self.other_id,
            query_string={'f': ['login']})
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.get_json()['login'], 'other')

    def test_secret_fields_not_returned(self):
        "Secret fields are never returned, even when asked for"
        response = self.request('GET', 'model/res.user/%s' % self.other_id,
            query_string={'f': [
                    'login', 'password_hash', 'password_reset']})
        self.assertEqual(response.status_code, 200)
        data = response.get_json()
        self.assertNotIn('password_hash', data)
        self.assertNotIn('password_reset', data)
        self.assertNotIn(b'reset-token-98765', response.data)

    def test_secret_fields_not_searchable(self):
        "A domain or an order on a secret field is refused"
        for args in [
                {'d': b64([['password_reset', 'like', 'reset%']])},
                {'d': b64([['create_uid', 'where',
                                [['password_hash', '!=', None]]]])},
                {'o': b64([['password_reset', 'ASC']])},
                ]:
            with self.subTest(args=args):
                response = self.request(
                    'GET', 'model/res.user', query_string=args)
                # a clear, translated refusal; no traceback
                self.assertEqual(response.status_code, 400)
                self.assertIn('not allowed', response.get_json()['message'])
                self.assertNotIn(b'Traceback', response.data)
                self.assertNotIn(b'reset-token-98765', response.data)

    def test_internal_models_unreachable(self):
        "Sessions, queue and login attempts are out of reach"
        for model in ['ir.session', 'ir.queue', 'res.user.login.attempt',
                'res.user.device']:
            with self.subTest(model=model):
                response = self.request('GET', 'model/%s' % model)
                self.assertIn(response.status_code, {400, 403, 404})
                self.assertNotIn(b'Traceback', response.data)

    def test_cannot_create_application_key(self):
        "A user cannot create an application key through REST"
        response = self.request('POST', 'model/res.user.application',
            json={'user': self.plain_id, 'application': 'rest',
                'state': 'validated'})
        self.assertIn(response.status_code, {400, 403})
        self.assertNotIn(b'Traceback', response.data)

    def test_zz_key_revoked_on_password_change(self):
        "Changing the password revokes the key (runs last)"
        with Transaction().start(DB_NAME, 0) as transaction:
            User = Pool().get('res.user')
            User.write([User(self.plain_id)], {
                    'password': 'plain-password-456'})
            transaction.commit()
        response = self.request('GET', 'model/res.user/%s' % self.other_id,
            query_string={'f': ['login']})
        self.assertEqual(response.status_code, 401)
