#!/usr/bin/env python3
# This file is part of HiTech CRM. See LICENSE for details.
"""Fill a HiTech CRM database with the demo data of a high-tech vendor.

The data are generated from a seed, so two runs with the same seed, scale
and reference date give the same records.  ``--accounts`` scales the
customer base (200 for the demo, 100000 for benchmarks); accounts are
created in batches so that large scales stay fast.

Run it on a database where the HiTech modules are activated::

    TRYTOND_CONFIG=trytond.conf python tools/demo_data.py -d demo
"""
import argparse
import datetime as dt
import os
import random
import sys
import time
from decimal import Decimal

DEMO_PASSWORD = 'HiTech-demo-2026'

# login, employee name, role groups (module.xml_id), stock groups, team code
DEMO_USERS = [
    ('crm_admin', "Wang Jun", ['hitech_crm_base.group_crm_admin'],
        ['sale_opportunity.group_opportunity', 'sale.group_sale',
            'sale.group_sale_admin', 'party.group_party_admin',
            'company.group_employee_admin', 'project.group_project_admin'],
        'SALES'),
    ('manager', "Zhao Lei", ['hitech_crm_base.group_sales_manager'],
        ['sale_opportunity.group_opportunity', 'sale.group_sale'],
        'NORTH'),
    ('rep', "Liu Yang", ['hitech_crm_base.group_sales_rep'],
        ['sale_opportunity.group_opportunity', 'sale.group_sale'],
        'NORTH'),
    ('channel', "Zheng Hao", ['hitech_channel.group_channel_manager'],
        ['sale_opportunity.group_opportunity', 'sale.group_sale',
            'commission.group_commission',
            'account_credit_limit.group_credit_limit'],
        'CHANNEL'),
    ('agent', "Lin Na", ['hitech_service.group_service_agent'],
        [], 'SERVICE'),
    ('service_manager', "Chen Gang",
        ['hitech_service.group_service_manager'],
        ['timesheet.group_timesheet_admin'], 'SERVICE'),
    ('finance', "Ma Li", ['hitech_crm_base.group_finance'],
        ['account.group_account', 'sale.group_sale',
            'commission.group_commission'],
        None),
    ]

# code, name, kind, parent code, manager name, members [(name, role)]
TEAMS = [
    ('SALES', "Sales", 'direct', None, "Wang Jun", []),
    ('NORTH', "North China Direct", 'direct', 'SALES', "Zhao Lei", [
            ("Liu Yang", 'rep'), ("Sun Li", 'rep'), ("Guo Wen", 'rep')]),
    ('EAST', "East China Direct", 'direct', 'SALES', "Qian Hong", [
            ("Zhou Tao", 'rep'), ("Wu Fang", 'rep'), ("Xu Jing", 'rep')]),
    ('SOUTH', "South China Direct", 'direct', 'SALES', "Deng Yue", [
            ("Luo Qiang", 'rep'), ("Tang Mei", 'rep')]),
    ('PRESALES', "Pre-sales Engineering", 'presales', 'SALES', "Han Bing", [
            ("Cao Rui", 'presales'), ("Peng Fei", 'presales')]),
    ('CHANNEL', "Channel Sales", 'channel', 'SALES', "Zheng Hao", [
            ("Feng Yu", 'rep'), ("Jiang Lan", 'rep')]),
    ('SERVICE', "Technical Service", 'service', None, "Chen Gang", [
            ("Lin Na", 'engineer'), ("Huang Bo", 'engineer'),
            ("He Ping", 'engineer'), ("Yang Xue", 'engineer')]),
    ]
OTHER_EMPLOYEES = ["Ma Li"]

CITIES = [
    ("Beijing", "北京", "+86 10"), ("Shanghai", "上海", "+86 21"),
    ("Shenzhen", "深圳", "+86 755"), ("Hangzhou", "杭州", "+86 571"),
    ("Chengdu", "成都", "+86 28"), ("Wuhan", "武汉", "+86 27"),
    ("Nanjing", "南京", "+86 25"), ("Suzhou", "苏州", "+86 512"),
    ("Guangzhou", "广州", "+86 20"), ("Tianjin", "天津", "+86 22"),
    ("Xi'an", "西安", "+86 29"), ("Qingdao", "青岛", "+86 532"),
    ("Taipei", "台北", "+886 2"), ("Hong Kong", "香港", "+852"),
    ("Singapore", "新加坡", "+65"),
    ]
