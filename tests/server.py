# This file is part of HiTech CRM. See LICENSE for details.
"""A real trytond server for tests that talk HTTP to it.

The database is built in a subprocess by trytond's own test helper
(activate_module in the given script), so it is restored from DB_CACHE
when warm; it lives in a temporary directory on SQLite, or in the
PostgreSQL database ``<prefix>_<pid>`` (TRYTOND_DATABASE__URI), dropped
by ``stop``.  The server listens on 127.0.0.1 on a free port.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_TIMEOUT = 60  # seconds, server start
SETUP_TIMEOUT = 600  # seconds, database creation (cold DB_CACHE)


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class TrytondServer:
    """A temporary database and the trytond process serving it.

    config is added to the trytond configuration file (sections
    [session], [email], ...); web holds extra lines of its [web]
    section."""

    def __init__(self, prefix, config='', timeout=10, web=''):
        self.tmp = tempfile.mkdtemp(prefix=prefix + '-')
        self.process = None
        self.log = None
        self.port = None
        self.timeout = timeout
        self.extra_config = textwrap.dedent(config)
        # lines of the [web] section (num_proxies = 1, ...)
        self.web_config = textwrap.dedent(web).strip()
        self.env = env = os.environ.copy()
        uri = env.get('TRYTOND_DATABASE__URI') or env.get(
            'TRYTOND_DATABASE_URI') or ''
        self.postgresql = uri.startswith('postgresql')
        self.db_name = '%s_%s' % (prefix, os.getpid())
        env['DB_NAME'] = self.db_name
        env.pop('TRYTOND_CONFIG', None)
        env.setdefault('DB_CACHE', os.path.join(
                ROOT, 'var', 'cache',
                'postgresql' if self.postgresql else 'sqlite'))
        cache = env['DB_CACHE']
        if '://' not in cache and not os.path.isabs(cache):
            # the scripts run in the temporary directory
            env['DB_CACHE'] = os.path.abspath(cache)
        # the SQLite files, or the filestore of PostgreSQL (attachments):
        # the scripts and the server must share it
        env['TRYTOND_DATABASE__PATH'] = self.tmp

    def run_script(self, script, *args, timeout=SETUP_TIMEOUT):
        "Run a Python script against the database, return its stdout"
        result = subprocess.run(
            [sys.executable, '-c', script, *args],
            env=self.env, cwd=self.tmp, timeout=timeout,
            capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError("script failed:\n" + result.stderr[-3000:])
        return result.stdout

    def setup_database(self, script, *args):
        """Create the database with script (which activates the modules)
        and return the JSON the script printed on its last line"""
        if self.postgresql:
            subprocess.run(['dropdb', '--if-exists', self.db_name],
                env=self.env, timeout=60, capture_output=True)
        out = self.run_script(script, *args)
        return json.loads(out.strip().splitlines()[-1])

    def start(self):
        "Start trytond and wait until it answers JSON-RPC"
        self.port = _free_port()
        config = os.path.join(self.tmp, 'trytond.conf')
        with open(config, 'w') as fp:
            fp.write(textwrap.dedent(f'''\
                [database]
                path = {self.tmp}
                list = False
                [web]
                listen = 127.0.0.1:{self.port}
                ''') + (self.web_config + '\n' if self.web_config else '')
                + textwrap.dedent('''\
                [queue]
                worker = False
                ''') + self.extra_config)
        self.log = open(os.path.join(self.tmp, 'trytond.log'), 'wb')
        trytond = os.path.join(os.path.dirname(sys.executable), 'trytond')
        self.process = subprocess.Popen(
            [trytond, '-c', config, '-d', self.db_name],
            env=self.env, cwd=self.tmp, stdout=self.log,
            stderr=subprocess.STDOUT)
        data = json.dumps({
                'id': 1, 'method': 'common.server.version',
                'params': []}).encode()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("trytond exited: %s" % self.log_tail())
            try:
                status, _, _ = self.request('POST', '/rpc/', data,
                    {'Content-Type': 'application/json'})
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("trytond did not start: %s" % self.log_tail())

    def request(self, method, path, data=None, headers=None):
        "Return (status, body, headers) of an HTTP request to the server"
        request = urllib.request.Request(
            'http://127.0.0.1:%s%s' % (self.port, path),
            data=data, headers=headers or {}, method=method)
        try:
            with urllib.request.urlopen(
                    request, timeout=self.timeout) as response:
                return response.status, response.read(), response.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers

    def log_tail(self):
        if not self.log:
            return ''
        self.log.flush()
        with open(self.log.name, 'rb') as fp:
            return fp.read()[-3000:].decode('utf-8', 'replace')

    def stop(self):
        "Stop the server, drop the database and remove the files"
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
            self.process = None
        if self.log:
            self.log.close()
            self.log = None
        if self.postgresql:
            subprocess.run(['dropdb', '--if-exists', self.db_name],
                env=self.env, timeout=60, capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)
