# This file is part of HiTech CRM. See LICENSE for details.
import datetime

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError, ValidationError
from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from .common import CRMTestCase, as_user, make_user

TODAY = datetime.date(2026, 6, 15)


def days(n):
    return datetime.timedelta(days=n)


class CareTestCase(CRMTestCase):
    "Test the care reminders"

    def _setup(self):
        self.company = create_company()
        self.owner = create_employee(self.company, "Owner")

    def _account(self, name, owner=True, account_type='customer',
            stage='customer'):
        Party = Pool().get('party.party')
        party, = Party.create([{
                    'name': name,
                    'party_kind': 'company',
                    'account_type': account_type,
                    'stage': stage,
                    'owner': self.owner.id if owner else None,
                    'addresses': [('create', [{}])],
                    }])
        return party

    def _sale(self, party, date, state='confirmed'):
        Sale = Pool().get('sale.sale')
        sale, = Sale.create([{
                    'company': self.company.id,
                    'party': party.id,
                    'invoice_address': party.addresses[0].id,
                    'shipment_address': party.addresses[0].id,
                    'sale_date': date,
                    'state': state,
                    }])
        return sale

    def _rule(self, kind, days, **values):
        Rule = Pool().get('hitech.care.rule')
        values.setdefault('name', kind)
        values.setdefault('subject', "Care %(account)s")
        values.setdefault('activity_type', 'call')
        rule, = Rule.create([dict(values, kind=kind, days=days)])
        return rule

    def _activity(self, account, type_, state, when):
        Activity = Pool().get('hitech.activity')
        activity, = Activity.create([{
                    'account': account.id,
                    'employee': self.owner.id,
                    'type': type_,
                    'subject': "Past",
                    'planned_at': when,
                    }])
        if state == 'done':
            Activity.write([activity], {'state': 'done', 'done_at': when})
        return activity

    @with_transaction()
    def test_after_sale(self):
        "A follow-up per confirmed sale, for the owner, created once"
        Rule = Pool().get('hitech.care.rule')
        self._setup()
        with set_company(self.company):
            acme = self._account("Acme")
            orphan = self._account("Orphan", owner=False)
            sale = self._sale(acme, TODAY - days(1))
            self._sale(acme, TODAY, state='draft')
            self._sale(acme, TODAY - days(90))
            self._sale(orphan, TODAY - days(1))
            thanks = self._rule('after_sale', 3,
                subject="Thank-you call to %(account)s")
            survey = self._rule('after_sale', 30, subject="Survey %(sale)s")

            activity, = Rule.generate([thanks], today=TODAY)
            self.assertEqual(activity.account, acme)
            self.assertEqual(activity.employee, self.owner)
            self.assertEqual(activity.subject, "Thank-you call to Acme")
            self.assertEqual(activity.type, 'call')
            self.assertEqual(activity.state, 'planned')
            self.assertEqual(activity.planned_at.date(), TODAY + days(2))
            self.assertEqual(activity.origin, sale)
            self.assertEqual(activity.care_rule, thanks)
            self.assertEqual(activity.care_key, 'sale,%s' % sale.id)

            other, = Rule.generate([survey], today=TODAY)
            self.assertEqual(other.planned_at.date(), TODAY + days(29))

            self.assertEqual(Rule.generate([thanks, survey], today=TODAY), [])
            self.assertEqual(
                Rule.generate([thanks], today=TODAY + days(1)), [])

    @with_transaction()
    def test_filters(self):
        "Account type and stage filters select the accounts"
        Rule = Pool().get('hitech.care.rule')
        self._setup()
        with set_company(self.company):
            customer = self._account("Customer")
            prospect = self._account(
                "Prospect", account_type='prospect', stage='prospect')
            partner = self._account(
                "Partner", account_type='partner', stage='customer')
            for account in [customer, prospect, partner]:
                self._sale(account, TODAY)
            by_type = self._rule('after_sale', 0,
                account_types=['prospect', 'partner'])
            by_stage = self._rule('after_sale', 0, stages=['customer'])
            both = self._rule('after_sale', 0,
                account_types=['partner'], stages=['customer'])

            self.assertEqual(
                {a.account for a in Rule.generate([by_type], today=TODAY)},
                {prospect, partner})
            self.assertEqual(
                {a.account for a in Rule.generate([by_stage], today=TODAY)},
                {customer, partner})
            self.assertEqual(
                {a.account for a in Rule.generate([both], today=TODAY)},
                {partner})

    @with_transaction()
    def test_key_date(self):
        "Anniversaries of the first sale and birthdays, days before"
        pool = Pool()
        Rule = pool.get('hitech.care.rule')
        Party = pool.get('party.party')
        Link = pool.get('hitech.account.contact')
        self._setup()
        with set_company(self.company):
            acme = self._account("Acme")
            young = self._account("Young")
            orphan = self._account("Orphan", owner=False)
            first = self._sale(acme, datetime.date(2023, 6, 20))
            self._sale(acme, datetime.date(2024, 6, 18))
            self._sale(acme, datetime.date(2022, 6, 16), state='draft')
            self._sale(young, datetime.date(2026, 6, 1))
            self._sale(orphan, datetime.date(2020, 6, 16))
            ann, bob, eve = Party.create([{
                        'name': "Ann", 'party_kind': 'person',
                        'birthday': datetime.date(1980, 6, 17),
                        }, {
                        'name': "Bob", 'party_kind': 'person',
                        'birthday': datetime.date(1990, 12, 1),
                        }, {
                        'name': "Eve", 'party_kind': 'person',
                        'birthday': datetime.date(1985, 6, 16),
                        }])
            Link.create([
                    {'account': acme.id, 'contact': ann.id,
                        'role': 'decision_maker'},
                    {'account': acme.id, 'contact': bob.id,
                        'role': 'user'},
                    {'account': orphan.id, 'contact': eve.id,
                        'role': 'user'},
                    ])
            rule = self._rule('key_date', 5,
                subject="Congratulate %(account)s %(contact)s %(date)s")
            late = self._rule('key_date', 1)

            activities = Rule.generate([rule], today=TODAY)
            by_key = {a.care_key: a for a in activities}
            self.assertEqual(set(by_key), {
                    'anniversary,%s,2026' % acme.id,
                    'birthday,%s,2026' % ann.id})
            anniversary = by_key['anniversary,%s,2026' % acme.id]
            self.assertEqual(anniversary.account, acme)
            self.assertEqual(anniversary.employee, self.owner)
            self.assertEqual(anniversary.planned_at.date(), TODAY)
            self.assertEqual(
                anniversary.subject, "Congratulate Acme  2026-06-20")
            birthday = by_key['birthday,%s,2026' % ann.id]
            self.assertEqual(birthday.account, acme)
            self.assertEqual(birthday.contact, ann)
            self.assertEqual(birthday.employee, self.owner)
            self.assertEqual(birthday.planned_at.date(), TODAY)
            self.assertEqual(first.party, acme)

            # not due yet with 1 day of notice
            self.assertEqual(Rule.generate([late], today=TODAY), [])
            # nothing more on the next days
            self.assertEqual(Rule.generate([rule], today=TODAY), [])
            self.assertEqual(
                Rule.generate([rule], today=TODAY + days(2)), [])
            # next year again
            again = Rule.generate([rule], today=TODAY + days(365))
            self.assertEqual({a.care_key for a in again}, {
                    'anniversary,%s,2027' % acme.id,
                    'birthday,%s,2027' % ann.id})

    @with_transaction()
    def test_visit_frequency(self):
        "Accounts without recent visit get one, unless one is planned"
        Rule = Pool().get('hitech.care.rule')
        self._setup()
        now = datetime.datetime.combine(TODAY, datetime.time(10))
        with set_company(self.company):
            visited = self._account("Visited")
            met = self._account("Met")
            stale = self._account("Stale")
            never = self._account("Never")
            planned = self._account("Planned")
            called = self._account("Called")
            orphan = self._account("Orphan", owner=False)
            prospect = self._account(
                "Prospect", account_type='prospect', stage='prospect')
            self._activity(visited, 'visit', 'done', now - days(10))
            self._activity(met, 'meeting', 'done', now - days(20))
            self._activity(stale, 'visit', 'done', now - days(40))
            self._activity(planned, 'visit', 'planned', now + days(3))
            self._activity(called, 'call', 'done', now - days(1))
            rule = self._rule('visit_frequency', 30,
                activity_type='visit', account_types=['customer'],
                subject="Visit %(account)s")

            activities = Rule.generate([rule], today=TODAY)
            self.assertEqual(
                {a.account for a in activities}, {stale, never, called})
            for activity in activities:
                self.assertEqual(activity.type, 'visit')
                self.assertEqual(activity.employee, self.owner)
                self.assertEqual(activity.planned_at.date(), TODAY)
            self.assertNotIn(orphan, {a.account for a in activities})
            self.assertNotIn(prospect, {a.account for a in activities})

            self.assertEqual(Rule.generate([rule], today=TODAY), [])
            self.assertEqual(
                Rule.generate([rule], today=TODAY + days(7)), [])

    @with_transaction()
    def test_inactive_rule_and_cron(self):
        "The cron runs the active rules only"
        pool = Pool()
        Rule = pool.get('hitech.care.rule')
        Activity = pool.get('hitech.activity')
        Cron = pool.get('ir.cron')
        self.assertIn('hitech.care.rule|run_all',
            dict(Cron.fields_get(['method'])['method']['selection']))
        self._setup()
        with set_company(self.company):
            acme = self._account("Acme")
            self._sale(acme, datetime.date.today())
            self._rule('after_sale', 0, active=False)
            rule = self._rule('after_sale', 0)
            Rule.run_all()
            activity, = Activity.search([('care_rule', '!=', None)])
            self.assertEqual(activity.care_rule, rule)
            Rule.run_all()
            self.assertEqual(
                Activity.search([('care_rule', '!=', None)]), [activity])

    @with_transaction()
    def test_subject_template(self):
        "An invalid subject template is refused"
        self._setup()
        with set_company(self.company):
            with self.assertRaises(ValidationError):
                self._rule('after_sale', 1, subject="Call %(account)")

    @with_transaction()
    def test_rule_access(self):
        "A sales rep reads the rules but cannot change or run them"
        Rule = Pool().get('hitech.care.rule')
        self._setup()
        with set_company(self.company):
            rule = self._rule('after_sale', 1)
        rep = make_user('rep', self.company, self.owner)
        admin = make_user('care_admin', self.company, group='group_crm_admin')
        with as_user(rep):
            self.assertEqual(Rule.search([]), [rule])
            with self.assertRaises(AccessError):
                Rule.write([Rule(rule.id)], {'name': "Changed"})
            with self.assertRaises(UserError):
                Rule.run([Rule(rule.id)])
        with as_user(admin):
            Rule.run([Rule(rule.id)])
            Rule.write([Rule(rule.id)], {'name': "Changed"})

    @with_transaction()
    def test_uncontacted(self):
        "The report lists the accounts without done activity in N days"
        pool = Pool()
        Report = pool.get('hitech.care.uncontacted')
        Party = pool.get('party.party')
        self._setup()
        now = datetime.datetime.now().replace(microsecond=0)
        with set_company(self.company):
            recent = self._account("Recent")
            old = self._account("Old")
            never = self._account("Never")
            orphan = self._account("Orphan", owner=False)
            cancelled = self._account("Cancelled only")
            self._account("No type", account_type=None, stage=None)
            Party.create([{'name': "Person", 'party_kind': 'person'}])
            self._activity(recent, 'call', 'done', now - days(5))
            self._activity(old, 'visit', 'done', now - days(40))
            self._activity(old, 'call', 'planned', now - days(2))
            activity = self._activity(cancelled, 'call', 'planned', now)
            pool.get('hitech.activity').cancel([activity])

            rows = {r.account: r for r in Report.search([])}
            self.assertEqual(
                set(rows), {old, never, orphan, cancelled})
            self.assertEqual(rows[old].owner, self.owner)
            self.assertEqual(rows[old].days_since, 40)
            self.assertEqual(rows[never].last_activity, None)
            self.assertEqual(rows[never].days_since, None)
            self.assertEqual(rows[orphan].owner, None)

            with Transaction().set_context(days=3):
                rows = Report.search([])
                self.assertIn(recent, {r.account for r in rows})
            with Transaction().set_context(days=60):
                rows = Report.search([])
                self.assertNotIn(old, {r.account for r in rows})

        rep = make_user('rep', self.company, self.owner)
        with as_user(rep):
            self.assertEqual(len(Report.search([])), 4)


del CRMTestCase
