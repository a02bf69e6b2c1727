# This file is part of HiTech CRM. See LICENSE for details.
"""The customer's language: the survey email and the knowledge base
results follow the language of the party, not of the agent."""
from unittest.mock import patch

from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.modules.hitech_service.portal import kb_articles
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

    def _articles(self):
        pool = Pool()
        Article = pool.get('hitech.kb.article')
        Category = pool.get('hitech.kb.category')
        category, = Category.create([{'name': "Printing"}])
        articles = Article.create([{
                    'title': title,
                    'problem': problem,
                    'resolution': "Restart the spooler.",
                    'visibility': visibility,
                    'category': category.id,
                    'language': lang.id,
                    } for title, problem, visibility, lang in [
                    ("Printer queue stuck", "printer jobs wait",
                        'public', self.en),
                    ("打印机队列卡住 printer", "printer 打印任务等待",
                        'public', self.zh),
                    ("Printer driver internal", "printer driver",
                        'internal', self.en),
                    ("Scanner offline", "scanner", 'public', self.en),
                    ]])
        Article.submit(articles)
        Article.publish(articles)
        return articles

    @with_transaction()
    def test_search_language(self):
        "Searches keep the articles of the language, others when none"
        Article = Pool().get('hitech.kb.article')
        self._setup()
        en, zh, internal, scanner = self._articles()

        def found(text, **kwargs):
            return {a for a, _ in Article.search_text(text, **kwargs)}

        self.assertEqual(found("printer"), {en, zh, internal})
        self.assertEqual(found("printer", language='zh_CN'), {zh})
        self.assertEqual(found("printer", language='en'), {en, internal})
        # nothing in the language: the other languages answer
        self.assertEqual(found("scanner", language='zh_CN'), {scanner})
        # an unknown code does not filter
        self.assertEqual(found("printer", language='xx'), {en, zh, internal})
        self.assertEqual(
            [r['id'] for r in Article.search_ranked(
                    "printer", language='zh_CN')], [zh.id])
        self.assertEqual(
            {a for a, _ in Article.search_public("printer", language='en')},
            {en})

    @with_transaction()
    def test_portal_kb_language(self):
        "The portal search is in the portal's language"
        pool = Pool()
        self._setup()
        en, zh, _, _ = self._articles()
        for code, expected in [('zh_CN', [zh]), ('en', [en])]:
            with Transaction().set_context(language=code):
                self.assertEqual(
                    [a for a, _ in kb_articles(pool, "printer", 10)],
                    expected)

    @with_transaction()
    def test_related_articles_language(self):
        "A ticket proposes the articles in its party's language"
        Ticket = Pool().get('hitech.ticket')
        self._setup()
        en, zh, internal, _ = self._articles()
        with set_company(self.company):
            chinese, english = Ticket.create([{
                        'subject': "printer stuck",
                        'contact': party.id,
                        } for party in [self.wang, self.smith]])
            self.assertEqual(chinese._kb_language(), 'zh_CN')
            self.assertEqual(list(chinese.related_articles), [zh])
            # a party without a language: every language
            self.assertIsNone(english._kb_language())
            self.assertEqual(
                set(english.related_articles), {en, zh, internal})
