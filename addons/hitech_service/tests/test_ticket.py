# This file is part of HiTech CRM. See LICENSE for details.
"""Ticket core: numbering, workflow, thread, roll-ups and record access.

Access is only enforced over RPC or inside check_access(): every access
check here runs as a real user of a group through as_user.
"""
import datetime

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.modules.hitech_service.tests.common import (
    ServiceTestCase, as_user, make_service_user)
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction


class TicketTestCase(ServiceTestCase):
    "Test the ticket core of hitech_service"

    @with_transaction()
    def test_number_from_sequence(self):
        "New tickets are numbered from the configured sequence"
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        company = create_company()
        with set_company(company):
            first, second = Ticket.create([
                    {'subject': "Printer jams"},
                    {'subject': "Scanner down"},
                    ])
            self.assertRegex(first.number, r'^TKT\d{5}$')
            self.assertNotEqual(first.number, second.number)
            self.assertEqual(first.state, 'new')
            self.assertEqual(first.priority, 'normal')
            self.assertEqual(first.company, company)
            self.assertEqual(
                first.rec_name, '[%s] Printer jams' % first.number)
            self.assertEqual(
                Ticket.search([('rec_name', '=', first.number)]), [first])
            copy, = Ticket.copy([first])
            self.assertNotEqual(copy.number, first.number)
            self.assertEqual(
                first.get_email_subject("Re: jam"),
                '[%s] Re: jam' % first.number)
            self.assertEqual(
                first.get_email_subject('[%s] jam' % first.number),
                '[%s] jam' % first.number)

    @with_transaction()
    def test_workflow(self):
        "A ticket goes through its states and records the dates"
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        company = create_company()
        with set_company(company):
            employee = create_employee(company, "Agent")
            ticket, = Ticket.create([{'subject': "No boot"}])
            with self.assertRaises(UserError):
                Ticket.write([ticket], {'handler': None})
                Ticket.assign([ticket])
            self.assertEqual(ticket.state, 'new')

            ticket.handler = employee
            ticket.save()
            Ticket.assign([ticket])
            self.assertEqual(ticket.state, 'assigned')
            self.assertTrue(ticket.assigned_at)
            Ticket.start([ticket])
            Ticket.wait([ticket])
            self.assertEqual(ticket.state, 'waiting')
            # not a transition: silently ignored
            Ticket.close([ticket])
            self.assertEqual(ticket.state, 'waiting')
            Ticket.start([ticket])
            Ticket.resolve([ticket])
            self.assertEqual(ticket.state, 'resolved')
            self.assertTrue(ticket.resolved_at)
            Ticket.close([ticket])
            self.assertEqual(ticket.state, 'closed')
            self.assertTrue(ticket.closed_at)
            self.assertEqual(Ticket.search([('is_open', '=', True)]), [])

            Ticket.reopen([ticket])
            self.assertEqual(ticket.state, 'reopened')
            self.assertIsNone(ticket.resolved_at)
            self.assertIsNone(ticket.closed_at)
            self.assertEqual(
                Ticket.search([('is_open', '=', True)]), [ticket])
            Ticket.start([ticket])
            self.assertEqual(ticket.state, 'in_progress')

            with self.assertRaises(UserError):
                Ticket.delete([ticket])
            Ticket.cancel([ticket])
            self.assertEqual(ticket.state, 'cancelled')
            Ticket.delete([ticket])

    @with_transaction()
    def test_start_takes_ticket(self):
        "Starting an unassigned ticket makes the user's employee handle it"
        pool = Pool()
        Team = pool.get('hitech.sales.team')
        Ticket = pool.get('hitech.ticket')
        company = create_company()
        with set_company(company):
            employee = create_employee(company, "Agent")
            agent = make_service_user('agent', company, employee)
            team, = Team.create([{
                        'name': "Desk", 'kind': 'service',
                        'members': [('create', [{
                                        'employee': employee.id,
                                        'role': 'engineer'}])]}])
            ticket, = Ticket.create([{
                        'subject': "Slow", 'service_team': team.id}])
        with as_user(agent):
            Ticket.start([Ticket(ticket.id)])
        ticket = Ticket(ticket.id)
        self.assertEqual(ticket.state, 'in_progress')
        self.assertEqual(ticket.handler, employee)
        self.assertTrue(ticket.assigned_at)

    @with_transaction()
    def test_state_change_hook(self):
        "on_state_change is called with the previous states"
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        company = create_company()
        calls = []
        original = Ticket.on_state_change.__func__

        def record(cls, tickets, state, previous):
            calls.append(([t.id for t in tickets], state, previous))
            return original(cls, tickets, state, previous)
        with set_company(company):
            ticket, = Ticket.create([{'subject': "Noise"}])
            Ticket.on_state_change = classmethod(record)
            try:
                Ticket.start([ticket])
            finally:
                Ticket.on_state_change = classmethod(original)
        self.assertEqual(
            calls, [([ticket.id], 'in_progress', {ticket.id: 'new'})])

    @with_transaction()
    def test_sla_deadline(self):
        "The next deadline is the response one, then the resolution one"
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        Message = pool.get('hitech.ticket.message')
        company = create_company()
        now = datetime.datetime(2026, 1, 5, 9, 0)
        respond = now + datetime.timedelta(hours=4)
        resolve = now + datetime.timedelta(days=2)
        with set_company(company):
            ticket, = Ticket.create([{
                        'subject': "Overheats",
                        'response_deadline': respond,
                        'resolution_deadline': resolve,
                        }])
            self.assertEqual(ticket.sla_deadline, respond)

            Message.create([{
                        'ticket': ticket.id, 'direction': 'internal',
                        'body': "Checking logs"}])
            ticket = Ticket(ticket.id)
            self.assertIsNone(ticket.first_response_at)
            self.assertEqual(ticket.sla_deadline, respond)

            Message.create([{
                        'ticket': ticket.id, 'direction': 'outgoing',
                        'date': now, 'body': "We are on it"}])
            ticket = Ticket(ticket.id)
            self.assertEqual(ticket.first_response_at, now)
            self.assertEqual(ticket.sla_deadline, resolve)

            Ticket.start([ticket])
            Ticket.resolve([ticket])
            self.assertIsNone(Ticket(ticket.id).sla_deadline)
            Ticket.reopen([ticket])
            self.assertEqual(Ticket(ticket.id).sla_deadline, resolve)

    @with_transaction()
    def test_open_ticket_rollup(self):
        "Open tickets roll up from subsidiaries to the group account"
        pool = Pool()
        Party = pool.get('party.party')
        Ticket = pool.get('hitech.ticket')
        company = create_company()
        with set_company(company):
            group, = Party.create([{'name': "Group"}])
            child, other = Party.create([
                    {'name': "Subsidiary", 'parent': group.id},
                    {'name': "Other"},
                    ])
            t1, t2, t3, t4 = Ticket.create([
                    {'subject': "A", 'account': group.id},
                    {'subject': "B", 'account': child.id},
                    {'subject': "C", 'account': child.id},
                    {'subject': "D", 'account': other.id},
                    ])
            Ticket.cancel([t3])
            group, child, other = Party.browse([group, child, other])
            self.assertEqual(group.open_ticket_count, 2)
            self.assertEqual(child.open_ticket_count, 1)
            self.assertEqual(other.open_ticket_count, 1)
            # the roll-ups of hitech_crm_base still work next to it
            values = Party.read(
                [group.id], ['open_ticket_count', 'opportunity_count'])
            self.assertEqual(values[0]['open_ticket_count'], 2)
            self.assertEqual(values[0]['opportunity_count'], 0)
            self.assertEqual(list(child.tickets), [t3, t2])

    @with_transaction()
    def test_agent_access(self):
        "Agents see the tickets they handle or of their teams, not others"
        pool = Pool()
        Team = pool.get('hitech.sales.team')
        Ticket = pool.get('hitech.ticket')
        Message = pool.get('hitech.ticket.message')
        company = create_company()
        with set_company(company):
            alice_e = create_employee(company, "Alice")
            bob_e = create_employee(company, "Bob")
            boss_e = create_employee(company, "Boss")
            alice = make_service_user('alice', company, alice_e)
            bob = make_service_user('bob', company, bob_e)
            boss = make_service_user('boss', company, boss_e)
            head = make_service_user(
                'head', company, create_employee(company, "Head"),
                group='group_service_manager')
            service, = Team.create([{
                        'name': "Service", 'kind': 'service',
                        'manager': boss_e.id}])
            field, = Team.create([{
                        'name': "Field", 'kind': 'service',
                        'parent': service.id,
                        'members': [('create', [{
                                        'employee': bob_e.id,
                                        'role': 'engineer'}])]}])
            mine, team, lonely = Ticket.create([
                    {'subject': "Alice's", 'handler': alice_e.id},
                    {'subject': "Field team's", 'service_team': field.id},
                    {'subject': "Nobody's"},
                    ])
            Message.create([{
                        'ticket': lonely.id, 'body': "Secret",
                        'direction': 'internal'}])
        with as_user(alice):
            self.assertEqual(Ticket.search([]), [mine])
            self.assertEqual(Message.search([]), [])
            Ticket.write([Ticket(mine.id)], {'priority': 'high'})
            with self.assertRaises(AccessError):
                Ticket.read([lonely.id], ['subject'])
            with self.assertRaises(AccessError):
                Ticket.write([Ticket(team.id)], {'priority': 'high'})
            with self.assertRaises(AccessError):
                Message.create([{'ticket': lonely.id, 'body': "Hi"}])
            own, = Ticket.create([{'subject': "Phoned in"}])
            # a ticket the agent created stays visible to them
            self.assertEqual(Ticket(own.id).subject, "Phoned in")
            with self.assertRaises(AccessError):
                Ticket.delete([Ticket(own.id)])
        with as_user(bob):
            self.assertEqual(Ticket.search([]), [team])
            # the client reads the team's name with the ticket
            self.assertEqual(
                Ticket.read([team.id], ['service_team.rec_name'])[0][
                    'service_team.']['rec_name'], "Service / Field")
            self.assertEqual(Ticket.search([
                        ('service_team.members.employee', '=', bob_e.id)]),
                [team])
            Message.create([{'ticket': team.id, 'body': "On site Monday"}])
        with as_user(boss):
            # the manager of the parent team sees the sub-team's tickets
            self.assertEqual(Ticket.search([]), [team])
        with as_user(head):
            self.assertEqual(
                {t.id for t in Ticket.search([])},
                {mine.id, team.id, lonely.id, own.id})
            Ticket.cancel([Ticket(own.id)])
            Ticket.delete([Ticket(own.id)])

    @with_transaction()
    def test_sales_rep_access(self):
        "Sales reps read the tickets of the accounts they own or manage"
        pool = Pool()
        Party = pool.get('party.party')
        Team = pool.get('hitech.sales.team')
        Ticket = pool.get('hitech.ticket')
        company = create_company()
        with set_company(company):
            rep_e = create_employee(company, "Rep")
            manager_e = create_employee(company, "Sales Manager")
            rep = make_service_user(
                'rep', company, rep_e, group='group_sales_rep',
                module='hitech_crm_base')
            manager = make_service_user(
                'manager', company, manager_e, group='group_sales_manager',
                module='hitech_crm_base')
            sales, = Team.create([{
                        'name': "East Sales", 'manager': manager_e.id}])
            owned, managed, foreign = Party.create([
                    {'name': "Owned", 'account_type': 'customer',
                        'owner': rep_e.id},
                    {'name': "Managed", 'account_type': 'customer',
                        'sales_team': sales.id},
                    {'name': "Foreign", 'account_type': 'customer'},
                    ])
            t_owned, t_managed, t_foreign = Ticket.create([
                    {'subject': "1", 'account': owned.id},
                    {'subject': "2", 'account': managed.id},
                    {'subject': "3", 'account': foreign.id},
                    ])
        with as_user(rep):
            self.assertEqual(Ticket.search([]), [t_owned])
            with self.assertRaises(AccessError):
                Ticket.write([Ticket(t_owned.id)], {'priority': 'low'})
            with self.assertRaises(AccessError):
                Ticket.create([{'subject': "Mine"}])
            self.assertEqual(Party(owned.id).open_ticket_count, 1)
        with as_user(manager):
            self.assertEqual(Ticket.search([]), [t_managed])


del ServiceTestCase
