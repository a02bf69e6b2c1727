# This file is part of HiTech CRM. See LICENSE for details.
"""Demo quotas and forecasts: a seasonality profile, an approved yearly
quota for every sales representative and sales team of the current year,
and a submitted forecast snapshot of the current quarter for a few reps."""
import datetime as dt
from decimal import Decimal

# weights of January to December: slow around the Spring Festival, strong
# at the end of the quarters and of the year
WEIGHTS = [
    Decimal(w) for w in ['0.8', '0.6', '1.1', '0.9', '1', '1.2', '0.9', '0.9',
        '1.2', '0.9', '1.1', '1.4']]
MONTHS = [
    'january', 'february', 'march', 'april', 'may', 'june', 'july',
    'august', 'september', 'october', 'november', 'december']


def build(builder):
    from trytond.transaction import Transaction
    Seasonality = builder.get('hitech.quota.seasonality')
    Quota = builder.get('hitech.quota')
    Forecast = builder.get('hitech.forecast')
    today = builder.today
    year = today.year
    with Transaction().set_context(
            company=builder.company.id, companies=[builder.company.id]):
        profile, = Seasonality.create([dict(
                    name="China B2B (Spring Festival, quarter ends)",
                    company=builder.company.id,
                    **dict(zip(MONTHS, WEIGHTS)))])
        rng = builder.rng
        values = []
        rep_amounts = {}
        for rep in builder.reps:
            amount = Decimal(rng.randrange(80, 160) * 10000)
            rep_amounts[rep.id] = amount
            values.append({
                    'company': builder.company.id, 'employee': rep.id,
                    'year': year, 'start_date': dt.date(year, 1, 1),
                    'amount': amount, 'seasonality': profile.id,
                    'comment': "Yearly target %s" % year,
                    })
        # a team's target is 5 % above what its members and sub-teams carry
        team_amounts = {}
        for team in sorted(builder.teams.values(),
                key=lambda t: -len(t.rec_name.split(' / '))):
            total = sum((rep_amounts.get(m.employee.id, 0)
                    for m in team.members), Decimal(0))
            total += sum(
                (team_amounts.get(c.id, 0) for c in team.children),
                Decimal(0))
            if not total:
                continue
            team_amounts[team.id] = (total * Decimal('1.05')).quantize(
                Decimal(10000))
            values.append({
                    'company': builder.company.id, 'employee': None,
                    'team': team.id, 'year': year,
                    'start_date': dt.date(year, 1, 1),
                    'amount': team_amounts[team.id],
                    'seasonality': profile.id,
                    })
        quotas = Quota.create(values)
        Quota.submit(quotas)
        Quota.approve(quotas)
        forecasts = Forecast.create([{
                    'company': builder.company.id, 'employee': rep.id,
                    'period_type': 'quarter', 'start_date': today,
                    } for rep in builder.reps[:4]])
        Forecast.submit(forecasts)
    builder.counts['quotas'] = len(quotas)
    builder.counts['forecasts'] = len(forecasts)
