# This file is part of HiTech CRM. See LICENSE for details.
from trytond.modules.company.tests import CompanyTestMixin
from trytond.modules.hitech_crm_base.tests.common import SuiteDatabaseMixin
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction


class HitechPosBridgeTestCase(
        SuiteDatabaseMixin, CompanyTestMixin, ModuleTestCase):
    "Test hitech_pos_bridge module"
    module = 'hitech_pos_bridge'

    @with_transaction()
    def test_groups_and_menu(self):
        "The module's groups exist and its menu is granted to them"
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        Menu = pool.get('ir.ui.menu')
        Group = pool.get('res.group')
        menu = Menu(ModelData.get_id('hitech_pos_bridge', 'menu_pos_bridge'))
        granted = {g.id for g in menu.groups}
        self.assertIn(ModelData.get_id('hitech_pos_bridge', 'group_pos_operator'), granted)


del ModuleTestCase
