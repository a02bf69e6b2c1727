# This file is part of HiTech CRM. See LICENSE for details.
"""The customer's language: the survey email and the knowledge base
results follow the language of the party, not of the agent."""
from unittest.mock import patch

from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from .common import ServiceTestCase

SENDMAIL = 'trytond.modules.hitech_service.survey.sendmail_transactional'


class LanguageTestCase(ServiceTestCase):
    "Test the language of the survey email and of the article searches"

    def _setup(self):
        pool = Pool()
        Lang = pool.get('ir.lang')
        Party = pool.get('party.party')
        self.zh, = Lang.search([('code', '=', 'zh_CN')])
        self.en, = Lang.search([('code', '=', 'en')])
        Lang.load_translations([self.zh])
        self.company = create_company()
        self.li = create_employee(self.company, "Li Wei")
        self.wang, self.smith = Party.create([{
                    'name': "Wang Fang",
                    'lang': self.zh.id,
                    'contact_mechanisms': [('create', [{
                                    'type': 'email',
                                    'value': 'wang@stellar.example.com',
                                    }])],
                    }, {
                    'name': "Ann Smith",
                    'contact_mechanisms': [('create', [{
                                    'type': 'email',
                                    'value': 'ann@orion.example.com',
                                    }])],
                    }])

    def _closed(self, subject, contact):
        Ticket = Pool().get('hitech.ticket')
        ticket, = Ticket.create([{
                    'subject': subject,
                    'contact': contact.id,
                    'handler': self.li.id,
                    }])
        Ticket.assign([ticket])
        Ticket.start([ticket])
        Ticket.resolve([ticket])
        # the closer works in English: the queued task keeps that context
        with Transaction().set_context(language='en'):
            Ticket.close([ticket])
        survey, = ticket.surveys
        return survey

    @with_transaction()
    def test_survey_email_language(self):
        "The survey email is in the contact's language, not the closer's"
        Survey = Pool().get('hitech.ticket.survey')
        self._setup()
        with set_company(self.company):
            chinese = self._closed("Laser does not calibrate", self.wang)
            english = self._closed("Spectrometer noisy", self.smith)
            self.assertEqual(chinese._email_language(), 'zh_CN')
            with Transaction().set_context(language='en'), \
                    patch(SENDMAIL) as sendmail:
                Survey.send_email([chinese, english])
        messages = {to: msg for _, (to,), msg in (
                call.args for call in sendmail.call_args_list)}
        self.assertEqual(set(messages),
            {'wang@stellar.example.com', 'ann@orion.example.com'})
        zh = messages['wang@stellar.example.com']
        self.assertIn("我们的服务如何", str(zh['Subject']))
        self.assertIn(chinese.ticket.number, str(zh['Subject']))
        self.assertIn(chinese.get_url(), zh.get_content())
        # without a language, the default one of the server (English)
        en = messages['ann@orion.example.com']
        self.assertIn("How did we do?", str(en['Subject']))
        self.assertNotIn("我们", en.get_content())
