# This file is part of HiTech CRM. See LICENSE for details.
"""The access matrix: every role group x every model of the suite x
read / create / write / delete, called through JSON-RPC as a real user of
that group (never as root), checked against the declared policy below.

The policy is the specification: a model of the suite that is missing from
it fails the test, so adding a model forces its access to be decided.
Record rules (which records of a model a user sees) are tested per module;
this matrix is about what each role may do with each model at all.
"""
import unittest

from trytond.pool import Pool
from trytond.tests.test_tryton import (
    DB_NAME, activate_module, drop_db, with_transaction)
from trytond.transaction import Transaction

from .conftest import SUITE_MODULES
from .rpc import RPCClient, RPCError

PASSWORD = 'matrix-password-2026'

# role -> (module, group xml id)
ROLES = {
    'sales_rep': ('hitech_crm_base', 'group_sales_rep'),
    'sales_manager': ('hitech_crm_base', 'group_sales_manager'),
    'finance': ('hitech_crm_base', 'group_finance'),
    'crm_admin': ('hitech_crm_base', 'group_crm_admin'),
    'channel_manager': ('hitech_channel', 'group_channel_manager'),
    'service_agent': ('hitech_service', 'group_service_agent'),
    'service_manager': ('hitech_service', 'group_service_manager'),
    'commission_admin': ('hitech_commission', 'group_commission_admin'),
    'pos_operator': ('hitech_pos_bridge', 'group_pos_operator'),
    'integration_admin': (
        'hitech_integrations', 'group_integration_admin'),
    'nobody': None,
    }
# a group inherits the accesses of its parent (res.group.parent)
INHERITS = {
    'sales_manager': {'sales_rep'},
    'crm_admin': {'sales_manager', 'sales_rep'},
    'channel_manager': {'sales_rep'},
    'service_manager': {'service_agent'},
    }
MODES = ('read', 'create', 'write', 'delete')

SALES = {'sales_rep'}
READERS = {'sales_rep', 'finance'}
ADMIN = {'crm_admin'}
NONE = set()


def rule(read=NONE, create=NONE, write=NONE, delete=NONE, full=NONE):
    "Roles allowed per mode; full roles are allowed everything"
    return {
        'read': set(read) | set(full),
        'create': set(create) | set(full),
        'write': set(write) | set(full),
        'delete': set(delete) | set(full),
        }


