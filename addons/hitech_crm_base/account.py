# This file is part of HiTech CRM. See LICENSE for details.
import datetime
from decimal import Decimal

from sql import With
from sql.aggregate import Count, Sum
from sql.conditionals import Coalesce

from trytond import backend
from trytond.i18n import gettext
from trytond.model import (
    Index, ModelSQL, ModelView, Unique, fields, tree)
from trytond.modules.currency.fields import Monetary
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, If
from trytond.tools import grouped_slice
from trytond.transaction import Transaction

from .access import ChildOfWritableMixin
from .exceptions import AccountContactValidationError

ACCOUNT_TYPES = [
    (None, ""),
    ('customer', "Customer"),
    ('prospect', "Prospect"),
    ('distributor', "Distributor / Agent"),
    ('partner', "Partner"),
    ('competitor', "Competitor"),
    ]
STAGES = [
    (None, ""),
    ('suspect', "Suspect"),
    ('prospect', "Prospect"),
    ('customer', "Customer"),
    ('end_user', "End User"),
    ('lost', "Lost"),
    ]
CONTACT_ROLES = [
    ('decision_maker', "Decision Maker"),
    ('economic_buyer', "Economic Buyer"),
    ('technical_evaluator', "Technical Evaluator"),
    ('influencer', "Influencer"),
    ('user', "User"),
    ('gatekeeper', "Gatekeeper"),
    ]
# States of the records summed by the roll-ups
OPEN_OPPORTUNITY_STATES = ['lead', 'opportunity', 'converted']
REVENUE_SALE_STATES = ['confirmed', 'processing', 'done']


