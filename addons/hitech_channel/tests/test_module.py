# This file is part of HiTech CRM. See LICENSE for details.
from trytond.modules.company.tests import CompanyTestMixin
from trytond.modules.hitech_crm_base.tests.common import SuiteDatabaseMixin
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction


class HitechChannelTestCase(
        SuiteDatabaseMixin, CompanyTestMixin, ModuleTestCase):
    "Test hitech_channel module"
    module = 'hitech_channel'

    @with_transaction()
    def test_groups_and_menu(self):
        "The module's groups exist and its menu is granted to them"
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        Menu = pool.get('ir.ui.menu')
        Group = pool.get('res.group')
        menu = Menu(ModelData.get_id('hitech_channel', 'menu_channel'))
        granted = {g.id for g in menu.groups}
        self.assertIn(ModelData.get_id('hitech_channel', 'group_channel_manager'), granted)
        self.assertEqual(Group(ModelData.get_id('hitech_channel', 'group_channel_manager')).parent.id, ModelData.get_id('hitech_crm_base', 'group_sales_rep'))


del ModuleTestCase
