# This file is part of HiTech CRM. See LICENSE for details.
"""The suite's record-access model: territories, explicit shares and the
rule context that record rules of every CRM model use.

Rules of CRM models are written with these context values (see
``Rule._get_context``):

* ``employees``: ids of the user's employees (own records);
* ``hitech_user``: the user id (explicit shares to the user);
* ``hitech_teams``: teams the user's employees belong to or manage
  (explicit shares to a team);
* ``hitech_managed_teams``: every team in the subtrees of the teams the
  user's employees manage (a manager reads the records of their subtree);
* ``hitech_territories``: territories the user's employees are members of.
"""
from sql.functions import Lower, Trim

from trytond.cache import Cache
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, Index, ModelSQL, ModelView, Unique, fields)
from trytond.model.exceptions import AccessError
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Bool, Eval, Get, If, In
from trytond.transaction import (
    Transaction, check_access, without_check_access)

from .exceptions import ShareError
from .tools import count_by


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    _hitech_cache = Cache('hitech.rule.context', context=False)

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.domain.help += (
            '\n- "employees" as list of ids of the user\'s employees'
            '\n- "hitech_user" as the id of the user'
            '\n- "hitech_teams" as ids of the user\'s sales teams'
            '\n- "hitech_managed_teams" as ids of the teams below the '
            'teams the user manages'
            '\n- "hitech_territories" as ids of the user\'s territories')

    @classmethod
    def _hitech_rule_models(cls):
        "Models whose rules use the CRM context"
        return {
            'party.party', 'hitech.share', 'hitech.territory',
            'sale.opportunity', 'sale.sale', 'hitech.activity'}

    @classmethod
    def _hitech_context(cls):
        pool = Pool()
        User = pool.get('res.user')
        Team = pool.get('hitech.sales.team')
        Member = pool.get('hitech.sales.team.member')
        TerritoryMember = pool.get('hitech.territory.member')
        transaction = Transaction()
        user_id = transaction.user
        key = (user_id, transaction.database.name)
        cached = cls._hitech_cache.get(key)
        if cached is not None:
            return {k: list(v) if isinstance(v, (list, tuple)) else v
                for k, v in cached.items()}
        employees = list(User.get_employees())
        with without_check_access():
            managed = Team.search([('manager', 'in', employees or [-1])])
            member_of = Member.search([('employee', 'in', employees or [-1])])
            teams = {t.id for t in managed} | {m.team.id for m in member_of}
            managed_subtree = Team.get_subtree(managed) if managed else set()
            territories = {m.territory.id for m in TerritoryMember.search([
                        ('employee', 'in', employees or [-1])])}
        value = {
            'hitech_user': user_id,
            'hitech_teams': sorted(teams),
            'hitech_managed_teams': sorted(managed_subtree),
            'hitech_territories': sorted(territories),
            }
        cls._hitech_cache.set(key, value)
        return value

    @classmethod
    def _get_context(cls, model_name):
        pool = Pool()
        User = pool.get('res.user')
        context = super()._get_context(model_name)
        if model_name in cls._hitech_rule_models():
            context['employees'] = list(User.get_employees())
            context.update(cls._hitech_context())
        return context

    @classmethod
    def _get_cache_key(cls, model_names):
        key = super()._get_cache_key(model_names)
        if model_names & cls._hitech_rule_models():
            context = cls._hitech_context()
            key = (*key, Transaction().user,
                tuple(context['hitech_teams']),
                tuple(context['hitech_managed_teams']),
                tuple(context['hitech_territories']))
        return key

    @classmethod
    def hitech_clear_cache(cls):
        "Forget the CRM rule context (teams, territories changed)"
        pool = Pool()
        User = pool.get('res.user')
        cls._hitech_cache.clear()
        cls._domain_get_cache.clear()
        User._get_employees_cache.clear()


class ClearRuleCacheMixin:
    "Clear the CRM rule context when the organisation changes"
    __slots__ = ()

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        pool = Pool()
        Rule = pool.get('ir.rule')
        super().on_modification(mode, records, field_names=field_names)
        Rule.hitech_clear_cache()


