# This file is part of HiTech CRM. See LICENSE for details.
"""Documents on accounts: attachments filed by type and by account.

An attachment stays a stock ``ir.attachment`` (its access follows its
resource); it gains a document type, keywords and the account it belongs
to, computed from its resource: the party itself or the ``party`` of the
resource (opportunity, quotation, contract, ...).
"""
from trytond.model import (
    DeactivableMixin, Index, Model, ModelSQL, ModelView, Unique, fields)
from trytond.pool import Pool, PoolMeta
from trytond.transaction import without_check_access


class DocumentType(DeactivableMixin, ModelSQL, ModelView):
    "Document Type"
    __name__ = 'hitech.document.type'

    name = fields.Char("Name", required=True, translate=True)
    code = fields.Char("Code", required=True, strip=True,
        help="Short unique code used in imports and searches.")
    sequence = fields.Integer("Sequence",
        help="Position of the type in lists.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_constraints += [
            ('code_uniq', Unique(t, t.code),
                'hitech_crm_base.msg_document_type_code_unique'),
            ]
        cls._order.insert(0, ('sequence', 'ASC NULLS FIRST'))
        cls._order.insert(1, ('name', 'ASC'))


class Attachment(metaclass=PoolMeta):
    __name__ = 'ir.attachment'

    document_type = fields.Many2One(
        'hitech.document.type', "Document Type", ondelete='RESTRICT',
        help="What the document is: quote sent, requirement, solution, "
        "contract...")
    account = fields.Many2One(
        'party.party', "Account", readonly=True, ondelete='SET NULL',
        help="The account the document belongs to: the party it is "
        "attached to, or the party of the record it is attached to.")
    keywords = fields.Char("Keywords",
        help="Words to find the document by, separated by spaces or "
        "commas.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        t = cls.__table__()
        cls._sql_indexes.add(
            Index(t, (t.account, Index.Range())))

    @classmethod
    def search_rec_name(cls, name, clause):
        _, operator, operand, *extra = clause
        if operator.startswith('!') or operator.startswith('not '):
            bool_op = 'AND'
        else:
            bool_op = 'OR'
        return [bool_op,
            ('name', operator, operand, *extra),
            ('description', operator, operand, *extra),
            ('keywords', operator, operand, *extra),
            ]

    def compute_fields(self, field_names=None):
        values = super().compute_fields(field_names)
        if field_names is None or 'resource' in field_names:
            account = self.get_account()
            if account != self.account:
                values['account'] = account.id if account else None
        return values

    @classmethod
    def _get_account_exclude(cls):
        "Models whose party is not an account (the company's own, staff)"
        return {'company.company', 'company.employee'}

    @without_check_access
    def get_account(self):
        "Return the account (party) of the resource"
        Party = Pool().get('party.party')
        resource = self.resource
        if (not isinstance(resource, Model)
                or resource.id is None or resource.id < 0):
            return None
        if isinstance(resource, Party):
            return resource
        if ('party' in resource._fields
                and resource.__name__ not in self._get_account_exclude()):
            party = resource.party
            if isinstance(party, Party):
                return party
        return None
