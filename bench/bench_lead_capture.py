#!/usr/bin/env python
# This file is part of HiTech CRM. See LICENSE for details.
"""Benchmark of the web lead capture route on PostgreSQL.

Creates a database (default leads_capture_bench) with a lead form, an
assignment rule (round-robin over 20 reps) and --accounts accounts for the
duplicate check, starts gunicorn (trytond.application:app, --workers x
--threads) on 127.0.0.1 and one trytond-worker (the queue: owner
notifications, and the queued captures), then 8 concurrent posters send
--scale posts (distinct visitors, a tenth of them repeats of an earlier
visitor) to ``POST /<db>/hitech/lead``, bounded by --duration seconds, in
two phases:

- immediate: each post creates (or finds) its lead, deduplicates and
  assigns it within the request (HTTP 201/200);
- queued (configuration *Queue Web Captures*): each post is validated and
  stored (HTTP 202), the queue worker creates, deduplicates and assigns the
  leads by batches; the phase ends when no submission is pending, and the
  sustained rate is the posts over the time until the last lead is
  assigned.

Baseline in the same run: the same number of plain JSON-RPC ``create``
calls of sale.opportunity by the same 8 threads.

It prints leads/s, p50/p95 latency and the ratios to the baseline; it never
asserts on time.  Targets: >= 100 leads/s, p95 < 300 ms.

    .venv/bin/python bench/bench_lead_capture.py                 # 4,000 posts
    .venv/bin/python bench/bench_lead_capture.py --scale 400     # quicker
"""
import argparse
import base64
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POSTERS = 8
PASSWORD = 'bench-admin-password'


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--scale', type=int, default=4000,
        help="number of posts (and of baseline creates)")
    parser.add_argument('--duration', type=float, default=120,
        help="longest time of each phase in seconds")
    parser.add_argument('--accounts', type=int, default=2000)
    parser.add_argument('--workers', type=int, default=2)
    parser.add_argument('--threads', type=int, default=4)
    parser.add_argument('--db', default='leads_capture_bench')
    parser.add_argument('--keep', action='store_true')
    return parser.parse_args()


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def setup_database(args, env):
    subprocess.run(['dropdb', '--if-exists', args.db], check=True)
    subprocess.run(['createdb', '-E', 'UTF8', '-T', 'template0', args.db],
        check=True)
    admin = os.path.join(os.path.dirname(sys.executable), 'trytond-admin')
    with tempfile.NamedTemporaryFile('w', suffix='.pass') as passfile:
        passfile.write(PASSWORD + '\n')
        passfile.flush()
        env = dict(env, TRYTONPASSFILE=passfile.name)
        subprocess.run([admin, '-d', args.db, '--all',
                '--email', 'admin@example.com'], env=env, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([admin, '-d', args.db, '-u', 'hitech_crm_base',
                '--activate-dependencies'], env=env, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    script = textwrap.dedent('''
        import sys
        from trytond.pool import Pool
        from trytond.transaction import Transaction
        db, accounts = sys.argv[1], int(sys.argv[2])
        Pool.start()
        pool = Pool(db)
        pool.init()
        with Transaction().start(db, 0, context={'_skip_warnings': True},
                _lock_tables=['hitech_crm_configuration']) as transaction:
            from trytond.modules.company.tests import (
                create_company, set_company)
            User = pool.get('res.user')
            Party = pool.get('party.party')
            Employee = pool.get('company.employee')
            Team = pool.get('hitech.sales.team')
            Form = pool.get('hitech.lead.form')
            Source = pool.get('hitech.lead.source')
            Rule = pool.get('hitech.lead.assignment.rule')
            Configuration = pool.get('hitech.crm.configuration')
            company = create_company()
            User.write([User(1)], {'companies': [('add', [company.id])],
                    'company': company.id})
            with set_company(company):
                reps = Employee.create([{'company': company.id,
                        'party': p.id} for p in Party.create([
                            {'name': 'Rep %02d' % i, 'party_kind': 'person'}
                            for i in range(20)])])
                team, = Team.create([{'name': 'Web', 'company': company.id,
                        'members': [('create', [{'employee': r.id}
                                    for r in reps])]}])
                website, = Source.search([('code', '=', 'website')])
                Form.create([{'name': 'Bench', 'code': 'bench',
                        'company': company.id, 'source': website.id}])
                Rule.create([{'name': 'Round robin', 'company': company.id,
                        'strategy': 'round_robin', 'sales_team': team.id}])
                Party.create([{'name': 'Account %06d Technology Co., Ltd.'
                        % i, 'party_kind': 'company',
                        'contact_mechanisms': [('create', [{
                            'type': 'email',
                            'value': 'info@account%06d.cn' % i}])]}
                    for i in range(accounts)])
            Configuration.write([Configuration(1)], {
                    'capture_rate_limit': 10 ** 9})
            transaction.commit()
        ''')
    subprocess.run([sys.executable, '-c', script, args.db,
            str(args.accounts)], env=env, check=True)


def run_phase(port, requests, duration):
    "Send the requests from POSTERS threads; return (latencies, errors)"
    lock = threading.Lock()
    queue = list(reversed(requests))
    latencies, errors = [], []
    deadline = time.monotonic() + duration

    def worker():
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
        while time.monotonic() < deadline:
            with lock:
                if not queue:
                    break
                path, body, headers, ok = queue.pop()
            start = time.perf_counter()
            try:
                conn.request('POST', path, body, headers)
                response = conn.getresponse()
                data = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = http.client.HTTPConnection(
                    '127.0.0.1', port, timeout=30)
                status, data = None, str(e).encode()
            elapsed = time.perf_counter() - start
            with lock:
                if status in ok and b'"error"' not in data:
                    latencies.append(elapsed)
                else:
                    errors.append((status, data[:200]))
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(POSTERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors, time.perf_counter() - started


def report(name, latencies, errors, elapsed):
    rate = len(latencies) / elapsed if elapsed else 0
    quantiles = statistics.quantiles(latencies, n=20) if len(
        latencies) > 1 else [0] * 19
    p50, p95 = statistics.median(latencies or [0]), quantiles[18]
    print("%-22s %6d ok %4d errors in %6.1f s: %7.1f/s  p50 %6.1f ms  "
        "p95 %6.1f ms" % (name, len(latencies), len(errors), elapsed,
            rate, p50 * 1000, p95 * 1000))
    if errors:
        print("   first error:", errors[0])
    return rate, p50, p95


def sql(db, query):
    "The first value of the query's answer, run by psql"
    return subprocess.run(['psql', '-d', db, '-Atc', query], check=True,
        capture_output=True, text=True).stdout.strip()


def wait_queue(db, duration):
    "Wait (at most duration seconds) until no capture nor task is pending"
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        if sql(db, "SELECT (SELECT COUNT(*) FROM "
                "hitech_lead_capture_pending) + (SELECT COUNT(*) FROM "
                "ir_queue WHERE finished_at IS NULL)") == '0':
            return True
        time.sleep(0.2)
    print("   queue not empty after %.0f s" % duration)
    return False


def main():
    args = parse_args()
    env = dict(os.environ, TRYTOND_DATABASE__URI='postgresql:///')
    env.pop('TRYTOND_CONFIG', None)
    tmp = tempfile.mkdtemp(prefix='leads-bench-')
    start = time.perf_counter()
    setup_database(args, env)
    print("database %s ready in %.0f s" % (
            args.db, time.perf_counter() - start))
    port = free_port()
    config = os.path.join(tmp, 'trytond.conf')
    with open(config, 'w') as fp:
        fp.write(textwrap.dedent('''\
            [database]
            uri = postgresql:///
            list = False
            [cache]
            clean_timeout = 0
            [queue]
            worker = True
            '''))
    gunicorn = os.path.join(os.path.dirname(sys.executable), 'gunicorn')
    server = subprocess.Popen([gunicorn, '-b', '127.0.0.1:%s' % port,
            '-w', str(args.workers), '--threads', str(args.threads),
            'trytond.application:app'],
        env=dict(env, TRYTOND_CONFIG=config,
            TRYTOND_DATABASE_NAMES=args.db),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([
            os.path.join(os.path.dirname(sys.executable), 'trytond-worker'),
            '-c', config, '-d', args.db, '-n', '1'],
        env=dict(env, TRYTOND_CONFIG=config),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        # its pool's processes are stopped with it (process group)
        start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                conn = http.client.HTTPConnection('127.0.0.1', port,
                    timeout=5)
                conn.request('POST', '/rpc/', json.dumps({'id': 1,
                            'method': 'common.server.version',
                            'params': []}),
                    {'Content-Type': 'application/json'})
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError("gunicorn did not start")
            time.sleep(0.5)

        path = '/%s/hitech/lead' % args.db
        headers = {'Content-Type': 'application/x-www-form-urlencoded',
            'Accept': 'application/json'}

        def posts(offset):
            result = []
            for i in range(args.scale):
                visitor = offset + (i if i % 10 else max(i - 5, 0))
                result.append((path, urllib.parse.urlencode({
                                'form': 'bench',
                                'name': 'Visitor %d' % visitor,
                                'company': 'Visitor Company %d' % visitor,
                                'email': 'visitor%d@bench-%d.cn' % (
                                    visitor, visitor),
                                'message': 'Please send a quote',
                                'referrer':
                                'https://www.baidu.com/s?wd=lidar',
                                }), headers, {200, 201, 202}))
            return result

        latencies, errors, elapsed = run_phase(
            port, posts(0), args.duration)
        capture = report("capture immediate", latencies, errors, elapsed)
        wait_queue(args.db, args.duration)

        sql(args.db, "UPDATE hitech_crm_configuration "
            "SET capture_queue = true")
        before = int(sql(args.db, "SELECT COUNT(*) FROM sale_opportunity"))
        started = time.perf_counter()
        latencies, errors, elapsed = run_phase(
            port, posts(args.scale), args.duration)
        queued = report("capture queued", latencies, errors, elapsed)
        wait_queue(args.db, args.duration)
        drained = time.perf_counter() - started
        created = int(sql(args.db,
                "SELECT COUNT(*) FROM sale_opportunity")) - before
        assigned = int(sql(args.db, "SELECT COUNT(*) FROM sale_opportunity "
                "WHERE employee IS NOT NULL AND id > (SELECT MAX(id) - %d "
                "FROM sale_opportunity)" % max(created, 1)))
        sustained = len(latencies) / drained if drained else 0
        print("%-22s %6d leads (%d assigned) from %d posts, last assigned "
            "after %6.1f s: %7.1f/s sustained" % ("queue", created,
                assigned, len(latencies), drained, sustained))
        sql(args.db, "UPDATE hitech_crm_configuration "
            "SET capture_queue = false")

        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
        conn.request('POST', '/%s/rpc/' % args.db, json.dumps({'id': 1,
                    'method': 'common.db.login',
                    'params': ['admin', {'password': PASSWORD}, 'en']}),
            {'Content-Type': 'application/json'})
        user_id, token, _ = json.loads(conn.getresponse().read())['result']
        auth = 'Session ' + base64.b64encode(
            ('admin:%s:%s' % (user_id, token)).encode()).decode()
        conn.request('POST', '/%s/rpc/' % args.db, json.dumps({'id': 1,
                    'method': 'model.res.user.get_preferences',
                    'params': [True, {}]}),
            {'Content-Type': 'application/json', 'Authorization': auth})
        context = json.loads(conn.getresponse().read())['result']
        creates = [('/%s/rpc/' % args.db, json.dumps({'id': 1,
                        'method': 'model.sale.opportunity.create',
                        'params': [[{'description': 'Baseline %d' % i,
                                    'lead_name': 'Baseline %d' % i}],
                            context]}),
                {'Content-Type': 'application/json',
                    'Authorization': auth}, {200})
            for i in range(args.scale)]
        latencies, errors, elapsed = run_phase(port, creates, args.duration)
        baseline = report("JSON-RPC create", latencies, errors, elapsed)
        print()
        for name, rate, p95 in [
                ("immediate", capture[0], capture[2]),
                ("queued", sustained, queued[2])]:
            print("%-9s leads/s %6.1f (target >= 100), ratio to baseline "
                "%.2f; p95 %5.0f ms (target < 300 ms), ratio to baseline "
                "%.2f" % (name, rate,
                    rate / baseline[0] if baseline[0] else 0, p95 * 1000,
                    p95 / baseline[2] if baseline[2] else 0))
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        if not args.keep:
            subprocess.run(['dropdb', '--if-exists', args.db])
    return 0


if __name__ == '__main__':
    sys.exit(main())
