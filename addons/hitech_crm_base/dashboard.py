# This file is part of HiTech CRM. See LICENSE for details.
"""Role-based CRM dashboards: board views name their actions by XML id,
which is turned into database ids when the view is read; the stock
dashboard shows the CRM board of the user's role until the user picks
their own actions."""
from lxml import etree

from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction

BOARDS = [
    # (group giving the board, board view), most specific first
    ('group_sales_manager', 'dashboard_manager_view_board'),
    ('group_sales_rep', 'dashboard_rep_view_board'),
    ]


class View(metaclass=PoolMeta):
    __name__ = 'ir.ui.view'

    @classmethod
    def hitech_board_arch(cls, arch):
        "Replace the XML ids of the board's actions by their database ids"
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        tree = etree.fromstring(arch.encode('utf-8'))
        changed = False
        for element in tree.iter('action'):
            name = element.get('name', '')
            if '.' in name:
                module, fs_id = name.split('.', 1)
                try:
                    db_id = ModelData.get_id(module, fs_id)
                except KeyError:
                    # while the module is being installed
                    continue
                element.set('name', str(db_id))
                changed = True
        if not changed:
            return arch
        return etree.tostring(tree, encoding='utf-8').decode('utf-8')

    @classmethod
    def hitech_role_board(cls):
        "The CRM board view of the user's role, or None"
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        User = pool.get('res.user')
        groups = set(User.get_groups())
        for group, board in BOARDS:
            if ModelData.get_id('hitech_crm_base', group) in groups:
                return cls(ModelData.get_id('hitech_crm_base', board))

    @classmethod
    def dashboard_view(cls, arch):
        pool = Pool()
        User = pool.get('res.user')
        user = User(Transaction().user)
        if not user.dashboard_actions:
            board = cls.hitech_role_board()
            if board:
                return cls.hitech_board_arch(board.arch)
        return super().dashboard_view(arch)

    @classmethod
    def read(cls, ids, fields_names):
        result = super().read(ids, fields_names)
        if fields_names is None or 'arch' in fields_names:
            for row in result:
                arch = row.get('arch')
                if (arch and '<board' in arch
                        and 'hitech_crm_base.' in arch):
                    row['arch'] = cls.hitech_board_arch(arch)
        return result
