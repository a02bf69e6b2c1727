# This file is part of HiTech CRM. See LICENSE for details.
"""Sales processes and their stages on opportunities.

A sales process (direct project sale, channel sale, renewal...) orders
its stages; each stage gives the conversion probability, an expected
duration and the items required to leave it.  Every stage change of an
opportunity, whether made by writing the stage, by the next/previous
buttons or by the stock workflow buttons (lost, won through the sale,
reopen), is recorded in the stage history by the system, in the same
transaction.  The history rows are the material of the pipeline
analytics (``opportunity_reporting.py``): each row is one stay in a
stage, with its entry date and, once left, its duration.
"""
import datetime
import logging
from decimal import Decimal
from email.message import EmailMessage

from sql import Literal, Null

from trytond import backend
from trytond.config import config
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, Unique, fields,
    sequence_ordered)
from trytond.model.exceptions import AccessError
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, If
from trytond.sendmail import sendmail_transactional
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction, without_check_access

from .access import ChildOfWritableMixin
from .account import CONTACT_ROLES
from .activity import ACTIVITY_TYPES
from .exceptions import LostReasonError, StageRequirementError

logger = logging.getLogger(__name__)

STAGE_KINDS = [
    ('open', "Open"),
    ('won', "Won"),
    ('lost', "Lost"),
    ]
OPEN_STATES = ['lead', 'opportunity', 'converted']
# the context key of the stage moves made by the system to follow the
# stock workflow (no requirement is checked on them)
SYNC_KEY = '_hitech_stage_sync'


def clear_cache(Model, ids=None):
    "Forget the cached values of records updated by SQL"
    for cache in Transaction().cache.values():
        if Model.__name__ in cache:
            if ids is None:
                cache[Model.__name__].clear()
            else:
                for id_ in ids:
                    cache[Model.__name__].pop(id_, None)


class SalesProcess(DeactivableMixin, sequence_ordered(), ModelSQL, ModelView):
    "Sales Process"
    __name__ = 'hitech.sales.process'

    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", required=True, strip=True,
        help="Short unique code used in imports and reports.")
    big_deal_amount = fields.Numeric("Big Deal Amount", digits=(16, 2),
        help="Opportunities whose amount, in the currency of their company, "
        "reaches this amount are announced to the managers of their team "
        "(once per opportunity). Leave empty for no alert.")
    stages = fields.One2Many(
        'hitech.opportunity.stage', 'process', "Stages")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'hitech_crm_base.msg_sales_process_code_unique'),
            ]

    def get_stage(self, kind):
        "Return the first stage of the kind"
        for stage in self.stages:
            if stage.kind == kind and stage.active:
                return stage

    @property
    def first_stage(self):
        for stage in self.stages:
            if stage.active:
                return stage


class Stage(DeactivableMixin, sequence_ordered(), ModelSQL, ModelView):
    "Opportunity Stage"
    __name__ = 'hitech.opportunity.stage'

    process = fields.Many2One(
        'hitech.sales.process', "Process", required=True,
        ondelete='CASCADE')
    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", required=True, strip=True,
        help="Unique in the process; used in imports and reports.")
    probability = fields.Float("Probability", digits=(1, 4), required=True,
        domain=[
            ('probability', '>=', 0),
            ('probability', '<=', 1),
            ],
        help="The conversion probability an opportunity gets when it "
        "enters the stage.")
    expected_duration = fields.Integer("Expected Duration",
        domain=[
            If(Bool(Eval('expected_duration')),
                ('expected_duration', '>', 0),
                ()),
            ],
        help="In days: an opportunity that stays longer in the stage is "
        "reported as stalled to its handler and their manager.")
    kind = fields.Selection(STAGE_KINDS, "Kind", required=True,
        help="Open stages keep the opportunity running; entering a won or "
        "lost stage marks the opportunity won or lost, and marking it won "
        "or lost moves it to the first such stage of its process.")
    requirements = fields.One2Many(
        'hitech.opportunity.stage.requirement', 'stage', "Requirements",
        help="What an opportunity must have before it moves on from this "
        "stage to a later one.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('process_code_unique', Unique(t, t.process, t.code),
                'hitech_crm_base.msg_opportunity_stage_code_unique'),
            ]
        cls._order.insert(0, ('process', 'ASC'))

    @classmethod
    def default_kind(cls):
        return 'open'

    @classmethod
    def default_probability(cls):
        return 0.1

    def get_rec_name(self, name):
        return self.name

    def is_after(self, other):
        "Whether moving from the other stage to this one moves forward"
        if other is None:
            return False
        if self.kind == 'won':
            return other.kind != 'won'
        if self.kind == 'lost' or other.kind != 'open':
            return False
        return ((self.sequence or 0, self.id)
            > (other.sequence or 0, other.id))