# The access policy of the suite's models.
POLICY = {
    'hitech.sales.team': rule(read=READERS, full=ADMIN),
    'hitech.sales.team.member': rule(read=READERS, full=ADMIN),
    'hitech.territory': rule(read=READERS, full=ADMIN),
    'hitech.territory.member': rule(read=READERS, full=ADMIN),
    # relation tables are not exposed over RPC (no ModelView): they are
    # reached through their territory, whose access applies
    'hitech.territory-product.category': rule(),
    'hitech.territory-party.party': rule(),
    'hitech.share': rule(read=READERS, full=SALES | ADMIN),
    'hitech.account.contact': rule(
        read=READERS, create=SALES, write=SALES,
        delete={'sales_manager'}, full=ADMIN),
    # the stage history is written by the system only
    'hitech.account.stage.log': rule(read=READERS),
    'hitech.activity': rule(
        read=READERS, create=SALES, write=SALES,
        delete={'sales_manager'}, full=ADMIN),
    'hitech.document.type': rule(read=READERS, full=ADMIN),
    'hitech.import.job': rule(read=SALES, full={'sales_manager'}),
    'hitech.import.job.mapping': rule(read=SALES, full={'sales_manager'}),
    'hitech.import.job.error': rule(read=SALES, full={'sales_manager'}),
    'hitech.party.duplicate': rule(
        read=SALES, full={'sales_manager', 'crm_admin'}),
    # keys are internal to duplicate detection: not exposed over RPC
    # (no ModelView), written by the system only
    'hitech.party.dedup.key': rule(),
    # care rules are set up by the CRM administrators; the reps read them
    'hitech.care.rule': rule(read=SALES, full=ADMIN),
    'hitech.lead.source': rule(read=READERS, full=ADMIN),
    # progress of running imports: internal, read through the job
    'hitech.import.job.progress': rule(),
    # leads: the CRM administrators set up the capture and the pool; the
    # managers the assignment rules and keywords; reps read them
    'hitech.crm.configuration': rule(read=READERS, full=ADMIN),
    'hitech.lead.form': rule(full=ADMIN),
    # rate-limit hits are written by the capture route only
    'hitech.lead.capture.hit': rule(),
    # valid web posts waiting for the queue: the system's own
    'hitech.lead.capture.pending': rule(),
    'hitech.lead.submission': rule(read=READERS),
    'hitech.lead.pool.log': rule(read=READERS),
    'hitech.lead.assignment.rule': rule(read=SALES, full={'sales_manager'}),
    'hitech.lead.assignment.rule-company.employee': rule(),
    'hitech.lead.registration': rule(
        read=SALES | {'finance'}, create=SALES, write=SALES, delete=ADMIN),
    'hitech.keyword': rule(read=READERS, full={'sales_manager'}),
    'hitech.keyword.rank': rule(read=READERS, full={'sales_manager'}),
    # sales processes and their stages are set up by the CRM
    # administrators; reps and finance read them
    'hitech.sales.process': rule(read=READERS, full=ADMIN),
    'hitech.opportunity.stage': rule(read=READERS, full=ADMIN),
    'hitech.opportunity.stage.requirement': rule(read=READERS, full=ADMIN),
    'hitech.opportunity.lost_reason': rule(read=READERS, full=ADMIN),
    # the stage history of opportunities is written by the system only
    'hitech.opportunity.stage.history': rule(read=READERS),
    'hitech.opportunity.competitor': rule(
        read=READERS, create=SALES, write=SALES,
        delete={'sales_manager'}, full=ADMIN),
    'hitech.opportunity.contact': rule(
        read=READERS, create=SALES, write=SALES,
        delete={'sales_manager'}, full=ADMIN),
    # quotas: reps create and edit their own drafts (record rules), managers
    # approve; finance reads
    'hitech.quota': rule(read=READERS, full=SALES),
    'hitech.quota.period': rule(read=READERS, full=SALES),
    'hitech.quota.seasonality': rule(read=READERS, full=ADMIN),
    'hitech.forecast': rule(read=READERS, full=SALES),
    # adjustments are a history: managers add them through the Adjust
    # wizard of a forecast, nobody creates or changes them directly
    'hitech.forecast.adjustment': rule(read=READERS),
    # the knowledge base: agents write drafts (record rules keep them to
    # their own drafts), service managers publish; sales reps read
    'hitech.kb.category': rule(
        read={'service_agent', 'sales_rep'}, full={'service_manager'}),
    'hitech.kb.article': rule(
        read={'service_agent', 'sales_rep'}, create={'service_agent'},
        write={'service_agent'}, full={'service_manager'}),
    'hitech.kb.article-product.category': rule(),
    'hitech.kb.article-product.product': rule(),
    # the vocabulary of the fuzzy search: internal, written by the system
    'hitech.kb.word': rule(),
    # service levels: agents read the calendars, policies and reminder
    # rules, service managers set them up; lines follow their parent
    'hitech.service.calendar': rule(
        read={'service_agent'}, full={'service_manager'} | ADMIN),
    'hitech.service.calendar.interval': rule(
        read={'service_agent'}, full={'service_manager'} | ADMIN),
    'hitech.service.calendar.exception': rule(
        read={'service_agent'}, full={'service_manager'} | ADMIN),
    'hitech.sla.policy': rule(
        read={'service_agent'}, full={'service_manager'} | ADMIN),
    'hitech.sla.target': rule(
        read={'service_agent'}, full={'service_manager'} | ADMIN),
    'hitech.sla.escalation.step': rule(
        read={'service_agent'}, full={'service_manager'} | ADMIN),
    'hitech.sla.reminder': rule(
        read={'service_agent'}, full={'service_manager'} | ADMIN),
    # written by the escalation cron only; read with the ticket
    # written by the escalation pass; read with the ticket (__access__)
    'hitech.ticket.escalation.log': rule(
        read=SALES | {'service_agent'} | ADMIN),
    'hitech.ticket.sla.milestone': rule(),
    # service desk: agents work tickets, managers also delete them and set
    # up categories and the configuration; sales reps read the tickets of
    # their accounts (record rules)
    'hitech.ticket': rule(
        read=SALES | {'service_agent'}, create={'service_agent'},
        write={'service_agent'}, delete={'service_manager'}, full=ADMIN),
    'hitech.ticket.message': rule(
        read=SALES | {'service_agent'}, create={'service_agent'},
        write={'service_agent'}, delete={'service_manager'}, full=ADMIN),
    'hitech.ticket.category': rule(
        read=SALES | {'service_agent'}, full={'service_manager'} | ADMIN),
    # a singleton: create writes the existing record
    'hitech.service.configuration': rule(
        read={'service_agent'} | ADMIN,
        create={'service_manager'} | ADMIN,
        write={'service_manager'} | ADMIN),
    # company values of the configuration: no ModelView, reached through
    # the configuration
    'hitech.service.configuration.sequence': rule(),
    # rate limit of the public ticket web form: internal storage
    'hitech.ticket.form.attempt': rule(),
    # skills, assignment rules and channel modes are set up by service
    # managers; agents read them
    'hitech.service.skill': rule(
        read={'service_agent'}, full={'service_manager'} | ADMIN),
    'hitech.service.skill-product.category': rule(),
    'hitech.service.skill-hitech.ticket.category': rule(),
    'hitech.ticket.assignment.rule': rule(
        read={'service_agent'}, full={'service_manager'} | ADMIN),
    'hitech.ticket.channel.mode': rule(
        read={'service_agent'}, full={'service_manager'} | ADMIN),
    # entitlements: managed by service managers, read by agents and reps
    'hitech.service.entitlement': rule(
        read=SALES | {'service_agent'}, full={'service_manager'} | ADMIN),
    # links of tickets to the articles used: reached through the ticket
    'hitech.ticket-hitech.kb.article': rule(),
    # dispatch: agents and engineers work the orders, service managers
    # approve and delete them; sales reps and finance read them
    'hitech.work.order': rule(
        read=READERS | {'service_agent'}, create={'service_agent'},
        write={'service_agent'}, delete={'service_manager'}, full=ADMIN),
    'hitech.work.order.expense': rule(
        read=READERS | {'service_agent'}, create={'service_agent'},
        write={'service_agent'}, delete={'service_manager'}, full=ADMIN),
    'hitech.work.order.part': rule(
        read=READERS | {'service_agent'}, create={'service_agent'},
        write={'service_agent'}, delete={'service_manager'}, full=ADMIN),
    # the signing keys of the portal and of the survey links: never
    # reachable over RPC
    'hitech.service.secret': rule(),
    # surveys are written by the system and the customer's answer only;
    # agents and reps read them with their tickets, admins may delete
    'hitech.ticket.survey': rule(
        read=SALES | {'service_agent'}, delete=ADMIN),
    # the word postings of the knowledge base search: internal, written
    # by the system when articles change
    'hitech.kb.article-hitech.kb.word': rule(),
    }
