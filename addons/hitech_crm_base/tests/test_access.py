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
from trytond.transaction import Transaction


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



class HitechAccountRuleTestCase(CRMTestCase):
    "Which accounts a user reads and writes"

    def setup_org(self):
        pool = Pool()
        Party = pool.get('party.party')
        Team = pool.get('hitech.sales.team')
        Territory = pool.get('hitech.territory')
        company = create_company()
        self.company = company
        with set_company(company):
            boss_e = create_employee(company, "Boss")
            alice_e = create_employee(company, "Alice")
            bob_e = create_employee(company, "Bob")
            carol_e = create_employee(company, "Carol")
            top, = Team.create([{'name': "Sales", 'manager': boss_e.id}])
            east, west = Team.create([
                    {'name': "East", 'parent': top.id, 'members': [
                            ('create', [{'employee': alice_e.id}])]},
                    {'name': "West", 'parent': top.id, 'members': [
                            ('create', [{'employee': bob_e.id}])]},
                    ])
            self.users = {
                'boss': make_user('boss', company, boss_e,
                    'group_sales_manager'),
                'alice': make_user('alice', company, alice_e),
                'bob': make_user('bob', company, bob_e),
                'carol': make_user('carol', company, carol_e),
                'finance': make_user('finance', company, None,
                    'group_finance'),
                }
            self.accounts = dict(zip(
                    ['alice', 'bob', 'unowned', 'plain'],
                    Party.create([
                            {'name': "Northwind Systems", 'account_type': 'customer',
                                'owner': alice_e.id, 'sales_team': east.id},
                            {'name': "Qingdao Harbour Logistics",
                                'account_type': 'customer',
                                'owner': bob_e.id, 'sales_team': west.id},
                            {'name': "Xi'an Aerospace Institute",
                                'account_type': 'prospect',
                                'owner': None},
                            {'name': "Private Person"},
                            ])))
            territory, = Territory.create([{
                        'name': "West Territory",
                        'members': [('create', [{'employee': carol_e.id}])],
                        'accounts': [('add', [self.accounts['bob'].id])],
                        }])
        return top, east, west

    def visible(self, login):
        pool = Pool()
        Party = pool.get('party.party')
        ids = {p.id for p in self.accounts.values()}
        with as_user(self.users[login]):
            found = Party.search([('id', 'in', list(ids))])
        names = {v.id: k for k, v in self.accounts.items()}
        return {names[p.id] for p in found}

    @with_transaction()
    def test_read_rules(self):
        "Reps read own accounts, managers their subtree, members territories"
        self.setup_org()
        self.assertEqual(self.visible('alice'), {'alice', 'unowned', 'plain'})
        self.assertEqual(self.visible('bob'), {'bob', 'unowned', 'plain'})
        self.assertEqual(
            self.visible('boss'), {'alice', 'bob', 'unowned', 'plain'})
        self.assertEqual(self.visible('carol'), {'bob', 'unowned', 'plain'})
        self.assertEqual(
            self.visible('finance'), {'alice', 'bob', 'unowned', 'plain'})

    @with_transaction()
    def test_children_follow_account_rules(self):
        "Contact links and stage history are read only with their account"
        pool = Pool()
        Party = pool.get('party.party')
        Contact = pool.get('hitech.account.contact')
        StageLog = pool.get('hitech.account.stage.log')
        self.setup_org()
        with set_company(self.company):
            person, = Party.create([{
                        'name': "Wu Fang", 'party_kind': 'person'}])
            links = Contact.create([{
                        'account': self.accounts[a].id,
                        'contact': person.id,
                        'role': 'decision_maker',
                        } for a in ['alice', 'bob']])
            Party.write([self.accounts['alice'], self.accounts['bob']],
                {'stage': 'customer'})
        names = {v.id: k for k, v in self.accounts.items()}
        with as_user(self.users['alice']):
            found = Contact.search([('id', 'in', [l.id for l in links])])
            self.assertEqual({names[c.account.id] for c in found}, {'alice'})
            with self.assertRaises(AccessError):
                Contact.read([links[1].id], ['role'])
            logs = StageLog.search([
                    ('party', 'in', [self.accounts['alice'].id,
                            self.accounts['bob'].id])])
            self.assertTrue(logs)
            self.assertEqual({names[l.party.id] for l in logs}, {'alice'})
        with as_user(self.users['boss']):
            self.assertEqual(Contact.search_count(
                    [('id', 'in', [l.id for l in links])]), 2)

    @with_transaction()
    def test_write_rules(self):
        "A rep writes own accounts only; others are refused"
        pool = Pool()
        Party = pool.get('party.party')
        self.setup_org()
        with as_user(self.users['alice']):
            Party.write([Party(self.accounts['alice'].id)], {'name': "A2"})
            for other in ['bob', 'unowned']:
                with self.assertRaises(AccessError):
                    Party.write(
                        [Party(self.accounts[other].id)], {'name': "X"})
        with as_user(self.users['carol']):
            # a territory member reads but does not write
            with self.assertRaises(AccessError):
                Party.write([Party(self.accounts['bob'].id)], {'name': "X"})

    @with_transaction()
    def test_share_opens_account(self):
        "A share opens one account for reading, or writing if so shared"
        pool = Pool()
        Party = pool.get('party.party')
        Share = pool.get('hitech.share')
        self.setup_org()
        self.assertNotIn('bob', self.visible('alice'))
        with as_user(self.users['bob']):
            share, = Share.create([{
                        'resource': str(self.accounts['bob']),
                        'user': self.users['alice'].id}])
        self.assertIn('bob', self.visible('alice'))
        with as_user(self.users['alice']):
            with self.assertRaises(AccessError):
                Party.write([Party(self.accounts['bob'].id)], {'name': "X"})
        Share.write([share], {'permission': 'write'})
        with as_user(self.users['alice']):
            Party.write([Party(self.accounts['bob'].id)], {'name': "B2"})
            # alice cannot share what she cannot write
            with self.assertRaises(UserError):
                Share.create([{
                            'resource': str(self.accounts['unowned']),
                            'user': self.users['carol'].id}])

    @with_transaction()
    def test_transfer_wizard(self):
        "A manager transfers accounts and their open opportunities"
        pool = Pool()
        Party = pool.get('party.party')
        Opportunity = pool.get('sale.opportunity')
        Transfer = pool.get('hitech.party.transfer', type='wizard')
        Employee = pool.get('company.employee')
        self.setup_org()
        alice_e = self.users['alice'].employee
        bob_e = self.users['bob'].employee
        with set_company(self.company):
            opportunity, = Opportunity.create([{
                        'party': self.accounts['alice'].id,
                        'employee': alice_e.id,
                        'description': "Deal"}])
        account = self.accounts['alice']
        with as_user(self.users['boss']), Transaction().set_context(
                active_model='party.party', active_id=account.id,
                active_ids=[account.id]):
            session_id, _, _ = Transfer.create()
            transfer = Transfer(session_id)
            transfer.start.owner = Employee(bob_e.id)
            transfer.start.sales_team = None
            transfer.start.opportunities = True
            transfer.transition_transfer()
        self.assertEqual(Party(self.accounts['alice'].id).owner, bob_e)
        self.assertEqual(Opportunity(opportunity.id).employee, bob_e)
        self.assertEqual(self.visible('alice'), {'unowned', 'plain'})

    @with_transaction()
    def test_share_wizard(self):
        "Sharing several accounts at once creates one share each"
        pool = Pool()
        Share = pool.get('hitech.share')
        ShareWizard = pool.get('hitech.party.share', type='wizard')
        User = pool.get('res.user')
        self.setup_org()
        ids = [self.accounts['alice'].id, self.accounts['bob'].id]
        with as_user(self.users['boss']), Transaction().set_context(
                active_model='party.party', active_id=ids[0],
                active_ids=ids):
            session_id, _, _ = ShareWizard.create()
            wizard = ShareWizard(session_id)
            wizard.start.user = User(self.users['carol'].id)
            wizard.start.team = None
            wizard.start.permission = 'read'
            wizard.start.expires_on = None
            wizard.transition_share()
            wizard.transition_share()
        self.assertEqual(len(Share.search([
                        ('user', '=', self.users['carol'].id)])), 2)
        self.assertEqual(self.visible('carol'), {
                'alice', 'bob', 'unowned', 'plain'})

    @with_transaction()
    def test_opportunities_follow_accounts(self):
        "A rep lists only opportunities they handle or whose account they see"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        self.setup_org()
        alice_e = self.users['alice'].employee
        bob_e = self.users['bob'].employee
        with set_company(self.company):
            mine, bobs, on_bob_account = Opportunity.create([{
                        'party': self.accounts['alice'].id,
                        'employee': alice_e.id, 'description': "Mine"}, {
                        'party': self.accounts['bob'].id,
                        'employee': bob_e.id, 'description': "Bob's"}, {
                        'party': self.accounts['bob'].id,
                        'employee': alice_e.id,
                        'description': "Mine on Bob's account"}])
        with as_user(self.users['alice']):
            # reading the party of every listed opportunity must work
            found = Opportunity.search_read(
                [], fields_names=['party.rec_name', 'description'])
            self.assertEqual({r['id'] for r in found},
                {mine.id, on_bob_account.id})
            with self.assertRaises(AccessError):
                Opportunity.write([Opportunity(bobs.id)], {'comment': "x"})
        with as_user(self.users['boss']):
            self.assertEqual(
                {o.id for o in Opportunity.search([])},
                {mine.id, bobs.id, on_bob_account.id})
        with as_user(self.users['carol']):
            # territory member of Bob's account
            self.assertEqual(
                {o.id for o in Opportunity.search([])},
                {bobs.id, on_bob_account.id})

    @with_transaction()
    def test_children_created_on_writable_parents(self):
        "Competitors, buying centre and contact links need the parent's write"
        pool = Pool()
        Party = pool.get('party.party')
        Opportunity = pool.get('sale.opportunity')
        Competitor = pool.get('hitech.opportunity.competitor')
        Buyer = pool.get('hitech.opportunity.contact')
        AccountContact = pool.get('hitech.account.contact')
        self.setup_org()
        alice_e = self.users['alice'].employee
        bob_e = self.users['bob'].employee
        with set_company(self.company):
            rival, other, person = Party.create([
                    {'name': "Rival Tech", 'account_type': 'competitor'},
                    {'name': "Other Rival", 'account_type': 'competitor'},
                    {'name': "Zhao Lei", 'party_kind': 'person'}])
            mine, bobs = Opportunity.create([{
                        'party': self.accounts['alice'].id,
                        'employee': alice_e.id, 'description': "Mine"}, {
                        'party': self.accounts['bob'].id,
                        'employee': bob_e.id, 'description': "Bob's"}])

        def add(opportunity, competitor=rival):
            Competitor.create([{
                        'opportunity': opportunity.id,
                        'competitor': competitor.id}])

        def buyer(opportunity):
            Buyer.create([{
                        'opportunity': opportunity.id, 'contact': person.id,
                        'role': 'decision_maker', 'attitude': 'neutral',
                        'influence': 'high'}])

        def link(account):
            AccountContact.create([{
                        'account': account.id, 'contact': person.id,
                        'role': 'user'}])

        with as_user(self.users['alice']):
            add(mine)
            buyer(mine)
            link(self.accounts['alice'])
            # Bob's opportunity is not even readable, the unowned account
            # is readable but not writable
            for create, parent in [(add, bobs), (buyer, bobs),
                    (link, self.accounts['bob']),
                    (link, self.accounts['unowned'])]:
                # (an RPC call that fails rolls its transaction back)
                with self.assertRaises(AccessError):
                    create(parent)
        with as_user(self.users['boss']):
            # the manager changes the subtree's opportunities (the refused
            # rows of the test are still in its transaction)
            add(bobs, other)
        self.assertEqual(Competitor.search_count(
                [('opportunity', '=', bobs.id), ('create_uid', '=',
                        self.users['boss'].id)]), 1)

    @with_transaction()
    def test_manager_reads_team_work(self):
        "A manager lists the opportunities and activities of the subtree"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Activity = pool.get('hitech.activity')
        Party = pool.get('party.party')
        self.setup_org()
        alice_e = self.users['alice'].employee
        with set_company(self.company):
            # an account outside the team, worked on by a team member
            outside, = Party.create([{
                        'name': "Outside Holdings", 'account_type': 'customer',
                        'owner': self.users['carol'].employee.id}])
            opportunity, = Opportunity.create([{
                        'party': outside.id, 'employee': alice_e.id,
                        'description': "Alice on outside account"}])
            activity, = Activity.create([{
                        'account': outside.id, 'employee': alice_e.id,
                        'type': 'call', 'subject': "Call"}])
        with as_user(self.users['boss']):
            found = Opportunity.search_read(
                [('id', '=', opportunity.id)],
                fields_names=['party.rec_name'])
            self.assertEqual(found[0]['party.']['rec_name'],
                "Outside Holdings")
            self.assertEqual(
                [a.id for a in Activity.search([('id', '=', activity.id)])],
                [activity.id])
        with as_user(self.users['bob']):
            self.assertEqual(
                Opportunity.search([('id', '=', opportunity.id)]), [])
            self.assertEqual(Activity.search([('id', '=', activity.id)]), [])

    @with_transaction()
    def test_opportunity_team(self):
        "An opportunity takes its handler's team; the team's manager sees it"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Team = pool.get('hitech.sales.team')
        top, east, west = self.setup_org()
        alice_e = self.users['alice'].employee
        carol_e = self.users['carol'].employee
        with set_company(self.company):
            opportunity = Opportunity(employee=alice_e)
            opportunity.on_change_employee()
            self.assertEqual(opportunity.sales_team, east)
            with Transaction().set_context(employee=alice_e.id):
                self.assertEqual(Opportunity.default_sales_team(), east.id)
            # Carol is in no team: nothing to guess
            with Transaction().set_context(employee=carol_e.id):
                self.assertIsNone(Opportunity.default_sales_team())
            # handled by Carol (outside the subtree) for the West team
            outside_boss = create_employee(self.company, "Other Boss")
            Team.create([{'name': "Other", 'manager': outside_boss.id}])
            deal, = Opportunity.create([{
                        'party': self.accounts['unowned'].id,
                        'employee': carol_e.id, 'sales_team': west.id,
                        'description': "West deal"}])
        with as_user(self.users['boss']):
            self.assertEqual(
                Opportunity.search([('id', '=', deal.id)]), [deal])
            Opportunity.write(
                [Opportunity(deal.id)], {'comment': "Checked"})
        with as_user(self.users['alice']):
            self.assertEqual(Opportunity.search([('id', '=', deal.id)]), [])
