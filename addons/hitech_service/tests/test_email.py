# This file is part of HiTech CRM. See LICENSE for details.
"""Email in (stock inbound_email + the ticket action) and email out (the
Reply wizard), with the bad inputs: malformed and huge emails, broken
MIME, oversized attachments, unicode and markup in subjects."""
import base64
import json
from email.message import EmailMessage
from unittest.mock import patch

from trytond.exceptions import UserError
from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.modules.hitech_service.tests.common import (
    ServiceTestCase, as_user, make_service_user)
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

SENDMAIL = 'trytond.modules.hitech_service.ticket.sendmail_transactional'


def make_email(subject="Printer jams", sender='Ada <ada@example.com>',
        body="It jams on every page.", message_id='<m1@example.com>',
        in_reply_to=None, references=None, attachments=(), html=None):
    msg = EmailMessage()
    if sender:
        msg['From'] = sender
    msg['To'] = 'support@hitech.example'
    if subject is not None:
        msg['Subject'] = subject
    if message_id:
        msg['Message-ID'] = message_id
    if in_reply_to:
        msg['In-Reply-To'] = in_reply_to
    if references:
        msg['References'] = references
    if html:
        msg.set_content(html, subtype='html')
    else:
        msg.set_content(body)
    for filename, data in attachments:
        msg.add_attachment(data, maintype='application',
            subtype='octet-stream', filename=filename)
    return msg.as_bytes()


