# This file is part of HiTech CRM. See LICENSE for details.
"""Demo data of the pipeline: the demo opportunities follow the sales
processes shipped as data, with a plausible stage history (the stages
they went through, spread between their start and today), lost reasons,
competitors and buying centres.

Called by ``DemoBuilder.build`` of ``tools/demo_data.py``."""
import datetime as dt
from decimal import Decimal

PROCESS_WEIGHTS = [('direct', 0.6), ('channel', 0.25), ('renewal', 0.15)]
LOST_REASONS = [('price', 0.35), ('competitor', 0.25), ('no_budget', 0.15),
    ('no_decision', 0.1), ('timing', 0.1), ('product_fit', 0.05)]
STRENGTHS = ["Lower price", "Local service team", "Existing supplier",
    "Shorter delivery time", "Broader product range"]
WEAKNESSES = ["Lower precision", "No local stock", "Weak software",
    "Long lead times", "Little references in the industry"]


def pick(rng, weights):
    value = rng.random()
    for item, weight in weights:
        value -= weight
        if value <= 0:
            return item
    return weights[-1][0]


def build(builder):
    from trytond.transaction import Transaction
    Opportunity = builder.get('sale.opportunity')
    Process = builder.get('hitech.sales.process')
    History = builder.get('hitech.opportunity.stage.history')
    Reason = builder.get('hitech.opportunity.lost_reason')
    Competitor = builder.get('hitech.opportunity.competitor')
    Party = builder.get('party.party')
    rng = builder.crm_rng
    now = dt.datetime.combine(builder.today, dt.time(10))
    processes = {p.code: p for p in Process.search([])}
    reasons = {r.code: r for r in Reason.search([])}
    competitors = Party.search([('account_type', '=', 'competitor')])
    opportunities = Opportunity.search([
            ('company', '=', builder.company.id),
            ('sales_process', '=', None),
            ], order=[('id', 'ASC')])
    table = Opportunity.__table__()
    cursor = Transaction().connection.cursor()
    vlist, competitor_rows = [], []
    for opportunity in opportunities:
        process = processes[pick(rng, PROCESS_WEIGHTS)]
        open_stages = [s for s in process.stages if s.kind == 'open']
        if opportunity.state == 'won':
            path = open_stages + [process.get_stage('won')]
        elif opportunity.state == 'lost':
            path = open_stages[:rng.randint(1, len(open_stages))] + [
                process.get_stage('lost')]
        elif opportunity.state == 'converted':
            path = open_stages
        elif opportunity.state == 'opportunity':
            path = open_stages[:rng.randint(2, len(open_stages))]
        else:
            path = open_stages[:1]
        start = dt.datetime.combine(opportunity.start_date, dt.time(9))
        span = max((now - start).total_seconds() / 86400, 1)
        # the stays share the time from the start to today (or the end)
        weights = [rng.uniform(0.5, 1.5) for _ in path]
        total = sum(weights) * (1.15 if path[-1].kind == 'open' else 1)
        date = start
        values = {
            'sales_process': process.id,
            'stage': path[-1].id,
            'conversion_probability': path[-1].probability,
            }
        for i, stage in enumerate(path):
            stay = None
            if i + 1 < len(path):
                stay = round(span * weights[i] / total, 4)
            vlist.append({
                    'opportunity': opportunity.id,
                    'process': process.id,
                    'from_stage': path[i - 1].id if i else None,
                    'to_stage': stage.id,
                    'date': date,
                    'employee': (opportunity.employee.id
                        if opportunity.employee else None),
                    'currency': opportunity.currency.id,
                    'amount': opportunity.amount,
                    'probability': stage.probability,
                    'duration': (vlist[-1]['left_at'] - vlist[-1]['date']
                        if i else None),
                    'first_entry': True,
                    'left_at': (date + dt.timedelta(days=stay)
                        if stay is not None else None),
                    'next_stage': path[i + 1].id if stay is not None
                    else None,
                    'stay_days': stay,
                    'cycle_days': (round((date - start).total_seconds()
                            / 86400, 4) if stage.kind != 'open' else None),
                    'stalled_after': (date + dt.timedelta(
                            days=stage.expected_duration)
                        if stage.kind == 'open' and stay is None
                        and stage.expected_duration else None),
                    'stalled_alerted': True,
                    })
            if stay is not None:
                date += dt.timedelta(days=stay)
        values['stage_entered_at'] = date
        if opportunity.state == 'lost':
            values['loss_reason'] = reasons[pick(rng, LOST_REASONS)].id
        # by SQL: the demo rebuilds the past, it does not move the deals
        cursor.execute(*table.update(
                list(map(lambda n: getattr(table, n), values)),
                list(values.values()),
                where=table.id == opportunity.id))
        if competitors and rng.random() < 0.4:
            lost_to_them = (opportunity.state == 'lost'
                and values.get('loss_reason') == reasons['competitor'].id)
            for i, competitor in enumerate(rng.sample(
                        competitors,
                        min(len(competitors), rng.randint(1, 2)))):
                price = (opportunity.amount or Decimal(0)) * rng.choice(
                    [Decimal('0.85'), Decimal('0.9'), Decimal('1.05')])
                competitor_rows.append({
                        'opportunity': opportunity.id,
                        'competitor': competitor.id,
                        'price': price.quantize(Decimal('0.01')),
                        'strengths': rng.choice(STRENGTHS),
                        'weaknesses': rng.choice(WEAKNESSES),
                        'won': lost_to_them and i == 0,
                        })
    History.create(vlist)
    Competitor.create(competitor_rows)
    Opportunity.fill_buying_centre(Opportunity.browse(
            [o.id for o in opportunities if o.party]))
    builder.counts['stage history rows'] = len(vlist)
    builder.counts['deal competitors'] = len(competitor_rows)
