# This file is part of HiTech CRM. See LICENSE for details.
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields, tree)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval, Get, If, In
from trytond.transaction import Transaction

from .access import ClearRuleCacheMixin
from .exceptions import TeamValidationError
from .tools import count_by


class SalesTeam(
        DeactivableMixin, ClearRuleCacheMixin, tree(separator=' / '),
        ModelSQL, ModelView):
    "Sales Team"
    __name__ = 'hitech.sales.team'
    _rec_name = 'name'

    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", strip=True,
        help="Short unique code used in imports and reports.")
    company = fields.Many2One(
        'company.company', "Company", required=True,
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ])
    parent = fields.Many2One(
        'hitech.sales.team', "Parent Team", ondelete='RESTRICT',
        domain=[('company', '=', Eval('company', -1))],
        help="The team this one reports to; managers of a team see the "
        "records of every team below it.")
    children = fields.One2Many('hitech.sales.team', 'parent', "Sub-teams")
    kind = fields.Selection([
            ('direct', "Direct Sales"),
            ('channel', "Channel Sales"),
            ('service', "Technical Service"),
            ('presales', "Pre-sales"),
            ], "Kind", required=True)
    manager = fields.Many2One(
        'company.employee', "Manager", ondelete='SET NULL',
        domain=[('company', '=', Eval('company', -1))])
    members = fields.One2Many(
        'hitech.sales.team.member', 'team', "Members")
    member_count = fields.Function(
        fields.Integer("Members"), 'get_member_count')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_uniq', Unique(t, t.company, t.code),
                'hitech_crm_base.msg_team_code_unique'),
            ]
        cls._order.insert(0, ('name', 'ASC'))

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @staticmethod
    def default_kind():
        return 'direct'

    @classmethod
    def get_member_count(cls, teams, name):
        pool = Pool()
        Member = pool.get('hitech.sales.team.member')
        member = Member.__table__()
        return count_by(member, member.team, [t.id for t in teams])

    @classmethod
    def validate_fields(cls, teams, field_names):
        super().validate_fields(teams, field_names)
        if field_names and not (field_names & {'parent', 'company'}):
            return
        for team in teams:
            if team.parent and team.parent.company != team.company:
                raise TeamValidationError(gettext(
                        'hitech_crm_base.msg_team_parent_company',
                        team=team.rec_name))

    @classmethod
    def get_subtree(cls, teams):
        "Return the ids of the teams and of every team below them"
        return {t.id for t in cls.search([
                    ('parent', 'child_of', [t.id for t in teams]),
                    ])}


class SalesTeamMember(ClearRuleCacheMixin, ModelSQL, ModelView):
    "Sales Team Member"
    __name__ = 'hitech.sales.team.member'

    team = fields.Many2One(
        'hitech.sales.team', "Team", required=True, ondelete='CASCADE')
    employee = fields.Many2One(
        'company.employee', "Employee", required=True, ondelete='CASCADE')
    role = fields.Selection([
            ('rep', "Sales Representative"),
            ('presales', "Pre-sales Engineer"),
            ('engineer', "Service Engineer"),
            ('assistant', "Sales Assistant"),
            ], "Role", required=True)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'team'})
        t = cls.__table__()
        cls._sql_constraints += [
            ('team_employee_uniq', Unique(t, t.team, t.employee),
                'hitech_crm_base.msg_team_member_unique'),
            ]

    @staticmethod
    def default_role():
        return 'rep'


class Employee(metaclass=PoolMeta):
    __name__ = 'company.employee'
    sales_teams = fields.One2Many(
        'hitech.sales.team.member', 'employee', "Sales Teams")
    managed_teams = fields.One2Many(
        'hitech.sales.team', 'manager', "Managed Teams", readonly=True)

    @property
    def single_sales_team(self):
        "The team of the employee when they are in exactly one"
        teams = {m.team for m in self.sales_teams}
        if len(teams) == 1:
            return teams.pop()
