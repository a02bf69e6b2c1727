# This file is part of HiTech CRM. See LICENSE for details.
"""Demo data of the service desk: business hours, service level policies
with their escalation ladders, service teams, skills and assignment rules,
service contracts, about forty tickets driven through their workflow (so
that the SLA clock, the milestones, the breach flags and the escalation
log are what the code produces), two work orders, a portal user and
answered satisfaction surveys.

The SLA clock of the tickets is moved with the ``sla_now`` context key
(see ``hitech_service.sla.sla_now``): every ticket is created, assigned,
answered and resolved at a time chosen so that, at the reference time of
the build, some tickets are on track, some near breach and some breached.

The demo has no SMTP server: the emails the service desk sends at commit
(replies, entitlement notices) are dropped by ``_no_smtp``, and the
queued emails (surveys, escalations) are removed from the queue at the
end, as demo_data.py does with the queued sales."""
import datetime as dt
from decimal import Decimal

PORTAL_EMAIL = 'portal@hitech-demo.example.cn'

# name, code, parent code
CATEGORIES = [
    ("Hardware", 'HW', None),
    ("Servers", 'HW-SRV', 'HW'),
    ("Storage", 'HW-STO', 'HW'),
    ("Network and Security", 'HW-NET', 'HW'),
    ("Software", 'SW', None),
    ("Licensing", 'SW-LIC', 'SW'),
    ("Backup", 'SW-BCK', 'SW'),
    ("Field Service", 'FIELD', None),
    ("General Enquiry", 'GEN', None),
    ]

# (business hours) response, resolution per priority
DEFAULT_TARGETS = {
    'urgent': (1, 8), 'high': (2, 18), 'normal': (4, 27), 'low': (8, 45)}
PREMIUM_TARGETS = {
    'urgent': (0.5, 4), 'high': (1, 9), 'normal': (2, 18), 'low': (4, 27)}

# name, engineer, ticket categories, product categories, level
SKILLS = [
    ("Lin Na", ['SW', 'GEN'], ["Software"], '3'),
    ("Huang Bo", ['HW-SRV', 'HW-STO'], ["Hardware"], '3'),
    ("He Ping", ['HW-NET'], [], '2'),
    ("Yang Xue", ['HW-STO', 'FIELD'], ["Services"], '2'),
    ]

# subject, category code, product code or None, priority
TOPICS = [
    ("Server does not boot after firmware update", 'HW-SRV', 'HX9000',
        'urgent'),
    ("Fan noise and high temperature alarm", 'HW-SRV', 'HX9000', 'normal'),
    ("RAID volume degraded on storage array", 'HW-STO', 'HX5200', 'high'),
    ("Storage array slow during backups", 'HW-STO', 'HX5200', 'normal'),
    ("VPN users disconnected every hour", 'HW-NET', 'NG800', 'high'),
    ("Firewall rule change request", 'HW-NET', 'NG800', 'low'),
    ("IoT gateway goes offline", 'HW-NET', 'IOTG2', 'normal'),
    ("Licence shows as expired after renewal", 'SW-LIC', 'HIOS-ENT',
        'high'),
    ("Additional node licences needed", 'SW-LIC', 'HIOS-ENT', 'low'),
    ("Nightly backup job times out", 'SW-BCK', 'DV-TB', 'normal'),
    ("Restore of a deleted folder", 'SW-BCK', 'DV-TB', 'urgent'),
    ("On-site installation of new rack", 'FIELD', 'SRV-INST', 'normal'),
    ("Question about support renewal", 'GEN', 'SUP-YEAR', 'low'),
    ("Training dates for administrators", 'GEN', 'SRV-TRAIN', 'low'),
    ]

CHANNELS = ['email', 'web', 'portal', 'phone', 'partner', 'internal']

# state, how many, where the clock stands at the reference time: the share
# of the pending target's business time already used
PLAN = [
    ('new', 5), ('assigned', 5), ('in_progress', 8), ('waiting', 4),
    ('resolved', 5), ('closed', 8), ('cancelled', 2), ('reopened', 3),
    ]
# open tickets: share of the pending target used, in turn
CLOCK = [0.3, 0.85, 1.6, 0.1, 0.5, 0.9, 2.5]

