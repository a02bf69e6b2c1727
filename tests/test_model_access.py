# This file is part of HiTech CRM. See LICENSE for details.
"""Every stored model of the suite must have a default access record.

A model without any ir.model.access record is open to every user, so a
forgotten record is a security hole.  This test lists the stored models
defined by the suite's modules and fails on any that has no default
(no group) ir.model.access record of its own.
"""
import unittest

from trytond.model import ModelSQL
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    activate_module, drop_db, with_transaction)

from .conftest import SUITE_MODULES


class SuiteModelAccessTestCase(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        drop_db()
        activate_module(SUITE_MODULES)

    @classmethod
    def tearDownClass(cls):
        drop_db()

    def suite_models(self):
        pool = Pool()
        IrModel = pool.get('ir.model')
        names = []
        for record in IrModel.search([('module', 'in', SUITE_MODULES)]):
            Model = pool.get(record.name)
            if not issubclass(Model, ModelSQL):
                continue
            if Model._is_table_query():
                continue
            names.append(record.name)
        return sorted(names)

    @with_transaction()
    def test_suite_defines_models(self):
        "The lookup finds the suite's models (the check below is not empty)"
        self.assertIn('hitech.sales.team', self.suite_models())

    @with_transaction()
    def test_default_access(self):
        "Every stored model of the suite has a default access record"
        pool = Pool()
        Access = pool.get('ir.model.access')
        defaults = {a.model for a in Access.search([('group', '=', None)])}
        models = self.suite_models()
        missing = [m for m in models if m not in defaults]
        print("\nchecked %d stored models of the suite" % len(models))
        self.assertEqual(missing, [],
            msg="models without a default ir.model.access record: %s"
            % ", ".join(missing))

    @with_transaction()
    def test_default_access_denies(self):
        "Default records of the suite deny everything to users without role"
        pool = Pool()
        Access = pool.get('ir.model.access')
        models = self.suite_models()
        for access in Access.search([
                    ('group', '=', None),
                    ('model', 'in', models),
                    ]):
            with self.subTest(model=access.model):
                self.assertFalse(access.perm_write)
                self.assertFalse(access.perm_create)
                self.assertFalse(access.perm_delete)