# service agents read the service teams of their tickets (hitech_service)
POLICY['hitech.sales.team']['read'] |= {'service_agent'}
POLICY['hitech.sales.team.member']['read'] |= {'service_agent'}

# Internal storage of the platform: nobody reaches it over RPC (hardening)
INTERNAL = [
    'ir.session', 'ir.session.wizard', 'ir.queue', 'ir.cache',
    'res.user.login.attempt', 'res.user.device',
    'web.user.session', 'web.user.authenticate.attempt',
    ]


def effective_roles(role):
    return {role} | INHERITS.get(role, set())


class AccessMatrixTestCase(unittest.TestCase):
    "Every role x every suite model x CRUD, through JSON-RPC"

    @classmethod
    def setUpClass(cls):
        drop_db()
        activate_module(SUITE_MODULES)
        cls.create_users()

    @classmethod
    def tearDownClass(cls):
        drop_db()

    @classmethod
    def create_users(cls):
        from trytond.modules.company.tests import (
            create_company, create_employee)
        with Transaction().start(DB_NAME, 0) as transaction:
            pool = Pool()
            User = pool.get('res.user')
            ModelData = pool.get('ir.model.data')
            company = create_company()
            values = []
            for role, group in ROLES.items():
                employee = create_employee(company, name=role)
                value = {
                    'login': role,
                    'password': PASSWORD,
                    'companies': [('add', [company.id])],
                    'company': company.id,
                    'employees': [('add', [employee.id])],
                    'employee': employee.id,
                    }
                if group:
                    value['groups'] = [('add', [ModelData.get_id(*group)])]
                values.append(value)
            User.create(values)
            transaction.commit()

    @with_transaction()
    def suite_models(self):
        pool = Pool()
        IrModel = pool.get('ir.model')
        from trytond.model import ModelSQL
        names = []
        for record in IrModel.search([('module', 'in', SUITE_MODULES)]):
            Model = pool.get(record.name)
            if issubclass(Model, ModelSQL) and not Model._is_table_query():
                names.append(record.name)
        return sorted(names)

    def test_policy_covers_every_model(self):
        "Every stored model of the suite has a declared access policy"
        missing = [m for m in self.suite_models() if m not in POLICY]
        self.assertEqual(missing, [],
            msg="declare the access of these models in POLICY: %s"
            % ", ".join(missing))

    def attempt(self, client, model, mode):
        "Return True if the model access lets the call through"
        calls = {
            'read': lambda: client.model(model, 'search', [], 0, 1, None),
            'create': lambda: client.model(model, 'create', [{}]),
            'write': lambda: client.model(model, 'write', [], {}),
            'delete': lambda: client.model(model, 'delete', []),
            }
        try:
            calls[mode]()
        except RPCError as error:
            if error.access_denied or error.unexposed:
                return False
            # validation errors (empty values) come after the access check
            return True
        return True

    def test_matrix(self):
        "Each role may do exactly what the policy says, over RPC"
        checks = 0
        failures = []
        for role in ROLES:
            client = RPCClient(DB_NAME, role, PASSWORD)
            roles = effective_roles(role)
            for model, policy in sorted(POLICY.items()):
                for mode in MODES:
                    expected = bool(roles & policy[mode])
                    actual = self.attempt(client, model, mode)
                    checks += 1
                    if actual != expected:
                        failures.append('%s %s %s: expected %s, got %s' % (
                                role, mode, model,
                                'allowed' if expected else 'denied',
                                'allowed' if actual else 'denied'))
        print("\naccess matrix: %d checks (%d roles x %d models x %d modes)"
            % (checks, len(ROLES), len(POLICY), len(MODES)))
        self.maxDiff = None
        self.assertEqual(failures, [], msg="\n".join(failures))

    def test_internal_models_unreachable(self):
        "No role reaches the platform's internal storage over RPC"
        checks = 0
        reached = []
        for role in ['nobody', 'sales_rep', 'crm_admin']:
            client = RPCClient(DB_NAME, role, PASSWORD)
            for model in INTERNAL:
                for method, args in [
                        ('search', ([], 0, 10, None)),
                        ('read', ([1], ['id'])),
                        ('create', ([{}],)),
                        ('delete', ([1],)),
                        ]:
                    checks += 1
                    try:
                        client.model(model, method, *args)
                    except RPCError:
                        continue
                    reached.append('%s %s.%s' % (role, model, method))
        print("\ninternal models: %d checks" % checks)
        self.assertEqual(reached, [])