class SystemRecordMixin:
    """Rows the system writes (histories, logs): users read them through
    the access of their parent (__access__) but never create, change or
    delete them; the refusal is an access denial."""
    __slots__ = ()

    @classmethod
    def _refuse_user_change(cls):
        Model = Pool().get('ir.model')
        raise AccessError(gettext('hitech_crm_base.msg_system_record',
                model=Model.get_name(cls.__name__)))

    @classmethod
    def create(cls, vlist):
        transaction = Transaction()
        # refused before the values are validated, like an access check
        if transaction.user and transaction.check_access:
            cls._refuse_user_change()
        return super().create(vlist)

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if external:
            cls._refuse_user_change()


class ChildOfWritableMixin:
    """Rows users add to a parent (__access__), like the competitors or
    the buying centre of an opportunity: created only on parents the user
    may change.  Tryton checks the creation of a child against the create
    rules of its parents, and the CRM's rules restrict the changes of
    records (write), not their creation: without this, a user could add
    rows to a record they may not even read."""
    __slots__ = ()

    @classmethod
    def check_modification(cls, mode, records, values=None, external=False):
        super().check_modification(
            mode, records, values=values, external=external)
        if mode == 'create' and external and Transaction().user:
            cls._check_parents_writable(records)

    @classmethod
    def _check_parents_writable(cls, records):
        Rule = Pool().get('ir.rule')
        for name in sorted(cls.__access__):
            field = cls._fields[name]
            ids = {getattr(r, name).id for r in records
                if getattr(r, name, None)}
            if ids:
                # check_modification runs without access checks: the
                # rules of the user apply again here; the refusal is the
                # stock "You are not allowed to write ..." message
                with check_access():
                    Rule.check(field.model_name, sorted(ids), mode='write')


class User(ClearRuleCacheMixin, metaclass=PoolMeta):
    __name__ = 'res.user'


class Territory(DeactivableMixin, ClearRuleCacheMixin, ModelSQL, ModelView):
    "Sales Territory"
    __name__ = 'hitech.territory'

    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", strip=True)
    company = fields.Many2One(
        'company.company', "Company", required=True,
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ])
    region = fields.Char("Region",
        help="The region the territory covers, e.g. \"East China\".")
    cities = fields.Text("Cities",
        help="One city per line: accounts with an address in one of these "
        "cities are assigned to the territory by \"Assign Accounts\".")
    product_categories = fields.Many2Many(
        'hitech.territory-product.category', 'territory', 'category',
        "Product Lines",
        context={'company': Eval('company', -1)}, depends={'company'},
        help="The product lines the territory sells; empty for all.")
    members = fields.One2Many(
        'hitech.territory.member', 'territory', "Members")
    accounts = fields.Many2Many(
        'hitech.territory-party.party', 'territory', 'party', "Accounts",
        context={'company': Eval('company', -1)}, depends={'company'},
        help="Members of the territory read these accounts.")
    account_count = fields.Function(
        fields.Integer("Accounts"), 'get_account_count')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_uniq', Unique(t, t.company, t.code),
                'hitech_crm_base.msg_territory_code_unique'),
            ]
        cls._order.insert(0, ('name', 'ASC'))
        cls._buttons.update({
                'assign_accounts': {
                    'readonly': ~Eval('cities'),
                    'depends': ['cities'],
                    },
                })

    @staticmethod
    def default_company():
        return Transaction().context.get('company')

    @classmethod
    def get_account_count(cls, territories, name):
        pool = Pool()
        Rel = pool.get('hitech.territory-party.party')
        rel = Rel.__table__()
        return count_by(rel, rel.territory, [t.id for t in territories])

    def get_cities(self):
        return {c.strip().casefold() for c in (self.cities or '').splitlines()
            if c.strip()}

    @classmethod
    @ModelView.button
    def assign_accounts(cls, territories):
        "Add the accounts with an address in one of the territory's cities"
        pool = Pool()
        Address = pool.get('party.address')
        Rel = pool.get('hitech.territory-party.party')
        address = Address.__table__()
        rel = Rel.__table__()
        cursor = Transaction().connection.cursor()
        to_create = []
        for territory in territories:
            cities = territory.get_cities()
            if not cities:
                continue
            query = address.select(address.party,
                where=Trim(Lower(address.city)).in_(list(cities))
                & (address.active == True)  # noqa: E712
                & ~address.party.in_(rel.select(rel.party,
                        where=rel.territory == territory.id)),
                group_by=address.party)
            cursor.execute(*query)
            to_create.extend({'territory': territory.id, 'party': p}
                for p, in cursor)
        if to_create:
            Rel.create(to_create)


