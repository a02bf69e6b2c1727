# This file is part of HiTech CRM. See LICENSE for details.
"""Sales processes, stage moves and their history, lost reasons, alerts,
the pipeline analytics on a known history, and access as users."""
import datetime as dt
from decimal import Decimal
from unittest.mock import patch

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.modules.hitech_crm_base.tests.common import (
    CRMTestCase, as_user, make_user)
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction


def create_process(big_deal=None):
    pool = Pool()
    Process = pool.get('hitech.sales.process')
    process, = Process.create([{
                'name': "Test Process", 'code': 'test',
                'big_deal_amount': big_deal,
                'stages': [('create', [{
                                'sequence': 10, 'name': "Qualify",
                                'code': 'q', 'probability': 0.2,
                                'expected_duration': 10,
                                'requirements': [('create', [{
                                                'kind': 'field',
                                                'field': 'amount',
                                                }])],
                                }, {
                                'sequence': 20, 'name': "Propose",
                                'code': 'r', 'probability': 0.6,
                                }, {
                                'sequence': 30, 'name': "Won",
                                'code': 'w', 'probability': 1,
                                'kind': 'won',
                                }, {
                                'sequence': 40, 'name': "Lost",
                                'code': 'l', 'probability': 0,
                                'kind': 'lost',
                                }])],
                }])
    return process, {s.code: s for s in process.stages}


