# This file is part of HiTech CRM. See LICENSE for details.
"""Leads and opportunities: the fields every part of the sales engine
shares (team, source, product line).  Leads, stages, quotas and the
analytics extend ``sale.opportunity`` further in their own files."""
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, Unique, fields, sequence_ordered)
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction


class LeadSource(DeactivableMixin, sequence_ordered(), ModelSQL, ModelView):
    __name__ = 'hitech.lead.source'
    __string__ = "Lead Source"

    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char(
        "Code", required=True,
        help="The code web forms and imports use for the source "
        "(e.g. website, trade_show, referral).")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_unique', Unique(t, t.code),
                'hitech_crm_base.msg_lead_source_code_unique'),
            ]


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    sales_team = fields.Many2One(
        'hitech.sales.team', "Sales Team", ondelete='SET NULL',
        states={
            'readonly': Eval('state').in_(['converted', 'won', 'lost']),
            },
        help="The team in charge of the lead or opportunity; its managers "
        "see it.")
    source = fields.Many2One(
        'hitech.lead.source', "Source", ondelete='RESTRICT',
        help="Where the lead came from.")
    product_line = fields.Many2One(
        'product.category', "Product Line", ondelete='SET NULL',
        context={
            'company': Eval('company', -1),
            },
        depends={'company'},
        help="The product line the lead or opportunity is about.")

    @classmethod
    def default_sales_team(cls):
        pool = Pool()
        Employee = pool.get('company.employee')
        employee_id = Transaction().context.get('employee')
        if employee_id is not None and employee_id >= 0:
            team = Employee(employee_id).single_sales_team
            if team:
                return team.id

    @fields.depends('employee', 'sales_team')
    def on_change_employee(self):
        if self.employee and not self.sales_team:
            self.sales_team = self.employee.single_sales_team