class TerritoryMember(ClearRuleCacheMixin, ModelSQL, ModelView):
    "Sales Territory Member"
    __name__ = 'hitech.territory.member'

    territory = fields.Many2One(
        'hitech.territory', "Territory", required=True, ondelete='CASCADE')
    employee = fields.Many2One(
        'company.employee', "Employee", required=True, ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'territory'})
        t = cls.__table__()
        cls._sql_constraints += [
            ('territory_employee_uniq', Unique(t, t.territory, t.employee),
                'hitech_crm_base.msg_territory_member_unique'),
            ]


class TerritoryProductCategory(ModelSQL):
    "Territory - Product Line"
    __name__ = 'hitech.territory-product.category'
    territory = fields.Many2One(
        'hitech.territory', "Territory", required=True, ondelete='CASCADE')
    category = fields.Many2One(
        'product.category', "Product Line", required=True,
        ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        # access and record rules follow the parent (a class-level
        # __access__ is reset by Model.__setup__)
        cls.__access__.update({'territory'})


class TerritoryParty(ModelSQL):
    "Territory - Account"
    __name__ = 'hitech.territory-party.party'
    territory = fields.Many2One(
        'hitech.territory', "Territory", required=True, ondelete='CASCADE')
    party = fields.Many2One(
        'party.party', "Account", required=True, ondelete='CASCADE')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'territory'})
        t = cls.__table__()
        cls._sql_constraints += [
            ('territory_party_uniq', Unique(t, t.territory, t.party),
                'hitech_crm_base.msg_territory_account_unique'),
            ]


class Share(ModelSQL, ModelView):
    "Record Share"
    __name__ = 'hitech.share'

    resource = fields.Reference(
        "Record", selection='get_resources', required=True,
        help="The record opened to the user or team.")
    user = fields.Many2One(
        'res.user', "User", ondelete='CASCADE',
        states={
            'required': ~Eval('team'),
            'invisible': Bool(Eval('team')),
            })
    team = fields.Many2One(
        'hitech.sales.team', "Team", ondelete='CASCADE',
        states={
            'required': ~Eval('user'),
            'invisible': Bool(Eval('user')),
            })
    permission = fields.Selection([
            ('read', "Read"),
            ('write', "Read and Write"),
            ], "Permission", required=True)
    expires_on = fields.Date("Expires On",
        help="Leave empty for a share that does not expire.")
    shared_by = fields.Many2One(
        'res.user', "Shared By", readonly=True, ondelete='SET NULL')
    note = fields.Char("Note")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('resource_user_team_uniq',
                Unique(t, t.resource, t.user, t.team),
                'hitech_crm_base.msg_share_unique'),
            ]
        cls._sql_indexes.update({
                Index(t, (t.resource, Index.Equality())),
                Index(t, (t.user, Index.Equality())),
                Index(t, (t.team, Index.Equality())),
                })
        cls._order.insert(0, ('create_date', 'DESC'))

    @classmethod
    def get_resources(cls):
        pool = Pool()
        IrModel = pool.get('ir.model')
        models = cls._get_resources()
        return [(None, '')] + [(m, IrModel.get_name(m)) for m in models]

    @classmethod
    def _get_resources(cls):
        "Models that can be shared; other modules extend it"
        return ['party.party']

    @staticmethod
    def default_permission():
        return 'read'

    @staticmethod
    def default_shared_by():
        return Transaction().user

    @classmethod
    def preprocess_values(cls, mode, values):
        values = super().preprocess_values(mode, values)
        if mode == 'create':
            values.setdefault('shared_by', Transaction().user)
        return values

    @classmethod
    def validate_fields(cls, shares, field_names):
        super().validate_fields(shares, field_names)
        for share in shares:
            if bool(share.user) == bool(share.team):
                raise ShareError(gettext(
                        'hitech_crm_base.msg_share_user_or_team'))

    @classmethod
    def check_modification(cls, mode, shares, values=None, external=False):
        super().check_modification(
            mode, shares, values=values, external=external)
        if not external or mode not in {'create', 'write'}:
            return
        # one may only share what one may write
        by_model = {}
        for share in shares:
            if share.resource:
                by_model.setdefault(
                    share.resource.__name__, set()).add(share.resource.id)
        pool = Pool()
        for model, ids in by_model.items():
            Model = pool.get(model)
            with check_access():
                writable = Model.hitech_writable_ids(ids)
            if set(ids) - writable:
                raise ShareError(gettext(
                        'hitech_crm_base.msg_share_not_writable'))

    @classmethod
    def clean_expired(cls):
        "Delete expired shares (cron): record rules do not look at dates"
        pool = Pool()
        Date = pool.get('ir.date')
        cls.delete(cls.search([('expires_on', '<', Date.today())]))


