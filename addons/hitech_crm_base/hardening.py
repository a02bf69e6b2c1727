# This file is part of HiTech CRM. See LICENSE for details.
"""Platform hardening that stock Tryton 8.0 lacks.

* Secret fields (password hashes, reset tokens, session keys, REST keys,
  device cookies) can not be read, searched or ordered over RPC by anyone,
  administrators included.  Server code (no ``_check_access``) is
  unaffected.
* Internal storage models (sessions, queue, cache, login attempts, devices)
  are closed to every RPC/REST user, whatever group grants say.
* REST application keys (``res.user.application``) are created and
  validated by administrators only and stop working when their user is
  deactivated or changes password.
* Queued tasks never carry a client supplied ``user`` context key.

See doc/index.rst, section "Hardening", for the reasoning.
"""
from trytond.i18n import gettext
from trytond.model import ModelStorage
from trytond.model.exceptions import AccessError
from trytond.model.modelstorage import is_leaf
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction, without_check_access

# Fields that only the server itself may read, search or order by.
SECRET_FIELDS = {
    'res.user': {
        'password_hash', 'password_reset', 'password_reset_expire'},
    'res.user.application': {'key'},
    'res.user.device': {'cookie'},
    'res.user.login.attempt': {'device_cookie'},
    'ir.session': {'key'},
    'web.user': {
        'password_hash', 'email_token',
        'reset_password_token', 'reset_password_token_expire'},
    'web.user.session': {'key'},
    'web.user.authenticate.attempt': {'device_cookie'},
    }

# Internal storage models: no RPC/REST user may read, write, create or
# delete them (server code runs without access checks and keeps working).
INTERNAL_MODELS = {
    'ir.session',
    'ir.session.wizard',
    'ir.queue',
    'ir.cache',
    'res.user.login.attempt',
    'res.user.device',
    'web.user.session',
    'web.user.authenticate.attempt',
    }


def _is_admin():
    "The transaction user is root or belongs to res.group_admin"
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    user = Transaction().user
    if not user:
        return True
    return ModelData.get_id('res', 'group_admin') in User.get_groups()


def check_nested_domain(Model, domain):
    """Check read access on the fields of the nested domains of 'where' /
    'not where' clauses.

    Stock ModelStorage.search checks the fields of the domain and of dotted
    paths, but a clause like ('create_uid', 'where', [('password_hash', ...)])
    is converted without access checks: its inner fields are never checked.
    """
    pool = Pool()
    if is_leaf(domain):
        name, _, relate = domain[0].partition('.')
        field = Model._fields.get(name)
        if field is None:
            return
        Target = None
        if field._type == 'reference':
            if len(domain) >= 4:
                Target = pool.get(domain[3])
                domain = (*domain[:3], *domain[4:])
        elif hasattr(field, 'get_target'):
            Target = field.get_target()
        if Target is None:
            return
        if relate:
            check_nested_domain(Target, (relate, *domain[1:]))
        elif domain[1] in {'where', 'not where'}:
            # the stock check: model read access, fields and dotted paths
            ModelStorage.search.__func__(Target, domain[2])
            check_nested_domain(Target, domain[2])
    elif isinstance(domain, (list, tuple)):
        for clause in domain:
            if not isinstance(clause, str):
                check_nested_domain(Model, clause)


class SecretDomainMixin:
    "Check field access in nested 'where' domains of every model"
    __slots__ = ()

    @classmethod
    def search(cls, domain, *args, **kwargs):
        transaction = Transaction()
        if transaction.user and transaction.check_access and domain:
            check_nested_domain(cls, domain)
        return super().search(domain, *args, **kwargs)

    @classmethod
    def fields_get(cls, fields_names=None, level=0):
        # Do not publish the secret fields to clients: a client that reads
        # every field it is told about (proteus reads all 'eager' fields
        # at once) would otherwise fail on them.
        definition = super().fields_get(fields_names=fields_names,
            level=level)
        if Transaction().user and cls.__name__ in SECRET_FIELDS:
            for name in SECRET_FIELDS[cls.__name__]:
                definition.pop(name, None)
        return definition


class ModelAccess(metaclass=PoolMeta):
    __name__ = 'ir.model.access'

    @classmethod
    def get_access(cls, models):
        access = super().get_access(models)
        if Transaction().user:
            deny = {
                'read': False, 'write': False,
                'create': False, 'delete': False}
            for model in INTERNAL_MODELS.intersection(models):
                access[model] = deny.copy()
        return access


class ModelFieldAccess(metaclass=PoolMeta):
    __name__ = 'ir.model.field.access'

    @classmethod
    def get_access(cls, models):
        accesses = super().get_access(models)
        if Transaction().user:
            for model in set(models).intersection(SECRET_FIELDS):
                # copy: the result of super() is cached
                maccesses = dict(accesses.get(model, {}))
                for field in SECRET_FIELDS[model]:
                    access = dict(maccesses.get(field, {
                                'read': True, 'write': True,
                                'create': True, 'delete': True}))
                    access['read'] = False
                    maccesses[field] = access
                accesses[model] = maccesses
        return accesses


