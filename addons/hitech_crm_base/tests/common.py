# This file is part of HiTech CRM. See LICENSE for details.
"""Helpers shared by the unit tests of the suite's modules."""
from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase
from trytond.transaction import Transaction, check_access


class CRMTestCase(_DBTestCase):
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
