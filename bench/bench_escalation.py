#!/usr/bin/env python
# This file is part of HiTech CRM. See LICENSE for details.
"""Benchmark of the escalation pass of the service desk on PostgreSQL.

Sets up three companies, each with four service teams (a team lead and ten
engineers, all users with an email), a calendar and a policy whose ladder
watches the first response (4 business hours for every priority):

* at 50 % of the target the handler is notified,
* at breach the team lead is notified and the priority raised,
* one hour after the breach the service manager is notified by email too.

Generates N tickets (default 1,000,000) by set-based SQL
(generate_series) with their escalation milestones (3 per open ticket) and the
log rows of the steps earlier passes already did: --due tickets (default
50,000) have exactly one step due now and not yet logged (a third each
the half-time, breach and manager steps); of the others 70 % are closed
(without milestones: Milestone.compute keeps them only for running
tickets and targets not done; a third have their half-time step logged), 10 %
wait on the customer (without milestones either: the clock is paused, the
resume computes them) and 20 % are open with milestones to come.  No
reminder rule is defined.  Then times:

* the baseline: the hand-written SQL of the same work: one INSERT ...
  SELECT of the due (ticket, step) pairs not yet logged (running tickets
  whose target is not done), one UPDATE of the breach times, one UPDATE
  raising the priorities of the tickets logged by a raising step;
* ``hitech.ticket.escalate`` as the cron runs it: the same statements,
  and what it does more: it reads the new log rows through the ORM, finds
  the users to notify of each row (handler, team lead, service manager),
  queues one ``res.notification`` per user (stored here as the commit
  would store it) and one queue task for the emails, which is run here as
  it would be after the commit (the messages are built; the SMTP delivery
  itself is not measured: it happens at a commit, and every run is rolled
  back).

Each run is rolled back, so both see the same data.  It prints the figures
and the ratio; it never asserts on time.  Target: one pass under 10 s and
within 3x of the baseline.

    .venv/bin/python bench/bench_escalation.py               # 1,000,000
    .venv/bin/python bench/bench_escalation.py --scale 100000 --due 5000

The database (default bench_escalation) is created, and dropped again
unless --keep is given.
"""
import argparse
import datetime
import os
import sys
import time

from common import create_database, start_pool, stop_pool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNING_STATES = ('new', 'assigned', 'in_progress', 'reopened')
RAISED_PRIORITY = {'low': 'normal', 'normal': 'high', 'high': 'urgent'}
# ticket T1 is a breach step due: it started 4.5 hours before "now"
T1_AGE = datetime.timedelta(hours=4, minutes=30)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--scale', type=int, default=1_000_000,
        help="number of tickets")
    parser.add_argument('--due', type=int, default=50_000,
        help="number of tickets with a step due now")
    parser.add_argument('--companies', type=int, default=3)
    parser.add_argument('--teams', type=int, default=4,
        help="service teams per company")
    parser.add_argument('--agents', type=int, default=10,
        help="engineers per team")
    parser.add_argument('--db', default='bench_escalation')
    parser.add_argument('--keep', action='store_true',
        help="keep the database (and reuse its tickets when it exists)")
    args = parser.parse_args()
    if not 1 <= args.due <= args.scale:
        parser.error("--due must be between 1 and --scale")
    return args


