# This file is part of HiTech CRM. See LICENSE for details.
import unittest
from unittest.mock import patch

from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.model.modelview import AccessButtonError
from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.modules.hitech_crm_base.tests.common import as_user
from trytond.modules.hitech_service.kb import (
    index_text, query_tokens, score, tokenize)
from trytond.pool import Pool
from trytond.tests.test_tryton import _DBTestCase, with_transaction
from trytond.transaction import Transaction


def make_user(login, company, group):
    pool = Pool()
    User = pool.get('res.user')
    ModelData = pool.get('ir.model.data')
    module = ('hitech_crm_base' if group == 'group_sales_rep'
        else 'hitech_service')
    employee = create_employee(company, name=login)
    user, = User.create([{
                'login': login,
                'companies': [('add', [company.id])],
                'company': company.id,
                'employees': [('add', [employee.id])],
                'employee': employee.id,
                'groups': [('add', [ModelData.get_id(module, group)])],
                }])
    return user


class KBNormalisationTestCase(unittest.TestCase):
    "Test the normalisation and scoring of the knowledge base search"

    def test_tokenize(self):
        "Words are folded; Chinese runs become bigrams"
        self.assertEqual(
            tokenize("Ｐrinter ÉRROR_42 打印机卡纸 a"),
            ['printer', 'error', '42', '打印', '印机', '机卡', '卡纸', 'a'])
        self.assertEqual(tokenize("灯"), ['灯'])

    def test_query_tokens(self):
        "Query tokens are distinct and single Latin letters are dropped"
        self.assertEqual(query_tokens("a printer Printer"), ['printer'])

    def test_index_text(self):
        "The index keeps distinct tokens within its size"
        self.assertEqual(
            index_text("Printer jam", "printer, paper"),
            ' printer jam paper ')
        self.assertLessEqual(len(index_text("word%d " * 1000 % tuple(
                        range(1000)))), 1002)

    def test_score(self):
        "Exact words beat prefixes, prefixes beat typos, titles count"
        index = 'printer paper jam tray'
        exact = score(['printer'], index, "Printer")
        prefix = score(['print'], index, "Printer")
        typo = score(['pritner'], index, "Printer")
        self.assertEqual(exact, 100)
        self.assertGreater(exact, prefix)
        self.assertGreater(prefix, typo)
        self.assertGreater(typo, 0)
        self.assertGreater(
            score(['jam'], index, "Paper jam"), score(['jam'], index, "x"))
        self.assertEqual(score(['keyboard'], index, "Printer"), 0)


