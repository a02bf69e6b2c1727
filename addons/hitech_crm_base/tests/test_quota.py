# This file is part of HiTech CRM. See LICENSE for details.
"""Quotas, forecasts and dashboards: exact figures and access as users."""
import datetime
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import create_company, create_employee
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from trytond.modules.hitech_crm_base.quota import split_amount
from .common import CRMTestCase, as_user, make_user

D = Decimal


class QuotaForecastTestCase(CRMTestCase):
    "Test quotas, forecasts and dashboards"

    def setup_organisation(self):
        "Sales over East (Chen, Wang) and West (Liu), with users"
        pool = Pool()
        Team = pool.get('hitech.sales.team')
        Party = pool.get('party.party')
        Opportunity = pool.get('sale.opportunity')
        Quota = pool.get('hitech.quota')
        self.company = company = create_company()
        with Transaction().set_context(company=company.id):
            e = {n: create_employee(company, name=n) for n in [
                    'li', 'zhang', 'zhao', 'chen', 'wang', 'liu', 'sun']}
            sales, = Team.create([{'name': "Sales", 'manager': e['li'].id}])
            east, west = Team.create([{
                        'name': "East", 'parent': sales.id,
                        'manager': e['zhang'].id,
                        'members': [('create', [
                                    {'employee': e['chen'].id},
                                    {'employee': e['wang'].id}])],
                        }, {
                        'name': "West", 'parent': sales.id,
                        'manager': e['zhao'].id,
                        'members': [('create', [
                                    {'employee': e['liu'].id}])],
                        }])
            customer, = Party.create([{'name': "Customer"}])
            self.users = {
                'chen': make_user('chen', company, e['chen']),
                'liu': make_user('liu', company, e['liu']),
                'zhang': make_user('zhang', company, e['zhang'],
                    'group_sales_manager'),
                'zhao': make_user('zhao', company, e['zhao'],
                    'group_sales_manager'),
                'sun': make_user('sun', company, e['sun'], 'group_finance'),
                }

            def opportunity(employee, amount, end_date, state,
                    category='pipeline', probability=0.5, team=east):
                return {
                    'party': customer.id, 'company': company.id,
                    'employee': e[employee].id, 'sales_team': team.id,
                    'description': "%s %s" % (employee, amount),
                    'amount': D(amount), 'end_date': end_date,
                    'state': state, 'forecast_category': category,
                    'conversion_probability': probability,
                    }
            d = datetime.date
            self.opportunities = Opportunity.create([
                    opportunity('chen', 12000, d(2026, 1, 20), 'won'),
                    opportunity('chen', 3000, d(2026, 3, 31), 'won'),
                    # next quarter
                    opportunity('chen', 5000, d(2026, 4, 2), 'won'),
                    opportunity('chen', 8000, d(2026, 3, 15), 'opportunity',
                        'commit', 0.8),
                    opportunity('chen', 4000, d(2026, 2, 28), 'lead',
                        'best_case', 0.5),
                    opportunity('chen', 10000, d(2026, 3, 1), 'converted',
                        'pipeline', 0.2),
                    opportunity('chen', 7000, d(2026, 3, 1), 'opportunity',
                        'omitted', 0.9),
                    opportunity('chen', 9000, d(2026, 2, 1), 'lost',
                        'commit', 0.9),
                    opportunity('wang', 6000, d(2026, 2, 2), 'won'),
                    opportunity('liu', 1000, d(2026, 2, 2), 'won',
                        team=west),
                    ])
            self.quotas = Quota.create([{
                        'employee': e['chen'].id, 'year': 2026,
                        'amount': D('120000'), 'state': 'approved',
                        }, {
                        'employee': None, 'team': east.id, 'year': 2026,
                        'amount': D('240000'), 'state': 'approved',
                        }, {
                        'employee': e['liu'].id, 'year': 2026,
                        'amount': D('50000'), 'state': 'draft',
                        }])
            Quota.split(self.quotas)
        self.employees = e
        self.teams = {'sales': sales, 'east': east, 'west': west}

    def report(self, **context):
        pool = Pool()
        Report = pool.get('hitech.forecast.report')
        context.setdefault('company', self.company.id)
        context.setdefault('period_type', 'quarter')
        context.setdefault('period_date', datetime.date(2026, 2, 15))
        with Transaction().set_context(context):
            return {(r.kind, r.name): r for r in Report.search([])}

    def test_split_amount(self):
        "The parts of a split add up exactly, the remainder on the last"
        def round_(v):
            return v.quantize(D('0.01'))
        parts = split_amount(D('100'), [D(1)] * 3, round_)
        self.assertEqual(parts, [D('33.33'), D('33.33'), D('33.34')])
        self.assertEqual(sum(parts), D('100'))

    @with_transaction()
    def test_quota_won_and_attainment(self):
        "Won amounts of the year count for the rep and the team subtree"
        self.setup_organisation()
        chen, east, liu = self.quotas
        # chen: 12000 + 3000 + 5000 won in 2026
        self.assertEqual(chen.won_amount, D('20000.00'))
        self.assertEqual(chen.attainment, 16.7)
        # east subtree: chen's 20000 and wang's 6000
        self.assertEqual(east.won_amount, D('26000.00'))
        self.assertEqual(east.attainment, 10.8)
        self.assertEqual(east.rollup_amount, D('120000.00'))
        self.assertEqual(liu.won_amount, D('1000.00'))
        self.assertEqual(
            [p.amount for p in chen.periods if p.kind == 'quarter'],
            [D('30000.00')] * 4)

    @with_transaction()
    def test_forecast_report_figures(self):
        "The forecast of a quarter against the quota, exactly"
        self.setup_organisation()
        rows = self.report()
        chen = rows['employee', 'chen']
        self.assertEqual(chen.quota, D('30000.00'))
        self.assertEqual(chen.won, D('15000'))
        self.assertEqual(chen.commit, D('8000'))
        self.assertEqual(chen.best_case, D('4000'))
        self.assertEqual(chen.pipeline, D('10000'))
        # 8000 × 0.8 + 4000 × 0.5 + 10000 × 0.2; omitted and lost left out
        self.assertEqual(chen.weighted, D('10400'))
        self.assertEqual(chen.open_count, 4)
        self.assertEqual(chen.attainment, 50.0)
        self.assertEqual(chen.gap, D('15000'))
        self.assertEqual(chen.coverage, 0.8)
        self.assertEqual(chen.start_date, datetime.date(2026, 1, 1))
        self.assertEqual(chen.end_date, datetime.date(2026, 3, 31))

        east = rows['team', 'Sales / East']
        self.assertEqual(east.quota, D('60000.00'))
        self.assertEqual(east.won, D('21000'))
        self.assertEqual(east.attainment, 35.0)
        self.assertEqual(east.gap, D('39000'))
        sales = rows['team', 'Sales']
        self.assertEqual(sales.won, D('22000'))
        self.assertEqual(sales.quota, D('0'))
        self.assertIsNone(sales.attainment)
        # liu's quota is not approved
        self.assertEqual(rows['employee', 'liu'].quota, D('0'))

        # a month and a team filter
        rows = self.report(period_type='month',
            sales_team=self.teams['east'].id)
        self.assertEqual(
            sorted(rows), [('employee', 'chen'), ('employee', 'wang'),
                ('team', 'Sales / East')])
        self.assertEqual(rows['employee', 'chen'].won, D('0'))
        self.assertEqual(rows['employee', 'chen'].best_case, D('4000'))
        self.assertEqual(rows['employee', 'chen'].quota, D('10000.00'))
        self.assertEqual(rows['employee', 'wang'].won, D('6000'))

    @with_transaction()
    def test_forecast_snapshot_adjustment(self):
        "A submitted forecast is frozen; adjustments keep the original"
        pool = Pool()
        Forecast = pool.get('hitech.forecast')
        Opportunity = pool.get('sale.opportunity')
        self.setup_organisation()
        with as_user(self.users['chen']):
            forecast, = Forecast.create([{
                        'period_type': 'quarter',
                        'start_date': datetime.date(2026, 2, 15),
                        }])
            self.assertEqual(forecast.start_date, datetime.date(2026, 1, 1))
            self.assertEqual(forecast.end_date, datetime.date(2026, 3, 31))
            self.assertEqual(forecast.employee, self.employees['chen'])
            Forecast.submit([forecast])
            self.assertEqual(
                (forecast.quota, forecast.won, forecast.commit,
                    forecast.best_case, forecast.weighted),
                (D('30000.00'), D('15000.00'), D('8000.00'), D('4000.00'),
                    D('10400.00')))
            # the rep can neither change the frozen figures nor adjust
            with self.assertRaises(UserError):
                Forecast.write([forecast], {'won': D('30000')})
            with self.assertRaises(UserError):
                Forecast.apply_adjustment(
                    forecast, 'commit', D('20000'), "Optimistic")
        # later changes of the pipeline do not move the snapshot
        Opportunity.write([self.opportunities[3]], {'amount': D('1')})
        forecast = Forecast(forecast.id)
        self.assertEqual(forecast.commit, D('8000.00'))

        with as_user(self.users['zhao']):
            # another team's manager neither sees nor adjusts it
            self.assertEqual(Forecast.search([]), [])
        with as_user(self.users['zhang']):
            forecast = Forecast(forecast.id)
            with self.assertRaises(UserError):
                Forecast.apply_adjustment(forecast, 'commit', D('9000'), "")
            first = Forecast.apply_adjustment(
                forecast, 'commit', D('10000'), "The Hangzhou deal is signed")
            second = Forecast.apply_adjustment(
                Forecast(forecast.id), 'commit', D('9000'), "One slips")
            forecast = Forecast(forecast.id)
            self.assertEqual(forecast.commit, D('9000.00'))
            self.assertEqual(
                (first.original_amount, first.previous_amount, first.amount),
                (D('8000.00'), D('8000.00'), D('10000.00')))
            self.assertEqual(
                (second.original_amount, second.previous_amount,
                    second.amount),
                (D('8000.00'), D('10000.00'), D('9000.00')))
            self.assertEqual(second.user, self.users['zhang'])
            self.assertIsNotNone(second.adjusted_at)
            with self.assertRaises(UserError):
                pool.get('hitech.forecast.adjustment').delete([first])
            with self.assertRaises(UserError):
                Forecast.draft([forecast])

    @with_transaction()
    def test_quota_access(self):
        "Reps see their own quotas, managers their subtree, finance all"
        pool = Pool()
        Quota = pool.get('hitech.quota')
        Report = pool.get('hitech.forecast.report')
        self.setup_organisation()
        chen, east, liu = self.quotas
        with as_user(self.users['liu']):
            self.assertEqual(Quota.search([]), [liu])
            with self.assertRaises(AccessError):
                Quota.read([chen.id], ['amount'])
            # own draft: writable; the approval marks are not
            Quota.write([liu], {'comment': "Ok"})
            with self.assertRaises(UserError):
                Quota.write([liu], {'state': 'approved'})
            Quota.submit([liu])
            with self.assertRaises(UserError):
                Quota.approve([liu])
        with as_user(self.users['chen']):
            self.assertEqual(set(Quota.search([])), {chen, east})
            with self.assertRaises(UserError):
                Quota.write([chen], {'amount': D('1')})
        with as_user(self.users['zhao']):
            self.assertEqual(Quota.search([]), [liu])
            Quota.approve([liu])
            self.assertEqual(liu.state, 'approved')
        with as_user(self.users['zhang']):
            self.assertEqual(set(Quota.search([])), {chen, east})
            with self.assertRaises(UserError):
                Quota.reopen([liu])
        with as_user(self.users['sun']):
            self.assertEqual(len(Quota.search([])), 3)
            with self.assertRaises(AccessError):
                Quota.write([chen], {'comment': "No"})
        context = {
            'company': self.company.id, 'period_type': 'quarter',
            'period_date': datetime.date(2026, 2, 15)}
        with as_user(self.users['chen']), \
                Transaction().set_context(context):
            self.assertEqual(
                [r.name for r in Report.search([])], ['chen'])
        with as_user(self.users['zhang']), \
                Transaction().set_context(context):
            self.assertEqual(
                sorted(r.name for r in Report.search([])),
                ['Sales / East', 'chen', 'wang'])

    @with_transaction()
    def test_stalled_and_scope(self):
        "Open deals past their date or quiet for 30 days are stalled"
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        Activity = pool.get('hitech.activity')
        Date = pool.get('ir.date')
        self.setup_organisation()
        today = Date.today()
        with Transaction().set_context(company=self.company.id):
            late, fresh, closed = Opportunity.create([{
                        'party': self.opportunities[0].party.id,
                        'company': self.company.id,
                        'employee': self.employees['chen'].id,
                        'end_date': end, 'state': state,
                        } for end, state in [
                        (today - datetime.timedelta(days=1), 'opportunity'),
                        (today + datetime.timedelta(days=60), 'lead'),
                        (today - datetime.timedelta(days=1), 'won'),
                        ]])
        ids = [late.id, fresh.id, closed.id]
        stalled = Opportunity.search([
                ('id', 'in', ids), ('hitech_stalled', '=', True)])
        self.assertEqual(stalled, [late])
        self.assertEqual(
            [o.hitech_stalled for o in Opportunity.browse(ids)],
            [True, False, False])

        # nothing happened for 40 days
        table = Opportunity.__table__()
        cursor = Transaction().connection.cursor()
        cursor.execute(*table.update([table.create_date],
                [datetime.datetime.now() - datetime.timedelta(days=40)],
                where=table.id == fresh.id))
        self.assertTrue(Opportunity(fresh.id).hitech_stalled)
        Activity.create([{
                    'company': self.company.id, 'type': 'call',
                    'subject': "Follow up", 'opportunity': fresh.id,
                    'employee': self.employees['chen'].id,
                    'planned_at': datetime.datetime.now(),
                    }])
        self.assertFalse(Opportunity(fresh.id).hitech_stalled)

        with as_user(self.users['chen']):
            mine = Opportunity.search([('hitech_scope', '=', 'mine')])
            self.assertTrue(mine)
            self.assertEqual(
                {o.employee for o in mine}, {self.employees['chen']})
        with as_user(self.users['zhang']):
            team = Opportunity.search([('hitech_scope', '=', 'team')])
            self.assertEqual(
                {o.employee.rec_name for o in team}, {'chen', 'wang'})

    @with_transaction()
    def test_dashboard_boards(self):
        "Board views name their actions by id; the stock one follows roles"
        pool = Pool()
        View = pool.get('ir.ui.view')
        ModelData = pool.get('ir.model.data')
        self.setup_organisation()
        rep_board = ModelData.get_id(
            'hitech_crm_base', 'dashboard_rep_view_board')
        pipeline = ModelData.get_id(
            'hitech_crm_base', 'act_dashboard_my_pipeline')
        team_pipeline = ModelData.get_id(
            'hitech_crm_base', 'act_dashboard_team_pipeline')
        stock = View.dashboard_id()
        with as_user(self.users['chen']):
            arch, = View.read([rep_board], ['arch'])
            self.assertIn('name="%s"' % pipeline, arch['arch'])
            self.assertNotIn('hitech_crm_base.', arch['arch'])
            arch, = View.read([stock], ['arch'])
            self.assertIn('name="%s"' % pipeline, arch['arch'])
        with as_user(self.users['zhang']):
            arch, = View.read([stock], ['arch'])
            self.assertIn('name="%s"' % team_pipeline, arch['arch'])


del CRMTestCase