def setup(pool, args):
    """Create the companies, teams, users, calendars and policies; return
    the slots (company, team, engineer, policy) the tickets go round"""
    from trytond.modules.company.tests import create_company, set_company
    Party = pool.get('party.party')
    Employee = pool.get('company.employee')
    User = pool.get('res.user')
    Team = pool.get('hitech.sales.team')
    Calendar = pool.get('hitech.service.calendar')
    Policy = pool.get('hitech.sla.policy')
    Configuration = pool.get('hitech.service.configuration')

    def employees(company, names):
        parties = Party.create([{'name': n, 'party_kind': 'person'}
                for n in names])
        result = Employee.create([{'party': p.id, 'company': company.id}
                for p in parties])
        User.create([{
                    'login': n.lower().replace(' ', '.'),
                    'name': n,
                    'email': '%s@hitech.example' % (
                        n.lower().replace(' ', '.')),
                    'companies': [('add', [company.id])],
                    'company': company.id,
                    'employees': [('add', [e.id])],
                    'employee': e.id,
                    } for n, e in zip(names, result)])
        return result

    slots = []
    manager = currency = None
    for c in range(args.companies):
        company = create_company("Service Co %d" % c, currency=currency)
        currency = company.currency
        with set_company(company):
            if manager is None:
                manager, = employees(company, ["Manager %d" % c])
            calendar, = Calendar.create([{
                        'name': "Office %d" % c, 'company': company.id}])
            policy, = Policy.create([{
                        'name': "Standard %d" % c,
                        'company': company.id,
                        'calendar': calendar.id,
                        'targets': [('create', [{
                                        'priority': p,
                                        'response_time':
                                        datetime.timedelta(hours=4),
                                        'resolution_time':
                                        datetime.timedelta(hours=16),
                                        } for p in [
                                        'low', 'normal', 'high', 'urgent']])],
                        'escalation_steps': [('create', [{
                                        'name': "Half time",
                                        'sequence': 1,
                                        'target': 'response',
                                        'trigger': 'percent',
                                        'percent': 50,
                                        'notify': 'handler',
                                        }, {
                                        'name': "Breach",
                                        'sequence': 2,
                                        'target': 'response',
                                        'trigger': 'breach',
                                        'notify': 'team_manager',
                                        'raise_priority': True,
                                        }, {
                                        'name': "Manager",
                                        'sequence': 3,
                                        'target': 'response',
                                        'trigger': 'after_breach',
                                        'delay': datetime.timedelta(hours=1),
                                        'notify': 'service_manager',
                                        'send_email': True,
                                        }])],
                        }])
            for t in range(args.teams):
                lead, = employees(company, ["Lead %d %d" % (c, t)])
                agents = employees(company, ["Engineer %d %d %d" % (c, t, a)
                        for a in range(args.agents)])
                team, = Team.create([{
                            'name': "Service %d %d" % (c, t),
                            'company': company.id,
                            'kind': 'service',
                            'manager': lead.id,
                            'members': [('create', [{'employee': a.id}
                                        for a in agents])],
                            }])
                slots.extend((company.id, team.id, a.id, policy.id)
                    for a in agents)
    Configuration.write([Configuration(1)], {'service_manager': manager.id})
    return slots