class PipelineTestCase(CRMTestCase):
    "Test sales processes, stages and their history"

    def setup_base(self):
        pool = Pool()
        Party = pool.get('party.party')
        self.company = create_company()
        self.employee = create_employee(self.company, "Rep")
        with set_company(self.company):
            self.party, = Party.create([{'name': "Customer"}])
            self.process, self.stages = create_process()

    def create_opportunity(self, **values):
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        values.setdefault('party', self.party.id)
        values.setdefault('employee', self.employee.id)
        values.setdefault('sales_process', self.process.id)
        with set_company(self.company):
            opportunity, = Opportunity.create([values])
        return opportunity

    def history(self, opportunity):
        pool = Pool()
        History = pool.get('hitech.opportunity.stage.history')
        return History.search(
            [('opportunity', '=', opportunity.id)],
            order=[('date', 'ASC'), ('id', 'ASC')])

    @with_transaction()
    def test_create_enters_first_stage(self):
        "A new opportunity of a process enters its first stage"
        self.setup_base()
        opportunity = self.create_opportunity()
        self.assertEqual(opportunity.stage, self.stages['q'])
        self.assertEqual(opportunity.conversion_probability, 0.2)
        self.assertTrue(opportunity.stage_entered_at)
        row, = self.history(opportunity)
        self.assertEqual(row.from_stage, None)
        self.assertEqual(row.to_stage, self.stages['q'])
        self.assertTrue(row.first_entry)
        self.assertEqual(row.employee, self.employee)
        self.assertTrue(row.stalled_after)

    @with_transaction()
    def test_move_requirement_refused(self):
        "Leaving a stage without its required items is refused"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        self.setup_base()
        opportunity = self.create_opportunity()
        with self.assertRaises(UserError) as cm:
            Opportunity.write([opportunity], {
                    'stage': self.stages['r'].id})
        self.assertIn('"Qualify"', cm.exception.message)
        self.assertIn('Amount', cm.exception.message)
        opportunity = Opportunity(opportunity.id)
        self.assertEqual(opportunity.stage, self.stages['q'])
        self.assertEqual(len(self.history(opportunity)), 1)

    @with_transaction()
    def test_move_records_history(self):
        "Each move is recorded with the amount and the time in stage"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        self.setup_base()
        opportunity = self.create_opportunity(amount=Decimal('500'))
        Opportunity.next_stage([opportunity])
        opportunity = Opportunity(opportunity.id)
        self.assertEqual(opportunity.stage, self.stages['r'])
        self.assertEqual(opportunity.conversion_probability, 0.6)
        first, second = self.history(opportunity)
        self.assertEqual(first.next_stage, self.stages['r'])
        self.assertIsNotNone(first.left_at)
        self.assertGreaterEqual(first.stay_days, 0)
        self.assertEqual(second.from_stage, self.stages['q'])
        self.assertEqual(second.amount, Decimal('500'))
        self.assertEqual(second.probability, 0.6)
        self.assertIsNotNone(second.duration)
        self.assertIsNone(second.left_at)

        # back and forth: the second entry is not a first entry
        Opportunity.previous_stage([opportunity])
        Opportunity.next_stage([opportunity])
        rows = self.history(opportunity)
        self.assertEqual(len(rows), 4)
        self.assertEqual(
            [r.first_entry for r in rows], [True, True, False, False])

        Opportunity.next_stage([opportunity])
        opportunity = Opportunity(opportunity.id)
        self.assertEqual(opportunity.stage, self.stages['w'])
        self.assertEqual(opportunity.state, 'won')
        self.assertEqual(opportunity.conversion_probability, 1)
        closing = self.history(opportunity)[-1]
        self.assertIsNotNone(closing.cycle_days)

    @with_transaction()
    def test_lost_requires_reason(self):
        "Marking lost needs a lost reason and moves to the lost stage"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Reason = pool.get('hitech.opportunity.lost_reason')
        self.setup_base()
        opportunity = self.create_opportunity()
        with self.assertRaises(UserError) as cm:
            Opportunity.lost([opportunity])
        self.assertIn("lost reason", cm.exception.message)
        self.assertEqual(Opportunity(opportunity.id).state, 'lead')
        with self.assertRaises(UserError):
            Opportunity.write([opportunity], {
                    'stage': self.stages['l'].id})

        reason, = Reason.search([('code', '=', 'price')])
        Opportunity.write([opportunity], {
                'loss_reason': reason.id,
                'lost_reason': "Cheaper offer"})
        Opportunity.lost([opportunity])
        opportunity = Opportunity(opportunity.id)
        self.assertEqual(opportunity.state, 'lost')
        self.assertEqual(opportunity.stage, self.stages['l'])
        self.assertEqual(opportunity.conversion_probability, 0)
        rows = self.history(opportunity)
        self.assertEqual(
            [r.to_stage.code for r in rows], ['q', 'l'])

        # reopened by the stock button: back to the stage it left
        Opportunity.lead([opportunity])
        opportunity = Opportunity(opportunity.id)
        self.assertEqual(opportunity.state, 'lead')
        self.assertEqual(opportunity.stage, self.stages['q'])
        self.assertEqual(
            [r.to_stage.code for r in self.history(opportunity)],
            ['q', 'l', 'q'])

    @with_transaction()
    def test_reopen_by_stage(self):
        "Moving a lost opportunity to an open stage reopens it"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Reason = pool.get('hitech.opportunity.lost_reason')
        self.setup_base()
        reason, = Reason.search([('code', '=', 'timing')])
        opportunity = self.create_opportunity(loss_reason=reason.id)
        Opportunity.write([opportunity], {'stage': self.stages['l'].id})
        self.assertEqual(Opportunity(opportunity.id).state, 'lost')
        Opportunity.write([opportunity], {'stage': self.stages['q'].id})
        opportunity = Opportunity(opportunity.id)
        self.assertEqual(opportunity.state, 'opportunity')
        self.assertEqual(len(self.history(opportunity)), 3)

    @with_transaction()
    def test_fill_buying_centre(self):
        "The buying centre is drawn from the account's contact roles"
        pool = Pool()
        Party = pool.get('party.party')
        AccountContact = pool.get('hitech.account.contact')
        Opportunity = pool.get('sale.opportunity')
        self.setup_base()
        with set_company(self.company):
            anna, ben = Party.create([
                    {'name': "Anna", 'party_kind': 'person'},
                    {'name': "Ben", 'party_kind': 'person'}])
            AccountContact.create([{
                        'account': self.party.id, 'contact': anna.id,
                        'role': 'decision_maker', 'title': "CTO",
                        }, {
                        'account': self.party.id, 'contact': ben.id,
                        'role': 'technical_evaluator',
                        'end_date': dt.date(2000, 1, 1),
                        }])
        opportunity = self.create_opportunity()
        Opportunity.fill_buying_centre([opportunity])
        Opportunity.fill_buying_centre([opportunity])
        contact, = Opportunity(opportunity.id).buying_contacts
        self.assertEqual(contact.contact, anna)
        self.assertEqual(contact.role, 'decision_maker')
        self.assertEqual(contact.attitude, 'neutral')

    @with_transaction()
    def test_competitor_domain(self):
        "A competitor on a deal is an account of type competitor"
        pool = Pool()
        Party = pool.get('party.party')
        Competitor = pool.get('hitech.opportunity.competitor')
        self.setup_base()
        opportunity = self.create_opportunity()
        with set_company(self.company):
            rival, = Party.create([{
                        'name': "Rival", 'account_type': 'competitor'}])
            Competitor.create([{
                        'opportunity': opportunity.id,
                        'competitor': rival.id,
                        'price': Decimal('900'), 'won': True}])
            with self.assertRaises(UserError):
                Competitor.create([{
                            'opportunity': opportunity.id,
                            'competitor': self.party.id}])