class StageRequirement(ModelSQL, ModelView):
    "Opportunity Stage Requirement"
    __name__ = 'hitech.opportunity.stage.requirement'

    stage = fields.Many2One(
        'hitech.opportunity.stage', "Stage", required=True,
        ondelete='CASCADE')
    kind = fields.Selection([
            ('document', "Document Attached"),
            ('field', "Field Filled"),
            ('activity', "Activity Done"),
            ], "Kind", required=True)
    document_type = fields.Many2One(
        'hitech.document.type', "Document Type", ondelete='RESTRICT',
        states={
            'invisible': Eval('kind') != 'document',
            'required': Eval('kind') == 'document',
            },
        help="An attachment of this type must be attached to the "
        "opportunity.")
    field = fields.Selection('get_fields', "Field",
        states={
            'invisible': Eval('kind') != 'field',
            'required': Eval('kind') == 'field',
            },
        help="The field of the opportunity that must be filled.")
    activity_type = fields.Selection(
        [(None, "")] + ACTIVITY_TYPES, "Activity Type",
        states={
            'invisible': Eval('kind') != 'activity',
            'required': Eval('kind') == 'activity',
            },
        help="A done activity of this type must be linked to the "
        "opportunity.")
    field_string = field.translated('field')
    activity_type_string = activity_type.translated('activity_type')

    @classmethod
    def default_kind(cls):
        return 'field'

    @classmethod
    def _field_names(cls):
        "Opportunity fields a requirement may ask for"
        return ['amount', 'end_date', 'contact', 'party', 'employee',
            'description', 'address', 'payment_term', 'lines',
            'product_line', 'competitors', 'buying_contacts']

    @classmethod
    def get_fields(cls):
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        return [(None, "")] + [
            (n, Opportunity._fields[n].string) for n in cls._field_names()
            if n in Opportunity._fields]

    def get_rec_name(self, name):
        if self.kind == 'document' and self.document_type:
            return gettext('hitech_crm_base.msg_requirement_document',
                type=self.document_type.rec_name)
        elif self.kind == 'field' and self.field:
            return gettext('hitech_crm_base.msg_requirement_field',
                field=self.field_string)
        elif self.kind == 'activity' and self.activity_type:
            return gettext('hitech_crm_base.msg_requirement_activity',
                type=self.activity_type_string)
        return ''

    @classmethod
    def missing(cls, requirements, opportunities):
        """Return {opportunity id: [requirements not met]}

        One query per kind for all the opportunities."""
        pool = Pool()
        Attachment = pool.get('ir.attachment')
        Activity = pool.get('hitech.activity')
        result = {o.id: [] for o in opportunities}
        if not requirements or not opportunities:
            return result
        resources = ['sale.opportunity,%s' % o.id for o in opportunities]
        with without_check_access():
            documents = set()
            types = [r.document_type.id for r in requirements
                if r.kind == 'document' and r.document_type]
            if types:
                for attachment in Attachment.search([
                            ('resource', 'in', resources),
                            ('document_type', 'in', types),
                            ]):
                    documents.add(
                        (attachment.resource.id, attachment.document_type.id))
            activities = set()
            kinds = [r.activity_type for r in requirements
                if r.kind == 'activity' and r.activity_type]
            if kinds:
                for activity in Activity.search([
                            ('opportunity', 'in',
                                [o.id for o in opportunities]),
                            ('type', 'in', kinds),
                            ('state', '=', 'done'),
                            ]):
                    activities.add((activity.opportunity.id, activity.type))
        for opportunity in opportunities:
            for requirement in requirements:
                if requirement.kind == 'document':
                    ok = ((opportunity.id, requirement.document_type.id)
                        in documents)
                elif requirement.kind == 'activity':
                    ok = ((opportunity.id, requirement.activity_type)
                        in activities)
                else:
                    ok = bool(getattr(opportunity, requirement.field, None))
                if not ok:
                    result[opportunity.id].append(requirement)
        return result