# survey ratings of the closed tickets, in turn (None: not answered)
RATINGS = [5, 4, 1, 5, 3, None, 4, None]
COMMENTS = {
    5: "Quick and competent, thank you.",
    4: "Solved, but the first answer took a while.",
    3: "OK in the end.",
    1: "Three days without news, and the engineer came without the part.",
    }


def _no_smtp():
    """The demo has no mail server: the emails sent at commit are dropped
    instead of failing to connect (the build runs in its own process)"""
    import trytond.sendmail
    trytond.sendmail.get_smtp_server = lambda uri=None, strict=False: None


def _hours(value):
    return dt.timedelta(hours=value)


def build(builder):
    _no_smtp()
    pool = builder.pool
    from trytond.transaction import Transaction
    now = dt.datetime.combine(
        builder.today, dt.datetime.now().time().replace(microsecond=0))
    with Transaction().set_context(sla_now=now):
        calendar = create_calendar(builder)
        categories = create_categories(builder)
        policies = create_policies(builder, calendar, categories)
        teams = create_teams(builder, categories)
        configure(builder)
        entitlements = create_entitlements(builder)
    portal_party, portal_account = create_portal_user(builder)
    tickets = create_tickets(builder, now, calendar, policies, categories,
        teams, entitlements, portal_party, portal_account)
    create_work_orders(builder, now, tickets)
    answer_surveys(builder, tickets)
    Ticket = pool.get('hitech.ticket')
    with Transaction().set_context(sla_now=now):
        builder.counts['escalation log rows'] = Ticket.escalate(now=now)
    # no worker runs in the demo: drop the queued emails (surveys,
    # escalations) rather than leave them to a worker started later
    Queue = pool.get('ir.queue')
    Queue.delete(Queue.search([
                ('data.model', 'like', 'hitech.%'),
                ('dequeued_at', '=', None),
                ]))


def create_calendar(builder):
    Calendar = builder.get('hitech.service.calendar')
    year = builder.today.year
    holidays = [
        (dt.date(year, 1, 1), "New Year's Day"),
        (dt.date(year, 5, 1), "Labour Day"),
        (dt.date(year, 10, 1), "National Day"),
        (dt.date(year, 10, 2), "National Day"),
        (dt.date(year, 10, 3), "National Day"),
        (dt.date(year + 1, 1, 1), "New Year's Day"),
        ]
    calendar, = Calendar.create([{
                'name': "Service Desk Shanghai (Mon-Fri 09:00-18:00)",
                'company': builder.company.id,
                'timezone': 'Asia/Shanghai',
                'intervals': [('create', [{
                                'weekday': str(d),
                                'start_time': dt.time(9),
                                'end_time': dt.time(18),
                                } for d in range(5)])],
                'exceptions': [('create', [{
                                'date': d, 'name': n} for d, n in holidays])],
                }])
    builder.counts['service calendars'] = 1
    return calendar


def create_categories(builder):
    Category = builder.get('hitech.ticket.category')
    categories = {}
    for name, code, parent in CATEGORIES:
        categories[code], = Category.create([{
                    'name': name, 'code': code,
                    'parent': categories[parent].id if parent else None,
                    }])
    builder.counts['ticket categories'] = len(categories)
    return categories


def _ladder():
    return [('create', [{
                    'sequence': 10,
                    'name': "First response overdue",
                    'target': 'response', 'trigger': 'breach',
                    'notify': 'team_manager',
                    }, {
                    'sequence': 20,
                    'name': "Half of the resolution time used",
                    'target': 'resolution', 'trigger': 'percent',
                    'percent': 50, 'notify': 'handler',
                    }, {
                    'sequence': 30,
                    'name': "Resolution breached",
                    'target': 'resolution', 'trigger': 'breach',
                    'notify': 'team_manager', 'raise_priority': True,
                    }, {
                    'sequence': 40,
                    'name': "One hour after the breach",
                    'target': 'resolution', 'trigger': 'after_breach',
                    'delay': _hours(1), 'notify': 'service_manager',
                    'send_email': True,
                    }])]


