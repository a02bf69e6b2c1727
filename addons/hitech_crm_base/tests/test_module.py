# This file is part of HiTech CRM. See LICENSE for details.
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import (
    CompanyTestMixin, create_company, create_employee, set_company)
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction
from trytond.transaction import Transaction, check_access


class HitechCrmBaseTestCase(CompanyTestMixin, ModuleTestCase):
    "Test HiTech CRM Base module"
    module = 'hitech_crm_base'

    @with_transaction()
    def test_team_subtree(self):
        "The subtree of a team holds every team below it"
        pool = Pool()
        Team = pool.get('hitech.sales.team')
        company = create_company()
        with set_company(company):
            top, = Team.create([{'name': "Sales", 'code': 'S'}])
            east, west = Team.create([
                    {'name': "East", 'code': 'E', 'parent': top.id},
                    {'name': "West", 'code': 'W', 'parent': top.id},
                    ])
            north, = Team.create([
                    {'name': "North-East", 'code': 'NE', 'parent': east.id}])
            self.assertEqual(
                Team.get_subtree([top]), {top.id, east.id, west.id, north.id})
            self.assertEqual(Team.get_subtree([east]), {east.id, north.id})
            self.assertEqual(north.rec_name, "Sales / East / North-East")

    @with_transaction()
    def test_team_code_unique(self):
        "Two teams of a company cannot share a code"
        pool = Pool()
        Team = pool.get('hitech.sales.team')
        company = create_company()
        with set_company(company):
            Team.create([{'name': "A", 'code': 'X'}])
            with self.assertRaises(UserError):
                Team.create([{'name': "B", 'code': 'X'}])

    @with_transaction()
    def test_team_member_count(self):
        "Member count is computed"
        pool = Pool()
        Team = pool.get('hitech.sales.team')
        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            team, = Team.create([{
                        'name': "A", 'members': [
                            ('create', [{'employee': employee.id}])]}])
            self.assertEqual(team.member_count, 1)

    @with_transaction()
    def test_team_access(self):
        "A sales rep reads teams but cannot change them"
        pool = Pool()
        Team = pool.get('hitech.sales.team')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        company = create_company()
        rep_group = ModelData.get_id('hitech_crm_base', 'group_sales_rep')
        with set_company(company):
            team, = Team.create([{'name': "A"}])
        rep, nobody = User.create([{
                    'login': 'rep', 'groups': [('add', [rep_group])],
                    'companies': [('add', [company.id])],
                    'company': company.id,
                    }, {
                    'login': 'nobody',
                    'companies': [('add', [company.id])],
                    'company': company.id,
                    }])
        transaction = Transaction()
        with transaction.set_user(rep.id), \
                transaction.set_context(
                    User.get_preferences(context_only=True)), \
                check_access():
            self.assertEqual(Team.search([]), [team])
            with self.assertRaises(AccessError):
                Team.write([Team(team.id)], {'name': "B"})
        with transaction.set_user(nobody.id), check_access():
            with self.assertRaises(AccessError):
                Team.search([])


del ModuleTestCase