class StageHistory(ModelSQL, ModelView):
    "Opportunity Stage History"
    __name__ = 'hitech.opportunity.stage.history'

    opportunity = fields.Many2One(
        'sale.opportunity', "Opportunity", required=True, readonly=True,
        ondelete='CASCADE')
    process = fields.Many2One(
        'hitech.sales.process', "Process", readonly=True,
        ondelete='RESTRICT')
    from_stage = fields.Many2One(
        'hitech.opportunity.stage', "From Stage", readonly=True,
        ondelete='RESTRICT')
    to_stage = fields.Many2One(
        'hitech.opportunity.stage', "To Stage", required=True,
        readonly=True, ondelete='RESTRICT')
    date = fields.Timestamp("Date", required=True, readonly=True)
    user = fields.Many2One(
        'res.user', "User", readonly=True, ondelete='SET NULL')
    employee = fields.Many2One(
        'company.employee', "Employee", readonly=True, ondelete='SET NULL',
        help="The handler of the opportunity at that moment.")
    currency = fields.Many2One(
        'currency.currency', "Currency", readonly=True, ondelete='RESTRICT')
    amount = Monetary("Amount", currency='currency', digits='currency',
        readonly=True,
        help="The amount of the opportunity at that moment.")
    probability = fields.Float("Probability", digits=(1, 4), readonly=True)
    duration = fields.TimeDelta("Time in Previous Stage", readonly=True,
        help="How long the opportunity stayed in the stage it left.")
    first_entry = fields.Boolean("First Entry", readonly=True,
        help="The first time the opportunity entered the stage: the funnel "
        "counts these.")
    left_at = fields.Timestamp("Left At", readonly=True,
        help="When the opportunity left the stage again.")
    next_stage = fields.Many2One(
        'hitech.opportunity.stage', "Next Stage", readonly=True,
        ondelete='RESTRICT')
    stay_days = fields.Float("Days in Stage", digits=(16, 4), readonly=True,
        help="How long the opportunity stayed in the stage, once left.")
    cycle_days = fields.Float("Cycle Length", digits=(16, 4), readonly=True,
        help="On entering a won or lost stage: the days since the "
        "opportunity was created.")
    stalled_after = fields.Timestamp("Stalled After", readonly=True,
        help="When the stay exceeds the expected duration of the stage.")
    stalled_alerted = fields.Boolean("Stall Alerted", readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('opportunity')
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t,
                    (t.opportunity, Index.Range()),
                    (t.date, Index.Range())),
                Index(t, (t.to_stage, Index.Range())),
                Index(t, (t.stalled_after, Index.Range()),
                    where=(t.left_at == Null)
                    & (t.stalled_alerted == Literal(False))),
                })
        cls._order = [('date', 'DESC'), ('id', 'DESC')]

    @classmethod
    def create(cls, vlist):
        transaction = Transaction()
        # refused before the values are validated, like an access check
        if transaction.user and transaction.check_access:
            raise AccessError(gettext(
                    'hitech_crm_base.msg_stage_history_readonly'))
        return super().create(vlist)

    @classmethod
    def check_modification(cls, mode, rows, values=None, external=False):
        super().check_modification(
            mode, rows, values=values, external=external)
        # the access of a child is that of its opportunity (__access__):
        # refuse here any change a user asks for
        if external:
            raise AccessError(gettext(
                    'hitech_crm_base.msg_stage_history_readonly'))

    @classmethod
    def default_first_entry(cls):
        return False

    @classmethod
    def default_stalled_alerted(cls):
        return False

    @classmethod
    def record(cls, moves):
        """Record stage moves: [(opportunity, from stage, to stage,
        previous entry timestamp)] with the opportunity as written.

        Closes the current stay of each opportunity and opens the new one,
        in the same transaction."""
        pool = Pool()
        User = pool.get('res.user')
        Opportunity = pool.get('sale.opportunity')
        if not moves:
            return []
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        table = cls.__table__()
        now = datetime.datetime.now()
        user = transaction.user if transaction.user else None
        opportunity_ids = [m[0].id for m in moves]
        reached = set()
        opportunity = Opportunity.__table__()
        for sub_ids in grouped_slice(
                opportunity_ids, backend.MAX_QUERY_PARAMS):
            sub_ids = list(sub_ids)
            cursor.execute(*opportunity.update(
                    [opportunity.stage_entered_at], [now],
                    where=reduce_ids(opportunity.id, sub_ids)))
            cursor.execute(*table.select(
                    table.opportunity, table.to_stage,
                    where=reduce_ids(table.opportunity, sub_ids),
                    group_by=[table.opportunity, table.to_stage]))
            reached.update(cursor)
        employee = User(user).employee if user else None
        vlist = []
        for opportunity, from_stage, to_stage, entered_at in moves:
            duration = None
            if from_stage and entered_at:
                duration = now - entered_at
                stay = round(duration.total_seconds() / 86400, 4)
                cursor.execute(*table.update(
                        [table.left_at, table.next_stage, table.stay_days],
                        [now, to_stage.id, stay],
                        where=(table.opportunity == opportunity.id)
                        & (table.left_at == Null)))
            cycle = None
            if to_stage.kind in {'won', 'lost'} and opportunity.create_date:
                cycle = round((now - opportunity.create_date).total_seconds()
                    / 86400, 4)
            stalled_after = None
            if to_stage.expected_duration and to_stage.kind == 'open':
                stalled_after = now + datetime.timedelta(
                    days=to_stage.expected_duration)
            key = (opportunity.id, to_stage.id)
            vlist.append({
                    'opportunity': opportunity.id,
                    'process': to_stage.process.id,
                    'from_stage': from_stage.id if from_stage else None,
                    'to_stage': to_stage.id,
                    'date': now,
                    'user': user,
                    'employee': (opportunity.employee.id
                        if opportunity.employee else (
                            employee.id if employee else None)),
                    'currency': opportunity.currency.id,
                    'amount': opportunity.amount,
                    'probability': opportunity.conversion_probability,
                    'duration': duration,
                    'first_entry': key not in reached,
                    'cycle_days': cycle,
                    'stalled_after': stalled_after,
                    })
            reached.add(key)
        clear_cache(Opportunity, opportunity_ids)
        clear_cache(cls)
        with without_check_access():
            return cls.create(vlist)