def create_policies(builder, calendar, categories):
    Policy = builder.get('hitech.sla.policy')
    Reminder = builder.get('hitech.sla.reminder')
    premium, default = Policy.create([{
                'name': "Premium and Mission-Critical Contracts",
                'sequence': 10,
                'company': builder.company.id,
                'calendar': calendar.id,
                'coverage': 'contract',
                'targets': [('create', [{
                                'priority': p,
                                'response_time': _hours(r),
                                'resolution_time': _hours(s),
                                } for p, (r, s) in PREMIUM_TARGETS.items()])],
                'escalation_steps': _ladder(),
                }, {
                'name': "Standard Support",
                'sequence': 100,
                'company': builder.company.id,
                'calendar': calendar.id,
                'targets': [('create', [{
                                'priority': p,
                                'response_time': _hours(r),
                                'resolution_time': _hours(s),
                                } for p, (r, s) in DEFAULT_TARGETS.items()])],
                'escalation_steps': _ladder(),
                }])
    Reminder.create([{
                'name': "Customer waiting for more than 24 hours",
                'company': builder.company.id,
                'kind': 'waiting',
                'delay': _hours(24),
                'notify': 'handler',
                }])
    builder.counts['SLA policies'] = 2
    return {'premium': premium, 'default': default}


def create_teams(builder, categories):
    Team = builder.get('hitech.sales.team')
    Skill = builder.get('hitech.service.skill')
    Rule = builder.get('hitech.ticket.assignment.rule')
    ProductCategory = builder.get('product.category')
    employees = builder.employees
    service, = Team.search([('code', '=', 'SERVICE')])
    field, = Team.create([{
                'name': "Field Engineering", 'code': 'FIELD',
                'kind': 'service', 'parent': service.id,
                'manager': employees["Huang Bo"].id,
                'members': [('create', [
                            {'employee': employees[n].id,
                                'role': 'engineer'}
                            for n in ["He Ping", "Yang Xue"]])],
                }])
    product_categories = {c.name: c for c in ProductCategory.search([
                ('name', 'in', ["Hardware", "Software", "Services"])])}
    Skill.create([{
                'employee': employees[name].id,
                'ticket_categories': [('add', [
                            categories[c].id for c in ticket_categories])],
                'product_categories': [('add', [
                            product_categories[c].id
                            for c in product_categories_
                            if c in product_categories])],
                'level': level,
                } for name, ticket_categories, product_categories_, level
            in SKILLS])
    Rule.create([{
                'name': "Partner and field requests to Field Engineering",
                'sequence': 10,
                'company': builder.company.id,
                'category': categories['FIELD'].id,
                'service_team': field.id,
                'strategy': 'round_robin',
                }, {
                'name': "Hardware by skill",
                'sequence': 20,
                'company': builder.company.id,
                'category': categories['HW'].id,
                'service_team': service.id,
                'strategy': 'skill',
                }, {
                'name': "Everything else: least loaded engineer",
                'sequence': 100,
                'company': builder.company.id,
                'service_team': service.id,
                'strategy': 'least_loaded',
                }])
    builder.counts['service skills'] = len(SKILLS)
    builder.counts['assignment rules'] = 3
    return {'SERVICE': service, 'FIELD': field}


def configure(builder):
    Configuration = builder.get('hitech.service.configuration')
    Product = builder.get('product.product')
    labour = Product.search([('code', '=', 'SRV-ENG')], limit=1)
    config = Configuration(1)
    config.service_manager = builder.employees["Chen Gang"]
    config.email_from = 'service@hitech.example.com'
    config.survey_low_score = 2
    config.survey_validity = 14
    config.work_order_approval_amount = Decimal(5000)
    config.work_order_hourly_rate = Decimal(900)
    if labour:
        config.work_order_labour_product = labour[0]
    config.save()


def _customers(builder):
    return [p for p, kind in builder.accounts
        if kind in {"Customer", "Distributor"}
        and builder.contacts.get(p.id)]


def create_entitlements(builder):
    "Service contracts of a few customers (the premium policy covers them)"
    Entitlement = builder.get('hitech.service.entitlement')
    Party = builder.get('party.party')
    customers = _customers(builder)[1:5]
    tiers = ['mission_critical', 'premium', 'premium', 'standard']
    entitlements = Entitlement.create([{
                'company': builder.company.id,
                'account': party.id,
                'start_date': builder.today - dt.timedelta(days=200),
                'end_date': builder.today + dt.timedelta(days=165),
                'tier': tier,
                'contract_reference': 'SUP-%s-%03d' % (
                    builder.today.year, i + 1),
                'owner': builder.employees["Chen Gang"].id,
                } for i, (party, tier) in enumerate(zip(customers, tiers))])
    Party.write(customers[:2], {'service_tier': 'premium'})
    builder.counts['service entitlements'] = len(entitlements)
    return {e.account.id: e for e in entitlements}


