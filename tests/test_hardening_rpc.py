# This file is part of HiTech CRM. See LICENSE for details.
"""Platform hardening checked through a real trytond server.

A trytond server is started on 127.0.0.1 (free port) against a temporary
database with every module of the suite activated (web_user too); users
log in with JSON-RPC and the REST keys are used on the stock timesheet
routes (user_application('timesheet')).

The server, its database (built in a subprocess by trytond's own test
helper, so restored from DB_CACHE when warm) and their clean-up are those
of tests/server.py (TrytondServer).
"""
import base64
import json
import textwrap
import unittest

from .server import TrytondServer

TIMEOUT = 10  # seconds, every HTTP call

PASSWORDS = {
    'plain': 'plain-password-123',
    'admin2': 'admin2-password-123',
    'victim': 'victim-password-123',
    'leaver': 'leaver-password-123',
    'holder': 'holder-password-123',
    }

SETUP_SCRIPT = textwrap.dedent('''
    import json, sys, datetime
    from trytond.tests.test_tryton import activate_module, DB_NAME
    from trytond.modules.hitech_crm_base.tests.common import SUITE_MODULES
    activate_module(SUITE_MODULES)
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    passwords = json.loads(sys.argv[1])
    with Transaction().start(DB_NAME, 0, readonly=False) as transaction:
        pool = Pool(DB_NAME)
        pool.init()
        User = pool.get('res.user')
        Application = pool.get('res.user.application')
        ModelData = pool.get('ir.model.data')
        WebUser = pool.get('web.user')
        admin_group = ModelData.get_id('res', 'group_admin')
        users = {}
        for login, password in passwords.items():
            values = {'login': login, 'name': login, 'password': password}
            if login == 'admin2':
                values['groups'] = [('add', [admin_group])]
            user, = User.create([values])
            users[login] = user.id
        # holder has a pending reset token (never changed by the tests)
        User.write([User(users['holder'])], {
                'password_reset': 'holder-reset-token-4567',
                'password_reset_expire': (
                    datetime.datetime.now() + datetime.timedelta(days=1)),
                })
        keys = {}
        for login in ['victim', 'leaver', 'plain']:
            application, = Application.create([{
                        'user': users[login], 'application': 'timesheet'}])
            keys[login] = application.key
        WebUser.create([{
                    'email': 'portal@example.com',
                    'password': 'portal-password-123'}])
        transaction.commit()
    print(json.dumps({'users': users, 'keys': keys}))
    ''')