class PipelineAlertTestCase(CRMTestCase):
    "Test the big deal and stalled deal alerts"

    def setup_org(self):
        pool = Pool()
        Party = pool.get('party.party')
        Team = pool.get('hitech.sales.team')
        self.company = create_company()
        with set_company(self.company):
            self.boss = create_employee(self.company, "Boss")
            self.head = create_employee(self.company, "Head")
            self.rep = create_employee(self.company, "Rep")
            top, = Team.create([{'name': "Sales", 'manager': self.head.id}])
            self.team, = Team.create([{
                        'name': "East", 'parent': top.id,
                        'manager': self.boss.id,
                        'members': [('create', [{
                                        'employee': self.rep.id}])]}])
            self.boss_user = make_user(
                'boss', self.company, self.boss, 'group_sales_manager')
            self.head_user = make_user(
                'head', self.company, self.head, 'group_sales_manager')
            self.rep_user = make_user('rep', self.company, self.rep)
            pool.get('res.user').write(
                [self.boss_user], {'email': 'boss@example.com'})
            self.party, = Party.create([{'name': "Customer"}])
            self.process, self.stages = create_process(
                big_deal=Decimal('1000'))

    def create_opportunity(self, **values):
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        values.setdefault('party', self.party.id)
        values.setdefault('employee', self.rep.id)
        values.setdefault('sales_team', self.team.id)
        values.setdefault('sales_process', self.process.id)
        with set_company(self.company):
            opportunity, = Opportunity.create([values])
        return opportunity

    def notified(self):
        return sorted((n.user.id, n.label)
            for n in Transaction().user_notifications)

    @with_transaction()
    def test_big_deal_alert(self):
        "Managers up the tree are told once when the amount is big"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        self.setup_org()
        with patch('trytond.modules.hitech_crm_base.stage.'
                'sendmail_transactional') as sendmail, \
                patch('trytond.modules.hitech_crm_base.stage.config.get',
                    return_value='crm@example.com'):
            opportunity = self.create_opportunity(amount=Decimal('10'))
            self.assertEqual(self.notified(), [])
            Opportunity.write([opportunity], {'amount': Decimal('1500')})
            label = "Big deal: %s" % opportunity.rec_name
            self.assertEqual(self.notified(), sorted([
                        (self.boss_user.id, label),
                        (self.head_user.id, label)]))
            self.assertEqual(sendmail.call_count, 1)
            self.assertEqual(
                sendmail.call_args[0][1], ['boss@example.com'])
            self.assertTrue(Opportunity(opportunity.id).big_deal_alerted_at)
            # once per opportunity
            Opportunity.write([opportunity], {'amount': Decimal('2500')})
            self.assertEqual(len(self.notified()), 2)
            self.assertEqual(sendmail.call_count, 1)

    @with_transaction()
    def test_stalled_alert(self):
        "The daily cron tells handler and managers once per stay"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        History = pool.get('hitech.opportunity.stage.history')
        self.setup_org()
        stalled = self.create_opportunity(amount=Decimal('10'))
        fresh = self.create_opportunity(amount=Decimal('10'))
        history = History.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*history.update(
                [history.stalled_after],
                [dt.datetime.now() - dt.timedelta(days=1)],
                where=history.opportunity == stalled.id))
        rows = Opportunity.alert_stalled()
        self.assertEqual([r.opportunity for r in rows], [stalled])
        label = "Stalled deal: %s" % stalled.rec_name
        self.assertEqual(self.notified(), sorted([
                    (self.rep_user.id, label),
                    (self.boss_user.id, label),
                    (self.head_user.id, label)]))
        self.assertEqual(Opportunity.alert_stalled(), [])
        self.assertTrue(fresh)

    @with_transaction()
    def test_access_as_users(self):
        "Reps read the history of their deals and never write it"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        History = pool.get('hitech.opportunity.stage.history')
        Process = pool.get('hitech.sales.process')
        Competitor = pool.get('hitech.opportunity.competitor')
        Party = pool.get('party.party')
        self.setup_org()
        other = create_employee(self.company, "Other")
        make_user('other', self.company, other)
        mine = self.create_opportunity(amount=Decimal('10'))
        with set_company(self.company):
            rival, elsewhere = Party.create([{
                        'name': "Rival", 'account_type': 'competitor'}, {
                        'name': "Elsewhere", 'owner': other.id}])
        theirs = self.create_opportunity(
            amount=Decimal('10'), employee=other.id, sales_team=None,
            party=elsewhere.id)
        with as_user(self.rep_user):
            rows = History.search([])
            self.assertEqual({r.opportunity.id for r in rows}, {mine.id})
            with self.assertRaises(AccessError):
                History.write(rows, {'stay_days': 1})
            with self.assertRaises(AccessError):
                History.create([{
                            'opportunity': mine.id,
                            'to_stage': self.stages['r'].id,
                            'date': dt.datetime.now()}])
            self.assertEqual(len(Process.search([])), 4)
            with self.assertRaises(AccessError):
                Process.write(Process.search([]), {'name': "X"})
            # moving the stage writes the history as the system
            Opportunity.next_stage([Opportunity(mine.id)])
            self.assertIn(self.stages['r'],
                [r.to_stage for r in History.search([])])
            Competitor.create([{
                        'opportunity': mine.id, 'competitor': rival.id}])
        Competitor.create([{
                    'opportunity': theirs.id, 'competitor': rival.id}])
        with as_user(self.rep_user):
            self.assertEqual(
                {c.opportunity.id for c in Competitor.search([])},
                {mine.id})
        with as_user(self.boss_user):
            # the manager of the team reads the deals of the team
            self.assertEqual(
                {r.opportunity.id for r in History.search([])}, {mine.id})


