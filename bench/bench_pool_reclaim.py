#!/usr/bin/env python
# This file is part of HiTech CRM. See LICENSE for details.
"""Benchmark of the daily pool return job on PostgreSQL.

Generates N claimed leads (default 1,000,000) by set-based SQL
(generate_series) into a dedicated database, spread over 200 reps, three
lead sources (one with its own return delay) and assignment dates over the
last 90 days, with a done activity on a third of them; then times:

* the baseline: a hand-written SQL UPDATE ... WHERE NOT EXISTS (...) with
  the same conditions, without the log rows;
* ``sale.opportunity.pool_return``: the one-pass UPDATE plus the log rows
  inserted set-based.

Both are timed twice: for the backlog (the first pass ever, which
returns about 60 % of the generated leads) and for the daily pass (the
pass of today after the one of yesterday, run untimed before in the same
transaction: what the daily cron does in the steady state).  Each run is
rolled back, so all see the same data.  It prints the figures and the
ratios; it never asserts on time.  Target: one pass under 10 s.

    .venv/bin/python bench/bench_pool_reclaim.py               # 1,000,000
    .venv/bin/python bench/bench_pool_reclaim.py --scale 50000 # quicker

The database (default leads_pool_bench) is created, and dropped again
unless --keep is given.
"""
import argparse
import datetime
import os
import sys
import time

from common import create_database, start_pool, stop_pool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--scale', type=int, default=1_000_000,
        help="number of claimed leads")
    parser.add_argument('--reps', type=int, default=200)
    parser.add_argument('--db', default='leads_pool_bench')
    parser.add_argument('--keep', action='store_true',
        help="keep the database (and reuse its leads when it exists)")
    return parser.parse_args()


def generate(pool, args, transaction):
    "Create the company, reps and leads; set-based SQL for the leads"
    from trytond.modules.company.tests import create_company, create_employee
    Party = pool.get('party.party')
    Employee = pool.get('company.employee')
    Source = pool.get('hitech.lead.source')
    Configuration = pool.get('hitech.crm.configuration')
    cursor = transaction.connection.cursor()

    company = create_company()
    parties = Party.create([{'name': "Rep %04d" % i, 'party_kind': 'person'}
            for i in range(args.reps)])
    employees = Employee.create([{'party': p.id, 'company': company.id}
            for p in parties])
    del create_employee
    sources = Source.search([('code', 'in', ['website', 'search',
                    'trade_show'])], order=[('id', 'ASC')])
    Source.write([sources[0]], {'pool_return_days': 7})
    Configuration.write([Configuration(1)], {'pool_return_days': 30})
    emp_ids = [e.id for e in employees]
    src_ids = [s.id for s in sources]

    start = time.perf_counter()
    cursor.execute(
        "INSERT INTO sale_opportunity (number, company, currency, "
        "start_date, state, conversion_probability, employee, source, "
        "assigned_at, in_pool, lead_email, lead_email_key, "
        "forecast_category, create_uid, create_date) "
        "SELECT 'B' || g, %s, %s, CURRENT_DATE, 'lead', 0, "
        "(%s::int[])[1 + g %% %s], (%s::int[])[1 + g %% 3], "
        "NOW() - (g %% 90) * INTERVAL '1 day' - INTERVAL '1 hour', FALSE, "
        "'lead' || g || '@example.com', 'lead' || g || '@example.com', "
        "'pipeline', 0, NOW() - INTERVAL '100 days' "
        "FROM generate_series(1, %s) AS g",
        (company.id, company.currency.id, emp_ids, len(emp_ids), src_ids,
            args.scale))
    cursor.execute(
        "INSERT INTO hitech_activity (company, type, subject, employee, "
        "opportunity, planned_at, done_at, state, create_uid, create_date) "
        "SELECT o.company, 'call', 'Call', o.employee, o.id, "
        "NOW() - (o.id %% 40) * INTERVAL '1 day', "
        "NOW() - (o.id %% 40) * INTERVAL '1 day', 'done', 0, NOW() "
        "FROM sale_opportunity o WHERE o.id %% 3 = 0", ())
    transaction.commit()
    cursor.execute('ANALYZE sale_opportunity')
    cursor.execute('ANALYZE hitech_activity')
    print("generated %d leads and their activities by SQL in %.1f s" % (
            args.scale, time.perf_counter() - start))


