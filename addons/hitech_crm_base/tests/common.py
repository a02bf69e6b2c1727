# This file is part of HiTech CRM. See LICENSE for details.
"""Helpers shared by the unit tests of the suite's modules."""
import logging

from trytond.pool import Pool
from trytond.tests.test_tryton import (
    DB_NAME, _DBTestCase, activate_module, drop_db)
from trytond.transaction import Transaction, check_access

logger = logging.getLogger(__name__)


# every module of the suite, in the order of the suite database's cache key
SUITE_MODULES = [
    'hitech_crm_base', 'hitech_channel', 'hitech_commission',
    'hitech_service', 'hitech_pos_bridge', 'hitech_integrations']


class SuiteDatabaseMixin:
    """Run on the database with every module of the suite activated.

    It is the database of the cross-module tests: sharing it (one DB_CACHE
    entry) saves an install per module, the largest cost of the suite on a
    cold cache."""
    __slots__ = ()

    @classmethod
    def setUpClass(cls):
        # skip _DBTestCase.setUpClass: it activates cls.module alone
        super(_DBTestCase, cls).setUpClass()
        drop_db()
        activate_module(SUITE_MODULES)


class CleanDatabaseMixin:
    """Every test starts on the database as the class activated it.

    Some tests commit (test_importer's batch commits and resume) and
    leave their company ("Dunder Mifflin") in the database; with the
    stale database list of the SQLite backend (see conftest.py) it even
    reached later test classes.  A test that finds a company it did not
    create gets the database of its class again (from DB_CACHE), and it is
    logged."""
    __slots__ = ()

    def setUp(self):
        super().setUp()
        with Transaction().start(DB_NAME, 0, readonly=True) as transaction:
            cursor = transaction.connection.cursor()
            cursor.execute('SELECT COUNT(*) FROM company_company')
            companies, = cursor.fetchone()
        if companies:
            logger.warning("%s: %d companies left in the database, "
                "restoring it", self.id(), companies)
            type(self).setUpClass()


class CRMTestCase(CleanDatabaseMixin, _DBTestCase):
    """A test case on a database with the module activated, without the
    generic ModuleTestCase checks (test_module.py runs those once)."""
    module = 'hitech_crm_base'


def make_user(login, company, employee=None, group='group_sales_rep'):
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    values = {
        'login': login,
        'companies': [('add', [company.id])],
        'company': company.id,
        }
    if group:
        values['groups'] = [('add', [
                    ModelData.get_id('hitech_crm_base', group)])]
    if employee:
        values['employees'] = [('add', [employee.id])]
        values['employee'] = employee.id
    user, = User.create([values])
    return user


class as_user:
    "Run as user with the access checks RPC applies"

    def __init__(self, user):
        self.user = user

    def __enter__(self):
        pool = Pool()
        User = pool.get('res.user')
        transaction = Transaction()
        self._user = transaction.set_user(self.user.id)
        self._user.__enter__()
        self._context = transaction.set_context(
            User.get_preferences(context_only=True))
        self._context.__enter__()
        self._check = check_access()
        self._check.__enter__()
        return self

    def __exit__(self, *args):
        self._check.__exit__(*args)
        self._context.__exit__(*args)
        self._user.__exit__(*args)
