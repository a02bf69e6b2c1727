#!/usr/bin/env python
# This file is part of HiTech CRM. See LICENSE for details.
"""Benchmark of the pipeline analytics on PostgreSQL.

Generates, set-based and seeded, N opportunities (default 1,000,000) of
the "Direct Project Sale" process and 5 stage-history rows per
opportunity on average (5,000,000), inserted by SQL into a dedicated
database, then times the reporting models read through the ORM
(``search_read`` on the ``table_query`` models with a context):

* funnel, conversion and time in stage per stage
  (``hitech.opportunity.reporting.stage``), also split by rep;
* stage-to-stage transitions (``hitech.opportunity.reporting.transition``);
* win rate and cycle length (``hitech.opportunity.reporting.cycle``);

against the hand-written SQL GROUP BY queries that compute the same
figures, run in the same benchmark.  It prints each time and the ratio
ORM / SQL (target: within 3x) and never asserts on time.

    .venv/bin/python bench/bench_funnel.py                 # 1,000,000
    .venv/bin/python bench/bench_funnel.py --scale 0.02    # 20,000

The database (default pipeline_bench) is created, and dropped again
unless --keep is given (a kept database with data is reused).
"""
import argparse
import datetime as dt
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (path length, visits: stage codes of the direct process)
PATHS = {
    3: ['qualify', 'needs', 'lost'],
    4: ['qualify', 'needs', 'solution', 'proposal'],
    5: ['qualify', 'needs', 'solution', 'proposal', 'won'],
    6: ['qualify', 'needs', 'solution', 'proposal', 'negotiation', 'won'],
    7: ['qualify', 'needs', 'qualify', 'needs', 'solution', 'proposal',
        'lost'],
    }


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--scale', type=float, default=1.0,
        help="1.0 = 1,000,000 opportunities and 5,000,000 history rows")
    parser.add_argument('--db', default='pipeline_bench')
    parser.add_argument('--seed', type=float, default=0.42)
    parser.add_argument('--repeat', type=int, default=3)
    parser.add_argument('--keep', action='store_true',
        help="keep the database (and reuse it when it has data)")
    return parser.parse_args()


