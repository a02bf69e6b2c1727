# This file is part of HiTech CRM. See LICENSE for details.
"""Hardening of stock Tryton: secret fields, internal models, REST keys,
queue and chat identity.

Access is only enforced over RPC or inside check_access(), so every check
below runs as a real user (no groups, or res.group_admin) inside
check_access(); the same calls as root must keep working.
"""
import datetime
import unittest

from trytond.model.exceptions import AccessError
from trytond.model.modelview import AccessButtonError
from trytond.modules.hitech_crm_base.tests.common import SUITE_MODULES
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    activate_module, drop_db, with_transaction)
from trytond.transaction import Transaction, check_access


class HardeningTestCase(unittest.TestCase):
    "Test the platform hardening of hitech_crm_base"

    @classmethod
    def setUpClass(cls):
        drop_db()
        # the suite database (web_user is activated by hitech_service)
        activate_module(SUITE_MODULES)

    @classmethod
    def tearDownClass(cls):
        drop_db()

    def _users(self):
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        admin_group = ModelData.get_id('res', 'group_admin')
        plain, admin, other = User.create([{
                    'login': 'plain', 'password': 'plain-password-123',
                    }, {
                    'login': 'admin2', 'password': 'admin-password-123',
                    'groups': [('add', [admin_group])],
                    }, {
                    'login': 'other', 'password': 'other-password-123',
                    }])
        User.write([other], {
                'password_reset': 'reset-token-1234',
                'password_reset_expire': (
                    datetime.datetime.now() + datetime.timedelta(days=1)),
                })
        return plain, admin, other

    def _as(self, user):
        transaction = Transaction()
        return _Chain(
            transaction.set_user(user.id), check_access())

    @with_transaction()
    def test_secret_fields_user(self):
        "Nobody reads, searches or orders res.user secrets over RPC"
        pool = Pool()
        User = pool.get('res.user')
        plain, admin, other = self._users()
        self.assertTrue(other.password_reset)

        for user in [plain, admin]:
            with self.subTest(user=user.login), self._as(user):
                for field in [
                        'password_hash', 'password_reset',
                        'password_reset_expire']:
                    with self.assertRaises(AccessError):
                        User.read([other.id], [field])
                    with self.assertRaises(AccessError):
                        User.search([(field, '!=', None)])
                    with self.assertRaises(AccessError):
                        User.search([], order=[(field, 'ASC')])
                    with self.assertRaises(AccessError):
                        User.search([('create_uid.' + field, '!=', None)])
                    with self.assertRaises(AccessError):
                        User.search([
                                ('create_uid', 'where',
                                    [(field, '!=', None)])])
                    with self.assertRaises(AccessError):
                        User.search([], order=[
                                ('create_uid.' + field, 'ASC')])
                with self.assertRaises(AccessError):
                    User.search_read(
                        [('password_hash', 'like', '$argon%')],
                        fields_names=['login'])
                # Reading a user without the secrets still works
                self.assertEqual(
                    User.read([other.id], ['login'])[0]['login'], 'other')

        # Server code is not restricted
        self.assertEqual(
            User.search([('password_reset', '=', other.password_reset)]),
            [other])

    @with_transaction()
    def test_secret_fields_not_published(self):
        "Clients are not told about secret fields (so none reads them)"
        pool = Pool()
        User = pool.get('res.user')
        plain, admin, other = self._users()
        for user in [plain, admin]:
            with self.subTest(user=user.login), self._as(user):
                fields = User.fields_get()
                self.assertIn('login', fields)
                for field in [
                        'password_hash', 'password_reset',
                        'password_reset_expire']:
                    self.assertNotIn(field, fields)

    @with_transaction()
    def test_secret_fields_group_grant(self):
        "A group grant on a secret field does not reopen it"
        pool = Pool()
        User = pool.get('res.user')
        FieldAccess = pool.get('ir.model.field.access')
        ModelData = pool.get('ir.model.data')
        plain, admin, other = self._users()
        FieldAccess.create([{
                    'model': 'res.user', 'field': 'password_reset',
                    'group': ModelData.get_id('res', 'group_admin'),
                    'perm_read': True, 'perm_write': True,
                    }])
        with self._as(admin):
            with self.assertRaises(AccessError):
                User.read([other.id], ['password_reset'])

    @with_transaction()
    def test_secret_fields_web_user(self):
        "Nobody reads or searches web.user secrets over RPC"
        pool = Pool()
        WebUser = pool.get('web.user')
        plain, admin, other = self._users()
        web_user, = WebUser.create([{
                    'email': 'portal@example.com',
                    'password': 'portal-password-123',
                    }])
        web_user.set_reset_password_token()
        web_user.save()
        for user in [plain, admin]:
            with self.subTest(user=user.login), self._as(user):
                for field in [
                        'password_hash', 'email_token',
                        'reset_password_token',
                        'reset_password_token_expire']:
                    with self.assertRaises(AccessError):
                        WebUser.read([web_user.id], [field])
                    with self.assertRaises(AccessError):
                        WebUser.search([(field, '!=', None)])
                    with self.assertRaises(AccessError):
                        WebUser.search([], order=[(field, 'DESC')])
                self.assertEqual(
                    WebUser.read([web_user.id], ['email'])[0]['email'],
                    'portal@example.com')
        # Server code still authenticates
        self.assertEqual(
            WebUser.authenticate(
                'portal@example.com', 'portal-password-123'),
            web_user)

    @with_transaction()
    def test_internal_models_denied(self):
        "Internal storage models are closed to every user, even admin"
        pool = Pool()
        Access = pool.get('ir.model.access')
        ModelData = pool.get('ir.model.data')
        plain, admin, other = self._users()
        # An explicit grant to administrators does not reopen them
        Access.create([{
                    'model': 'ir.queue',
                    'group': ModelData.get_id('res', 'group_admin'),
                    'perm_read': True, 'perm_write': True,
                    'perm_create': True, 'perm_delete': True,
                    }])
        models = [
            'ir.session', 'ir.session.wizard', 'ir.queue', 'ir.cache',
            'res.user.login.attempt', 'res.user.device',
            'web.user.session', 'web.user.authenticate.attempt']
        for user in [plain, admin]:
            for model in models:
                Model = pool.get(model)
                with self.subTest(user=user.login, model=model), \
                        self._as(user):
                    with self.assertRaises(AccessError):
                        Model.search([])
                    for mode in ['read', 'write', 'create', 'delete']:
                        self.assertFalse(
                            Access.check(model, mode, raise_exception=False))
        with self._as(plain):
            Queue = pool.get('ir.queue')
            with self.assertRaises(AccessError):
                Queue.create([{'name': 'default', 'data': {
                                'model': 'res.user', 'method': 'write',
                                'user': 0, 'context': {},
                                'instances': [plain.id], 'args': [
                                    {'groups': []}],
                                'kwargs': {}}}])

    @with_transaction()
    def test_server_code_still_works(self):
        "Login, password change, wizards keep working with the deny-all"
        pool = Pool()
        User = pool.get('res.user')
        Session = pool.get('ir.session')
        plain, admin, other = self._users()

        self.assertEqual(
            User.get_login('plain', {'password': 'plain-password-123'}),
            plain.id)
        with Transaction().set_user(plain.id):
            key = Session.new()
        self.assertTrue(Session.check(plain.id, key))

        # An administrator changes a password over RPC: sessions are
        # cleared by server code under the access-checked call.
        with self._as(admin):
            User.write([User(plain.id)], {'password': 'new-password-1234'})
        self.assertFalse(Session.search([('key', '=', key)]))
        self.assertEqual(
            User.get_login('plain', {'password': 'new-password-1234'}),
            plain.id)

        # Wizards store their state in ir.session.wizard
        Wizard = pool.get('ir.module.config_wizard', type='wizard')
        with self._as(admin), Transaction().set_context(
                active_model='ir.ui.menu'):
            session_id, _, _ = Wizard.create()
            Wizard.execute(session_id, {}, Wizard.start_state)
            Wizard.delete(session_id)

        # A user changes their own password through the preferences
        with Transaction().set_user(plain.id):
            User.set_preferences({'password': 'plain-password-456'})
        self.assertEqual(
            User.get_login('plain', {'password': 'plain-password-456'}),
            plain.id)

    @with_transaction()
    def test_error_origin_task(self):
        "Administrators still list errors whose origin is a queued task"
        pool = Pool()
        Error = pool.get('ir.error')
        Queue = pool.get('ir.queue')
        plain, admin, other = self._users()
        task_id = Queue.push('default', {
                'model': 'res.user', 'method': 'get_preferences',
                'user': plain.id, 'context': {}, 'instances': [plain.id],
                'args': [], 'kwargs': {}})
        error, = Error.create([{
                    'origin': str(Queue(task_id)), 'message': "Boom",
                    'description': "Traceback"}])
        with self._as(admin):
            values, = Error.read([error.id], [
                    'origin', 'origin.rec_name', 'summary', 'message'])
            self.assertEqual(values['message'], "Boom")
            with self.assertRaises(AccessError):
                Error.read([error.id], ['origin.data'])

    @with_transaction()
    def test_application_create_admin_only(self):
        "Only administrators create or validate REST keys"
        pool = Pool()
        User = pool.get('res.user')
        Application = pool.get('res.user.application')
        plain, admin, other = self._users()

        with self._as(plain):
            with self.assertRaises(AccessError):
                Application.create([{
                            'user': plain.id, 'application': 'rest'}])
        with Transaction().set_user(plain.id):
            # set_preferences runs without access checks
            with self.assertRaises(AccessError):
                User.set_preferences({'applications': [('create', [{
                                        'application': 'rest',
                                        'key': 'x' * 32}])]})
        requested, = Application.create([{
                    'user': plain.id, 'application': 'rest',
                    'state': 'requested'}])
        with self._as(plain):
            with self.assertRaises(AccessButtonError):
                Application.validate_([Application(requested.id)])
            with self.assertRaises(AccessError):
                Application.write(
                    [Application(requested.id)], {'key': 'y' * 32})
            with self.assertRaises(AccessError):
                User.set_preferences({'applications': [('write',
                                [requested.id], {'state': 'validated'})]})
        self.assertIsNone(Application.check(requested.key, 'rest'))

        with self._as(admin):
            application, = Application.create([{
                        'user': plain.id, 'application': 'rest'}])
            Application.validate_([Application(requested.id)])
        self.assertEqual(Application.check(application.key, 'rest'),
            application)

        # The owner can cancel their own key
        with self._as(plain):
            Application.cancel([Application(application.id)])
        self.assertIsNone(Application.check(application.key, 'rest'))

    @with_transaction()
    def test_application_key_secret(self):
        "The key is neither readable nor searchable, not even by rec_name"
        pool = Pool()
        Application = pool.get('res.user.application')
        plain, admin, other = self._users()
        application, = Application.create([{
                    'user': plain.id, 'application': 'rest'}])
        key = application.key
        for user in [plain, admin]:
            with self.subTest(user=user.login), self._as(user):
                with self.assertRaises(AccessError):
                    Application.read([application.id], ['key'])
                with self.assertRaises(AccessError):
                    Application.search([('key', '=', key)])
                rec_name, = Application.read(
                    [application.id], ['rec_name'])
                self.assertNotIn(key, rec_name['rec_name'])
                self.assertEqual(
                    Application.search([('rec_name', 'ilike', key[:8] + '%')]),
                    [])

    @with_transaction()
    def test_application_revoked(self):
        "Keys stop working on password change and deactivation"
        pool = Pool()
        User = pool.get('res.user')
        Application = pool.get('res.user.application')
        plain, admin, other = self._users()
        app_plain, app_other = Application.create([{
                    'user': plain.id, 'application': 'rest',
                    }, {
                    'user': other.id, 'application': 'rest',
                    }])
        self.assertTrue(Application.check(app_plain.key, 'rest'))
        self.assertTrue(Application.check(app_other.key, 'rest'))

        User.write([plain], {'password': 'changed-password-123'})
        self.assertIsNone(Application.check(app_plain.key, 'rest'))
        self.assertEqual(Application(app_plain.id).state, 'cancelled')

        # Deactivation at validation time: even if the state was not updated
        Application.write([app_other], {'state': 'validated'})
        cursor = Transaction().connection.cursor()
        table = User.__table__()
        cursor.execute(*table.update(
                [table.active], [False], where=table.id == other.id))
        Transaction().cache.clear()
        self.assertIsNone(Application.check(app_other.key, 'rest'))
        # And through the ORM the key is cancelled
        cursor.execute(*table.update(
                [table.active], [True], where=table.id == other.id))
        User.write([User(other.id)], {'active': False})
        self.assertEqual(Application(app_other.id).state, 'cancelled')

    @with_transaction()
    def test_queue_context_user(self):
        "A client 'user' context key does not follow a queued task"
        pool = Pool()
        User = pool.get('res.user')
        Queue = pool.get('ir.queue')
        plain, admin, other = self._users()
        transaction = Transaction()
        with transaction.set_user(plain.id), \
                transaction.set_context(user=admin.id, _check_access=True):
            User.__queue__.get_preferences([plain])
        task, = Queue.search([], order=[('id', 'DESC')], limit=1)
        self.assertEqual(task.data['user'], plain.id)
        self.assertNotIn('user', task.data['context'])
        self.assertNotIn('_check_access', task.data['context'])

    @with_transaction()
    def test_chat_post_author(self):
        "A client 'user' context key can not choose the chat author"
        pool = Pool()
        Channel = pool.get('ir.chat.channel')
        Work = pool.get('project.work')
        from trytond.modules.company.tests import create_company, set_company
        plain, admin, other = self._users()
        company = create_company()
        with set_company(company):
            work, = Work.create([{'name': "Work", 'company': company.id}])
        transaction = Transaction()
        with transaction.set_user(plain.id), \
                transaction.set_context(user=admin.id):
            message = Channel.post(work, "hello")
        self.assertEqual(message.user, plain)


class _Chain:
    "Enter several context managers as one"

    def __init__(self, *managers):
        self.managers = managers

    def __enter__(self):
        for manager in self.managers:
            manager.__enter__()
        return self

    def __exit__(self, *exc):
        for manager in reversed(self.managers):
            manager.__exit__(*exc)
