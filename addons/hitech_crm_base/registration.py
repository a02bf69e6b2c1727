# This file is part of HiTech CRM. See LICENSE for details.
"""Prospect registrations (报备): a rep protects a prospect for a period;
a second registration of the same account, or of a prospect sharing a
duplicate key (name, tax id, phone as dedup normalises them), is refused
with the holder named."""
import datetime

from trytond.i18n import gettext
from trytond.model import Index, ModelSQL, ModelView, Workflow, fields
from trytond.pool import Pool
from trytond.pyson import Eval, Get, If, In
from trytond.transaction import Transaction, without_check_access

from .dedup import normalize_identifier, normalize_name, normalize_phone
from .exceptions import RegistrationError

STATES = [
    ('active', "Active"),
    ('released', "Released"),
    ('expired', "Expired"),
    ]


class Registration(Workflow, ModelSQL, ModelView):
    __name__ = 'hitech.lead.registration'
    __string__ = "Prospect Registration"
    _rec_name = 'name'

    _states = {
        'readonly': Eval('state') != 'active',
        }

    company = fields.Many2One(
        'company.company', "Company", required=True, states=_states,
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ])
    employee = fields.Many2One(
        'company.employee', "Holder", required=True, states=_states,
        domain=[('company', '=', Eval('company', -1))],
        help="The rep the prospect is protected for.")
    sales_team = fields.Many2One(
        'hitech.sales.team', "Sales Team", ondelete='SET NULL',
        states=_states)
    party = fields.Many2One(
        'party.party', "Account", ondelete='RESTRICT', states=_states,
        context={'company': Eval('company', -1)}, depends={'company'},
        help="The account registered, when it exists already.")
    name = fields.Char(
        "Prospect", required=True, states=_states,
        help="The company name of the prospect.")
    tax_identifier = fields.Char(
        "Tax Identifier", states=_states,
        help="The tax id (e.g. the unified social credit code).")
    phone = fields.Char("Phone", states=_states)
    name_key = fields.Char("Name Key", readonly=True)
    identifier_key = fields.Char("Identifier Key", readonly=True)
    phone_key = fields.Char("Phone Key", readonly=True)
    start_date = fields.Date("Start Date", required=True, states=_states)
    end_date = fields.Date(
        "End Date", required=True, states=_states,
        domain=[('end_date', '>=', Eval('start_date'))],
        help="The last day of the protection.")
    note = fields.Text("Note")
    state = fields.Selection(STATES, "State", readonly=True, required=True)

    del _states

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.update({
                Index(t, (t.name_key, Index.Equality()),
                    where=t.state == 'active'),
                Index(t, (t.identifier_key, Index.Equality()),
                    where=t.state == 'active'),
                Index(t, (t.phone_key, Index.Equality()),
                    where=t.state == 'active'),
                Index(t, (t.party, Index.Range()),
                    where=t.state == 'active'),
                })
        cls._order.insert(0, ('start_date', 'DESC'))
        cls._transitions |= {
            ('active', 'released'),
            ('active', 'expired'),
            }
        cls._buttons.update({
                'release': {
                    'invisible': Eval('state') != 'active',
                    'depends': ['state'],
                    },
                })

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_employee(cls):
        return Transaction().context.get('employee')

    @classmethod
    def default_state(cls):
        return 'active'

    @classmethod
    def default_start_date(cls):
        return Pool().get('ir.date').today()

    @classmethod
    def default_end_date(cls):
        return Pool().get('ir.date').today() + datetime.timedelta(days=90)

    @fields.depends('party', 'name')
    def on_change_party(self):
        if self.party and not self.name:
            self.name = self.party.name

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if 'name' in values:
            values['name_key'] = normalize_name(values['name'])
        if 'tax_identifier' in values:
            values['identifier_key'] = normalize_identifier(
                values['tax_identifier'])
        if 'phone' in values:
            values['phone_key'] = normalize_phone(values['phone'])
        return values

    @classmethod
    def validate_fields(cls, registrations, field_names):
        super().validate_fields(registrations, field_names)
        if field_names and not (field_names & {
                    'party', 'name', 'tax_identifier', 'phone', 'state',
                    'employee', 'start_date', 'end_date'}):
            return
        cls.check_conflicts(registrations)

    def _conflict_domain(self):
        keys = []
        if self.party:
            keys.append(('party', '=', self.party.id))
        if self.name_key:
            keys.append(('name_key', '=', self.name_key))
        if self.identifier_key:
            keys.append(('identifier_key', '=', self.identifier_key))
        if self.phone_key:
            keys.append(('phone_key', '=', self.phone_key))
        if not keys:
            return None
        return [
            ('id', '!=', self.id),
            ('company', '=', self.company.id),
            ('state', '=', 'active'),
            ('employee', '!=', self.employee.id),
            ('start_date', '<=', self.end_date),
            ('end_date', '>=', self.start_date),
            ['OR'] + keys,
            ]

    @classmethod
    def check_conflicts(cls, registrations):
        "Refuse a registration that overlaps another rep's active one"
        for registration in registrations:
            if registration.state != 'active':
                continue
            domain = registration._conflict_domain()
            if domain is None:
                continue
            # the holder is another rep: search past the record rules
            with without_check_access():
                others = cls.search(domain, limit=1)
            if others:
                other, = others
                raise RegistrationError(gettext(
                        'hitech_crm_base.msg_registration_conflict',
                        prospect=registration.name,
                        holder=other.employee.rec_name,
                        other=other.name,
                        end_date=other.end_date))

    @classmethod
    @ModelView.button
    @Workflow.transition('released')
    def release(cls, registrations):
        pass

    @classmethod
    @Workflow.transition('expired')
    def expire(cls, registrations):
        pass

    @classmethod
    def cron_expire(cls):
        Date = Pool().get('ir.date')
        cls.expire(cls.search([
                    ('state', '=', 'active'),
                    ('end_date', '<', Date.today()),
                    ]))