class Party(tree(), metaclass=PoolMeta):
    __name__ = 'party.party'

    party_kind = fields.Selection([
            ('company', "Company"),
            ('person', "Person"),
            ], "Kind", required=True,
        help="Whether the party is an organisation (an account) or a "
        "person (a contact of accounts).")
    account_type = fields.Selection(ACCOUNT_TYPES, "Account Type",
        states={
            'invisible': Eval('party_kind') != 'company',
            },
        help="The relation of the account with the company.")
    stage = fields.Selection(STAGES, "Lifecycle Stage",
        states={
            'invisible': Eval('party_kind') != 'company',
            },
        help="Where the account is in its life as a customer; every change "
        "is recorded in the stage history.")
    stage_logs = fields.One2Many(
        'hitech.account.stage.log', 'party', "Stage History", readonly=True)
    owner = fields.Many2One(
        'company.employee', "Owner", ondelete='SET NULL',
        help="The employee responsible for the account.")
    sales_team = fields.Many2One(
        'hitech.sales.team', "Sales Team", ondelete='SET NULL',
        help="The team in charge of the account.")
    parent = fields.Many2One(
        'party.party', "Parent Account", ondelete='RESTRICT',
        domain=[
            ('party_kind', '=', 'company'),
            ('id', '!=', Eval('id', -1)),
            ],
        states={
            'invisible': Eval('party_kind') != 'company',
            },
        help="The group company this account belongs to; key figures roll "
        "up to it.")
    children = fields.One2Many(
        'party.party', 'parent', "Subsidiaries",
        states={
            'invisible': Eval('party_kind') != 'company',
            })
    account_contacts = fields.One2Many(
        'hitech.account.contact', 'account', "Contacts",
        states={
            'invisible': Eval('party_kind') != 'company',
            })
    contact_accounts = fields.One2Many(
        'hitech.account.contact', 'contact', "Accounts",
        states={
            'invisible': Eval('party_kind') != 'person',
            })
    activities = fields.One2Many(
        'hitech.activity', 'account', "Activities", readonly=True)

    crm_currency = fields.Function(
        fields.Many2One('currency.currency', "CRM Currency"),
        'get_crm_currency')
    pipeline_amount = fields.Function(Monetary(
            "Open Pipeline", currency='crm_currency', digits='crm_currency',
            help="The amount of the open leads and opportunities of the "
            "account and of its subsidiaries."),
        'get_rollup')
    opportunity_count = fields.Function(fields.Integer(
            "Open Opportunities",
            help="The number of open leads and opportunities of the account "
            "and of its subsidiaries."),
        'get_rollup')
    revenue_amount = fields.Function(Monetary(
            "Revenue", currency='crm_currency', digits='crm_currency',
            help="The untaxed amount of the confirmed sales of the account "
            "and of its subsidiaries."),
        'get_rollup')
    sale_count = fields.Function(fields.Integer(
            "Confirmed Sales",
            help="The number of confirmed sales of the account and of its "
            "subsidiaries."),
        'get_rollup')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(Index(t, (t.parent, Index.Range())))

    @classmethod
    def default_party_kind(cls):
        return 'company'

    @classmethod
    def default_owner(cls):
        return Transaction().context.get('employee')

    @fields.depends('owner', 'sales_team')
    def on_change_owner(self):
        if self.owner and not self.sales_team:
            teams = [m.team for m in getattr(self.owner, 'sales_teams', [])]
            if len(teams) == 1:
                self.sales_team = teams[0]

    @fields.depends('account_type', 'stage')
    def on_change_account_type(self):
        if self.account_type and not self.stage:
            self.stage = {
                'customer': 'customer',
                'prospect': 'prospect',
                }.get(self.account_type, 'suspect')

    # Stage history -------------------------------------------------------

    @classmethod
    def on_modification(cls, mode, parties, field_names=None):
        super().on_modification(mode, parties, field_names=field_names)
        if mode == 'create':
            cls._log_stages([(p, None, p.stage) for p in parties if p.stage])

    @classmethod
    def on_write(cls, parties, values):
        callbacks = super().on_write(parties, values)
        if 'stage' in values:
            new = values['stage']
            changes = [(p, p.stage, new) for p in parties if p.stage != new]
            if changes:
                callbacks.append(lambda: cls._log_stages(changes))
        return callbacks

    @classmethod
    def _log_stages(cls, changes):
        pool = Pool()
        Log = pool.get('hitech.account.stage.log')
        if not changes:
            return
        transaction = Transaction()
        Log.create([{
                    'party': party.id,
                    'from_stage': old,
                    'to_stage': new,
                    'user': transaction.user,
                    } for party, old, new in changes])

    @classmethod
    def copy(cls, parties, default=None):
        default = default.copy() if default is not None else {}
        default.setdefault('stage_logs')
        default.setdefault('children')
        default.setdefault('activities')
        return super().copy(parties, default=default)

    # Roll-ups over the account tree --------------------------------------

    def get_crm_currency(self, name):
        pool = Pool()
        Company = pool.get('company.company')
        company_id = Transaction().context.get('company')
        if company_id is not None and company_id >= 0:
            return Company(company_id).currency.id

    @classmethod
    def _subtree_query(cls, ids):
        "Return a recursive With of (root, party) for the trees under ids"
        table = cls.__table__()
        child = cls.__table__()
        subtree = With('root', 'party', recursive=True)
        subtree.query = table.select(
            table.id, table.id, where=table.id.in_(ids))
        subtree.query |= child.join(
            subtree, condition=child.parent == subtree.party).select(
            subtree.root, child.id)
        # UNION (not UNION ALL) ends the recursion even on a cycle that is
        # being validated in the same transaction
        return subtree

    @classmethod
    def _rollup_query(cls, subtree, table, amount, states, company):
        "Amount and count of table's rows per root of the subtree"
        return subtree.join(
            table, condition=table.party == subtree.party
            ).select(
            subtree.root, table.currency,
            Coalesce(Sum(amount), 0),
            Count(table.id),
            where=table.state.in_(states) & (table.company == company),
            group_by=[subtree.root, table.currency],
            with_=[subtree])

    @classmethod
    def _rollup_opportunity(cls, subtree, company):
        opportunity = Pool().get('sale.opportunity').__table__()
        return cls._rollup_query(subtree, opportunity, opportunity.amount,
            OPEN_OPPORTUNITY_STATES, company)

    @classmethod
    def _rollup_sale(cls, subtree, company):
        sale = Pool().get('sale.sale').__table__()
        return cls._rollup_query(subtree, sale, sale.untaxed_amount_cache,
            REVENUE_SALE_STATES, company)

    @classmethod
    def get_rollup(cls, parties, names):
        """Key figures of the accounts and of their subsidiaries.

        One SQL query per source (opportunities, sales) for all the parties,
        amounts converted to the currency of the context company."""
        pool = Pool()
        Company = pool.get('company.company')
        Currency = pool.get('currency.currency')
        Date = pool.get('ir.date')
        transaction = Transaction()
        cursor = transaction.connection.cursor()
        company_id = transaction.context.get('company')

        result = {n: {p.id: None if n.endswith('_amount') else 0
                for p in parties} for n in names}
        if company_id is None or company_id < 0:
            return result
        company = Company(company_id)
        for name in names:
            if name.endswith('_amount'):
                for party in parties:
                    result[name][party.id] = Decimal(0)
        sources = {
            'opportunity': ('pipeline_amount', 'opportunity_count',
                cls._rollup_opportunity),
            'sale': ('revenue_amount', 'sale_count', cls._rollup_sale),
            }
        today = Date.today()
        for amount_name, count_name, query in sources.values():
            if amount_name not in names and count_name not in names:
                continue
            for sub_ids in grouped_slice(
                    [p.id for p in parties], backend.MAX_QUERY_PARAMS):
                subtree = cls._subtree_query(list(sub_ids))
                cursor.execute(*query(subtree, company.id))
                for root, currency_id, amount, count in cursor:
                    if amount_name in names:
                        amount = Decimal(str(amount))
                        if currency_id != company.currency.id:
                            with transaction.set_context(date=today):
                                amount = Currency.compute(
                                    Currency(currency_id), amount,
                                    company.currency, round=False)
                        result[amount_name][root] += amount
                    if count_name in names:
                        result[count_name][root] += count
        for name in names:
            if name.endswith('_amount'):
                for party_id, amount in result[name].items():
                    result[name][party_id] = company.currency.round(amount)
        return result


