# This file is part of HiTech CRM. See LICENSE for details.
"""The public ticket web form POST /<database>/hitech/ticket, over real
HTTP against two trytond servers started on 127.0.0.1 on the same
database (the rate limit is stored in the database, so it holds across
processes).

The database is built in a subprocess by trytond's own test helper
(activate_module), so it is restored from DB_CACHE when warm; it lives in
a temporary directory on SQLite, or in DB_NAME=hitech_service_route_<pid>
on PostgreSQL (TRYTOND_DATABASE__URI), dropped at the end.
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT = 10  # seconds, every HTTP call
START_TIMEOUT = 90  # seconds, server start
SETUP_TIMEOUT = 1500  # seconds, database creation (cold DB_CACHE)
SECRET = 'form-secret-2026'
PASSWORD = 'manager-password-123'
RATE_LIMIT = 4

SETUP_SCRIPT = textwrap.dedent('''
    import json, sys
    from trytond.tests.test_tryton import activate_module, DB_NAME
    activate_module(['hitech_service'])
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    from trytond.modules.company.tests import create_company, set_company
    with Transaction().start(DB_NAME, 0, readonly=False,
            _lock_tables=['hitech_service_configuration']) as transaction:
        pool = Pool(DB_NAME)
        pool.init()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        Configuration = pool.get('hitech.service.configuration')
        Category = pool.get('hitech.ticket.category')
        company = create_company()
        with set_company(company):
            Configuration.write([Configuration(1)], {
                    'web_form_secret': sys.argv[1],
                    'web_form_rate_limit': int(sys.argv[3]),
                    'web_form_max_size': 8,
                    })
            Category.create([{'name': "Hardware", 'code': 'HW'}])
            User.create([{
                        'login': 'manager', 'password': sys.argv[2],
                        'companies': [('add', [company.id])],
                        'company': company.id,
                        'groups': [('add', [ModelData.get_id(
                                        'hitech_service',
                                        'group_service_manager')])],
                        }])
        transaction.commit()
    print(json.dumps({'company': company.id}))
    ''')


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class TicketRouteTestCase(unittest.TestCase):
    "The ticket web form through two running trytond servers"

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix='hitech-service-route-')
        cls.servers = []
        cls.logs = []
        cls.env = env = os.environ.copy()
        uri = env.get('TRYTOND_DATABASE__URI') or env.get(
            'TRYTOND_DATABASE_URI') or ''
        cls.postgresql = uri.startswith('postgresql')
        cls.db_name = 'hitech_service_route_%s' % os.getpid()
        env['DB_NAME'] = cls.db_name
        env.pop('TRYTOND_CONFIG', None)
        root = os.path.dirname(os.path.dirname(os.path.dirname(
                    os.path.dirname(os.path.abspath(__file__)))))
        env.setdefault('DB_CACHE', os.path.join(
                root, 'var', 'cache',
                'postgresql' if cls.postgresql else 'sqlite'))
        if not cls.postgresql:
            env['TRYTOND_DATABASE__PATH'] = cls.tmp
        try:
            cls._setup_database()
            cls.ports = [cls._start_server(), cls._start_server()]
        except Exception:
            cls.tearDownClass()
            raise
        cls._ip = 0

    @classmethod
    def _setup_database(cls):
        if cls.postgresql:
            subprocess.run(['dropdb', '--if-exists', cls.db_name],
                env=cls.env, timeout=60, capture_output=True)
        result = subprocess.run(
            [sys.executable, '-c', SETUP_SCRIPT, SECRET, PASSWORD,
                str(RATE_LIMIT)],
            env=cls.env, cwd=cls.tmp, timeout=SETUP_TIMEOUT,
            capture_output=True, text=True)
        if result.returncode:
            raise RuntimeError(
                "database setup failed:\n" + result.stderr[-3000:])

    @classmethod
    def _start_server(cls):
        port = _free_port()
        config = os.path.join(cls.tmp, 'trytond-%s.conf' % port)
        with open(config, 'w') as fp:
            fp.write(textwrap.dedent(f'''\
                [database]
                path = {cls.tmp}
                list = False
                [web]
                listen = 127.0.0.1:{port}
                num_proxies = 1
                [session]
                authentications = password
                [queue]
                worker = False
                '''))
        log = open(os.path.join(cls.tmp, 'trytond-%s.log' % port), 'wb')
        cls.logs.append(log)
        trytond = os.path.join(os.path.dirname(sys.executable), 'trytond')
        server = subprocess.Popen(
            [trytond, '-c', config, '-d', cls.db_name],
            env=cls.env, cwd=cls.tmp, stdout=log, stderr=subprocess.STDOUT)
        cls.servers.append(server)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise RuntimeError("trytond exited: %s" % cls._log_tail(log))
            try:
                status, _ = cls._request(
                    port, '/rpc/', json.dumps({
                            'id': 1, 'method': 'common.server.version',
                            'params': []}).encode(),
                    {'Content-Type': 'application/json'})
                if status == 200:
                    return port
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError("trytond did not start: %s" % cls._log_tail(log))

    @classmethod
    def _log_tail(cls, log):
        log.flush()
        with open(log.name, 'rb') as fp:
            return fp.read()[-3000:].decode('utf-8', 'replace')

    @classmethod
    def tearDownClass(cls):
        for server in cls.servers:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
        cls.servers = []
        for log in cls.logs:
            log.close()
        if cls.postgresql:
            subprocess.run(['dropdb', '--if-exists', cls.db_name],
                env=cls.env, timeout=60, capture_output=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def _request(cls, port, path, data=None, headers=None):
        request = urllib.request.Request(
            f'http://127.0.0.1:{port}{path}', data=data,
            headers=headers or {}, method='POST')
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def new_ip(self):
        "A client address of its own (X-Forwarded-For, num_proxies = 1)"
        type(self)._ip += 1
        return '198.51.100.%d' % type(self)._ip

    def post(self, body, content_type='application/json', secret=SECRET,
            ip=None, server=0, extra_headers=None):
        "Return (status, decoded JSON answer)"
        if content_type == 'application/json' and not isinstance(
                body, bytes):
            body = json.dumps(body).encode()
        elif not isinstance(body, bytes):
            body = urllib.parse.urlencode(body).encode()
        headers = {
            'Content-Type': content_type,
            'X-Forwarded-For': ip or self.new_ip(),
            }
        if secret:
            headers['X-HiTech-Secret'] = secret
        headers.update(extra_headers or {})
        status, raw = self._request(
            self.ports[server], f'/{self.db_name}/hitech/ticket', body,
            headers)
        self.assertNotIn(b'Traceback', raw)
        try:
            answer = json.loads(raw)
        except ValueError:
            self.fail("not a JSON answer (%s): %r" % (status, raw[:300]))
        return status, answer

    def rpc(self, method, *params):
        if not hasattr(self, '_auth'):
            status, raw = self._request(
                self.ports[0], f'/{self.db_name}/rpc/', json.dumps({
                        'id': 1, 'method': 'common.db.login',
                        'params': ['manager', {'password': PASSWORD},
                            'en']}).encode(),
                {'Content-Type': 'application/json'})
            user_id, token, _ = json.loads(raw)['result']
            type(self)._auth = 'Session ' + base64.b64encode(
                f'manager:{user_id}:{token}'.encode()).decode()
        status, raw = self._request(
            self.ports[0], f'/{self.db_name}/rpc/', json.dumps({
                    'id': 1, 'method': method,
                    'params': [*params, {}]}).encode(),
            {'Content-Type': 'application/json',
                'Authorization': self._auth})
        self.assertEqual(status, 200, raw)
        return json.loads(raw)['result']

    def tickets(self, subject):
        return self.rpc('model.hitech.ticket.search_read',
            [['subject', '=', subject]], 0, None, None,
            ['number', 'channel', 'category', 'description', 'priority',
                'messages'])

    # Tests

    def test_json_creates_ticket(self):
        "A JSON submission creates a web ticket with its first message"
        status, answer = self.post({
                'subject': "Laser <b>drifts</b> 激光",
                'description': "Since the update",
                'email': 'Lab@Example.com', 'name': "Dr. Who",
                'category': 'HW', 'serial_number': 'SN-1'})
        self.assertEqual(status, 201, answer)
        self.assertEqual(answer['status'], 'created')
        ticket, = self.tickets("Laser <b>drifts</b> 激光")
        self.assertEqual(ticket['number'], answer['number'])
        self.assertEqual(ticket['channel'], 'web')
        self.assertEqual(ticket['priority'], 'normal')
        self.assertTrue(ticket['category'])
        message, = self.rpc('model.hitech.ticket.message.read',
            ticket['messages'], ['direction', 'email_from', 'body'])
        self.assertEqual(message['direction'], 'incoming')
        self.assertEqual(message['email_from'], 'lab@example.com')
        self.assertIn("Dr. Who", message['body'])

    def test_form_encoded_creates_ticket(self):
        "A form-encoded submission on the other server works the same"
        status, answer = self.post(
            {'subject': "Form ticket", 'email': 'form@example.com'},
            content_type='application/x-www-form-urlencoded', server=1)
        self.assertEqual(status, 201, answer)
        self.assertEqual(len(self.tickets("Form ticket")), 1)

    def test_bad_input(self):
        "Bad submissions get a clean 4xx JSON answer and create nothing"
        cases = [
            ({'email': 'a@example.com'}, 400, 'subject'),
            ({'subject': "No email"}, 400, 'email'),
            ({'subject': "Bad email", 'email': 'nope'}, 400, 'email'),
            ({'subject': "Prio", 'email': 'a@example.com',
                'priority': 'urgent'}, 400, 'priority'),
            ({'subject': ["list"], 'email': 'a@example.com'}, 400,
                'subject'),
            ({'subject': "Cat", 'email': 'a@example.com',
                'category': 'NOPE'}, 400, 'category'),
            ({'subject': "Prod", 'email': 'a@example.com',
                'product': 'NOPE'}, 400, 'product'),
            ]
        for body, status, field in cases:
            with self.subTest(body=body):
                got, answer = self.post(body)
                self.assertEqual(got, status, answer)
                self.assertEqual(answer['status'], 'error')
                self.assertEqual(answer.get('field'), field)
                self.assertTrue(answer['error'])
        for raw in [b'{"subject": ', b'[1, 2]', b'"text"', b'\xff\xfe']:
            with self.subTest(raw=raw):
                got, answer = self.post(raw)
                self.assertEqual(got, 400, answer)
        got, answer = self.post(b'subject=x', content_type='text/plain')
        self.assertEqual(got, 415, answer)
        for subject in ["Prio", "Cat", "Prod", "No email"]:
            self.assertEqual(self.tickets(subject), [])

    def test_size_limit(self):
        "Submissions above the configured size are refused with 413"
        got, answer = self.post({
                'subject': "Big", 'email': 'a@example.com',
                'description': 'x' * (9 * 1024)})
        self.assertEqual(got, 413, answer)
        got, answer = self.post({
                'subject': "Huge", 'email': 'a@example.com',
                'description': 'x' * (2 * 1024 * 1024)})
        self.assertEqual(got, 413, answer)
        self.assertEqual(self.tickets("Big"), [])

    def test_secret(self):
        "Without the shared secret nothing is created"
        for secret in [None, 'wrong']:
            with self.subTest(secret=secret):
                got, answer = self.post(
                    {'subject': "Sneaky", 'email': 'a@example.com'},
                    secret=secret)
                self.assertEqual(got, 403, answer)
        got, answer = self.post(
            {'subject': "Field secret", 'email': 'a@example.com',
                'secret': SECRET}, secret=None)
        self.assertEqual(got, 201, answer)
        self.assertEqual(self.tickets("Sneaky"), [])

    def test_honeypot(self):
        "A filled honeypot field is answered 202 and creates nothing"
        got, answer = self.post({
                'subject': "Buy pills", 'email': 'bot@example.com',
                'website': 'http://spam.example'})
        self.assertEqual(got, 202, answer)
        self.assertNotIn('number', answer)
        self.assertEqual(self.tickets("Buy pills"), [])

    def test_rate_limit_across_servers(self):
        "One address gets RATE_LIMIT submissions per hour on all servers"
        ip = self.new_ip()
        statuses = []
        for index in range(RATE_LIMIT + 2):
            got, answer = self.post(
                {'subject': "Rate %d" % index, 'email': 'r@example.com'},
                ip=ip, server=index % 2)
            statuses.append(got)
        self.assertEqual(statuses, [201] * RATE_LIMIT + [429, 429])
        self.assertEqual(answer['code'], 'rate_limited')
        # another address is not affected
        got, _ = self.post({'subject': "Other", 'email': 'o@example.com'})
        self.assertEqual(got, 201)