def create_portal_user(builder):
    "A contact of the first customer logs into the portal"
    WebUser = builder.get('web.user')
    from demo_data import DEMO_PASSWORD
    account = _customers(builder)[0]
    contact = builder.contacts[account.id][0]
    WebUser.create([{
                'email': PORTAL_EMAIL,
                'password': DEMO_PASSWORD,
                'party': contact.id,
                'secondary_parties': [('add', [account.id])],
                'service_company': builder.company.id,
                }])
    builder.counts['portal users'] = 1
    return contact, account


def _start_for(calendar, now, business):
    "The time from which business time of calendar runs until now"
    low, high = dt.timedelta(0), dt.timedelta(days=90)
    for _ in range(40):
        middle = (low + high) / 2
        if calendar.business_time(now - middle, now) < business:
            low = middle
        else:
            high = middle
    return (now - high).replace(microsecond=0)


def create_tickets(builder, now, calendar, policies, categories, teams,
        entitlements, portal_party, portal_account):
    from trytond.transaction import Transaction
    pool = builder.pool
    Ticket = pool.get('hitech.ticket')
    Message = pool.get('hitech.ticket.message')
    Article = pool.get('hitech.kb.article')
    User = pool.get('res.user')
    Product = pool.get('product.product')
    rng = builder.rng
    products = {p.code: p for p in Product.search([])}
    articles = {}
    for article in Article.search([('state', '=', 'published')],
            order=[('id', 'ASC')]):
        for product in article.products:
            articles.setdefault(product.id, []).append(article)
    agent, = User.search([('login', '=', 'agent')])
    customers = _customers(builder)
    covered = [p for p in customers if p.id in entitlements]
    engineers = [builder.employees[n] for n in [
            "Lin Na", "Huang Bo", "He Ping", "Yang Xue"]]

    plans = []
    index = 0
    for state, count in PLAN:
        for i in range(count):
            plans.append((index, state))
            index += 1
    # the portal user's account has one ticket of most states
    portal_states = {'new', 'in_progress', 'waiting', 'resolved', 'closed'}
    tickets = {}
    clock = 0
    for index, state in plans:
        subject, category, code, priority = TOPICS[index % len(TOPICS)]
        if rng.random() < 0.3:
            priority = rng.choice(['low', 'normal', 'high', 'urgent'])
        if state in portal_states:
            portal_states.discard(state)
            account, contact = portal_account, portal_party
        elif index % 4 == 1 and covered:
            account = covered[index % len(covered)]
            contact = rng.choice(builder.contacts[account.id])
        else:
            account = rng.choice(customers)
            contact = rng.choice(builder.contacts[account.id])
        channel = CHANNELS[index % len(CHANNELS)]
        product = products.get(code)
        serial = None
        if product and product.type == 'goods':
            serial = '%s-%s-%05d' % (
                code, builder.today.year - rng.randint(0, 3),
                rng.randrange(100000))
        # when the clock started, in business time before now
        policy = policies[
            'premium' if account.id in entitlements else 'default']
        target = policy.get_target(priority)
        pending = target.resolution_time
        if state in {'new', 'assigned'}:
            pending = target.response_time
        if state in {'resolved', 'closed', 'cancelled'}:
            # resolved at 80 % of it: most in time, a few late
            share = rng.choice([0.4, 0.7, 0.9, 1.1, 1.8])
        elif state == 'waiting':
            share = 0.4 + rng.random()
        else:
            share = CLOCK[clock % len(CLOCK)]
            clock += 1
        start = _start_for(calendar, now, pending * share)
        values = {
            'company': builder.company.id,
            'subject': subject,
            'description': "%s.\nReported by %s (%s)." % (
                subject, contact.name, account.name),
            'account': account.id,
            'contact': contact.id,
            'priority': priority,
            'category': categories[category].id,
            'product': product.id if product else None,
            'serial_number': serial,
            'channel': channel,
            'entitlement': (entitlements[account.id].id
                if account.id in entitlements else None),
            }
        context = {'sla_now': start}
        if state == 'new':
            # left in the Unassigned tab
            context['hitech_no_assignment'] = True
        with Transaction().set_context(**context):
            ticket, = Ticket.create([values])
            if ticket.state == 'new' and state != 'new':
                # no rule matched: the engineer with the skill takes it
                Ticket.write([ticket], {'handler': rng.choice(engineers).id,
                        'service_team': teams['SERVICE'].id})
                Ticket.assign([ticket])
            Message.create([{
                        'ticket': ticket.id,
                        'direction': 'incoming',
                        'date': start,
                        'party': contact.id,
                        'email_from': contact.email,
                        'subject': subject,
                        'body': values['description'],
                        }])
        _drive(builder, ticket, state, start, now, agent, calendar,
            target, articles, rng)
        tickets.setdefault(state, []).append(Ticket(ticket.id))
    _backdate(Ticket)
    counts = {}
    for ticket in Ticket.search([]):
        counts[ticket.state] = counts.get(ticket.state, 0) + 1
    builder.counts['tickets'] = sum(counts.values())
    builder.counts.update(('tickets %s' % k, v)
        for k, v in sorted(counts.items()))
    return tickets


