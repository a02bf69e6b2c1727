# This file is part of HiTech CRM. See LICENSE for details.
from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.pyson import Eval
from trytond.transaction import Transaction


class User(metaclass=PoolMeta):
    __name__ = 'web.user'

    service_company = fields.Many2One(
        'company.company', "Service Company", ondelete='RESTRICT',
        help="The company whose service desk handles the tickets this "
        "customer opens in the portal; empty uses the only company.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        for field in [cls.party, cls.secondary_parties]:
            field.context = dict(field.context or {},
                company=Eval('service_company', -1))
            field.depends = set(field.depends or ()) | {'service_company'}

    @property
    def portal_parties(self):
        """The ids of the parties whose tickets the portal user sees: the
        web user's party and its secondary parties."""
        parties = set()
        if self.party:
            parties.add(self.party.id)
        parties.update(p.id for p in self.secondary_parties)
        return sorted(parties)

    def get_portal_company(self):
        pool = Pool()
        Company = pool.get('company.company')
        if self.service_company:
            return self.service_company
        company = Transaction().context.get('company')
        if company:
            return Company(company)
        companies = Company.search([], limit=2)
        if len(companies) == 1:
            return companies[0]
