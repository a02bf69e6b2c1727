# This file is part of HiTech CRM. See LICENSE for details.
import datetime as dt
from collections import defaultdict, namedtuple

from sql import Literal, Null
from sql.aggregate import Max
from sql.conditionals import Case, Coalesce
from sql.operators import Exists

from trytond import backend
from trytond.model import Index, ModelSQL, ModelView, fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, If
from trytond.sendmail import send_message_transactional
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction, without_check_access
from trytond.modules.hitech_crm_base.access import SystemRecordMixin

from .sla import (
    RAISED_PRIORITY, TARGETS, TICKET_PRIORITIES, categories_up, sla_now)

OPEN_STATES = ['new', 'assigned', 'in_progress', 'waiting', 'reopened']
# states in which the SLA clock runs (waiting pauses it)
RUNNING_STATES = ['new', 'assigned', 'in_progress', 'reopened']
NEAR_BREACH = 0.25
# the escalation steps a notification lists; the rest are counted
NOTIFY_LISTED = 10


class EscalationRow(namedtuple('EscalationRow', [
                'log', 'ticket', 'number', 'subject', 'company', 'handler',
                'team_manager', 'step', 'reminder'])):
    "A log row of an escalation pass, with what notifying it needs"
    __slots__ = ()

    def description(self, steps, reminders):
        "The text of EscalationLog.description, from the preloaded rows"
        name = ('[%s] %s' % (self.number, self.subject) if self.number
            else self.subject)
        what = (steps[self.step].name if self.step
            else reminders[self.reminder].name if self.reminder else '')
        return '%s: %s' % (name, what)


# what a pass reads of a step or a reminder rule, for every log row
EscalationRule = namedtuple(
    'EscalationRule', ['name', 'notify', 'send_email'])