def generate(pool, args, transaction, now):
    "Create the set-up by the ORM, the tickets and milestones by SQL"
    cursor = transaction.connection.cursor()
    slots = setup(pool, args)
    companies, teams, agents, policies = map(list, zip(*slots))

    start = time.perf_counter()
    # kind: due0 (half time due), due1 (breach due), due2 (manager due),
    # closed, waiting or open (steps to come)
    cursor.execute(
        "INSERT INTO hitech_ticket (number, subject, company, priority, "
        "channel, state, handler, service_team, sla_policy, sla_priority, "
        "sla_started_at, sla_paused_time, sla_paused_since, "
        "response_deadline, resolution_deadline, sla_deadline, "
        "assigned_at, first_response_at, resolved_at, closed_at, "
        "response_met, breached_at, create_uid, create_date) "
        "SELECT 'T' || g, 'Ticket ' || g, (%(companies)s::int[])[s], "
        "(ARRAY['low', 'normal', 'high', 'urgent'])[1 + g %% 4], 'email', "
        "CASE WHEN kind LIKE 'due%%' THEN 'in_progress' "
        "WHEN kind = 'open' THEN 'assigned' ELSE kind END, "
        "(%(agents)s::int[])[s], (%(teams)s::int[])[s], "
        "(%(policies)s::int[])[s], "
        "(ARRAY['low', 'normal', 'high', 'urgent'])[1 + g %% 4], "
        "started, INTERVAL '0', "
        "CASE WHEN kind = 'waiting' THEN started + INTERVAL '1 hour' END, "
        "started + INTERVAL '4 hours', started + INTERVAL '16 hours', "
        "CASE WHEN kind NOT IN ('waiting', 'closed') "
        "THEN started + INTERVAL '4 hours' END, "
        "started, "
        "CASE WHEN kind = 'closed' THEN started + INTERVAL '1 hour' END, "
        "CASE WHEN kind = 'closed' THEN started + INTERVAL '5 hours' END, "
        "CASE WHEN kind = 'closed' THEN started + INTERVAL '1 day' END, "
        "CASE WHEN kind = 'closed' THEN TRUE END, "
        "CASE WHEN kind = 'due2' THEN started + INTERVAL '4 hours' END, "
        "0, started "
        "FROM (SELECT g, s, kind, %(now)s - CASE kind "
        "WHEN 'due0' THEN INTERVAL '3 hours' "
        "WHEN 'due1' THEN %(t1_age)s "
        "WHEN 'due2' THEN INTERVAL '6 hours' "
        "WHEN 'open' THEN (g %% 100) * INTERVAL '1 minute' "
        "WHEN 'waiting' THEN INTERVAL '2 days' "
        "+ (g %% 100) * INTERVAL '1 minute' "
        "ELSE (1 + g %% 365) * INTERVAL '1 day' END AS started "
        "FROM (SELECT g, 1 + g %% %(slots)s AS s, "
        "CASE WHEN g <= %(due)s THEN 'due' || (g %% 3) "
        "WHEN g %% 100 < 70 THEN 'closed' "
        "WHEN g %% 100 < 80 THEN 'waiting' ELSE 'open' END AS kind "
        "FROM generate_series(1, %(scale)s) AS g) AS k) AS t "
        "ORDER BY g",
        {'companies': companies, 'agents': agents, 'teams': teams,
            'policies': policies, 'slots': len(slots), 'now': now,
            't1_age': T1_AGE, 'due': args.due, 'scale': args.scale})
    # the milestones as Milestone.compute gives them for wall-clock hours:
    # of the running tickets only, for the targets not done (the closed
    # and waiting tickets have none)
    cursor.execute(
        "INSERT INTO hitech_ticket_sla_milestone (ticket, step, target, "
        "due_at, create_uid, create_date) "
        "SELECT t.id, s.id, s.target, CASE s.trigger "
        "WHEN 'percent' THEN t.sla_started_at "
        "+ s.percent * INTERVAL '4 hours' / 100 "
        "WHEN 'breach' THEN t.response_deadline "
        "ELSE t.response_deadline + s.delay END, 0, t.create_date "
        "FROM hitech_ticket t "
        "JOIN hitech_sla_escalation_step s ON s.policy = t.sla_policy "
        "WHERE t.state NOT IN ('closed', 'waiting') AND CASE s.target "
        "WHEN 'response' THEN t.first_response_at "
        "ELSE t.resolved_at END IS NULL "
        "ORDER BY t.id, s.sequence", ())
    # the steps earlier passes did: those of the running tickets due two
    # hours ago or more, the half-time warning of a third of the closed
    cursor.execute(
        "INSERT INTO hitech_ticket_escalation_log (ticket, step, target, "
        "at, action, create_uid, create_date) "
        "SELECT m.ticket, m.step, m.target, m.due_at, "
        "CASE WHEN s.raise_priority THEN 'priority' ELSE 'notify' END, "
        "0, m.due_at "
        "FROM hitech_ticket_sla_milestone m "
        "JOIN hitech_ticket t ON t.id = m.ticket "
        "JOIN hitech_sla_escalation_step s ON s.id = m.step "
        "WHERE t.state = 'in_progress' "
        "AND m.due_at <= %(now)s - INTERVAL '2 hours' "
        "UNION ALL "
        "SELECT t.id, s.id, s.target, "
        "t.sla_started_at + s.percent * INTERVAL '4 hours' / 100, "
        "'notify', 0, t.sla_started_at "
        "FROM hitech_ticket t "
        "JOIN hitech_sla_escalation_step s ON s.policy = t.sla_policy "
        "WHERE t.state = 'closed' AND t.id %% 3 = 0 "
        "AND s.trigger = 'percent'", {'now': now})
    transaction.commit()
    for table in ['hitech_ticket', 'hitech_ticket_sla_milestone',
            'hitech_ticket_escalation_log']:
        cursor.execute('ANALYZE %s' % table)
    print("generated %d tickets, their milestones and past log rows by SQL "
        "in %.1f s" % (args.scale, time.perf_counter() - start))


def counts(cursor):
    result = []
    for table in ['hitech_ticket', 'hitech_ticket_sla_milestone',
            'hitech_ticket_escalation_log']:
        cursor.execute('SELECT COUNT(*) FROM %s' % table)
        result.append(cursor.fetchone()[0])
    return result