class User(metaclass=PoolMeta):
    __name__ = 'res.user'

    @classmethod
    def on_modification(cls, mode, users, field_names=None):
        pool = Pool()
        Application = pool.get('res.user.application')
        super().on_modification(mode, users, field_names=field_names)
        if mode == 'write' and (
                field_names is None
                or {'password', 'active', 'login'} & set(field_names)):
            password = (
                field_names is None
                or {'password', 'login'} & set(field_names))
            with without_check_access():
                to_revoke = [
                    u for u in cls.browse([u.id for u in users])
                    if password or not u.active]
                if to_revoke:
                    Application.revoke(to_revoke)


class UserApplication(metaclass=PoolMeta):
    __name__ = 'res.user.application'

    @classmethod
    def revoke(cls, users):
        "Cancel every key of the users"
        with without_check_access():
            applications = cls.search([
                    ('user', 'in', [u.id for u in users]),
                    ('state', '!=', 'cancelled'),
                    ])
            if applications:
                cls.write(applications, {'state': 'cancelled'})

    @classmethod
    def check(cls, key, application):
        record = super().check(key, application)
        if record:
            with without_check_access():
                user = record.user
                if not user or not user.active:
                    return None
        return record

    def get_rec_name(self, name):
        # The stock rec_name is the key itself: never show it.
        application = dict(self.__class__.application.selection).get(
            self.application, self.application or '')
        user = self.user.rec_name if self.user else ''
        return f'{application} ({user})' if user else application

    @classmethod
    def search_rec_name(cls, name, clause):
        # Searching rec_name must not be an oracle on the key.
        _, operator, operand, *extra = clause
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('user.rec_name', operator, operand, *extra),
            ('application', operator, operand, *extra),
            ]

    @classmethod
    def check_modification(cls, mode, applications, values=None,
            external=False):
        super().check_modification(
            mode, applications, values=values, external=external)
        if _is_admin():
            return
        # Users may only cancel or delete their own keys (the record rule
        # limits them to their own): creating, validating or editing a key
        # is for administrators.
        if mode == 'create':
            raise AccessError(gettext(
                    'hitech_crm_base.msg_hardening_application_create'))
        if mode == 'write':
            if (set(values) - {'state'}
                    or values.get('state') != 'cancelled'):
                raise AccessError(gettext(
                        'hitech_crm_base.msg_hardening_application_write'))


class SessionWizard(metaclass=PoolMeta):
    __name__ = 'ir.session.wizard'
    # No RPC method reaches ir.session.wizard (stock __rpc__ is empty):
    # its records are only handled by trytond.wizard.Wizard, sometimes
    # inside an access-checked RPC call (create/delete of a wizard), so the
    # deny-all access must not apply to those internal calls.

    @classmethod
    def create(cls, vlist):
        with without_check_access():
            return super().create(vlist)

    @classmethod
    def read(cls, ids, fields_names):
        with without_check_access():
            return super().read(ids, fields_names)

    @classmethod
    def write(cls, *args):
        with without_check_access():
            return super().write(*args)

    @classmethod
    def delete(cls, records):
        with without_check_access():
            return super().delete(records)


class Session(metaclass=PoolMeta):
    __name__ = 'ir.session'

    @classmethod
    def clear(cls, users, domain=None):
        # Called by res.user.on_modification inside access-checked writes
        with without_check_access():
            return super().clear(users, domain=domain)


class UserDevice(metaclass=PoolMeta):
    __name__ = 'res.user.device'

    @classmethod
    def clear(cls, logins):
        # Called by res.user.on_modification inside access-checked writes
        with without_check_access():
            return super().clear(logins)


class Queue(metaclass=PoolMeta):
    __name__ = 'ir.queue'

    @classmethod
    def read(cls, ids, fields_names):
        # ir.error (administrators only) shows its origin task by name:
        # let administrators read the name of a task, nothing else.
        if (Transaction().check_access
                and set(fields_names) <= {'id', 'rec_name'}
                and _is_admin()):
            with without_check_access():
                return super().read(ids, fields_names)
        return super().read(ids, fields_names)

    @classmethod
    def push(cls, name, data, scheduled_at=None, expected_at=None):
        # The task runs as data['user'] (the transaction user, which a
        # client can not choose).  A 'user' context key is honoured by some
        # code (ir.chat.channel.post, company/stock res.user when the user
        # is root), and it can come from the client's RPC context: drop it
        # unless the task runs as root, where only server code sets it
        # (Transaction.set_user(0, set_context=True)).
        context = data.get('context')
        if isinstance(context, dict) and data.get('user'):
            context = dict(context)
            context.pop('user', None)
            context.pop('_check_access', None)
            data = dict(data, context=context)
        return super().push(
            name, data, scheduled_at=scheduled_at, expected_at=expected_at)


class ChatChannel(metaclass=PoolMeta):
    __name__ = 'ir.chat.channel'

    @classmethod
    def post(cls, resource, content, audience='internal'):
        # Stock post() takes the author from context['user'], which any
        # RPC client can set: a user could post as someone else.
        transaction = Transaction()
        if transaction.user and 'user' in transaction.context:
            # set_user without set_context drops the 'user' key
            with transaction.set_user(transaction.user):
                return super().post(resource, content, audience=audience)
        return super().post(resource, content, audience=audience)

