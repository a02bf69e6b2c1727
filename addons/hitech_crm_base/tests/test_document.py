# This file is part of HiTech CRM. See LICENSE for details.
"""Documents on accounts: attachments filed by type and by account."""
from trytond.model.exceptions import AccessError
from trytond.modules.company.tests import (
    create_company, create_employee, set_company)
from trytond.modules.hitech_crm_base.tests.common import (
    CRMTestCase, as_user, make_user)
from trytond.pool import Pool
from trytond.pyson import PYSONDecoder
from trytond.tests.test_tryton import with_transaction


class DocumentTestCase(CRMTestCase):
    "Test the documents on accounts"
    module = 'hitech_crm_base'

    def _type(self, code):
        pool = Pool()
        Type = pool.get('hitech.document.type')
        type_, = Type.search([('code', '=', code)])
        return type_

    def _setup(self):
        pool = Pool()
        Party = pool.get('party.party')
        Attachment = pool.get('ir.attachment')
        Opportunity = pool.get('sale.opportunity')
        company = create_company()
        with set_company(company):
            acme, other = Party.create([{'name': "Acme"}, {'name': "Other"}])
            opportunity, = Opportunity.create([{
                        'description': "Big deal", 'party': acme.id}])
            quote, spec, misc, contract = Attachment.create([{
                        'name': "quote-42.pdf", 'resource': str(acme),
                        'document_type': self._type('quote').id,
                        'data': b'quote',
                        }, {
                        'name': "spec.pdf", 'resource': str(opportunity),
                        'document_type': self._type('requirement').id,
                        'description': "Cleanroom requirements",
                        'data': b'spec',
                        }, {
                        'name': "notes.txt", 'resource': str(company),
                        'data': b'notes',
                        }, {
                        'name': "contract.pdf", 'resource': str(other),
                        'document_type': self._type('contract').id,
                        'keywords': "frame agreement, 2025",
                        'data': b'contract',
                        }])
        return company, acme, other, opportunity, (quote, spec, misc, contract)

    @with_transaction()
    def test_default_types(self):
        "Default document types are installed"
        pool = Pool()
        Type = pool.get('hitech.document.type')
        self.assertEqual(
            [t.code for t in Type.search([])],
            ['quote', 'requirement', 'solution', 'contract', 'other'])

    @with_transaction()
    def test_account(self):
        "The account comes from the resource or from its party"
        pool = Pool()
        Attachment = pool.get('ir.attachment')
        company, acme, other, opportunity, attachments = self._setup()
        quote, spec, misc, contract = attachments
        self.assertEqual(quote.account, acme)
        self.assertEqual(spec.account, acme)
        self.assertIsNone(misc.account)
        self.assertEqual(contract.account, other)

        Attachment.write([spec], {'resource': str(other)})
        self.assertEqual(spec.account, other)

    @with_transaction()
    def test_search(self):
        "Documents are found by type, account and text"
        pool = Pool()
        Attachment = pool.get('ir.attachment')
        company, acme, other, opportunity, attachments = self._setup()
        quote, spec, misc, contract = attachments
        self.assertEqual(
            Attachment.search([
                    ('document_type.code', '=', 'requirement')]), [spec])
        self.assertEqual(
            set(Attachment.search([('account', '=', acme.id)])),
            {quote, spec})
        self.assertEqual(
            Attachment.search([('rec_name', 'ilike', '%cleanroom%')]),
            [spec])
        self.assertEqual(
            Attachment.search([('rec_name', 'ilike', '%frame%')]),
            [contract])
        self.assertEqual(
            Attachment.search([('rec_name', 'ilike', '%quote-42%')]),
            [quote])
        self.assertIn(
            misc, Attachment.search([('rec_name', 'not ilike', '%frame%')]))
        self.assertNotIn(
            contract,
            Attachment.search([('rec_name', 'not ilike', '%frame%')]))

    @with_transaction()
    def test_search_as_rep(self):
        "A sales rep finds and reads account documents"
        pool = Pool()
        Attachment = pool.get('ir.attachment')
        company, acme, other, opportunity, attachments = self._setup()
        quote, spec, misc, contract = attachments
        with set_company(company):
            rep = make_user('rep', company, create_employee(company, "Rep"))
        with as_user(rep):
            found = Attachment.search([
                    ('account', '=', acme.id),
                    ('document_type.code', '=', 'quote'),
                    ])
            self.assertEqual(found, [quote])
            values, = Attachment.read([quote.id], [
                    'document_type.rec_name', 'account.rec_name',
                    'keywords'])
            self.assertEqual(values['document_type.']['rec_name'],
                "Quote Sent")
            self.assertEqual(values['account.']['rec_name'], "Acme")

    @with_transaction()
    def test_relate_action(self):
        "The Documents relate action of an account lists its documents"
        pool = Pool()
        Attachment = pool.get('ir.attachment')
        Action = pool.get('ir.action.act_window')
        ModelData = pool.get('ir.model.data')
        company, acme, other, opportunity, attachments = self._setup()
        quote, spec, misc, contract = attachments
        action = Action(ModelData.get_id(
                'hitech_crm_base', 'act_account_document_relate'))
        for active_ids, expected in [
                ([acme.id], {quote, spec}),
                ([acme.id, other.id], {quote, spec, contract}),
                ]:
            domain = PYSONDecoder({
                    'active_id': active_ids[0],
                    'active_ids': active_ids,
                    }).decode(action.pyson_domain)
            self.assertEqual(set(Attachment.search(domain)), expected)

    @with_transaction()
    def test_type_access(self):
        "Sales reps read document types, CRM administrators edit them"
        pool = Pool()
        Type = pool.get('hitech.document.type')
        company = create_company()
        with set_company(company):
            rep = make_user('rep', company, create_employee(company, "Rep"))
            admin = make_user(
                'crmadmin', company, create_employee(company, "Admin"),
                group='group_crm_admin')
            nobody = make_user('nobody', company, group=None)
        with as_user(rep):
            types = Type.search([])
            self.assertTrue(types)
            with self.assertRaises(AccessError):
                Type.write([types[0]], {'name': "Changed"})
        with as_user(admin):
            type_, = Type.create([{'name': "Drawing", 'code': 'drawing'}])
            Type.write([type_], {'name': "CAD Drawing"})
        with as_user(nobody):
            with self.assertRaises(AccessError):
                Type.search([])
