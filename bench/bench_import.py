#!/usr/bin/env python
# This file is part of HiTech CRM. See LICENSE for details.
"""Throughput of the account import against stock Party.create.

Creates a PostgreSQL database with hitech_crm_base activated (unless
--keep-db finds it), generates a CSV of accounts with phones, mobiles,
emails and addresses (2 % duplicates), then measures:

(a) stock: Party.create in batches of 1,000 with the same rows, contact
    mechanisms and addresses given as nested creates, as a script or an
    RPC client would do it (on a subset; rolled back), in this database
    (with the create hooks of hitech_crm_base: normalised names, duplicate
    keys, stage history) and in a second database where only the stock
    party module is activated (*plain stock*, the issue's baseline; kept
    between runs, --no-plain-stock skips it);
(b) the import job (validate + run, commit per batch) over the full file,
    as the admin user with access checks.

It prints rows/s for both and the ratio. No assertion on time.

    .venv/bin/python bench/bench_import.py [--rows 100000] [--stock-rows 5000]
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--database', default='imp_bench')
    parser.add_argument('--rows', type=int, default=100_000)
    parser.add_argument('--stock-rows', type=int, default=2_000)
    parser.add_argument('--batch-size', type=int, default=1_000,
        help="batch size of stock Party.create")
    parser.add_argument('--import-batch-size', type=int, default=1_000,
        help="batch size of the import job")
    parser.add_argument('--seed', type=int, default=42)
    parser.add_argument('--keep-db', action='store_true',
        help="reuse the database if it exists (activated module)")
    parser.add_argument('--no-plain-stock', dest='plain_stock',
        action='store_false',
        help="do not measure Party.create with only the party module")
    return parser.parse_args()


def setup_database(args, workdir):
    conf = os.path.join(workdir, 'trytond.conf')
    with open(conf, 'w') as fp:
        fp.write('[database]\nuri = postgresql:///\npath = %s\n' % workdir)
        # 100,000 rows with Chinese names are about 15 MB
        fp.write('[hitech_import]\nmax_file_size = %d\n' % (64 * 1024 ** 2))
    os.environ['TRYTOND_CONFIG'] = conf
    exists = subprocess.run(
        ['psql', '-d', 'postgres', '-tAc',
            "SELECT 1 FROM pg_database WHERE datname = '%s'" % args.database],
        capture_output=True, text=True).stdout.strip() == '1'
    if exists and args.keep_db:
        # bring the kept database to the code's models
        admin = os.path.join(os.path.dirname(sys.executable), 'trytond-admin')
        subprocess.run([admin, '-c', conf, '-d', args.database,
                '-u', 'hitech_crm_base'], check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return conf
    if exists:
        subprocess.run(['dropdb', args.database], check=True)
    subprocess.run(['createdb', '-E', 'UTF8', '-T', 'template0',
            args.database], check=True)
    passfile = os.path.join(workdir, 'pass')
    with open(passfile, 'w') as fp:
        fp.write('admin-bench-password\n')
    env = dict(os.environ, TRYTONPASSFILE=passfile)
    admin = os.path.join(os.path.dirname(sys.executable), 'trytond-admin')
    start = time.time()
    subprocess.run([admin, '-c', conf, '-d', args.database, '--all',
            '--email', 'admin@example.com'], check=True, env=env)
    subprocess.run([admin, '-c', conf, '-d', args.database,
            '-u', 'hitech_crm_base', '--activate-dependencies'],
        check=True, env=env)
    print("database %s ready in %.0f s" % (args.database, time.time() - start))
    return conf


CITIES = [('北京', '010', '100000'), ('上海', '021', '200000'),
    ('深圳', '0755', '518000'), ('杭州', '0571', '310000'),
    ('成都', '028', '610000'), ('武汉', '027', '430000')]


def generate_rows(n, seed=42):
    """Rows of the file: distinct company names (the duplicate finder
    would rightly flag names one digit apart), 2 % of them repeat an
    earlier row (other case)"""
    import phonenumbers
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_dedup import Generator
    names = Generator(seed)
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        if i > 100 and rnd.random() < 0.02:
            name, *rest = rows[rnd.randrange(i - 100)]
            rows.append([name.upper(), *rest])
            continue
        city, area, postal = CITIES[i % len(CITIES)]
        while True:
            phone = '%s %d%07d' % (
                area, rnd.randint(5, 6), rnd.randrange(10**7))
            if phonenumbers.is_valid_number(phonenumbers.parse(phone, 'CN')):
                break
        mobile = '%s %04d %04d' % (
            rnd.choice(['138', '139', '150', '158', '186', '188']),
            rnd.randrange(10**4), rnd.randrange(10**4))
        rows.append([
                names.name(),
                phone, mobile, 'sales%06d@bench%d.example' % (i, i % 97),
                '科技园路 %d 号' % (i % 500 + 1), city, postal, 'CN'])
    return rows


HEADER = ['公司名称', '电话', '手机', '邮箱', '地址', '城市', '邮编', '国家']


def stock_values(row):
    name, phone, mobile, email, street, city, postal, country = row
    return {
        'name': name,
        'addresses': [('create', [{
                        'street': street, 'city': city, 'postal_code': postal,
                        'country': country}])],
        'contact_mechanisms': [('create', [
                    {'type': 'phone', 'value': phone},
                    {'type': 'mobile', 'value': mobile},
                    {'type': 'email', 'value': email}])],
        }


def stock_create(pool, database, rows, batch_size):
    """Time Party.create of rows in batches as the admin user of database,
    rolled back; return rows/s"""
    from trytond.transaction import Transaction, check_access
    with Transaction().start(database, 0, readonly=True):
        User = pool.get('res.user')
        admin, = User.search([('login', '=', 'admin')])
        admin_id = admin.id
    with Transaction().start(database, admin_id) as transaction:
        Country = pool.get('country.country')
        Party = pool.get('party.party')
        cn = Country.search([('code', '=', 'CN')])
        if not cn:
            cn = Country.create([{'name': 'China', 'code': 'CN'}])
            transaction.commit()
        cn_id = cn[0].id
        values = []
        for row in rows:
            value = stock_values(row)
            value['addresses'][0][1][0]['country'] = cn_id
            values.append(value)
        start = time.perf_counter()
        # as a script would: access checks, no confirmation asked
        with check_access(), transaction.set_context(_skip_warnings=True):
            for i in range(0, len(values), batch_size):
                Party.create(values[i:i + batch_size])
        stock_time = time.perf_counter() - start
        transaction.rollback()
    return len(rows) / stock_time, stock_time


def main():
    args = parse_args()
    workdir = tempfile.mkdtemp(prefix='imp_bench_')
    setup_database(args, workdir)

    from trytond.pool import Pool
    from trytond.transaction import Transaction, check_access

    rows = generate_rows(args.rows, seed=args.seed)
    path = os.path.join(workdir, 'accounts.csv')
    import csv
    with open(path, 'w', newline='', encoding='utf-8') as fp:
        writer = csv.writer(fp)
        writer.writerow(HEADER)
        writer.writerows(rows)
    print("file: %d rows, %.1f MB" % (len(rows), os.path.getsize(path) / 1e6))

    Pool.start()
    pool = Pool(args.database)
    pool.init()
    with Transaction().start(args.database, 0, readonly=True):
        User = pool.get('res.user')
        admin, = User.search([('login', '=', 'admin')])
        admin_id = admin.id
    if args.keep_db:
        # start from an empty base: the accounts of earlier runs would be
        # found as duplicates of this run's
        with Transaction().start(args.database, 0) as transaction:
            cursor = transaction.connection.cursor()
            cursor.execute('DELETE FROM party_party WHERE create_uid = %s',
                (admin_id,))
            cursor.execute('DELETE FROM hitech_import_job')

    # (a) stock Party.create, batches of 1,000, rolled back
    stock_rows = rows[:args.stock_rows]
    stock_rate, stock_time = stock_create(
        pool, args.database, stock_rows, args.batch_size)
    print("(a) stock Party.create with hitech_crm_base: %d rows in %.1f s "
        "= %.0f rows/s" % (len(stock_rows), stock_time, stock_rate))
    plain_rate = None
    if args.plain_stock:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from common import create_database
        plain_db = args.database + '_stock'
        create_database(plain_db, ['party'], keep=True)
        plain_pool = Pool(plain_db)
        plain_pool.init()
        plain_rate, plain_time = stock_create(
            plain_pool, plain_db, stock_rows, args.batch_size)
        print("    plain stock Party.create (only party activated): "
            "%d rows in %.1f s = %.0f rows/s" % (
                len(stock_rows), plain_time, plain_rate))

    # (b) the import job over the full file
    with open(path, 'rb') as fp:
        data = fp.read()
    with Transaction().start(args.database, admin_id) as transaction:
        Job = pool.get('hitech.import.job')
        with check_access():
            job, = Job.create([{'file': data, 'filename': 'accounts.csv',
                        'commit_mode': 'batch',
                        'batch_size': args.import_batch_size,
                        'skip_invalid': True}])
            start = time.perf_counter()
            Job.validate_file([job])
            validate_time = time.perf_counter() - start
            Job.import_([job])
        transaction.commit()
        start = time.perf_counter()
        # the queue task runs as the user, with access checks
        if os.environ.get('BENCH_PROFILE'):
            import cProfile
            import pstats
            profile = cProfile.Profile()
            profile.runcall(Job.run_import, [job])
            stats = pstats.Stats(profile).sort_stats('cumulative')
            stats.print_stats(45)
            for name in os.environ['BENCH_PROFILE'].split(','):
                if name != '1':
                    stats.print_callers(name)
        else:
            Job.run_import([job])
        run_time = time.perf_counter() - start
        job = Job(job.id)
        transaction.commit()
        print("(b) import job: state %s, %d created, %d duplicates, "
            "%d errors" % (job.state, job.created_count, job.duplicate_count,
                job.error_count))
        if job.message:
            print("    message: %s" % job.message)
    if job.state != 'done':
        print("the import did not finish: no rate")
        return
    import_rate = len(rows) / (validate_time + run_time)
    print("    validate %.1f s + import %.1f s for %d rows = %.0f rows/s "
        "(import alone %.0f rows/s)" % (validate_time, run_time, len(rows),
            import_rate, len(rows) / run_time))
    print("ratio import / stock with hitech_crm_base: %.1fx "
        "(import alone %.1fx)" % (
            import_rate / stock_rate, len(rows) / run_time / stock_rate))
    if plain_rate:
        print("ratio import / plain stock: %.1fx (import alone %.1fx)" % (
                import_rate / plain_rate, len(rows) / run_time / plain_rate))


if __name__ == '__main__':
    main()