WORDS = [
    ("Huaxia", "华夏"), ("Zhongxin", "中信"), ("Tianyu", "天宇"),
    ("Xinda", "信达"), ("Ruitong", "瑞通"), ("Hengtai", "恒泰"),
    ("Jinpeng", "金鹏"), ("Haiguang", "海光"), ("Longteng", "龙腾"),
    ("Kaiyuan", "开元"), ("Boxin", "博信"), ("Yuanda", "远大"),
    ("Chuangxin", "创新"), ("Hongtu", "宏图"), ("Shengshi", "盛世"),
    ("Anke", "安科"), ("Zhihui", "智慧"), ("Lianchuang", "联创"),
    ("Dingsheng", "鼎盛"), ("Jiahe", "嘉禾"),
    ]
INDUSTRIES = [
    ("Technology", "科技", "Manufacturing"),
    ("Telecom", "通信", "Telecommunications"),
    ("Electronics", "电子", "Manufacturing"),
    ("Energy", "能源", "Energy"),
    ("Logistics", "物流", "Logistics"),
    ("Medical", "医疗", "Healthcare"),
    ("Automotive", "汽车", "Manufacturing"),
    ("Bank", "银行", "Finance"),
    ("University", "大学", "Education"),
    ("Smart City", "智慧城市", "Government"),
    ]
SUFFIXES = [" Co., Ltd.", " Group", " Inc.", " Corporation", " Co., Ltd."]
SURNAMES = [
    "Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu",
    "Zhou", "Xu", "Sun", "Ma", "Zhu", "Hu", "Guo", "He", "Lin", "Luo",
    "Gao"]
GIVEN = [
    "Wei", "Fang", "Na", "Min", "Jing", "Li", "Qiang", "Lei", "Jun",
    "Yang", "Yong", "Yan", "Jie", "Tao", "Ming", "Chao", "Xiu", "Hua",
    "Ping", "Gang"]
TITLES = [
    "CIO", "IT Director", "Purchasing Manager", "CTO", "Network Engineer",
    "Finance Director", "Project Manager", "Operations Manager"]

# name, code, type, category, list price, cost price, unit
PRODUCTS = [
    ("HX-9000 Edge Server", 'HX9000', 'goods', "Hardware", '68000', '41000',
        'unit'),
    ("HX-5200 Storage Array", 'HX5200', 'goods', "Hardware", '125000',
        '80000', 'unit'),
    ("NetGuard 800 Firewall", 'NG800', 'goods', "Hardware", '32000',
        '18500', 'unit'),
    ("IoT Gateway G2", 'IOTG2', 'goods', "Hardware", '4800', '2600',
        'unit'),
    ("HiOS Enterprise Licence (per node)", 'HIOS-ENT', 'service',
        "Software", '9800', '0', 'unit'),
    ("DataVault Backup Licence (per TB)", 'DV-TB', 'service', "Software",
        '2600', '0', 'unit'),
    ("Annual Support Subscription", 'SUP-YEAR', 'service', "Software",
        '24000', '0', 'unit'),
    ("Installation and Commissioning", 'SRV-INST', 'service', "Services",
        '6000', '2500', 'day'),
    ("On-site Engineer", 'SRV-ENG', 'service', "Services", '900', '400',
        'hour'),
    ("Administrator Training", 'SRV-TRAIN', 'service', "Services", '8000',
        '3000', 'day'),
    ]

# account type (party.party.account_type) of each kind of account, and the
# lifecycle stages it can be in with their weights
ACCOUNT_TYPES = {
    "Customer": ('customer', [('customer', 0.8), ('end_user', 0.2)]),
    "Prospect": ('prospect', [
            ('suspect', 0.3), ('prospect', 0.6), ('lost', 0.1)]),
    "Distributor": ('distributor', [('customer', 1.0)]),
    "Partner": ('partner', [(None, 1.0)]),
    "Competitor": ('competitor', [(None, 1.0)]),
    }
CONTACT_ROLES = [
    ('decision_maker', 0.15), ('economic_buyer', 0.15),
    ('technical_evaluator', 0.25), ('influencer', 0.15), ('user', 0.2),
    ('gatekeeper', 0.1)]
