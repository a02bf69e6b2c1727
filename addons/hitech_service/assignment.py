# This file is part of HiTech CRM. See LICENSE for details.
"""Who handles a ticket: skills of the service engineers and ordered
assignment rules with their strategies."""
from sql.aggregate import Count

from trytond import backend
from trytond.model import (
    DeactivableMixin, MatchMixin, ModelSQL, ModelView, fields,
    sequence_ordered)
from trytond.modules.hitech_crm_base.account import ACCOUNT_TYPES
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, Get, If, In
from trytond.tools import grouped_slice
from trytond.transaction import Transaction, without_check_access

from .ticket import CHANNELS, OPEN_STATES, PRIORITIES

SKILL_LEVELS = [
    ('1', "Basic"),
    ('2', "Confirmed"),
    ('3', "Expert"),
    ]
STRATEGIES = [
    ('round_robin', "Round Robin"),
    ('least_loaded', "Least Loaded"),
    ('skill', "By Skill and Product"),
    ('fixed', "Fixed Handler"),
    ]


class ServiceSkill(ModelSQL, ModelView):
    "Service Skill"
    __name__ = 'hitech.service.skill'

    employee = fields.Many2One(
        'company.employee', "Employee", required=True, ondelete='CASCADE')
    product_categories = fields.Many2Many(
        'hitech.service.skill-product.category', 'skill', 'category',
        "Product Categories",
        help="The product lines the employee services (and their "
        "sub-categories).")
    ticket_categories = fields.Many2Many(
        'hitech.service.skill-hitech.ticket.category', 'skill', 'category',
        "Ticket Categories",
        help="The kinds of requests the employee handles (and their "
        "sub-categories).")
    level = fields.Selection(SKILL_LEVELS, "Level", required=True,
        sort=False,
        help="Higher levels are preferred by the \"By Skill\" strategy.")
    level_string = level.translated('level')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order.insert(0, ('employee', 'ASC'))

    @classmethod
    def default_level(cls):
        return '2'

    def get_rec_name(self, name):
        return '%s (%s)' % (self.employee.rec_name, self.level_string)

    def match_ticket(self, ticket):
        "Return the strength of the skill for the ticket (0: no match)"
        strength = 0
        if ticket.category and self.ticket_categories:
            ids = {c.id for c in self.ticket_categories}
            category = ticket.category
            while category:
                if category.id in ids:
                    strength += 1
                    break
                category = category.parent
        product = ticket.product
        if product and self.product_categories:
            ids = {c.id for c in self.product_categories}
            for category in getattr(
                    product.template, 'categories_all', None) or []:
                node = category
                while node:
                    if node.id in ids:
                        strength += 1
                        break
                    node = node.parent
                else:
                    continue
                break
        return strength