def ensure_database(args):
    env = dict(os.environ, TRYTOND_DATABASE__URI='postgresql:///')
    env.pop('TRYTOND_CONFIG', None)
    exists = subprocess.run(
        ['psql', '-d', 'postgres', '-tAc',
            "SELECT 1 FROM pg_database WHERE datname='%s'" % args.db],
        capture_output=True, text=True, check=True).stdout.strip()
    if exists and args.keep:
        activated = subprocess.run(
            ['psql', '-d', args.db, '-tAc',
                "SELECT 1 FROM ir_module WHERE name='hitech_crm_base' "
                "AND state='activated'"],
            capture_output=True, text=True).stdout.strip()
        if activated:
            return False
    if exists:
        subprocess.run(['dropdb', args.db], check=True)
    subprocess.run(['createdb', '-E', 'UTF8', '-T', 'template0', args.db],
        check=True)
    with tempfile.NamedTemporaryFile('w', suffix='.pass') as passfile:
        passfile.write('bench-admin-password\n')
        passfile.flush()
        env['TRYTONPASSFILE'] = passfile.name
        admin = os.path.join(os.path.dirname(sys.executable), 'trytond-admin')
        start = time.perf_counter()
        subprocess.run([admin, '-d', args.db, '--all',
                '--email', 'admin@example.com'], env=env, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([admin, '-d', args.db, '-u', 'hitech_crm_base',
                '--activate-dependencies'], env=env, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print("database %s activated in %.0f s" % (
                args.db, time.perf_counter() - start))
    return True


def generate(args, cursor, company, employees, stages):
    "Insert the opportunities and their history in two INSERT ... SELECT"
    n = int(1_000_000 * args.scale)
    cursor.execute('SELECT setseed(%s)', (args.seed,))
    process = stages['qualify'][1]
    paths = []
    for length, codes in PATHS.items():
        seen = set()
        for j, code in enumerate(codes, 1):
            following = codes[j] if j < len(codes) else None
            paths.append((length, j, stages[code][0],
                    stages[following][0] if following else None,
                    code not in seen, j == len(codes),
                    code in {'won', 'lost'}))
            seen.add(code)
    finals = {length: codes[-1] for length, codes in PATHS.items()}
    # load without the secondary indexes (the trigram index on number costs
    # most) and build them after, as a bulk load into production would
    cursor.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid) "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_class t ON t.oid = i.indrelid "
        "WHERE t.relname IN ('sale_opportunity', "
        "'hitech_opportunity_stage_history') "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k "
        "WHERE k.conindid = i.indexrelid)")
    indexes = cursor.fetchall()
    for name, _ in indexes:
        cursor.execute('DROP INDEX "%s"' % name)
    state = ' '.join("WHEN %d THEN '%s'" % (
            length, {'won': 'won', 'lost': 'lost'}.get(code, 'opportunity'))
        for length, code in finals.items())
    final = ' '.join('WHEN %d THEN %d' % (length, stages[code][0])
        for length, code in finals.items())
    start = time.perf_counter()
    cursor.execute((
        'INSERT INTO sale_opportunity (number, company, currency, party, '
        'employee, sales_team, start_date, conversion_probability, state, '
        'amount, sales_process, stage, stage_entered_at, forecast_category, '
        'create_uid, create_date) '
        'SELECT \'B\' || g, %(company)s, %(currency)s, %(party)s, '
        '(%(employees)s)[1 + g %% %(n_employees)s], NULL, '
        'DATE \'2024-01-01\' + (g %% 700), 0.5, '
        'CASE 3 + g %% 5 {state} END, '
        'ROUND((random() * 100000)::numeric, 2), '
        '%(process)s, CASE 3 + g %% 5 {final} END, NOW(), \'pipeline\', 0, '
        'TIMESTAMP \'2024-01-01\' + (g %% 700) * INTERVAL \'1 day\' '
        'FROM generate_series(1, %(n)s) AS g').format(
            state=state, final=final), {
            'company': company.id, 'currency': company.currency.id,
            'party': company.party.id, 'employees': employees,
            'n_employees': len(employees), 'process': process, 'n': n})
    print("inserted %d opportunities in %.1f s" % (
            n, time.perf_counter() - start))
    start = time.perf_counter()

    def literal(value):
        if value is None:
            return 'NULL'
        if isinstance(value, bool):
            return 'TRUE' if value else 'FALSE'
        return str(int(value))
    values = ', '.join(
        '(%s)' % ', '.join(map(literal, p)) for p in paths)
    cursor.execute(
        'INSERT INTO hitech_opportunity_stage_history (opportunity, '
        'process, from_stage, to_stage, date, employee, currency, amount, '
        'probability, duration, first_entry, left_at, next_stage, '
        'stay_days, cycle_days, stalled_alerted, create_uid, create_date) '
        'SELECT id, %(process)s, LAG(stage) OVER w, stage, '
        'entered, employee, currency, amount, 0.5, '
        'CASE WHEN j > 1 THEN (LAG(stay) OVER w) * INTERVAL \'1 day\' END, '
        'first, CASE WHEN stay IS NOT NULL '
        'THEN entered + stay * INTERVAL \'1 day\' END, '
        'next, stay, CASE WHEN closing THEN '
        'EXTRACT(EPOCH FROM entered - create_date) / 86400 END, '
        'FALSE, 0, NOW() '
        'FROM (SELECT v.*, create_date + COALESCE(SUM(stay) OVER (PARTITION '
        'BY id ORDER BY j ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)'
        ', 0) * INTERVAL \'1 day\' AS entered FROM (SELECT o.id, '
        'o.employee, o.currency, o.amount, o.create_date, p.j, '
        'p.stage, p.next, p.first, p.closing, CASE WHEN p.last THEN NULL '
        'ELSE ROUND((random() * 40)::numeric, 4)::float END AS stay '
        'FROM sale_opportunity o JOIN (VALUES ' + values + ') AS p (n, j, '
        'stage, next, first, last, closing) ON p.n = 3 + '
        'CAST(SUBSTRING(o.number FROM 2) AS INTEGER) %% 5 '
        'WHERE o.number LIKE \'B%%\') AS v) AS e '
        'WINDOW w AS (PARTITION BY id ORDER BY j)', {'process': process})
    cursor.execute('SELECT COUNT(*) FROM hitech_opportunity_stage_history')
    rows, = cursor.fetchone()
    print("inserted %d stage history rows in %.1f s" % (
            rows, time.perf_counter() - start))
    start = time.perf_counter()
    for _, definition in indexes:
        cursor.execute(definition)
    print("created %d indexes in %.1f s" % (
            len(indexes), time.perf_counter() - start))