class ShareableMixin:
    "A model whose records can be shared with users and teams"
    __slots__ = ()

    hitech_shares = fields.One2Many(
        'hitech.share', 'resource', "Shares",
        help="Users and teams this record is explicitly shared with.")
    hitech_shared = fields.Function(fields.Selection([
                (None, ""),
                ('read', "Read"),
                ('write', "Read and Write"),
                ], "Shared with Me",
            help="How the record is shared with you or your teams."),
        'get_hitech_shared', searcher='search_hitech_shared')

    @classmethod
    def _hitech_shared_ids(cls, permission=None):
        "Ids of records shared with the user or the user's teams"
        pool = Pool()
        Share = pool.get('hitech.share')
        Rule = pool.get('ir.rule')
        context = Rule._hitech_context()
        domain = [
            ('resource', 'like', cls.__name__ + ',%'),
            ['OR',
                ('user', '=', context['hitech_user']),
                ('team', 'in', context['hitech_teams']),
                ],
            ]
        if permission == 'write':
            domain.append(('permission', '=', 'write'))
        with without_check_access():
            shares = Share.search(domain)
        result = {}
        for share in shares:
            record_id = share.resource.id
            if share.permission == 'write' or record_id not in result:
                result[record_id] = share.permission
        return result

    @classmethod
    def get_hitech_shared(cls, records, name):
        shared = cls._hitech_shared_ids()
        return {r.id: shared.get(r.id) for r in records}

    @classmethod
    def search_hitech_shared(cls, name, clause):
        _, operator, value = clause[:3]
        if operator != '=' or value not in {'read', 'write'}:
            return [('id', '=', -1)]
        return [('id', 'in', list(cls._hitech_shared_ids(value)))]

    @classmethod
    def hitech_writable_ids(cls, ids):
        "Return the ids among ids the current user may write"
        pool = Pool()
        Rule = pool.get('ir.rule')
        domain = Rule.domain_get(cls.__name__, mode='write')
        with without_check_access():
            return {r.id for r in cls.search(
                    [('id', 'in', list(ids)), domain])}


class Cron(metaclass=PoolMeta):
    __name__ = 'ir.cron'

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.method.selection.append(
            ('hitech.share|clean_expired', "Delete Expired Record Shares"))


class Party(ShareableMixin, metaclass=PoolMeta):
    __name__ = 'party.party'

    territories = fields.Many2Many(
        'hitech.territory-party.party', 'party', 'territory', "Territories",
        help="Members of these territories read the account.")
    hitech_opportunities = fields.One2Many(
        'sale.opportunity', 'party', "Opportunities", readonly=True,
        help="The account's leads and opportunities; their sales "
        "representatives read the account.")