class HardeningRPCTestCase(unittest.TestCase):
    "Hardening through JSON-RPC and REST routes of a running trytond"

    @classmethod
    def setUpClass(cls):
        cls.server = TrytondServer('hardening_rpc', timeout=TIMEOUT,
            config='''\
                [session]
                authentications = password
                ''')
        cls.db_name = cls.server.db_name
        try:
            data = cls.server.setup_database(
                SETUP_SCRIPT, json.dumps(PASSWORDS))
            cls.users = data['users']
            cls.keys = data['keys']
            cls.server.start()
        except Exception:
            cls.server.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    # HTTP helpers

    @classmethod
    def _request(cls, path, data=None, headers=None, method=None):
        status, body, _ = cls.server.request(method, path, data, headers)
        return status, body

    @classmethod
    def _post(cls, path, method, params, auth=None):
        headers = {'Content-Type': 'application/json'}
        if auth:
            headers['Authorization'] = auth
        data = json.dumps(
            {'id': 1, 'method': method, 'params': params}).encode()
        return cls._request(path, data, headers, 'POST')

    def login(self, login):
        status, body = self._post(
            f'/{self.db_name}/rpc/', 'common.db.login',
            [login, {'password': PASSWORDS[login]}, 'en'])
        self.assertEqual(status, 200, body)
        user_id, token, _ = json.loads(body)['result']
        self.assertEqual(user_id, self.users[login])
        return 'Session ' + base64.b64encode(
            f'{login}:{user_id}:{token}'.encode()).decode()

    def call(self, auth, method, *params, context=None):
        "Return (status, result, error, raw body)"
        status, body = self._post(
            f'/{self.db_name}/rpc/', method,
            [*params, context or {}], auth=auth)
        self.assertNotIn(b'Traceback', body)
        try:
            data = json.loads(body)
        except ValueError:
            return status, None, None, body
        return status, data.get('result'), data.get('error'), body

    def assertDenied(self, auth, method, *params, leak=None):
        status, result, error, body = self.call(auth, method, *params)
        self.assertIsNone(result, msg=f"{method} {params} returned {body}")
        if status == 200:
            # A translated Tryton error: (message, description, domain)
            self.assertTrue(error, body)
            self.assertIsInstance(error[0], str)
            self.assertFalse(error[0].startswith('Traceback'))
        else:
            self.assertIn(status, {401, 403}, body)
        if leak:
            self.assertNotIn(leak.encode(), body)

    def rest(self, path, key):
        return self._request(
            f'/{self.db_name}{path}',
            headers={
                'Authorization': f'Bearer {key}',
                'Accept': 'application/json'})

    # Tests

    def test_secret_fields(self):
        "No user, admin included, reads, searches or orders by secrets"
        victim = self.users['holder']
        for login in ['plain', 'admin2']:
            auth = self.login(login)
            with self.subTest(login=login):
                self.assertDenied(auth, 'model.res.user.read',
                    [victim], ['password_reset'], leak='holder-reset-token')
                self.assertDenied(auth, 'model.res.user.read',
                    [victim], ['password_hash'], leak='$')
                self.assertDenied(auth, 'model.res.user.search_read',
                    [['password_hash', 'like', '$argon%']], 0, None, None,
                    ['login'])
                self.assertDenied(auth, 'model.res.user.search',
                    [], 0, None, [['password_reset', 'ASC']])
                self.assertDenied(auth, 'model.res.user.search_count',
                    [['create_uid', 'where',
                            [['password_reset', 'like', 'holder%']]]])
                self.assertDenied(auth, 'model.res.user.search',
                    [['create_uid.password_hash', '!=', None]], 0, None,
                    None)
                self.assertDenied(auth, 'model.res.user.application.read',
                    [], ['key'])
                self.assertDenied(auth, 'model.web.user.search_read',
                    [], 0, None, None, ['email', 'password_hash'],
                    leak='$')
                self.assertDenied(auth, 'model.web.user.search',
                    [['reset_password_token', '!=', None]], 0, None, None)
                # ordinary fields are still readable
                status, result, error, body = self.call(
                    auth, 'model.res.user.read', [victim], ['login'])
                self.assertEqual(result, [{'id': victim, 'login': 'holder'}],
                    body)

    def test_internal_models(self):
        "Sessions, queue, devices, attempts and cache are closed to all"
        for login in ['plain', 'admin2']:
            auth = self.login(login)
            for model in [
                    'ir.session', 'ir.session.wizard', 'ir.queue',
                    'ir.cache', 'res.user.login.attempt',
                    'res.user.device', 'web.user.session',
                    'web.user.authenticate.attempt']:
                with self.subTest(login=login, model=model):
                    self.assertDenied(auth, f'model.{model}.search_read',
                        [], 0, None, None, ['id'])
            self.assertDenied(auth, 'model.ir.queue.create', [{
                        'name': 'default',
                        'data': {
                            'model': 'res.user', 'method': 'write',
                            'user': 0, 'context': {},
                            'instances': [self.users[login]],
                            'args': [{'groups': []}], 'kwargs': {}}}])

    def test_server_keeps_working(self):
        "Login, wizards, preferences and logout work with the deny-all"
        auth = self.login('admin2')
        status, result, error, body = self.call(
            auth, 'wizard.ir.module.config_wizard.create')
        self.assertIsNone(error, body)
        session_id = result[0]
        status, result, error, body = self.call(
            auth, 'wizard.ir.module.config_wizard.delete', session_id)
        self.assertIsNone(error, body)
        status, result, error, body = self.call(
            auth, 'model.res.user.get_preferences', False)
        self.assertIsNone(error, body)
        status, result, error, body = self.call(
            auth, 'model.res.user.device.renew', None)
        self.assertIsNone(error, body)
        self.assertTrue(result)
        status, body = self._post(
            f'/{self.db_name}/rpc/', 'common.db.logout', [], auth=auth)
        self.assertEqual(status, 200, body)
        self.assertNotIn('error', json.loads(body), body)
        # the session is gone
        status, result, error, body = self.call(
            auth, 'model.res.user.get_preferences', False)
        self.assertEqual(status, 401, body)

    def test_application_create_admin_only(self):
        "A user can not create a REST key for themselves"
        plain = self.users['plain']
        auth = self.login('plain')
        self.assertDenied(auth, 'model.res.user.application.create',
            [{'user': plain, 'application': 'rest'}])
        self.assertDenied(auth, 'model.res.user.set_preferences',
            {'applications': [['create', [{
                                'application': 'rest',
                                'key': 'k' * 32}]]]})
        # the key was not created by the failed calls
        self.assertEqual(self.rest(
                '/timesheet/employees', 'k' * 32)[0], 401)

    def test_application_revoked(self):
        "A key stops working on password change and on deactivation"
        status, body = self.rest('/timesheet/employees', self.keys['victim'])
        self.assertEqual(status, 200, body)
        status, body = self.rest('/timesheet/employees', self.keys['leaver'])
        self.assertEqual(status, 200, body)

        auth = self.login('admin2')
        status, result, error, body = self.call(auth, 'model.res.user.write',
            [self.users['victim']], {'password': 'victim-password-456'})
        self.assertIsNone(error, body)
        status, result, error, body = self.call(auth, 'model.res.user.write',
            [self.users['leaver']], {'active': False})
        self.assertIsNone(error, body)

        for login in ['victim', 'leaver']:
            with self.subTest(login=login):
                status, body = self.rest(
                    '/timesheet/employees', self.keys[login])
                self.assertIn(status, {401, 403}, body)
        # a key of another user is untouched
        status, body = self.rest('/timesheet/employees', self.keys['plain'])
        self.assertEqual(status, 200, body)

    def test_own_password_change_revokes(self):
        "A user changing their own password revokes their keys"
        auth = self.login('plain')
        status, body = self.rest('/timesheet/employees', self.keys['plain'])
        self.assertEqual(status, 200, body)
        status, result, error, body = self.call(
            auth, 'model.res.user.set_preferences',
            {'password': 'plain-password-456'})
        # set_preferences needs a fresh session: just logged in
        self.assertIsNone(error, body)
        PASSWORDS['plain'] = 'plain-password-456'
        status, body = self.rest('/timesheet/employees', self.keys['plain'])
        self.assertIn(status, {401, 403}, body)