class TicketEmailTestCase(ServiceTestCase):
    "Test the email channel of the service desk"

    def setup_inbox(self, company, **rule):
        pool = Pool()
        Inbox = pool.get('inbound.email.inbox')
        values = {
            'action': 'hitech.ticket|from_inbound_email',
            'ticket_company': company.id,
            }
        values.update(rule)
        inbox, = Inbox.create([{
                    'name': "Support",
                    'rules': [('create', [values])],
                    }])
        return inbox

    def receive(self, inbox, data, data_type='raw'):
        "Process an email the way the inbound_email route does"
        pool = Pool()
        Email = pool.get('inbound.email')
        email, = Email.from_webhook(inbox, data, data_type)
        inbox.process(email)
        Email.save([email])
        return email

    def customer(self):
        pool = Pool()
        Party = pool.get('party.party')
        Contact = pool.get('hitech.account.contact')
        account, ada = Party.create([
                {'name': "Orion Labs", 'account_type': 'customer'},
                {'name': "Ada", 'party_kind': 'person',
                    'contact_mechanisms': [('create', [{
                                    'type': 'email',
                                    'value': 'Ada@Example.com'}])]},
                ])
        Contact.create([{'account': account.id, 'contact': ada.id}])
        return account, ada

    @with_transaction()
    def test_new_ticket_from_email(self):
        "An email becomes a ticket of the sender's account, with its files"
        pool = Pool()
        Category = pool.get('hitech.ticket.category')
        company = create_company()
        with set_company(company):
            account, ada = self.customer()
            category, = Category.create([{'name': "Hardware"}])
            inbox = self.setup_inbox(
                company, ticket_priority='high', ticket_category=category.id)
            email = self.receive(inbox, make_email(
                    attachments=[('log.txt', b'E42'), ('log.txt', b'E43')]))
            ticket = email.result
            self.assertEqual(email.ticket_outcome, 'created')
            self.assertEqual(ticket.channel, 'email')
            self.assertEqual(ticket.subject, "Printer jams")
            self.assertEqual(ticket.description, "It jams on every page.")
            self.assertEqual(ticket.contact, ada)
            self.assertEqual(ticket.account, account)
            self.assertEqual(ticket.priority, 'high')
            self.assertEqual(ticket.category, category)
            self.assertEqual(ticket.company, company)
            message, = ticket.messages
            self.assertEqual(message.direction, 'incoming')
            self.assertEqual(message.email_from, 'ada@example.com')
            self.assertEqual(message.message_id, '<m1@example.com>')
            self.assertEqual(message.party, ada)
            self.assertEqual(
                sorted((a.name, a.data) for a in message.attachments),
                [('log.txt', b'E42'), ('log.txt (2)', b'E43')])

            # the same email again (a retried webhook) changes nothing
            again = self.receive(inbox, make_email())
            self.assertEqual(again.ticket_outcome, 'duplicate')
            self.assertEqual(again.result, ticket)
            self.assertEqual(len(ticket.messages), 1)

    @with_transaction()
    def test_thread_by_reference_and_number(self):
        "Answers thread by In-Reply-To/References or by the number"
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        company = create_company()
        with set_company(company):
            self.customer()
            inbox = self.setup_inbox(company)
            ticket = self.receive(inbox, make_email()).result
            Ticket.start([ticket])
            Ticket.wait([ticket])

            # an answer to our Message-ID, even from another address
            email = self.receive(inbox, make_email(
                    subject="Re: something", sender='bob@else.example',
                    message_id='<m2@else.example>',
                    references='<x@y> <m1@example.com>'))
            self.assertEqual(email.ticket_outcome, 'threaded')
            self.assertEqual(email.result, ticket)
            # the customer answered: back to work
            self.assertEqual(ticket.state, 'in_progress')

            # the number in the subject, from the known sender
            Ticket.resolve([ticket])
            email = self.receive(inbox, make_email(
                    subject="Still broken [%s]" % ticket.number,
                    message_id='<m3@example.com>'))
            self.assertEqual(email.result, ticket)
            self.assertEqual(ticket.state, 'reopened')
            self.assertEqual(len(ticket.messages), 3)

            # the number quoted by a stranger does not open the ticket
            email = self.receive(inbox, make_email(
                    subject="Hijack [%s]" % ticket.number,
                    sender='mallory@evil.example',
                    message_id='<m4@evil.example>'))
            self.assertEqual(email.ticket_outcome, 'created')
            self.assertNotEqual(email.result, ticket)
            self.assertIsNone(email.result.account)
            self.assertEqual(len(ticket.messages), 3)

            # an answer to a closed ticket opens a new one
            Ticket.resolve([ticket])
            Ticket.close([ticket])
            email = self.receive(inbox, make_email(
                    subject="Re: [%s]" % ticket.number,
                    message_id='<m5@example.com>',
                    in_reply_to='<m3@example.com>'))
            self.assertEqual(email.ticket_outcome, 'created')
            self.assertNotEqual(email.result, ticket)

    @with_transaction()
    def test_unicode_and_markup(self):
        "Unicode and markup in subjects are stored as plain text"
        company = create_company()
        with set_company(company):
            inbox = self.setup_inbox(company)
            subject = "打印机 <script>alert(1)</script> ünïcødé \x07"
            email = self.receive(inbox, make_email(
                    subject=subject,
                    html="<p>Hello</p><script>steal()</script><b>Bye</b>"))
            ticket = email.result
            self.assertEqual(
                ticket.subject,
                "打印机 <script>alert(1)</script> ünïcødé")
            self.assertEqual(ticket.description, "Hello\nBye")
            # unknown sender: a ticket without account
            self.assertIsNone(ticket.account)

    @with_transaction()
    def test_bad_emails_rejected(self):
        "Bad emails get a clear outcome and create nothing"
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        Message = pool.get('hitech.ticket.message')
        Attachment = pool.get('ir.attachment')
        Configuration = pool.get('hitech.service.configuration')
        company = create_company()
        with set_company(company):
            Configuration.write([Configuration(1)], {
                    'email_max_size': 3,
                    'email_attachment_max_size': 1,
                    })
            inbox = self.setup_inbox(company)
            big = b'x' * (1024 * 1024 + 1)
            cases = {
                'too large': (make_email(body='y' * (4 * 1024 * 1024)),
                    'exceeds the limit'),
                'attachment too large': (
                    make_email(attachments=[('dump.bin', big)]),
                    '"dump.bin"'),
                'garbage': (b'\x00\xff\xfe garbage', 'cannot be read'),
                'no sender': (make_email(sender=None), 'no valid sender'),
                'empty': (make_email(subject=None, body=''),
                    'no subject, text or attachment'),
                'broken attachment': (
                    b'From: a@example.com\r\nSubject: x\r\n'
                    b'MIME-Version: 1.0\r\n'
                    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
                    b'--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n'
                    b'--b\r\nContent-Type: multipart/mixed; boundary="c"'
                    b'\r\nContent-Disposition: attachment\r\n\r\n'
                    b'--c\r\nContent-Type: text/plain\r\n\r\n', None),
                }
            for name, (data, detail) in cases.items():
                with self.subTest(case=name):
                    email = self.receive(inbox, data)
                    if detail is None:
                        # broken MIME that still has a readable text part
                        self.assertIn(
                            email.ticket_outcome, {'created', 'rejected'})
                        continue
                    self.assertEqual(email.ticket_outcome, 'rejected')
                    self.assertIn(detail, email.ticket_outcome_detail)
                    self.assertIsNone(email.result)
            created = Ticket.search([])
            self.assertLessEqual(len(created), 1)
            self.assertEqual(len(Message.search([])), len(created))
            self.assertEqual(Attachment.search([
                        ('resource', 'like', 'hitech.ticket.message,%')]),
                [])

    @with_transaction()
    def test_fifty_megabyte_attachment(self):
        "A 50 MB attachment is refused above the default limit"
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        company = create_company()
        with set_company(company):
            inbox = self.setup_inbox(company)
            data = make_email(
                attachments=[('video.mp4', b'\0' * (50 * 1024 * 1024))])
            with self.assertLogs(
                    'trytond.modules.hitech_service.ticket', 'WARNING'):
                email = self.receive(inbox, data)
            self.assertEqual(email.ticket_outcome, 'rejected')
            self.assertIn('exceeds the limit', email.ticket_outcome_detail)
            self.assertEqual(Ticket.search([]), [])

    @with_transaction()
    def test_postmark_webhook(self):
        "Webhook formats of stock inbound_email are read too"
        company = create_company()
        with set_company(company):
            inbox = self.setup_inbox(company)
            payload = {
                'FromFull': {'Email': 'Ada@Example.com'},
                'Subject': "Fan noise",
                'TextBody': "Loud fan",
                'Headers': [{'Name': 'Message-ID', 'Value': '<pm1@x>'}],
                'Attachments': [{
                        'Name': 'noise.wav', 'ContentType': 'audio/wav',
                        'Content': base64.b64encode(b'RIFF').decode()}],
                }
            email = self.receive(
                inbox, json.dumps(payload).encode(), 'postmark')
            ticket = email.result
            self.assertEqual(ticket.subject, "Fan noise")
            message, = ticket.messages
            self.assertEqual(message.message_id, '<pm1@x>')
            self.assertEqual(message.attachments[0].data, b'RIFF')

    @with_transaction()
    def test_reply_keeps_thread(self):
        "A reply carries the number, Message-ID, In-Reply-To, References"
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        Configuration = pool.get('hitech.service.configuration')
        Reply = pool.get('hitech.ticket.reply', type='wizard')
        company = create_company()
        with set_company(company):
            Configuration.write([Configuration(1)], {
                    'email_from': 'support@hitech.example'})
            employee = create_employee(company, "Agent")
            agent = make_service_user('agent', company, employee)
            self.customer()
            inbox = self.setup_inbox(company)
            ticket = self.receive(inbox, make_email(
                    references='<older@example.com>')).result
            Ticket.write([ticket], {'handler': employee.id})
        with as_user(agent), patch(SENDMAIL) as sendmail:
            session_id, _, _ = Reply.create()
            with Transaction().set_context(
                    active_model='hitech.ticket', active_id=ticket.id,
                    active_ids=[ticket.id]):
                reply = Reply(session_id)
                defaults = reply.default_start(None)
                self.assertEqual(defaults['to'], 'ada@example.com')
                self.assertEqual(
                    defaults['subject'],
                    '[%s] Re: Printer jams' % ticket.number)
                reply.start.to = defaults['to']
                reply.start.cc = None
                reply.start.subject = defaults['subject']
                reply.start.body = "Please send the error code."
                reply.start.wait = True
                reply.transition_send()
            sendmail.assert_called_once()
            from_, to_addrs, msg = sendmail.call_args[0]
        self.assertEqual(from_, 'support@hitech.example')
        self.assertEqual(to_addrs, ['ada@example.com'])
        self.assertEqual(
            msg['Subject'], '[%s] Re: Printer jams' % ticket.number)
        self.assertEqual(msg['In-Reply-To'], '<m1@example.com>')
        self.assertEqual(
            msg['References'], '<older@example.com> <m1@example.com>')
        self.assertTrue(msg['Message-ID'].endswith('@hitech.example>'))
        ticket = Ticket(ticket.id)
        self.assertEqual(ticket.state, 'waiting')
        self.assertTrue(ticket.first_response_at)
        outgoing = ticket.messages[-1]
        self.assertEqual(outgoing.direction, 'outgoing')
        self.assertEqual(outgoing.message_id, msg['Message-ID'])
        self.assertEqual(outgoing.author.id, agent.id)

        # the customer's answer to the reply threads into the ticket
        with set_company(company):
            email = self.receive(inbox, make_email(
                    subject="Re: whatever", message_id='<m9@example.com>',
                    in_reply_to=msg['Message-ID']))
        self.assertEqual(email.result, ticket)

    @with_transaction()
    def test_reply_bad_address(self):
        "A reply to an invalid address is refused and sends nothing"
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        Message = pool.get('hitech.ticket.message')
        company = create_company()
        with set_company(company):
            ticket, = Ticket.create([{'subject': "Phone call"}])
            with patch(SENDMAIL) as sendmail:
                for to in ['not an address', '', 'a@b.c\r\nBcc: x@y.z']:
                    with self.subTest(to=to):
                        with self.assertRaises(UserError):
                            ticket.send_reply(to, "Hello")
                sendmail.assert_not_called()
            self.assertEqual(Message.search([]), [])


del ServiceTestCase
