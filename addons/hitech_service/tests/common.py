# This file is part of HiTech CRM. See LICENSE for details.
"""Helpers shared by the unit tests of hitech_service."""
from trytond.modules.hitech_crm_base.tests.common import (
    CleanDatabaseMixin, as_user, make_user)
from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase

__all__ = ['ServiceTestCase', 'as_user', 'make_service_user']


class ServiceTestCase(CleanDatabaseMixin, _DBTestCase):
    """A test case on a database with hitech_service activated, without the
    generic ModuleTestCase checks (test_module.py runs those once)."""
    module = 'hitech_service'


def make_service_user(login, company, employee=None,
        group='group_service_agent', module='hitech_service'):
    "Create a user of company in the group module.group"
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    user = make_user(login, company, employee, group=None)
    if group:
        User.write([user], {
                'groups': [('add', [ModelData.get_id(module, group)])],
                })
    return user
