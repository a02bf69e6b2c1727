# This file is part of HiTech CRM. See LICENSE for details.
"""Field rights matrix ("profiles"): every change goes through the screen
as a CRM administrator and is checked as a real user inside check_access().
"""
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.modules.hitech_crm_base.tests.common import (
    CRMTestCase, as_user, make_user)
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction


class FieldAccessTestCase(CRMTestCase):
    "Test the field rights matrix"
    module = 'hitech_crm_base'

    def _group(self, name):
        return Pool().get('ir.model.data').get_id('hitech_crm_base', name)

    def _model(self, name):
        Model = Pool().get('ir.model')
        model, = Model.search([('name', '=', name)])
        return model.id

    def _row(self, model, field, group):
        "The matrix row of field and group, as the current user sees it"
        Matrix = Pool().get('hitech.field.access.matrix')
        with Transaction().set_context(
                model=self._model(model), groups=[group]):
            row, = Matrix.search([('field_name', '=', field)])
            return row

    def _set(self, model, field, group, **values):
        Matrix = Pool().get('hitech.field.access.matrix')
        with Transaction().set_context(
                model=self._model(model), groups=[group]):
            row = self._row(model, field, group)
            Matrix.write([row], values)
            return Matrix(row.id)

    def _setup(self):
        pool = Pool()
        Team = pool.get('hitech.sales.team')
        company = create_company()
        with set_company(company):
            team, = Team.create([{'name': "East", 'code': 'E'}])
            rep = make_user('rep', company, create_employee(company, "Rep"))
            admin = make_user(
                'crmadmin', company, create_employee(company, "Admin"),
                group='group_crm_admin')
            editor = make_user(
                'editor', company, create_employee(company, "Editor"),
                group='group_crm_admin')
        return team, rep, admin, editor

    @with_transaction()
    def test_matrix_rows(self):
        "The matrix has one row per field and group, at default level"
        pool = Pool()
        Matrix = pool.get('hitech.field.access.matrix')
        _, _, admin, _ = self._setup()
        groups = [self._group('group_sales_rep'), self._group('group_finance')]
        with as_user(admin), Transaction().set_context(
                model=self._model('hitech.sales.team'), groups=groups):
            rows = Matrix.search([('field_name', '=', 'code')])
            self.assertEqual({r.group.id for r in rows}, set(groups))
            self.assertEqual({r.level for r in rows}, {'default'})
            self.assertFalse(Matrix.search([('field_name', '=', 'id')]))
            members, _ = Matrix.search([('field_name', '=', 'members')])
            self.assertTrue(members.relation)
            self.assertFalse(rows[0].relation)

    @with_transaction()
    def test_levels(self):
        "Hidden, read and default levels set on the screen apply at once"
        pool = Pool()
        Team = pool.get('hitech.sales.team')
        FieldAccess = pool.get('ir.model.field.access')
        team, rep, admin, editor = self._setup()
        rep_group = self._group('group_sales_rep')
        admin_group = self._group('group_crm_admin')

        with as_user(rep):
            self.assertEqual(Team.read([team.id], ['code'])[0]['code'], 'E')
        with as_user(editor):
            Team.write([Team(team.id)], {'code': 'E1'})

        with as_user(admin):
            row = self._set(
                'hitech.sales.team', 'code', rep_group, level='hidden')
            self.assertEqual(row.level, 'hidden')
        access, = FieldAccess.search([
                ('model', '=', 'hitech.sales.team'), ('field', '=', 'code'),
                ('group', '=', rep_group)])
        self.assertFalse(access.perm_read)
        with as_user(rep):
            with self.assertRaises(AccessError):
                Team.read([team.id], ['code'])
            self.assertEqual(
                Team.read([team.id], ['name'])[0]['name'], "East")
            self.assertNotIn('code', Team.fields_view_get()['fields'])

        with as_user(admin):
            row = self._set(
                'hitech.sales.team', 'code', rep_group, level='read')
            self.assertEqual(row.level, 'read')
        with as_user(rep):
            self.assertEqual(
                Team.read([team.id], ['code'])[0]['code'], 'E1')
        # CRM administrators inherit the representative's group: the
        # field is read only for them too, until their own group edits it.
        with as_user(editor):
            with self.assertRaises(AccessError):
                Team.write([Team(team.id)], {'code': 'E2'})
            Team.write([Team(team.id)], {'name': "East 2"})
        with as_user(admin):
            self._set('hitech.sales.team', 'code', admin_group, level='edit')
        with as_user(editor):
            Team.write([Team(team.id)], {'code': 'E2'})

        with as_user(admin):
            for group in [rep_group, admin_group]:
                row = self._set(
                    'hitech.sales.team', 'code', group, level='default')
                self.assertEqual(row.level, 'default')
                self.assertIsNone(row.access)
        self.assertFalse(FieldAccess.search([
                    ('model', '=', 'hitech.sales.team'),
                    ('field', '=', 'code')]))
        with as_user(rep):
            self.assertEqual(
                Team.read([team.id], ['code'])[0]['code'], 'E2')
        with as_user(editor):
            Team.write([Team(team.id)], {'code': 'E3'})

    @with_transaction()
    def test_relation_create_delete(self):
        "Create and delete rights of a relation field reach the client"
        pool = Pool()
        Team = pool.get('hitech.sales.team')
        _, rep, admin, _ = self._setup()
        rep_group = self._group('group_sales_rep')
        with as_user(admin):
            row = self._set(
                'hitech.sales.team', 'members', rep_group,
                level='read', perm_create=False)
            self.assertEqual(row.level, 'read')
            self.assertFalse(row.perm_create)
            self.assertTrue(row.perm_delete)
        with as_user(rep):
            definition = Team.fields_get(['members'])['members']
            self.assertFalse(definition['create'])
            self.assertTrue(definition['delete'])
            self.assertTrue(definition['readonly'])

    @with_transaction()
    def test_protected_fields(self):
        "Secret fields and platform models can not be changed"
        _, _, admin, _ = self._setup()
        rep_group = self._group('group_sales_rep')
        with as_user(admin):
            with self.assertRaisesRegex(AccessError, 'secret'):
                self._set('res.user', 'password_hash', rep_group,
                    level='read')
            with self.assertRaisesRegex(AccessError, 'platform'):
                self._set('res.user', 'email', rep_group, level='hidden')

    @with_transaction()
    def test_non_admin(self):
        "A user outside the CRM administrators can not use the screen"
        pool = Pool()
        Matrix = pool.get('hitech.field.access.matrix')
        team, rep, _, _ = self._setup()
        rep_group = self._group('group_sales_rep')
        row = self._row('hitech.sales.team', 'code', rep_group)
        manager = make_user(
            'manager', team.company, group='group_sales_manager')
        for user in [rep, manager]:
            with as_user(user), Transaction().set_context(
                    model=self._model('hitech.sales.team'),
                    groups=[rep_group]):
                with self.assertRaises(AccessError):
                    Matrix.search([])
                with self.assertRaises(AccessError):
                    Matrix.write([Matrix(row.id)], {'level': 'edit'})
        self.assertEqual(row.level, 'default')