SQL = {
    'stage': '''
        SELECT h.to_stage, COUNT(*),
            SUM(CASE WHEN h.first_entry THEN 1 ELSE 0 END),
            SUM(CASE WHEN h.first_entry THEN h.amount ELSE 0 END),
            SUM(CASE WHEN h.left_at IS NULL AND o.stage = h.to_stage
                AND o.state IN ('lead', 'opportunity', 'converted')
                THEN 1 ELSE 0 END),
            COUNT(h.stay_days),
            SUM(CASE WHEN (n.kind = 'won' AND s.kind != 'won')
                OR (s.kind = 'open' AND n.kind = 'open'
                    AND (n.sequence > s.sequence
                        OR (n.sequence = s.sequence AND n.id > s.id)))
                THEN 1 ELSE 0 END)
                ::float / COUNT(*),
            AVG(h.stay_days),
            PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY h.stay_days),
            PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY h.stay_days)
        FROM hitech_opportunity_stage_history h
        JOIN sale_opportunity o ON o.id = h.opportunity
        JOIN hitech_opportunity_stage s ON s.id = h.to_stage
        LEFT JOIN hitech_opportunity_stage n ON n.id = h.next_stage
        WHERE o.company = %(company)s
            AND h.date >= %(from_date)s AND h.date < %(to_date)s
        GROUP BY h.process, h.to_stage, s.sequence, s.kind''',
    'stage by rep': None,
    'transition': '''
        SELECT h.from_stage, h.to_stage, COUNT(*),
            COUNT(*)::float / SUM(COUNT(*)) OVER (
                PARTITION BY h.process, h.from_stage)
        FROM hitech_opportunity_stage_history h
        JOIN sale_opportunity o ON o.id = h.opportunity
        WHERE o.company = %(company)s AND h.from_stage IS NOT NULL
            AND h.date >= %(from_date)s AND h.date < %(to_date)s
        GROUP BY h.process, h.from_stage, h.to_stage''',
    'cycle': '''
        SELECT h.process, COUNT(*),
            SUM(CASE WHEN s.kind = 'won' THEN 1 ELSE 0 END),
            SUM(CASE WHEN s.kind = 'won' THEN 1 ELSE 0 END)::float
                / COUNT(*),
            AVG(h.cycle_days),
            PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY h.cycle_days),
            PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY h.cycle_days)
        FROM hitech_opportunity_stage_history h
        JOIN sale_opportunity o ON o.id = h.opportunity
        JOIN hitech_opportunity_stage s ON s.id = h.to_stage
        WHERE o.company = %(company)s AND s.kind IN ('won', 'lost')
            AND h.left_at IS NULL
            AND h.date >= %(from_date)s AND h.date < %(to_date)s
        GROUP BY h.process''',
    }
ORM = {
    'stage': ('hitech.opportunity.reporting.stage', {}, [
            'stage', 'entries', 'reached', 'reached_amount', 'current',
            'left', 'conversion_rate', 'average_days', 'median_days',
            'p90_days']),
    'stage by rep': ('hitech.opportunity.reporting.stage',
        {'dimension': 'employee'}, [
            'employee', 'stage', 'entries', 'reached', 'reached_amount',
            'current', 'left', 'conversion_rate', 'average_days',
            'median_days', 'p90_days']),
    'transition': ('hitech.opportunity.reporting.transition', {}, [
            'from_stage', 'to_stage', 'moves', 'rate']),
    'cycle': ('hitech.opportunity.reporting.cycle', {}, [
            'process', 'closed', 'won', 'win_rate', 'average_cycle',
            'median_cycle', 'p90_cycle']),
    }