# type, weight, subjects
ACTIVITY_TYPES = [
    ('call', 0.35, ["Qualification call", "Follow-up call",
            "Budget check", "Renewal reminder"]),
    ('visit', 0.2, ["Site survey", "Executive visit", "Solution workshop"]),
    ('meeting', 0.15, ["Quarterly review", "Proposal presentation",
            "Technical deep dive"]),
    ('email', 0.15, ["Send datasheets", "Send quotation",
            "Reference case study"]),
    ('task', 0.15, ["Prepare proposal", "Update account plan",
            "Check credit terms"]),
    ]

OPPORTUNITY_TOPICS = [
    "Data centre refresh", "Branch network security", "Backup modernisation",
    "Edge computing pilot", "Private cloud phase", "IoT plant monitoring",
    "Support renewal", "Campus network upgrade", "Disaster recovery site",
    "Licence true-up"]
# state: share of opportunities
OPPORTUNITY_STATES = [
    ('lead', 0.20), ('opportunity', 0.30), ('converted', 0.15),
    ('won', 0.15), ('lost', 0.12), ('cancelled', 0.08)]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('-c', '--config', nargs='+',
        default=[os.environ['TRYTOND_CONFIG']]
        if os.environ.get('TRYTOND_CONFIG') else None,
        help="trytond configuration files (the last one wins)")
    parser.add_argument('--seed', type=int, default=2026)
    parser.add_argument('--accounts', type=int, default=200,
        help="number of accounts to create (default 200)")
    parser.add_argument('--opportunities', type=int, default=None,
        help="number of opportunities (default: 3 for every 4 accounts)")
    parser.add_argument('--today', type=dt.date.fromisoformat,
        default=dt.date.today(), help="reference date (default today)")
    parser.add_argument('--password', default=DEMO_PASSWORD,
        help="password of the demo users")
    parser.add_argument('--batch', type=int, default=1000)
    parser.add_argument('--activities', type=int, default=None,
        help="number of CRM activities (default: 3 for every 2 accounts)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from trytond import config
    config.update_etc(args.config)
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    Pool.start()
    pool = Pool(args.database)
    pool.init()
    from trytond.transaction import TransactionError
    started = time.monotonic()
    extras = {}
    while True:
        # Singletons and sequences lock their table: as the RPC dispatcher
        # does, retry the whole transaction with the locks it asks for.
        try:
            with Transaction().start(args.database, 0, context={
                        'language': 'en'}, **extras) as transaction:
                builder = DemoBuilder(pool, args)
                if builder.already_done():
                    print("Demo data already present in %s" % args.database)
                    return 0
                builder.build()
                transaction.commit()
            break
        except TransactionError as exception:
            exception.fix(extras)
    print("Demo data created in %.1f s: %s" % (
            time.monotonic() - started,
            ", ".join("%s %s" % (v, k) for k, v in builder.counts.items())))
    return 0


class DemoBuilder:

    def __init__(self, pool, args):
        self.pool = pool
        self.args = args
        self.rng = random.Random(args.seed)
        # the CRM account data draw from their own generator so that the
        # records generated before them stay the same
        self.crm_rng = random.Random(args.seed + 1)
        self.today = args.today
        self.counts = {}

    def get(self, name, type='model'):
        return self.pool.get(name, type=type)

    def ref(self, module_xml_id):
        module, xml_id = module_xml_id.split('.')
        return self.get('ir.model.data').get_id(module, xml_id)

    def already_done(self):
        Team = self.get('hitech.sales.team')
        return bool(Team.search([('code', '=', 'SALES')], limit=1))

    def build(self):
        from trytond.transaction import Transaction
        self.company = self.create_company()
        User = self.get('res.user')
        User.write([User(0), User(1)], {
                'companies': [('add', [self.company.id])],
                'company': self.company.id,
                })
        with Transaction().set_context(
                company=self.company.id, companies=[self.company.id]):
            self.create_accounting()
            self.employees = self.create_organisation()
            self.create_users()
            self.products = self.create_products()
            self.accounts = self.create_accounts()
            self.create_opportunities()
            self.create_activities()
            __import__('demo_leads').build(self)
            __import__('demo_pipeline').build(self)
            __import__('demo_quota').build(self)
            __import__('demo_kb').build(self)
            __import__('demo_service').build(self)
        # the demo company is configured: do not greet the administrator
        # with the module configuration wizard
        Item = self.get('ir.module.config_wizard.item')
        Item.write(Item.search([]), {'state': 'done'})

    # Company and accounting ------------------------------------------------

    def create_company(self):
        Currency = self.get('currency.currency')
        Rate = self.get('currency.currency.rate')
        Party = self.get('party.party')
        Company = self.get('company.company')
        currencies = Currency.search([('code', '=', 'CNY')])
        if currencies:
            currency, = currencies
        else:
            currency, = Currency.create([{
                        'name': "Chinese Yuan Renminbi", 'code': 'CNY',
                        'symbol': '¥', 'numeric_code': '156'}])
            Rate.create([{'currency': currency.id, 'rate': Decimal(1),
                        'date': dt.date(2000, 1, 1)}])
        party, = Party.create([{
                    'name': "HiTech Systems Co., Ltd.",
                    'addresses': [('create', [{
                                    'street': "88 Keji Road",
                                    'city': "Shenzhen",
                                    'postal_code': "518057"}])],
                    'contact_mechanisms': [('create', [
                                {'type': 'website',
                                    'value': 'https://hitech.example.com'},
                                {'type': 'email',
                                    'value': 'sales@hitech.example.com'},
                                ])],
                    }])
        company, = Company.create([{'party': party.id,
                    'currency': currency.id, 'timezone': 'Asia/Shanghai'}])
        return company

    def create_accounting(self):
        from trytond.modules.account.tests import (
            create_chart, get_fiscalyear)
        Account = self.get('account.account')
        FiscalYear = self.get('account.fiscalyear')
        PaymentTerm = self.get('account.invoice.payment_term')
        create_chart(self.company)
        for year in {self.today.year - 1, self.today.year}:
            fiscalyear = get_fiscalyear(
                self.company, today=dt.date(year, 1, 1))
            fiscalyear.save()
            FiscalYear.create_period([fiscalyear])
        self.revenue, = Account.search([
                ('type.revenue', '=', True),
                ('closed', '!=', True),
                ('company', '=', self.company.id)], limit=1)
        self.expense, = Account.search([
                ('type.expense', '=', True),
                ('closed', '!=', True),
                ('company', '=', self.company.id)], limit=1)
        self.payment_term, = PaymentTerm.create([{
                    'name': "30 days",
                    'lines': [('create', [{
                                    'type': 'remainder',
                                    'relativedeltas': [('create', [{
                                                    'days': 30}])],
                                    }])],
                    }])

    # Organisation ----------------------------------------------------------

    def create_organisation(self):
        Party = self.get('party.party')
        Employee = self.get('company.employee')
        Team = self.get('hitech.sales.team')
        names = []
        for _, _, _, _, manager, members in TEAMS:
            names.append(manager)
            names.extend(n for n, _ in members)
        names.extend(OTHER_EMPLOYEES)
        names = list(dict.fromkeys(names))
        parties = Party.create([{
                    'name': n,
                    'party_kind': 'person',
                    'contact_mechanisms': [('create', [{
                                    'type': 'email',
                                    'value': '%s@hitech.example.com' % (
                                        n.lower().replace(' ', '.')),
                                    }])],
                    } for n in names])
        employees = Employee.create([{
                    'party': p.id, 'company': self.company.id,
                    'start_date': dt.date(2018, 1, 1)} for p in parties])
        by_name = dict(zip(names, employees))
        self.teams = {}
        for code, name, kind, parent, manager, members in TEAMS:
            team, = Team.create([{
                        'name': name, 'code': code, 'kind': kind,
                        'parent': self.teams[parent].id if parent else None,
                        'manager': by_name[manager].id,
                        'members': [('create', [{
                                        'employee': by_name[n].id,
                                        'role': role}
                                    for n, role in members])],
                        }])
            self.teams[code] = team
        # supervisors follow the team tree
        for code, _, _, parent, manager, members in TEAMS:
            team = self.teams[code]
            if members:
                Employee.write([by_name[n] for n, _ in members], {
                        'supervisor': by_name[manager].id})
            if parent:
                Employee.write([by_name[manager]], {
                        'supervisor': team.parent.manager.id})
        self.reps = [by_name[n] for code, _, kind, _, _, members in TEAMS
            if kind in {'direct', 'channel'}
            for n, role in members if role == 'rep']
        self.counts['employees'] = len(employees)
        self.counts['teams'] = len(self.teams)
        return by_name

    def create_users(self):
        User = self.get('res.user')
        ModelData = self.get('ir.model.data')
        Module = self.get('ir.module')
        activated = {m.name for m in Module.search([
                    ('state', '=', 'activated')])}
        values = []
        for login, name, groups, stock_groups, team in DEMO_USERS:
            group_ids = []
            for xml_id in groups + stock_groups:
                module, fs_id = xml_id.split('.')
                if module not in activated:
                    continue
                group_ids.append(ModelData.get_id(module, fs_id))
            employee = self.employees[name]
            values.append({
                    'name': name,
                    'login': login,
                    'password': self.args.password,
                    'email': '%s@hitech.example.com' % login,
                    'groups': [('add', group_ids)],
                    'companies': [('add', [self.company.id])],
                    'company': self.company.id,
                    'employees': [('add', [employee.id])],
                    'employee': employee.id,
                    })
        users = User.create(values)
        admin = User(1)
        User.write([admin], {
                'employees': [('add', [self.employees["Wang Jun"].id])],
                'employee': self.employees["Wang Jun"].id,
                })
        self.counts['users'] = len(users)

    # Catalogue -------------------------------------------------------------

    def create_products(self):
        Category = self.get('product.category')
        Template = self.get('product.template')
        Uom = self.get('product.uom')
        units = {
            'unit': Uom(self.ref('product.uom_unit')),
            'hour': Uom(self.ref('product.uom_hour')),
            'day': Uom(self.ref('product.uom_day')),
            }
        account_category, = Category.create([{
                    'name': "Sales Revenue", 'accounting': True,
                    'account_revenue': self.revenue.id,
                    'account_expense': self.expense.id}])
        categories = {}
        for name in ["Hardware", "Software", "Services"]:
            categories[name], = Category.create([{'name': name}])
        templates = Template.create([{
                    'name': name,
                    'type': type_,
                    'default_uom': units[unit].id,
                    'sale_uom': units[unit].id,
                    'list_price': Decimal(price),
                    'salable': True,
                    'account_category': account_category.id,
                    'categories': [('add', [categories[cat].id])],
                    'products': [('create', [{
                                    'suffix_code': code,
                                    'cost_price': Decimal(cost)}])],
                    } for name, code, type_, cat, price, cost, unit
                in PRODUCTS])
        self.counts['products'] = len(templates)
        products = [t.products[0] for t in templates]
        self.prices = {p.id: Decimal(row[4])
            for p, row in zip(products, PRODUCTS)}
        return products

    # Accounts --------------------------------------------------------------

    def account_name(self, index):
        rng = self.rng
        city, city_zh, prefix = rng.choice(CITIES)
        word, word_zh = rng.choice(WORDS)
        industry, industry_zh, segment = rng.choice(INDUSTRIES)
        if rng.random() < 0.3:
            name = "%s%s%s有限公司" % (city_zh, word_zh, industry_zh)
        else:
            name = "%s %s %s%s" % (
                city, word, industry, rng.choice(SUFFIXES))
        return name, city, prefix, word, segment

    def create_accounts(self):
        Party = self.get('party.party')
        PartyCategory = self.get('party.category')
        kinds_parent, = PartyCategory.create([{'name': "Account Type"}])
        kinds = {}
        for kind in ["Customer", "Prospect", "Distributor", "Partner",
                "Competitor"]:
            kinds[kind], = PartyCategory.create([{
                        'name': kind, 'parent': kinds_parent.id}])
        segments_parent, = PartyCategory.create([{'name': "Industry"}])
        segments = {}
        for _, _, segment in INDUSTRIES:
            if segment not in segments:
                segments[segment], = PartyCategory.create([{
                            'name': segment, 'parent': segments_parent.id}])

        weights = [("Customer", 0.45), ("Prospect", 0.35),
            ("Distributor", 0.10), ("Partner", 0.04), ("Competitor", 0.06)]
        seen = set()
        accounts = []
        parties = []
        total = self.args.accounts
        batch = []
        for index in range(total):
            name, city, prefix, word, segment = self.account_name(index)
            if name in seen:
                name = "%s (%s)" % (name, index)
            seen.add(name)
            kind = self.pick(weights)
            domain = "%s%d.example.cn" % (word.lower(), index)
            number = self.phone(prefix)
            batch.append({
                    'name': name,
                    'categories': [('add', [
                                kinds[kind].id, segments[segment].id])],
                    'addresses': [('create', [{
                                    'street': "%d %s Road" % (
                                        self.rng.randrange(1, 999), word),
                                    'city': city}])],
                    'contact_mechanisms': [('create', [
                                {'type': 'phone', 'value': number},
                                {'type': 'email',
                                    'value': 'info@%s' % domain},
                                {'type': 'website',
                                    'value': 'https://www.%s' % domain},
                                ])],
                    })
            accounts.append(kind)
            if len(batch) >= self.args.batch:
                parties += Party.create(batch)
                batch = []
        if batch:
            parties += Party.create(batch)
        self.counts['accounts'] = len(parties)
        self.contacts = self.create_contacts(parties)
        accounts = list(zip(parties, accounts))
        self.set_account_crm(accounts)
        self.link_contacts(accounts)
        return accounts

    def team_of(self):
        "The sales team of each sales rep"
        return {self.employees[name].id: self.teams[code]
            for code, _, _, _, _, members in TEAMS
            for name, role in members if role == 'rep'}

    def set_account_crm(self, accounts):
        "Account type, stage, owner, team and group of each account"
        Party = self.get('party.party')
        rng = self.crm_rng
        team_of = self.team_of()
        channel_reps = [e for e in self.reps
            if team_of[e.id].kind == 'channel']
        direct_reps = [e for e in self.reps if e not in channel_reps]
        to_write = {}
        for party, kind in accounts:
            account_type, stages = ACCOUNT_TYPES[kind]
            owner = rng.choice(
                channel_reps if kind in {"Distributor", "Partner"}
                else direct_reps)
            key = (account_type, self.pick(stages, rng), owner.id)
            to_write.setdefault(key, []).append(party)
        actions = []
        for (account_type, stage, owner), parties in sorted(
                to_write.items(), key=lambda i: (
                    i[0][0], i[0][1] or '', i[0][2])):
            actions.extend([parties, {
                        'account_type': account_type,
                        'stage': stage,
                        'owner': owner,
                        'sales_team': team_of[owner].id,
                        }])
        Party.write(*actions)
        # a few group companies: customers with two or three subsidiaries
        customers = [p for p, kind in accounts if kind == "Customer"]
        groups = customers[:max(1, len(customers) // 15)]
        others = customers[len(groups):]
        rng.shuffle(others)
        actions = []
        for group in groups:
            children = [others.pop() for _ in range(rng.randint(2, 3))
                if others]
            if children:
                actions.extend([children, {'parent': group.id}])
        if actions:
            Party.write(*actions)
        self.counts['account groups'] = len(groups)

    def link_contacts(self, accounts):
        "Link the contacts to their account with a role and a title"
        Link = self.get('hitech.account.contact')
        rng = self.crm_rng
        parents = {p.id: p.parent for p, _ in accounts}
        values = []
        for party, _ in accounts:
            for contact in self.contacts.get(party.id, []):
                role = self.pick(CONTACT_ROLES, rng)
                title = rng.choice(TITLES)
                start = self.today - dt.timedelta(
                    days=rng.randrange(30, 2000))
                values.append({
                        'account': party.id, 'contact': contact.id,
                        'role': role, 'title': title,
                        'start_date': start})
                # contacts of a subsidiary often deal with the group too
                parent = parents.get(party.id)
                if parent and rng.random() < 0.5:
                    values.append({
                            'account': parent.id, 'contact': contact.id,
                            'role': 'influencer', 'title': title,
                            'start_date': start})
        for i in range(0, len(values), self.args.batch):
            Link.create(values[i:i + self.args.batch])
        self.counts['contact links'] = len(values)

    def create_contacts(self, parties):
        Party = self.get('party.party')
        contacts = {}
        batch, owners = [], []
        for party in parties:
            for i in range(self.rng.randint(1, 3)):
                name = "%s %s" % (
                    self.rng.choice(SURNAMES), self.rng.choice(GIVEN))
                login = "%s.%s" % tuple(name.lower().split())
                domain = party.website.split('www.', 1)[-1] \
                    if party.website else 'example.cn'
                batch.append({
                        'name': name,
                        'party_kind': 'person',
                        'contact_mechanisms': [('create', [
                                    {'type': 'email', 'value': '%s@%s' % (
                                            login, domain)},
                                    {'type': 'mobile',
                                        'value': self.phone('+86 1', 10)},
                                    ])],
                        })
                owners.append(party)
            if len(batch) >= self.args.batch:
                for owner, contact in zip(owners, Party.create(batch)):
                    contacts.setdefault(owner.id, []).append(contact)
                batch, owners = [], []
        if batch:
            for owner, contact in zip(owners, Party.create(batch)):
                contacts.setdefault(owner.id, []).append(contact)
        self.counts['contacts'] = sum(len(c) for c in contacts.values())
        return contacts

    def phone(self, prefix, digits=8):
        "A random number that party's phonenumbers validation accepts"
        import phonenumbers
        for _ in range(1000):
            number = prefix + ' ' + ''.join(
                str(self.rng.randrange(10)) for _ in range(digits))
            try:
                parsed = phonenumbers.parse(number)
            except phonenumbers.NumberParseException:
                continue
            if phonenumbers.is_valid_number(parsed):
                return phonenumbers.format_number(
                    parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        raise ValueError("no valid number for %s" % prefix)

    def pick(self, weights, rng=None):
        value = (rng or self.rng).random()
        for item, weight in weights:
            value -= weight
            if value < 0:
                return item
        return weights[-1][0]

    # Opportunities ---------------------------------------------------------

    def create_opportunities(self):
        Opportunity = self.get('sale.opportunity')
        Sale = self.get('sale.sale')
        buyers = [p for p, kind in self.accounts
            if kind in {"Customer", "Prospect", "Distributor"}]
        count = self.args.opportunities
        if count is None:
            count = max(len(OPPORTUNITY_STATES), len(self.accounts) * 3 // 4)
        plans = []
        for index in range(count):
            # every state at least once, then by weight
            if index < len(OPPORTUNITY_STATES):
                state = OPPORTUNITY_STATES[index][0]
            else:
                state = self.pick(OPPORTUNITY_STATES)
            party = self.rng.choice(buyers)
            employee = self.rng.choice(self.reps)
            start = self.today - dt.timedelta(
                days=self.rng.randrange(5, 360))
            lines = []
            for product in self.rng.sample(
                    self.products, self.rng.randint(1, 3)):
                quantity = self.rng.choice([1, 2, 4, 5, 10, 20])
                lines.append({
                        'product': product.id,
                        'quantity': quantity,
                        'unit': product.sale_uom.id,
                        })
            amount = sum(self.prices[l['product']] * l['quantity']
                for l in lines)
            probability = {
                'lead': 10, 'opportunity': self.rng.choice([20, 40, 60, 80]),
                'converted': 90, 'won': 100, 'lost': 30,
                'cancelled': 10}[state]
            plans.append((state, {
                        'description': "%s - %s" % (
                            self.rng.choice(OPPORTUNITY_TOPICS),
                            party.name[:40]),
                        'party': party.id,
                        'address': party.addresses[0].id,
                        'employee': employee.id,
                        'company': self.company.id,
                        'currency': self.company.currency.id,
                        'start_date': start,
                        'end_date': start + dt.timedelta(
                            days=self.rng.randrange(30, 240)),
                        'amount': amount,
                        'conversion_probability': probability / 100,
                        'payment_term': self.payment_term.id,
                        'lines': [('create', lines)],
                        }))
        opportunities = []
        for i in range(0, len(plans), self.args.batch):
            chunk = plans[i:i + self.args.batch]
            opportunities += Opportunity.create([v for _, v in chunk])
        by_state = {}
        for (state, _), opportunity in zip(plans, opportunities):
            by_state.setdefault(state, []).append(opportunity)
        past_lead = [o for s in ['opportunity', 'converted', 'won', 'lost']
            for o in by_state.get(s, [])]
        Opportunity.opportunity(past_lead)
        Opportunity.cancel(by_state.get('cancelled', []))
        lost_early = by_state.get('lost', [])[::2]
        Opportunity.write(lost_early, {
                'lost_reason': "Lost on price against a competitor"})
        Opportunity.write(lost_early, {
                'loss_reason': self.ref('hitech_crm_base.lost_reason_price')})
        Opportunity.lost(lost_early)
        to_convert = [o for s in ['converted', 'won'] for o in by_state.get(
                s, [])] + by_state.get('lost', [])[1::2]
        Opportunity.convert(to_convert)
        sales = Sale.search([('origin', 'like', 'sale.opportunity,%')])
        sale_of = {s.origin.id: s for s in sales}
        won_sales = [sale_of[o.id] for o in by_state.get('won', [])]
        lost_sales = [sale_of[o.id] for o in by_state.get('lost', [])[1::2]]
        Sale.quote(won_sales + lost_sales)
        Sale.confirm(won_sales)
        # confirm() queues the processing; with no worker in a script, do
        # it now so that won deals have their invoices and shipments
        Sale.process(won_sales)
        Queue = self.get('ir.queue')
        Queue.delete(Queue.search([
                    ('data.model', '=', 'sale.sale'),
                    ('dequeued_at', '=', None)]))
        Sale.cancel(lost_sales)
        # only opportunities with sales: process() sets the amount of the
        # others to their (empty) sale amount, which wipes the pipeline
        Opportunity.process(to_convert)
        self.counts['opportunities'] = len(opportunities)
        self.counts['quotations'] = len(sales)
        states = {}
        for o in Opportunity.browse(opportunities):
            states[o.state] = states.get(o.state, 0) + 1
        self.counts.update(
            ('opportunities %s' % k, v) for k, v in sorted(states.items()))

    # Activities ------------------------------------------------------------

    def create_activities(self):
        "Calls, visits, meetings... of the reps over the last weeks"
        Activity = self.get('hitech.activity')
        Opportunity = self.get('sale.opportunity')
        User = self.get('res.user')
        rng = self.crm_rng
        count = self.args.activities
        if count is None:
            count = len(self.accounts) * 3 // 2
        Party = self.get('party.party')
        accounts = Party.browse([p.id for p, kind in self.accounts
                if kind in {"Customer", "Prospect", "Distributor"}])
        by_party = {}
        for opportunity in Opportunity.search(
                [('state', 'in', ['lead', 'opportunity', 'converted'])],
                order=[('id', 'ASC')]):
            by_party.setdefault(opportunity.party.id, []).append(
                opportunity)
        managers = User.search([('login', '=', 'manager')])
        now = dt.datetime.combine(self.today, dt.time(0))
        weights = [(t, w) for t, w, _ in ACTIVITY_TYPES]
        subjects = {t: s for t, _, s in ACTIVITY_TYPES}
        plans = []
        for index in range(count):
            party = rng.choice(accounts)
            type_ = self.pick(weights, rng)
            contacts = self.contacts.get(party.id, [])
            opportunities = by_party.get(party.id, [])
            # from eight weeks back to two weeks ahead, in office hours
            planned = now + dt.timedelta(
                days=rng.randrange(-56, 14), hours=rng.randrange(9, 18))
            if planned < now:
                state = self.pick(
                    [('done', 0.8), ('cancelled', 0.1), ('planned', 0.1)],
                    rng)
            else:
                state = 'planned'
            values = {
                'company': self.company.id,
                'type': type_,
                'subject': "%s - %s" % (
                    rng.choice(subjects[type_]), party.name[:40]),
                'account': party.id,
                'contact': rng.choice(contacts).id if contacts else None,
                'opportunity': (rng.choice(opportunities).id
                    if opportunities and rng.random() < 0.6 else None),
                'employee': party.owner.id,
                'planned_at': planned,
                'duration': dt.timedelta(minutes=rng.choice(
                        [15, 30, 60, 90, 120])),
                }
            if state == 'done':
                values['done_at'] = planned + values['duration']
                values['result'] = rng.choice([
                        "Interested, send a proposal.",
                        "Budget confirmed for next quarter.",
                        "Needs a technical follow-up.",
                        "No project this year."])
                if type_ == 'visit':
                    values.update({
                            'check_in_at': planned,
                            'latitude': Decimal(str(round(
                                        rng.uniform(22, 40), 5))),
                            'longitude': Decimal(str(round(
                                        rng.uniform(104, 122), 5))),
                            'visit_report': "Met the team on site; "
                            "installed base and next steps noted.",
                            })
                if managers and planned < now - dt.timedelta(days=14):
                    values.update({
                            'approved_by': managers[0].id,
                            'approved_at': planned + dt.timedelta(days=3),
                            'manager_comment': "Reviewed.",
                            })
            plans.append((state, values))
        activities = []
        for i in range(0, len(plans), self.args.batch):
            activities += Activity.create(
                [v for _, v in plans[i:i + self.args.batch]])
        by_state = {}
        for (state, _), activity in zip(plans, activities):
            by_state.setdefault(state, []).append(activity)
        Activity.do(by_state.get('done', []))
        Activity.cancel(by_state.get('cancelled', []))
        self.counts['activities'] = len(activities)
        self.counts.update(('activities %s' % k, len(v))
            for k, v in sorted(by_state.items()))


if __name__ == '__main__':
    sys.exit(main())
