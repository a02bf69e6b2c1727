# This file is part of HiTech CRM. See LICENSE for details.
"""Demo data of the knowledge base: categories and articles in English
and Chinese, written by the demo service agent and published by the demo
service manager."""

CATEGORIES = [
    ("Hardware", None),
    ("Servers and Storage", "Hardware"),
    ("Network and Security", "Hardware"),
    ("Software", None),
    ("Licences", "Software"),
    ]

# title, category, product codes, visibility, state, keywords, problem,
# cause, resolution
ARTICLES = [
    ("HX-9000 does not boot after a firmware update", "Servers and Storage",
        ['HX9000'], 'public', 'published', "bios, firmware, boot loop",
        "The server stops at the logo and restarts after the BIOS "
        "firmware update.",
        "The update was interrupted before the second flash bank was "
        "written.",
        "Hold the recovery button for 10 seconds to boot from the backup "
        "bank, then apply the firmware again from the management console."),
    ("Storage array reports a degraded RAID volume", "Servers and Storage",
        ['HX5200'], 'internal', 'published', "raid, disk, rebuild",
        "The HX-5200 shows an amber LED and the volume is degraded.",
        "A disk failed or was pulled out.",
        "Replace the failed disk with one of the same capacity; the "
        "rebuild starts by itself. Check the progress in the web console."),
    ("NetGuard firewall drops VPN connections every hour",
        "Network and Security", ['NG800'], 'public', 'published',
        "vpn, ipsec, disconnect, timeout",
        "Remote users lose their VPN connection every 60 minutes.",
        "The IPsec key lifetime differs between the firewall and the "
        "clients.",
        "Set the phase 2 lifetime to 28800 seconds on both sides and "
        "enable dead peer detection."),
    ("IoT Gateway G2 loses its network connection", "Network and Security",
        ['IOTG2'], 'internal', 'review', "offline, ethernet, dhcp",
        "The gateway goes offline a few times a day.",
        "The DHCP lease is too short for the gateway's retry interval.",
        "Give the gateway a fixed address or a lease of at least 24 hours."),
    ("HiOS licence shows as expired after renewal", "Licences",
        ['HIOS-ENT'], 'public', 'published', "licence, license, activation",
        "After the renewal the nodes still report an expired licence.",
        "The nodes cache the old licence file for 24 hours.",
        "Run 'hios licence refresh' on the master node or wait one day."),
    ("防火墙升级后VPN频繁掉线", "Network and Security", ['NG800'],
        'public', 'published', "VPN，掉线，升级",
        "防火墙固件升级后，远程用户的VPN连接每小时断开一次。",
        "升级后IPsec密钥生存期被重置为默认值。",
        "在防火墙和客户端上将第二阶段生存期统一设置为28800秒。"),
    ("存储阵列硬盘故障导致卷降级", "Servers and Storage", ['HX5200'],
        'internal', 'published', "硬盘，RAID，重建",
        "存储阵列指示灯变为橙色，卷状态显示为降级。",
        "某块硬盘损坏或被拔出。",
        "更换同容量硬盘后系统会自动重建，可在管理界面查看进度。"),
    ("DataVault backup jobs fail with a timeout", "Software",
        ['DV-TB'], 'internal', 'draft', "backup, timeout, schedule",
        "Nightly backup jobs stop with 'timeout waiting for snapshot'.",
        "", ""),
    ]


def build(builder):
    pool = builder.pool
    Category = pool.get('hitech.kb.category')
    Article = pool.get('hitech.kb.article')
    Product = pool.get('product.product')
    User = pool.get('res.user')
    Lang = pool.get('ir.lang')
    from trytond.transaction import Transaction

    categories = {}
    for name, parent in CATEGORIES:
        categories[name], = Category.create([{
                    'name': name,
                    'parent': categories[parent].id if parent else None,
                    }])
    products = {p.code: p for p in Product.search([])}
    users = {u.login: u for u in User.search(
            [('login', 'in', ['agent', 'service_manager'])])}
    agent = users.get('agent', User(1))
    manager = users.get('service_manager', User(1))
    langs = {l.code: l for l in Lang.search([('code', 'in', ['en', 'zh_CN'])])}
    if not langs['zh_CN'].translatable:
        Lang.write([langs['zh_CN']], {'translatable': True})
    by_state = {}
    for (title, category, codes, visibility, state, keywords, problem,
            cause, resolution) in ARTICLES:
        chinese = any(ord(c) > 0x2e80 for c in title)
        with Transaction().set_user(agent.id):
            article, = Article.create([{
                        'title': title,
                        'category': categories[category].id,
                        'products': [('add', [products[c].id
                                    for c in codes if c in products])],
                        'visibility': visibility,
                        'keywords': keywords,
                        'problem': problem,
                        'cause': cause,
                        'resolution': resolution,
                        'language': langs['zh_CN' if chinese else 'en'].id,
                        }])
        by_state.setdefault(state, []).append(article)
    to_submit = [a for s in ['review', 'published']
        for a in by_state.get(s, [])]
    with Transaction().set_user(agent.id):
        Article.submit(to_submit)
    with Transaction().set_user(manager.id):
        Article.publish(by_state.get('published', []))
    builder.counts['knowledge articles'] = len(ARTICLES)