class LostReason(DeactivableMixin, sequence_ordered(), ModelSQL, ModelView):
    "Opportunity Lost Reason"
    __name__ = 'hitech.opportunity.lost_reason'

    code = fields.Char("Code", required=True, strip=True)
    name = fields.Char("Name", required=True, translate=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'hitech_crm_base.msg_lost_reason_code_unique'),
            ]


class Competitor(ChildOfWritableMixin, ModelSQL, ModelView):
    "Opportunity Competitor"
    __name__ = 'hitech.opportunity.competitor'

    opportunity = fields.Many2One(
        'sale.opportunity', "Opportunity", required=True,
        ondelete='CASCADE')
    competitor = fields.Many2One(
        'party.party', "Competitor", required=True, ondelete='RESTRICT',
        domain=[('account_type', '=', 'competitor')],
        help="An account of type competitor.")
    currency = fields.Function(
        fields.Many2One('currency.currency', "Currency"),
        'on_change_with_currency')
    price = Monetary("Price", currency='currency', digits='currency',
        help="What the competitor offers the deal for, in the currency of "
        "the opportunity.")
    offer = fields.Text("Offer", help="What the competitor proposes.")
    strengths = fields.Text("Strengths")
    weaknesses = fields.Text("Weaknesses")
    won = fields.Boolean("Won by Them",
        help="The customer chose this competitor.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('opportunity')
        t = cls.__table__()
        cls._sql_constraints += [
            ('opportunity_competitor_unique',
                Unique(t, t.opportunity, t.competitor),
                'hitech_crm_base.msg_opportunity_competitor_unique'),
            ]
        cls._sql_indexes.add(Index(t, (t.competitor, Index.Range())))

    @classmethod
    def default_won(cls):
        return False

    @fields.depends('opportunity', '_parent_opportunity.currency')
    def on_change_with_currency(self, name=None):
        if self.opportunity and self.opportunity.currency:
            return self.opportunity.currency.id


class OpportunityContact(ChildOfWritableMixin, ModelSQL, ModelView):
    "Opportunity Buying Centre Contact"
    __name__ = 'hitech.opportunity.contact'

    opportunity = fields.Many2One(
        'sale.opportunity', "Opportunity", required=True,
        ondelete='CASCADE')
    contact = fields.Many2One(
        'party.party', "Contact", required=True, ondelete='CASCADE',
        domain=[('party_kind', '=', 'person')])
    role = fields.Selection(CONTACT_ROLES, "Role", required=True,
        help="The part the contact plays in the buying decision.")
    attitude = fields.Selection([
            ('supporter', "Supporter"),
            ('neutral', "Neutral"),
            ('opponent', "Opponent"),
            ], "Attitude", required=True,
        help="How the contact stands towards our offer.")
    influence = fields.Selection([
            ('low', "Low"),
            ('medium', "Medium"),
            ('high', "High"),
            ], "Influence", required=True,
        help="How much the contact weighs in the decision.")
    notes = fields.Text("Notes")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('opportunity')
        t = cls.__table__()
        cls._sql_constraints += [
            ('opportunity_contact_role_unique',
                Unique(t, t.opportunity, t.contact, t.role),
                'hitech_crm_base.msg_opportunity_contact_unique'),
            ]

    @classmethod
    def default_role(cls):
        return 'user'

    @classmethod
    def default_attitude(cls):
        return 'neutral'

    @classmethod
    def default_influence(cls):
        return 'medium'

    def get_rec_name(self, name):
        return self.contact.rec_name


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    sales_process = fields.Many2One(
        'hitech.sales.process', "Sales Process", ondelete='RESTRICT',
        states={
            'readonly': ~Eval('state').in_(OPEN_STATES),
            },
        help="The process whose stages the opportunity goes through.")
    stage = fields.Many2One(
        'hitech.opportunity.stage', "Stage", ondelete='RESTRICT',
        domain=[
            ('process', '=', Eval('sales_process', -1)),
            ],
        states={
            'required': Bool(Eval('sales_process')),
            'invisible': ~Eval('sales_process'),
            },
        help="Moving on to a later stage requires the items of the current "
        "stage; the stage sets the probability and every change is "
        "recorded in the stage history.")
    stage_entered_at = fields.Timestamp("In Stage Since", readonly=True,
        states={
            'invisible': ~Eval('stage'),
            })
    time_in_stage = fields.Function(fields.TimeDelta("Time in Stage",
            states={
                'invisible': ~Eval('stage'),
                }),
        'get_time_in_stage')
    stage_history = fields.One2Many(
        'hitech.opportunity.stage.history', 'opportunity', "Stage History",
        readonly=True)
    loss_reason = fields.Many2One(
        'hitech.opportunity.lost_reason', "Lost Reason",
        ondelete='RESTRICT',
        states={
            'invisible': Eval('state').in_(['won', 'cancelled']),
            'readonly': Eval('state').in_(['won', 'cancelled']),
            },
        help="Why the deal was lost; required to mark it lost. The text "
        "reason for loss is the comment.")
    competitors = fields.One2Many(
        'hitech.opportunity.competitor', 'opportunity', "Competitors")
    buying_contacts = fields.One2Many(
        'hitech.opportunity.contact', 'opportunity', "Buying Centre",
        help="The people of the customer who take part in the decision.")
    big_deal_alerted_at = fields.Timestamp("Big Deal Alerted At",
        readonly=True,
        help="When the managers were told the amount crossed the big deal "
        "amount of the process.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.stage, Index.Range())))
        cls._buttons.update({
                'next_stage': {
                    'invisible': (~Eval('stage')
                        | ~Eval('state').in_(OPEN_STATES)),
                    'depends': ['stage', 'state'],
                    },
                'previous_stage': {
                    'invisible': (~Eval('stage')
                        | ~Eval('state').in_(OPEN_STATES)),
                    'depends': ['stage', 'state'],
                    },
                'fill_buying_centre': {
                    'invisible': ~Eval('party'),
                    'depends': ['party'],
                    },
                })

    @fields.depends('sales_process', 'stage')
    def on_change_sales_process(self):
        if self.sales_process:
            if not self.stage or self.stage.process != self.sales_process:
                self.stage = self.sales_process.first_stage
                self.on_change_stage()
        else:
            self.stage = None

    @fields.depends('stage')
    def on_change_stage(self):
        if self.stage:
            self.conversion_probability = self.stage.probability

    @classmethod
    def get_time_in_stage(cls, opportunities, name):
        now = datetime.datetime.now()
        return {o.id: (now - o.stage_entered_at)
            if o.stage_entered_at and o.stage else None
            for o in opportunities}

    @classmethod
    def preprocess_values(cls, mode, values):
        pool = Pool()
        Process = pool.get('hitech.sales.process')
        Stage = pool.get('hitech.opportunity.stage')
        values = super().preprocess_values(mode, values)
        if (mode == 'create' and values.get('sales_process')
                and not values.get('stage')):
            stage = Process(values['sales_process']).first_stage
            if stage:
                values['stage'] = stage.id
        if values.get('stage'):
            stage = Stage(values['stage'])
            values['conversion_probability'] = stage.probability
            if stage.kind in {'won', 'lost'}:
                values['state'] = stage.kind
        return values

    @classmethod
    def check_modification(
            cls, mode, opportunities, values=None, external=False):
        pool = Pool()
        Stage = pool.get('hitech.opportunity.stage')
        super().check_modification(
            mode, opportunities, values=values, external=external)
        if mode != 'write':
            return
        sync = Transaction().context.get(SYNC_KEY)
        if values.get('stage') and not sync:
            stage = Stage(values['stage'])
            cls.check_stage_requirements(
                [o for o in opportunities
                    if o.stage and stage.is_after(o.stage)])
        losing = [o for o in opportunities if o.state != 'lost']
        if values.get('stage') and Stage(values['stage']).kind == 'lost':
            pass
        elif values.get('state') != 'lost':
            losing = []
        if losing and not values.get('loss_reason'):
            cls.check_loss_reason(losing)

    @classmethod
    def check_stage_requirements(cls, opportunities):
        "Raise when an opportunity lacks an item to leave its stage"
        pool = Pool()
        Requirement = pool.get('hitech.opportunity.stage.requirement')
        for opportunity in opportunities:
            requirements = opportunity.stage.requirements
            missing = Requirement.missing(
                requirements, [opportunity])[opportunity.id]
            if missing:
                raise StageRequirementError(gettext(
                        'hitech_crm_base.msg_opportunity_stage_requirement',
                        opportunity=opportunity.rec_name,
                        stage=opportunity.stage.rec_name,
                        missing=", ".join(r.rec_name for r in missing)))

    @classmethod
    def check_loss_reason(cls, opportunities):
        for opportunity in opportunities:
            # the system marks lost the deals whose quotations were all
            # cancelled: the reason is on the quotations
            if opportunity.loss_reason or opportunity.is_lost():
                continue
            raise LostReasonError(gettext(
                    'hitech_crm_base.msg_opportunity_loss_reason_required',
                    opportunity=opportunity.rec_name))

    @classmethod
    def on_write(cls, opportunities, values):
        callbacks = super().on_write(opportunities, values)
        if not ({'stage', 'state', 'sales_process'} & values.keys()):
            return callbacks
        before = {o.id: (o.stage, o.stage_entered_at, o.state)
            for o in opportunities}

        def after():
            cls._stage_moved(cls.browse(list(before)), before)
        return callbacks + [after]

    @classmethod
    def _stage_moved(cls, opportunities, before):
        "Record the stage changes and keep stage and stock state together"
        pool = Pool()
        History = pool.get('hitech.opportunity.stage.history')
        Date = pool.get('ir.date')
        moves, reopened, state_changed, closed = [], [], [], []
        for opportunity in opportunities:
            old_stage, entered_at, old_state = before[opportunity.id]
            if opportunity.stage != old_stage and opportunity.stage:
                moves.append((opportunity, old_stage, opportunity.stage,
                        entered_at))
                if opportunity.stage.kind == 'open':
                    if opportunity.state in {'won', 'lost'}:
                        reopened.append(opportunity)
                elif opportunity.is_forecast:
                    closed.append(opportunity)
            elif opportunity.stage and opportunity.state != old_state:
                state_changed.append(opportunity)
        History.record(moves)
        with Transaction().set_context(**{SYNC_KEY: True}):
            if closed:
                cls.write(closed, {'end_date': Date.today()})
            if reopened:
                # moved back to an open stage: reopen the stock state
                with_party = [o for o in reopened if o.party]
                if with_party:
                    cls.write(with_party, {'state': 'opportunity'})
                if len(with_party) < len(reopened):
                    cls.write([o for o in reopened if not o.party],
                        {'state': 'lead'})
            for opportunity in state_changed:
                cls._sync_stage_with_state(opportunity)

    @classmethod
    def _sync_stage_with_state(cls, opportunity):
        "Follow a change of the stock state made by the stock workflow"
        pool = Pool()
        History = pool.get('hitech.opportunity.stage.history')
        stage = opportunity.stage
        process = opportunity.sales_process or stage.process
        target = None
        if opportunity.state in {'won', 'lost'}:
            if stage.kind != opportunity.state:
                target = process.get_stage(opportunity.state)
        elif opportunity.state in OPEN_STATES and stage.kind != 'open':
            # reopened: back to the open stage it was closed from
            for row in History.search([
                        ('opportunity', '=', opportunity.id),
                        ('to_stage', '=', stage.id),
                        ('from_stage.kind', '=', 'open'),
                        ], limit=1):
                target = row.from_stage
            target = target or process.get_stage('open')
        if target:
            cls.write([opportunity], {'stage': target.id})

    @classmethod
    def on_modification(cls, mode, opportunities, field_names=None):
        pool = Pool()
        History = pool.get('hitech.opportunity.stage.history')
        super().on_modification(mode, opportunities, field_names=field_names)
        if mode == 'create':
            History.record([(o, None, o.stage, None)
                    for o in opportunities if o.stage])
        if mode in {'create', 'write'} and (field_names is None
                or {'amount', 'sales_process', 'currency'} & set(field_names)):
            cls.alert_big_deals(opportunities)

    @classmethod
    def copy(cls, opportunities, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('stage_history', None)
        default.setdefault('stage_entered_at', None)
        default.setdefault('big_deal_alerted_at', None)
        default.setdefault('loss_reason', None)
        return super().copy(opportunities, default=default)

    @classmethod
    @ModelView.button
    def next_stage(cls, opportunities):
        "Move to the next open or won stage of the process"
        cls._move_stage(opportunities, 1)

    @classmethod
    @ModelView.button
    def previous_stage(cls, opportunities):
        "Move back to the previous open stage of the process"
        cls._move_stage(opportunities, -1)

    @classmethod
    def _move_stage(cls, opportunities, step):
        targets = {}
        for opportunity in opportunities:
            if not opportunity.stage:
                continue
            stages = [s for s in opportunity.stage.process.stages
                if s.active and s.kind != 'lost']
            if opportunity.stage not in stages:
                continue
            index = stages.index(opportunity.stage) + step
            if 0 <= index < len(stages):
                targets.setdefault(stages[index], []).append(opportunity)
        for stage, records in targets.items():
            cls.write(records, {'stage': stage.id})

    @classmethod
    @ModelView.button
    def fill_buying_centre(cls, opportunities):
        "Add the current contacts of the account to the buying centre"
        pool = Pool()
        Date = pool.get('ir.date')
        Contact = pool.get('hitech.opportunity.contact')
        today = Date.today()
        to_create = []
        for opportunity in opportunities:
            if not opportunity.party:
                continue
            present = {(c.contact.id, c.role)
                for c in opportunity.buying_contacts}
            for link in opportunity.party.account_contacts:
                if link.end_date and link.end_date < today:
                    continue
                key = (link.contact.id, link.role)
                if key in present:
                    continue
                present.add(key)
                to_create.append({
                        'opportunity': opportunity.id,
                        'contact': link.contact.id,
                        'role': link.role,
                        'notes': link.title,
                        })
        if to_create:
            Contact.create(to_create)

    # Alerts -----------------------------------------------------------

    def get_managers(self):
        "The managers of the team and of the teams above it"
        managers = []
        team = self.sales_team
        while team:
            if team.manager and team.manager not in managers:
                managers.append(team.manager)
            team = team.parent
        return managers

    @classmethod
    def _users_of(cls, employees):
        "Return {employee id: [users]}"
        pool = Pool()
        User = pool.get('res.user')
        result = {e.id: [] for e in employees}
        if not employees:
            return result
        with without_check_access():
            for user in User.search([
                        ('employees', 'in', list(result)),
                        ]):
                for employee in user.employees:
                    if employee.id in result:
                        result[employee.id].append(user)
        return result

    @classmethod
    def _alert(cls, opportunity, users, label, description):
        "Notify the users in the client and by email"
        sender = config.get('email', 'from')
        seen = set()
        for user in users:
            if user.id in seen:
                continue
            seen.add(user.id)
            cls.notify_user(
                [opportunity], 'hitech-crm', label,
                description=description, user=user.id)
            if user.email and sender:
                msg = EmailMessage()
                msg['From'] = sender
                msg['To'] = user.email
                msg['Subject'] = label
                msg.set_content(description)
                sendmail_transactional(sender, [user.email], msg)

    @classmethod
    def _company_amount(cls, opportunity):
        pool = Pool()
        Currency = pool.get('currency.currency')
        amount = opportunity.amount or Decimal(0)
        company_currency = opportunity.company.currency
        if opportunity.currency != company_currency:
            with Transaction().set_context(date=opportunity.start_date):
                amount = Currency.compute(
                    opportunity.currency, amount, company_currency,
                    round=False)
        return amount

    @classmethod
    def alert_big_deals(cls, opportunities):
        """Tell the managers of the team about the opportunities whose
        amount reaches the big deal amount of their process, once."""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        big = [o for o in opportunities
            if o.sales_process and o.sales_process.big_deal_amount is not None
            and not o.big_deal_alerted_at and o.amount
            and cls._company_amount(o) >= o.sales_process.big_deal_amount]
        if not big:
            return
        now = datetime.datetime.now()
        managers = {m for o in big for m in o.get_managers()}
        users = cls._users_of(list(managers))
        with without_check_access():
            for opportunity in big:
                label = gettext('hitech_crm_base.msg_big_deal_label',
                    opportunity=opportunity.rec_name)
                description = gettext(
                    'hitech_crm_base.msg_big_deal_description',
                    opportunity=opportunity.rec_name,
                    party=(opportunity.party.rec_name
                        if opportunity.party else ''),
                    amount=opportunity.amount,
                    currency=opportunity.currency.code,
                    employee=(opportunity.employee.rec_name
                        if opportunity.employee else ''))
                recipients = [u for m in opportunity.get_managers()
                    for u in users[m.id]]
                cls._alert(opportunity, recipients, label, description)
                logger.info("big deal alert for %s to users %s",
                    opportunity.id, [u.id for u in recipients])
        for sub_ids in grouped_slice(
                [o.id for o in big], backend.MAX_QUERY_PARAMS):
            cursor.execute(*table.update(
                    [table.big_deal_alerted_at], [now],
                    where=reduce_ids(table.id, sub_ids)))
        clear_cache(cls, [o.id for o in big])

    @classmethod
    def alert_stalled(cls):
        """Cron: tell the handler and the managers about the opportunities
        that stay in a stage longer than its expected duration, once per
        stay."""
        pool = Pool()
        History = pool.get('hitech.opportunity.stage.history')
        history = History.__table__()
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        now = datetime.datetime.now()
        cursor.execute(*history.join(table,
                condition=(history.opportunity == table.id)
                & (history.to_stage == table.stage)
                ).select(history.id,
                where=(history.left_at == Null)
                & (history.stalled_alerted == Literal(False))
                & (history.stalled_after < now)
                & table.state.in_(OPEN_STATES)))
        rows = cursor.fetchall()
        if not rows:
            return []
        stalled = History.browse([r[0] for r in rows])
        opportunities = [h.opportunity for h in stalled]
        employees = set()
        for opportunity in opportunities:
            if opportunity.employee:
                employees.add(opportunity.employee)
            employees.update(opportunity.get_managers())
        users = cls._users_of(list(employees))
        with without_check_access():
            for row in stalled:
                opportunity = row.opportunity
                recipients = []
                for employee in ([opportunity.employee]
                        + opportunity.get_managers()):
                    if employee:
                        recipients.extend(users[employee.id])
                label = gettext('hitech_crm_base.msg_stalled_label',
                    opportunity=opportunity.rec_name)
                description = gettext(
                    'hitech_crm_base.msg_stalled_description',
                    opportunity=opportunity.rec_name,
                    stage=row.to_stage.rec_name,
                    days=(now - row.date).days,
                    expected=row.to_stage.expected_duration)
                cls._alert(opportunity, recipients, label, description)
        for sub_ids in grouped_slice(
                [r.id for r in stalled], backend.MAX_QUERY_PARAMS):
            cursor.execute(*history.update(
                    [history.stalled_alerted], [True],
                    where=reduce_ids(history.id, sub_ids)))
        clear_cache(History, [r.id for r in stalled])
        return stalled


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def _hitech_rule_models(cls):
        # the children follow the rules of their opportunity
        return super()._hitech_rule_models() | {
            'hitech.opportunity.stage.history',
            'hitech.opportunity.competitor',
            'hitech.opportunity.contact',
            }


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('sale.opportunity|alert_stalled', "Alert Stalled Opportunities"))
