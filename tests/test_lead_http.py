# This file is part of HiTech CRM. See LICENSE for details.
"""The web lead capture route over real HTTP.

A trytond server is started on 127.0.0.1 (free port) against a temporary
database with hitech_crm_base activated, behind one trusted proxy
(``[web] num_proxies = 1``) so that each test posts from its own client
address (X-Forwarded-For) and the per-address rate limit of one test does
not spill into another.  Posts are form-encoded or JSON; after every
rejected post the database holds no new lead, account, submission or
campaign.  Access is checked through JSON-RPC as the reps.

The server, its database (built in a subprocess by trytond's own test
helper, so restored from DB_CACHE when warm) and their clean-up are those
of tests/server.py (TrytondServer).
"""
import base64
import json
import subprocess
import sys
import textwrap
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from .server import TrytondServer

TIMEOUT = 10  # seconds, every HTTP call
RATE_LIMIT = 25
ABUSE_POSTS = 1000

PASSWORDS = {
    'rep_east': 'rep-east-password-123',
    'rep_west': 'rep-west-password-123',
    }

SETUP_SCRIPT = textwrap.dedent('''
    import json, sys
    from trytond.tests.test_tryton import activate_module, DB_NAME
    activate_module(['hitech_crm_base'])
    from trytond.pool import Pool
    from trytond.transaction import Transaction
    from trytond.modules.company.tests import (
        create_company, create_employee, set_company)
    passwords = json.loads(sys.argv[1])
    with Transaction().start(DB_NAME, 0, readonly=False,
            _lock_tables=['hitech_crm_configuration']) as transaction:
        pool = Pool(DB_NAME)
        pool.init()
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')
        Team = pool.get('hitech.sales.team')
        Form = pool.get('hitech.lead.form')
        Source = pool.get('hitech.lead.source')
        Rule = pool.get('hitech.lead.assignment.rule')
        Configuration = pool.get('hitech.crm.configuration')
        company = create_company()
        with set_company(company):
            east = create_employee(company, "East Rep")
            west = create_employee(company, "West Rep")
            team_east, team_west = Team.create([
                {'name': "East", 'company': company.id,
                    'members': [('create', [{'employee': east.id}])]},
                {'name': "West", 'company': company.id,
                    'members': [('create', [{'employee': west.id}])]},
                ])
            rep = ModelData.get_id('hitech_crm_base', 'group_sales_rep')
            users = {}
            for login, employee in [('rep_east', east), ('rep_west', west)]:
                user, = User.create([{
                    'login': login, 'name': login,
                    'password': passwords[login],
                    'companies': [('add', [company.id])],
                    'company': company.id,
                    'employees': [('add', [employee.id])],
                    'employee': employee.id,
                    'groups': [('add', [rep])],
                    }])
                users[login] = user.id
            website, = Source.search([('code', '=', 'website')])
            trade, = Source.search([('code', '=', 'trade_show')])
            Form.create([{
                'name': "Open form", 'code': 'open', 'company': company.id,
                'source': website.id,
                }, {
                'name': "Signed form", 'code': 'signed',
                'company': company.id, 'key': 'form-secret-123',
                'source': website.id, 'sales_team': team_west.id,
                }])
            # trade-show leads go to the West rep; web leads to the pool
            Rule.create([{
                'name': "Trade shows", 'company': company.id,
                'source': trade.id, 'strategy': 'fixed',
                'employee': west.id, 'sales_team': team_west.id,
                }])
        Configuration.write([Configuration(1)], {
            'capture_rate_limit': int(sys.argv[2]),
            'capture_max_size': 4096,
            })
        transaction.commit()
    print(json.dumps({'users': users}))
    ''')


