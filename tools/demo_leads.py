# This file is part of HiTech CRM. See LICENSE for details.
"""Demo data of the leads: lead forms, assignment rules, web leads (some
in the pool), prospect registrations and tracked keywords with ranks.

Called by ``DemoBuilder.build`` of ``tools/demo_data.py`` with the builder
(its pool, company, teams, reps, random generator and reference date)."""
import datetime as dt

KEYWORDS = [
    ("工业交换机", 'Hardware'),
    ("industrial ethernet switch", 'Hardware'),
    ("5G CPE", 'Hardware'), ("MES 系统", 'Software'),
    ("edge computing gateway", 'Hardware'), ("网络运维服务", 'Services'),
    ]
VISITORS = [
    ("Gao Yan", "Shenzhen Lianyun Tech", 'gao.yan@lianyun-tech.cn',
        '+86 755 2688 1101', "Quote for 40 industrial switches",
        'https://www.baidu.com/s?wd='
        '%E5%B7%A5%E4%B8%9A%E4%BA%A4%E6%8D%A2%E6%9C%BA'),
    ("Lu Ming", "Ningbo Port Logistics", 'lu.ming@nbport-logistics.cn',
        '+86 574 2787 3302', "Need a 5G CPE trial for the terminal",
        'https://www.bing.com/search?q=5G+CPE'),
    ("Tan Hui", "Chengdu Smart Grid", 'tan.hui@cd-smartgrid.cn',
        '+86 28 8553 0203', "Looking for an MES demo",
        'https://www.sogou.com/web?query=MES+%E7%B3%BB%E7%BB%9F'),
    ("Kong Wei", "Wuhan Optics Valley Labs", 'kong.wei@ovlabs.cn',
        '+86 27 8766 0304', "Edge gateways for 12 plants",
        'https://www.google.com/search?q=edge+computing+gateway'),
    ("Shi Lei", "Qingdao Haiyang Foods", 'shi.lei@haiyang-foods.cn',
        '+86 532 8090 0405', "Network maintenance contract", None),
    ("Yan Qiu", "Suzhou Precision Motors", 'yan.qiu@sz-pmotors.cn',
        '+86 512 6530 0506', "Please call me about switches", None),
    ]


def build(builder):
    pool = builder.pool
    Source = pool.get('hitech.lead.source')
    Form = pool.get('hitech.lead.form')
    Rule = pool.get('hitech.lead.assignment.rule')
    Category = pool.get('product.category')
    Keyword = pool.get('hitech.keyword')
    Rank = pool.get('hitech.keyword.rank')
    Opportunity = pool.get('sale.opportunity')
    Registration = pool.get('hitech.lead.registration')
    rng = builder.rng
    company = builder.company
    teams = builder.teams
    today = builder.today

    sources = {s.code: s for s in Source.search([])}
    Form.create([{
                'name': "Website Contact Form", 'code': 'website',
                'company': company.id, 'source': sources['website'].id,
                }, {
                'name': "Trade Show Tablet", 'code': 'booth',
                'company': company.id, 'source': sources['trade_show'].id,
                'key': 'booth-demo-secret-2026',
                'sales_team': teams['EAST'].id,
                }])
    Rule.create([{
                'name': "Search engine leads to the pool", 'sequence': 10,
                'company': company.id, 'source': sources['search'].id,
                'strategy': 'pool', 'sales_team': teams['NORTH'].id,
                }, {
                'name': "Trade show leads: least loaded in East",
                'sequence': 20, 'company': company.id,
                'source': sources['trade_show'].id,
                'strategy': 'least_loaded', 'sales_team': teams['EAST'].id,
                }, {
                'name': "Website leads: round-robin in North",
                'sequence': 30, 'company': company.id,
                'source': sources['website'].id,
                'strategy': 'round_robin', 'sales_team': teams['NORTH'].id,
                }])

    lines = {c.name: c for c in Category.search([
                ('name', 'in', ['Hardware', 'Software', 'Services'])])}
    keywords = Keyword.create([{
                'text': text, 'company': company.id,
                'product_line': lines[line].id if line in lines else None,
                'target_url': 'https://hitech.example.com/%s' % i,
                } for i, (text, line) in enumerate(KEYWORDS)])
    ranks = []
    for keyword in keywords:
        for months in range(6, -1, -1):
            date = (today.replace(day=1) - dt.timedelta(days=30 * months))
            for engine in ['baidu', 'bing']:
                ranks.append({
                        'keyword': keyword.id, 'engine': engine,
                        'date': date, 'rank': rng.randint(1, 40),
                        'search_volume': rng.randint(50, 5000),
                        })
    Rank.create(ranks)

    form, = Form.search([('code', '=', 'website')])
    leads = []
    for name, company_name, email, phone, message, referrer in VISITORS:
        lead, _ = Opportunity.capture(form, {
                'name': name, 'company': company_name, 'email': email,
                'phone': phone, 'message': message, 'referrer': referrer,
                'landing_page': 'https://hitech.example.com/contact',
                })
        leads.append(lead)

    reps = builder.reps
    Registration.create([{
                'company': company.id, 'employee': reps[0].id,
                'name': "Tianjin Binhai Robotics Co., Ltd.",
                'tax_identifier': '91120116MA05JX3K2P',
                'start_date': today - dt.timedelta(days=10),
                'end_date': today + dt.timedelta(days=80),
                }, {
                'company': company.id, 'employee': reps[1].id,
                'name': "Hefei Quantum Devices",
                'phone': '+86 551 6360 0001',
                'start_date': today - dt.timedelta(days=30),
                'end_date': today + dt.timedelta(days=60),
                }])
    builder.counts['web leads'] = len(leads)
    builder.counts['keywords'] = len(keywords)
