# This file is part of HiTech CRM. See LICENSE for details.
"""Lead assignment rules: the first matching rule (by sequence) gives the
lead to an employee (round-robin, least-loaded or fixed) or to the pool."""
from sql import For, Literal
from sql.aggregate import Count

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, fields, sequence_ordered)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, Get, If, In
from trytond.tools import grouped_slice, reduce_ids
from trytond.transaction import Transaction

from .account import ACCOUNT_TYPES
from .exceptions import LeadAssignmentError

STRATEGIES = [
    ('round_robin', "Round-robin"),
    ('least_loaded', "Least Loaded"),
    ('fixed', "Fixed Owner"),
    ('pool', "To the Pool"),
    ]


class Party(metaclass=PoolMeta):
    __name__ = 'party.party'

    employee_count = fields.Integer(
        "Employees",
        domain=['OR',
            ('employee_count', '=', None),
            ('employee_count', '>=', 0),
            ],
        states={
            'invisible': Eval('party_kind') != 'company',
            },
        help="The head count of the account (company size).")
    annual_revenue = fields.Numeric(
        "Annual Revenue", digits=(16, 0),
        domain=['OR',
            ('annual_revenue', '=', None),
            ('annual_revenue', '>=', 0),
            ],
        states={
            'invisible': Eval('party_kind') != 'company',
            },
        help="The yearly revenue of the account in the company currency.")