class LeadHTTPTestCase(unittest.TestCase):
    "Web lead capture through a running trytond"

    @classmethod
    def setUpClass(cls):
        cls.server = TrytondServer('leads_http', timeout=TIMEOUT,
            web='num_proxies = 1',
            config='''\
                [session]
                authentications = password
                ''')
        cls.db_name = cls.server.db_name
        try:
            data = cls.server.setup_database(
                SETUP_SCRIPT, json.dumps(PASSWORDS), str(RATE_LIMIT))
            cls.users = data['users']
            cls.server.start()
        except Exception:
            cls.server.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    # HTTP helpers

    @classmethod
    def _request(cls, path, data=None, headers=None, method='POST'):
        status, body, headers = cls.server.request(
            method, path, data, headers)
        return status, headers, body

    @classmethod
    def _rpc(cls, path, method, params, auth=None):
        headers = {'Content-Type': 'application/json'}
        if auth:
            headers['Authorization'] = auth
        data = json.dumps(
            {'id': 1, 'method': method, 'params': params}).encode()
        status, _, body = cls._request(path, data, headers)
        return status, body

    def login(self, login):
        status, body = self._rpc(
            f'/{self.db_name}/rpc/', 'common.db.login',
            [login, {'password': PASSWORDS[login]}, 'en'])
        self.assertEqual(status, 200, body)
        user_id, token, _ = json.loads(body)['result']
        return 'Session ' + base64.b64encode(
            f'{login}:{user_id}:{token}'.encode()).decode()

    def call(self, auth, method, *params):
        status, body = self._rpc(
            f'/{self.db_name}/rpc/', method, [*params, {}], auth=auth)
        self.assertEqual(status, 200, body)
        data = json.loads(body)
        return data.get('result'), data.get('error')

    def post(self, values, address, json_body=False, headers=None,
            raw=None, content_type=None):
        "Post to the capture route from address; return (status, data)"
        headers = dict(headers or {})
        headers['X-Forwarded-For'] = address
        headers['Accept'] = 'application/json'
        if raw is not None:
            body = raw
            headers['Content-Type'] = content_type or 'application/json'
        elif json_body:
            body = json.dumps(values).encode('utf-8')
            headers['Content-Type'] = 'application/json'
        else:
            body = urllib.parse.urlencode(values).encode('utf-8')
            headers['Content-Type'] = 'application/x-www-form-urlencoded'
        status, response_headers, body = self._request(
            f'/{self.db_name}/hitech/lead', body, headers)
        self.assertTrue(
            response_headers.get('Content-Type', '').startswith(
                'application/json'), body)
        self.assertNotIn(b'Traceback', body)
        return status, json.loads(body)

    def counts(self):
        "Return the number of records the capture may create, read in SQL"
        script = textwrap.dedent('''
            import json, sys
            from trytond.transaction import Transaction
            from trytond.pool import Pool
            names = ['sale_opportunity', 'party_party',
                'hitech_lead_submission', 'marketing_campaign',
                'hitech_activity', 'hitech_lead_pool_log']
            with Transaction().start(sys.argv[1], 0, readonly=True) as t:
                cursor = t.connection.cursor()
                result = {}
                for name in names:
                    cursor.execute('SELECT COUNT(*) FROM "%s"' % name)
                    result[name] = cursor.fetchone()[0]
            print(json.dumps(result))
            ''')
        result = subprocess.run(
            [sys.executable, '-c', script, self.db_name],
            env=self.server.env, cwd=self.server.tmp, timeout=60,
            capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        return json.loads(result.stdout.strip().splitlines()[-1])

    def assertRejected(self, status, expected, data, field=None):
        self.assertEqual(status, expected, data)
        self.assertEqual(data['status'], expected)
        self.assertTrue(data['error'])
        if field:
            self.assertEqual(data.get('field'), field, data)

    # Tests

    def test_valid_form_and_json(self):
        "Form-encoded and JSON posts make leads; a repeat is attached"
        before = self.counts()
        status, data = self.post({
                'form': 'open', 'name': "Zhang Wei",
                'company': "Suzhou Optics", 'email': 'zhang@suzhou-optics.cn',
                'phone': '+86 512 6666 0001', 'message': "Quote for 200",
                'product': "Laser module",
                'referrer': 'https://www.baidu.com/s?wd=laser+module',
                'landing_page': 'https://www.example.com/laser',
                'utm_campaign': 'Spring Fair',
                }, '10.1.0.1')
        self.assertEqual(status, 201, data)
        self.assertTrue(data['number'])
        status, data2 = self.post({
                'form': 'signed', 'key': 'form-secret-123',
                'name': "Chen Jing", 'email': 'chen@wuxi-semi.cn',
                'source': 'trade_show', 'message': "Visit at booth",
                }, '10.1.0.2', json_body=True)
        self.assertEqual(status, 201, data2)
        status, dup = self.post({
                'form': 'open', 'name': "Zhang Wei",
                'email': 'ZHANG@suzhou-optics.cn', 'message': "Any news?",
                }, '10.1.0.1')
        self.assertEqual(status, 200, dup)
        self.assertTrue(dup['duplicate'])
        self.assertEqual(dup['number'], data['number'])
        after = self.counts()
        self.assertEqual(
            after['sale_opportunity'] - before['sale_opportunity'], 2)
        self.assertEqual(after['hitech_lead_submission']
            - before['hitech_lead_submission'], 3)

        # the trade-show lead went to the West rep, the web lead to the pool
        west = self.login('rep_west')
        result, error = self.call(west, 'model.sale.opportunity.search_read',
            [('number', '=', data2['number'])], 0, None, None,
            ['employee', 'in_pool', 'lead_message', 'source.code'])
        self.assertIsNone(error)
        lead, = result
        self.assertFalse(lead['in_pool'])
        self.assertTrue(lead['employee'])
        self.assertEqual(lead['source.']['code'], 'trade_show')
        result, error = self.call(west, 'model.sale.opportunity.search_read',
            [('number', '=', data['number'])], 0, None, None,
            ['in_pool', 'search_keywords', 'marketing_campaign.name'])
        lead, = result
        self.assertTrue(lead['in_pool'])
        self.assertEqual(lead['search_keywords'], 'laser module')
        self.assertEqual(lead['marketing_campaign.']['name'], 'spring fair')

    def test_queued_capture(self):
        "With the capture queue on, posts get 202 and the queue makes leads"
        script = textwrap.dedent('''
            import json, sys
            from trytond.pool import Pool
            from trytond.transaction import Transaction
            with Transaction().start(sys.argv[1], 0) as transaction:
                pool = Pool(sys.argv[1])
                pool.init()
                Configuration = pool.get('hitech.crm.configuration')
                Submission = pool.get('hitech.lead.submission')
                if sys.argv[2] != 'read':
                    Configuration.write([Configuration(1)], {
                            'capture_queue': sys.argv[2] == 'on'})
                    transaction.commit()
                Pending = pool.get('hitech.lead.capture.pending')
                print(json.dumps({
                        'pending': Pending.search([], count=True),
                        'submissions': [{
                                'lead': s.lead.number,
                                'duplicate': s.duplicate}
                            for s in Submission.search(
                                [], order=[('id', 'DESC')], limit=2)]}))
            ''')
        self.server.run_script(script, self.db_name, 'on')
        try:
            before = self.counts()
            status, data = self.post({
                    'form': 'open', 'name': "Li Na", 'company': "Queue Co",
                    'email': 'li@queue-co.cn'}, '10.9.0.1')
            self.assertEqual(status, 202, data)
            self.assertEqual(data['status'], 202)
            self.assertIs(data['queued'], True)
            status, dup = self.post({
                    'form': 'open', 'name': "Li Na",
                    'email': 'LI@queue-co.cn'}, '10.9.0.1')
            self.assertEqual(status, 202, dup)
            status, bad = self.post({
                    'form': 'open', 'name': "Li Na",
                    'email': 'not-an-email'}, '10.9.0.1')
            self.assertRejected(status, 400, bad, field='email')
        finally:
            out = self.server.run_script(script, self.db_name, 'off')
        after = self.counts()
        # the server has no queue worker: each post's task ran after its
        # commit, the second post was attached to the first one's lead
        self.assertEqual(
            after['sale_opportunity'] - before['sale_opportunity'], 1)
        self.assertEqual(after['hitech_lead_submission']
            - before['hitech_lead_submission'], 2)
        result = json.loads(out.strip().splitlines()[-1])
        self.assertEqual(result['pending'], 0)
        second, first = result['submissions']
        self.assertTrue(first['lead'])
        self.assertEqual(second['lead'], first['lead'])
        self.assertEqual([first['duplicate'], second['duplicate']],
            [False, True])

    def test_rejected_posts_write_nothing(self):
        "Bad posts get clean 4xx JSON and leave no record behind"
        before = self.counts()
        address = '10.2.0.1'
        cases = [
            ({'form': 'open', 'email': 'a@example.com'}, 400, 'name'),
            ({'form': 'open', 'name': "A"}, 400, 'email'),
            ({'form': 'open', 'name': "A", 'email': 'nope'}, 400, 'email'),
            ({'form': 'open', 'name': "A", 'phone': '12'}, 400, 'phone'),
            ({'form': 'open', 'name': "A" * 101,
                    'email': 'a@example.com'}, 400, 'name'),
            ({'name': "A", 'email': 'a@example.com'}, 400, 'form'),
            ({'form': 'nosuch', 'name': "A",
                    'email': 'a@example.com'}, 400, 'form'),
            ({'form': 'signed', 'name': "A",
                    'email': 'a@example.com'}, 403, None),
            ({'form': 'signed', 'key': 'wrong', 'name': "A",
                    'email': 'a@example.com'}, 403, None),
            ({'form': 'open', 'name': "Bot", 'email': 'bot@example.com',
                    'website_url': 'http://spam.example.com'}, 400, None),
            ]
        for values, expected, field in cases:
            with self.subTest(values=values):
                status, data = self.post(values, address)
                self.assertRejected(status, expected, data, field)
                status, data = self.post(values, address, json_body=True)
                self.assertRejected(status, expected, data, field)
        # a JSON value that is not text
        status, data = self.post({'form': 'open', 'name': ["x"],
                'email': 'a@example.com'}, address, json_body=True)
        self.assertRejected(status, 400, data, 'name')
        # not JSON, not an object
        for raw in [b'{not json', b'[1, 2]', b'"text"']:
            status, data = self.post(None, address, raw=raw)
            self.assertRejected(status, 400, data)
        status, data = self.post(None, address, raw=b'name=a',
            content_type='text/plain')
        self.assertRejected(status, 400, data)
        # too large
        status, data = self.post({'form': 'open', 'name': "Big",
                'email': 'big@example.com', 'message': 'x' * 10000},
            address)
        self.assertRejected(status, 413, data)
        self.assertEqual(self.counts(), before)

    def test_script_stays_text(self):
        "Markup in fields is stored as text and answered as JSON"
        payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
        status, data = self.post({
                'form': 'open', 'name': payload[:100],
                'company': payload, 'email': 'xss@example.org',
                'message': payload}, '10.3.0.1', json_body=True)
        self.assertEqual(status, 201, data)
        west = self.login('rep_west')
        result, error = self.call(west, 'model.sale.opportunity.search_read',
            [('number', '=', data['number'])], 0, None, None,
            ['lead_message', 'lead_company', 'lead_name'])
        self.assertIsNone(error)
        lead, = result
        self.assertEqual(lead['lead_message'], payload)
        self.assertEqual(lead['lead_company'], payload)

    def test_rate_limit(self):
        "A flood from one address gets 429 after the limit, bounded"
        address = '10.4.0.1'
        before = self.counts()
        statuses = []
        started = time.monotonic()
        for i in range(ABUSE_POSTS):
            status, data = self.post({'form': 'open', 'name': "Flood",
                    'email': 'flood@example.com'}, address)
            statuses.append(status)
            if time.monotonic() - started > 120:
                break
        self.assertEqual(len(statuses), ABUSE_POSTS)
        self.assertEqual(statuses[0], 201)
        self.assertEqual(set(statuses[1:RATE_LIMIT]), {200})
        self.assertEqual(set(statuses[RATE_LIMIT:]), {429})
        after = self.counts()
        self.assertEqual(
            after['sale_opportunity'] - before['sale_opportunity'], 1)
        self.assertEqual(after['hitech_lead_submission']
            - before['hitech_lead_submission'], RATE_LIMIT)
        # another address is not affected
        status, data = self.post({'form': 'open', 'name': "Other",
                'email': 'other@example.com'}, '10.4.0.2')
        self.assertEqual(status, 201, data)

    def test_rep_isolation(self):
        "A rep reads the pool and own leads, not another team's leads"
        status, owned = self.post({'form': 'signed',
                'key': 'form-secret-123', 'name': "Owned",
                'email': 'owned@example.com', 'source': 'trade_show'},
            '10.5.0.1')
        self.assertEqual(status, 201, owned)
        status, pooled = self.post({'form': 'open', 'name': "Pooled",
                'email': 'pooled@example.com'}, '10.5.0.1')
        self.assertEqual(status, 201, pooled)
        east = self.login('rep_east')
        result, error = self.call(east, 'model.sale.opportunity.search_read',
            [('number', 'in', [owned['number'], pooled['number']])],
            0, None, None, ['number'])
        self.assertIsNone(error)
        self.assertEqual([r['number'] for r in result], [pooled['number']])
        result, error = self.call(
            east, 'model.hitech.lead.pool.log.search_read',
            [], 0, None, None, ['lead'])
        self.assertIsNone(error)
        self.assertEqual(result, [])
        # the West rep sees their assignment log
        west = self.login('rep_west')
        result, error = self.call(
            west, 'model.hitech.lead.pool.log.search_read',
            [('lead.number', '=', owned['number'])], 0, None, None,
            ['action'])
        self.assertIsNone(error)
        self.assertEqual([r['action'] for r in result], ['assign'])
        # the East rep claims the pooled lead
        result, error = self.call(east, 'model.sale.opportunity.search',
            [('number', '=', pooled['number'])], 0, None, None)
        lead_id, = result
        result, error = self.call(
            east, 'model.sale.opportunity.claim', [lead_id])
        self.assertIsNone(error)
        result, error = self.call(east, 'model.sale.opportunity.read',
            [lead_id], ['in_pool', 'employee'])
        self.assertFalse(result[0]['in_pool'])
        # and the West rep no longer sees it
        result, error = self.call(west, 'model.sale.opportunity.search',
            [('id', '=', lead_id)], 0, None, None)
        self.assertEqual(result, [])
