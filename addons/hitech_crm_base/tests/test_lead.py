# This file is part of HiTech CRM. See LICENSE for details.
import datetime

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from .common import CRMTestCase, as_user, make_user


def days(n):
    return datetime.timedelta(days=n)


class LeadTestCase(CRMTestCase):
    "Test web capture, assignment, pool, registrations and keywords"

    def _setup(self):
        pool = Pool()
        Team = pool.get('hitech.sales.team')
        Form = pool.get('hitech.lead.form')
        Source = pool.get('hitech.lead.source')
        self.company = create_company()
        self.manager = create_employee(self.company, "Manager")
        self.rep1 = create_employee(self.company, "Rep One")
        self.rep2 = create_employee(self.company, "Rep Two")
        self.other = create_employee(self.company, "Other Rep")
        self.team, self.team2 = Team.create([{
                    'name': "East", 'company': self.company.id,
                    'manager': self.manager.id,
                    'members': [('create', [
                                {'employee': self.rep1.id},
                                {'employee': self.rep2.id}])],
                    }, {
                    'name': "West", 'company': self.company.id,
                    'members': [('create', [{'employee': self.other.id}])],
                    }])
        self.website, = Source.search([('code', '=', 'website')])
        self.form, = Form.create([{
                    'name': "Contact", 'code': 'contact',
                    'company': self.company.id,
                    'source': self.website.id,
                    }])

    def _post(self, **data):
        Opportunity = Pool().get('sale.opportunity')
        data.setdefault('form', 'contact')
        return Opportunity.capture(self.form, data)

    @with_transaction()
    def test_capture_hits(self):
        "The rate limit counts the window; the cron removes older hits"
        pool = Pool()
        Hit = pool.get('hitech.lead.capture.hit')
        old = datetime.datetime.now() - datetime.timedelta(hours=2)
        Hit.create([{'address': '10.0.0.1', 'at': old}] * 3)
        self.assertTrue(Hit.hit('10.0.0.1', 2, 60))
        self.assertTrue(Hit.hit('10.0.0.1', 2, 60))
        self.assertFalse(Hit.hit('10.0.0.1', 2, 60))
        self.assertTrue(Hit.hit('10.0.0.2', 2, 60))
        self.assertEqual(Hit.search([], count=True), 6)
        Hit.clean(window=60)
        self.assertEqual(Hit.search([], count=True), 3)
        self.assertFalse(Hit.search([('at', '<', old
                        + datetime.timedelta(minutes=1))]))

    @with_transaction()
    def test_parse_keywords(self):
        "Search terms are read from utm_term or the referrer's query"
        from trytond.modules.hitech_crm_base.lead import (
            parse_search_keywords)
        self.assertEqual(parse_search_keywords(
                'https://www.baidu.com/s?ie=utf-8&wd=FPGA+%E5%BC%80%E5%8F%91'),
            'FPGA 开发')
        self.assertEqual(parse_search_keywords(
                'https://www.sogou.com/web?query=eda'), 'eda')
        self.assertEqual(parse_search_keywords(
                'https://www.google.com/search?q=  lidar   sensor '),
            'lidar sensor')
        self.assertIsNone(parse_search_keywords('https://example.com/'))
        self.assertIsNone(parse_search_keywords(None))

    @with_transaction()
    def test_capture_and_duplicate(self):
        "A post makes a lead; the same email again is attached to it"
        pool = Pool()
        Submission = pool.get('hitech.lead.submission')
        self._setup()
        with set_company(self.company):
            lead, created = self._post(
                name="Li Lei", company="Acme Robotics",
                email="Li.Lei@Acme-Robotics.cn", phone="+86 21 5555 0101",
                message="<script>alert(1)</script> need a quote",
                product="LiDAR",
                referrer='https://www.baidu.com/s?wd=lidar+price')
            self.assertTrue(created)
            self.assertEqual(lead.state, 'lead')
            self.assertEqual(lead.lead_email_key, 'li.lei@acme-robotics.cn')
            self.assertEqual(lead.search_keywords, 'lidar price')
            # the visitor came from a search engine
            self.assertEqual(lead.source.code, 'search')
            self.assertEqual(lead.lead_message,
                "<script>alert(1)</script> need a quote")
            self.assertTrue(lead.in_pool)

            again, created = self._post(
                name="Lei Li", email="li.lei@acme-robotics.cn",
                message="second try")
            self.assertFalse(created)
            self.assertEqual(again, lead)
            self.assertEqual(Submission.search([('lead', '=', lead.id)],
                    count=True), 2)
            # the phone alone also finds it
            again, created = self._post(name="X", phone="+862155550101")
            self.assertFalse(created)

    @with_transaction()
    def test_capture_invalid(self):
        "Invalid posts are refused with the field named, nothing created"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        from trytond.modules.hitech_crm_base.exceptions import (
            LeadCaptureError)
        self._setup()
        with set_company(self.company):
            for data, field in [
                    ({'name': "A"}, 'email'),
                    ({'email': 'a@example.com'}, 'name'),
                    ({'name': "A", 'email': 'not-an-email'}, 'email'),
                    ({'name': "A", 'phone': '12'}, 'phone'),
                    ({'name': "A" * 101, 'email': 'a@example.com'}, 'name'),
                    ({'name': ["A"], 'email': 'a@example.com'}, 'name'),
                    ]:
                with self.subTest(data=data):
                    with self.assertRaises(LeadCaptureError) as cm:
                        self._post(**data)
                    self.assertEqual(cm.exception.field, field)
            self.assertEqual(Opportunity.search([], count=True), 0)

    @with_transaction()
    def test_capture_account_dedup(self):
        "A post matching an account by email is linked to the account"
        pool = Pool()
        Party = pool.get('party.party')
        self._setup()
        with set_company(self.company):
            acme, = Party.create([{
                        'name': "Acme Robotics Co., Ltd.",
                        'party_kind': 'company',
                        'contact_mechanisms': [('create', [{
                                        'type': 'email',
                                        'value': 'sales@acme-robotics.cn',
                                        }])],
                        }])
            lead, _ = self._post(name="Wang", company="Acme Robotics",
                email='sales@acme-robotics.cn')
            self.assertEqual(lead.party, acme)

    @with_transaction()
    def test_assignment_strategies(self):
        "Round-robin turns, least-loaded, fixed owner and pool"
        pool = Pool()
        Rule = pool.get('hitech.lead.assignment.rule')
        Source = pool.get('hitech.lead.source')
        self._setup()
        trade, = Source.search([('code', '=', 'trade_show')])
        referral, = Source.search([('code', '=', 'referral')])
        search, = Source.search([('code', '=', 'search')])
        with set_company(self.company):
            Rule.create([{
                        'name': "Web round-robin", 'sequence': 10,
                        'source': self.website.id,
                        'strategy': 'round_robin',
                        'sales_team': self.team.id,
                        }, {
                        'name': "Trade show least loaded", 'sequence': 20,
                        'source': trade.id, 'strategy': 'least_loaded',
                        'employees': [('add', [self.rep1.id, self.rep2.id])],
                        }, {
                        'name': "Referral to Other", 'sequence': 30,
                        'source': referral.id, 'strategy': 'fixed',
                        'employee': self.other.id,
                        }, {
                        'name': "Search to pool", 'sequence': 40,
                        'source': search.id, 'strategy': 'pool',
                        'sales_team': self.team2.id,
                        }])
            owners = []
            for i in range(3):
                lead, _ = self._post(
                    name="V%s" % i, email='v%s@example.com' % i)
                owners.append(lead.employee)
                self.assertEqual(lead.sales_team, self.team)
                self.assertFalse(lead.in_pool)
            self.assertEqual(owners, [self.rep1, self.rep2, self.rep1])
            round_robin, = Rule.search([('strategy', '=', 'round_robin')])
            self.assertEqual(round_robin.turns, 3)
            self.assertEqual(round_robin.last_employee, self.rep1)
            # turns are counted per rule and go on after a batch
            self.assertEqual(Rule.take_turns({round_robin.id: 2}),
                {round_robin.id: [4, 5]})
            round_robin, = Rule.search([('strategy', '=', 'round_robin')])
            self.assertEqual(round_robin.turns, 5)
            self.assertEqual(round_robin.last_employee, self.rep1)

            lead, _ = self._post(name="T", email='t@example.com',
                source='trade_show')
            # rep1 holds 2 leads, rep2 holds 1
            self.assertEqual(lead.employee, self.rep2)
            lead, _ = self._post(name="R", email='r@example.com',
                source='referral')
            self.assertEqual(lead.employee, self.other)
            lead, _ = self._post(name="S", email='s@example.com',
                source='search')
            self.assertIsNone(lead.employee)
            self.assertTrue(lead.in_pool)
            self.assertEqual(lead.sales_team, self.team2)

    @with_transaction()
    def test_capture_batch(self):
        "Staged posts become leads by batch: repeats attached, rules once"
        pool = Pool()
        Rule = pool.get('hitech.lead.assignment.rule')
        Opportunity = pool.get('sale.opportunity')
        Submission = pool.get('hitech.lead.submission')
        Pending = pool.get('hitech.lead.capture.pending')
        self._setup()
        with set_company(self.company):
            rule, = Rule.create([{
                        'name': "Web round-robin", 'source': self.website.id,
                        'strategy': 'round_robin',
                        'sales_team': self.team.id,
                        }])
            old, _ = self._post(name="Old", email='old@example.com')
            posts = [
                {'name': "A", 'email': 'a@example.com'},
                {'name': "B", 'phone': '+86 21 5555 0101'},
                {'name': "A again", 'email': 'A@example.com'},
                {'name': "Old again", 'email': 'old@example.com'},
                {'name': "B by phone", 'email': 'b@example.com',
                    'phone': '+86-21-5555-0101'},
                {'name': "C", 'email': 'c@example.com',
                    'utm_campaign': 'Launch'},
                ]
            staged = [Opportunity.capture_stage(
                    self.form, dict(p, form='contact')) for p in posts]
            self.assertEqual(Pending.search([], count=True), len(posts))
            self.assertFalse(Submission.search(
                    [('lead', '!=', old.id)]))
            leads_before = Opportunity.search([], count=True)
            Pending.process_pending()
            self.assertEqual(Pending.search([], count=True), 0)
            staged = Submission.search([('lead', '!=', None)],
                order=[('id', 'ASC')])[1:]
            self.assertEqual([s.name for s in staged],
                [p['name'] for p in posts])
            a, b, a2, old2, b2, c = staged
            self.assertEqual(Opportunity.search([], count=True),
                leads_before + 3)
            self.assertEqual(a2.lead, a.lead)
            self.assertEqual(b2.lead, b.lead)
            self.assertEqual(old2.lead, old)
            self.assertEqual([s.duplicate for s in staged],
                [False, False, True, True, True, False])
            self.assertEqual(c.lead.marketing_campaign.name, 'launch')
            # the turns of one batch go on from the earlier capture
            self.assertEqual(old.employee, self.rep1)
            self.assertEqual([a.lead.employee, b.lead.employee,
                    c.lead.employee], [self.rep2, self.rep1, self.rep2])
            rule = Rule(rule.id)
            self.assertEqual(rule.turns, 4)
            # nothing left for the cron
            Pending.cron_process()
            self.assertEqual(Pending.search([], count=True), 0)
            # a bad post is refused before anything is staged
            with self.assertRaises(UserError):
                Opportunity.capture_stage(self.form, {
                        'form': 'contact', 'name': "X", 'email': 'x@'})

    @with_transaction()
    def test_assignment_account_criteria(self):
        "Rules match the size and type of the lead's account"
        pool = Pool()
        Rule = pool.get('hitech.lead.assignment.rule')
        Opportunity = pool.get('sale.opportunity')
        Party = pool.get('party.party')
        self._setup()
        with set_company(self.company):
            Rule.create([{
                        'name': "Big customers", 'sequence': 10,
                        'account_type': 'customer', 'employee_min': 1000,
                        'strategy': 'fixed', 'employee': self.other.id,
                        }, {
                        'name': "Small", 'sequence': 20,
                        'revenue_max': 1000000,
                        'strategy': 'fixed', 'employee': self.rep2.id,
                        }])
            big, small = Party.create([{
                        'name': "Big", 'party_kind': 'company',
                        'account_type': 'customer', 'employee_count': 5000,
                        }, {
                        'name': "Small", 'party_kind': 'company',
                        'annual_revenue': 500000,
                        }])
            l1, l2, l3 = Opportunity.create([
                    {'party': big.id, 'employee': None},
                    {'party': small.id, 'employee': None},
                    {'employee': None}])
            self.assertEqual(l1.employee, self.other)
            self.assertEqual(l2.employee, self.rep2)
            self.assertTrue(l3.in_pool)

    @with_transaction()
    def test_claim_limit_cooldown_and_return(self):
        "Claim within the limit; idle leads return; cool-down on reclaim"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Configuration = pool.get('hitech.crm.configuration')
        PoolLog = pool.get('hitech.lead.pool.log')
        Activity = pool.get('hitech.activity')
        self._setup()
        Configuration.write([Configuration(1)], {
                'max_open_leads': 2, 'pool_return_days': 10})
        with set_company(self.company):
            leads = [self._post(name="P%s" % i,
                    email='p%s@example.com' % i)[0] for i in range(4)]
            self.assertTrue(all(l.in_pool for l in leads))
            with Transaction().set_context(employee=self.rep1.id):
                Opportunity.claim(leads[:2])
                with self.assertRaises(UserError):
                    Opportunity.claim(leads[2:3])
            self.assertEqual(leads[0].employee, self.rep1)
            self.assertEqual(leads[0].sales_team, self.team)

            # leads[1] has a recent done activity, leads[0] has none
            Activity.create([{
                        'company': self.company.id,
                        'subject': "Call", 'type': 'call',
                        'opportunity': leads[1].id,
                        'employee': self.rep1.id,
                        'planned_at': datetime.datetime.now(),
                        'state': 'done',
                        'done_at': datetime.datetime.now(),
                        }])
            now = datetime.datetime.now()
            self.assertEqual(Opportunity.pool_return(now=now), 0)
            later = now + days(11)
            Activity.write(Activity.search([]), {'done_at': now + days(5)})
            self.assertEqual(Opportunity.pool_return(now=later), 1)
            lead0 = Opportunity(leads[0].id)
            self.assertTrue(lead0.in_pool)
            self.assertIsNone(lead0.employee)
            self.assertEqual(lead0.last_employee, self.rep1)
            self.assertFalse(Opportunity(leads[1].id).in_pool)
            log, = PoolLog.search([('action', '=', 'return')])
            self.assertEqual(log.employee, self.rep1)
            self.assertEqual(log.lead, lead0)

            with Transaction().set_context(employee=self.rep1.id):
                with self.assertRaises(UserError):
                    Opportunity.claim([lead0])
            with Transaction().set_context(employee=self.rep2.id):
                Opportunity.claim([lead0])
            self.assertEqual(PoolLog.search([
                        ('action', '=', 'reclaim')], count=True), 1)
            self.assertEqual(PoolLog.search([
                        ('action', '=', 'claim')], count=True), 2)

    @with_transaction()
    def test_pool_return_per_source(self):
        "The return delay of the lead source wins over the configuration"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Source = pool.get('hitech.lead.source')
        self._setup()
        Source.write([self.website], {'pool_return_days': 3})
        with set_company(self.company):
            lead, _ = self._post(name="Q", email='q@example.com')
            with Transaction().set_context(employee=self.rep1.id):
                Opportunity.claim([lead])
            now = datetime.datetime.now()
            self.assertEqual(Opportunity.pool_return(now=now + days(2)), 0)
            self.assertEqual(Opportunity.pool_return(now=now + days(4)), 1)

    @with_transaction()
    def test_access(self):
        "A rep reads the pool and own leads, not other teams' leads/logs"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        PoolLog = pool.get('hitech.lead.pool.log')
        self._setup()
        with set_company(self.company):
            user1 = make_user('rep1', self.company, self.rep1)
            make_user('other', self.company, self.other)
            leads = [self._post(name="A%s" % i,
                    email='a%s@example.com' % i)[0] for i in range(3)]
            with Transaction().set_context(employee=self.other.id):
                Opportunity.claim(leads[:1])
            other_lead = leads[0]
            with as_user(user1):
                visible = Opportunity.search([])
                self.assertNotIn(other_lead, visible)
                self.assertEqual(set(visible), set(leads[1:]))
                with self.assertRaises(AccessError):
                    Opportunity.read([other_lead.id], ['number'])
                Opportunity.claim([Opportunity(leads[1].id)])
                self.assertEqual(
                    [l.lead.id for l in PoolLog.search([])], [leads[1].id])
                with self.assertRaises(AccessError):
                    Opportunity.claim([Opportunity(other_lead.id)])

    @with_transaction()
    def test_registration_conflict(self):
        "A second rep may not register the same prospect"
        pool = Pool()
        Registration = pool.get('hitech.lead.registration')
        from trytond.modules.hitech_crm_base.exceptions import (
            RegistrationError)
        self._setup()
        with set_company(self.company):
            first, = Registration.create([{
                        'employee': self.rep1.id,
                        'name': "Shanghai Acme Robotics Co., Ltd.",
                        'tax_identifier': '91310000-MA1K00001X',
                        }])
            for values in [
                    {'name': "Acme Robotics (Shanghai)",
                        'tax_identifier': '91310000MA1K00001X'},
                    {'name': "Shanghai Acme Robotics Co Ltd"},
                    ]:
                with self.subTest(values=values):
                    with self.assertRaises(RegistrationError) as cm:
                        Registration.create([dict(values,
                                    employee=self.rep2.id)])
                    self.assertIn("Rep One", cm.exception.message)
            Registration.release([first])
            second, = Registration.create([{
                        'employee': self.rep2.id,
                        'name': "Shanghai Acme Robotics Co Ltd",
                        }])
            self.assertEqual(second.state, 'active')

    @with_transaction()
    def test_registration_expire(self):
        "Registrations past their end date expire by the cron"
        pool = Pool()
        Registration = pool.get('hitech.lead.registration')
        Date = pool.get('ir.date')
        self._setup()
        with set_company(self.company):
            old, = Registration.create([{
                        'employee': self.rep1.id, 'name': "Old",
                        'start_date': Date.today() - days(100),
                        'end_date': Date.today() - days(1),
                        }])
            Registration.cron_expire()
            self.assertEqual(old.state, 'expired')

    @with_transaction()
    def test_keyword_ranks_and_report(self):
        "Ranks are imported all or nothing and reported with the leads"
        pool = Pool()
        Keyword = pool.get('hitech.keyword')
        Rank = pool.get('hitech.keyword.rank')
        Report = pool.get('hitech.keyword.report')
        from trytond.modules.hitech_crm_base.keyword import RankAdapter
        self._setup()
        with set_company(self.company):
            lidar, eda = Keyword.create([
                    {'text': "LiDAR price"}, {'text': "EDA tools"}])
            _, errors = Rank.store(self.company, [
                    {'keyword': "lidar price", 'engine': 'baidu',
                        'date': '2026-05-01', 'rank': '3'},
                    {'keyword': "unknown", 'engine': 'baidu',
                        'date': '2026-05-01', 'rank': '3'},
                    {'keyword': "EDA tools", 'engine': 'yahoo',
                        'date': '2026-05-01', 'rank': '3'},
                    ])
            self.assertEqual([n for n, _ in errors], [2, 3])
            self.assertEqual(Rank.search([], count=True), 0)

            class Provider(RankAdapter):
                def fetch(self, keywords, date):
                    for i, text in enumerate(keywords):
                        yield {'keyword': text, 'engine': 'google',
                            'rank': i + 1}
            Rank.fetch(Provider(), [lidar, eda], datetime.date(2026, 5, 2))
            Rank.store(self.company, [
                    {'keyword': "LiDAR price", 'engine': 'baidu',
                        'date': '2026-06-01', 'rank': '5'}])
            self.assertEqual(Rank.search([], count=True), 3)
            self.assertEqual(lidar.best_rank, 1)

            lead, _ = self._post(name="K", email='k@example.com',
                utm_term="lidar price")
            self.assertEqual(lead.keyword, lidar)
            self.assertEqual(Keyword.get_stats([lidar], ['lead_count'])[
                    'lead_count'][lidar.id], 1)
            with Transaction().set_context(period='month'):
                rows = Report.search([('keyword', '=', lidar.id)])
                self.assertEqual(
                    sorted((r.period, r.best_rank, r.snapshots)
                        for r in rows if r.snapshots),
                    [('2026-05', 1, 1), ('2026-06', 5, 1)])
                self.assertEqual(sum(r.lead_count for r in rows), 1,
                    [(r.period, r.lead_count, r.snapshots) for r in rows])
            with Transaction().set_context(period='year'):
                rows = Report.search([('keyword', '=', lidar.id),
                        ('snapshots', '>', 0)])
                self.assertEqual([(r.period, r.snapshots) for r in rows],
                    [('2026', 2)])


del CRMTestCase