class KBTestCase(_DBTestCase):
    "Test the knowledge base"
    module = 'hitech_service'

    def _setup(self):
        pool = Pool()
        Category = pool.get('hitech.kb.category')
        self.company = create_company()
        self.agent = make_user('wang', self.company, 'group_service_agent')
        self.agent2 = make_user(
            'okafor', self.company, 'group_service_agent')
        self.manager = make_user(
            'lindqvist', self.company, 'group_service_manager')
        self.rep = make_user('moreau', self.company, 'group_sales_rep')
        hardware, = Category.create([{'name': "Hardware"}])
        self.printing, = Category.create([{
                    'name': "Printing", 'parent': hardware.id}])

    def _article(self, title, problem="", keywords="", state='published',
            visibility='internal', resolution="Do this."):
        Article = Pool().get('hitech.kb.article')
        article, = Article.create([{
                    'title': title,
                    'problem': problem,
                    'keywords': keywords,
                    'resolution': resolution,
                    'visibility': visibility,
                    'category': self.printing.id,
                    }])
        if state != 'draft':
            Article.submit([article])
            if state in {'published', 'archived'}:
                Article.publish([article])
            if state == 'archived':
                Article.archive([article])
        return article

    @with_transaction()
    def test_category_rec_name(self):
        "Categories show and are searched by their full path"
        Category = Pool().get('hitech.kb.category')
        self._setup()
        self.assertEqual(self.printing.rec_name, "Hardware / Printing")
        self.assertEqual(
            Category.search([('rec_name', '=', "Hardware / Printing")]),
            [self.printing])
        with self.assertRaises(UserError):
            Category.write([self.printing.parent], {
                    'parent': self.printing.id})

    @with_transaction()
    def test_workflow(self):
        "Agents write and submit drafts, managers publish"
        pool = Pool()
        Article = pool.get('hitech.kb.article')
        self._setup()
        with as_user(self.agent):
            article, = Article.create([{
                        'title': "Printer offline",
                        'problem': "The printer shows offline.",
                        }])
            self.assertEqual(article.state, 'draft')
            self.assertTrue(article.number.startswith('KB-'))
            self.assertEqual(article.author, self.agent)
            with self.assertRaises(UserError):
                Article.submit([article])
            Article.write([article], {'resolution': "Restart the spooler."})
            Article.submit([article])
            self.assertEqual(article.state, 'review')
            with self.assertRaises(AccessButtonError):
                Article.publish([article])
            with self.assertRaises(AccessError):
                Article.write([article], {'title': "Changed"})
        with as_user(self.manager):
            article = Article(article.id)
            Article.publish([article])
            self.assertEqual(article.state, 'published')
            self.assertEqual(article.reviewer, self.manager)
            self.assertTrue(article.published_date)
            # managers may still correct a published article
            Article.write([article], {'title': "Printer is offline"})
        with as_user(self.agent):
            article = Article(article.id)
            with self.assertRaises(AccessError):
                Article.write([article], {'resolution': "Other"})
            with self.assertRaises(AccessError):
                Article.delete([article])
        with as_user(self.manager):
            Article.revise([article])
            self.assertEqual((article.state, article.revision), ('draft', 2))
            Article.submit([article])
            Article.publish([article])
            Article.archive([article])
            self.assertEqual(article.state, 'archived')
            Article.delete([article])

    @with_transaction()
    def test_record_rules(self):
        "Nobody but managers sees the drafts of others"
        pool = Pool()
        Article = pool.get('hitech.kb.article')
        self._setup()
        with as_user(self.agent):
            mine, = Article.create([{'title': "Mine"}])
        with as_user(self.agent2):
            theirs, = Article.create([{'title': "Theirs"}])
        published = self._article("Published")
        review = self._article("Review", state='review')
        with as_user(self.agent):
            self.assertEqual(
                set(Article.search([])), {mine, published, review})
            with self.assertRaises(AccessError):
                Article.read([theirs.id], ['title'])
            self.assertEqual(Article.search([('mine', '=', True)]), [mine])
        with as_user(self.manager):
            self.assertEqual(len(Article.search([])), 4)
        with as_user(self.rep):
            self.assertEqual(Article.search([]), [published])
            with self.assertRaises(AccessError):
                Article.create([{'title': "Rep"}])
            with self.assertRaises(AccessError):
                Article.write([Article(published.id)], {'title': "Rep"})

    def _search_fixtures(self):
        self._setup()
        return {
            'printer': self._article(
                "Printer does not print",
                problem="Jobs stay in the queue of the network printer.",
                keywords="spooler"),
            'paper': self._article(
                "Paper jam in tray 2",
                problem="The printer reports a paper jam although the "
                "tray is empty."),
            'network': self._article(
                "Network switch drops packets",
                problem="Intermittent loss on the uplink port.",
                visibility='public'),
            'chinese': self._article(
                "打印机卡纸",
                problem="打印机显示卡纸错误，但纸盒是空的。",
                visibility='public'),
            'draft': self._article(
                "Printer driver crash", state='draft'),
            'archived': self._article(
                "Old printer firmware", state='archived'),
            }

    @with_transaction()
    def test_search_text(self):
        "Typos, partial words and Chinese are found, ranked"
        Article = Pool().get('hitech.kb.article')
        a = self._search_fixtures()

        def found(text, **kwargs):
            return [r for r, _ in Article.search_text(text, **kwargs)]

        # typo: the title match ranks first; drafts and archives are out
        self.assertEqual(found("pritner"), [a['printer'], a['paper']])
        # partial word
        self.assertEqual(found("netw"), [a['network'], a['printer']])
        self.assertEqual(found("pack"), [a['network']])
        # several words: the article with all of them first
        self.assertEqual(found("papr jam")[0], a['paper'])
        # Chinese without spaces, whole and partial
        self.assertEqual(found("打印机"), [a['chinese']])
        self.assertEqual(found("卡纸错误"), [a['chinese']])
        # nothing close
        self.assertEqual(found("keyboard"), [])
        self.assertEqual(found(""), [])
        # scores are ranked and bounded
        scores = [s for _, s in Article.search_text("printer")]
        self.assertEqual(scores, sorted(scores, reverse=True))
        self.assertTrue(all(0 < s <= 100 for s in scores))
        # limit and public only
        self.assertEqual(len(found("printer", limit=1)), 1)
        self.assertEqual(found("pritner", public_only=True), [])
        self.assertEqual(found("打印", public_only=True), [a['chinese']])
        self.assertEqual(Article.related_to("Printer prints nothing", 1),
            [a['printer']])

    @with_transaction()
    def test_postings(self):
        "The word postings follow the search index of the articles"
        pool = Pool()
        Article = pool.get('hitech.kb.article')
        Posting = pool.get('hitech.kb.article-hitech.kb.word')
        self._setup()

        def postings(article):
            return {(p.word.word, p.title) for p in Posting.search(
                    [('article', '=', article.id)])}
        article = self._article(
            "Printer offline", problem="The spooler stops.",
            keywords="打印机", state='draft')
        self.assertEqual(postings(article), {
                ('printer', True), ('offline', True), ('the', False),
                ('spooler', False), ('stops', False), ('打印', False),
                ('印机', False)})
        Article.write([article], {
                'title': "Scanner offline", 'keywords': None})
        self.assertEqual(postings(article), {
                ('scanner', True), ('offline', True), ('the', False),
                ('spooler', False), ('stops', False)})
        # a change outside the search index keeps them
        Article.write([article], {'resolution': "Restart it."})
        self.assertEqual(len(postings(article)), 5)
        copy, = Article.copy([article])
        self.assertEqual(postings(copy), postings(article))
        Article.delete([article])
        self.assertEqual(
            Posting.search([('article', '=', article.id)]), [])
        self.assertEqual(len(postings(copy)), 5)
        # the search finds the new words only
        Article.submit([copy])
        Article.publish([copy])
        self.assertEqual(
            [a for a, _ in Article.search_text("scaner")], [copy])
        self.assertEqual(Article.search_text("printer"), [])

    @with_transaction()
    def test_word_frequencies(self):
        "Words count their articles; frequent ones do not choose candidates"
        pool = Pool()
        Article = pool.get('hitech.kb.article')
        Word = pool.get('hitech.kb.word')
        from trytond.modules.hitech_service.kb import _has_trigram
        a = self._search_fixtures()
        Word.update_frequencies()

        def frequency(word):
            words = Word.search([('word', '=', word)])
            return words[0].frequency if words else None
        # drafts and archives count
        self.assertEqual(frequency('printer'), 4)
        self.assertEqual(frequency('spooler'), 1)
        self.assertEqual(frequency('crash'), 1)
        # a word whose articles are gone counts 0
        Article.delete([a['draft']])
        Word.update_frequencies()
        self.assertEqual(frequency('crash'), 0)
        self.assertEqual(frequency('printer'), 3)
        if _has_trigram():
            Word.set_threshold()
            with patch.object(Article, 'estimated_count', return_value=5):
                # "printer" is in more than a fifth of the articles
                self.assertEqual(Article._selective_tokens(
                        ['printer', 'spooler']), ['spooler'])
                # all frequent: the least frequent one alone
                frequencies = Word.frequencies(['printer', 'the'])
                self.assertTrue(all(f > 1 for f in frequencies.values()))
                least = min(frequencies, key=lambda i: (frequencies[i], i))
                self.assertEqual(
                    Article._selective_tokens(['printer', 'the']),
                    [['printer', 'the'][least]])
                # a token without words never chooses
                self.assertEqual(Article._selective_tokens(
                        ['spooler', 'zzzqx']), ['spooler'])
                self.assertEqual([r for r, _ in Article.search_text(
                            "printer spooler")][0], a['printer'])
        self.assertEqual(
            [r for r, _ in Article.search_text("printer spooler")][0],
            a['printer'])

    @with_transaction()
    def test_search_box(self):
        "The search box of the client searches with typos"
        Article = Pool().get('hitech.kb.article')
        a = self._search_fixtures()
        with as_user(self.agent):
            result = Article.search([('rec_name', 'ilike', '%pritner%')])
            self.assertIn(a['printer'], result)
            self.assertIn(a['paper'], result)
            self.assertNotIn(a['network'], result)
            # the agent does not see the draft of another user
            self.assertNotIn(a['draft'], result)
            self.assertEqual(
                Article.search([('rec_name', 'ilike', a['network'].number)]),
                [a['network']])
        with as_user(self.rep):
            result = Article.search([('fuzzy', '=', "switsh")])
            self.assertEqual(result, [a['network']])
            # rules apply to search_text as well
            self.assertEqual(
                [r for r, _ in Article.search_text("printer driver")],
                [a['printer'], a['paper']])

    @with_transaction()
    def test_search_public(self):
        "The portal search needs no rights and returns public articles only"
        pool = Pool()
        Article = pool.get('hitech.kb.article')
        User = pool.get('res.user')
        a = self._search_fixtures()
        nobody, = User.create([{'login': 'portal'}])
        with as_user(nobody):
            with self.assertRaises(AccessError):
                Article.search([])
            result = Article.search_public("network swich")
            self.assertEqual([r.id for r, _ in result], [a['network'].id])
            self.assertEqual(result[0][0].title,
                "Network switch drops packets")
            self.assertEqual(Article.search_public("pritner"), [])
            self.assertEqual(
                [r.id for r, _ in Article.search_public("卡纸")],
                [a['chinese'].id])

    def _resolved_ticket(self, subject, description=None):
        Ticket = Pool().get('hitech.ticket')
        employee = create_employee(self.company, subject)
        ticket, = Ticket.create([{
                    'subject': subject,
                    'description': description,
                    'handler': employee.id,
                    }])
        Ticket.assign([ticket])
        Ticket.start([ticket])
        Ticket.resolve([ticket])
        self.assertEqual(ticket.state, 'resolved')
        return ticket

    @with_transaction()
    def test_ticket_articles(self):
        "Tickets link the articles used, which counts their usage"
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        a = self._search_fixtures()
        with set_company(self.company):
            ticket = self._resolved_ticket("Our network pritner is offline")
            self.assertEqual(ticket.related_articles[0], a['printer'])
            self.assertNotIn(a['draft'], ticket.related_articles)
            self.assertEqual(a['printer'].usage_count, 0)
            Ticket.write([ticket], {
                    'kb_articles': [('add', [a['printer'].id])]})
            other = self._resolved_ticket("Printer offline again")
            Ticket.write([other], {
                    'kb_articles': [('add', [a['printer'].id])]})
            ticket = Ticket(ticket.id)
            # the linked article is no longer proposed
            self.assertNotIn(a['printer'], ticket.related_articles)
            Article = pool.get('hitech.kb.article')
            self.assertEqual(Article(a['printer'].id).usage_count, 2)
            self.assertEqual(Article(a['paper'].id).usage_count, 0)

    @with_transaction()
    def test_create_article_from_ticket(self):
        "A resolved ticket becomes a draft article, linked to the ticket"
        pool = Pool()
        Ticket = pool.get('hitech.ticket')
        Article = pool.get('hitech.kb.article')
        CreateArticle = pool.get('hitech.ticket.create_article', type='wizard')
        self._setup()
        with set_company(self.company):
            open_ticket, = Ticket.create([{'subject': "Open"}])
            ticket = self._resolved_ticket(
                "Badge reader beeps", "It beeps three times at the door.")
            Ticket.write([ticket], {
                    'resolution': "Replace the reader's battery."})

            session_id, _, _ = CreateArticle.create()
            with Transaction().set_context(
                    active_model='hitech.ticket', active_id=open_ticket.id,
                    active_ids=[open_ticket.id]):
                with self.assertRaises(UserError):
                    CreateArticle.execute(session_id, {}, 'start')
            CreateArticle.delete(session_id)

            session_id, _, _ = CreateArticle.create()
            with Transaction().set_context(
                    active_model='hitech.ticket', active_id=ticket.id,
                    active_ids=[ticket.id]):
                result = CreateArticle.execute(session_id, {}, 'start')
                defaults = {k: v for k, v in
                    result['view']['defaults'].items() if '.' not in k}
                self.assertEqual(defaults['title'], "Badge reader beeps")
                self.assertEqual(
                    defaults['problem'], "It beeps three times at the door.")
                self.assertEqual(
                    defaults['resolution'], "Replace the reader's battery.")
                defaults['category'] = self.printing.id
                result = CreateArticle.execute(
                    session_id, {'start': defaults}, 'create_')
            CreateArticle.delete(session_id)
            article, = Article.search([('title', '=', "Badge reader beeps")])
            self.assertEqual(article.state, 'draft')
            self.assertEqual(article.category, self.printing)
            self.assertEqual(
                article.resolution, "Replace the reader's battery.")
            self.assertEqual(result['actions'][0][0]['res_id'], [article.id])
            self.assertEqual(Ticket(ticket.id).kb_articles, (article,))
            self.assertEqual(article.usage_count, 1)


del _DBTestCase