def _backdate(Ticket):
    """Show the tickets as opened when their SLA clock started (lists and
    the portal show the creation date, which the ORM sets to now)"""
    from trytond.transaction import Transaction
    table = Ticket.__table__()
    cursor = Transaction().connection.cursor()
    cursor.execute(*table.update(
            [table.create_date], [table.sla_started_at],
            where=table.sla_started_at != None))  # noqa: E711


def _reply(ticket, date, agent, body):
    from trytond.pool import Pool
    Message = Pool().get('hitech.ticket.message')
    Message.create([{
                'ticket': ticket.id,
                'direction': 'outgoing',
                'date': date,
                'author': agent.id,
                'email_from': 'service@hitech.example.com',
                'email_to': ticket.contact.email if ticket.contact else None,
                'subject': ticket.get_email_subject('Re: ' + ticket.subject),
                'body': body,
                }])


def _drive(builder, ticket, state, start, now, agent, calendar, target,
        articles, rng):
    """Move the ticket to state through the workflow buttons, each step at
    a business time between start and now"""
    from trytond.transaction import Transaction
    pool = builder.pool
    Ticket = pool.get('hitech.ticket')
    Message = pool.get('hitech.ticket.message')
    business = calendar.business_time(start, now)
    steps = {'new': 0, 'assigned': 0, 'in_progress': 2, 'waiting': 3,
        'resolved': 4, 'closed': 5, 'cancelled': 2, 'reopened': 6}[state]

    def at(share):
        "The time when share of the business time until now had elapsed"
        if isinstance(share, dt.timedelta):
            offset = share
        else:
            offset = business * share
        return min(calendar.add_business_time(start, offset), now).replace(
            microsecond=0)

    def on(share):
        return Transaction().set_context(sla_now=at(share))

    if state in {'new', 'assigned'}:
        return
    if state == 'cancelled':
        with on(0.2):
            _reply(ticket, at(0.2), agent,
                "The customer solved it himself: closing the request.")
            Ticket.cancel([ticket])
        return
    # first response and work: most in time, the late ones breach
    response = target.response_time * (
        0.4 if rng.random() < 0.75 else 1.5)
    response = min(response, business * 0.3)
    with on(response):
        Ticket.start([ticket])
        _reply(ticket, at(response), agent,
            "Thank you for your request %s: we are looking into it." %
            ticket.number)
    if rng.random() < 0.5:
        note = response + business * 0.05
        with on(note):
            Message.create([{
                        'ticket': ticket.id,
                        'direction': 'internal',
                        'date': at(note),
                        'author': agent.id,
                        'body': "Checked the logs; escalated to the lab.",
                        }])
    if steps >= 3:
        with on(0.5):
            _reply(ticket, at(0.5), agent,
                "Could you send us the diagnostic file of the unit?")
            Ticket.wait([ticket])
    if state == 'waiting':
        return
    if steps >= 4:
        with on(0.65):
            Message.create([{
                        'ticket': ticket.id,
                        'direction': 'incoming',
                        'date': at(0.65),
                        'party': ticket.contact.id,
                        'email_from': ticket.contact.email,
                        'subject': 'Re: ' + ticket.subject,
                        'body': "Here is the diagnostic file.",
                        }])
            Ticket.start([ticket])
        linked = articles.get(ticket.product.id if ticket.product else None)
        values = {'resolution': "Applied the documented fix; the customer "
            "confirmed that the unit works again."}
        if linked:
            values['kb_articles'] = [('add', [linked[0].id])]
        with on(0.8):
            Ticket.write([ticket], values)
            Ticket.resolve([ticket])
    if steps >= 5:
        with on(0.9):
            Ticket.close([ticket])
    if state == 'reopened':
        with on(0.95):
            Message.create([{
                        'ticket': ticket.id,
                        'direction': 'incoming',
                        'date': at(0.95),
                        'party': ticket.contact.id,
                        'email_from': ticket.contact.email,
                        'subject': 'Re: ' + ticket.subject,
                        'body': "The problem is back since this morning.",
                        }])
            Ticket.reopen([ticket])


