# This file is part of HiTech CRM. See LICENSE for details.
import datetime
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError, ValidationError
from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    TestCase, activate_module, drop_db, with_transaction)
from trytond.transaction import Transaction, check_access


class AccountActivityTestCase(TestCase):
    "Test accounts, contacts and activities of HiTech CRM Base"

    # The generic ModuleTestCase checks already run in test_module.py:
    # this class only activates the module once more for its own tests.
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        drop_db()
        activate_module('hitech_crm_base')

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        drop_db()

    def _user(self, company, login, *groups):
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        user, = User.create([{
                    'login': login,
                    'groups': [('add', [
                                ModelData.get_id('hitech_crm_base', g)
                                for g in groups])],
                    'companies': [('add', [company.id])],
                    'company': company.id,
                    }])
        return user

    @with_transaction()
    def test_stage_log(self):
        "Every stage change is logged with its previous stage"
        pool = Pool()
        Party = pool.get('party.party')
        Log = pool.get('hitech.account.stage.log')
        a, b, c = Party.create([
                {'name': "A", 'stage': 'suspect'},
                {'name': "B", 'stage': 'prospect'},
                {'name': "C"},
                ])
        self.assertEqual(
            [(l.from_stage, l.to_stage) for l in Log.search(
                    [('party', '=', a.id)])],
            [(None, 'suspect')])
        self.assertFalse(Log.search([('party', '=', c.id)]))

        Party.write([a, b, c], {'stage': 'customer'})
        Party.write([a], {'name': "A2"})
        Party.write([a], {'stage': 'customer'})
        logs = Log.search([], order=[('id', 'ASC')])
        self.assertEqual(
            [(l.party, l.from_stage, l.to_stage) for l in logs], [
                (a, None, 'suspect'),
                (b, None, 'prospect'),
                (a, 'suspect', 'customer'),
                (b, 'prospect', 'customer'),
                (c, None, 'customer'),
                ])
        self.assertTrue(all(l.date and l.user for l in logs))

    @with_transaction()
    def test_hierarchy_rollup(self):
        "Key figures roll up from the subsidiaries to the group"
        pool = Pool()
        Party = pool.get('party.party')
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            group, = Party.create([{'name': "Group"}])
            sub, other = Party.create([
                    {'name': "Sub", 'parent': group.id},
                    {'name': "Other"}])
            subsub, = Party.create([{'name': "Sub-sub", 'parent': sub.id}])
            values = []
            for party, amount, state in [
                    (group, 100, 'lead'), (sub, 200, 'lead'),
                    (subsub, 400, 'lead'), (other, 800, 'lead'),
                    (sub, 1600, 'cancelled')]:
                values.append({
                        'party': party.id,
                        'description': "Deal",
                        'amount': Decimal(amount),
                        'start_date': datetime.date.today(),
                        })
            opportunities = Opportunity.create(values)
            Opportunity.cancel(opportunities[-1:])

            group, sub, subsub, other = Party.browse(
                [group, sub, subsub, other])
            self.assertEqual(group.pipeline_amount, Decimal(700))
            self.assertEqual(group.opportunity_count, 3)
            self.assertEqual(sub.pipeline_amount, Decimal(600))
            self.assertEqual(subsub.pipeline_amount, Decimal(400))
            self.assertEqual(other.opportunity_count, 1)
            self.assertEqual(group.revenue_amount, Decimal(0))
            self.assertEqual(group.sale_count, 0)

            with self.assertRaises(UserError):
                Party.write([group], {'parent': subsub.id})

    @with_transaction()
    def test_account_contacts(self):
        "A contact belongs to several accounts with a role at each"
        pool = Pool()
        Party = pool.get('party.party')
        Link = pool.get('hitech.account.contact')
        a, b = Party.create([{'name': "A"}, {'name': "B"}])
        person, = Party.create([{'name': "Li", 'party_kind': 'person'}])
        Link.create([
                {'account': a.id, 'contact': person.id,
                    'role': 'decision_maker'},
                {'account': b.id, 'contact': person.id,
                    'role': 'influencer', 'title': "CTO"},
                ])
        person = Party(person.id)
        self.assertEqual(
            sorted(l.account.name for l in person.contact_accounts),
            ["A", "B"])
        self.assertEqual([l.contact for l in Party(a.id).account_contacts],
            [person])
        with self.assertRaises(ValidationError):
            Link.create([{'account': a.id, 'contact': b.id, 'role': 'user'}])
        with self.assertRaises(ValidationError):
            Link.create([{'account': a.id, 'contact': person.id,
                        'role': 'user',
                        'start_date': datetime.date(2025, 2, 1),
                        'end_date': datetime.date(2025, 1, 1)}])
        # last: on PostgreSQL a violated SQL constraint aborts the
        # transaction
        with self.assertRaises(UserError):
            Link.create([{'account': a.id, 'contact': person.id,
                        'role': 'decision_maker'}])

    @with_transaction()
    def test_owner_default(self):
        "The owner of a new account is the employee of the user"
        pool = Pool()
        Party = pool.get('party.party')
        company = create_company()
        with set_company(company):
            employee = create_employee(company)
            with Transaction().set_context(employee=employee.id):
                party, = Party.create([{'name': "A"}])
            self.assertEqual(party.owner, employee)

    def _activity(self, company, **values):
        pool = Pool()
        Activity = pool.get('hitech.activity')
        Party = pool.get('party.party')
        if not hasattr(self, '_employee'):
            self._employee = create_employee(company)
            self._account, = Party.create([{'name': "Acme"}])
        values.setdefault('subject', "Call Acme")
        values.setdefault('employee', self._employee.id)
        values.setdefault('account', self._account.id)
        activity, = Activity.create([values])
        return activity

    @with_transaction()
    def test_activity_workflow(self):
        "Activities are planned, then done or cancelled"
        pool = Pool()
        Activity = pool.get('hitech.activity')
        company = create_company()
        with set_company(company):
            activity = self._activity(company,
                planned_at=datetime.datetime(2026, 3, 5, 9))
            self.assertEqual(activity.state, 'planned')
            self.assertEqual(activity.week, datetime.date(2026, 3, 2))
            Activity.do([activity])
            self.assertEqual(activity.state, 'done')
            self.assertTrue(activity.done_at)
            Activity.approve([activity])
            self.assertTrue(activity.approved_by and activity.approved_at)
            Activity.plan([activity])
            self.assertEqual(activity.state, 'planned')
            self.assertIsNone(activity.approved_by)
            Activity.cancel([activity])
            self.assertEqual(activity.state, 'cancelled')
            with self.assertRaises(ValidationError):
                Activity.approve([activity])

    @with_transaction()
    def test_activity_visit(self):
        "A visit is checked in with a position in range"
        pool = Pool()
        Activity = pool.get('hitech.activity')
        company = create_company()
        with set_company(company):
            visit = self._activity(company, type='visit',
                latitude=Decimal('31.2304'), longitude=Decimal('121.4737'))
            Activity.check_in([visit])
            self.assertTrue(visit.check_in_at)
            for field, value in [
                    ('latitude', Decimal('91')),
                    ('longitude', Decimal('-180.5'))]:
                with self.assertRaises(ValidationError):
                    Activity.write([visit], {field: value})
            call = self._activity(company, type='call')
            with self.assertRaises(ValidationError):
                Activity.check_in([call])

    @with_transaction()
    def test_activity_weekly(self):
        "The weekly summary counts planned and done activities"
        pool = Pool()
        Activity = pool.get('hitech.activity')
        Weekly = pool.get('hitech.activity.weekly')
        company = create_company()
        with set_company(company):
            monday = datetime.datetime(2026, 3, 2, 9)
            activities = [self._activity(company,
                    planned_at=monday + datetime.timedelta(days=d))
                for d in [0, 1, 2, 7]]
            Activity.do(activities[:2])
            Activity.cancel(activities[2:3])
            with Transaction().set_context(
                    from_week=datetime.date(2026, 3, 1)):
                rows = Weekly.search([], order=[('week', 'ASC')])
            self.assertEqual(
                [(r.week_label, r.planned, r.done, r.open, r.cancelled)
                    for r in rows],
                [('2026-W10', 2, 2, 0, 1), ('2026-W11', 1, 0, 1, 0)])
            self.assertEqual(rows[0].completion, 1)
            self.assertEqual(rows[0].employee, self._employee)

    @with_transaction()
    def test_activity_access(self):
        "Reps work on activities, only managers approve and comment"
        pool = Pool()
        Activity = pool.get('hitech.activity')
        Weekly = pool.get('hitech.activity.weekly')
        User = pool.get('res.user')
        company = create_company()
        with set_company(company):
            activity = self._activity(company)
            Activity.do([activity])
        rep = self._user(company, 'rep', 'group_sales_rep')
        manager = self._user(company, 'manager', 'group_sales_manager')
        nobody = self._user(company, 'nobody')
        # record rules: the rep handles the activity, the manager manages
        # the rep's team
        Team = pool.get('hitech.sales.team')
        with set_company(company):
            boss = create_employee(company, "Boss")
            Team.create([{'name': "Team", 'manager': boss.id, 'members': [
                            ('create', [{'employee': self._employee.id}])]}])
        User.write([rep], {
                'employees': [('add', [self._employee.id])],
                'employee': self._employee.id})
        User.write([manager], {
                'employees': [('add', [boss.id])], 'employee': boss.id})
        transaction = Transaction()
        for user in [rep, manager]:
            with transaction.set_user(user.id), transaction.set_context(
                    User.get_preferences(context_only=True)):
                with check_access():
                    self.assertEqual(Activity.search([]), [activity])
                    Activity.write([Activity(activity.id)], {
                            'result': "Interested"})
                    if user == rep:
                        with self.assertRaises(AccessError):
                            Activity.write([Activity(activity.id)], {
                                    'manager_comment': "Good"})
                        with self.assertRaises(AccessError):
                            Weekly.search([])
                    else:
                        Activity.write([Activity(activity.id)], {
                                'manager_comment': "Good"})
                        self.assertEqual(len(Weekly.search([])), 1)
        with transaction.set_user(nobody.id), check_access():
            with self.assertRaises(AccessError):
                Activity.search([])


del TestCase