# the same figures per rep
SQL['stage by rep'] = SQL['stage'].replace(
    'SELECT h.to_stage,', 'SELECT o.employee, h.to_stage,').replace(
    'GROUP BY h.process,', 'GROUP BY h.process, o.employee,')


def figures(row):
    "The row with its numbers rounded, to compare ORM and SQL results"
    return tuple(None if v is None else float(v) for v in row)


def same(orm_row, sql_row):
    "Equal but for the order of the float additions"
    return len(orm_row) == len(sql_row) and all(
        a == b or (a is not None and b is not None
            and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6))
        for a, b in zip(orm_row, sql_row))


def timed(function, repeat):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main():
    args = parse_args()
    os.environ['TRYTOND_DATABASE__URI'] = 'postgresql:///'
    os.environ.pop('TRYTOND_CONFIG', None)
    sys.path.insert(0, ROOT)
    ensure_database(args)

    from trytond.pool import Pool
    from trytond.transaction import Transaction
    Pool.start()
    pool = Pool(args.db)
    pool.init()

    with Transaction().start(args.db, 0, context={}) as transaction:
        from trytond.modules.company.tests import (
            create_company, create_employee)
        Company = pool.get('company.company')
        Employee = pool.get('company.employee')
        Process = pool.get('hitech.sales.process')
        cursor = transaction.connection.cursor()
        companies = Company.search([])
        if companies:
            company, = companies
        else:
            company = create_company()
            for i in range(50):
                create_employee(company, "Rep %02d" % i)
            transaction.commit()
        employees = [e.id for e in Employee.search([])]
        process, = Process.search([('code', '=', 'direct')])
        stages = {s.code: (s.id, process.id) for s in process.stages}
        cursor.execute('SELECT COUNT(*) FROM hitech_opportunity_stage_history')
        existing, = cursor.fetchone()
        if not existing:
            generate(args, cursor, company, employees, stages)
            transaction.commit()
            # the statistics and visibility map autovacuum would give
            start = time.perf_counter()
            subprocess.run(['vacuumdb', '--analyze', '-q', '-d', args.db,
                    '-t', 'sale_opportunity',
                    '-t', 'hitech_opportunity_stage_history'], check=True)
            print("vacuumed and analyzed in %.1f s" % (
                    time.perf_counter() - start))
        else:
            print("reusing %d stage history rows" % existing)

        context = {
            'company': company.id,
            'from_date': dt.date(2023, 1, 1),
            'to_date': dt.date(2030, 12, 31),
            }
        params = dict(context, to_date=context['to_date']
            + dt.timedelta(days=1))
        print("%-14s %10s %10s %7s %6s" % (
                "report", "ORM s", "SQL s", "ratio", "rows"))
        for name, query in SQL.items():
            model, extra, fields_names = ORM[name]
            Report = pool.get(model)

            def orm():
                with transaction.set_context(**context, **extra):
                    return Report.search_read(
                        [], fields_names=list(fields_names))

            def sql():
                cursor.execute(query, params)
                return cursor.fetchall()
            orm_time, orm_rows = timed(orm, args.repeat)
            sql_time, sql_rows = timed(sql, args.repeat)
            orm_values = sorted(
                figures(tuple(r[f] for f in fields_names)) for r in orm_rows)
            sql_values = sorted(figures(r) for r in sql_rows)
            if len(orm_values) != len(sql_values) or any(
                    not same(a, b) for a, b in zip(orm_values, sql_values)):
                differ = sum(
                    not same(a, b) for a, b in zip(orm_values, sql_values))
                print("  figures differ: ORM %d rows, SQL %d rows, "
                    "%d rows differ" % (
                        len(orm_rows), len(sql_rows), differ))
            print("%-14s %10.3f %10.3f %6.2fx %6d" % (
                    name, orm_time, sql_time, orm_time / sql_time,
                    len(orm_rows)))
    if not args.keep:
        subprocess.run(['dropdb', args.db], check=True)


if __name__ == '__main__':
    main()