class Ticket(metaclass=PoolMeta):
    __name__ = 'hitech.ticket'

    sla_policy = fields.Many2One(
        'hitech.sla.policy', "SLA Policy", ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))],
        states={
            'readonly': Eval('state').in_(['closed', 'cancelled']),
            },
        help="The service level policy of the ticket, matched when the "
        "ticket is created or its priority, category or account changes; "
        "a service manager may choose another one.")
    sla_priority = fields.Selection(
        [(None, "")] + TICKET_PRIORITIES, "SLA Priority",
        readonly=True,
        help="The priority whose targets the deadlines follow: set when "
        "a user sets the priority; a priority raised by an escalation "
        "step keeps the targets.")
    sla_started_at = fields.Timestamp("SLA Start", readonly=True,
        help="When the SLA clock started (the ticket's creation).")
    sla_paused_time = fields.TimeDelta("Paused Time", readonly=True,
        help="Business time spent waiting on the customer; it shifts the "
        "deadlines.")
    sla_paused_since = fields.Timestamp("Paused Since", readonly=True,
        help="When the ticket started to wait on the customer.")
    response_met = fields.Boolean("Response Met", readonly=True,
        help="Checked when the first response was sent before its "
        "deadline.")
    resolution_met = fields.Boolean("Resolution Met", readonly=True,
        help="Checked when the ticket was resolved before its deadline.")
    breached_at = fields.Timestamp("Breached At", readonly=True,
        help="When a deadline of the ticket was first missed.")
    response_time = fields.TimeDelta("Response Business Time",
        readonly=True,
        help="Business time from the start to the first response, "
        "without the paused time.")
    resolution_time = fields.TimeDelta("Resolution Business Time",
        readonly=True,
        help="Business time from the start to the resolution, without the "
        "paused time.")
    sla_time_left = fields.Function(fields.TimeDelta("Time Left",
            help="Business time left until the next deadline; negative "
            "once it passed."), 'get_sla_time_left')
    sla_status = fields.Function(fields.Selection([
                (None, ""),
                ('on_track', "On Track"),
                ('near_breach', "Near Breach"),
                ('breached', "Breached"),
                ('paused', "Paused"),
                ], "SLA Status"), 'get_sla_status')
    escalation_logs = fields.One2Many(
        'hitech.ticket.escalation.log', 'ticket', "Escalation Log",
        readonly=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        running = (t.breached_at == Null) & t.state.in_(RUNNING_STATES)
        cls._sql_indexes.update({
                Index(t, (t.sla_policy, Index.Equality()),
                    where=t.state.in_(OPEN_STATES)),
                # the breach candidates of the escalation pass: the running
                # tickets not breached yet whose target is not done (a few
                # thousand of a million tickets once a pass has run)
                Index(t, (t.response_deadline, Index.Range()),
                    where=running & (t.first_response_at == Null)),
                Index(t, (t.resolution_deadline, Index.Range()),
                    where=running & (t.resolved_at == Null)),
                })

    @classmethod
    def view_attributes(cls):
        return super().view_attributes() + [
            ('/tree/field[@name="sla_deadline"]', 'visual',
                If(Eval('sla_status') == 'breached', 'danger',
                    If(Eval('sla_status') == 'near_breach', 'warning',
                        ''))),
            ]

    @classmethod
    def _now(cls):
        return sla_now()

    @classmethod
    def default_sla_paused_time(cls):
        return dt.timedelta(0)

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create':
            values.setdefault('sla_started_at', cls._now())
        return values

    @classmethod
    def copy(cls, tickets, default=None):
        default = default.copy() if default is not None else {}
        for name in ['sla_priority', 'sla_started_at', 'sla_paused_time',
                'sla_paused_since', 'response_met', 'resolution_met',
                'breached_at',
                'response_time', 'resolution_time', 'escalation_logs']:
            default.setdefault(name)
        return super().copy(tickets, default=default)

    def _get_sla_deadline(self):
        if getattr(self, 'state', None) == 'waiting':
            return None
        return super()._get_sla_deadline()

    # Deadlines -----------------------------------------------------------

    @classmethod
    def on_modification(cls, mode, tickets, field_names=None):
        super().on_modification(mode, tickets, field_names=field_names)
        if mode == 'create':
            cls.update_sla(tickets, rematch=True)
        elif mode == 'write':
            rematch = field_names & {'priority', 'category', 'account',
                'company'}
            if rematch or field_names & {'sla_policy', 'first_response_at',
                    'resolved_at'}:
                cls.update_sla(tickets, rematch=bool(rematch))

    def _sla_pattern(self):
        "Return the values the policies are matched against"
        tier = None
        entitlement = getattr(self, 'entitlement', None)
        if entitlement and entitlement.tier:
            tier = entitlement.tier
        elif self.account:
            tier = self.account.service_tier
        return {
            'company': self.company.id,
            'tier': tier,
            'priority': self.priority,
            'categories': categories_up(self.category),
            'entitlement': entitlement.id if entitlement else None,
            }

    def _sla_deadlines(self):
        "Return the response and resolution deadlines of the ticket"
        policy = self.sla_policy
        if not policy or not self.sla_started_at:
            return None, None
        target = policy.get_target(self.sla_priority or self.priority)
        if not target:
            return None, None
        paused = self.sla_paused_time or dt.timedelta(0)
        calendar = policy.calendar
        response = resolution = None
        if target.response_time:
            response = calendar.add_business_time(
                self.sla_started_at, target.response_time + paused)
        if target.resolution_time:
            resolution = calendar.add_business_time(
                self.sla_started_at, target.resolution_time + paused)
        return response, resolution

    @classmethod
    def update_sla(cls, tickets, rematch=False):
        """Match the policy (with rematch), compute the deadlines, the met
        flags and the escalation milestones of the tickets"""
        pool = Pool()
        Policy = pool.get('hitech.sla.policy')
        Milestone = pool.get('hitech.ticket.sla.milestone')
        to_write = []
        for ticket in tickets:
            # set on the instance for the deadlines below, so kept apart
            # from the filter of the unchanged values
            matched = {}
            if rematch and ticket.sla_priority != ticket.priority:
                matched['sla_priority'] = ticket.sla_priority = (
                    ticket.priority)
            if rematch:
                policy = Policy.find(ticket._sla_pattern())
                if policy != ticket.sla_policy:
                    matched['sla_policy'] = policy.id if policy else None
                    ticket.sla_policy = policy
            values = {}
            if ticket.sla_policy:
                response, resolution = ticket._sla_deadlines()
            else:
                # no policy applies: keep the deadlines set by hand or by
                # an integration
                response = ticket.response_deadline
                resolution = ticket.resolution_deadline
            values.update(cls._sla_values(ticket, response, resolution))
            values = {k: v for k, v in values.items()
                if getattr(ticket, k) != v}
            values.update(matched)
            if values:
                to_write.extend(([ticket], values))
        if to_write:
            cls.write(*to_write)
        Milestone.compute(tickets)

    @classmethod
    def _sla_values(cls, ticket, response, resolution):
        values = {
            'response_deadline': response,
            'resolution_deadline': resolution,
            }
        policy = ticket.sla_policy
        paused = ticket.sla_paused_time or dt.timedelta(0)
        breaches = []
        for name, done, deadline in [
                ('response', ticket.first_response_at, response),
                ('resolution', ticket.resolved_at, resolution)]:
            met = elapsed = None
            if done and policy and ticket.sla_started_at:
                elapsed = max(policy.calendar.business_time(
                        ticket.sla_started_at, done) - paused,
                    dt.timedelta(0))
            if done and deadline:
                met = done <= deadline
                if not met:
                    breaches.append(deadline)
            values['%s_met' % name] = met
            values['%s_time' % name] = elapsed
        if breaches and not ticket.breached_at:
            values['breached_at'] = min(breaches)
        return values

    @classmethod
    def on_state_change(cls, tickets, state, previous):
        pool = Pool()
        Milestone = pool.get('hitech.ticket.sla.milestone')
        super().on_state_change(tickets, state, previous)
        now = cls._now()
        if state not in RUNNING_STATES:
            # nothing is due any more on a resolved, closed or cancelled
            # ticket (a reopen clears the resolution and computes again),
            # nor while the clock is paused (the resume computes again
            # with the deadlines shifted by the pause)
            Milestone.delete(Milestone.search(
                    [('ticket', 'in', [t.id for t in tickets])]))
        if state == 'waiting':
            cls.write(tickets, {'sla_paused_since': now})
        resumed = [t for t in tickets
            if previous.get(t.id) == 'waiting' and t.sla_paused_since]
        if resumed:
            to_write = []
            for ticket in resumed:
                paused = ticket.sla_paused_time or dt.timedelta(0)
                if ticket.sla_policy:
                    paused += ticket.sla_policy.calendar.business_time(
                        ticket.sla_paused_since, now)
                to_write.extend(([ticket], {
                            'sla_paused_time': paused,
                            'sla_paused_since': None,
                            }))
            cls.write(*to_write)
            cls.update_sla(resumed)

    @classmethod
    def get_sla_time_left(cls, tickets, name):
        now = cls._now()
        result = {}
        for ticket in tickets:
            deadline = ticket.sla_deadline
            if not deadline or not ticket.sla_policy:
                result[ticket.id] = None
                continue
            calendar = ticket.sla_policy.calendar
            if deadline >= now:
                result[ticket.id] = calendar.business_time(now, deadline)
            else:
                result[ticket.id] = -calendar.business_time(deadline, now)
        return result

    @classmethod
    def get_sla_status(cls, tickets, name):
        now = cls._now()
        result = {}
        for ticket in tickets:
            status = None
            if ticket.state == 'waiting' and ticket.sla_policy:
                status = 'paused'
            elif ticket.sla_deadline:
                status = 'on_track'
                target = ticket.sla_policy.get_target(
                    ticket.sla_priority or ticket.priority) \
                    if ticket.sla_policy else None
                total = None
                if target:
                    total = (target.resolution_time
                        if ticket.first_response_at
                        else target.response_time)
                if ticket.sla_deadline <= now:
                    status = 'breached'
                elif total and ticket.sla_policy.calendar.business_time(
                        now, ticket.sla_deadline) <= total * NEAR_BREACH:
                    status = 'near_breach'
            elif ticket.breached_at:
                status = 'breached'
            result[ticket.id] = status
        return result

    # The escalation pass ---------------------------------------------------

    @classmethod
    def cron_escalate(cls):
        "Run the escalation ladders and the reminder rules"
        cls.escalate()

    @classmethod
    def escalate(cls, now=None):
        """Log, raise and notify every due escalation step and reminder, in
        one set-based pass; return the number of log rows written"""
        pool = Pool()
        Log = pool.get('hitech.ticket.escalation.log')
        Milestone = pool.get('hitech.ticket.sla.milestone')
        Step = pool.get('hitech.sla.escalation.step')
        Reminder = pool.get('hitech.sla.reminder')
        now = now or cls._now()
        cursor = Transaction().connection.cursor()
        ticket = cls.__table__()
        log = Log.__table__()
        milestone = Milestone.__table__()
        step = Step.__table__()
        user = Transaction().user

        cursor.execute(*log.select(Coalesce(Max(log.id), 0)))
        last_id, = cursor.fetchone()

        # 1. due (ticket, step, target): one INSERT ... SELECT
        logged = log.select(Literal(1), where=(log.ticket == milestone.ticket)
            & (log.step == milestone.step)
            & (log.target == milestone.target))
        done = Case(
            ((milestone.target == 'response')
                & (ticket.first_response_at == Null), Literal(False)),
            ((milestone.target == 'resolution')
                & (ticket.resolved_at == Null), Literal(False)),
            else_=Literal(True))
        due = milestone.join(ticket,
            condition=milestone.ticket == ticket.id
            ).join(step, condition=milestone.step == step.id
            ).select(
                milestone.ticket, milestone.step, milestone.target,
                Literal(now), Case((step.raise_priority, 'priority'),
                    else_='notify'),
                Literal(user), Literal(now),
                where=(milestone.due_at <= now)
                & ticket.state.in_(RUNNING_STATES)
                & (done == Literal(False))
                & ~Exists(logged))
        cursor.execute(*log.insert(
                [log.ticket, log.step, log.target, log.at, log.action,
                    log.create_uid, log.create_date], due))

        # 2. reminders: one INSERT ... SELECT per rule (a handful of rules)
        reminders = Reminder.search([])
        for reminder in reminders:
            query = cls._reminder_query(reminder, now, ticket, log, user)
            if query is not None:
                cursor.execute(*log.insert(
                        [log.ticket, log.reminder, log.entry_at, log.at,
                            log.action, log.create_uid, log.create_date],
                        query))

        new = log.select(log.id, where=log.id > last_id)
        # 3. breaches and priorities: one UPDATE each
        response_late = ((ticket.first_response_at == Null)
            & (ticket.response_deadline <= now))
        resolution_late = ((ticket.resolved_at == Null)
            & (ticket.resolution_deadline <= now))
        cursor.execute(*ticket.update(
                [ticket.breached_at],
                [Case((response_late, ticket.response_deadline),
                        else_=ticket.resolution_deadline)],
                where=(ticket.breached_at == Null)
                & ticket.state.in_(RUNNING_STATES)
                & (response_late | resolution_late)))
        raise_ = log.select(log.ticket,
            where=log.id.in_(new) & (log.action == 'priority'))
        cases = [(ticket.priority == k, v)
            for k, v in RAISED_PRIORITY.items()]
        cursor.execute(*ticket.update(
                [ticket.priority, ticket.write_date, ticket.write_uid],
                [Case(*cases, else_=ticket.priority), Literal(now),
                    Literal(user)],
                where=ticket.id.in_(raise_)
                & ticket.priority.in_(list(RAISED_PRIORITY))))

        # 4. notifications in bulk
        rows = cls._escalation_rows(last_id)
        if rows:
            cls._escalation_notify(rows)
        return len(rows)

    @classmethod
    def _reminder_query(cls, reminder, now, ticket, log, user):
        threshold = now - reminder.delay
        if reminder.kind == 'waiting':
            entry = ticket.sla_paused_since
            where = (ticket.state == 'waiting') & (entry <= threshold)
        elif reminder.kind == 'not_updated':
            entry = Coalesce(ticket.write_date, ticket.create_date)
            where = ticket.state.in_(OPEN_STATES) & (entry <= threshold)
        elif reminder.kind == 'unassigned':
            entry = ticket.sla_started_at
            where = ((ticket.state == 'new') & (ticket.handler == Null)
                & (entry <= threshold))
        else:
            return None
        logged = log.select(Literal(1), where=(log.ticket == ticket.id)
            & (log.reminder == reminder.id) & (log.entry_at == entry))
        return ticket.select(
            ticket.id, Literal(reminder.id), entry, Literal(now),
            Literal('remind'), Literal(user), Literal(now),
            where=where & (ticket.company == reminder.company.id)
            & ~Exists(logged))

    @classmethod
    def _escalation_rows(cls, last_id=None, ids=None):
        """Return the log rows written after last_id (or of ids) as
        EscalationRow tuples, read with their ticket and team by SQL
        (reading thousands of rows through the ORM, with the function
        fields of each, costs a hundred times more)"""
        pool = Pool()
        Log = pool.get('hitech.ticket.escalation.log')
        Team = pool.get('hitech.sales.team')
        cursor = Transaction().connection.cursor()
        log = Log.__table__()
        ticket = cls.__table__()
        team = Team.__table__()
        query = log.join(ticket, condition=log.ticket == ticket.id
            ).join(team, 'LEFT', condition=ticket.service_team == team.id)
        columns = [log.id, ticket.id, ticket.number, ticket.subject,
            ticket.company, ticket.handler, team.manager, log.step,
            log.reminder]
        if ids is None:
            cursor.execute(*query.select(*columns,
                    where=log.id > last_id, order_by=[log.id]))
            return [EscalationRow(*r) for r in cursor]
        rows = []
        for sub_ids in grouped_slice(ids, backend.MAX_QUERY_PARAMS):
            cursor.execute(*query.select(*columns,
                    where=reduce_ids(log.id, sub_ids)))
            rows.extend(EscalationRow(*r) for r in cursor)
        return sorted(rows)

    @classmethod
    def _escalation_rules(cls, rows):
        """Return the steps and the reminder rules of the rows by id, as
        EscalationRule tuples read once: a pass looks them up for each of
        thousands of rows, and every attribute of a record goes through
        the record cache (a third of the Python time of a pass)"""
        pool = Pool()
        Step = pool.get('hitech.sla.escalation.step')
        Reminder = pool.get('hitech.sla.reminder')
        steps = {s.id: EscalationRule(s.name, s.notify, s.send_email)
            for s in Step.browse(list({r.step for r in rows if r.step}))}
        reminders = {r.id: EscalationRule(r.name, r.notify, False)
            for r in Reminder.browse(
                list({r.reminder for r in rows if r.reminder}))}
        return steps, reminders

    @classmethod
    def _escalation_descriptions(cls, rows):
        "Return {log id: description} of the rows"
        steps, reminders = cls._escalation_rules(rows)
        return {r.log: r.description(steps, reminders) for r in rows}

    @classmethod
    def _escalation_recipients(cls, rows):
        """Return {log id: [users to notify]}: the users are looked up once
        for all the rows (one search per pass, not one per row)"""
        pool = Pool()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        Configuration = pool.get('hitech.service.configuration')
        service_manager = getattr(
            Configuration(1), 'service_manager', None)
        steps, reminders = cls._escalation_rules(rows)
        wanted = {}
        all_employees = set()
        group_companies = set()
        for row in rows:
            kinds = []
            if row.step:
                kinds = [steps[row.step].notify]
            elif row.reminder:
                kinds = {'handler': ['handler'],
                    'team_manager': ['team_manager'],
                    'both': ['handler', 'team_manager'],
                    }[reminders[row.reminder].notify]
            employees = []
            company = None
            for kind in kinds:
                if kind == 'handler' and row.handler:
                    employees.append(row.handler)
                elif kind == 'team_manager' and row.team_manager:
                    employees.append(row.team_manager)
                elif kind == 'service_manager':
                    if service_manager:
                        employees.append(service_manager.id)
                    else:
                        company = row.company
                        group_companies.add(company)
            all_employees.update(employees)
            wanted[row.log] = (employees, company)

        by_employee = defaultdict(list)
        if all_employees:
            for user in User.search([
                        ('employees', 'in', list(all_employees)),
                        ]):
                for employee in user.employees:
                    if employee.id in all_employees:
                        by_employee[employee.id].append(user)
        by_company = {}
        if group_companies:
            group = ModelData.get_id(
                'hitech_service', 'group_service_manager')
            for company in group_companies:
                by_company[company] = User.search([
                        ('groups', '=', group),
                        ('companies', '=', company),
                        ])
        result = {}
        for log, (employees, company) in wanted.items():
            users = list(by_company.get(company, [])) if company else []
            for employee in employees:
                users.extend(by_employee[employee])
            # each user once per log
            result[log] = list(dict.fromkeys(users))
        return result, steps, reminders

    @classmethod
    def _escalation_notify(cls, rows):
        by_user = defaultdict(list)
        emails = defaultdict(list)
        recipients, steps, reminders = cls._escalation_recipients(rows)
        # read once per user, not once per row
        addresses = {u: u.email for u in {
                u for users in recipients.values() for u in users}}
        for row in rows:
            step = steps.get(row.step)
            for user in recipients[row.log]:
                by_user[user].append(row)
                if step and step.send_email and addresses[user]:
                    emails[addresses[user]].append(row)
        for user, user_rows in by_user.items():
            # notify_user reads only the ids: instances of their own, as
            # browsing n ids checks the n ids for each instance (n squared)
            tickets = [cls(i) for i in sorted({r.ticket for r in user_rows})]
            cls.notify_user(tickets, 'tryton-warning',
                "Service level: %d ticket(s) need attention" % len(tickets),
                description=cls._escalation_summary(
                    user_rows, steps, reminders),
                user=user.id)
        if emails:
            Configuration = Pool().get('hitech.service.configuration')
            # the queue calls a method on records: the task is the service
            # desk's (its configuration), not of thousands of tickets the
            # queue would browse again
            configuration = Configuration.get_singleton()
            if not configuration:
                # the queue runs a task only on a stored record
                with without_check_access():
                    configuration, = Configuration.create([{}])
            Configuration.__queue__.send_escalation_emails(
                configuration,
                {k: [r.log for r in v] for k, v in emails.items()})

    @classmethod
    def _escalation_summary(cls, rows, steps, reminders):
        """A notification's description is a one-line Char: the first
        NOTIFY_LISTED steps by ticket, then how many more (the
        notification opens all its tickets)"""
        listed = sorted(rows, key=lambda r: (r.number or '', r.log))
        texts = list(dict.fromkeys(r.description(steps, reminders)
                for r in listed[:NOTIFY_LISTED + 1]))
        if len(rows) > NOTIFY_LISTED:
            return "%s; and %d more" % (
                "; ".join(texts[:NOTIFY_LISTED]), len(rows) - NOTIFY_LISTED)
        return "; ".join(texts)

    @classmethod
    def send_escalation_emails(cls, emails):
        "Send the emails of {address: [log ids]}"
        from email.message import EmailMessage
        from_ = cls._email_from()
        for to, log_ids in emails.items():
            msg = EmailMessage()
            msg['From'] = from_
            msg['To'] = to
            msg['Subject'] = "Service level escalation"
            descriptions = cls._escalation_descriptions(
                cls._escalation_rows(ids=log_ids))
            msg.set_content("\n".join(
                    descriptions[i] for i in sorted(descriptions)))
            send_message_transactional(msg)


class Milestone(ModelSQL):
    "Ticket SLA Milestone"
    __name__ = 'hitech.ticket.sla.milestone'

    ticket = fields.Many2One(
        'hitech.ticket', "Ticket", required=True, ondelete='CASCADE')
    step = fields.Many2One(
        'hitech.sla.escalation.step', "Step", required=True,
        ondelete='CASCADE')
    target = fields.Selection(TARGETS, "Target", required=True)
    due_at = fields.Timestamp("Due At", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'ticket'})
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.due_at, Index.Range())),
                Index(t, (t.ticket, Index.Equality())),
                })

    @classmethod
    def __register__(cls, module):
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        super().__register__(module)
        # milestones of finished tickets, done targets and (until the
        # customer answers) waiting tickets were kept before: the
        # escalation pass would scan them for ever
        cursor = Transaction().connection.cursor()
        table = cls.__table__()
        ticket = Ticket.__table__()
        # one correlated EXISTS (a semi-join): "ticket IN (...) OR ticket
        # IN (...)" ran as a scan of the tickets per milestone (subqueries
        # too big to hash at a million tickets: minutes per update)
        finished = ((~ticket.state.in_(RUNNING_STATES))
            | ((table.target == 'response')
                & (ticket.first_response_at != Null))
            | ((table.target == 'resolution')
                & (ticket.resolved_at != Null)))
        cursor.execute(*table.delete(where=Exists(ticket.select(
                        Literal(1),
                        where=(ticket.id == table.ticket) & finished))))

    @classmethod
    def compute(cls, tickets):
        """Replace the milestones of the tickets by the due times of their
        policy's escalation steps: only of the tickets whose clock runs
        (not waiting on the customer: the resume computes them again) and
        of the targets not done yet, so that the table holds what may be
        due"""
        cls.delete(cls.search([('ticket', 'in', [t.id for t in tickets])]))
        to_create = []
        for ticket in tickets:
            policy = ticket.sla_policy
            if (not policy or not ticket.sla_started_at
                    or ticket.state not in RUNNING_STATES):
                continue
            done = {
                'response': bool(ticket.first_response_at),
                'resolution': bool(ticket.resolved_at),
                }
            target = policy.get_target(
                ticket.sla_priority or ticket.priority)
            if not target:
                continue
            paused = ticket.sla_paused_time or dt.timedelta(0)
            for step in policy.escalation_steps:
                if done[step.target]:
                    continue
                deadline = getattr(ticket, '%s_deadline' % step.target)
                allowed = getattr(target, '%s_time' % step.target)
                if not deadline or not allowed:
                    continue
                due_at = step.due_at(policy.calendar,
                    ticket.sla_started_at, deadline, allowed, paused)
                to_create.append({
                        'ticket': ticket.id,
                        'step': step.id,
                        'target': step.target,
                        'due_at': due_at,
                        })
        if to_create:
            cls.create(to_create)


