# This file is part of HiTech CRM. See LICENSE for details.
"""Assignment rules and strategies, the agent's workbench, partner-first
channel modes and entitlements."""
import datetime
from unittest.mock import patch

from trytond.model.exceptions import ValidationError
from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.modules.hitech_service.tests.common import (
    ServiceTestCase, as_user, make_service_user)
from trytond.pool import Pool
from trytond.pyson import PYSONDecoder
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

SENDMAIL = 'trytond.modules.hitech_service.entitlement.sendmail_transactional'


class AssignmentTestCase(ServiceTestCase):
    "Test ticket assignment, channel modes and entitlements"

    def team(self, company, *employees, name="Field"):
        pool = Pool()
        Team = pool.get('hitech.sales.team')
        team, = Team.create([{
                    'name': name, 'kind': 'service',
                    'members': [('create', [{
                                    'employee': e.id, 'role': 'engineer'}
                                for e in employees])]}])
        return team

    @with_transaction()
    def test_round_robin_and_least_loaded(self):
        "Round robin hands tickets in turn; least loaded to the idlest"
        pool = Pool()
        Rule = pool.get('hitech.ticket.assignment.rule')
        Ticket = pool.get('hitech.ticket')
        company = create_company(name="Orion Instruments")
        with set_company(company):
            a, b, c = [create_employee(company, n) for n in "ABC"]
            team = self.team(company, a, b, c)
            Rule.create([
                    {'name': "Phone", 'sequence': 10, 'channel': 'phone',
                        'service_team': team.id, 'strategy': 'round_robin'},
                    {'name': "Rest", 'sequence': 20,
                        'service_team': team.id,
                        'strategy': 'least_loaded'},
                    ])
            tickets = Ticket.create([
                    {'subject': "P%d" % i, 'channel': 'phone'}
                    for i in range(4)])
            self.assertEqual(
                [t.handler for t in tickets], [a, b, c, a])
            self.assertTrue(all(t.state == 'assigned' for t in tickets))
            self.assertTrue(all(t.service_team == team for t in tickets))
            # a has 2 open tickets, b and c 1: least loaded gives b
            Ticket.cancel([tickets[2]])
            ticket, = Ticket.create([{'subject': "Mail"}])
            self.assertEqual(ticket.handler, c)

    @with_transaction()
    def test_assignment_as_agent(self):
        "The rules run for a ticket an agent creates, with their access"
        pool = Pool()
        Rule = pool.get('hitech.ticket.assignment.rule')
        Ticket = pool.get('hitech.ticket')
        company = create_company(name="Zephyr Photonics")
        with set_company(company):
            a, b = [create_employee(company, n) for n in "AB"]
            team = self.team(company, a, b)
            rule, = Rule.create([{
                        'name': "All", 'service_team': team.id,
                        'strategy': 'round_robin'}])
            agent = make_service_user('agent', company, a)
        with as_user(agent):
            first, second = Ticket.create([
                    {'subject': "One", 'channel': 'phone'},
                    {'subject': "Two", 'channel': 'phone'},
                    ])
            self.assertEqual(
                [Ticket(t.id).handler.id for t in [first, second]],
                [a.id, b.id])
        self.assertEqual(Rule(rule.id).last_handler, b)

    @with_transaction()
    def test_skill_and_fixed(self):
        "By skill prefers the matching expert; fixed always the same"
        pool = Pool()
        Rule = pool.get('hitech.ticket.assignment.rule')
        Ticket = pool.get('hitech.ticket')
        Skill = pool.get('hitech.service.skill')
        Category = pool.get('hitech.ticket.category')
        company = create_company(name="Kestrel Metrology")
        with set_company(company):
            a, b, vip = [
                create_employee(company, n) for n in ["A", "B", "VIP"]]
            team = self.team(company, a, b)
            hardware, = Category.create([{'name': "Hardware"}])
            laser, = Category.create([
                    {'name': "Laser", 'parent': hardware.id}])
            Skill.create([
                    {'employee': a.id, 'level': '1',
                        'ticket_categories': [('add', [hardware.id])]},
                    {'employee': b.id, 'level': '3',
                        'ticket_categories': [('add', [hardware.id])]},
                    ])
            Rule.create([
                    {'name': "Urgent", 'sequence': 5, 'priority': 'urgent',
                        'strategy': 'fixed', 'handler': vip.id},
                    {'name': "Hardware", 'sequence': 10,
                        'category': hardware.id, 'service_team': team.id,
                        'strategy': 'skill'},
                    ])
            skilled, urgent, other = Ticket.create([
                    {'subject': "Beam off", 'category': laser.id},
                    {'subject': "Down", 'priority': 'urgent'},
                    {'subject': "Question"},
                    ])
            self.assertEqual(skilled.handler, b)
            self.assertEqual(urgent.handler, vip)
            # no rule matches: left unassigned
            self.assertIsNone(other.handler)
            self.assertEqual(other.state, 'new')
            # the button runs the rules again
            Ticket.write([other], {'priority': 'urgent'})
            Ticket.auto_assign([other])
            self.assertEqual(other.handler, vip)

    @with_transaction()
    def test_my_work_order(self):
        "My Work lists the handler's open tickets, due first, nulls last"
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        Action = pool.get('ir.action.act_window')
        ModelData = pool.get('ir.model.data')
        company = create_company(name="Borealis Vacuum")
        with set_company(company):
            me = create_employee(company, "Me")
            now = datetime.datetime(2026, 3, 1, 8, 0)
            later, none_low, none_urgent, soon, done = Ticket.create([
                    {'subject': "later", 'handler': me.id,
                        'resolution_deadline': now
                        + datetime.timedelta(days=2)},
                    {'subject': "none low", 'handler': me.id,
                        'priority': 'low'},
                    {'subject': "none urgent", 'handler': me.id,
                        'priority': 'urgent'},
                    {'subject': "soon", 'handler': me.id,
                        'response_deadline': now},
                    {'subject': "done", 'handler': me.id},
                    ])
            Ticket.cancel([done])
            action = Action(
                ModelData.get_id('hitech_service', 'act_ticket_work'))
            decoder = PYSONDecoder({'context': {'employee': me.id}})
            domain = decoder.decode(action.pyson_domain)
            order = decoder.decode(action.pyson_order)
            found = Ticket.search(domain, order=order)
            self.assertEqual(
                [t.subject for t in found],
                ["soon", "later", "none urgent", "none low"])

    @with_transaction()
    def test_partner_first(self):
        "Partner tickets go to the vendor team after the partner delay"
        pool = Pool()
        Party = pool.get('party.party')
        Mode = pool.get('hitech.ticket.channel.mode')
        Rule = pool.get('hitech.ticket.assignment.rule')
        Ticket = pool.get('hitech.ticket')
        company = create_company(name="Mistral Optics")
        with set_company(company):
            engineer = create_employee(company, "Vendor Engineer")
            vendor = self.team(company, engineer, name="Vendor L2")
            partner, = Party.create([{
                        'name': "Delta Distribution",
                        'account_type': 'distributor'}])
            Mode.create([{
                        'channel': 'partner', 'mode': 'partner_first',
                        'partner_delay': datetime.timedelta(hours=8),
                        'vendor_team': vendor.id}])
            Rule.create([{
                        'name': "All", 'service_team': vendor.id,
                        'strategy': 'least_loaded'}])
            with_partner, direct = Ticket.create([
                    {'subject': "Via partner", 'channel': 'partner',
                        'partner': partner.id},
                    {'subject': "Direct", 'channel': 'phone'},
                    ])
            # the partner has it: no internal assignment
            self.assertIsNone(with_partner.handler)
            self.assertTrue(with_partner.partner_deadline)
            self.assertTrue(with_partner.is_with_partner())
            self.assertEqual(direct.handler, engineer)

            self.assertEqual(Ticket.escalate_partner_tickets(), [])
            moved = Ticket.escalate_partner_tickets(
                date=datetime.datetime.now() + datetime.timedelta(hours=9))
            self.assertEqual(moved, [with_partner])
            with_partner = Ticket(with_partner.id)
            self.assertEqual(with_partner.service_team, vendor)
            self.assertEqual(with_partner.handler, engineer)
            self.assertEqual(with_partner.state, 'assigned')
            self.assertTrue(with_partner.escalated_at)
            # moved once only
            self.assertEqual(Ticket.escalate_partner_tickets(
                    date=datetime.datetime.now()
                    + datetime.timedelta(hours=10)), [])

    @with_transaction()
    def test_policy_contract_coverage(self):
        "Policies match on contract coverage and on the entitlement's tier"
        pool = Pool()
        Party = pool.get('party.party')
        Entitlement = pool.get('hitech.service.entitlement')
        Policy = pool.get('hitech.sla.policy')
        Ticket = pool.get('hitech.ticket')
        company = create_company(name="Quanta Sensing")
        with set_company(company):
            account, = Party.create([{
                        'name': "Nimbus Cryogenics", 'service_tier': 'basic',
                        'account_type': 'customer'}])
            unit, = Entitlement.create([{
                        'account': account.id, 'tier': 'mission_critical',
                        'serial_number': 'SN-9',
                        'start_date': datetime.date(2025, 1, 1)}])
            covered = Ticket(company=company, account=account,
                entitlement=unit, priority='normal', category=None)
            plain = Ticket(company=company, account=account,
                entitlement=None, priority='normal', category=None)
            covered_pattern = covered._sla_pattern()
            plain_pattern = plain._sla_pattern()
            # the entitlement's tier wins over the account's
            self.assertEqual(covered_pattern['tier'], 'mission_critical')
            self.assertEqual(plain_pattern['tier'], 'basic')
            def policy(**values):
                criteria = dict(tier=None, priorities=None, category=None,
                    coverage=None)
                criteria.update(values)
                return Policy(company=company, **criteria)
            contract = policy(coverage='contract')
            without = policy(coverage='none')
            either = policy()
            critical = policy(tier='mission_critical')
            self.assertTrue(contract.match(covered_pattern))
            self.assertFalse(contract.match(plain_pattern))
            self.assertFalse(without.match(covered_pattern))
            self.assertTrue(without.match(plain_pattern))
            self.assertTrue(either.match(covered_pattern))
            self.assertTrue(either.match(plain_pattern))
            self.assertTrue(critical.match(covered_pattern))
            self.assertFalse(critical.match(plain_pattern))

    @with_transaction()
    def test_entitlement(self):
        "Linking a ticket to an entitlement notifies its owner and handler"
        pool = Pool()
        Party = pool.get('party.party')
        Entitlement = pool.get('hitech.service.entitlement')
        Ticket = pool.get('hitech.ticket')
        User = pool.get('res.user')
        company = create_company(name="Quanta Sensing")
        with set_company(company):
            owner_e = create_employee(company, "Account Manager")
            handler_e = create_employee(company, "Engineer")
            owner = make_service_user('owner', company, owner_e)
            handler = make_service_user('handler', company, handler_e)
            User.write([owner], {'email': 'owner@hitech.example'})
            account, other = Party.create([
                    {'name': "Nimbus Cryogenics", 'account_type': 'customer'},
                    {'name': "Tundra Fabrication", 'account_type': 'customer'},
                    ])
            general, unit = Entitlement.create([
                    {'account': account.id, 'tier': 'standard',
                        'start_date': datetime.date(2025, 1, 1),
                        'owner': owner_e.id,
                        'contract_reference': "MC-1"},
                    {'account': account.id, 'tier': 'premium',
                        'serial_number': 'SN-9',
                        'start_date': datetime.date(2025, 1, 1),
                        'owner': owner_e.id},
                    ])
            ticket = Ticket(subject="Broken", account=account,
                serial_number='SN-9', company=company)
            ticket.on_change_serial_number()
            self.assertEqual(ticket.entitlement, unit)
            ticket.serial_number = 'SN-1'
            ticket.entitlement = None
            ticket.on_change_serial_number()
            self.assertEqual(ticket.entitlement, general)

            transaction = Transaction()
            transaction.user_notifications.clear()
            with patch(SENDMAIL) as sendmail:
                ticket, = Ticket.create([{
                            'subject': "Broken", 'account': account.id,
                            'handler': handler_e.id,
                            'entitlement': unit.id}])
            self.assertEqual(ticket.service_tier, 'premium')
            users = sorted(getattr(n.user, 'id', n.user)
                for n in transaction.user_notifications)
            self.assertEqual(users, sorted([owner.id, handler.id]))
            sendmail.assert_called_once()
            self.assertEqual(
                sendmail.call_args[0][1], ['owner@hitech.example'])

            with self.assertRaises(ValidationError):
                Ticket.create([{
                            'subject': "Wrong", 'account': other.id,
                            'entitlement': unit.id}])


del ServiceTestCase