class AccountStageLog(ModelSQL, ModelView):
    "Account Stage Change"
    __name__ = 'hitech.account.stage.log'

    party = fields.Many2One(
        'party.party', "Account", required=True, readonly=True,
        ondelete='CASCADE')
    from_stage = fields.Selection(STAGES, "From", readonly=True)
    to_stage = fields.Selection(STAGES, "To", readonly=True)
    date = fields.Timestamp("Date", required=True, readonly=True)
    user = fields.Many2One(
        'res.user', "User", readonly=True, ondelete='SET NULL')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'party'})
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.party, Index.Range()), (t.date, Index.Range())))
        cls._order.insert(0, ('date', 'DESC'))
        cls._order.insert(1, ('id', 'DESC'))

    @classmethod
    def default_date(cls):
        return datetime.datetime.now()


class AccountContact(ChildOfWritableMixin, ModelSQL, ModelView):
    "Account Contact"
    __name__ = 'hitech.account.contact'

    account = fields.Many2One(
        'party.party', "Account", required=True, ondelete='CASCADE',
        domain=[
            ('party_kind', '=', 'company'),
            ])
    contact = fields.Many2One(
        'party.party', "Contact", required=True, ondelete='CASCADE',
        domain=[
            ('party_kind', '=', 'person'),
            ],
        help="The person; the same person can be a contact of several "
        "accounts.")
    role = fields.Selection(CONTACT_ROLES, "Role", required=True,
        help="The part the contact plays in the buying decisions of the "
        "account.")
    title = fields.Char("Job Title")
    start_date = fields.Date("Start Date",
        domain=[
            If(Bool(Eval('start_date')) & Bool(Eval('end_date')),
                ('start_date', '<=', Eval('end_date')),
                ()),
            ])
    end_date = fields.Date("End Date",
        domain=[
            If(Bool(Eval('start_date')) & Bool(Eval('end_date')),
                ('end_date', '>=', Eval('start_date')),
                ()),
            ],
        help="When the contact left the role; leave empty while current.")
    note = fields.Text("Note")
    email = fields.Function(fields.Char("Email"), 'get_contact_field')
    phone = fields.Function(fields.Char("Phone"), 'get_contact_field')
    mobile = fields.Function(fields.Char("Mobile"), 'get_contact_field')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'account'})
        t = cls.__table__()
        cls._sql_constraints += [
            ('account_contact_role_uniq',
                Unique(t, t.account, t.contact, t.role),
                'hitech_crm_base.msg_account_contact_unique'),
            ]
        cls._sql_indexes.add(Index(t, (t.contact, Index.Range())))
        cls._order.insert(0, ('account', 'ASC'))


    @classmethod
    def default_role(cls):
        return 'user'

    def get_contact_field(self, name):
        return getattr(self.contact, name)

    def get_rec_name(self, name):
        return "%s @ %s" % (self.contact.rec_name, self.account.rec_name)

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, value = clause
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('contact.rec_name', operator, value),
            ('account.rec_name', operator, value),
            ]

    @classmethod
    def validate_fields(cls, links, field_names):
        super().validate_fields(links, field_names)
        if field_names and not (field_names & {'account', 'contact'}):
            return
        for link in links:
            if link.account == link.contact:
                raise AccountContactValidationError(gettext(
                        'hitech_crm_base.msg_account_contact_self',
                        party=link.account.rec_name))