def baseline(cursor, now):
    "The same return as a hand-written UPDATE, no log rows"
    cursor.execute(
        "UPDATE sale_opportunity o SET last_employee = o.employee, "
        "employee = NULL, in_pool = TRUE, pool_since = %(now)s, "
        "assigned_at = NULL, write_uid = 0, write_date = %(now)s "
        "WHERE o.state = 'lead' AND o.employee IS NOT NULL "
        "AND COALESCE(o.assigned_at, o.create_date) < %(now)s - "
        "COALESCE((SELECT s.pool_return_days FROM hitech_lead_source s "
        "WHERE s.id = o.source), 30) * INTERVAL '1 day' "
        "AND NOT EXISTS (SELECT 1 FROM hitech_activity a "
        "WHERE a.opportunity = o.id AND a.state = 'done' "
        "AND a.done_at >= %(now)s - COALESCE((SELECT s.pool_return_days "
        "FROM hitech_lead_source s WHERE s.id = o.source), 30) "
        "* INTERVAL '1 day')", {'now': now})
    return cursor.rowcount


def main():
    args = parse_args()
    os.environ['TRYTOND_DATABASE__URI'] = 'postgresql:///'
    os.environ.pop('TRYTOND_CONFIG', None)
    created = create_database(args.db, ['hitech_crm_base'], args.keep)

    from trytond.transaction import Transaction
    pool = start_pool(args.db)

    try:
        with Transaction().start(args.db, 0, context={},
                _lock_tables=['hitech_crm_configuration']) as transaction:
            cursor = transaction.connection.cursor()
            cursor.execute("SELECT COUNT(*) FROM sale_opportunity "
                "WHERE number LIKE 'B%%'")
            existing, = cursor.fetchone()
            if created or not existing:
                generate(pool, args, transaction)
            else:
                print("reusing the %d leads of %s" % (existing, args.db))
        results = {}
        # backlog: the first pass ever over the generated leads (about
        # 60 % of them are idle); daily: the pass of today after the one
        # of yesterday (run untimed first, in the same transaction)
        for mode in ['backlog', 'daily']:
            for name in ['baseline', 'pool_return', 'baseline2',
                    'pool_return2']:
                with Transaction().start(args.db, 0, context={}
                        ) as transaction:
                    Opportunity = pool.get('sale.opportunity')
                    PoolLog = pool.get('hitech.lead.pool.log')
                    cursor = transaction.connection.cursor()
                    now = datetime.datetime.now()
                    if mode == 'daily':
                        yesterday = now - datetime.timedelta(days=1)
                        if name.startswith('baseline'):
                            baseline(cursor, yesterday)
                        else:
                            Opportunity.pool_return(now=yesterday)
                    start = time.perf_counter()
                    if name.startswith('baseline'):
                        count = baseline(cursor, now)
                    else:
                        count = Opportunity.pool_return(now=now)
                    elapsed = time.perf_counter() - start
                    logs = PoolLog.search([('action', '=', 'return')],
                        count=True)
                    transaction.rollback()
                key = (mode, name.rstrip('2'))
                results.setdefault(key, []).append(elapsed)
                print("%-8s %-12s %8d leads returned in %6.2f s "
                    "(%d log rows in all)" % (
                        mode, name.rstrip('2'), count, elapsed, logs))
        print()
        for mode in ['backlog', 'daily']:
            base = min(results[(mode, 'baseline')])
            job = min(results[(mode, 'pool_return')])
            print("%-8s pool return job : %.2f s for %d leads "
                "(target < 10 s: %s)" % (mode, job, args.scale,
                    "met" if job < 10 else "NOT met"))
            print("%-8s SQL baseline    : %.2f s" % (mode, base))
            print("%-8s ratio job / baseline: %.2f (the job also writes "
                "the log)" % (mode, job / base if base else float('nan')))
    finally:
        stop_pool(args.db, args.keep)
    return 0


if __name__ == '__main__':
    sys.exit(main())
