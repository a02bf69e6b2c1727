# This file is part of HiTech CRM. See LICENSE for details.
"""Dispatch: work orders from tickets, approval, check-in/out and hours,
costs, quotes, the field work report and record access (as users)."""
import datetime
from decimal import Decimal

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessButtonError, AccessError
from trytond.modules.account.tests import create_chart
from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.modules.hitech_service.tests.common import (
    ServiceTestCase, as_user, make_service_user)
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction


class WorkOrderTestCase(ServiceTestCase):
    "Test the work orders of hitech_service"

    def setup_desk(self):
        pool = Pool()
        Party = pool.get('party.party')
        Ticket = pool.get('hitech.ticket')
        Team = pool.get('hitech.sales.team')
        Template = pool.get('product.template')
        Uom = pool.get('product.uom')
        Configuration = pool.get('hitech.service.configuration')
        Account = pool.get('account.account')
        ProductCategory = pool.get('product.category')
        company = create_company()
        self.company = company
        with set_company(company):
            create_chart(company)
            revenue, = Account.search([
                    ('type.revenue', '=', True),
                    ('closed', '!=', True),
                    ('company', '=', company.id),
                    ], limit=1)
            category, = ProductCategory.create([{
                        'name': "Service Sales", 'accounting': True,
                        'account_revenue': revenue.id}])
            self.engineer = create_employee(company, "Engineer")
            self.other = create_employee(company, "Other Engineer")
            self.boss = create_employee(company, "Service Boss")
            team, = Team.create([{
                        'name': "Field Service", 'kind': 'service',
                        'manager': self.boss.id,
                        'members': [('create', [{
                                        'employee': self.engineer.id,
                                        'role': 'engineer'}])]}])
            self.team = team
            self.account, = Party.create([{
                        'name': "Stellar Optics", 'account_type': 'customer',
                        'addresses': [('create', [{'street': "1 Main"}])]}])
            self.ticket, = Ticket.create([{
                        'subject': "Unit does not power on",
                        'account': self.account.id,
                        'service_team': team.id,
                        'handler': self.engineer.id}])
            self.other_ticket, = Ticket.create([{
                        'subject': "Elsewhere", 'account': self.account.id}])
            unit, = Uom.search([('name', '=', "Unit")])
            hour, = Uom.search([('name', '=', "Hour")])
            board, labour = Template.create([{
                        'name': "Power Board", 'type': 'goods',
                        'account_category': category.id,
                        'default_uom': unit.id, 'salable': True,
                        'sale_uom': unit.id,
                        'list_price': Decimal('120'),
                        'products': [('create', [{
                                        'cost_price': Decimal('80')}])],
                        }, {
                        'name': "Field Labour", 'type': 'service',
                        'account_category': category.id,
                        'default_uom': hour.id, 'salable': True,
                        'sale_uom': hour.id,
                        'list_price': Decimal('50'),
                        'products': [('create', [{}])],
                        }])
            self.board = board.products[0]
            self.labour = labour.products[0]
            Configuration.write([Configuration(1)], {
                    'work_order_approval_amount': Decimal('1000'),
                    'work_order_hourly_rate': Decimal('60'),
                    'work_order_labour_product': self.labour.id,
                    })
            self.users = {
                'engineer': make_service_user(
                    'engineer', company, self.engineer),
                'other': make_service_user('other', company, self.other),
                'manager': make_service_user(
                    'boss', company, self.boss, 'group_service_manager'),
                }

    def new_order(self, **values):
        pool = Pool()
        WorkOrder = pool.get('hitech.work.order')
        values.setdefault('ticket', self.ticket.id)
        values.setdefault('engineer', self.engineer.id)
        values.setdefault('scheduled_start', datetime.datetime(
                2026, 12, 2, 9, 0))
        values.setdefault('scheduled_end', datetime.datetime(
                2026, 12, 2, 12, 0))
        order, = WorkOrder.create([values])
        return order

    @with_transaction()
    def test_number_and_defaults(self):
        "Orders are numbered after their ticket and take its company"
        self.setup_desk()
        with set_company(self.company):
            first = self.new_order()
            second = self.new_order()
            self.assertEqual(first.number, '%s-1' % self.ticket.number)
            self.assertEqual(second.number, '%s-2' % self.ticket.number)
            self.assertEqual(first.company, self.company)
            self.assertEqual(first.account, self.account)
            self.assertEqual(first.state, 'draft')
            self.assertEqual(first.approval_state, 'not_required')
            self.assertEqual(
                [o.id for o in self.ticket.work_orders],
                sorted([first.id, second.id], reverse=True))

    @with_transaction()
    def test_approval_above_limit(self):
        "An order estimated above the limit needs a manager's approval"
        pool = Pool()
        WorkOrder = pool.get('hitech.work.order')
        self.setup_desk()
        with set_company(self.company):
            cheap = self.new_order(estimated_cost=Decimal('300'))
            costly = self.new_order(estimated_cost=Decimal('2500'))
            WorkOrder.schedule([cheap])
            self.assertEqual(cheap.state, 'scheduled')
            with self.assertRaisesRegex(UserError, "approval"):
                WorkOrder.schedule([costly])
            self.assertEqual(costly.state, 'draft')

        with as_user(self.users['engineer']):
            order = WorkOrder(costly.id)
            WorkOrder.request_approval([order])
            self.assertEqual(order.approval_state, 'pending')
            # an engineer cannot approve their own estimate
            with self.assertRaises(AccessButtonError):
                WorkOrder.approve([order])
        # the service manager is told (notifications are saved on commit)
        from trytond.transaction import Transaction
        notes = [n for n in Transaction().user_notifications
            if int(getattr(n.user, 'id', n.user))
            == self.users['manager'].id]
        self.assertEqual(len(notes), 1)
        self.assertIn(costly.rec_name, notes[0].label)

        with as_user(self.users['manager']):
            WorkOrder.approve([WorkOrder(costly.id)])
        costly = WorkOrder(costly.id)
        self.assertEqual(costly.approval_state, 'approved')
        self.assertEqual(costly.approved_by, self.users['manager'])
        with set_company(self.company):
            # an approved estimate is frozen
            with self.assertRaisesRegex(UserError, "approved"):
                WorkOrder.write([costly], {'estimated_cost': Decimal('9000')})
            WorkOrder.schedule([costly])
            self.assertEqual(costly.state, 'scheduled')

    @with_transaction()
    def test_schedule_requires_engineer(self):
        "Scheduling needs an engineer and a start"
        pool = Pool()
        WorkOrder = pool.get('hitech.work.order')
        self.setup_desk()
        with set_company(self.company):
            order = self.new_order(engineer=None, scheduled_start=None,
                scheduled_end=None)
            with self.assertRaisesRegex(UserError, "engineer"):
                WorkOrder.schedule([order])
            self.assertEqual(order.state, 'draft')

    @with_transaction()
    def test_visit_hours_and_costs(self):
        "Check-in and check-out put the visit on the timesheet; costs add up"
        pool = Pool()
        WorkOrder = pool.get('hitech.work.order')
        Expense = pool.get('hitech.work.order.expense')
        Part = pool.get('hitech.work.order.part')
        self.setup_desk()
        with set_company(self.company):
            order = self.new_order()
            WorkOrder.schedule([order])
            WorkOrder.check_in([order])
            self.assertEqual(order.state, 'in_progress')
            # the visit took 2.5 hours
            WorkOrder.write([order], {
                    'check_in_at': datetime.datetime(2026, 12, 2, 9, 0)})
            WorkOrder.check_out([order])
            WorkOrder.write([order], {
                    'check_out_at': datetime.datetime(2026, 12, 2, 11, 30)})
            for line in order.timesheet_lines:
                line.duration = datetime.timedelta(hours=2, minutes=30)
                line.save()
            part = Part(work_order=order, product=self.board, quantity=2)
            part.on_change_product()
            part.save()
            self.assertEqual(part.cost_price, Decimal('80'))
            self.assertEqual(part.unit_price, Decimal('120'))
            Expense.create([{
                        'work_order': order.id, 'type': 'travel',
                        'amount': Decimal('45.50'), 'chargeable': True}, {
                        'work_order': order.id, 'type': 'meal',
                        'amount': Decimal('12'), 'chargeable': False}])
            order = WorkOrder(order.id)
            self.assertEqual(order.state, 'done')
            self.assertEqual(len(order.timesheet_lines), 1)
            line, = order.timesheet_lines
            self.assertEqual(line.employee, self.engineer)
            self.assertEqual(line.date, datetime.date(2026, 12, 2))
            self.assertEqual(order.hours, 2.5)
            self.assertEqual(order.hours_cost, Decimal('150.00'))
            self.assertEqual(order.parts_cost, Decimal('160.00'))
            self.assertEqual(order.expense_amount, Decimal('57.50'))
            self.assertEqual(order.total_cost, Decimal('367.50'))
            # a done order cannot be deleted
            with self.assertRaises(UserError):
                WorkOrder.delete([order])

    @with_transaction()
    def test_quote_and_sale(self):
        "Chargeable work is quoted; accepting the quote confirms the sale"
        pool = Pool()
        WorkOrder = pool.get('hitech.work.order')
        Expense = pool.get('hitech.work.order.expense')
        Part = pool.get('hitech.work.order.part')
        SaleConfiguration = pool.get('sale.configuration')
        self.setup_desk()
        with set_company(self.company):
            SaleConfiguration.write([SaleConfiguration(1)], {
                    'sale_invoice_method': 'manual',
                    'sale_shipment_method': 'manual',
                    })
            order = self.new_order(chargeable=True)
            WorkOrder.schedule([order])
            WorkOrder.check_in([order])
            WorkOrder.check_out([order])
            WorkOrder.write([order], {
                    'check_in_at': datetime.datetime(2026, 12, 2, 9, 0),
                    'check_out_at': datetime.datetime(2026, 12, 2, 10, 0)})
            for line in order.timesheet_lines:
                line.duration = datetime.timedelta(hours=1)
                line.save()
            part = Part(work_order=order, product=self.board, quantity=1,
                serial_number="SN-1")
            part.on_change_product()
            part.save()
            free = Part(work_order=order, product=self.board, quantity=3,
                chargeable=False)
            free.on_change_product()
            free.save()
            Expense.create([{
                        'work_order': order.id, 'type': 'travel',
                        'description': "Taxi",
                        'amount': Decimal('30'), 'chargeable': True}])
            order = WorkOrder(order.id)
            WorkOrder.create_quote([order])
            sale = order.sale
            self.assertEqual(sale.party, self.account)
            self.assertEqual(sale.origin, order)
            self.assertEqual(sale.state, 'draft')
            self.assertEqual(
                sorted((l.description, l.quantity, l.unit_price)
                    for l in sale.lines),
                sorted([
                        ("Power Board (SN-1)", 1, Decimal('120')),
                        ("Field work hours of %s" % order.rec_name, 1.0,
                            Decimal('60')),
                        ("Travel: Taxi", 1, Decimal('30')),
                        ]))
            self.assertEqual(sale.untaxed_amount, Decimal('210'))
            # a second click does not make a second quote
            WorkOrder.create_quote([order])
            self.assertEqual(order.sale, sale)
            WorkOrder.accept_quote([order])
            order = WorkOrder(order.id)
            self.assertIn(order.sale.state, {'confirmed', 'processing'})

    @with_transaction()
    def test_nothing_to_quote(self):
        "A chargeable order with nothing chargeable gives a clear error"
        pool = Pool()
        WorkOrder = pool.get('hitech.work.order')
        self.setup_desk()
        with set_company(self.company):
            order = self.new_order(chargeable=True)
            WorkOrder.schedule([order])
            WorkOrder.check_in([order])
            WorkOrder.check_out([order])
            for line in order.timesheet_lines:
                line.delete([line])
            with self.assertRaisesRegex(UserError, "nothing|no chargeable"):
                WorkOrder.create_quote([WorkOrder(order.id)])
            self.assertIsNone(WorkOrder(order.id).sale)

    @with_transaction()
    def test_report(self):
        "The field work report sums hours, expenses and parts per month"
        pool = Pool()
        WorkOrder = pool.get('hitech.work.order')
        Expense = pool.get('hitech.work.order.expense')
        Part = pool.get('hitech.work.order.part')
        Report = pool.get('hitech.work.order.report')
        from trytond.transaction import Transaction
        self.setup_desk()
        with set_company(self.company):
            first = self.new_order()
            second = self.new_order()
            cancelled = self.new_order()
            WorkOrder.cancel([cancelled])
            WorkOrder.schedule([first, second])
            WorkOrder.check_in([first, second])
            WorkOrder.write([first, second], {
                    'check_in_at': datetime.datetime(2026, 11, 5, 9, 0)})
            WorkOrder.check_out([first, second])
            for order, hours in [(first, 2), (second, 3)]:
                for line in WorkOrder(order.id).timesheet_lines:
                    line.duration = datetime.timedelta(hours=hours)
                    line.save()
            Expense.create([
                    {'work_order': first.id, 'amount': Decimal('10')},
                    {'work_order': first.id, 'amount': Decimal('5')},
                    {'work_order': second.id, 'amount': Decimal('7')},
                    {'work_order': cancelled.id, 'amount': Decimal('99')}])
            part = Part(work_order=second, product=self.board, quantity=2)
            part.on_change_product()
            part.save()
            with Transaction().set_context(
                    company=self.company.id,
                    from_date=datetime.date(2026, 11, 1),
                    to_date=datetime.date(2026, 11, 30)):
                rows = Report.search([])
                self.assertEqual(len(rows), 1)
                row, = rows
                self.assertEqual(row.month, datetime.date(2026, 11, 1))
                self.assertEqual(row.ticket, self.ticket)
                self.assertEqual(row.account, self.account)
                self.assertEqual(row.engineer, self.engineer)
                self.assertEqual(row.work_orders, 2)
                self.assertAlmostEqual(row.hours, 5.0)
                self.assertEqual(row.expense_amount, Decimal('22'))
                self.assertEqual(row.parts_cost, Decimal('160'))
            with Transaction().set_context(
                    company=self.company.id,
                    from_date=datetime.date(2026, 12, 1)):
                self.assertEqual(Report.search([]), [])

    @with_transaction()
    def test_record_access(self):
        "An engineer sees the orders sent to them and those of own tickets"
        pool = Pool()
        WorkOrder = pool.get('hitech.work.order')
        Expense = pool.get('hitech.work.order.expense')
        self.setup_desk()
        with set_company(self.company):
            mine = self.new_order()
            elsewhere = self.new_order(ticket=self.other_ticket.id,
                engineer=self.other.id)
        with as_user(self.users['engineer']):
            self.assertEqual(WorkOrder.search([]), [mine])
            with self.assertRaises(AccessError):
                WorkOrder.write([WorkOrder(elsewhere.id)],
                    {'report': "Not mine"})
            with self.assertRaises(AccessError):
                Expense.create([{
                            'work_order': elsewhere.id,
                            'amount': Decimal('1')}])
            # expenses on own orders are fine
            Expense.create([{'work_order': mine.id, 'amount': Decimal('1')}])
        with as_user(self.users['other']):
            self.assertEqual(WorkOrder.search([]), [elsewhere])
        with as_user(self.users['manager']):
            self.assertEqual(
                set(WorkOrder.search([])), {mine, elsewhere})
