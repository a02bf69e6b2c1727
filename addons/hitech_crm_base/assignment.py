# This file is part of HiTech CRM. See LICENSE for details.
"""Lead assignment rules: the first matching rule (by sequence) gives the
lead to an employee (round-robin, least-loaded or fixed) or to the pool."""
from sql import Literal
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
    turns = fields.Function(fields.Integer(
            "Turns Given",
            help="Round-robin state: how many leads the rule has given."),
        'get_turns')
    last_employee = fields.Function(fields.Many2One(
            'company.employee', "Last Assigned",
            help="Round-robin state: the rep whose turn was the last one "
            "(among the current candidates)."),
        'get_last_employee')
    # the turns of the rule when the database has no sequences (SQLite)
    turn_count = fields.Integer("Turn Count", readonly=True)

    @classmethod
    def __register__(cls, module):
        super().__register__(module)
        # every rule has its turn sequence (rules of earlier versions kept
        # their turn in the last_employee column)
        table = cls.__table__()
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        if transaction.database.has_sequence():
            cursor.execute(*table.select(table.id))
            cls._create_turn_sequences([i for i, in cursor])

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @staticmethod
    def default_turn_count():
        return 0

    # the turn sequences found in the databases (they are only dropped with
    # their rule, which is then never matched again)
    _known_sequences = set()

    @classmethod
    def _turn_sequence(cls, rule_id):
        return 'hitech_lead_rule_turn_%s' % int(rule_id)

    @classmethod
    def _create_turn_sequences(cls, ids):
        "Create the missing turn sequences of the rules; return their ids"
        transaction = Transaction()
        database, connection = transaction.database, transaction.connection
        created = []
        for rule_id in ids:
            name = cls._turn_sequence(rule_id)
            if not database.sequence_exist(connection, name):
                database.sequence_create(connection, name)
                created.append(rule_id)
        return created

    @classmethod
    def create(cls, vlist):
        rules = super().create(vlist)
        if Transaction().database.has_sequence():
            cls._create_turn_sequences([r.id for r in rules])
        return rules

    @classmethod
    def copy(cls, rules, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('turn_count', 0)
        return super().copy(rules, default=default)

    @classmethod
    def delete(cls, rules):
        ids = [r.id for r in rules]
        super().delete(rules)
        transaction = Transaction()
        database, connection = transaction.database, transaction.connection
        if database.has_sequence():
            for rule_id in ids:
                name = cls._turn_sequence(rule_id)
                if database.sequence_exist(connection, name):
                    database.sequence_delete(connection, name)

    @classmethod
    def take_turns(cls, counts):
        """Take counts[rule id] round-robin turns of each rule and return
        {rule id: [turn numbers]} (numbers from 1, in the order given).

        On PostgreSQL the turns come from one database sequence per rule:
        a sequence never waits for and never conflicts with a concurrent
        transaction, so captures posted at the same time do not serialise
        on the rule (a turn taken by a transaction that rolls back is
        skipped).  Without sequences (SQLite, one writer at a time) the
        count is stored on the rule under Tryton's lock."""
        transaction = Transaction()
        database, connection = transaction.database, transaction.connection
        result = {}
        if not counts:
            return result
        if database.has_sequence():
            for rule_id, count in counts.items():
                name = cls._turn_sequence(rule_id)
                key = (database.name, name)
                # remembered once committed: one created here may roll back
                if key not in cls._known_sequences and not (
                        cls._create_turn_sequences([rule_id])):
                    cls._known_sequences.add(key)
                result[rule_id] = list(
                    database.sequence_nextvals(connection, name, count))
            return result
        table = cls.__table__()
        cursor = connection.cursor()
        cls.lock([cls(i) for i in counts])
        cursor.execute(*table.select(table.id, table.turn_count,
                where=reduce_ids(table.id, list(counts))))
        given = {i: c or 0 for i, c in cursor}
        for rule_id, count in counts.items():
            start = given.get(rule_id, 0)
            result[rule_id] = list(range(start + 1, start + count + 1))
            cursor.execute(*table.update(
                    [table.turn_count], [start + count],
                    where=table.id == rule_id))
        transaction.counter += 1
        return result

    @classmethod
    def get_turns(cls, rules, name):
        transaction = Transaction()
        database, connection = transaction.database, transaction.connection
        if not database.has_sequence():
            # read in SQL: take_turns updates the column in SQL
            table = cls.__table__()
            cursor = connection.cursor()
            result = {r.id: 0 for r in rules}
            for sub_ids in grouped_slice(
                    [r.id for r in rules], backend.MAX_QUERY_PARAMS):
                cursor.execute(*table.select(table.id, table.turn_count,
                        where=reduce_ids(table.id, sub_ids)))
                result.update((i, c or 0) for i, c in cursor)
            return result
        result = {}
        for rule in rules:
            sequence = cls._turn_sequence(rule.id)
            if database.sequence_exist(connection, sequence):
                result[rule.id] = database.sequence_next_number(
                    connection, sequence) - 1
            else:
                result[rule.id] = 0
        return result

    @classmethod
    def get_last_employee(cls, rules, name):
        result = {}
        for rule in rules:
            result[rule.id] = None
            if rule.strategy != 'round_robin' or not rule.turns:
                continue
            candidates = rule.get_candidates()
            if candidates:
                result[rule.id] = candidates[
                    (rule.turns - 1) % len(candidates)].id
        return result

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
    def apply(cls, leads):
        """Return for each lead (employee, team) of the first matching rule;
        employee is None for the pool.  Round-robin turns are counted per
        rule (see take_turns)."""
        pool = Pool()
        Opportunity = pool.get('sale.opportunity')
        if not leads:
            return []
        rules = cls.search([], order=[('sequence', 'ASC'), ('id', 'ASC')])
        matched = []
        for lead in leads:
            for rule in rules:
                if rule.match(lead):
                    matched.append(rule)
                    break
            else:
                matched.append(None)
        candidates = {}
        counts = {}
        for rule in matched:
            if rule and rule.strategy in {'round_robin', 'least_loaded'}:
                if rule.id not in candidates:
                    candidates[rule.id] = rule.get_candidates()
                if rule.strategy == 'round_robin' and candidates[rule.id]:
                    counts[rule.id] = counts.get(rule.id, 0) + 1
        turns = {i: iter(t) for i, t in cls.take_turns(counts).items()}
        result = []
        loads = None
        for rule in matched:
            if rule is None:
                result.append((None, None))
                continue
            team = rule.sales_team
            if rule.strategy == 'pool':
                result.append((None, team))
            elif rule.strategy == 'fixed':
                result.append((rule.employee, team))
            elif not candidates[rule.id]:
                result.append((None, team))
            elif rule.strategy == 'round_robin':
                employees = candidates[rule.id]
                turn = next(turns[rule.id])
                result.append((employees[(turn - 1) % len(employees)], team))
            else:
                employees = candidates[rule.id]
                if loads is None:
                    loads = {}
                missing = [e.id for e in employees if e.id not in loads]
                if missing:
                    loads.update(Opportunity.count_open_leads(missing))
                employee = min(
                    employees, key=lambda e: (loads.get(e.id, 0), e.id))
                loads[employee.id] = loads.get(employee.id, 0) + 1
                result.append((employee, team))
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
