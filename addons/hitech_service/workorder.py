# This file is part of HiTech CRM. See LICENSE for details.
"""Dispatch: work orders sent from a ticket to field engineers, with
schedule, approval above a cost limit, check-in / check-out, hours
(timesheet), expenses and parts, and the quote of chargeable work."""
import datetime
from decimal import Decimal

from sql import Null
from sql.aggregate import Count, Max, Min, Sum
from sql.conditionals import Coalesce
from sql.functions import CurrentTimestamp, DateTrunc, Extract

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    Index, ModelSQL, ModelView, Unique, Workflow, fields)
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, If
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import (
    Transaction, check_access, without_check_access)

from .exceptions import WorkOrderError, WorkOrderValidationError

STATES = [
    ('draft', "Draft"),
    ('scheduled', "Scheduled"),
    ('in_progress', "In Progress"),
    ('done', "Done"),
    ('cancelled', "Cancelled"),
    ]
APPROVAL_STATES = [
    ('not_required', "Not Required"),
    ('pending', "Pending"),
    ('approved', "Approved"),
    ('rejected', "Rejected"),
    ]
_readonly = Eval('state').in_(['done', 'cancelled'])
ZERO = Decimal(0)


def _round(currency, amount):
    return currency.round(amount) if currency else amount


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def _hitech_rule_models(cls):
        return super()._hitech_rule_models() | {
            'hitech.work.order', 'hitech.work.order.expense',
            'hitech.work.order.part'}


class Configuration(metaclass=PoolMeta):
    __name__ = 'hitech.service.configuration'

    work_order_approval_amount = fields.Numeric(
        "Work Order Approval Amount", digits=(16, 2),
        domain=['OR', ('work_order_approval_amount', '=', None),
            ('work_order_approval_amount', '>=', 0)],
        help="Work orders whose estimated cost is above this amount (in "
        "the company currency) need a service manager's approval before "
        "they are scheduled; leave empty for no approval.")
    work_order_hourly_rate = fields.Numeric(
        "Engineer Hourly Cost", digits=(16, 2),
        domain=['OR', ('work_order_hourly_rate', '=', None),
            ('work_order_hourly_rate', '>=', 0)],
        help="The cost of one hour of field work, used for the cost of "
        "work orders and as the price of chargeable hours.")
    work_order_labour_product = fields.Many2One(
        'product.product', "Labour Product", ondelete='RESTRICT',
        domain=[('type', '=', 'service')],
        context={
            'company': Eval('context', {}).get('company', -1),
            },
        help="The service product of the chargeable hours on the quotes "
        "of work orders; without it the hours are quoted as a text line.")


