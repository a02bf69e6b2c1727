# This file is part of HiTech CRM. See LICENSE for details.
"""Record-access model: rule context, territories and record shares.

Access is only enforced over RPC or inside check_access(): every check
here runs as a real user of a group inside check_access().
"""
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.modules.hitech_crm_base.tests.common import (
    CRMTestCase, as_user, make_user)
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction


class HitechAccessTestCase(CRMTestCase):
    "Test the record-access model of HiTech CRM"
    module = 'hitech_crm_base'

    @with_transaction()
    def test_rule_context(self):
        "The rule context lists the user's teams, subtree and territories"
        pool = Pool()
        Team = pool.get('hitech.sales.team')
        Territory = pool.get('hitech.territory')
        Rule = pool.get('ir.rule')
        company = create_company()
        with set_company(company):
            boss = create_employee(company, "Boss")
            rep = create_employee(company, "Rep")
            top, = Team.create([{'name': "Sales", 'manager': boss.id}])
            east, = Team.create([{
                        'name': "East", 'parent': top.id,
                        'members': [('create', [{'employee': rep.id}])]}])
            territory, = Territory.create([{
                        'name': "Shanghai",
                        'members': [('create', [{'employee': rep.id}])]}])
            boss_user = make_user('boss', company, boss, 'group_sales_manager')
            rep_user = make_user('rep', company, rep)
        with as_user(boss_user):
            context = Rule._get_context('party.party')
            self.assertEqual(
                set(context['hitech_managed_teams']), {top.id, east.id})
            self.assertEqual(context['employees'], [boss.id])
        with as_user(rep_user):
            context = Rule._get_context('party.party')
            self.assertEqual(context['hitech_teams'], [east.id])
            self.assertEqual(context['hitech_managed_teams'], [])
            self.assertEqual(context['hitech_territories'], [territory.id])

    @with_transaction()
    def test_rule_context_follows_changes(self):
        "Changing a team clears the cached rule context"
        pool = Pool()
        Team = pool.get('hitech.sales.team')
        Rule = pool.get('ir.rule')
        company = create_company()
        with set_company(company):
            rep = create_employee(company, "Rep")
            rep_user = make_user('rep', company, rep)
            team, = Team.create([{'name': "East"}])
            with as_user(rep_user):
                self.assertEqual(
                    Rule._get_context('party.party')['hitech_teams'], [])
            Team.write([team], {
                    'members': [('create', [{'employee': rep.id}])]})
            with as_user(rep_user):
                self.assertEqual(
                    Rule._get_context('party.party')['hitech_teams'],
                    [team.id])

    @with_transaction()
    def test_territory_assign_accounts(self):
        "Assign Accounts adds the accounts of the territory's cities once"
        pool = Pool()
        Party = pool.get('party.party')
        Territory = pool.get('hitech.territory')
        company = create_company()
        with set_company(company):
            sh1, sh2, bj = Party.create([
                    {'name': "A", 'addresses': [
                            ('create', [{'city': "Shanghai"}])]},
                    {'name': "B", 'addresses': [
                            ('create', [{'city': "shanghai "}])]},
                    {'name': "C", 'addresses': [
                            ('create', [{'city': "Beijing"}])]},
                    ])
            territory, = Territory.create([{
                        'name': "Shanghai", 'cities': "Shanghai\nSuzhou\n"}])
            Territory.assign_accounts([territory])
            Territory.assign_accounts([territory])
            self.assertEqual(set(territory.accounts), {sh1, sh2})
            self.assertEqual(territory.account_count, 2)
            self.assertEqual(list(sh1.territories), [territory])

    @with_transaction()
    def test_territory_write_denied_to_rep(self):
        "A rep reads territories but cannot change them"
        pool = Pool()
        Territory = pool.get('hitech.territory')
        company = create_company()
        with set_company(company):
            territory, = Territory.create([{'name': "North"}])
            rep_user = make_user('rep', company, create_employee(company))
        with as_user(rep_user):
            self.assertEqual(Territory.search([]), [territory])
            with self.assertRaises(AccessError):
                Territory.write([Territory(territory.id)], {'name': "X"})

    @with_transaction()
    def test_share_visibility(self):
        "A rep sees the shares they made or received, not the others'"
        pool = Pool()
        Party = pool.get('party.party')
        Share = pool.get('hitech.share')
        Team = pool.get('hitech.sales.team')
        company = create_company()
        with set_company(company):
            alice_employee = create_employee(company, "Alice")
            bob_employee = create_employee(company, "Bob")
            carol_employee = create_employee(company, "Carol")
            alice = make_user('alice', company, alice_employee)
            bob = make_user('bob', company, bob_employee)
            carol = make_user('carol', company, carol_employee)
            team, = Team.create([{'name': "East", 'members': [
                            ('create', [{'employee': carol_employee.id}])]}])
            account, = Party.create([{'name': "Customer"}])
        with as_user(alice):
            to_bob, to_team = Share.create([
                    {'resource': str(account), 'user': bob.id},
                    {'resource': str(account), 'team': team.id,
                        'permission': 'write'},
                    ])
            self.assertEqual(Share(to_bob.id).shared_by.id, alice.id)
            self.assertEqual(
                {s.id for s in Share.search([])}, {to_bob.id, to_team.id})
        with as_user(bob):
            self.assertEqual([s.id for s in Share.search([])], [to_bob.id])
        with as_user(carol):
            self.assertEqual([s.id for s in Share.search([])], [to_team.id])
        with as_user(bob):
            # bob cannot delete what he did not share
            with self.assertRaises(AccessError):
                Share.delete([Share(to_team.id)])

    @with_transaction()
    def test_share_user_or_team(self):
        "A share goes to a user or to a team, not both"
        pool = Pool()
        Party = pool.get('party.party')
        Share = pool.get('hitech.share')
        Team = pool.get('hitech.sales.team')
        User = pool.get('res.user')
        company = create_company()
        with set_company(company):
            team, = Team.create([{'name': "East"}])
            account, = Party.create([{'name': "Customer"}])
            with self.assertRaises(UserError):
                Share.create([{'resource': str(account),
                            'user': User(1).id, 'team': team.id}])

    @with_transaction()
    def test_share_clean_expired(self):
        "The cron deletes expired shares only"
        import datetime as dt
        pool = Pool()
        Party = pool.get('party.party')
        Share = pool.get('hitech.share')
        company = create_company()
        with set_company(company):
            account, = Party.create([{'name': "Customer"}])
            bob = make_user('bob', company)
            carol = make_user('carol', company)
            old, new = Share.create([
                    {'resource': str(account), 'user': bob.id,
                        'expires_on': dt.date.today() - dt.timedelta(1)},
                    {'resource': str(account), 'user': carol.id,
                        'expires_on': dt.date.today()},
                    ])
            Share.clean_expired()
            self.assertEqual(Share.search([]), [new])