class EscalationLog(SystemRecordMixin, ModelSQL, ModelView):
    "Ticket Escalation Log"
    __name__ = 'hitech.ticket.escalation.log'

    ticket = fields.Many2One(
        'hitech.ticket', "Ticket", required=True, ondelete='CASCADE')
    step = fields.Many2One(
        'hitech.sla.escalation.step', "Step", ondelete='SET NULL')
    reminder = fields.Many2One(
        'hitech.sla.reminder', "Reminder", ondelete='SET NULL')
    target = fields.Selection([(None, "")] + TARGETS, "Target")
    entry_at = fields.Timestamp("Entry",
        help="For reminders: when the ticket entered the state the rule "
        "watches; a rule reminds once per entry.")
    at = fields.Timestamp("At", required=True)
    action = fields.Selection([
            ('notify', "Notified"),
            ('priority', "Notified and Priority Raised"),
            ('remind', "Reminded"),
            ], "Action Done", required=True)
    description = fields.Function(fields.Char("Description"),
        'get_description')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'ticket'})
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.ticket, Index.Equality()),
                    (t.step, Index.Equality()),
                    (t.target, Index.Equality())),
                Index(t, (t.ticket, Index.Equality()),
                    (t.reminder, Index.Equality())),
                })
        cls._order = [('at', 'DESC'), ('id', 'DESC')]

    @classmethod
    def get_description(cls, logs, name):
        Ticket = Pool().get('hitech.ticket')
        return Ticket._escalation_descriptions(
            Ticket._escalation_rows(ids=[l.id for l in logs]))


class Configuration(metaclass=PoolMeta):
    __name__ = 'hitech.service.configuration'

    service_manager = fields.Many2One(
        'company.employee', "Service Manager", ondelete='SET NULL',
        help="The employee the last escalation steps notify; when empty, "
        "the users of the service manager group are notified.")

    @classmethod
    def send_escalation_emails(cls, configurations, emails):
        """Send the escalation emails: {address: [log ids]} (run by the
        queue after the escalation pass)"""
        Pool().get('hitech.ticket').send_escalation_emails(emails)


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('hitech.ticket|cron_escalate',
                "Escalate Tickets and Send Service Reminders"))