class PipelineReportingTestCase(CRMTestCase):
    "Test the analytics on a known stage history"

    def build(self):
        pool = Pool()
        Party = pool.get('party.party')
        Opportunity = pool.get('sale.opportunity')
        History = pool.get('hitech.opportunity.stage.history')
        self.company = create_company()
        with set_company(self.company):
            self.e1 = create_employee(self.company, "One")
            self.e2 = create_employee(self.company, "Two")
            self.rep_user = make_user('one', self.company, self.e1)
            party, = Party.create([{'name': "Customer"}])
            self.process, stages = create_process()
            q, r, w, l = (stages[c] for c in 'qrwl')
            self.stages = stages
            # (employee, final stage, state, visits: (stage, stay, cycle))
            plans = [
                (self.e1, w, 'won', [(q, 1), (r, 4), (w, None, 10)]),
                (self.e1, l, 'lost', [(q, 2), (r, 6), (l, None, 20)]),
                (self.e1, l, 'lost', [(q, 3), (l, None, 5)]),
                (self.e2, w, 'won', [(q, 4), (r, 8), (w, None, 30)]),
                (self.e2, r, 'opportunity', [(q, 10), (r, None)]),
                (self.e2, q, 'opportunity', [(q, None)]),
                ]
            opportunities = Opportunity.create([{
                        'party': party.id, 'employee': e.id,
                        'amount': Decimal(100 * i)}
                    for i, (e, *_) in enumerate(plans, 1)])
        table = Opportunity.__table__()
        cursor = Transaction().connection.cursor()
        vlist = []
        for i, (opportunity, (_, stage, state, visits)) in enumerate(
                zip(opportunities, plans)):
            cursor.execute(*table.update(
                    [table.sales_process, table.stage, table.state],
                    [self.process.id, stage.id, state],
                    where=table.id == opportunity.id))
            # the first three in January, the others in February
            date = dt.datetime(2026, 1 if i < 3 else 2, 3 + i, 9)
            previous = None
            for j, (visit_stage, stay, *cycle) in enumerate(visits):
                following = (visits[j + 1][0]
                    if j + 1 < len(visits) else None)
                vlist.append({
                        'opportunity': opportunity.id,
                        'process': self.process.id,
                        'from_stage': previous.id if previous else None,
                        'to_stage': visit_stage.id,
                        'date': date,
                        'currency': opportunity.currency.id,
                        'amount': opportunity.amount,
                        'first_entry': True,
                        'stay_days': stay,
                        'left_at': (date + dt.timedelta(days=stay)
                            if stay is not None else None),
                        'next_stage': following.id if following else None,
                        'cycle_days': cycle[0] if cycle else None,
                        })
                previous = visit_stage
                date += dt.timedelta(days=stay or 0)
        History.create(vlist)
        self.opportunities = opportunities

    def context(self, **values):
        context = {
            'company': self.company.id,
            'from_date': dt.date(2026, 1, 1),
            'to_date': dt.date(2026, 3, 31),
            'period': 'month',
            }
        context.update(values)
        return Transaction().set_context(**context)

    def by_stage(self, model='hitech.opportunity.reporting.stage', **ctx):
        Report = Pool().get(model)
        with self.context(**ctx):
            rows = Report.search([])
            return {(r.stage.code,) + tuple(
                    getattr(r, k) for k in ctx.get('_keys', [])): r
                for r in rows}

    @with_transaction()
    def test_funnel_and_time_in_stage(self):
        "Funnel, conversion and time in stage have the expected values"
        self.build()
        rows = self.by_stage()
        q, r, w, l = (rows[(c,)] for c in 'qrwl')
        self.assertEqual(
            (q.entries, q.reached, q.current, q.left, q.advanced, q.dropped),
            (6, 6, 1, 5, 4, 1))
        self.assertEqual(q.reached_amount, Decimal(2100))
        self.assertEqual(q.current_amount, Decimal(600))
        self.assertAlmostEqual(q.conversion_rate, 4 / 6, places=6)
        self.assertAlmostEqual(q.average_days, 4.0, places=6)
        self.assertAlmostEqual(q.median_days, 3.0, places=6)
        self.assertAlmostEqual(q.p90_days, 7.6, places=6)

        self.assertEqual(
            (r.entries, r.reached, r.current, r.left, r.advanced, r.dropped),
            (4, 4, 1, 3, 2, 1))
        self.assertAlmostEqual(r.conversion_rate, 0.5, places=6)
        self.assertAlmostEqual(r.average_days, 6.0, places=6)
        self.assertAlmostEqual(r.median_days, 6.0, places=6)
        self.assertAlmostEqual(r.p90_days, 7.6, places=6)

        self.assertEqual((w.reached, w.current, l.reached), (2, 0, 2))
        self.assertIsNone(w.median_days)
        self.assertIsNone(w.average_days)

    @with_transaction()
    def test_split_by_rep_and_period(self):
        "The figures split by rep and per month"
        self.build()
        rows = self.by_stage(dimension='employee', _keys=['employee'])
        one = rows[('q', self.e1)]
        two = rows[('q', self.e2)]
        self.assertEqual((one.entries, two.entries), (3, 3))
        self.assertAlmostEqual(one.median_days, 2.0, places=6)
        self.assertAlmostEqual(one.p90_days, 2.8, places=6)
        self.assertAlmostEqual(two.median_days, 7.0, places=6)
        self.assertAlmostEqual(two.p90_days, 9.4, places=6)
        self.assertIsNone(one.sales_team)

        rows = self.by_stage(
            'hitech.opportunity.reporting.stage.time_series', _keys=['date'])
        january = rows[('q', dt.date(2026, 1, 1))]
        february = rows[('q', dt.date(2026, 2, 1))]
        self.assertEqual((january.entries, february.entries), (3, 3))
        self.assertAlmostEqual(january.median_days, 2.0, places=6)
        self.assertAlmostEqual(february.average_days, 7.0, places=6)

        # filters of the context
        rows = self.by_stage(employee=self.e2.id)
        self.assertEqual(rows[('q',)].entries, 3)
        rows = self.by_stage(to_date=dt.date(2026, 1, 31))
        self.assertEqual(rows[('q',)].entries, 3)

    @with_transaction()
    def test_transitions(self):
        "Stage-to-stage moves and their shares"
        pool = Pool()
        Transition = pool.get('hitech.opportunity.reporting.transition')
        self.build()
        with self.context():
            rows = {(t.from_stage.code, t.to_stage.code): t
                for t in Transition.search([])}
        self.assertEqual(
            {k: v.moves for k, v in rows.items()},
            {('q', 'r'): 4, ('q', 'l'): 1, ('r', 'w'): 2, ('r', 'l'): 1})
        self.assertAlmostEqual(rows[('q', 'r')].rate, 0.8, places=6)
        self.assertAlmostEqual(rows[('r', 'l')].rate, 1 / 3, places=6)

    @with_transaction()
    def test_win_rate_and_cycle(self):
        "Win rate and cycle length percentiles"
        pool = Pool()
        Cycle = pool.get('hitech.opportunity.reporting.cycle')
        self.build()
        with self.context():
            row, = Cycle.search([])
        self.assertEqual((row.closed, row.won, row.lost), (4, 2, 2))
        self.assertAlmostEqual(row.win_rate, 0.5, places=6)
        self.assertEqual(row.won_amount, Decimal(500))
        self.assertAlmostEqual(row.average_cycle, 16.25, places=6)
        self.assertAlmostEqual(row.median_cycle, 15.0, places=6)
        self.assertAlmostEqual(row.p90_cycle, 27.0, places=6)

    @with_transaction()
    def test_reporting_as_rep(self):
        "A rep's analytics count the deals the rep may read only"
        pool = Pool()
        Report = pool.get('hitech.opportunity.reporting.stage')
        self.build()
        with as_user(self.rep_user), self.context():
            rows = Report.search_read([],
                fields_names=['stage.code', 'entries', 'median_days'])
        rows = {r['stage.']['code']: r for r in rows}
        self.assertEqual(rows['q']['entries'], 3)
        self.assertAlmostEqual(rows['q']['median_days'], 2.0, places=6)

    @with_transaction()
    def test_search_read_as_search_and_read(self):
        "search_read of the reports gives what search then read give"
        pool = Pool()
        self.build()
        reports = {
            'hitech.opportunity.reporting.stage': [
                'stage', 'entries', 'reached', 'reached_amount',
                'current_amount', 'conversion_rate', 'median_days',
                'p90_days', 'currency', 'rec_name', 'stage.code',
                'process.rec_name', 'product_line'],
            'hitech.opportunity.reporting.stage.time_series': [
                'date', 'stage', 'entries', 'average_days', 'rec_name'],
            'hitech.opportunity.reporting.transition': [
                'from_stage.code', 'to_stage.rec_name', 'moves', 'rate'],
            'hitech.opportunity.reporting.cycle': [
                'process', 'closed', 'won_amount', 'median_cycle',
                'currency'],
            }
        cases = [
            ({}, [], {}),
            ({'dimension': 'employee'}, [], {}),
            ({}, [('entries', '>', 1)], {'order': [('entries', 'DESC')]}),
            ({}, [], {'offset': 1, 'limit': 2}),
            ]
        users = [None, self.rep_user]
        for (name, fields_names), (ctx, domain, kwargs), user in (
                (r, c, u) for r in reports.items() for c in cases
                for u in users):
            Report = pool.get(name)
            if 'entries' in str(domain) and 'entries' not in fields_names:
                continue
            with self.subTest(report=name, context=ctx, domain=domain,
                    user=user and user.login):
                with self.context(**ctx), (
                        as_user(user) if user else Transaction()
                        .set_context()):
                    rows = Report.search_read(domain,
                        fields_names=list(fields_names), **kwargs)
                    records = Report.search(domain, **kwargs)
                    expected = Report.read(
                        [r.id for r in records], fields_names)
                    index = {r.id: i for i, r in enumerate(records)}
                    expected.sort(key=lambda r: index[r['id']])
                if not kwargs.get('offset'):
                    self.assertTrue(rows)
                self.assertEqual(rows, expected)
