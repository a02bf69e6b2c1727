# This file is part of HiTech CRM. See LICENSE for details.
"""Mass transfer of account owners and mass sharing of accounts."""
from trytond.i18n import gettext
from trytond.model import ModelView, fields
from trytond.pool import Pool
from trytond.pyson import Bool, Eval
from trytond.transaction import Transaction
from trytond.wizard import Button, StateTransition, StateView, Wizard

from .exceptions import ShareError


def _check_writable(parties):
    pool = Pool()
    Party = pool.get('party.party')
    ids = {p.id for p in parties}
    if Transaction().check_access and ids - Party.hitech_writable_ids(ids):
        raise ShareError(gettext('hitech_crm_base.msg_transfer_not_writable'))


class PartyTransferStart(ModelView):
    "Transfer Accounts"
    __name__ = 'hitech.party.transfer.start'
    owner = fields.Many2One(
        'company.employee', "New Owner", required=True,
        help="The employee who will own the selected accounts.")
    sales_team = fields.Many2One(
        'hitech.sales.team', "New Sales Team",
        help="Leave empty to keep the team of each account.")
    opportunities = fields.Boolean(
        "Transfer Open Opportunities",
        help="Also give the open leads and opportunities of the accounts "
        "to the new owner.")
    count = fields.Integer("Accounts", readonly=True)

    @staticmethod
    def default_opportunities():
        return True


class PartyTransfer(Wizard):
    "Transfer Accounts"
    __name__ = 'hitech.party.transfer'
    start = StateView('hitech.party.transfer.start',
        'hitech_crm_base.party_transfer_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Transfer", 'transfer', 'tryton-ok', default=True),
            ])
    transfer = StateTransition()

    def default_start(self, fields):
        return {'count': len(self.records)}

    def transition_transfer(self):
        pool = Pool()
        Party = pool.get('party.party')
        Opportunity = pool.get('sale.opportunity')
        parties = list(self.records)
        _check_writable(parties)
        values = {'owner': self.start.owner.id}
        if self.start.sales_team:
            values['sales_team'] = self.start.sales_team.id
        Party.write(parties, values)
        if self.start.opportunities:
            opportunities = Opportunity.search([
                    ('party', 'in', [p.id for p in parties]),
                    ('state', 'in', ['lead', 'opportunity']),
                    ])
            if opportunities:
                Opportunity.write(opportunities, {
                        'employee': self.start.owner.id})
        return 'end'


class PartyShareStart(ModelView):
    "Share Accounts"
    __name__ = 'hitech.party.share.start'
    user = fields.Many2One('res.user', "User",
        states={'invisible': Bool(Eval('team'))})
    team = fields.Many2One('hitech.sales.team', "Team",
        states={'invisible': Bool(Eval('user'))})
    permission = fields.Selection([
            ('read', "Read"),
            ('write', "Read and Write"),
            ], "Permission", required=True)
    expires_on = fields.Date("Expires On")
    count = fields.Integer("Accounts", readonly=True)

    @staticmethod
    def default_permission():
        return 'read'


class PartyShare(Wizard):
    "Share Accounts"
    __name__ = 'hitech.party.share'
    start = StateView('hitech.party.share.start',
        'hitech_crm_base.party_share_start_view_form', [
            Button("Cancel", 'end', 'tryton-cancel'),
            Button("Share", 'share', 'tryton-ok', default=True),
            ])
    share = StateTransition()

    def default_start(self, fields):
        return {'count': len(self.records)}

    def transition_share(self):
        pool = Pool()
        Share = pool.get('hitech.share')
        if bool(self.start.user) == bool(self.start.team):
            raise ShareError(gettext(
                    'hitech_crm_base.msg_share_user_or_team'))
        parties = list(self.records)
        _check_writable(parties)
        key = ('user', self.start.user.id) if self.start.user else (
            'team', self.start.team.id)
        existing = {str(s.resource): s for s in Share.search([
                    ('resource', 'in', [str(p) for p in parties]),
                    (key[0], '=', key[1]),
                    ])}
        to_create, to_write = [], []
        for party in parties:
            share = existing.get(str(party))
            if share:
                to_write.append(share)
            else:
                to_create.append({
                        'resource': str(party),
                        key[0]: key[1],
                        'permission': self.start.permission,
                        'expires_on': self.start.expires_on,
                        })
        if to_write:
            Share.write(to_write, {
                    'permission': self.start.permission,
                    'expires_on': self.start.expires_on,
                    })
        if to_create:
            Share.create(to_create)
        return 'end'
