# This file is part of HiTech CRM. See LICENSE for details.
import datetime as dt

from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, fields, sequence_ordered)
from trytond.pool import PoolMeta
from trytond.pyson import Eval, Get, If, In
from trytond.transaction import Transaction

from .exceptions import SLAError

SERVICE_TIERS = [
    (None, ""),
    ('basic', "Basic"),
    ('standard', "Standard"),
    ('premium', "Premium"),
    ('enterprise', "Enterprise"),
    ('mission_critical', "Mission Critical"),
    ]
COVERAGES = [
    (None, ""),
    ('contract', "Under Contract or Warranty"),
    ('none', "Without Contract"),
    ]
TICKET_PRIORITIES = [
    ('low', "Low"),
    ('normal', "Normal"),
    ('high', "High"),
    ('urgent', "Urgent"),
    ]
# the next priority when an escalation raises it
RAISED_PRIORITY = {'low': 'normal', 'normal': 'high', 'high': 'urgent'}
TARGETS = [
    ('response', "First Response"),
    ('resolution', "Resolution"),
    ]


def sla_now():
    """Return the SLA clock's now: the context key 'sla_now' (a naive UTC
    datetime) when set by server-side code (crons, tests, scripts) so
    they can choose it"""
    transaction = Transaction()
    # RPC callers (access checked) cannot move the SLA clock
    now = (transaction.context.get('sla_now')
        if not transaction.context.get('_check_access') else None)
    if isinstance(now, str):
        now = dt.datetime.fromisoformat(now)
    return now or dt.datetime.now()


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    service_tier = fields.Selection(SERVICE_TIERS, "Service Tier",
        help="The customer's service level tier; service level policies "
        "match it when the ticket has no entitlement with a tier.")


class Policy(DeactivableMixin, sequence_ordered(), ModelSQL, ModelView):
    "Service Level Policy"
    __name__ = 'hitech.sla.policy'

    name = fields.Char("Name", required=True, translate=True)
    company = fields.Many2One(
        'company.company', "Company", required=True,
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ])
    calendar = fields.Many2One(
        'hitech.service.calendar', "Calendar", required=True,
        ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))],
        help="The business hours in which the targets are counted.")
    tier = fields.Selection(SERVICE_TIERS, "Customer Tier",
        help="Match only tickets of customers of this tier (the tier of "
        "the ticket's entitlement, else the account's service tier). "
        "Leave empty to match any tier.")
    priorities = fields.MultiSelection(TICKET_PRIORITIES, "Priorities",
        sort=False,
        help="Match only tickets of these priorities; empty matches all.")
    category = fields.Many2One(
        'hitech.ticket.category', "Category", ondelete='RESTRICT',
        help="Match only tickets of this category or of its children.")
    coverage = fields.Selection(COVERAGES, "Contract",
        help="Match only tickets covered by an entitlement (a service "
        "contract or a warranty), or only those without one. Leave empty "
        "to match both.")
    targets = fields.One2Many(
        'hitech.sla.target', 'policy', "Targets",
        help="The business time allowed per priority.")
    escalation_steps = fields.One2Many(
        'hitech.sla.escalation.step', 'policy', "Escalation Steps")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('company', 'ASC'))

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    def match(self, pattern):
        """Tell whether the policy applies to pattern, a dict with company,
        tier, priority, categories (the category and its parents) and
        entitlement (the id of the covering entitlement or None)"""
        if self.company.id != pattern.get('company'):
            return False
        if self.tier and self.tier != pattern.get('tier'):
            return False
        if self.priorities and pattern.get('priority') not in self.priorities:
            return False
        if self.category and self.category.id not in pattern.get(
                'categories', ()):
            return False
        if self.coverage == 'contract' and not pattern.get('entitlement'):
            return False
        if self.coverage == 'none' and pattern.get('entitlement'):
            return False
        return True

    @classmethod
    def find(cls, pattern):
        "Return the first active policy matching pattern"
        with Transaction().set_context(active_test=True):
            policies = cls.search([('company', '=', pattern.get('company'))])
        for policy in policies:
            if policy.match(pattern):
                return policy

    def get_target(self, priority):
        for target in self.targets:
            if target.priority == priority:
                return target


