# This file is part of HiTech CRM. See LICENSE for details.
"""What the PostgreSQL benchmarks share: a dedicated database created and
activated with trytond-admin, the Pool started on it, and the database
dropped at the end unless it is kept."""
import os
import subprocess
import sys
import tempfile
import time


def create_database(db, modules, keep):
    """Create db and activate modules (a list) with their dependencies;
    return False when db exists and keep is set (it is reused as is)"""
    env = dict(os.environ, TRYTOND_DATABASE__URI='postgresql:///')
    env.pop('TRYTOND_CONFIG', None)
    exists = subprocess.run(
        ['psql', '-d', 'postgres', '-tAc',
            "SELECT 1 FROM pg_database WHERE datname='%s'" % db],
        capture_output=True, text=True, check=True).stdout.strip()
    if exists and keep:
        return False
    if exists:
        subprocess.run(['dropdb', db], check=True)
    subprocess.run(['createdb', '-E', 'UTF8', '-T', 'template0', db],
        check=True)
    with tempfile.NamedTemporaryFile('w', suffix='.pass') as passfile:
        passfile.write('bench-admin-password\n')
        passfile.flush()
        env['TRYTONPASSFILE'] = passfile.name
        admin = os.path.join(os.path.dirname(sys.executable), 'trytond-admin')
        start = time.perf_counter()
        subprocess.run([admin, '-d', db, '--all',
                '--email', 'admin@example.com'], env=env, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([admin, '-d', db, '-u', *modules,
                '--activate-dependencies'], env=env, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print("database %s activated in %.0f s" % (
                db, time.perf_counter() - start))
    return True


def start_pool(db):
    "Start the Pool on db (PostgreSQL, no configuration file); return it"
    os.environ['TRYTOND_DATABASE__URI'] = 'postgresql:///'
    os.environ.pop('TRYTOND_CONFIG', None)
    from trytond.pool import Pool
    Pool.start()
    pool = Pool(db)
    pool.init()
    return pool


def stop_pool(db, keep):
    "Stop the Pool on db, close its connections and drop it unless keep"
    if not keep:
        from trytond.pool import Pool
        Pool.stop(db)
        from trytond import backend
        backend.Database(db).close()
        subprocess.run(['dropdb', '--if-exists', db])
