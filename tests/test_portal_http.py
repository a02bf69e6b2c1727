# This file is part of HiTech CRM. See LICENSE for details.
"""The customer portal over real HTTP.

A trytond server is started on 127.0.0.1 (free port) against a temporary
database with hitech_service activated (built in a subprocess by trytond's
own test helper, so restored from DB_CACHE when warm; SQLite in a temporary
directory, or DB_NAME=service_portal_http_<pid> on PostgreSQL, dropped at
the end; see tests/server.py).

Two customers, A (Acme, contact Alice) and B (Bolt, contact Bob), each have
tickets, messages and attachments.  Alice logs in to the portal and every
way of reaching Bolt's data is tried: listing, reading, guessing
sequential ids, replying, attaching, downloading, crafted JSON with Bolt's
ids or party, mass assignment of fields.  Then sessions (CSRF, logout,
expiry, login throttling), uploads (size, sniffed type), escaping in the
HTML pages, knowledge search and surveys.
"""
import http.client
import json
import os
import re
import textwrap
import unittest
import urllib.parse
import uuid

from .server import TrytondServer

TIMEOUT = 20  # seconds, every HTTP call (failed logins are slowed down)
XSS = '<script>alert("x")</script>'
EMAILS = {
    'a': 'alice@example.com',
    'b': 'bob@example.com',
    'c': 'chen@example.com',  # her party reads Traditional Chinese
    }

SETUP_SCRIPT = textwrap.dedent('''
    import json, sys
    from trytond.tests.test_tryton import activate_module, DB_NAME
    activate_module(['hitech_service'])
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    from trytond.modules.company.tests import create_company, set_company
    xss = sys.argv[1]
    pool = Pool(DB_NAME)
    pool.init()
    # the configuration is a singleton: its creation locks its table
    locks = [pool.get('hitech.service.configuration')._table]
    with Transaction().start(DB_NAME, 0, readonly=False,
            _lock_tables=locks) as transaction:
        Party = pool.get('party.party')
        WebUser = pool.get('web.user')
        Ticket = pool.get('hitech.ticket')
        Message = pool.get('hitech.ticket.message')
        Attachment = pool.get('ir.attachment')
        Survey = pool.get('hitech.ticket.survey')
        Article = pool.get('hitech.kb.article')
        Lang = pool.get('ir.lang')
        Configuration = pool.get('hitech.service.configuration')
        company = create_company()
        out = {}
        with set_company(company):
            Configuration.write([Configuration(1)], {
                    'portal_attachment_max_size': 4096})
            for key, account_name, contact_name, email in [
                    ('a', 'Acme', 'Alice', 'alice@example.com'),
                    ('b', 'Bolt', 'Bob', 'bob@example.com')]:
                account, = Party.create([{
                            'name': account_name, 'party_kind': 'company'}])
                contact, = Party.create([{
                            'name': contact_name, 'party_kind': 'person'}])
                WebUser.create([{
                            'email': email,
                            'password': 'portal-%s-password' % key,
                            'party': contact.id,
                            'secondary_parties': [('add', [account.id])],
                            }])
                tickets = Ticket.create([{
                            'company': company.id,
                            'subject': '%s ticket %s' % (account_name, i),
                            'description': xss if i == 0 else 'text',
                            'account': account.id,
                            'contact': contact.id,
                            'channel': 'email',
                            } for i in range(3)])
                messages = Message.create([{
                            'ticket': tickets[0].id,
                            'direction': 'outgoing',
                            'body': 'Hello %s' % contact_name,
                            }, {
                            'ticket': tickets[0].id,
                            'direction': 'internal',
                            'body': 'secret note on %s' % account_name,
                            }])
                attachments = Attachment.create([{
                            'name': '%s.txt' % account_name,
                            'resource': str(tickets[0]),
                            'data': b'file of ' + account_name.encode(),
                            }, {
                            'name': 'internal.txt',
                            'resource': str(messages[1]),
                            'data': b'internal',
                            }, {
                            'name': 'reply.txt',
                            'resource': str(messages[0]),
                            'data': b'reply file',
                            }])
                # closing sends the satisfaction survey
                Ticket.write([tickets[2]], {'state': 'closed'})
                survey, = Survey.search([('ticket', '=', tickets[2].id)])
                # a closed ticket whose survey the HTML page answers
                page_closed, = Ticket.create([{
                            'company': company.id,
                            'subject': '%s closed for the page' % (
                                account_name),
                            'account': account.id,
                            'contact': contact.id,
                            'channel': 'email',
                            }])
                Ticket.write([page_closed], {'state': 'closed'})
                out[key] = {
                    'account': account.id,
                    'contact': contact.id,
                    'tickets': [t.id for t in tickets],
                    'closed': tickets[2].id,
                    'page_closed': page_closed.id,
                    'attachment': attachments[0].id,
                    'internal_attachment': attachments[1].id,
                    'reply_attachment': attachments[2].id,
                    'internal_message': messages[1].id,
                    'survey_token': survey.get_token(),
                    }
            lang, = Lang.search([('code', '=', 'en')])
            Article.create([{
                        'title': 'Printer paper jam',
                        'problem': 'The printer reports a paper jam.',
                        'resolution': 'Open tray 2 and remove the sheet.',
                        'language': lang.id,
                        'visibility': 'public',
                        'state': 'published',
                        }, {
                        'title': 'Printer firmware internal notes',
                        'problem': 'Printer firmware internal notes.',
                        'resolution': 'Internal only.',
                        'language': lang.id,
                        'visibility': 'internal',
                        'state': 'published',
                        }])
            # the Chinese translations (zh_TW comes with hitech_crm_base)
            zh_cn, = Lang.search([('code', '=', 'zh_CN')])
            zh_tw, = Lang.search([('code', '=', 'zh_TW')])
            Lang.load_translations([zh_cn, zh_tw])
            # C, whose contact reads Traditional Chinese
            account, = Party.create([{
                        'name': 'Cathay', 'party_kind': 'company'}])
            contact, = Party.create([{
                        'name': 'Chen', 'party_kind': 'person',
                        'lang': zh_tw.id}])
            WebUser.create([{
                        'email': 'chen@example.com',
                        'password': 'portal-c-password',
                        'party': contact.id,
                        'secondary_parties': [('add', [account.id])],
                        }])
            closed, = Ticket.create([{
                        'company': company.id,
                        'subject': 'Cathay closed ticket',
                        'account': account.id,
                        'contact': contact.id,
                        'channel': 'email',
                        }])
            Ticket.write([closed], {'state': 'closed'})
            survey, = Survey.search([('ticket', '=', closed.id)])
            out['c'] = {
                'closed': closed.id,
                'survey_token': survey.get_token(),
                }
        transaction.commit()
    print(json.dumps(out))
    ''')

AGE_SESSION_SCRIPT = textwrap.dedent('''
    import datetime, sys
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    from trytond.tests.test_tryton import DB_NAME
    with Transaction().start(DB_NAME, 0, readonly=False) as transaction:
        pool = Pool(DB_NAME)
        pool.init()
        Session = pool.get('web.user.session')
        table = Session.__table__()
        old = datetime.datetime.now() - datetime.timedelta(days=400)
        cursor = transaction.connection.cursor()
        cursor.execute(*table.update(
                [table.create_date, table.write_date], [old, old],
                where=table.key == sys.argv[1]))
        transaction.commit()
    ''')