class Target(ModelSQL, ModelView):
    "Service Level Target"
    __name__ = 'hitech.sla.target'

    policy = fields.Many2One(
        'hitech.sla.policy', "Policy", required=True, ondelete='CASCADE')
    priority = fields.Selection(TICKET_PRIORITIES, "Priority", required=True,
        sort=False)
    response_time = fields.TimeDelta("First Response Time",
        help="Business time allowed until the first response; empty for "
        "no response target.")
    resolution_time = fields.TimeDelta("Resolution Time",
        help="Business time allowed until the ticket is resolved; empty "
        "for no resolution target.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'policy'})
        cls._order = [
            ('policy', 'ASC'), ('priority', 'ASC'), ('id', 'ASC')]

    @classmethod
    def validate_fields(cls, targets, field_names):
        super().validate_fields(targets, field_names)
        seen = set()
        for target in targets:
            for value in [target.response_time, target.resolution_time]:
                if value is not None and value <= dt.timedelta(0):
                    raise SLAError(gettext(
                            'hitech_service.msg_sla_target_positive',
                            policy=target.policy.rec_name))
            key = (target.policy.id, target.priority)
            others = cls.search([
                    ('policy', '=', target.policy.id),
                    ('priority', '=', target.priority),
                    ('id', '!=', target.id),
                    ])
            if key in seen or others:
                raise SLAError(gettext(
                        'hitech_service.msg_sla_target_unique',
                        policy=target.policy.rec_name,
                        priority=target.priority_string))
            seen.add(key)


class EscalationStep(sequence_ordered(), ModelSQL, ModelView):
    "Service Level Escalation Step"
    __name__ = 'hitech.sla.escalation.step'

    policy = fields.Many2One(
        'hitech.sla.policy', "Policy", required=True, ondelete='CASCADE')
    name = fields.Char("Name", required=True, translate=True)
    target = fields.Selection(TARGETS, "Target", required=True,
        help="The deadline the step watches.")
    trigger = fields.Selection([
            ('percent', "Percentage of Target"),
            ('breach', "At Breach"),
            ('after_breach', "After Breach"),
            ], "When", required=True,
        help="Percentage: when that share of the target's business time "
        "has elapsed. At breach: when the deadline passes. After breach: "
        "a delay after the deadline.")
    percent = fields.Integer("Percentage",
        states={
            'invisible': Eval('trigger') != 'percent',
            'required': Eval('trigger') == 'percent',
            },
        domain=[If(Eval('trigger') == 'percent',
                [('percent', '>', 0), ('percent', '<', 100)], [])],
        help="For example 75 to warn when three quarters of the allowed "
        "business time are used.")
    delay = fields.TimeDelta("Delay",
        states={
            'invisible': Eval('trigger') != 'after_breach',
            'required': Eval('trigger') == 'after_breach',
            },
        help="Business time after the deadline.")
    notify = fields.Selection([
            ('handler', "Handler"),
            ('team_manager', "Team Lead"),
            ('service_manager', "Service Managers"),
            ], "Notify", required=True,
        help="Team lead: the manager of the ticket's service team. "
        "Service managers: the configured employee, else the users of the "
        "service manager group.")
    raise_priority = fields.Boolean("Raise Priority",
        help="Raise the ticket's priority by one level (up to urgent).")
    send_email = fields.Boolean("Send Email",
        help="Email the notified users too (through the queue).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'policy'})
        cls._order.insert(0, ('policy', 'ASC'))

    @classmethod
    def default_target(cls):
        return 'resolution'

    @classmethod
    def default_trigger(cls):
        return 'breach'

    @classmethod
    def default_notify(cls):
        return 'handler'

    @classmethod
    def default_raise_priority(cls):
        return False

    @classmethod
    def default_send_email(cls):
        return False

    def due_at(self, calendar, start, deadline, target_time, paused):
        """Return when the step is due for a deadline reached from start
        after target_time and paused of business time"""
        if self.trigger == 'percent':
            return calendar.add_business_time(
                start, target_time * self.percent / 100 + paused)
        elif self.trigger == 'breach':
            return deadline
        else:
            return calendar.add_business_time(deadline, self.delay)


class Reminder(DeactivableMixin, ModelSQL, ModelView):
    "Service Reminder Rule"
    __name__ = 'hitech.sla.reminder'

    name = fields.Char("Name", required=True, translate=True)
    company = fields.Many2One(
        'company.company', "Company", required=True,
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ])
    kind = fields.Selection([
            ('waiting', "Customer Waiting"),
            ('not_updated', "Not Updated"),
            ('unassigned', "Unassigned"),
            ], "Kind", required=True,
        help="Customer waiting: the ticket waits on the customer for "
        "longer than the delay. Not updated: an open ticket was not "
        "modified for the delay. Unassigned: a new ticket has no handler "
        "after the delay.")
    delay = fields.TimeDelta("Delay", required=True,
        help="Wall-clock time (not business time).")
    notify = fields.Selection([
            ('handler', "Handler"),
            ('team_manager', "Team Lead"),
            ('both', "Handler and Team Lead"),
            ], "Notify", required=True)

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_notify(cls):
        return 'handler'

    @classmethod
    def validate_fields(cls, reminders, field_names):
        super().validate_fields(reminders, field_names)
        for reminder in reminders:
            if reminder.delay <= dt.timedelta(0):
                raise SLAError(gettext(
                        'hitech_service.msg_sla_reminder_delay',
                        reminder=reminder.rec_name))


def categories_up(category):
    "Return the ids of category and its parents"
    result = []
    while category:
        result.append(category.id)
        category = category.parent
    return result
