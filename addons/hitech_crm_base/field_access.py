# This file is part of HiTech CRM. See LICENSE for details.
"""Field-level rights "profiles": edit ir.model.field.access as a matrix.

One row per (field of the chosen model, chosen group).  The rows come from a
``table_query`` (nothing is stored); the editable columns are Function
fields whose setters create, update or delete the stock
``ir.model.field.access`` record of the row's field and group.  The stock
ORM methods of ``ir.model.field.access`` clear its access cache and the
view cache (``ModelFieldAccess.on_modification``), so a change applies to
the next request.
"""
from collections import defaultdict

from sql import Cast

from trytond.i18n import gettext
from trytond.model import ModelSQL, ModelView, fields
from trytond.model.exceptions import AccessError
from trytond.pool import Pool
from trytond.pyson import Eval
from trytond.transaction import Transaction, without_check_access

from .exceptions import CRMError
from .hardening import SECRET_FIELDS

LEVELS = [
    ('default', "Default"),
    ('hidden', "Hidden"),
    ('read', "Read"),
    ('edit', "Edit"),
    ]
RELATION_TYPES = {'many2one', 'one2many', 'many2many', 'reference'}
# Field rights of the platform's own models (users, groups, sessions,
# actions, ...) stay with the Tryton administrator.
PLATFORM_PREFIXES = ('ir.', 'res.')
# Row id = field id * ID_FACTOR + group id
ID_FACTOR = 1000000


def _platform_model(name):
    return name.startswith(PLATFORM_PREFIXES)


class FieldAccessMatrixContext(ModelView):
    "Field Access Matrix Context"
    __name__ = 'hitech.field.access.matrix.context'

    model = fields.Many2One(
        'ir.model', "Model",
        domain=[
            ('name', 'not like', 'ir.%'),
            ('name', 'not like', 'res.%'),
            ],
        help="The model whose field rights are shown.")
    groups = fields.Many2Many(
        'res.group', None, None, "Groups",
        help="The groups shown as columns of the matrix "
        "(one row per field and group).")

    @classmethod
    def default_groups(cls):
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        return [ModelData.get_id('hitech_crm_base', x) for x in [
                'group_sales_rep', 'group_sales_manager', 'group_finance',
                'group_crm_admin']]


