# This file is part of HiTech CRM. See LICENSE for details.
import unittest

from trytond.model.exceptions import AccessError
from trytond.modules.hitech_crm_base.dedup import (
    PartyDuplicateWarning, email_domain, find_pairs, make_probe,
    name_tokens, normalize_domain, normalize_email, normalize_identifier,
    normalize_name, normalize_phone, score_pair)
from trytond.modules.party.tests import (
    PartyCheckEraseMixin, PartyCheckReplaceMixin)
from trytond.pool import Pool
from trytond.tests.test_tryton import (
    TestCase, activate_module, drop_db, with_transaction)
from trytond.transaction import Transaction, check_access


class DedupNormalisationTestCase(unittest.TestCase):
    "Normalisation and scoring helpers (no database)"

    def test_name_suffixes(self):
        "Legal forms are removed from the end of names"
        for name, result in [
                ("ACME Co., Ltd.", 'acme'),
                ("ACME Co. Ltd", 'acme'),
                ("Acme Limited", 'acme'),
                ("ACME Inc.", 'acme'),
                ("Acme Corp.", 'acme'),
                ("Acme Corporation", 'acme'),
                ("Acme LLC", 'acme'),
                ("Acme L.L.C.", 'acme'),
                ("Acme GmbH", 'acme'),
                ("ACME (China) Co., Ltd.", 'acme'),
                ("深圳市华强电子有限公司", '深圳市华强电子'),
                ("华强电子股份有限公司", '华强电子'),
                ("华强電子有限責任公司", '华强電子'),
                ("华强集团有限公司", '华强'),
                ("华强（中国）有限公司", '华强'),
                ("Costco", 'costco'),
                ("Ltd", 'ltd'),
                ]:
            with self.subTest(name=name):
                self.assertEqual(normalize_name(name), result)

    def test_name_folding(self):
        "Full-width forms, case, spaces and punctuation are folded"
        self.assertEqual(
            normalize_name("ＡＣＭＥ　Ｔｒａｄｉｎｇ"), 'acmetrading')
        self.assertEqual(normalize_name("Acme-Trading, Inc."), 'acmetrading')
        self.assertEqual(normalize_name("ACME TRADING"), 'acmetrading')
        self.assertEqual(name_tokens("Acme Trading Co."), ['acme', 'trading'])
        self.assertIsNone(normalize_name(None))

    def test_name_inner_words_kept(self):
        "Suffix words inside a name are kept"
        self.assertEqual(
            normalize_name("Bank of China Limited"), 'bankofchina')
        self.assertEqual(
            normalize_name("Acme Co Trading Ltd"), 'acmecotrading')

    def test_phone(self):
        "Phones are normalised to E.164, China by default"
        for value in [
                "0755-8888 6666", "+86 755 8888 6666", "(0755) 88886666",
                "+86-755-88886666", "０７５５８８８８６６６６"]:
            with self.subTest(value=value):
                self.assertEqual(normalize_phone(value), '+8675588886666')
        self.assertEqual(normalize_phone("13800138000"), '+8613800138000')
        self.assertEqual(
            normalize_phone("+33 1 23 45 67 89"), '+33123456789')
        self.assertIsNone(normalize_phone("123"))
        self.assertIsNone(normalize_phone(None))

    def test_email_and_domain(self):
        "E-mails are lower case; web domains ignore free mail"
        self.assertEqual(
            normalize_email(" Sales@Acme.COM "), 'sales@acme.com')
        self.assertIsNone(normalize_email("not an e-mail"))
        self.assertEqual(email_domain("sales@acme.com"), 'acme.com')
        self.assertIsNone(email_domain("boss@qq.com"))
        self.assertIsNone(email_domain("boss@163.com"))
        self.assertIsNone(email_domain("boss@gmail.com"))
        self.assertEqual(
            normalize_domain("https://www.Acme.com/en/contact?x=1"),
            'acme.com')
        self.assertEqual(normalize_domain("www.acme.com.cn"), 'acme.com.cn')
        self.assertEqual(normalize_domain("http://acme.com:8080"), 'acme.com')
        self.assertIsNone(normalize_domain("localhost"))

    def test_identifier(self):
        "Identifiers lose separators and case"
        self.assertEqual(
            normalize_identifier("9144 0300-7083 2167 8b"),
            '91440300708321678B')
        self.assertIsNone(normalize_identifier(" - "))

    def test_score(self):
        "Evidence adds up; different identifiers halve the score"
        a = make_probe(1, "Acme Trading Co., Ltd.", {('phone', '+861')})
        b = make_probe(2, "ACME Trading Limited", {('phone', '+861')})
        score, reasons, name_score = score_pair(a, b)
        self.assertEqual(name_score, 100)
        self.assertEqual(reasons, ['phone', 'name'])
        self.assertGreaterEqual(score, 99)

        c = make_probe(3, "Acme Tradng", ())
        score, reasons, _ = score_pair(a, c)
        self.assertEqual(reasons, ['similar_name'])
        self.assertGreaterEqual(score, 90)

        d = make_probe(4, "Beta Robotics", ())
        score, reasons, _ = score_pair(a, d)
        self.assertEqual(reasons, [])
        self.assertLess(score, 50)

        e = make_probe(5, "Acme Trading", {('identifier', 'X1')})
        f = make_probe(6, "Acme Trading", {('identifier', 'X2')})
        score, reasons, _ = score_pair(e, f)
        self.assertIn('different_identifier', reasons)
        self.assertLess(score, 60)

    def test_find_pairs(self):
        "Blocking finds typos at both ends and shared keys"
        probes = [
            make_probe(1, "Kanoda Robotics", ()),
            make_probe(2, "Kanoda Robotcs", ()),
            make_probe(3, "Xanoda Robotics", ()),
            make_probe(4, "Lumen Optics", {('phone', '+8675588886666')}),
            make_probe(5, "Lumen Photonics", {('phone', '+8675588886666')}),
            make_probe(6, "Zephyr Drives", ()),
            ]
        pairs = {(probes[i].id, probes[j].id)
            for i, j, *_ in find_pairs(probes)}
        self.assertEqual(pairs, {(1, 2), (1, 3), (2, 3), (4, 5)})