def baseline(cursor, now):
    """The same log rows, breaches and raised priorities by hand-written
    SQL; return the number of log rows inserted"""
    params = {'now': now, 'running': list(RUNNING_STATES),
        'raise_from': list(RAISED_PRIORITY)}
    cursor.execute(
        "WITH due AS (SELECT m.ticket, m.step, m.target, s.raise_priority "
        "FROM hitech_ticket_sla_milestone m "
        "JOIN hitech_ticket t ON t.id = m.ticket "
        "JOIN hitech_sla_escalation_step s ON s.id = m.step "
        "WHERE m.due_at <= %(now)s AND t.state = ANY(%(running)s) "
        "AND CASE m.target WHEN 'response' THEN t.first_response_at "
        "ELSE t.resolved_at END IS NULL "
        "AND NOT EXISTS (SELECT 1 FROM hitech_ticket_escalation_log l "
        "WHERE l.ticket = m.ticket AND l.step = m.step "
        "AND l.target = m.target)), "
        "logged AS (INSERT INTO hitech_ticket_escalation_log "
        "(ticket, step, target, at, action, create_uid, create_date) "
        "SELECT ticket, step, target, %(now)s, "
        "CASE WHEN raise_priority THEN 'priority' ELSE 'notify' END, "
        "0, %(now)s FROM due RETURNING ticket, action) "
        "UPDATE hitech_ticket SET priority = CASE priority "
        "WHEN 'low' THEN 'normal' WHEN 'normal' THEN 'high' "
        "WHEN 'high' THEN 'urgent' END, write_date = %(now)s, "
        "write_uid = 0 "
        "WHERE id IN (SELECT ticket FROM logged "
        "WHERE action = 'priority') AND priority = ANY(%(raise_from)s)",
        params)
    cursor.execute(
        "UPDATE hitech_ticket SET breached_at = CASE "
        "WHEN first_response_at IS NULL AND response_deadline <= %(now)s "
        "THEN response_deadline ELSE resolution_deadline END "
        "WHERE breached_at IS NULL AND state = ANY(%(running)s) "
        "AND ((first_response_at IS NULL "
        "AND response_deadline <= %(now)s) "
        "OR (resolved_at IS NULL AND resolution_deadline <= %(now)s))",
        params)
    cursor.execute("SELECT COUNT(*) FROM hitech_ticket_escalation_log "
        "WHERE create_date = %(now)s", params)
    return cursor.fetchone()[0]


def escalate(pool, transaction, now):
    """Run the pass as the cron does, with what its commit would do: store
    the notifications and run the queued tasks (the emails)"""
    Ticket = pool.get('hitech.ticket')
    Queue = pool.get('ir.queue')
    count = Ticket.escalate(now=now)
    notifications = len(transaction.user_notifications)
    transaction._store_user_notifications()
    tasks = list(transaction.tasks)
    transaction.tasks.clear()
    for task in Queue.browse(tasks):
        task.run()
    return count, notifications, len(tasks)


def main():
    args = parse_args()
    os.environ['TRYTOND_DATABASE__URI'] = 'postgresql:///'
    os.environ.pop('TRYTOND_CONFIG', None)
    created = create_database(args.db, ['hitech_service'], args.keep)

    from trytond.transaction import Transaction
    pool = start_pool(args.db)

    try:
        with Transaction().start(args.db, 0, context={},
                _lock_tables=['hitech_service_configuration']
                ) as transaction:
            cursor = transaction.connection.cursor()
            cursor.execute("SELECT sla_started_at FROM hitech_ticket "
                "WHERE number = 'T1'")
            row = cursor.fetchone()
            if created or not row:
                now = datetime.datetime.now().replace(microsecond=0)
                generate(pool, args, transaction, now)
            else:
                now = row[0] + T1_AGE
                print("reusing the tickets of %s" % args.db)
            tickets, milestones, logs = counts(cursor)
            print("%d tickets, %d milestones, %d log rows" % (
                    tickets, milestones, logs))
        results = {}
        for name in ['baseline', 'escalate', 'baseline2', 'escalate2']:
            with Transaction().start(args.db, 0, context={}) as transaction:
                cursor = transaction.connection.cursor()
                extra = ''
                start = time.perf_counter()
                if name.startswith('baseline'):
                    count = baseline(cursor, now)
                else:
                    count, notifications, tasks = escalate(
                        pool, transaction, now)
                    extra = ", %d notifications, %d queue tasks" % (
                        notifications, tasks)
                elapsed = time.perf_counter() - start
                cursor.execute("SELECT COUNT(*) FROM hitech_ticket "
                    "WHERE write_date = %s", (now,))
                raised, = cursor.fetchone()
                transaction.rollback()
                # the emails were rolled back: the commit at the end of the
                # block must not connect to an SMTP server for them
                transaction._datamanagers.clear()
            results.setdefault(name.rstrip('2'), []).append(elapsed)
            print("%-10s %8d log rows, %6d priorities raised in %6.2f s%s"
                % (name.rstrip('2'), count, raised, elapsed, extra))
        base = min(results['baseline'])
        job = min(results['escalate'])
        ratio = job / base if base else float('nan')
        print()
        print("escalation pass : %.2f s for %d tickets, %d due "
            "(target < 10 s: %s)" % (job, args.scale, args.due,
                "met" if job < 10 else "NOT met"))
        print("SQL baseline    : %.2f s" % base)
        print("ratio pass / baseline: %.2f (target <= 3: %s; the pass also "
            "notifies)" % (ratio, "met" if ratio <= 3 else "NOT met"))
    finally:
        stop_pool(args.db, args.keep)
    return 0


if __name__ == '__main__':
    sys.exit(main())