class FieldAccessMatrix(ModelSQL, ModelView):
    "Field Access Matrix"
    __name__ = 'hitech.field.access.matrix'

    model = fields.Char("Model", readonly=True)
    field = fields.Many2One('ir.model.field', "Field", readonly=True)
    field_name = fields.Char("Field Name", readonly=True)
    field_type = fields.Char("Field Type", readonly=True)
    group = fields.Many2One('res.group', "Group", readonly=True)
    relation = fields.Function(
        fields.Boolean("Relation"), 'get_relation')
    level = fields.Function(fields.Selection(LEVELS, "Level",
            help="Default: no field right for the group, the model rights "
            "apply.\n"
            "Hidden: the group can not read the field (it is removed from "
            "views and refused over RPC).\n"
            "Read: the group reads the field but can not change it.\n"
            "Edit: the group reads and changes the field."),
        'get_access', setter='set_access')
    perm_create = fields.Function(fields.Boolean("Create",
            states={
                'readonly': ~Eval('relation', False),
                },
            help="For relation fields: the group may create target records "
            "from this field (enforced by the client)."),
        'get_access', setter='set_access')
    perm_delete = fields.Function(fields.Boolean("Delete",
            states={
                'readonly': ~Eval('relation', False),
                },
            help="For relation fields: the group may delete target records "
            "from this field (enforced by the client)."),
        'get_access', setter='set_access')
    access = fields.Function(
        fields.Many2One('ir.model.field.access', "Field Access"),
        'get_access')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls._order[0:0] = [
            ('field_name', 'ASC'),
            ('group', 'ASC'),
            ]

    @classmethod
    def table_query(cls):
        pool = Pool()
        Model = pool.get('ir.model')
        Field = pool.get('ir.model.field')
        Group = pool.get('res.group')
        context = Transaction().context
        model = Model.__table__()
        field = Field.__table__()
        group = Group.__table__()
        model_id = context.get('model') or -1
        group_ids = context.get('groups') or [-1]
        bigint = Transaction().database.sql_type('BIGINT').base
        return (model
            .join(field, condition=field.model == model.name)
            .join(group, condition=group.id.in_(group_ids))
            .select(
                (Cast(field.id, bigint) * ID_FACTOR
                    + group.id).as_('id'),
                model.name.as_('model'),
                field.id.as_('field'),
                field.name.as_('field_name'),
                field.ttype.as_('field_type'),
                group.id.as_('group'),
                where=(model.id == model_id) & (field.name != 'id'),
                ))

    def get_relation(self, name):
        return self.field_type in RELATION_TYPES

    @classmethod
    def _accesses(cls, rows, active=True):
        "Map (model, field name, group id) to its field access records"
        pool = Pool()
        FieldAccess = pool.get('ir.model.field.access')
        result = defaultdict(list)
        if not rows:
            return result
        with without_check_access():
            accesses = FieldAccess.search([
                    ('model', 'in', list({r.model for r in rows})),
                    ('field', 'in', list({r.field_name for r in rows})),
                    ('group', 'in', list({r.group.id for r in rows})),
                    ('active', '=', active),
                    ], order=[('id', 'ASC')])
        for access in accesses:
            result[(access.model, access.field, access.group.id)].append(
                access)
        return result

    def _key(self):
        return (self.model, self.field_name, self.group.id)

    @classmethod
    def get_access(cls, rows, names):
        accesses = cls._accesses(rows)
        result = {n: {} for n in names}
        for row in rows:
            records = accesses.get(row._key(), [])
            # The same Max() as ir.model.field.access.get_access
            read = any(a.perm_read for a in records)
            write = any(a.perm_write for a in records)
            if not records:
                level = 'default'
            elif not read:
                level = 'hidden'
            elif not write:
                level = 'read'
            else:
                level = 'edit'
            values = {
                'level': level,
                'perm_create': (
                    any(a.perm_create for a in records) if records else True),
                'perm_delete': (
                    any(a.perm_delete for a in records) if records else True),
                'access': records[0].id if records else None,
                }
            for name in names:
                result[name][row.id] = values[name]
        return result

    @classmethod
    def check_rows(cls, rows):
        "Refuse rows whose field rights this screen must not change"
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        for row in rows:
            if row.field_name in SECRET_FIELDS.get(row.model, set()):
                raise AccessError(gettext(
                        'hitech_crm_base.msg_field_access_secret',
                        field=row.field_name, model=row.model))
            if _platform_model(row.model):
                raise AccessError(gettext(
                        'hitech_crm_base.msg_field_access_platform_model',
                        model=row.model))
        accesses = cls._accesses(rows)
        by_id = {a.id: k for k, l in accesses.items() for a in l}
        if by_id:
            with without_check_access():
                data = ModelData.search([
                        ('model', '=', 'ir.model.field.access'),
                        ('db_id', 'in', list(by_id)),
                        ('noupdate', '=', False),
                        ], limit=1)
            if data:
                model, field, group = by_id[data[0].db_id]
                raise CRMError(gettext(
                        'hitech_crm_base.msg_field_access_module_record',
                        field=field, model=model, module=data[0].module))

    @classmethod
    def set_access(cls, rows, name, value):
        pool = Pool()
        FieldAccess = pool.get('ir.model.field.access')
        if not rows:
            return
        cls.check_rows(rows)
        accesses = cls._accesses(rows)
        to_create, to_write, to_delete = [], [], []
        if name == 'level':
            if value == 'default' or not value:
                for row in rows:
                    to_delete.extend(accesses.get(row._key(), []))
                values = None
            else:
                values = {
                    'perm_read': value != 'hidden',
                    'perm_write': value == 'edit',
                    }
        else:
            values = {name: bool(value)}
        if values is not None:
            for row in rows:
                records = accesses.get(row._key())
                if records:
                    to_write.extend(records)
                else:
                    to_create.append({
                            'model': row.model,
                            'field': row.field_name,
                            'group': row.group.id,
                            'perm_read': True,
                            'perm_write': True,
                            'perm_create': True,
                            'perm_delete': True,
                            **values,
                            })
        # The matrix's own access (CRM administrators) is checked by its
        # write; ir.model.field.access itself is writable by Tryton
        # administrators only.
        with without_check_access():
            if to_delete:
                FieldAccess.delete(to_delete)
            if to_write:
                FieldAccess.write(to_write, values)
            if to_create:
                FieldAccess.create(to_create)

    @classmethod
    def index_set_field(cls, name):
        # Set the level first: it creates the record the create and delete
        # checkboxes of the same edit are written on.
        return 0 if name == 'level' else 1

    @classmethod
    def write(cls, *args):
        # No table behind a table_query (ModelSQL.write refuses it): run the
        # stock checks and hooks of ModelStorage and call the setters.
        all_ids, field_names, on_write, trigger_eligibles, *args = (
            cls._before_write(*args))
        fields_to_set = defaultdict(list)
        actions = iter(args)
        for records, values in zip(actions, actions):
            ids = [r.id for r in records]
            for fname, value in values.items():
                field = cls._fields[fname]
                if not hasattr(field, 'set'):
                    raise AccessError(gettext(
                            'hitech_crm_base.msg_field_access_readonly',
                            field=fname))
                fields_to_set[fname].extend((ids, value))
        for fname in sorted(fields_to_set, key=cls.index_set_field):
            cls._fields[fname].set(cls, fname, *fields_to_set[fname])
        cls._after_write(all_ids, field_names, on_write, trigger_eligibles)