class HitechDedupTestCase(
        PartyCheckReplaceMixin, PartyCheckEraseMixin, TestCase):
    "Test duplicate detection and merge of accounts"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        drop_db()
        activate_module(['hitech_crm_base'])

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        drop_db()

    def keys(self, party):
        Key = Pool().get('hitech.party.dedup.key')
        return {(k.kind, k.value) for k in Key.search(
                [('party', '=', party.id)])}

    @with_transaction()
    def test_keys_maintained(self):
        "Keys follow the name, contact mechanisms and identifiers"
        pool = Pool()
        Party = pool.get('party.party')
        ContactMechanism = pool.get('party.contact_mechanism')
        Identifier = pool.get('party.identifier')

        party, = Party.create([{
                    'name': "Ｌｕｍｅｎ Optics Co., Ltd.",
                    'contact_mechanisms': [('create', [
                                {'type': 'phone',
                                    'value': '+86 755-8888 6666'},
                                {'type': 'email', 'value': 'Info@Lumen.cn'},
                                {'type': 'website',
                                    'value': 'https://www.lumen.cn/'},
                                ])],
                    'identifiers': [('create', [
                                {'code': '9144-0300-12'}])],
                    }])
        self.assertEqual(party.dedup_name, 'lumenoptics')
        self.assertEqual(self.keys(party), {
                ('name', 'lumenoptics'),
                ('phone', '+8675588886666'),
                ('email', 'info@lumen.cn'),
                ('domain', 'lumen.cn'),
                ('identifier', '9144030012'),
                })

        party.name = "Lumen Photonics"
        party.save()
        self.assertIn(('name', 'lumenphotonics'), self.keys(party))
        self.assertNotIn(('name', 'lumenoptics'), self.keys(party))

        phone, = [m for m in party.contact_mechanisms if m.type == 'phone']
        ContactMechanism.delete([phone])
        self.assertNotIn(('phone', '+8675588886666'), self.keys(party))

        ContactMechanism.create([{
                    'party': party.id, 'type': 'mobile',
                    'value': '+86 13800138000'}])
        self.assertIn(('phone', '+8613800138000'), self.keys(party))

        identifier, = party.identifiers
        Identifier.write([identifier], {'code': 'X-1'})
        self.assertIn(('identifier', 'X1'), self.keys(party))

        Party.write([party], {'active': False})
        self.assertEqual(self.keys(party), set())

    @with_transaction()
    def test_trigram_index_without_pending_list(self):
        "The trigram index of the distinctive names has no pending list"
        from trytond import backend
        if backend.name != 'postgresql':
            self.skipTest("PostgreSQL only")
        Party = Pool().get('party.party')
        cursor = Transaction().connection.cursor()
        cursor.execute(
            'SELECT c.reloptions FROM pg_index AS i '
            'JOIN pg_class AS c ON c.oid = i.indexrelid '
            'WHERE i.indrelid = %s::regclass '
            'AND pg_get_indexdef(i.indexrelid) LIKE %s',
            (Party._table, '%% USING gin (dedup_core gin_trgm_ops)%%'))
        options = [r[0] for r in cursor]
        self.assertEqual(options, [['fastupdate=off']])

    @with_transaction()
    def test_find_duplicates(self):
        "Candidates are found from values and records with reasons"
        pool = Pool()
        Party = pool.get('party.party')

        acme, beta, other = Party.create([{
                    'name': "ACME Trading Co., Ltd.",
                    'contact_mechanisms': [('create', [
                                {'type': 'phone',
                                    'value': '+86 755 8888 6666'},
                                ])],
                    }, {
                    'name': "Beta Robotics",
                    'contact_mechanisms': [('create', [
                                {'type': 'email', 'value': 'sales@beta.com'},
                                ])],
                    }, {
                    'name': "Zephyr Drives",
                    }])

        candidates, = Party.find_duplicates([{'name': "Acme Trading Limited"}])
        self.assertEqual([c.party for c in candidates], [acme])
        self.assertEqual(candidates[0].reasons, ['name'])

        candidates, = Party.find_duplicates([{
                    'name': "Totally Different",
                    'phone': '0755-88886666',
                    }])
        self.assertEqual([c.party for c in candidates], [acme])
        self.assertEqual(candidates[0].reasons, ['phone'])

        candidates, = Party.find_duplicates([{
                    'name': "Beta Robotcs",
                    'contact_mechanisms': [
                        {'type': 'email', 'value': 'SALES@beta.com'}],
                    }])
        self.assertEqual([c.party for c in candidates], [beta])
        self.assertEqual(
            candidates[0].reasons, ['domain', 'email', 'similar_name'])

        new = Party(name="Zephyr Drivs")
        candidates, = Party.find_duplicates([new])
        self.assertEqual([c.party for c in candidates], [other])

        # A party is not its own duplicate
        candidates, = Party.find_duplicates([acme])
        self.assertEqual(candidates, [])
        self.assertEqual(acme.possible_duplicates, ())

        # on_change of the form fills the possible duplicates
        new = Party(name="Acme Trading Inc.")
        self.assertEqual(
            new.on_change_with_possible_duplicates(), [acme.id])
        self.assertIn(
            acme.rec_name, new.on_change_with_duplicate_summary())

    @with_transaction()
    def test_warning_on_create(self):
        "Creating a strong duplicate asks for confirmation"
        pool = Pool()
        Party = pool.get('party.party')
        User = pool.get('res.user')
        Warning = pool.get('res.user.warning')

        Party.create([{'name': "Acme Trading Co., Ltd."}])
        user, = User.create([{'login': 'clerk'}])
        transaction = Transaction()
        with transaction.set_user(user.id):
            with self.assertRaises(PartyDuplicateWarning) as cm:
                Party.create([{'name': "ACME Trading Limited"}])
            self.assertIn("Acme Trading Co., Ltd.", cm.exception.message)
            # The client retries after the user confirmed
            Warning.skip(cm.exception.name)
            self.assertFalse(Warning.check(cm.exception.name))
            with transaction.set_context(_skip_warnings=True):
                party, = Party.create([{'name': "ACME Trading Ltd"}])
            self.assertTrue(party.id)
            # Not similar: no warning
            Party.create([{'name': "Beta Robotics"}])

    @with_transaction()
    def test_find_and_dismiss(self):
        "The finder records pairs once; dismissed pairs stay dismissed"
        pool = Pool()
        Party = pool.get('party.party')
        Duplicate = pool.get('hitech.party.duplicate')

        a, b, c, d = Party.create([
                {'name': "Acme Trading Co., Ltd."},
                {'name': "ＡＣＭＥ ＴＲＡＤＩＮＧ Limited"},
                {'name': "Beta Robotics",
                    'identifiers': [('create', [{'code': '123-45'}])]},
                {'name': "Gamma Optics",
                    'identifiers': [('create', [{'code': '12345'}])]},
                ])
        self.assertEqual(Duplicate.find(), 2)
        pairs = {(x.party_a, x.party_b): x for x in Duplicate.search([])}
        self.assertEqual(set(pairs), {(a, b), (c, d)})
        self.assertEqual(pairs[(a, b)].reasons, ('name',))
        self.assertEqual(pairs[(c, d)].reasons, ('identifier',))

        Duplicate.dismiss([pairs[(c, d)]])
        self.assertEqual(pairs[(c, d)].state, 'dismissed')
        self.assertEqual(Duplicate.find(), 0)
        self.assertEqual(Duplicate.search_count([]), 2)

    @with_transaction()
    def test_merge(self):
        "Merging re-points references and closes the pair"
        pool = Pool()
        Party = pool.get('party.party')
        Duplicate = pool.get('hitech.party.duplicate')
        Key = pool.get('hitech.party.dedup.key')
        Replace = pool.get('party.replace', type='wizard')

        a, b, c = Party.create([
                {'name': "Acme Trading Co., Ltd."},
                {'name': "Acme Trading Limited",
                    'contact_mechanisms': [('create', [
                                {'type': 'phone',
                                    'value': '+86 13800138000'}])]},
                {'name': "Acme Tradng",
                    'contact_mechanisms': [('create', [
                                {'type': 'phone',
                                    'value': '+86 13800138000'}])]},
                ])
        Duplicate.find()
        pair, = Duplicate.search([('party_a', '=', a), ('party_b', '=', b)])
        other, = Duplicate.search([('party_a', '=', b), ('party_b', '=', c)])

        with Transaction().set_context(
                active_model='hitech.party.duplicate', active_id=pair.id,
                active_ids=[pair.id]):
            session_id, _, _ = Replace.create()
            replace = Replace(session_id)
            defaults = replace.ask.default_get(
                ['source', 'destination'])
            self.assertEqual(
                (defaults['source'], defaults['destination']), (b.id, a.id))
            replace.ask.source = b
            replace.ask.destination = a
            with Transaction().set_context(_skip_warnings=True):
                replace.transition_replace()

        # Read from the database: the wizard updated the rows by SQL
        (pair,) = Duplicate.read([pair.id], ['state'])
        self.assertEqual(pair['state'], 'merged')
        # The pair with the third account now points at the survivor
        (other,) = Duplicate.read([other.id], ['party_a', 'party_b', 'state'])
        self.assertEqual(
            (other['party_a'], other['party_b'], other['state']),
            (a.id, c.id, 'open'))
        # Keys moved with the contact mechanisms: none left on the source
        self.assertFalse(Key.search([('party', '=', b.id)]))
        self.assertTrue(Key.search([('party', '=', a.id)]))

    @with_transaction()
    def test_access(self):
        "Sales reps read duplicates, managers act on them"
        pool = Pool()
        Party = pool.get('party.party')
        Duplicate = pool.get('hitech.party.duplicate')
        User = pool.get('res.user')
        ModelData = pool.get('ir.model.data')

        Party.create([{'name': "Acme Ltd"}, {'name': "ACME Limited"}])
        Duplicate.find()
        duplicate, = Duplicate.search([])
        rep_group = ModelData.get_id('hitech_crm_base', 'group_sales_rep')
        manager_group = ModelData.get_id(
            'hitech_crm_base', 'group_sales_manager')
        rep, manager, nobody = User.create([
                {'login': 'rep', 'groups': [('add', [rep_group])]},
                {'login': 'manager', 'groups': [('add', [manager_group])]},
                {'login': 'nobody'},
                ])
        transaction = Transaction()
        with transaction.set_user(rep.id), check_access():
            self.assertEqual(Duplicate.search([]), [duplicate])
            with self.assertRaises(AccessError):
                Duplicate.write([Duplicate(duplicate.id)], {'score': 1})
        with transaction.set_user(manager.id), check_access():
            Duplicate.write([Duplicate(duplicate.id)], {'state': 'dismissed'})
        with transaction.set_user(nobody.id), check_access():
            with self.assertRaises(AccessError):
                Duplicate.search([])


del TestCase