class AssignmentRule(
        DeactivableMixin, sequence_ordered(), ModelSQL, ModelView):
    __name__ = 'hitech.lead.assignment.rule'
    __string__ = "Lead Assignment Rule"

    name = fields.Char("Name", required=True)
    company = fields.Many2One(
        'company.company', "Company", required=True,
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ])
    source = fields.Many2One(
        'hitech.lead.source', "Source", ondelete='CASCADE',
        help="Leave empty for every source.")
    country = fields.Many2One(
        'country.country', "Country", ondelete='CASCADE',
        help="The country of the lead's account address; empty for all.")
    subdivision = fields.Many2One(
        'country.subdivision', "Subdivision", ondelete='CASCADE',
        domain=[
            If(Eval('country'),
                ('country', '=', Eval('country', -1)),
                ()),
            ])
    product_line = fields.Many2One(
        'product.category', "Product Line", ondelete='CASCADE',
        context={'company': Eval('company', -1)}, depends={'company'},
        help="The product line of the lead (or a sub-line); empty for all.")
    product_interest = fields.Char(
        "Product Interest Contains",
        help="Text the product interest of the lead must contain "
        "(case-insensitive); empty for all.")
    account_type = fields.Selection(ACCOUNT_TYPES, "Account Type",
        help="The account type of the lead's account; empty for all.")
    employee_min = fields.Integer("Employees From")
    employee_max = fields.Integer("Employees To")
    revenue_min = fields.Numeric("Revenue From", digits=(16, 0))
    revenue_max = fields.Numeric("Revenue To", digits=(16, 0))
    strategy = fields.Selection(STRATEGIES, "Strategy", required=True)
    sales_team = fields.Many2One(
        'hitech.sales.team', "Sales Team", ondelete='SET NULL',
        domain=[('company', '=', Eval('company', -1))],
        help="The team the matching leads are given to.")
    employee = fields.Many2One(
        'company.employee', "Owner", ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))],
        states={
            'invisible': Eval('strategy') != 'fixed',
            'required': Eval('strategy') == 'fixed',
            })
    employees = fields.Many2Many(
        'hitech.lead.assignment.rule-company.employee', 'rule', 'employee',
        "Employees",
        domain=[('company', '=', Eval('company', -1))],
        states={
            'invisible': ~Eval('strategy').in_(
                ['round_robin', 'least_loaded']),
            },
        help="The reps who take turns; empty for the members of the team.")
    last_employee = fields.Many2One(
        'company.employee', "Last Assigned", readonly=True,
        ondelete='SET NULL',
        help="Round-robin state: the rep who got the last lead.")

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_strategy(cls):
        return 'round_robin'

    @classmethod
    def validate_fields(cls, rules, field_names):
        super().validate_fields(rules, field_names)
        for rule in rules:
            for low, high in [('employee_min', 'employee_max'),
                    ('revenue_min', 'revenue_max')]:
                low_v, high_v = getattr(rule, low), getattr(rule, high)
                if (low_v is not None and high_v is not None
                        and low_v > high_v):
                    raise LeadAssignmentError(gettext(
                            'hitech_crm_base.msg_assignment_rule_range',
                            rule=rule.rec_name))

    def get_candidates(self):
        "Return the employees the strategy chooses from"
        employees = list(self.employees)
        if not employees and self.sales_team:
            employees = [m.employee for m in self.sales_team.members]
            if self.sales_team.manager and not employees:
                employees = [self.sales_team.manager]
        return sorted({e for e in employees if e.active}, key=lambda e: e.id)

    def match(self, lead):
        if self.company != lead.company:
            return False
        if self.source and lead.source != self.source:
            return False
        party = lead.party
        if self.country or self.subdivision:
            addresses = list(party.addresses) if party else []
            if self.country and not any(
                    a.country == self.country for a in addresses):
                return False
            if self.subdivision and not any(
                    a.subdivision == self.subdivision for a in addresses):
                return False
        if self.product_line:
            line = lead.product_line
            while line and line != self.product_line:
                line = line.parent
            if not line:
                return False
        if self.product_interest:
            if (self.product_interest.casefold()
                    not in (lead.product_interest or '').casefold()):
                return False
        if self.account_type:
            if not party or party.account_type != self.account_type:
                return False
        if self.employee_min is not None or self.employee_max is not None:
            size = party.employee_count if party else None
            if size is None:
                return False
            if self.employee_min is not None and size < self.employee_min:
                return False
            if self.employee_max is not None and size > self.employee_max:
                return False
        if self.revenue_min is not None or self.revenue_max is not None:
            revenue = party.annual_revenue if party else None
            if revenue is None:
                return False
            if self.revenue_min is not None and revenue < self.revenue_min:
                return False
            if self.revenue_max is not None and revenue > self.revenue_max:
                return False
        return True

    @classmethod
    def _lock_turns(cls, rules):
        """Lock the rules until the commit and return {rule id: last
        employee id} as stored now.

        On PostgreSQL the rows are locked waiting for the other assigners
        (SELECT ... FOR UPDATE): with Tryton's lock (NOWAIT, then retry)
        concurrent web captures on one round-robin rule failed after the
        retries.  The turn is read after the lock, not from the records
        read before it, so two captures never give the same turn."""
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        ids = [r.id for r in rules]
        for_ = None
        if backend.name == 'postgresql':
            for_ = For('UPDATE')
        else:
            # SQLite has one writer at a time: Tryton's lock is enough
            cls.lock(rules)
        cursor.execute(*table.select(table.id, table.last_employee,
                where=reduce_ids(table.id, ids), for_=for_))
        return dict(cursor)

    @classmethod
    def apply(cls, leads):
        """Return for each lead (employee, team) of the first matching rule;
        employee is None for the pool.  Round-robin state is stored on the
        rules (locked while assigning)."""
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        if not leads:
            return []
        rules = cls.search([], order=[('sequence', 'ASC'), ('id', 'ASC')])
        result = []
        loads = None
        turns = {}
        locked = False
        for lead in leads:
            for rule in rules:
                if rule.match(lead):
                    break
            else:
                result.append((None, None))
                continue
            team = rule.sales_team
            if rule.strategy == 'pool':
                result.append((None, team))
            elif rule.strategy == 'fixed':
                result.append((rule.employee, team))
            else:
                candidates = rule.get_candidates()
                if not candidates:
                    result.append((None, team))
                    continue
                if rule.strategy == 'round_robin':
                    if locked is False:
                        locked = cls._lock_turns(rules)
                    last = turns.get(rule.id)
                    last = last.id if last else locked.get(rule.id)
                    ids = [e.id for e in candidates]
                    if last and last in ids:
                        index = (ids.index(last) + 1) % len(ids)
                    else:
                        index = 0
                    employee = candidates[index]
                    turns[rule.id] = employee
                else:
                    if loads is None:
                        loads = {}
                    missing = [e.id for e in candidates if e.id not in loads]
                    if missing:
                        loads.update(Opportunity.count_open_leads(missing))
                    employee = min(
                        candidates, key=lambda e: (loads.get(e.id, 0), e.id))
                    loads[employee.id] = loads.get(employee.id, 0) + 1
                result.append((employee, team))
        to_write = []
        for rule_id, employee in turns.items():
            to_write.extend(([cls(rule_id)], {'last_employee': employee.id}))
        if to_write:
            cls.write(*to_write)
        return result


class AssignmentRuleEmployee(ModelSQL):
    "Lead Assignment Rule - Employee"
    __name__ = 'hitech.lead.assignment.rule-company.employee'

    rule = fields.Many2One(
        'hitech.lead.assignment.rule', "Rule", required=True,
        ondelete='CASCADE')
    employee = fields.Many2One(
        'company.employee', "Employee", required=True, ondelete='CASCADE')


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    @classmethod
    def count_open_leads(cls, employee_ids):
        "Return {employee id: number of open leads}, one aggregate query"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        result = {i: 0 for i in employee_ids}
        for sub_ids in grouped_slice(employee_ids, backend.MAX_QUERY_PARAMS):
            cursor.execute(*table.select(
                    table.employee, Count(Literal(1)),
                    where=reduce_ids(table.employee, sub_ids)
                    & (table.state == 'lead'),
                    group_by=[table.employee]))
            result.update(cursor)
        return result