class ServiceSkillProductCategory(ModelSQL):
    "Service Skill - Product Category"
    __name__ = 'hitech.service.skill-product.category'

    skill = fields.Many2One(
        'hitech.service.skill', "Skill", required=True, ondelete='CASCADE')
    category = fields.Many2One(
        'product.category', "Category", required=True, ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('skill')


class ServiceSkillTicketCategory(ModelSQL):
    "Service Skill - Ticket Category"
    __name__ = 'hitech.service.skill-hitech.ticket.category'

    skill = fields.Many2One(
        'hitech.service.skill', "Skill", required=True, ondelete='CASCADE')
    category = fields.Many2One(
        'hitech.ticket.category', "Category", required=True,
        ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.add('skill')


class AssignmentRule(
        DeactivableMixin, sequence_ordered(), MatchMixin,
        ModelSQL, ModelView):
    "Ticket Assignment Rule"
    __name__ = 'hitech.ticket.assignment.rule'

    name = fields.Char("Name", required=True, translate=True)
    company = fields.Many2One(
        'company.company', "Company", required=True,
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ])
    category = fields.Many2One(
        'hitech.ticket.category', "Category", ondelete='CASCADE',
        help="Match tickets of this category or of its sub-categories.")
    product = fields.Many2One(
        'product.product', "Product", ondelete='CASCADE',
        context={'company': Eval('company', -1)}, depends={'company'})
    channel = fields.Selection([(None, "")] + CHANNELS, "Channel",
        sort=False)
    priority = fields.Selection([(None, "")] + PRIORITIES, "Priority",
        sort=False)
    account_type = fields.Selection(ACCOUNT_TYPES, "Account Type",
        help="Match tickets of accounts of this type.")
    service_team = fields.Many2One(
        'hitech.sales.team', "Service Team", ondelete='CASCADE',
        domain=[
            ('company', '=', Eval('company', -1)),
            ('kind', '=', 'service'),
            ],
        states={
            'required': Eval('strategy') != 'fixed',
            },
        help="The team the ticket goes to; its members are the "
        "candidates.")
    strategy = fields.Selection(STRATEGIES, "Strategy", required=True,
        help="Round Robin: the members in turn.\n"
        "Least Loaded: the member with the fewest open tickets.\n"
        "By Skill and Product: the members with a skill for the category "
        "or product, highest level first, then the least loaded.\n"
        "Fixed Handler: always the same employee.")
    handler = fields.Many2One(
        'company.employee', "Handler", ondelete='CASCADE',
        domain=[('company', '=', Eval('company', -1))],
        states={
            'required': Eval('strategy') == 'fixed',
            'invisible': Eval('strategy') != 'fixed',
            })
    last_handler = fields.Many2One(
        'company.employee', "Last Handler", readonly=True,
        ondelete='SET NULL',
        states={
            'invisible': Eval('strategy') != 'round_robin',
            },
        help="The member who got the last ticket of the round.")

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_strategy():
        return 'least_loaded'

    def match(self, pattern, match_none=False):
        pattern = pattern.copy()
        category = pattern.pop('category', None)
        if self.category:
            if not category or self.category.id not in category:
                return False
        return super().match(pattern, match_none=match_none)

    @classmethod
    def _ticket_pattern(cls, ticket):
        "Return the pattern of a ticket matched by the rules"
        categories = []
        category = ticket.category
        while category:
            categories.append(category.id)
            category = category.parent
        return {
            'company': ticket.company.id,
            'category': categories,
            'product': ticket.product.id if ticket.product else None,
            'channel': ticket.channel,
            'priority': ticket.priority,
            'account_type': (
                ticket.account.account_type if ticket.account else None),
            }

    @classmethod
    def get_rule(cls, ticket):
        "Return the first rule that matches the ticket"
        pattern = cls._ticket_pattern(ticket)
        for rule in cls.search([('company', '=', ticket.company.id)]):
            if rule.match(pattern):
                return rule


class Ticket(metaclass=PoolMeta):
    __name__ = 'hitech.ticket'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._buttons.update({
                'auto_assign': {
                    'invisible': ~Eval('state').in_(['new', 'reopened']),
                    'icon': 'tryton-launch',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def on_modification(cls, mode, tickets, field_names=None):
        super().on_modification(mode, tickets, field_names=field_names)
        if mode == 'create' and not Transaction().context.get(
                'hitech_no_assignment'):
            cls.apply_assignment(
                [t for t in tickets if cls._to_assign_on_create(t)])

    @classmethod
    def _to_assign_on_create(cls, ticket):
        "Whether a new ticket runs through the assignment rules"
        return not ticket.handler

    @classmethod
    @ModelView.button
    def auto_assign(cls, tickets):
        cls.apply_assignment(tickets)

    @classmethod
    def apply_assignment(cls, tickets):
        """Assign the tickets by the first matching rule.

        Tickets without a matching rule or candidate are left as they
        are (in the Unassigned tab)."""
        pool = Pool()
        Rule = pool.get('hitech.ticket.assignment.rule')
        to_assign = []
        for ticket in tickets:
            if ticket.state not in {'new', 'reopened'}:
                continue
            rule = Rule.get_rule(ticket)
            if not rule:
                continue
            handler = cls._choose_handler(ticket, rule)
            values = {}
            if rule.service_team:
                values['service_team'] = rule.service_team.id
            if handler:
                values['handler'] = handler.id
            if values:
                cls.write([ticket], values)
            if handler:
                to_assign.append(ticket)
        if to_assign:
            cls.assign(to_assign)

    @classmethod
    def _get_assignment_candidates(cls, ticket, rule):
        "Return the employees who may handle the ticket under the rule"
        if rule.strategy == 'fixed':
            return [rule.handler] if rule.handler else []
        team = rule.service_team or ticket.service_team
        if not team:
            return []
        return sorted({m.employee for m in team.members
                if getattr(m.employee, 'active', True)},
            key=lambda e: e.id)

    @classmethod
    def _choose_handler(cls, ticket, rule):
        pool = Pool()
        Rule = pool.get('hitech.ticket.assignment.rule')
        candidates = cls._get_assignment_candidates(ticket, rule)
        if not candidates:
            return None
        if rule.strategy == 'fixed':
            return candidates[0]
        if rule.strategy == 'round_robin':
            ids = [c.id for c in candidates]
            last = rule.last_handler.id if rule.last_handler else None
            index = (ids.index(last) + 1) % len(ids) if last in ids else 0
            handler = candidates[index]
            # the round is the rule's memory, not a change by the user
            with without_check_access():
                Rule.write([rule], {'last_handler': handler.id})
            return handler
        loads = cls.get_open_load(candidates)
        if rule.strategy == 'skill':
            strengths = cls._skill_strengths(ticket, candidates)
            skilled = [c for c in candidates if strengths[c.id][0]]
            if skilled:
                return min(skilled, key=lambda c: (
                        -strengths[c.id][0], -strengths[c.id][1],
                        loads[c.id], c.id))
        return min(candidates, key=lambda c: (loads[c.id], c.id))

    @classmethod
    def _skill_strengths(cls, ticket, employees):
        "Return {employee id: (match strength, best level)}"
        pool = Pool()
        Skill = pool.get('hitech.service.skill')
        result = {e.id: (0, 0) for e in employees}
        for skill in Skill.search([
                    ('employee', 'in', [e.id for e in employees])]):
            strength = skill.match_ticket(ticket)
            if strength:
                current = result[skill.employee.id]
                result[skill.employee.id] = max(
                    current, (strength, int(skill.level)))
        return result

    @classmethod
    def get_open_load(cls, employees):
        "Return {employee id: number of open tickets handled}"
        table = cls.__table__()
        cursor = Transaction().connection.cursor()
        ids = [e.id for e in employees]
        loads = dict.fromkeys(ids, 0)
        for sub_ids in grouped_slice(ids, backend.MAX_QUERY_PARAMS):
            cursor.execute(*table.select(table.handler, Count(table.id),
                    where=table.handler.in_(list(sub_ids))
                    & table.state.in_(OPEN_STATES),
                    group_by=table.handler))
            loads.update(cursor)
        return loads