SUBJECTS_SCRIPT = textwrap.dedent('''
    import json, sys
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    from trytond.tests.test_tryton import DB_NAME
    with Transaction().start(DB_NAME, 0, readonly=True) as transaction:
        pool = Pool(DB_NAME)
        pool.init()
        table = pool.get('hitech.ticket').__table__()
        cursor = transaction.connection.cursor()
        ids = [int(i) for i in sys.argv[1].split(',')]
        cursor.execute(*table.select(table.subject,
                where=table.id.in_(ids) | (table.number == sys.argv[2]),
                order_by=[table.id]))
        print(json.dumps([subject for subject, in cursor]))
    ''')
CJK = re.compile('[\u3400-\u9fff]')


class Client:
    "A portal client holding its cookie and CSRF token"

    def __init__(self, test, cookie=None, csrf=None, bearer=None):
        self.test = test
        self.cookie = cookie
        self.csrf = csrf
        self.bearer = bearer

    def request(self, method, path, data=None, headers=None, csrf=True):
        headers = dict(headers or {})
        if self.cookie:
            headers['Cookie'] = 'hitech_portal=%s' % self.cookie
        if self.bearer:
            headers['Authorization'] = 'Bearer %s' % self.bearer
        if csrf and self.csrf and method != 'GET':
            headers['X-CSRF-Token'] = self.csrf
        if isinstance(data, (dict, list)):
            data = json.dumps(data).encode()
            headers.setdefault('Content-Type', 'application/json')
        return self.test.http(method, path, data, headers)

    def json(self, method, path, data=None, **kwargs):
        status, body, headers = self.request(method, path, data, **kwargs)
        self.test.assertNotIn(b'Traceback', body)
        try:
            return status, json.loads(body)
        except ValueError:
            self.test.fail("not JSON (%s): %r" % (status, body[:300]))

    def upload(self, ticket, name, content, content_type='text/plain'):
        boundary = uuid.uuid4().hex
        body = (
            ('--%s\r\nContent-Disposition: form-data; name="file"; '
                'filename="%s"\r\nContent-Type: %s\r\n\r\n') % (
                boundary, name, content_type)).encode() + content + (
            '\r\n--%s--\r\n' % boundary).encode()
        return self.json('POST', 'tickets/%s/attachments' % ticket, body,
            headers={
                'Content-Type': 'multipart/form-data; boundary=%s' % boundary,
                })


class Browser:
    "A browser on the HTML pages: its cookie, forms, no redirect followed"

    def __init__(self, test):
        self.test = test
        self.cookie = None

    def request(self, method, path, form=None, files=None, headers=None):
        headers = dict(headers or {})
        if self.cookie:
            headers['Cookie'] = 'hitech_portal=%s' % self.cookie
        data = None
        if files is not None:
            boundary = uuid.uuid4().hex
            parts = []
            for name, value in (form or {}).items():
                parts.append((
                        '--%s\r\nContent-Disposition: form-data; '
                        'name="%s"\r\n\r\n%s\r\n' % (
                            boundary, name, value)).encode())
            for name, (filename, content) in files.items():
                parts.append((
                        '--%s\r\nContent-Disposition: form-data; '
                        'name="%s"; filename="%s"\r\n'
                        'Content-Type: text/plain\r\n\r\n' % (
                            boundary, name, filename)).encode()
                    + content + b'\r\n')
            data = b''.join(parts) + ('--%s--\r\n' % boundary).encode()
            headers['Content-Type'] = (
                'multipart/form-data; boundary=%s' % boundary)
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            headers['Content-Type'] = 'application/x-www-form-urlencoded'
        status, body, headers = self.test.raw(method, path, data, headers)
        self.test.assertNotIn(b'Traceback', body)
        if status != 303:
            self.test.assertTrue(
                headers['Content-Type'].startswith('text/html'), path)
            self.test.assertIn("default-src 'none'",
                headers['Content-Security-Policy'])
        return status, body.decode('utf-8'), headers

    def login(self, key):
        email = EMAILS[key]
        status, _, headers = self.request('POST', 'login.html', {
                'email': email, 'password': 'portal-%s-password' % key})
        self.test.assertEqual(status, 303)
        self.cookie = re.search(
            r'hitech_portal=([^;]+)', headers['Set-Cookie']).group(1)
        return headers

    def csrf(self, page='tickets.html'):
        "The CSRF token of the forms of page"
        status, body, _ = self.request('GET', page)
        self.test.assertEqual(status, 200)
        return re.search(r'name="csrf_token" value="([0-9a-f]+)"',
            body).group(1)

    def location(self, headers):
        prefix = '/%s/hitech/portal/' % self.test.db_name
        self.test.assertTrue(headers['Location'].startswith(prefix),
            headers['Location'])
        return headers['Location'][len(prefix):]


def _db_prefix():
    "DB_NAME when it names a database (PostgreSQL runs), else the default"
    name = os.environ.get('DB_NAME', '')
    if re.fullmatch(r'[a-z_][a-z0-9_]{0,40}', name):
        return name
    return 'service_portal_http'