class WorkOrder(Workflow, ModelSQL, ModelView):
    __name__ = 'hitech.work.order'
    __string__ = "Work Order"

    number = fields.Char("Number", readonly=True)
    ticket = fields.Many2One(
        'hitech.ticket', "Ticket", required=True, ondelete='CASCADE',
        states={
            'readonly': Eval('state') != 'draft',
            })
    company = fields.Many2One(
        'company.company', "Company", required=True, readonly=True)
    account = fields.Function(fields.Many2One(
            'party.party', "Account",
            context={
                'company': Eval('company', -1),
                },
            depends={'company'}),
        'on_change_with_account', searcher='search_account')
    currency = fields.Function(fields.Many2One(
            'currency.currency', "Currency"), 'on_change_with_currency')
    engineer = fields.Many2One(
        'company.employee', "Engineer", ondelete='RESTRICT',
        states={
            'readonly': _readonly,
            'required': Eval('state').in_(['scheduled', 'in_progress']),
            },
        help="The field engineer sent to the customer.")
    description = fields.Text("Instructions", states={
            'readonly': _readonly,
            })
    address = fields.Many2One(
        'party.address', "Address", ondelete='RESTRICT',
        domain=[('party', '=', Eval('account', -1))],
        states={
            'readonly': _readonly,
            },
        help="Where the engineer goes; an address of the account.")
    scheduled_start = fields.DateTime("Scheduled Start", states={
            'readonly': _readonly,
            'required': Eval('state').in_(['scheduled', 'in_progress']),
            })
    scheduled_end = fields.DateTime("Scheduled End",
        domain=[If(Bool(Eval('scheduled_start')) & Bool(Eval('scheduled_end')),
                ('scheduled_end', '>=', Eval('scheduled_start')), ())],
        states={
            'readonly': _readonly,
            })
    estimated_hours = fields.Float("Estimated Hours",
        domain=['OR', ('estimated_hours', '=', None),
            ('estimated_hours', '>=', 0)],
        states={
            'readonly': Eval('state') != 'draft',
            })
    estimated_cost = Monetary(
        "Estimated Cost", currency='currency', digits='currency',
        domain=['OR', ('estimated_cost', '=', None),
            ('estimated_cost', '>=', 0)],
        states={
            'readonly': Eval('state') != 'draft',
            },
        help="The expected cost of the visit (hours, travel, parts); "
        "above the approval amount of the configuration it needs a "
        "service manager's approval.")
    approval_state = fields.Selection(
        APPROVAL_STATES, "Approval", readonly=True, required=True)
    approved_by = fields.Many2One('res.user', "Approved By", readonly=True)
    approved_at = fields.DateTime("Approved At", readonly=True)
    chargeable = fields.Boolean("Chargeable", states={
            'readonly': _readonly,
            },
        help="The customer pays for this work: a quote can be made of its "
        "chargeable hours, parts and expenses.")
    check_in_at = fields.DateTime("Check-in At", readonly=True)
    check_out_at = fields.DateTime("Check-out At", readonly=True)
    latitude = fields.Numeric("Latitude", digits=(3, 7),
        domain=['OR', ('latitude', '=', None),
            [('latitude', '>=', -90), ('latitude', '<=', 90)]],
        states={
            'readonly': _readonly,
            },
        help="The position sent by the engineer's device at check-in.")
    longitude = fields.Numeric("Longitude", digits=(3, 7),
        domain=['OR', ('longitude', '=', None),
            [('longitude', '>=', -180), ('longitude', '<=', 180)]],
        states={
            'readonly': _readonly,
            })
    report = fields.Text("Visit Report", states={
            'readonly': Eval('state') == 'cancelled',
            },
        help="What the engineer found and did.")
    timesheet_works = fields.One2Many(
        'timesheet.work', 'origin', "Timesheet Works", readonly=True)
    timesheet_lines = fields.Function(fields.Many2Many(
            'timesheet.line', None, None, "Hours"),
        'get_timesheet_lines')
    hours = fields.Function(
        fields.Float("Hours", digits=(16, 2)), 'get_totals')
    expenses = fields.One2Many(
        'hitech.work.order.expense', 'work_order', "Expenses",
        states={
            'readonly': _readonly,
            })
    parts = fields.One2Many(
        'hitech.work.order.part', 'work_order', "Parts",
        states={
            'readonly': _readonly,
            })
    hours_cost = fields.Function(Monetary(
            "Hours Cost", currency='currency', digits='currency'),
        'get_totals')
    expense_amount = fields.Function(Monetary(
            "Expenses", currency='currency', digits='currency'),
        'get_totals')
    parts_cost = fields.Function(Monetary(
            "Parts Cost", currency='currency', digits='currency'),
        'get_totals')
    total_cost = fields.Function(Monetary(
            "Total Cost", currency='currency', digits='currency'),
        'get_totals')
    sale = fields.Many2One(
        'sale.sale', "Quote", readonly=True, ondelete='SET NULL',
        help="The quote of the chargeable work; confirming it makes the "
        "sale.")
    sale_state = fields.Function(fields.Selection(
            'get_sale_states', "Quote State"), 'on_change_with_sale_state')
    state = fields.Selection(STATES, "State", readonly=True, required=True,
        sort=False)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.ticket, Index.Range())),
                Index(t, (t.engineer, Index.Range()),
                    (t.scheduled_start, Index.Range())),
                Index(t, (t.state, Index.Equality(cardinality='low')),
                    where=t.state.in_(['draft', 'scheduled', 'in_progress'])),
                })
        cls._sql_constraints += [
            ('number_unique', Unique(t, t.number),
                'hitech_service.msg_work_order_number_unique'),
            ]
        cls._order = [
            ('scheduled_start', 'DESC NULLS FIRST'),
            ('id', 'DESC'),
            ]
        cls._transitions |= {
            ('draft', 'scheduled'),
            ('scheduled', 'draft'),
            ('scheduled', 'in_progress'),
            ('in_progress', 'done'),
            ('done', 'in_progress'),
            ('draft', 'cancelled'),
            ('scheduled', 'cancelled'),
            ('cancelled', 'draft'),
            }
        cls._buttons.update({
                'draft': {
                    'invisible': ~Eval('state').in_(
                        ['scheduled', 'cancelled']),
                    'icon': 'tryton-back',
                    'depends': ['state'],
                    },
                'schedule': {
                    'invisible': Eval('state') != 'draft',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'request_approval': {
                    'invisible': ((Eval('state') != 'draft')
                        | Eval('approval_state').in_(
                            ['pending', 'approved'])),
                    'icon': 'tryton-forward',
                    'depends': ['state', 'approval_state'],
                    },
                'approve': {
                    'invisible': Eval('approval_state') != 'pending',
                    'icon': 'tryton-ok',
                    'depends': ['approval_state'],
                    },
                'reject': {
                    'invisible': Eval('approval_state') != 'pending',
                    'icon': 'tryton-cancel',
                    'depends': ['approval_state'],
                    },
                'check_in': {
                    'invisible': Eval('state') != 'scheduled',
                    'icon': 'tryton-forward',
                    'depends': ['state'],
                    },
                'check_out': {
                    'invisible': Eval('state') != 'in_progress',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': ~Eval('state').in_(['draft', 'scheduled']),
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                'create_quote': {
                    'invisible': (~Eval('chargeable')
                        | Bool(Eval('sale'))
                        | (Eval('state') != 'done')),
                    'icon': 'tryton-sale',
                    'depends': ['chargeable', 'sale', 'state'],
                    },
                'accept_quote': {
                    'invisible': (~Bool(Eval('sale'))
                        | ~Eval('sale_state').in_(['draft', 'quotation'])),
                    'icon': 'tryton-ok',
                    'depends': ['sale', 'sale_state'],
                    },
                })

    @staticmethod
    def default_state():
        return 'draft'

    @staticmethod
    def default_approval_state():
        return 'not_required'

    @staticmethod
    def default_chargeable():
        return False

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @fields.depends('ticket', '_parent_ticket.account')
    def on_change_with_account(self, name=None):
        return self.ticket.account if self.ticket else None

    @classmethod
    def search_account(cls, name, clause):
        return [('ticket.account',) + tuple(clause[1:])]

    @fields.depends('company')
    def on_change_with_currency(self, name=None):
        return self.company.currency if self.company else None

    @fields.depends('ticket', 'address', '_parent_ticket.account')
    def on_change_ticket(self):
        if self.ticket and self.ticket.account and not self.address:
            self.address = self.ticket.account.address_get()
        if self.ticket and self.ticket.company:
            self.company = self.ticket.company

    @classmethod
    def get_sale_states(cls):
        pool = Pool()
        Sale = pool.get('sale.sale')
        return [(None, '')] + Sale.fields_get(['state'])['state']['selection']

    @fields.depends('sale')
    def on_change_with_sale_state(self, name=None):
        return self.sale.state if self.sale else None

    def get_rec_name(self, name):
        return self.number or str(self.id)

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause[:3]
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('number', operator, value),
            ('ticket.rec_name', operator, value),
            ]

    @classmethod
    def get_timesheet_lines(cls, orders, name):
        return {o.id: [l.id for w in o.timesheet_works
                for l in w.timesheet_lines] for o in orders}

    @classmethod
    def get_totals(cls, orders, names):
        "Hours, expenses and parts of the orders, one query each"
        pool = Pool()
        Configuration = pool.get('hitech.service.configuration')
        Work = pool.get('timesheet.work')
        Line = pool.get('timesheet.line')
        Expense = pool.get('hitech.work.order.expense')
        Part = pool.get('hitech.work.order.part')
        cursor = Transaction().connection.cursor()
        work, line = Work.__table__(), Line.__table__()
        expense, part = Expense.__table__(), Part.__table__()
        rate = Configuration(1).work_order_hourly_rate or ZERO
        hours = {o.id: ZERO for o in orders}
        expenses = {o.id: ZERO for o in orders}
        parts = {o.id: ZERO for o in orders}
        for sub_ids in grouped_slice(
                [o.id for o in orders], backend.MAX_QUERY_PARAMS):
            sub_ids = list(sub_ids)
            origins = ['%s,%s' % (cls.__name__, i) for i in sub_ids]
            cursor.execute(*work.join(line,
                    condition=line.work == work.id
                    ).select(work.origin, Sum(line.duration),
                    where=work.origin.in_(origins),
                    group_by=work.origin))
            for origin, duration in cursor:
                if duration is None:
                    continue
                if not isinstance(duration, datetime.timedelta):
                    duration = datetime.timedelta(seconds=duration)
                hours[int(origin.split(',')[1])] = (
                    Decimal(str(duration.total_seconds())) / 3600)
            cursor.execute(*expense.select(expense.work_order,
                    Sum(expense.amount),
                    where=reduce_ids(expense.work_order, sub_ids),
                    group_by=expense.work_order))
            for order_id, amount in cursor:
                expenses[order_id] = Decimal(str(amount or 0))
            cursor.execute(*part.select(part.work_order,
                    Sum(part.quantity * Coalesce(part.cost_price, 0)),
                    where=reduce_ids(part.work_order, sub_ids),
                    group_by=part.work_order))
            for order_id, amount in cursor:
                parts[order_id] = Decimal(str(amount or 0))
        result = {n: {} for n in names}
        for order in orders:
            currency = order.currency
            h = hours[order.id]
            values = {
                'hours': float(round(h, 2)),
                'hours_cost': _round(currency, h * rate),
                'expense_amount': _round(currency, expenses[order.id]),
                'parts_cost': _round(currency, parts[order.id]),
                }
            values['total_cost'] = (values['hours_cost']
                + values['expense_amount'] + values['parts_cost'])
            for name in names:
                result[name][order.id] = values[name]
        return result

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        values = super().preprocess_values(mode, values)
        if mode == 'create':
            if values.get('ticket') and not values.get('company'):
                values['company'] = Ticket(values['ticket']).company.id
        return values

    @classmethod
    def on_modification(cls, mode, orders, field_names=None):
        super().on_modification(mode, orders, field_names=field_names)
        if mode == 'create':
            cls._set_number(orders)

    @classmethod
    def _set_number(cls, orders):
        "Number the orders after their ticket: TKT00042-1, TKT00042-2"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        by_ticket = {}
        for order in orders:
            if not order.number:
                by_ticket.setdefault(order.ticket, []).append(order)
        to_write = []
        for ticket, ticket_orders in by_ticket.items():
            cursor.execute(*table.select(Count(table.id),
                    where=(table.ticket == ticket.id)
                    & (table.number != Null)))
            count, = cursor.fetchone()
            for order in sorted(ticket_orders, key=lambda o: o.id):
                count += 1
                to_write.extend([[order], {
                            'number': '%s-%s' % (
                                ticket.number or ticket.id, count),
                            }])
        if to_write:
            with without_check_access():
                cls.write(*to_write)

    @classmethod
    def copy(cls, orders, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('number')
        default.setdefault('approval_state', 'not_required')
        default.setdefault('approved_by')
        default.setdefault('approved_at')
        default.setdefault('check_in_at')
        default.setdefault('check_out_at')
        default.setdefault('timesheet_works')
        default.setdefault('sale')
        return super().copy(orders, default=default)

    @classmethod
    def check_modification(cls, mode, orders, values=None, external=False):
        super().check_modification(
            mode, orders, values=values, external=external)
        if mode == 'delete':
            for order in orders:
                if order.state not in {'draft', 'cancelled'}:
                    raise WorkOrderError(gettext(
                            'hitech_service.msg_work_order_delete',
                            order=order.rec_name))
        if (mode == 'write' and values
                and values.keys() & {'estimated_cost', 'estimated_hours'}):
            # a new estimate needs a new approval
            for order in orders:
                if order.approval_state == 'approved':
                    raise WorkOrderError(gettext(
                            'hitech_service.msg_work_order_estimate_approved',
                            order=order.rec_name))

    @classmethod
    def _now(cls):
        return datetime.datetime.now().replace(microsecond=0)

    def needs_approval(self):
        pool = Pool()
        Configuration = pool.get('hitech.service.configuration')
        limit = Configuration(1).work_order_approval_amount
        return (limit is not None
            and (self.estimated_cost or ZERO) > limit)

    @classmethod
    def _notify_approvers(cls, orders):
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        group_id = ModelData.get_id('hitech_service', 'group_service_manager')
        with without_check_access():
            managers = User.search([
                    ('groups', '=', group_id),
                    ('active', '=', True),
                    ])
        for order in orders:
            for user in managers:
                cls.notify_user([order], 'tryton-info',
                    gettext('hitech_service.msg_work_order_approval_label',
                        order=order.rec_name),
                    description=gettext(
                        'hitech_service.msg_work_order_approval_text',
                        order=order.rec_name,
                        amount=order.estimated_cost,
                        ticket=order.ticket.rec_name),
                    user=user.id)

    @classmethod
    @ModelView.button
    @Workflow.transition('draft')
    def draft(cls, orders):
        pass

    @classmethod
    @ModelView.button
    def request_approval(cls, orders):
        to_request = [o for o in orders if o.approval_state in {
                'not_required', 'rejected'}]
        if to_request:
            cls.write(to_request, {
                    'approval_state': 'pending',
                    'approved_by': None,
                    'approved_at': None,
                    })
            cls._notify_approvers(to_request)

    @classmethod
    @ModelView.button
    def approve(cls, orders):
        cls.write([o for o in orders if o.approval_state == 'pending'], {
                'approval_state': 'approved',
                'approved_by': Transaction().user,
                'approved_at': cls._now(),
                })

    @classmethod
    @ModelView.button
    def reject(cls, orders):
        cls.write([o for o in orders if o.approval_state == 'pending'], {
                'approval_state': 'rejected',
                'approved_by': Transaction().user,
                'approved_at': cls._now(),
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('scheduled')
    def schedule(cls, orders):
        for order in orders:
            if not order.engineer or not order.scheduled_start:
                raise WorkOrderValidationError(gettext(
                        'hitech_service.msg_work_order_schedule_required',
                        order=order.rec_name))
            if order.needs_approval() and order.approval_state != 'approved':
                if order.approval_state == 'rejected':
                    raise WorkOrderError(gettext(
                            'hitech_service.msg_work_order_rejected',
                            order=order.rec_name))
                raise WorkOrderError(gettext(
                        'hitech_service.msg_work_order_needs_approval',
                        order=order.rec_name,
                        amount=order.estimated_cost))
        cls._notify_engineers(orders)

    @classmethod
    def _notify_engineers(cls, orders):
        pool = Pool()
        User = pool.get('res.user')
        with without_check_access():
            users = User.search([
                    ('employees', 'in', [o.engineer.id for o in orders]),
                    ('active', '=', True),
                    ])
        for order in orders:
            for user in users:
                if order.engineer not in user.employees:
                    continue
                cls.notify_user([order], 'tryton-info',
                    gettext('hitech_service.msg_work_order_scheduled_label',
                        order=order.rec_name),
                    description=gettext(
                        'hitech_service.msg_work_order_scheduled_text',
                        ticket=order.ticket.rec_name,
                        start=order.scheduled_start),
                    user=user.id)

    @classmethod
    @ModelView.button
    @Workflow.transition('in_progress')
    def check_in(cls, orders):
        now = cls._now()
        cls.write([o for o in orders if not o.check_in_at], {
                'check_in_at': now,
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('done')
    def check_out(cls, orders):
        now = cls._now()
        to_log = [o for o in orders if o.check_in_at and not o.check_out_at]
        cls.write(to_log, {'check_out_at': now})
        cls._log_hours(to_log)

    @classmethod
    def _timesheet_work(cls, orders):
        "The timesheet work of each order, created when missing"
        pool = Pool()
        Work = pool.get('timesheet.work')
        works = {}
        to_create = []
        for order in orders:
            if order.timesheet_works:
                works[order.id] = order.timesheet_works[0]
            else:
                to_create.append(order)
        if to_create:
            created = Work.create([{
                        'origin': str(o),
                        'company': o.company.id,
                        } for o in to_create])
            works.update({o.id: w for o, w in zip(to_create, created)})
        return works

    @classmethod
    def _log_hours(cls, orders):
        "Put the time between check-in and check-out on the timesheet"
        pool = Pool()
        Line = pool.get('timesheet.line')
        orders = [o for o in cls.browse(orders)
            if o.engineer and o.check_in_at and o.check_out_at]
        if not orders:
            return
        works = cls._timesheet_work(orders)
        Line.create([{
                    'company': o.company.id,
                    'employee': o.engineer.id,
                    'work': works[o.id].id,
                    'date': o.check_in_at.date(),
                    'duration': max(
                        o.check_out_at - o.check_in_at, datetime.timedelta()),
                    'description': gettext(
                        'hitech_service.msg_work_order_timesheet',
                        order=o.rec_name),
                    } for o in orders])

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, orders):
        pass

    @classmethod
    @ModelView.button
    def create_quote(cls, orders):
        pool = Pool()
        Sale = pool.get('sale.sale')
        to_save = []
        for order in orders:
            if not order.chargeable or order.sale or order.state != 'done':
                continue
            sale = order._get_quote()
            if not sale.lines:
                raise WorkOrderError(gettext(
                        'hitech_service.msg_work_order_nothing_to_quote',
                        order=order.rec_name))
            to_save.append((order, sale))
        Sale.save([s for _, s in to_save])
        for order, sale in to_save:
            order.sale = sale
        cls.save([o for o, _ in to_save])

    def _get_quote(self):
        "The draft sale of the chargeable hours, parts and expenses"
        pool = Pool()
        Sale = pool.get('sale.sale')
        Line = pool.get('sale.line')
        Configuration = pool.get('hitech.service.configuration')
        config = Configuration(1)
        if not self.account:
            raise WorkOrderError(gettext(
                    'hitech_service.msg_work_order_quote_account',
                    order=self.rec_name))
        sale = Sale(
            company=self.company,
            party=self.account,
            origin=self,
            description=gettext('hitech_service.msg_work_order_quote_title',
                order=self.rec_name, ticket=self.ticket.rec_name),
            )
        sale.on_change_party()
        if self.address:
            sale.shipment_address = self.address
        lines = []
        sequence = 0
        for part in self.parts:
            if not part.chargeable:
                continue
            sequence += 1
            line = Line(sale=sale, type='line', sequence=sequence,
                product=part.product, quantity=part.quantity,
                unit=part.unit)
            line.on_change_product()
            line.quantity = part.quantity
            line.unit_price = part.unit_price
            description = part.product.rec_name
            if part.serial_number:
                description = '%s (%s)' % (description, part.serial_number)
            line.description = description
            lines.append(line)
        if self.hours and config.work_order_hourly_rate:
            sequence += 1
            hours = round(self.hours, 2)
            description = gettext('hitech_service.msg_work_order_quote_hours',
                order=self.rec_name)
            product = config.work_order_labour_product
            line = Line(sale=sale, type='line', sequence=sequence,
                product=product, quantity=hours)
            if product:
                line.unit = product.sale_uom
                line.on_change_product()
                line.quantity = hours
            line.description = description
            line.unit_price = config.work_order_hourly_rate
            lines.append(line)
        for expense in self.expenses:
            if not expense.chargeable:
                continue
            sequence += 1
            lines.append(Line(sale=sale, type='line', sequence=sequence,
                    quantity=1, unit_price=expense.amount,
                    description=expense.rec_name))
        sale.lines = lines
        return sale

    @classmethod
    @ModelView.button
    def accept_quote(cls, orders):
        "The customer accepted the quote: confirm it as a sale"
        pool = Pool()
        Sale = pool.get('sale.sale')
        sales = [o.sale for o in orders
            if o.sale and o.sale.state in {'draft', 'quotation'}]
        drafts = [s for s in sales if s.state == 'draft']
        if drafts:
            Sale.quote(drafts)
        if sales:
            Sale.confirm(sales)


class WorkOrderChildMixin:
    "Parts and expenses change their work order: the user must be allowed"
    __slots__ = ()

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        pool = Pool()
        WorkOrder = pool.get('hitech.work.order')
        super().check_modification(
            mode, records, values=values, external=external)
        if external and mode in {'create', 'write', 'delete'}:
            orders = list({r.work_order for r in records})
            # an empty write runs the access rights and record rules of
            # the orders as the user
            with check_access():
                WorkOrder.write(orders, {})


class WorkOrderExpense(WorkOrderChildMixin, ModelSQL, ModelView):
    __name__ = 'hitech.work.order.expense'
    __string__ = "Work Order Expense"

    work_order = fields.Many2One(
        'hitech.work.order', "Work Order", required=True,
        ondelete='CASCADE')
    date = fields.Date("Date", required=True)
    type = fields.Selection([
            ('travel', "Travel"),
            ('lodging', "Lodging"),
            ('meal', "Meal"),
            ('material', "Material"),
            ('other', "Other"),
            ], "Type", required=True)
    description = fields.Char("Description")
    currency = fields.Function(fields.Many2One(
            'currency.currency', "Currency"), 'on_change_with_currency')
    amount = Monetary(
        "Amount", currency='currency', digits='currency', required=True,
        domain=[('amount', '>=', 0)])
    chargeable = fields.Boolean("Chargeable",
        help="Passed on to the customer on the quote.")
    receipt = fields.Binary("Receipt", filename='receipt_name',
        file_id='receipt_id')
    receipt_name = fields.Char("Receipt Name")
    receipt_id = fields.Char("Receipt ID", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # declared here: Model.__setup__ resets a class-level __access__
        cls.__access__.add('work_order')

    @staticmethod
    def default_date():
        return Pool().get('ir.date').today()

    @staticmethod
    def default_type():
        return 'travel'

    @staticmethod
    def default_chargeable():
        return False

    @fields.depends('work_order', '_parent_work_order.company')
    def on_change_with_currency(self, name=None):
        if self.work_order and self.work_order.company:
            return self.work_order.company.currency

    def get_rec_name(self, name):
        type_ = dict(self.__class__.fields_get(
                ['type'])['type']['selection'])[self.type]
        if self.description:
            return '%s: %s' % (type_, self.description)
        return type_


class WorkOrderPart(WorkOrderChildMixin, ModelSQL, ModelView):
    __name__ = 'hitech.work.order.part'
    __string__ = "Work Order Part"

    work_order = fields.Many2One(
        'hitech.work.order', "Work Order", required=True,
        ondelete='CASCADE')
    company = fields.Function(fields.Many2One(
            'company.company', "Company"), 'on_change_with_company')
    product = fields.Many2One(
        'product.product', "Product", required=True, ondelete='RESTRICT',
        domain=[('type', 'in', ['goods', 'assets'])],
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    unit = fields.Many2One('product.uom', "Unit", required=True,
        ondelete='RESTRICT',
        domain=[('category', '=', Eval('product_uom_category', -1))])
    product_uom_category = fields.Function(fields.Many2One(
            'product.uom.category', "Product UoM Category"),
        'on_change_with_product_uom_category')
    quantity = fields.Float("Quantity", digits='unit', required=True,
        domain=[('quantity', '>', 0)])
    serial_number = fields.Char("Serial Number", strip=True)
    currency = fields.Function(fields.Many2One(
            'currency.currency', "Currency"), 'on_change_with_currency')
    cost_price = Monetary(
        "Cost Price", currency='currency', digits=(16, 4),
        domain=['OR', ('cost_price', '=', None), ('cost_price', '>=', 0)])
    unit_price = Monetary(
        "Unit Price", currency='currency', digits=(16, 4),
        domain=['OR', ('unit_price', '=', None), ('unit_price', '>=', 0)],
        help="The price quoted to the customer.")
    chargeable = fields.Boolean("Chargeable")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # declared here: Model.__setup__ resets a class-level __access__
        cls.__access__.add('work_order')

    @staticmethod
    def default_chargeable():
        return True

    @fields.depends('work_order', '_parent_work_order.company')
    def on_change_with_company(self, name=None):
        return self.work_order.company if self.work_order else None

    @fields.depends('work_order', '_parent_work_order.company')
    def on_change_with_currency(self, name=None):
        if self.work_order and self.work_order.company:
            return self.work_order.company.currency

    @fields.depends('product')
    def on_change_with_product_uom_category(self, name=None):
        return self.product.default_uom_category if self.product else None

    @fields.depends('product', 'unit', 'work_order',
        '_parent_work_order.company')
    def on_change_product(self):
        if not self.product:
            return
        if not self.unit or self.unit.category != self.product.default_uom.category:
            self.unit = self.product.default_uom
        Product = Pool().get('product.product')
        company = self.work_order.company if self.work_order else None
        with Transaction().set_context(
                company=company.id if company else None):
            product = Product(self.product.id)
            self.cost_price = product.cost_price
            self.unit_price = product.list_price_used

    def get_rec_name(self, name):
        return '%s × %s' % (self.product.rec_name, self.quantity)


class WorkOrderReportContext(ModelView):
    __name__ = 'hitech.work.order.report.context'
    __string__ = "Work Order Report Context"

    company = fields.Many2One('company.company', "Company", required=True)
    from_date = fields.Date("From Date",
        domain=[If(Bool(Eval('to_date')) & Bool(Eval('from_date')),
                ('from_date', '<=', Eval('to_date')), ())])
    to_date = fields.Date("To Date")

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_from_date():
        return Transaction().context.get('from_date')

    @staticmethod
    def default_to_date():
        return Transaction().context.get('to_date')


class WorkOrderReport(ModelSQL, ModelView):
    "Hours, expenses and parts per ticket, customer, engineer and month"
    __name__ = 'hitech.work.order.report'
    __string__ = "Field Work Report"

    month = fields.Date("Month")
    company = fields.Many2One('company.company', "Company")
    ticket = fields.Many2One('hitech.ticket', "Ticket")
    account = fields.Many2One('party.party', "Customer",
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    engineer = fields.Many2One('company.employee', "Engineer")
    work_orders = fields.Integer("Work Orders")
    hours = fields.Float("Hours", digits=(16, 2))
    currency = fields.Function(fields.Many2One(
            'currency.currency', "Currency"), 'get_currency')
    expense_amount = Monetary(
        "Expenses", currency='currency', digits='currency')
    parts_cost = Monetary(
        "Parts Cost", currency='currency', digits='currency')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [('month', 'DESC'), ('id', 'DESC')]

    def get_currency(self, name):
        return self.company.currency if self.company else None

    @classmethod
    def table_query(cls):
        pool = Pool()
        WorkOrder = pool.get('hitech.work.order')
        Ticket = pool.get('hitech.ticket')
        Expense = pool.get('hitech.work.order.expense')
        Part = pool.get('hitech.work.order.part')
        Work = pool.get('timesheet.work')
        Line = pool.get('timesheet.line')
        context = Transaction().context
        order, ticket = WorkOrder.__table__(), Ticket.__table__()
        expense, part = Expense.__table__(), Part.__table__()
        work, line = Work.__table__(), Line.__table__()

        # per order sums, then grouped per month, ticket, engineer
        expenses = expense.select(expense.work_order.as_('work_order'),
            Sum(expense.amount).as_('amount'),
            group_by=expense.work_order)
        parts = part.select(part.work_order.as_('work_order'),
            Sum(part.quantity * Coalesce(part.cost_price, 0)).as_('amount'),
            group_by=part.work_order)
        hours = work.join(line, condition=line.work == work.id).select(
            work.origin.as_('origin'),
            Sum(line.duration).as_('duration'),
            group_by=work.origin)

        date = Coalesce(order.check_in_at, order.scheduled_start,
            order.create_date)
        where = (order.state != 'cancelled')
        if context.get('company'):
            where &= order.company == context['company']
        if context.get('from_date'):
            where &= date >= datetime.datetime.combine(
                context['from_date'], datetime.time.min)
        if context.get('to_date'):
            where &= date <= datetime.datetime.combine(
                context['to_date'], datetime.time.max)
        # the month is computed in a sub-query so that the outer query
        # groups by a column: PostgreSQL does not match a GROUP BY
        # expression whose parameters are bound separately
        orders = order.join(ticket, condition=order.ticket == ticket.id
            ).select(
                order.id.as_('id'),
                order.create_uid.as_('create_uid'),
                order.write_uid.as_('write_uid'),
                order.write_date.as_('write_date'),
                cls.month.sql_cast(DateTrunc('month', date)).as_('month'),
                order.company.as_('company'),
                order.ticket.as_('ticket'),
                ticket.account.as_('account'),
                order.engineer.as_('engineer'),
                cls._origin_expression(order).as_('origin'),
                where=where)
        from_ = (orders
            .join(expenses, 'LEFT',
                condition=expenses.work_order == orders.id)
            .join(parts, 'LEFT', condition=parts.work_order == orders.id)
            .join(hours, 'LEFT', condition=hours.origin == orders.origin))
        return from_.select(
            Min(orders.id).as_('id'),
            Max(orders.create_uid).as_('create_uid'),
            CurrentTimestamp().as_('create_date'),
            Max(orders.write_uid).as_('write_uid'),
            Max(orders.write_date).as_('write_date'),
            orders.month.as_('month'),
            orders.company.as_('company'),
            orders.ticket.as_('ticket'),
            orders.account.as_('account'),
            orders.engineer.as_('engineer'),
            Count(orders.id).as_('work_orders'),
            cls.hours.sql_cast(
                cls._hours_expression(Sum(hours.duration))).as_('hours'),
            Coalesce(Sum(expenses.amount), 0).as_('expense_amount'),
            Coalesce(Sum(parts.amount), 0).as_('parts_cost'),
            group_by=[orders.month, orders.company, orders.ticket,
                orders.account, orders.engineer])

    @classmethod
    def _origin_expression(cls, order):
        from sql.operators import Concat
        from sql import Cast
        from trytond import backend
        return Concat('hitech.work.order,',
            Cast(order.id, backend.name == 'sqlite' and 'TEXT'
                or 'VARCHAR'))

    @classmethod
    def _hours_expression(cls, duration):
        # TimeDelta is an interval on PostgreSQL, seconds on SQLite
        from trytond import backend
        if backend.name == 'postgresql':
            return Coalesce(Extract('EPOCH', duration), 0) / 3600
        return Coalesce(duration, 0) / 3600.0


class Ticket(metaclass=PoolMeta):
    __name__ = 'hitech.ticket'

    work_orders = fields.One2Many(
        'hitech.work.order', 'ticket', "Work Orders",
        states={
            'readonly': Eval('state').in_(['closed', 'cancelled']),
            })

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'dispatch': {
                    'invisible': Eval('state').in_(['closed', 'cancelled']),
                    'icon': 'tryton-launch',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def copy(cls, tickets, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('work_orders')
        return super().copy(tickets, default=default)

    @classmethod
    @ModelView.button_action('hitech_service.act_work_order_dispatch')
    def dispatch(cls, tickets):
        pass


class TimesheetWork(metaclass=PoolMeta):
    __name__ = 'timesheet.work'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['hitech.work.order']


class Sale(metaclass=PoolMeta):
    __name__ = 'sale.sale'

    @classmethod
    def _get_origin(cls):
        return super()._get_origin() + ['hitech.work.order']
