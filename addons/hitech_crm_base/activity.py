# This file is part of HiTech CRM. See LICENSE for details.
import datetime

from sql.aggregate import Min, Sum
from sql.conditionals import Case

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Bool, Eval, Get, If, In
from trytond.transaction import Transaction

from .exceptions import ActivityValidationError

ACTIVITY_TYPES = [
    ('call', "Call"),
    ('visit', "Visit"),
    ('meeting', "Meeting"),
    ('email', "Email"),
    ('task', "Task"),
    ]


def week_start(value):
    "Monday of the ISO week of the date or datetime"
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        value = value.date()
    return value - datetime.timedelta(days=value.weekday())


class Activity(Workflow, ModelSQL, ModelView):
    "CRM Activity"
    __name__ = 'hitech.activity'
    _rec_name = 'subject'

    _states = {
        'readonly': Eval('state') != 'planned',
        }

    company = fields.Many2One(
        'company.company', "Company", required=True,
        states=_states,
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ])
    type = fields.Selection(ACTIVITY_TYPES, "Type", required=True,
        states=_states)
    subject = fields.Char("Subject", required=True, states=_states)
    account = fields.Many2One(
        'party.party', "Account", ondelete='CASCADE', states=_states,
        domain=[('party_kind', '=', 'company')],
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    contact = fields.Many2One(
        'party.party', "Contact", ondelete='SET NULL', states=_states,
        domain=[
            ('party_kind', '=', 'person'),
            If(Bool(Eval('account')),
                ('contact_accounts.account', '=', Eval('account', -1)),
                ()),
            ],
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        help="The person met or called; must be a contact of the account.")
    opportunity = fields.Many2One(
        'sale.opportunity', "Opportunity", ondelete='SET NULL',
        states=_states,
        domain=[
            ('company', '=', Eval('company', -1)),
            If(Bool(Eval('account')),
                ('party', '=', Eval('account', -1)),
                ()),
            ])
    origin = fields.Reference(
        "Origin", selection='get_origin', states=_states,
        help="The record the activity comes from (a ticket, a campaign…).")
    employee = fields.Many2One(
        'company.employee', "Employee", required=True, states=_states,
        domain=[('company', '=', Eval('company', -1))],
        help="Who carries out the activity.")
    planned_at = fields.DateTime("Planned At", required=True,
        states=_states)
    duration = fields.TimeDelta("Duration", states=_states)
    week = fields.Date("Week", readonly=True,
        help="The Monday of the ISO week of the planned date.")
    done_at = fields.DateTime("Done At",
        states={
            'readonly': Eval('state') == 'cancelled',
            'invisible': Eval('state') == 'planned',
            })
    state = fields.Selection([
            ('planned', "Planned"),
            ('done', "Done"),
            ('cancelled', "Cancelled"),
            ], "State", required=True, readonly=True, sort=False)
    description = fields.Text("Description", states=_states)
    result = fields.Text("Result",
        states={
            'readonly': Eval('state') == 'cancelled',
            },
        help="What came out of the activity and the next steps.")

    # Field visits
    check_in_at = fields.DateTime("Check-in At", readonly=True,
        states={
            'invisible': Eval('type') != 'visit',
            },
        help="When the employee arrived at the customer, set by the "
        "check-in button.")
    latitude = fields.Numeric("Latitude", digits=(3, 7),
        states={
            'invisible': Eval('type') != 'visit',
            'readonly': Eval('state') != 'planned',
            },
        help="Position sent by the client at check-in, "
        "in decimal degrees between -90 and 90.")
    longitude = fields.Numeric("Longitude", digits=(3, 7),
        states={
            'invisible': Eval('type') != 'visit',
            'readonly': Eval('state') != 'planned',
            },
        help="Position sent by the client at check-in, "
        "in decimal degrees between -180 and 180.")
    visit_report = fields.Text("Visit Report",
        states={
            'invisible': Eval('type') != 'visit',
            'readonly': Eval('state') == 'cancelled',
            })

    # Manager review
    manager_comment = fields.Text("Manager Comment",
        help="Feedback of the sales manager on the activity.")
    approved_by = fields.Many2One(
        'res.user', "Approved By", readonly=True)
    approved_at = fields.DateTime("Approved At", readonly=True)
    number = fields.Function(fields.Integer("Number",
            help="Always 1: graphs sum it to count the activities."),
        'get_number')

    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.employee, Index.Range()), (t.week, Index.Range())),
                Index(t, (t.account, Index.Range())),
                Index(t, (t.state, Index.Equality(cardinality='low')),
                    where=t.state == 'planned'),
                })
        cls._order = [
            ('planned_at', 'DESC'),
            ('id', 'DESC'),
            ]
        cls._transitions |= {
            ('planned', 'done'),
            ('planned', 'cancelled'),
            ('cancelled', 'planned'),
            ('done', 'planned'),
            }
        cls._buttons.update({
                'plan': {
                    'invisible': Eval('state') == 'planned',
                    'icon': 'tryton-undo',
                    'depends': ['state'],
                    },
                'do': {
                    'invisible': Eval('state') != 'planned',
                    'icon': 'tryton-ok',
                    'depends': ['state'],
                    },
                'cancel': {
                    'invisible': Eval('state') != 'planned',
                    'icon': 'tryton-cancel',
                    'depends': ['state'],
                    },
                'check_in': {
                    'invisible': ((Eval('type') != 'visit')
                        | (Eval('state') != 'planned')
                        | Bool(Eval('check_in_at'))),
                    'icon': 'tryton-launch',
                    'depends': ['type', 'state', 'check_in_at'],
                    },
                'approve': {
                    'invisible': (Eval('state') != 'done')
                    | Bool(Eval('approved_by')),
                    'icon': 'tryton-ok',
                    'depends': ['state', 'approved_by'],
                    },
                })

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_employee(cls):
        return Transaction().context.get('employee')

    @classmethod
    def default_state(cls):
        return 'planned'

    @classmethod
    def default_type(cls):
        return 'call'

    @classmethod
    def default_planned_at(cls):
        return datetime.datetime.now().replace(microsecond=0)

    @classmethod
    def _get_origin(cls):
        "Return the names of the models an activity can come from"
        return ['sale.opportunity', 'sale.sale', 'project.work']

    @classmethod
    def get_origin(cls):
        IrModel = Pool().get('ir.model')
        get_name = IrModel.get_name
        return [(None, '')] + [(m, get_name(m)) for m in cls._get_origin()]

    @fields.depends('account', 'contact', 'opportunity')
    def on_change_account(self):
        if self.contact and self.account and self.account not in [
                l.account for l in self.contact.contact_accounts]:
            self.contact = None
        if (self.opportunity and self.account
                and self.opportunity.party != self.account):
            self.opportunity = None

    @fields.depends('opportunity', 'account')
    def on_change_opportunity(self):
        if self.opportunity and not self.account:
            self.account = self.opportunity.party

    @classmethod
    def get_number(cls, activities, name):
        return {a.id: 1 for a in activities}

    def compute_fields(self, field_names=None):
        values = super().compute_fields(field_names=field_names)
        if field_names is None or 'planned_at' in field_names:
            week = week_start(self.planned_at)
            if getattr(self, 'week', None) != week:
                values['week'] = week
        return values

    @classmethod
    def validate_fields(cls, activities, field_names):
        super().validate_fields(activities, field_names)
        cls.check_position(activities, field_names)

    @classmethod
    def check_position(cls, activities, field_names=None):
        if field_names and not (field_names & {'latitude', 'longitude'}):
            return
        for activity in activities:
            if (activity.latitude is not None
                    and not (-90 <= activity.latitude <= 90)):
                raise ActivityValidationError(gettext(
                        'hitech_crm_base.msg_activity_latitude',
                        activity=activity.rec_name,
                        value=activity.latitude))
            if (activity.longitude is not None
                    and not (-180 <= activity.longitude <= 180)):
                raise ActivityValidationError(gettext(
                        'hitech_crm_base.msg_activity_longitude',
                        activity=activity.rec_name,
                        value=activity.longitude))

    @classmethod
    def copy(cls, activities, default=None):
        default = default.copy() if default is not None else {}
        for name in ['done_at', 'result', 'check_in_at', 'latitude',
                'longitude', 'visit_report', 'manager_comment',
                'approved_by', 'approved_at']:
            default.setdefault(name)
        return super().copy(activities, default=default)

    @classmethod
    @ModelView.button
    @Workflow.transition('planned')
    def plan(cls, activities):
        cls.write(activities, {
                'done_at': None,
                'approved_by': None,
                'approved_at': None,
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('done')
    def do(cls, activities):
        now = datetime.datetime.now().replace(microsecond=0)
        cls.write([a for a in activities if not a.done_at], {
                'done_at': now,
                })

    @classmethod
    @ModelView.button
    @Workflow.transition('cancelled')
    def cancel(cls, activities):
        pass

    @classmethod
    @ModelView.button
    def check_in(cls, activities):
        "Stamp the arrival at a field visit"
        for activity in activities:
            if activity.type != 'visit':
                raise ActivityValidationError(gettext(
                        'hitech_crm_base.msg_activity_check_in_visit',
                        activity=activity.rec_name))
        now = datetime.datetime.now().replace(microsecond=0)
        cls.write([a for a in activities if not a.check_in_at], {
                'check_in_at': now,
                })

    @classmethod
    @ModelView.button
    def approve(cls, activities):
        "Record the approval of done activities by a sales manager"
        for activity in activities:
            if activity.state != 'done':
                raise ActivityValidationError(gettext(
                        'hitech_crm_base.msg_activity_approve_done',
                        activity=activity.rec_name))
        cls.write(activities, {
                'approved_by': Transaction().user,
                'approved_at': datetime.datetime.now().replace(
                    microsecond=0),
                })


class ActivityWeekly(ModelSQL, ModelView):
    "CRM Activity Weekly Summary"
    __name__ = 'hitech.activity.weekly'

    company = fields.Many2One('company.company', "Company", readonly=True)
    employee = fields.Many2One(
        'company.employee', "Employee", readonly=True,
        context={
            'company': Eval('company', -1),
            },
        depends={'company'})
    week = fields.Date("Week", readonly=True,
        help="The Monday of the ISO week.")
    week_label = fields.Function(
        fields.Char("ISO Week"), 'get_week_label')
    planned = fields.Integer("Planned", readonly=True,
        help="Activities planned in the week, except the cancelled ones.")
    done = fields.Integer("Done", readonly=True)
    cancelled = fields.Integer("Cancelled", readonly=True)
    open = fields.Integer("Open", readonly=True,
        help="Planned activities not done yet.")
    visits = fields.Integer("Visits Done", readonly=True)
    completion = fields.Function(
        fields.Float("Completion", digits=(1, 4),
            help="Done activities over planned activities."),
        'get_completion')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order = [
            ('week', 'DESC'),
            ('employee', 'ASC'),
            ('id', 'ASC'),
            ]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Activity = pool.get('hitech.activity')
        activity = Activity.__table__()
        context = Transaction().context
        where = activity.company == context.get('company')
        if context.get('employee_filter'):
            where &= activity.employee == context['employee_filter']
        if context.get('from_week'):
            where &= activity.week >= week_start(context['from_week'])
        if context.get('to_week'):
            where &= activity.week <= week_start(context['to_week'])

        def count(condition):
            return Sum(Case((condition, 1), else_=0))
        return activity.select(
            # one row per employee and week: the smallest activity id is a
            # stable identifier for it
            Min(activity.id).as_('id'),
            activity.company.as_('company'),
            activity.employee.as_('employee'),
            activity.week.as_('week'),
            count(activity.state != 'cancelled').as_('planned'),
            count(activity.state == 'done').as_('done'),
            count(activity.state == 'cancelled').as_('cancelled'),
            count(activity.state == 'planned').as_('open'),
            count((activity.state == 'done')
                & (activity.type == 'visit')).as_('visits'),
            where=where,
            group_by=[activity.company, activity.employee, activity.week])

    def get_week_label(self, name):
        if self.week:
            year, week, _ = self.week.isocalendar()
            return '%04d-W%02d' % (year, week)

    def get_completion(self, name):
        if self.planned:
            return self.done / self.planned


class ActivityWeeklyContext(ModelView):
    "CRM Activity Weekly Summary Context"
    __name__ = 'hitech.activity.weekly.context'

    employee_filter = fields.Many2One(
        'company.employee', "Employee",
        help="Leave empty to see every employee.")
    from_week = fields.Date("From Week")
    to_week = fields.Date("To Week")

    @classmethod
    def default_from_week(cls):
        Date = Pool().get('ir.date')
        return week_start(Date.today()) - datetime.timedelta(weeks=7)

    @classmethod
    def default_to_week(cls):
        Date = Pool().get('ir.date')
        return week_start(Date.today()) + datetime.timedelta(weeks=1)