class PortalHTTPTestCase(unittest.TestCase):
    "Customer portal isolation, sessions and uploads over HTTP"

    @classmethod
    def setUpClass(cls):
        cls.server = TrytondServer(_db_prefix(), timeout=TIMEOUT,
            config="""\
                [session]
                authentications = password
                max_attempt = 2
                [email]
                uri = smtp://127.0.0.1:9
                """)
        cls.db_name = cls.server.db_name
        try:
            cls.data = cls.server.setup_database(SETUP_SCRIPT, XSS)
            cls.server.start()
        except Exception:
            cls.server.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    @classmethod
    def http(cls, method, path, data=None, headers=None):
        return cls.server.request(method,
            '/%s/hitech/portal/%s' % (cls.db_name, path), data, headers)

    @classmethod
    def raw(cls, method, path, data=None, headers=None):
        "(status, body, headers) of a request, redirects not followed"
        connection = http.client.HTTPConnection(
            '127.0.0.1', cls.server.port, timeout=TIMEOUT)
        try:
            connection.request(method,
                '/%s/hitech/portal/%s' % (cls.db_name, path), body=data,
                headers=headers or {})
            response = connection.getresponse()
            return response.status, response.read(), response.headers
        finally:
            connection.close()

    def login(self, key, mode='cookie'):
        email = EMAILS[key]
        status, body, headers = self.http('POST', 'login', json.dumps({
                    'email': email,
                    'password': 'portal-%s-password' % key,
                    'mode': mode,
                    }).encode(), {'Content-Type': 'application/json'})
        self.assertEqual(status, 200, body)
        data = json.loads(body)
        if mode == 'bearer':
            self.assertNotIn('Set-Cookie', headers)
            return Client(self, bearer=data['token'])
        cookie = re.search(r'hitech_portal=([^;]+)', headers['Set-Cookie'])
        self.assertIn('HttpOnly', headers['Set-Cookie'])
        self.assertIn('SameSite=Strict', headers['Set-Cookie'])
        return Client(self, cookie=cookie.group(1), csrf=data['csrf_token'])

    @property
    def a(self):
        return self.data['a']

    @property
    def b(self):
        return self.data['b']

    # Isolation --------------------------------------------------------------

    def test_list_only_own_tickets(self):
        "A lists exactly the tickets of A's parties"
        alice = self.login('a')
        status, data = alice.json('GET', 'tickets')
        self.assertEqual(status, 200)
        ids = {t['id'] for t in data['tickets']}
        self.assertTrue(set(self.a['tickets']) <= ids)
        self.assertFalse(ids & set(self.b['tickets']))
        for ticket in data['tickets']:
            self.assertEqual(ticket['account']['id'], self.a['account'])
        status, data = alice.json('GET', 'tickets?status=open')
        self.assertEqual(status, 200)
        self.assertNotIn(self.a['closed'], {t['id'] for t in data['tickets']})
        status, data = alice.json('GET', 'tickets?status=bogus')
        self.assertEqual(status, 400)

    def test_read_own_ticket(self):
        "A reads its ticket with the thread but never the internal notes"
        alice = self.login('a')
        ticket = self.a['tickets'][0]
        status, data = alice.json('GET', 'tickets/%s' % ticket)
        self.assertEqual(status, 200)
        self.assertEqual(data['id'], ticket)
        self.assertEqual(data['description'], XSS)
        self.assertIn('sla', data)
        self.assertEqual(
            [m['direction'] for m in data['messages']], ['outgoing'])
        self.assertNotIn(self.a['internal_message'],
            [m['id'] for m in data['messages']])
        self.assertEqual([a['id'] for a in data['attachments']],
            [self.a['attachment']])
        self.assertEqual(
            [a['id'] for a in data['messages'][0]['attachments']],
            [self.a['reply_attachment']])
        self.assertNotIn(b'secret note', json.dumps(data).encode())

    def test_guess_ids(self):
        "Every id that is not A's answers 404, existing or not"
        alice = self.login('a')
        status, data = alice.json('GET', 'tickets')
        own = {t['id'] for t in data['tickets']}
        fixture = self.a['tickets'] + self.b['tickets']
        for ticket in [0, 2 ** 31, 2 ** 63] + list(
                range(min(fixture) - 3, max(fixture) + 4)):
            status, data = alice.json('GET', 'tickets/%s' % ticket)
            if ticket in own:
                self.assertEqual(status, 200)
            else:
                self.assertEqual(status, 404, ticket)
                self.assertEqual(data['error'], 'not_found')
        for path in ['tickets/-1', 'tickets/1%20OR%201=1', 'tickets/x']:
            status, body, _ = alice.request('GET', path)
            self.assertIn(status, {404, 405}, path)
            self.assertNotIn(b'Bolt', body)
        status, body, _ = alice.request(
            'GET', 'tickets/%s.html' % self.b['tickets'][0])
        self.assertEqual(status, 404)
        self.assertNotIn(b'Bolt', body)

    def test_write_to_foreign_ticket(self):
        "A can neither reply to, attach to nor answer the survey of B's"
        alice = self.login('a')
        b_ticket = self.b['tickets'][0]
        status, data = alice.json('POST', 'tickets/%s/messages' % b_ticket,
            {'body': 'intrusion'})
        self.assertEqual(status, 404)
        status, data = alice.upload(b_ticket, 'x.txt', b'intrusion')
        self.assertEqual(status, 404)
        status, data = alice.json('POST', 'tickets/%s/survey'
            % self.b['closed'], {'rating': 1})
        self.assertEqual(status, 404)
        bob = self.login('b')
        status, data = bob.json('GET', 'tickets/%s' % b_ticket)
        self.assertNotIn('intrusion', json.dumps(data))
        self.assertEqual([s['state'] for s in data['surveys']], [])

    def test_download(self):
        "A downloads its files, never B's nor internal ones"
        alice = self.login('a')
        status, body, headers = alice.request(
            'GET', 'attachments/%s' % self.a['attachment'])
        self.assertEqual(status, 200)
        self.assertEqual(body, b'file of Acme')
        self.assertIn('attachment', headers['Content-Disposition'])
        self.assertEqual(headers['X-Content-Type-Options'], 'nosniff')
        for attachment in [self.b['attachment'], self.b['reply_attachment'],
                self.a['internal_attachment'], 999999]:
            status, body, _ = alice.request(
                'GET', 'attachments/%s' % attachment)
            self.assertEqual(status, 404, attachment)
            self.assertNotIn(b'Bolt', body)

    def test_create_scoped(self):
        "Tickets are created for A's party; B's party and extra fields fail"
        alice = self.login('a')
        status, data = alice.json('POST', 'tickets', {
                'subject': 'Printer broken', 'description': 'It jams'})
        self.assertEqual(status, 201, data)
        self.assertEqual(data['account']['id'], self.a['account'])
        self.assertEqual(data['contact']['id'], self.a['contact'])
        status, data = alice.json('POST', 'tickets', {
                'subject': 'For Bolt', 'party': self.b['account']})
        self.assertEqual(status, 404)
        for field, value in [
                ('account', self.b['account']),
                ('contact', self.b['contact']),
                ('company', 1), ('channel', 'internal'), ('state', 'closed'),
                ('id', self.b['tickets'][0])]:
            status, data = alice.json('POST', 'tickets', {
                    'subject': 'Mass assignment', field: value})
            self.assertEqual(status, 400, field)
            self.assertEqual(data['error'], 'unknown_field')
        status, data = alice.json(
            'POST', 'tickets/%s/messages' % self.a['tickets'][1],
            {'body': 'x', 'ticket': self.b['tickets'][0]})
        self.assertEqual(status, 400)
        status, data = alice.json('POST', 'tickets', {'subject': ''})
        self.assertEqual(status, 400)
        status, data = alice.json('POST', 'tickets', [1, 2])
        self.assertEqual(status, 400)
        status, body, _ = alice.request('POST', 'tickets', b'{not json',
            {'Content-Type': 'application/json'})
        self.assertEqual(status, 400)
        bob = self.login('b')
        status, data = bob.json('GET', 'tickets')
        self.assertNotIn('Mass assignment', json.dumps(data))
        self.assertNotIn('For Bolt', json.dumps(data))

    def test_reply(self):
        "A reply becomes an incoming message of the ticket"
        alice = self.login('a')
        ticket = self.a['tickets'][1]
        status, data = alice.json('POST', 'tickets/%s/messages' % ticket,
            {'body': 'More details'})
        self.assertEqual(status, 201, data)
        status, data = alice.json('GET', 'tickets/%s' % ticket)
        self.assertEqual(
            [(m['direction'], m['body']) for m in data['messages']],
            [('incoming', 'More details')])
        status, data = alice.json(
            'POST', 'tickets/%s/messages' % self.a['closed'], {'body': 'x'})
        self.assertEqual(status, 409)

    # Sessions ---------------------------------------------------------------

    def test_csrf(self):
        "A cookie session needs the CSRF token to change anything"
        alice = self.login('a')
        ticket = self.a['tickets'][1]
        status, data = alice.json('POST', 'tickets/%s/messages' % ticket,
            {'body': 'no token'}, csrf=False)
        self.assertEqual(status, 403)
        self.assertEqual(data['error'], 'csrf')
        status, data = alice.json('POST', 'tickets/%s/messages' % ticket,
            {'body': 'bad token'}, csrf=False,
            headers={'X-CSRF-Token': 'f' * 64})
        self.assertEqual(status, 403)
        bob = self.login('b')
        status, data = alice.json('POST', 'tickets/%s/messages' % ticket,
            {'body': "bob's token"}, csrf=False,
            headers={'X-CSRF-Token': bob.csrf})
        self.assertEqual(status, 403)
        status, data = alice.json('GET', 'tickets/%s' % ticket)
        self.assertNotIn('token', json.dumps(data['messages']))
        # reading needs no token
        status, data = alice.json('GET', 'me', csrf=False)
        self.assertEqual(status, 200)
        self.assertEqual(data['csrf_token'], alice.csrf)

    def test_bearer(self):
        "A bearer token needs no CSRF token (no cookie is ever sent)"
        client = self.login('a', mode='bearer')
        status, data = client.json('POST', 'tickets', {'subject': 'API'})
        self.assertEqual(status, 201, data)
        status, data = Client(self, bearer='0' * 64).json('GET', 'tickets')
        self.assertEqual(status, 401)

    def test_unauthenticated(self):
        "No or unknown session answers 401"
        anonymous = Client(self)
        for method, path in [('GET', 'tickets'), ('GET', 'me'),
                ('POST', 'tickets'), ('GET', 'kb?q=printer'),
                ('GET', 'tickets/%s' % self.a['tickets'][0]),
                ('GET', 'attachments/%s' % self.a['attachment'])]:
            status, data = anonymous.json(method, path,
                {} if method == 'POST' else None)
            self.assertEqual(status, 401, path)
        status, data = Client(self, cookie='forged', csrf='x').json(
            'GET', 'tickets')
        self.assertEqual(status, 401)

    def test_logout(self):
        "A logged out session answers 401"
        alice = self.login('a')
        status, data = alice.json('POST', 'logout')
        self.assertEqual(status, 200)
        status, data = alice.json('GET', 'tickets')
        self.assertEqual(status, 401)

    def test_expired_session(self):
        "An expired session answers 401"
        alice = self.login('a')
        self.server.run_script(AGE_SESSION_SCRIPT, alice.cookie)
        status, data = alice.json('GET', 'tickets')
        self.assertEqual(status, 401)
        self.assertEqual(data['error'], 'unauthenticated')

    def test_login_throttled(self):
        "Wrong passwords answer 401, then 429 (web_user's throttling)"
        statuses = []
        for i in range(4):
            status, body, _ = self.http('POST', 'login', json.dumps({
                        'email': 'nobody%s@example.com' % os.getpid(),
                        'password': 'wrong'}).encode(),
                {'Content-Type': 'application/json'})
            self.assertNotIn(b'Traceback', body)
            statuses.append(status)
            if status == 429:
                break
        self.assertEqual(statuses[0], 401)
        self.assertEqual(statuses[-1], 429)

    # Uploads ----------------------------------------------------------------

    def test_upload(self):
        "Uploads are limited in size and in sniffed content type"
        alice = self.login('a')
        ticket = self.a['tickets'][1]
        status, data = alice.upload(ticket, 'log.txt', b'all good\n')
        self.assertEqual(status, 201, data)
        self.assertEqual(data['type'], 'text/plain')
        status, data = alice.upload(ticket, 'scan.pdf',
            b'%PDF-1.4\n%fake\n', 'application/pdf')
        self.assertEqual(status, 201, data)
        status, data = alice.upload(ticket, 'big.txt', b'x' * 5000)
        self.assertEqual(status, 413)
        # the name and the declared type do not count: the content does
        status, data = alice.upload(ticket, 'invoice.pdf',
            b'MZ\x90\x00\x03' + b'\x00' * 64, 'application/pdf')
        self.assertEqual(status, 415)
        status, data = alice.upload(ticket, 'photo.png',
            b'<html><script>alert(1)</script></html>', 'image/png')
        self.assertEqual(status, 415)
        status, data = alice.json('POST', 'tickets/%s/attachments' % ticket,
            {'file': 'x'})
        self.assertEqual(status, 400)
        status, data = alice.json('GET', 'tickets/%s' % ticket)
        self.assertEqual(sorted(a['name'] for a in data['attachments']),
            ['log.txt', 'scan.pdf'])

    # Bad input --------------------------------------------------------------

    def test_bad_input_writes_nothing(self):
        "Huge, malformed or unsafe input answers 4xx and stores nothing"
        alice = self.login('a')
        ticket = self.a['tickets'][1]

        def state():
            _, tickets = alice.json('GET', 'tickets')
            _, detail = alice.json('GET', 'tickets/%s' % ticket)
            return tickets['count'], len(detail['messages'])

        before = state()
        huge = {'subject': 'Huge', 'description': 'x' * (3 * 1024 * 1024)}
        status, data = alice.json('POST', 'tickets', huge)
        self.assertEqual(status, 413, data)
        status, data = alice.json('POST', 'tickets/%s/messages' % ticket,
            {'body': 'x' * (3 * 1024 * 1024)})
        self.assertEqual(status, 413, data)
        for subject in [
                'a' * 201,
                'Line one\r\nBcc: victim@example.com',
                'null \x00 byte',
                'spoofed \u202egnp.exe',
                '\ud800 lone surrogate',
                ['not', 'text'],
                ]:
            status, data = alice.json('POST', 'tickets', {'subject': subject})
            self.assertEqual(status, 400, subject)
            self.assertTrue(data['message'])
        status, data = alice.json('POST', 'tickets/%s/messages' % ticket,
            {'body': 'x' * 20001})
        self.assertEqual(status, 400)
        status, data = alice.json('POST', 'tickets/%s/messages' % ticket,
            {'body': {'$ne': None}})
        self.assertEqual(status, 400)
        status, body, _ = alice.request('POST', 'tickets',
            b'\xff\xfe{"subject"', {'Content-Type': 'application/json'})
        self.assertEqual(status, 400)
        self.assertNotIn(b'Traceback', body)
        self.assertEqual(state(), before)

    def test_unicode_subject(self):
        "Any language's text is stored and given back as sent"
        alice = self.login('a')
        subject = 'Imprimante 打印机 卡纸 — ошибка 🖨 مرحبا'
        status, data = alice.json('POST', 'tickets', {
                'subject': subject, 'description': 'Zeile 1\nZeile 2 ✓'})
        self.assertEqual(status, 201, data)
        status, data = alice.json('GET', 'tickets/%s' % data['id'])
        self.assertEqual(data['subject'], subject)
        self.assertEqual(data['description'], 'Zeile 1\nZeile 2 ✓')
        status, body, _ = alice.request(
            'GET', 'tickets/%s.html' % data['id'])
        self.assertIn(subject.encode('utf-8'), body)

    # HTML -------------------------------------------------------------------

    def test_script_subject_stored_raw(self):
        "A scripted subject is stored as sent and escaped once in HTML"
        subject = '<script>alert(1)</script>'
        alice = self.login('a')
        status, data = alice.json('POST', 'tickets', {'subject': subject})
        self.assertEqual(status, 201, data)
        self.assertEqual(data['subject'], subject)
        ids = [data['id']]
        browser = Browser(self)
        browser.login('a')
        status, _, headers = browser.request('POST', 'tickets.html', {
                'subject': subject, 'csrf_token': browser.csrf()})
        self.assertEqual(status, 303)
        ids.append(int(re.fullmatch(r'tickets/(\d+)\.html',
                    browser.location(headers)).group(1)))
        status, body, _ = self.server.request('POST',
            '/%s/hitech/ticket' % self.db_name, json.dumps({
                    'subject': subject,
                    'email': 'script%s@example.com' % os.getpid(),
                    }).encode(), {'Content-Type': 'application/json'})
        self.assertEqual(status, 201, body)
        number = json.loads(body)['number']
        # the database holds what was sent, not an escaped text
        stored = json.loads(self.server.run_script(SUBJECTS_SCRIPT,
                ','.join(map(str, ids)), number).strip().splitlines()[-1])
        self.assertEqual(stored, [subject] * 3)
        for ticket in ids:
            status, data = alice.json('GET', 'tickets/%s' % ticket)
            self.assertEqual(data['subject'], subject)
            status, body, _ = browser.request(
                'GET', 'tickets/%s.html' % ticket)
            self.assertEqual(status, 200)
            self.assertNotIn('<script>', body)
            self.assertIn('&lt;script&gt;alert(1)&lt;/script&gt;', body)
            self.assertNotIn('&amp;lt;', body)

    def test_html_escaped(self):
        "Script in subjects and bodies comes back escaped"
        alice = self.login('a')
        status, data = alice.json('POST', 'tickets', {
                'subject': XSS, 'description': XSS})
        self.assertEqual(status, 201)
        ticket = data['id']
        status, data = alice.json('POST', 'tickets/%s/messages' % ticket,
            {'body': '<img src=x onerror=alert(1)>'})
        self.assertEqual(status, 201)
        for path in ['tickets/%s.html' % ticket, 'tickets.html',
                'tickets/%s.html' % self.a['tickets'][0]]:
            status, body, headers = alice.request('GET', path)
            self.assertEqual(status, 200, path)
            self.assertTrue(headers['Content-Type'].startswith('text/html'))
            self.assertNotIn(b'<script>', body)
            self.assertNotIn(b'<img', body)
            self.assertIn("default-src 'none'",
                headers['Content-Security-Policy'])
        self.assertIn(b'&lt;script&gt;', body)
        status, body, _ = alice.request('GET', 'tickets/%s.html' % ticket)
        self.assertIn(b'&lt;img src=x onerror=alert(1)&gt;', body)

    # Knowledge base ---------------------------------------------------------

    def test_kb_search(self):
        "Only published public articles are found"
        alice = self.login('a')
        status, data = alice.json('GET', 'kb?q=printer')
        self.assertEqual(status, 200)
        titles = [a['title'] for a in data['articles']]
        self.assertIn('Printer paper jam', titles)
        self.assertNotIn('Printer firmware internal notes', titles)
        status, data = alice.json('GET', 'kb?q=')
        self.assertEqual(status, 400)

    # Surveys ----------------------------------------------------------------

    def test_portal_survey(self):
        "A answers the survey of its closed ticket once"
        alice = self.login('a')
        closed = self.a['closed']
        status, data = alice.json('GET', 'tickets/%s' % closed)
        self.assertEqual([s['state'] for s in data['surveys']], ['sent'])
        status, data = alice.json('POST', 'tickets/%s/survey' % closed,
            {'rating': 9})
        self.assertEqual(status, 400)
        status, data = alice.json('POST', 'tickets/%s/survey' % closed,
            {'rating': 5, 'comment': 'Quick and kind'})
        self.assertEqual(status, 200, data)
        status, data = alice.json('POST', 'tickets/%s/survey' % closed,
            {'rating': 1})
        self.assertEqual(status, 409)
        status, data = alice.json('GET', 'tickets/%s' % closed)
        self.assertEqual(
            [(s['state'], s['rating'], s['comment'])
                for s in data['surveys']],
            [('answered', 5, 'Quick and kind')])

    def test_survey_link(self):
        "The signed link of the email opens a form that answers once"
        query = 'survey?' + urllib.parse.urlencode(
            {'token': self.b['survey_token']})
        status, body, headers = self.http('GET', query)
        self.assertEqual(status, 200, body)
        self.assertTrue(headers['Content-Type'].startswith('text/html'))
        self.assertIn(b'name="rating"', body)
        self.assertIn(b'Bolt ticket 2', body)
        form = {'Content-Type': 'application/x-www-form-urlencoded'}
        status, body, _ = self.http('POST', query, urllib.parse.urlencode(
                {'rating': '7'}).encode(), form)
        self.assertEqual(status, 400)
        status, body, _ = self.http('POST', query, urllib.parse.urlencode(
                {'rating': '2', 'comment': 'Slow <b>answer</b>'}).encode(),
            form)
        self.assertEqual(status, 200, body)
        for method in ['GET', 'POST']:
            status, body, _ = self.http(method, query,
                b'rating=5' if method == 'POST' else None, form)
            self.assertEqual(status, 400, method)
        bob = self.login('b')
        status, data = bob.json('GET', 'tickets/%s' % self.b['closed'])
        self.assertEqual(
            [(s['state'], s['rating'], s['comment'])
                for s in data['surveys']],
            [('answered', 2, 'Slow <b>answer</b>')])

    def test_survey_link_forged(self):
        "A forged survey link is refused with a clean page"
        token = '%s.1.9999999999.%s' % (self.b['closed'], 'A' * 43)
        for method in ['GET', 'POST']:
            status, body, headers = self.http(method, 'survey?' +
                urllib.parse.urlencode({'token': token}),
                b'rating=5' if method == 'POST' else None,
                {'Content-Type': 'application/x-www-form-urlencoded'})
            self.assertEqual(status, 400)
            self.assertNotIn(b'Traceback', body)
            self.assertTrue(headers['Content-Type'].startswith('text/html'))
        status, body, _ = self.http('GET', 'survey')
        self.assertEqual(status, 400)

    # HTML pages (browser) ---------------------------------------------------

    def test_html_login_page(self):
        "The login form, and every page redirects there without a session"
        browser = Browser(self)
        status, body, _ = browser.request('GET', 'login.html')
        self.assertEqual(status, 200)
        self.assertIn('name="email"', body)
        self.assertIn('type="password"', body)
        for path in ['tickets.html', 'kb.html?q=printer',
                'tickets/%s.html' % self.a['tickets'][0]]:
            status, _, headers = browser.request('GET', path)
            self.assertEqual(status, 303, path)
            self.assertEqual(browser.location(headers), 'login.html')

    def test_html_login_failed(self):
        "Wrong credentials re-render the form; another site is refused"
        browser = Browser(self)
        status, body, headers = browser.request('POST', 'login.html', {
                'email': 'nobody-html%s@example.com' % os.getpid(),
                'password': 'wrong'})
        self.assertEqual(status, 401)
        self.assertIn('Wrong email or password.', body)
        self.assertIn('name="password"', body)
        self.assertNotIn('Set-Cookie', headers)
        form = urllib.parse.urlencode({'email': 'alice@example.com',
                'password': 'portal-a-password'}).encode()
        # trytond aborts a foreign Origin before any route runs (its
        # answer is not a clean page), the route refuses a foreign Referer
        for header, expected in [
                ({'Origin': 'http://evil.example'}, {403, 500}),
                ({'Referer': 'http://evil.example/login.html'}, {403})]:
            header['Content-Type'] = 'application/x-www-form-urlencoded'
            status, body, headers = self.raw(
                'POST', 'login.html', form, header)
            self.assertIn(status, expected, header)
            self.assertNotIn('Set-Cookie', headers)

    def test_html_login(self):
        "The login sets the session cookie and shows only A's tickets"
        browser = Browser(self)
        headers = browser.login('a')
        self.assertEqual(browser.location(headers), 'tickets.html')
        cookie = headers['Set-Cookie']
        self.assertIn('HttpOnly', cookie)
        self.assertIn('SameSite=Strict', cookie)
        self.assertIn('Path=/%s/hitech/portal' % self.db_name, cookie)
        status, body, _ = browser.request('GET', 'tickets.html')
        self.assertEqual(status, 200)
        for ticket in self.a['tickets']:
            self.assertIn('tickets/%s.html"' % ticket, body)
        for ticket in self.b['tickets']:
            self.assertNotIn('tickets/%s.html"' % ticket, body)
        self.assertNotIn('Bolt', body)
        for field in ['subject', 'description', 'priority', 'q',
                'csrf_token']:
            self.assertIn('name="%s"' % field, body)

    def test_html_create(self):
        "The new ticket form needs the CSRF token"
        browser = Browser(self)
        browser.login('a')
        token = browser.csrf()
        subject = 'Created from the form %s' % os.getpid()
        for form in [{'subject': subject},
                {'subject': subject, 'csrf_token': 'f' * 64}]:
            status, body, _ = browser.request('POST', 'tickets.html', form)
            self.assertEqual(status, 403)
        status, body, _ = browser.request('GET', 'tickets.html')
        self.assertNotIn(subject, body)
        count = Client(self, cookie=browser.cookie).json(
            'GET', 'tickets')[1]['count']
        # a refused form comes back filled, with the reason
        status, body, _ = browser.request('POST', 'tickets.html', {
                'subject': 'Line one\nBcc: x@example.com',
                'description': 'Kept <i>text</i>', 'priority': 'low',
                'csrf_token': token})
        self.assertEqual(status, 400)
        self.assertIn('characters that are not allowed', body)
        self.assertIn('Kept &lt;i&gt;text&lt;/i&gt;</textarea>', body)
        self.assertIn('<option value="low" selected>', body)
        status, body, _ = browser.request('POST', 'tickets.html', {
                'subject': subject, 'priority': 'urgent',
                'csrf_token': token})
        self.assertEqual(status, 400)
        self.assertIn('is not valid', body)
        self.assertEqual(Client(self, cookie=browser.cookie).json(
                'GET', 'tickets')[1]['count'], count)
        status, _, headers = browser.request('POST', 'tickets.html', {
                'subject': subject, 'description': 'Tray <b>2</b>',
                'priority': 'high', 'csrf_token': token})
        self.assertEqual(status, 303)
        page = browser.location(headers)
        ticket = int(re.fullmatch(r'tickets/(\d+)\.html', page).group(1))
        status, body, _ = browser.request('GET', page)
        self.assertEqual(status, 200)
        self.assertIn(subject, body)
        self.assertIn('Tray &lt;b&gt;2&lt;/b&gt;', body)
        status, data = Client(self, cookie=browser.cookie).json(
            'GET', 'tickets/%s' % ticket)
        self.assertEqual((data['account']['id'], data['priority']),
            (self.a['account'], 'high'))

    def test_html_reply(self):
        "A reply with a file; a too big file is refused and writes nothing"
        browser = Browser(self)
        browser.login('a')
        status, _, headers = browser.request('POST', 'tickets.html', {
                'subject': 'To answer', 'csrf_token': browser.csrf()})
        page = browser.location(headers)
        ticket = int(re.fullmatch(r'tickets/(\d+)\.html', page).group(1))
        token = browser.csrf(page)
        reply = 'tickets/%s/reply.html' % ticket
        status, _, _ = browser.request('POST', reply,
            {'body': 'No token'}, files={'file': ('x.txt', b'x')})
        self.assertEqual(status, 403)
        status, body, _ = browser.request('POST', reply,
            {'body': 'Far too big', 'csrf_token': token},
            files={'file': ('big.txt', b'x' * 5000)})
        self.assertEqual(status, 413)
        self.assertIn('too large', body)
        status, body, _ = browser.request('POST', reply,
            {'body': 'Wrong type', 'csrf_token': token},
            files={'file': ('a.exe', b'MZ\x90\x00' + b'\x00' * 64)})
        self.assertEqual(status, 415)
        status, _, headers = browser.request('POST', reply,
            {'body': 'Log from the browser', 'csrf_token': token},
            files={'file': ('browser.txt', b'printer log')})
        self.assertEqual(status, 303)
        self.assertEqual(browser.location(headers), page)
        status, body, _ = browser.request('GET', page)
        self.assertIn('Log from the browser', body)
        self.assertIn('browser.txt', body)
        for refused in ['No token', 'Far too big', 'Wrong type', 'big.txt',
                'a.exe', 'x.txt']:
            self.assertNotIn(refused, body)
        status, data = Client(self, cookie=browser.cookie).json(
            'GET', 'tickets/%s' % ticket)
        message, = [m for m in data['messages']
            if m['direction'] == 'incoming']
        self.assertEqual([a['name'] for a in message['attachments']],
            ['browser.txt'])

    def test_html_foreign_ticket(self):
        "B's ticket page, reply and survey answer 404 to A"
        browser = Browser(self)
        browser.login('a')
        token = browser.csrf()
        b_ticket = self.b['tickets'][1]
        status, body, _ = browser.request('GET', 'tickets/%s.html' % b_ticket)
        self.assertEqual(status, 404)
        self.assertNotIn('Bolt', body)
        status, body, _ = browser.request('POST',
            'tickets/%s/reply.html' % b_ticket,
            {'body': 'html intrusion', 'csrf_token': token}, files={})
        self.assertEqual(status, 404)
        status, body, _ = browser.request('POST',
            'tickets/%s/survey.html' % self.b['page_closed'],
            {'rating': '1', 'csrf_token': token})
        self.assertEqual(status, 404)
        bob = self.login('b')
        status, data = bob.json('GET', 'tickets/%s' % b_ticket)
        self.assertNotIn('html intrusion', json.dumps(data))
        status, data = bob.json('GET', 'tickets/%s' % self.b['page_closed'])
        self.assertEqual([s['state'] for s in data['surveys']], ['sent'])

    def test_html_survey(self):
        "The page of a closed ticket has no reply form but the rating form"
        browser = Browser(self)
        browser.login('a')
        page = 'tickets/%s.html' % self.a['page_closed']
        status, body, _ = browser.request('GET', page)
        self.assertNotIn('reply.html', body)
        self.assertIn('name="rating"', body)
        token = browser.csrf(page)
        status, body, _ = browser.request('POST',
            'tickets/%s/reply.html' % self.a['page_closed'],
            {'body': 'Too late', 'csrf_token': token}, files={})
        self.assertEqual(status, 409)
        self.assertIn('is closed', body)
        action = 'tickets/%s/survey.html' % self.a['page_closed']
        status, _, _ = browser.request('POST', action, {'rating': '4'})
        self.assertEqual(status, 403)
        status, _, headers = browser.request('POST', action,
            {'rating': '4', 'comment': 'Fine', 'csrf_token': token})
        self.assertEqual(status, 303)
        self.assertEqual(browser.location(headers), page)
        status, body, _ = browser.request('GET', page)
        self.assertIn('4/5 Fine', body)
        self.assertNotIn('name="rating"', body)
        self.assertNotIn('Too late', body)

    def test_html_kb(self):
        "The knowledge page shows public published articles only"
        browser = Browser(self)
        browser.login('a')
        status, body, _ = browser.request('GET', 'kb.html?q=printer')
        self.assertEqual(status, 200)
        self.assertIn('Printer paper jam', body)
        self.assertIn('Open tray 2 and remove the sheet.', body)
        self.assertNotIn('internal', body.lower())
        status, body, _ = browser.request('GET', 'kb.html')
        self.assertEqual(status, 200)
        self.assertIn('name="q"', body)

    def test_html_logout(self):
        "Logging out needs the token, clears the cookie and the session"
        browser = Browser(self)
        browser.login('a')
        token = browser.csrf()
        status, _, _ = browser.request('POST', 'logout.html', {})
        self.assertEqual(status, 403)
        status, _, headers = browser.request('POST', 'logout.html',
            {'csrf_token': token})
        self.assertEqual(status, 303)
        self.assertEqual(browser.location(headers), 'login.html')
        self.assertIn('hitech_portal=;', headers['Set-Cookie'])
        status, _, headers = browser.request('GET', 'tickets.html')
        self.assertEqual(status, 303)
        self.assertEqual(browser.location(headers), 'login.html')

    # Language ---------------------------------------------------------------

    def assertLanguage(self, headers, tag, body=None):
        "The answer is in the language of tag (and so is its page)"
        self.assertEqual(headers['Content-Language'], tag)
        self.assertIn('Accept-Language', headers['Vary'])
        if body is not None:
            self.assertIn('<html lang="%s">' % tag, body)

    def test_language_login_page(self):
        "The login page speaks the language of the browser"
        browser = Browser(self)
        status, body, headers = browser.request('GET', 'login.html',
            headers={'Accept-Language': 'zh-CN,zh;q=0.9'})
        self.assertEqual(status, 200)
        self.assertLanguage(headers, 'zh-CN', body)
        for text in ['<title>登录客户门户</title>', '电子邮件', '密码',
                '>登录</button>']:
            self.assertIn(text, body)
        self.assertNotIn('Log in', body)
        # Traditional Chinese by region or script, before another language
        for accept in ['zh-TW', 'zh-HK,zh;q=0.8', 'zh-Hant-TW',
                'de, zh-Hant;q=0.5, en;q=0.4', 'zh, zh-TW;q=0.8']:
            status, body, headers = browser.request('GET', 'login.html',
                headers={'Accept-Language': accept})
            self.assertLanguage(headers, 'zh-TW', body)
            self.assertIn('<title>登入客戶入口網站</title>', body)
            self.assertIn('電子郵件', body)
        # a bare zh is Simplified Chinese; a preference wins over the order
        for accept in ['zh', 'en;q=0.5, zh-CN']:
            status, body, headers = browser.request('GET', 'login.html',
                headers={'Accept-Language': accept})
            self.assertLanguage(headers, 'zh-CN', body)
        # refused logins answer in the browser's language
        status, body, headers = browser.request('POST', 'login.html', {
                'email': 'nobody-zh%s@example.com' % os.getpid(),
                'password': 'wrong'}, headers={'Accept-Language': 'zh-CN'})
        self.assertEqual(status, 401)
        self.assertLanguage(headers, 'zh-CN', body)
        self.assertIn('电子邮件或密码错误。', body)
        status, body, headers = browser.request('POST', 'login.html', {
                'email': 'chen@example.com', 'password': ''},
            headers={'Accept-Language': 'zh-TW'})
        self.assertEqual(status, 400)
        self.assertIn('欄位「password」為必填項。', body)
        status, data = Client(self).json('GET', 'tickets',
            headers={'Accept-Language': 'zh-CN'})
        self.assertEqual(status, 401)
        self.assertEqual(data['message'],
            '请先登录客户门户；您的登录状态可能已过期或已注销。')
        # no token: the survey link's error page
        status, body, headers = browser.request('GET', 'survey',
            headers={'Accept-Language': 'zh-TW'})
        self.assertEqual(status, 400)
        self.assertLanguage(headers, 'zh-TW', body)
        self.assertIn('此調查連結無效', body)

    def test_language_query(self):
        "?lang= chooses a translatable language for the anonymous pages"
        browser = Browser(self)
        status, body, headers = browser.request('GET',
            'login.html?lang=zh_TW', headers={'Accept-Language': 'en'})
        self.assertLanguage(headers, 'zh-TW', body)
        self.assertIn('登入客戶入口網站', body)
        # the form keeps it
        self.assertIn('action="/%s/hitech/portal/login.html?lang=zh_TW"'
            % self.db_name, body)
        status, body, headers = browser.request('POST',
            'login.html?lang=zh_TW', {
                'email': 'nobody-tw%s@example.com' % os.getpid(),
                'password': 'wrong'}, headers={'Accept-Language': 'en'})
        self.assertEqual(status, 401)
        self.assertIn('電子郵件或密碼錯誤。', body)
        self.assertIn('login.html?lang=zh_TW"', body)
        # a language that is not translatable, or no language, is ignored
        for value in ['fr', 'de_DE', 'zh_TW%22%3E', 'x' * 50, '']:
            status, body, headers = browser.request('GET',
                'login.html?lang=%s' % value)
            self.assertEqual(status, 200, value)
            self.assertLanguage(headers, 'en', body)
            self.assertIn('Log in to the customer portal', body)
            self.assertIn('login.html"', body)

    def test_language_fallback(self):
        "An unknown or no Accept-Language gives the default, English"
        browser = Browser(self)
        for headers in [{'Accept-Language': 'fr-FR,de;q=0.8'}, {},
                {'Accept-Language': '*'}, {'Accept-Language': 'zh;q=0'},
                {'Accept-Language': ',;q=x;;, -'}]:
            status, body, answer = browser.request(
                'GET', 'login.html', headers=headers)
            self.assertEqual(status, 200, headers)
            self.assertLanguage(answer, 'en', body)
            self.assertIn('<title>Log in to the customer portal</title>',
                body)
            self.assertFalse(CJK.search(body), headers)
        status, data = Client(self).json('GET', 'tickets',
            headers={'Accept-Language': 'fr'})
        self.assertEqual(status, 401)
        self.assertTrue(data['message'].startswith('Log in to the portal'))
        # a user without a language follows the browser
        browser.login('a')
        status, body, headers = browser.request('GET', 'tickets.html',
            headers={'Accept-Language': 'ja, fr;q=0.5'})
        self.assertLanguage(headers, 'en', body)
        self.assertIn('<h1>Your tickets</h1>', body)
        alice = self.login('a')
        status, data = alice.json('GET', 'me',
            headers={'Accept-Language': 'zh-HK'})
        self.assertEqual(data['language'], 'zh_TW')
        status, body, headers = browser.request('GET', 'tickets.html',
            headers={'Accept-Language': 'zh-CN'})
        self.assertLanguage(headers, 'zh-CN', body)
        self.assertIn('<h1>您的工单</h1>', body)
        self.assertIn('<th>主题</th>', body)

    def test_language_party(self):
        "A user whose party reads zh_TW gets pages and errors in it"
        english = {'Accept-Language': 'en-US,en;q=0.9'}
        browser = Browser(self)
        browser.login('c')
        status, body, headers = browser.request('GET', 'tickets.html',
            headers=english)
        self.assertEqual(status, 200)
        self.assertLanguage(headers, 'zh-TW', body)
        for text in [
                '<title>您的工單</title>', '<h2 id="new">新增工單</h2>',
                '<th>主題</th>', '<th>狀態</th>', '<td>已關閉</td>',
                '優先順序', '序列號', '<option value="normal" selected>普通',
                '>登出</button>', '>提交工單</button>', '>搜尋</button>',
                'Cathay closed ticket']:
            self.assertIn(text, body)
        for text in ['您的工单', '主题', 'Your tickets', 'Subject']:
            self.assertNotIn(text, body)
        status, body, headers = browser.request('GET',
            'tickets/%s.html' % self.data['c']['closed'], headers=english)
        self.assertEqual(status, 200)
        self.assertLanguage(headers, 'zh-TW', body)
        self.assertIn('已關閉：請另行提交新工單。', body)
        # a refused ticket: the form again with the reason
        status, body, headers = browser.request('POST', 'tickets.html', {
                'description': 'no subject', 'csrf_token': browser.csrf()},
            headers=english)
        self.assertEqual(status, 400)
        self.assertLanguage(headers, 'zh-TW', body)
        self.assertIn('欄位「subject」為必填項。', body)
        # the JSON routes
        chen = self.login('c')
        status, body, headers = chen.request('POST', 'tickets',
            {'description': 'no subject'}, headers=english)
        self.assertEqual(status, 400)
        self.assertLanguage(headers, 'zh-TW')
        self.assertEqual(json.loads(body), {'error': 'invalid',
                'message': '欄位「subject」為必填項。'})
        status, data = chen.json('POST', 'tickets', {'subject': 'x' * 201})
        self.assertEqual(status, 400)
        self.assertEqual(data['message'], '欄位「subject」超過 200 個字元。')
        status, data = chen.json('GET', 'tickets', headers=english)
        self.assertEqual([t['state_label'] for t in data['tickets']],
            ['已關閉'])
        status, data = chen.json('GET', 'me', headers=english)
        self.assertEqual(data['language'], 'zh_TW')
        # the login page after the logout keeps the language
        token = browser.csrf()
        status, _, headers = browser.request('POST', 'logout.html',
            {'csrf_token': token}, headers=english)
        self.assertEqual(status, 303)
        self.assertEqual(browser.location(headers), 'login.html?lang=zh_TW')

    def test_language_survey_link(self):
        "The survey link opens in the language of the customer"
        token = urllib.parse.quote(self.data['c']['survey_token'])
        browser = Browser(self)
        status, body, headers = browser.request('GET',
            'survey?token=%s' % token, headers={'Accept-Language': 'en'})
        self.assertEqual(status, 200)
        self.assertLanguage(headers, 'zh-TW', body)
        for text in ['<h1>滿意度調查</h1>', '您對我們處理您請求的情況滿意嗎？',
                '意見（選填）', '>傳送</button>', 'Cathay closed ticket']:
            self.assertIn(text, body)
        # the lang parameter wins, and the form keeps it
        status, body, headers = browser.request('GET',
            'survey?token=%s&lang=zh_CN' % token)
        self.assertLanguage(headers, 'zh-CN', body)
        self.assertIn('<h1>满意度调查</h1>', body)
        self.assertIn('&amp;lang=zh_CN"', body)
        # a refused answer is in the customer's language too
        status, body, headers = browser.request('POST',
            'survey?token=%s' % token, {'rating': '9'},
            headers={'Accept-Language': 'en'})
        self.assertEqual(status, 400, body)
        self.assertLanguage(headers, 'zh-TW', body)
        self.assertIn('請選擇 1（非常不滿意）到 5（非常滿意）之間的評分。', body)

    def test_language_web_form(self):
        "The public ticket form answers in the browser's language"
        for accept, message in [
                ('zh-TW', '欄位「subject」為必填項。'),
                ('zh-CN', '字段“subject”为必填项。'),
                ('fr', 'The field "subject" is required.')]:
            status, body, headers = self.server.request('POST',
                '/%s/hitech/ticket' % self.db_name,
                json.dumps({'email': 'form@example.com'}).encode(), {
                    'Content-Type': 'application/json',
                    'Accept-Language': accept})
            self.assertEqual(status, 400, body)
            self.assertEqual(json.loads(body)['error'], message)
            self.assertEqual(headers['Content-Language'],
                accept if accept != 'fr' else 'en')


class LanguageMatchTestCase(unittest.TestCase):
    "The language of an Accept-Language header among the translatable"

    def test_match(self):
        from trytond.modules.hitech_service.portal import match_language
        codes = ['en', 'zh_CN', 'zh_TW']
        for accepted, code in [
                ([('zh-CN', 1), ('zh', 0.9)], 'zh_CN'),
                ([('zh-tw', 1)], 'zh_TW'),
                ([('zh-Hant-HK', 1)], 'zh_TW'),
                ([('zh-SG', 1)], 'zh_CN'),
                ([('zh', 1)], 'zh_CN'),
                ([('zh', 1), ('zh-TW', 0.5)], 'zh_TW'),
                ([('fr', 1), ('en-GB', 0.5)], 'en'),
                ([('fr', 1), ('*', 0.5)], None),
                ([('zh-CN', 0)], None),
                ([], None)]:
            with self.subTest(accepted=accepted):
                self.assertEqual(match_language(accepted, codes), code)
        self.assertEqual(match_language([('zh-TW', 1)], ['en', 'zh_CN']),
            'zh_CN')


if __name__ == '__main__':
    unittest.main()