def create_work_orders(builder, now, tickets):
    "An on-site visit scheduled, one waiting for the manager's approval"
    WorkOrder = builder.get('hitech.work.order')
    Product = builder.get('product.product')
    candidates = tickets.get('in_progress', []) + tickets.get('assigned', [])
    candidates = [t for t in candidates if t.account and t.account.addresses]
    if len(candidates) < 2:
        return
    part, = Product.search([('code', '=', 'IOTG2')], limit=1)
    tomorrow = dt.datetime.combine(
        builder.today + dt.timedelta(days=1), dt.time(2))  # 10:00 Shanghai
    visit, big = WorkOrder.create([{
                'ticket': candidates[0].id,
                'engineer': builder.employees["Huang Bo"].id,
                'description': "Replace the faulty unit and run the "
                "diagnostics with the customer.",
                'address': candidates[0].account.addresses[0].id,
                'scheduled_start': tomorrow,
                'scheduled_end': tomorrow + dt.timedelta(hours=3),
                'estimated_hours': 3,
                'estimated_cost': Decimal(3200),
                'parts': [('create', [{
                                'product': part.id,
                                'unit': part.default_uom.id,
                                'quantity': 1,
                                'serial_number': 'IOTG2-%s-00042' % (
                                    builder.today.year),
                                'cost_price': part.cost_price,
                                'unit_price': part.list_price,
                                'chargeable': False,
                                }])],
                'expenses': [('create', [{
                                'date': builder.today,
                                'type': 'travel',
                                'description': "Taxi to the customer site",
                                'amount': Decimal(180),
                                }])],
                }, {
                'ticket': candidates[1].id,
                'engineer': builder.employees["Yang Xue"].id,
                'description': "Two-day on-site migration of the storage "
                "array to the new rack.",
                'address': candidates[1].account.addresses[0].id,
                'scheduled_start': tomorrow + dt.timedelta(days=6),
                'scheduled_end': tomorrow + dt.timedelta(days=7, hours=6),
                'estimated_hours': 16,
                'estimated_cost': Decimal(18400),
                'expenses': [('create', [{
                                'date': builder.today,
                                'type': 'lodging',
                                'description': "Hotel, one night",
                                'amount': Decimal(650),
                                }, {
                                'date': builder.today,
                                'type': 'travel',
                                'description': "High-speed train",
                                'amount': Decimal(553),
                                }])],
                }])
    WorkOrder.schedule([visit])
    WorkOrder.request_approval([big])
    builder.counts['work orders'] = 2


def answer_surveys(builder, tickets):
    "The customers answer the surveys sent when their ticket was closed"
    Survey = builder.get('hitech.ticket.survey')
    closed = tickets.get('closed', [])
    surveys = Survey.search([('ticket', 'in', [t.id for t in closed])],
        order=[('ticket', 'ASC')])
    answered = 0
    for survey, rating in zip(surveys, RATINGS):
        if rating is None or survey.state != 'sent':
            continue
        survey.answer(rating, COMMENTS.get(rating), through='email')
        answered += 1
    builder.counts['surveys'] = len(surveys)
    builder.counts['surveys answered'] = answered
