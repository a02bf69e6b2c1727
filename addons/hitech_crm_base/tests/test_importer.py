# This file is part of HiTech CRM. See LICENSE for details.
import hashlib
import io
import os
import random
import unittest

from trytond import backend
from trytond.exceptions import UserError
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import create_company
from trytond.modules.hitech_crm_base import importer
from trytond.modules.hitech_crm_base.importer import (
    ImportFileError, clean_row, escape_cell, propose_mapping, read_table)
from trytond.pool import Pool
from trytond.tests.test_tryton import with_transaction
from trytond.transaction import Transaction

from .common import CRMTestCase, as_user, make_user


def csv_bytes(lines, encoding='utf-8'):
    return ('\n'.join(lines) + '\n').encode(encoding)


def xlsx_bytes(rows):
    import openpyxl
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    output = io.BytesIO()
    workbook.save(output)
    return output.getvalue()


class ImportParsingTestCase(unittest.TestCase):
    "Reading and validation helpers: no database"

    def assertFileError(self, data, msg_id, filename='import.csv', **kw):
        with self.assertRaises(ImportFileError) as cm:
            read_table(data, filename, **kw)
        self.assertEqual(cm.exception.msg_id, msg_id)

    def test_encodings(self):
        "UTF-8, UTF-8 with BOM, GB18030 and Big5 are detected"
        for text, encoding, expected in [
                ('名称,电话\n华为技术,010-62345678', 'utf-8', 'utf-8'),
                ('名称,电话\n华为技术,010-62345678', 'utf-8-sig',
                    'utf-8-sig'),
                ('名称,电话\n华为技术有限公司,010-62345678', 'gb18030',
                    'gb18030'),
                ('公司名稱,電話\n台灣積體電路製造,02-2345-6789', 'big5',
                    'big5'),
                ]:
            with self.subTest(encoding=encoding):
                table = read_table(text.encode(encoding), 'a.csv')
                self.assertEqual(table.encoding, expected)
                self.assertEqual(table.rows[0][0], text.split('\n')[1]
                    .split(',')[0])

    def test_wrong_encoding(self):
        "Bytes that no supported encoding decodes are a clear error"
        self.assertFileError(b'name\n\xff\xfe\xfa\xfb\x80\x81\n',
            'msg_import_encoding_unknown')

    def test_binary_garbage(self):
        "Random bytes are rejected, not read as text"
        data = random.Random(1).randbytes(20000)
        with self.assertRaises(ImportFileError):
            read_table(data, 'garbage.csv')

    def test_too_big(self):
        "10 MB of garbage is refused by size before any parsing"
        data = os.urandom(10 * 1024 * 1024 + 1)
        self.assertFileError(data, 'msg_import_file_too_big')

    def test_too_many_rows(self):
        self.assertFileError(csv_bytes(['name'] + ['x'] * 11),
            'msg_import_too_many_rows', max_rows=10)

    def test_empty(self):
        self.assertFileError(b'', 'msg_import_file_empty')

    def test_xls_and_truncated_xlsx(self):
        self.assertFileError(b'\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1' + b'0' * 99,
            'msg_import_format_xls')
        data = xlsx_bytes([['name'], ['ACME']])
        self.assertFileError(data[:len(data) // 2], 'msg_import_xlsx_invalid',
            filename='a.xlsx')
        self.assertFileError(b'not a zip', 'msg_import_xlsx_invalid',
            filename='a.xlsx')

    def test_xlsx_formula_read_as_text(self):
        "A formula of an XLSX file is read as its text, never computed"
        table = read_table(xlsx_bytes(
                [['名称', '电话'], ['=HYPERLINK("http://x","y")', 1]]),
            'a.xlsx')
        self.assertEqual(table.format, 'xlsx')
        self.assertTrue(table.rows[0][0].startswith('=HYPERLINK'))
        values, issues = clean_row(
            {'name': table.rows[0][0]}, 'accounts')
        self.assertEqual([i.msg_id for i in issues], ['msg_import_formula'])

    def test_propose_mapping(self):
        "English and Chinese headers are mapped"
        self.assertEqual(propose_mapping(
                ['公司名称', '电话', '邮箱', 'Mobile', 'ZIP Code', '国家',
                    'Unknown'], 'accounts'),
            {0: 'name', 1: 'phone', 2: 'email', 3: 'mobile',
                4: 'postal_code', 5: 'country_code'})
        self.assertEqual(propose_mapping(
                ['公司名称', '联系人', '职位', 'E-mail'], 'contacts'),
            {0: 'account', 1: 'contact_name', 2: 'title', 3: 'email'})

    def test_clean_row(self):
        values, issues = clean_row({
                'name': '  ACME   Ltd ', 'phone': '010 6234 5678',
                'mobile': '+86 138-0013-8000', 'email': 'Info@ACME.cn',
                'country_code': 'cn'}, 'accounts')
        self.assertEqual(issues, [])
        self.assertEqual(values['name'], 'ACME Ltd')
        self.assertEqual(values['phone'], ('+86 10 6234 5678',
                '+861062345678'))
        self.assertEqual(values['mobile'][1], '+8613800138000')
        self.assertEqual(values['country_code'], 'CN')

    def test_clean_row_errors(self):
        cases = [
            ({'name': 'x' * 5000}, 'msg_import_name_too_long'),
            ({'name': ''}, 'msg_import_value_required'),
            ({'name': 'A', 'phone': '12345'}, 'msg_import_phone_invalid'),
            ({'name': 'A', 'phone': '=1+1'}, 'msg_import_formula'),
            ({'name': 'A', 'email': 'not-an-email'},
                'msg_import_email_invalid'),
            ({'name': 'A', 'email': 'a@' + 'b' * 300 + '.com'},
                'msg_import_email_invalid'),
            ({'name': '@SUM(A1)'}, 'msg_import_formula'),
            ({'name': '-2+3'}, 'msg_import_formula'),
            ({'name': 'A', 'country_code': 'China'},
                'msg_import_country_invalid'),
            ]
        for raw, msg_id in cases:
            with self.subTest(raw=str(raw)[:40]):
                _, issues = clean_row(raw, 'accounts')
                self.assertIn(msg_id, [i.msg_id for i in issues])
                self.assertTrue(
                    any(i.level == 'error' for i in issues))

    def test_formula_kept_as_text(self):
        values, issues = clean_row({'name': '=1+1'}, 'accounts',
            formula='text')
        self.assertEqual(values['name'], '=1+1')
        self.assertEqual([i.level for i in issues], ['warning'])

    def test_escape_cell(self):
        for value in ['=1+1', '+1', '-1', '@x', '\tx', '\rx']:
            self.assertEqual(escape_cell(value), "'" + value)
        self.assertEqual(escape_cell('ACME'), 'ACME')


class ImportTestCase(CRMTestCase):
    "Import jobs on a database"

    def _job(self, data, filename='accounts.csv', **values):
        pool = Pool()
        Job = pool.get('hitech.import.job')
        job, = Job.create([dict({'file': data, 'filename': filename},
                    **values)])
        return job

    def _run(self, job):
        pool = Pool()
        Job = pool.get('hitech.import.job')
        Job.validate_file([job])
        self.assertEqual(job.state, 'validated', msg=job.message)
        Job.import_([job])
        # the queue task, run directly
        Job.run_import([job])
        job = Job(job.id)
        self.assertEqual(job.state, 'done', msg=job.message)
        return job

    def party_count(self):
        return Pool().get('party.party').search([], count=True)

    @with_transaction()
    def test_import_csv(self):
        "Import a GB18030 CSV with Chinese headers"
        pool = Pool()
        Party = pool.get('party.party')
        data = csv_bytes([
                '公司名称,电话,邮箱,地址,城市,邮编,国家',
                '华为技术,010 6234 5678,info@huawei.example,长安街1号,北京,'
                '100000,CN',
                '中兴通讯,0755-2678 0000,zte@zte.example,,深圳,,',
                ], 'gb18030')
        job = self._run(self._job(data))
        self.assertEqual(job.encoding, 'gb18030')
        self.assertEqual(job.created_count, 2)
        self.assertEqual(job.progress, 100.0)
        party, = Party.search([('name', '=', '华为技术')])
        self.assertEqual(party.phone, '+86 10 6234 5678')
        self.assertEqual(party.email, 'info@huawei.example')
        address, = party.addresses
        self.assertEqual(address.city, '北京')
        self.assertEqual(address.country.code if address.country else None,
            None if not address.country else 'CN')
        mechanism = [m for m in party.contact_mechanisms
            if m.type == 'phone'][0]
        self.assertEqual(mechanism.value_compact, '+861062345678')
        self.assertTrue(party.code)

    @with_transaction()
    def test_import_xlsx_contacts(self):
        "Import accounts from XLSX, then contacts to them"
        pool = Pool()
        Party = pool.get('party.party')
        data = xlsx_bytes([
                ['Name', 'Customer Code', 'Phone'],
                ['ACME Robotics', 'C-001', '+49 30 1234567'],
                ])
        job = self._run(self._job(data, 'accounts.xlsx'))
        self.assertEqual(job.format, 'xlsx')
        self.assertEqual(job.created_count, 1)
        acme, = Party.search([('code', '=', 'C-001')])

        contacts = xlsx_bytes([
                ['公司', '联系人', '职位', '手机', '邮箱'],
                ['C-001', '王伟', '采购经理', 13800138000, 'wang@acme.example'],
                ['acme  robotics', '李娜', 'CTO', None, 'li@acme.example'],
                ['Nobody Inc', '张三', None, None, 'z@x.example'],
                ])
        job = self._job(contacts, 'contacts.xlsx', target='contacts')
        job = self._run(job)
        self.assertEqual(job.created_count, 2)
        self.assertEqual(job.error_count, 1)
        acme = Party(acme.id)
        names = sorted((m.name, m.type, m.value)
            for m in acme.contact_mechanisms if m.name)
        self.assertEqual(names, [
                ('李娜', 'email', 'li@acme.example'),
                ('王伟', 'email', 'wang@acme.example'),
                ('王伟', 'mobile', '+86 138 0013 8000'),
                ])

    @with_transaction()
    def test_validation_writes_nothing(self):
        "Rows in error are reported and the job is not validated"
        pool = Pool()
        Job = pool.get('hitech.import.job')
        before = self.party_count()
        data = csv_bytes([
                'name,phone,email',
                '%s,010 6234 5678,a@b.example' % ('x' * 5000),
                'Good Co,12345,a@b.example',
                'Other Co,010 6234 5678,not-an-email',
                '"=HYPERLINK(""http://evil"",""click"")",,',
                'Fine Co,,',
                ])
        job = self._job(data)
        Job.validate_file([job])
        self.assertEqual(job.state, 'draft')
        self.assertEqual(job.error_count, 4)
        self.assertIn('4', job.message)
        messages = sorted((e.row, e.column) for e in job.errors)
        self.assertEqual(messages, [
                (2, 'Name'), (3, 'Phone'), (4, 'Email'), (5, 'Name')])
        self.assertTrue(all(len(e.value) <= 80 for e in job.errors))
        self.assertEqual(self.party_count(), before)

        # Skip invalid rows imports the valid one only
        Job.write([job], {'skip_invalid': True})
        job = self._run(job)
        self.assertEqual(job.created_count, 1)
        self.assertEqual(self.party_count(), before + 1)

    @with_transaction()
    def test_malformed_files(self):
        "Malformed files give a translated error and write nothing"
        pool = Pool()
        Job = pool.get('hitech.import.job')
        good = xlsx_bytes([['name'], ['ACME']])
        before = self.party_count()
        for data, filename in [
                (random.Random(2).randbytes(50000), 'garbage.csv'),
                (good[:len(good) // 2], 'truncated.xlsx'),
                (b'name\n\xff\xfe\xfa\x80\x81\n', 'wrong.csv'),
                (csv_bytes(['phone,email', '010 6234 5678,a@b.example']),
                    'no-name.csv'),
                ]:
            with self.subTest(filename=filename):
                job = self._job(data, filename)
                with self.assertRaises(UserError) as cm:
                    Job.validate_file([job])
                self.assertNotIn('Traceback', cm.exception.message)
                self.assertTrue(cm.exception.message.endswith('.'))
                self.assertEqual(job.state, 'draft')
        self.assertEqual(self.party_count(), before)

    @with_transaction()
    def test_dedup(self):
        "Duplicates of the base and of the file are skipped and reported"
        pool = Pool()
        Party = pool.get('party.party')
        Party.create([{
                    'name': 'ＡＣＭＥ  Robotics',
                    'contact_mechanisms': [('create', [{
                                    'type': 'email',
                                    'value': 'sales@old.example'}])],
                    }])
        before = self.party_count()
        data = csv_bytes([
                'name,email,phone',
                'acme robotics,,',
                'Other Name,SALES@old.example,',
                'New One,new@x.example,010 6234 5678',
                'new   one,,',
                'Third,,010-62345678',
                'Fourth,,',
                ])
        job = self._run(self._job(data))
        self.assertEqual(job.created_count, 2)
        self.assertEqual(job.duplicate_count, 4)
        duplicates = sorted(
            (e.row, e.party is not None) for e in job.errors
            if e.level == 'duplicate')
        self.assertEqual(duplicates, [
                (2, True), (3, True), (5, False), (6, False)])
        self.assertEqual(self.party_count(), before + 2)

    @with_transaction()
    def test_link_duplicates(self):
        "Linking adds the new phone of a duplicate to the existing account"
        pool = Pool()
        Party = pool.get('party.party')
        party, = Party.create([{'name': 'ACME'}])
        job = self._run(self._job(
                csv_bytes(['name,phone', 'ACME,010 6234 5678']),
                on_duplicate='link'))
        self.assertEqual(job.linked_count, 1)
        self.assertEqual(Party(party.id).phone, '+86 10 6234 5678')

    @with_transaction()
    def test_access(self):
        "Imports run with the user's access; reps see only their jobs"
        pool = Pool()
        Job = pool.get('hitech.import.job')
        Party = pool.get('party.party')
        ModelData = pool.get('ir.model.data')
        User = pool.get('res.user')
        company = create_company()
        manager = make_user('imp_manager', company,
            group='group_sales_manager')
        other = make_user('imp_other', company, group='group_sales_manager')
        rep = make_user('imp_rep', company)
        party_admin = ModelData.get_id('party', 'group_party_admin')
        User.write([manager], {'groups': [('add', [party_admin])]})
        data = csv_bytes(['name', 'ACME'])
        with as_user(manager):
            job, = Job.create([{'file': data, 'filename': 'a.csv'}])
            Job.validate_file([job])
            Job.import_([job])
        with Transaction().set_user(manager.id):
            Job.run_import([job])
        self.assertEqual(Job(job.id).state, 'done')
        self.assertEqual(len(Party.search([('name', '=', 'ACME')])), 1)
        with as_user(other):
            self.assertEqual(Job.search([]), [])
        with as_user(rep):
            self.assertEqual(Job.search([]), [])
            with self.assertRaises(AccessError):
                Job.create([{'file': data, 'filename': 'c.csv'}])

    @with_transaction()
    def test_export_escapes_formulas(self):
        "The XLSX export never writes a formula"
        import openpyxl
        pool = Pool()
        Party = pool.get('party.party')
        Export = pool.get('hitech.party.export.xlsx', type='report')
        parties = Party.create([
                {'name': '=HYPERLINK("http://evil","x")', 'contact_mechanisms':
                    [('create', [{'type': 'phone',
                                    'value': '+86 10 6234 5678'}])]},
                {'name': '@SUM(1)'},
                {'name': '-1+2'},
                {'name': 'Plain'},
                ])
        oext, content, _, _ = Export.execute(
            [p.id for p in parties], {})
        self.assertEqual(oext, 'xlsx')
        workbook = openpyxl.load_workbook(io.BytesIO(content))
        sheet = workbook.active
        names = {sheet.cell(row=r, column=1).value
            for r in range(2, sheet.max_row + 1)}
        self.assertEqual(names, {
                '\'=HYPERLINK("http://evil","x")', "'@SUM(1)", "'-1+2",
                'Plain'})
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                self.assertNotEqual(cell.data_type, 'f')
        phones = {sheet.cell(row=r, column=4).value
            for r in range(2, sheet.max_row + 1)} - {None, ''}
        self.assertEqual(phones, {'+86 10 6234 5678'})


class ImportFastPathTestCase(CRMTestCase):
    "The SQL fast path writes what the ORM path writes"

    def setUp(self):
        super().setUp()
        self.addCleanup(setattr, importer.Importer, 'fast_path',
            importer.Importer.fast_path)

    ACCOUNTS = [
        'name,code,tax id,phone,mobile,email,website,street,city,zip,'
        'country',
        'ACME Robotics,C-100,91350100M000100Y8C,010 6234 5678,'
        '13800138000,info@acme.example,www.acme.example,长安街1号,北京,'
        '100000,CN',
        '中兴通讯,,,0755-2678 0000,,zte@zte.example,,,深圳,,',
        'Plain Name Ltd,,ABC-123,,,,,,,,',
        'Far Away,,,+49 30 1234567,,,,Unter den Linden 1,Berlin,,DE',
        'Nowhere,,,,,,,,,,XX',
        ]
    CONTACTS = [
        'account,contact,title,role,mobile,email',
        'C-100,王伟,采购经理,Buyer,13900139000,wang@acme.example',
        '中兴通讯,李娜,CTO,,,li@zte.example',
        'plain name ltd,张三,,,,',
        ]

    maxDiff = None

    def snapshot(self, user_id, company_id):
        "Every row the imports wrote, with party ids replaced by names"
        pool = Pool()
        Party = pool.get('party.party')
        cursor = Transaction().connection.cursor()
        parties = {p.id: p.name for p in Party.search([])}
        tables = ['party_address', 'party_contact_mechanism',
            'party_identifier', 'hitech_party_dedup_key',
            'hitech_account_stage_log']
        tables += sorted({Party.multivalue_model(n)._table
                for n, f in Party._fields.items()
                if getattr(f, 'setter', None) == '_multivalue_setter'})
        skip = {'id', 'create_date', 'write_date', 'write_uid'}
        result = {}
        for table in ['party_party'] + tables:
            cursor.execute('SELECT * FROM "%s"' % table)
            names = [d[0] for d in cursor.description]
            rows = []
            for row in cursor:
                row = dict(zip(names, row))
                if table == 'party_party':
                    row['party'] = row['id']
                row['party'] = parties.get(row['party'], row['party'])
                # ids that differ between the runs on PostgreSQL
                for name in ['create_uid', 'user']:
                    if name in row:
                        row[name] = row[name] == user_id
                if 'company' in row:
                    row['company'] = row['company'] == company_id
                rows.append(tuple(sorted(
                            (k, str(v)) for k, v in row.items()
                            if k not in skip)))
            result[table] = sorted(rows)
        return result

    def run_both(self):
        pool = Pool()
        Job = pool.get('hitech.import.job')
        jobs = []
        for data, target in [
                (self.ACCOUNTS, 'accounts'), (self.CONTACTS, 'contacts')]:
            job, = Job.create([{'file': csv_bytes(data),
                        'filename': target + '.csv', 'target': target,
                        'skip_invalid': True}])
            Job.validate_file([job])
            Job.import_([job])
            Job.run_import([job])
            job = Job(job.id)
            self.assertEqual(job.state, 'done', msg=job.message)
            jobs.append((job.created_count, job.duplicate_count,
                    job.error_count, sorted(
                        (e.row, e.level, e.message) for e in job.errors)))
        return jobs

    @with_transaction()
    def test_fast_path_writes_as_orm(self):
        "The fast path writes exactly the rows the ORM path writes"
        pool = Pool()
        Party = pool.get('party.party')
        transaction = Transaction()
        results = {}
        for fast in [False, True]:
            importer.Importer.fast_path = fast
            company = create_company()
            manager = make_user(
                'imp_fast', company, group='group_sales_manager')
            with transaction.set_user(manager.id), transaction.set_context(
                    company=company.id):
                counts = self.run_both()
            snapshot = self.snapshot(manager.id, company.id)
            codes = {p.name: p.code for p in Party.search([])}
            results[fast] = counts, snapshot, codes
            transaction.rollback()
        (orm_counts, orm, orm_codes), (fast_counts, fast, fast_codes) = (
            results[False], results[True])
        self.assertEqual(fast_counts, orm_counts)
        self.assertEqual(orm_counts[0][0], 5)
        self.assertEqual(orm_counts[1][0], 3)
        # the codes from the party sequence may differ (PostgreSQL
        # sequences are not rolled back): compare the rest
        code_columns = {'code', 'code_alnum', 'code_digit'}

        def without_codes(rows):
            return sorted(tuple(c for c in r if c[0] not in code_columns)
                for r in rows)
        for table in orm:
            with self.subTest(table=table):
                if table in {'party_party', 'party_address',
                        'party_contact_mechanism', 'party_identifier',
                        'hitech_party_dedup_key', 'party_party_lang'}:
                    self.assertTrue(orm[table])
                if table == 'party_party':
                    self.assertEqual(
                        without_codes(fast[table]), without_codes(orm[table]))
                else:
                    self.assertEqual(fast[table], orm[table])
        self.assertEqual(set(fast_codes), set(orm_codes))
        self.assertEqual(fast_codes['ACME Robotics'], 'C-100')
        self.assertTrue(all(fast_codes.values()))
        self.assertEqual(len(set(fast_codes.values())), len(fast_codes))

    @with_transaction()
    def test_fast_path_used(self):
        "The fast path is taken with the modules of this suite"
        pool = Pool()
        Job = pool.get('hitech.import.job')
        job, = Job.create([{'file': csv_bytes(['name', 'A']),
                    'filename': 'a.csv'}])
        self.assertIsNotNone(
            importer.Importer(job, {0: 'name'}).writer)


class ImportCommitTestCase(CRMTestCase):
    "Commit per batch and resume; all or nothing (commits: own database)"

    def setUp(self):
        super().setUp()
        self.fail_at = None
        original = importer.Importer.process

        def process(importer_, rows, first_number):
            if self.fail_at is not None and first_number >= self.fail_at:
                raise ValueError("disk full")
            return original(importer_, rows, first_number)
        importer.Importer.process = process
        self.addCleanup(setattr, importer.Importer, 'process', original)

    def _start(self, mode, names):
        pool = Pool()
        Job = pool.get('hitech.import.job')
        data = csv_bytes(['name'] + names)
        job, = Job.create([{'file': data, 'filename': mode + '.csv',
                    'commit_mode': mode, 'batch_size': 10}])
        Job.validate_file([job])
        Job.import_([job])
        Transaction().commit()
        return job

    def delete_committed(self, model, id_):
        "Remove a record a test committed (the database is shared)"
        from trytond.tests.test_tryton import DB_NAME
        with Transaction().start(DB_NAME, 0) as transaction:
            Model = Pool().get(model)
            Model.delete([Model(id_)])
            transaction.commit()

    def count(self, prefix):
        Party = Pool().get('party.party')
        return Party.search([('name', 'like', prefix + '%')], count=True)

    @with_transaction()
    def test_batch_resume(self):
        "A failed batch import resumes after the last saved batch"
        pool = Pool()
        Job = pool.get('hitech.import.job')
        # names far apart, so that duplicate detection keeps them all
        job = self._start('batch', ['Batch %s' % hashlib.sha1(
                    str(i).encode()).hexdigest()[:10] for i in range(35)])
        self.fail_at = 22  # third batch (rows 22-31)
        Job.run_import([job])
        job = Job(job.id)
        self.assertEqual(job.state, 'failed')
        self.assertEqual(job.last_row, 20)
        self.assertEqual(self.count('Batch'), 20)
        self.assertIn('unexpected error', job.message)
        self.assertNotIn('disk full', job.message)

        self.fail_at = None
        Job.import_([job])
        Job.run_import([job])
        job = Job(job.id)
        self.assertEqual(job.state, 'done')
        self.assertEqual(job.created_count, 35)
        self.assertEqual(self.count('Batch'), 35)
        Transaction().commit()

    @with_transaction()
    def test_run_checks_access(self):
        "The job creates accounts with the access rights of its user"
        pool = Pool()
        Job = pool.get('hitech.import.job')
        company = create_company()
        manager = make_user('imp_nopa', company, group='group_sales_manager')
        # accounts that users may read but not create
        Access = pool.get('ir.model.access')
        denial, = Access.create([{'model': 'party.party', 'perm_read': True,
                    'perm_write': False, 'perm_create': False,
                    'perm_delete': False}])
        Transaction().commit()
        self.addCleanup(self.delete_committed, 'ir.model.access', denial.id)
        with as_user(manager):
            job = self._start('file', ['Denied Co'])
        with Transaction().set_user(manager.id):
            Job.run_import([job])
        job = Job(job.id)
        self.assertEqual(job.state, 'failed')
        self.assertEqual(self.count('Denied'), 0)
        self.assertIn('Party', job.message)
        Transaction().commit()

    @with_transaction()
    def test_run_checks_child_access(self):
        "No account is written when the user may not create phones"
        pool = Pool()
        Job = pool.get('hitech.import.job')
        Access = pool.get('ir.model.access')
        Company = pool.get('company.company')
        # the database is shared with the other tests of the class
        company = (Company.search([], limit=1) or [None])[0]
        company = company or create_company()
        manager = make_user('imp_nocm', company, group='group_sales_manager')
        denial, = Access.create([{'model': 'party.contact_mechanism',
                    'perm_read': True, 'perm_write': False,
                    'perm_create': False, 'perm_delete': False}])
        Transaction().commit()
        self.addCleanup(self.delete_committed, 'ir.model.access', denial.id)
        with as_user(manager):
            pool = Pool()
            Job = pool.get('hitech.import.job')
            data = csv_bytes(['name,phone'] + [
                    'Nophone %s,010 6234 %04d' % (hashlib.sha1(
                            str(i).encode()).hexdigest()[:10], i)
                    for i in range(25)])
            job, = Job.create([{'file': data, 'filename': 'nocm.csv',
                        'commit_mode': 'batch', 'batch_size': 10}])
            Job.validate_file([job])
            Job.import_([job])
        Transaction().commit()
        with Transaction().set_user(manager.id):
            Job.run_import([job])
        job = Job(job.id)
        self.assertEqual(job.state, 'failed')
        self.assertEqual(job.last_row or 0, 0)
        self.assertEqual(self.count('Nophone'), 0)
        self.assertIn('Contact Mechanism', job.message)
        Transaction().commit()

    @with_transaction()
    def test_progress_all_or_nothing(self):
        "The progress of an all-or-nothing import is seen while it runs"
        pool = Pool()
        Job = pool.get('hitech.import.job')
        job = self._start('file', ['Progress %s' % hashlib.sha1(
                    str(i).encode()).hexdigest()[:10] for i in range(35)])
        seen, committed = [], []
        process = importer.Importer.process

        def watch(importer_, rows, first_number):
            seen.append(round(Job(job.id).progress))
            if backend.name == 'postgresql':
                # what another session (another process) reads
                with Transaction().new_transaction() as other:
                    cursor = other.connection.cursor()
                    cursor.execute('SELECT rows_done FROM '
                        'hitech_import_job_progress WHERE job = %s',
                        (job.id,))
                    committed.append(cursor.fetchone()[0])
            return process(importer_, rows, first_number)
        importer.Importer.process = watch
        Job.run_import([job])
        job = Job(job.id)
        self.assertEqual(job.state, 'done')
        self.assertEqual(job.progress, 100.0)
        # before each batch of 10 of the 35 rows
        self.assertEqual(seen, [0, 29, 57, 86])
        if backend.name == 'postgresql':
            self.assertEqual(committed, [0, 10, 20, 30])
        Transaction().commit()

    @with_transaction()
    def test_file_all_or_nothing(self):
        "A failed all-or-nothing import writes no account"
        pool = Pool()
        Job = pool.get('hitech.import.job')
        job = self._start('file', ['Whole %02d' % i for i in range(35)])
        self.fail_at = 22
        Job.run_import([job])
        job = Job(job.id)
        self.assertEqual(job.state, 'failed')
        self.assertEqual(self.count('Whole'), 0)
        self.assertEqual(job.last_row or 0, 0)
        Transaction().commit()
