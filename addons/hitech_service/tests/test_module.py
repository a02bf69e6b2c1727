# This file is part of HiTech CRM. See LICENSE for details.
from trytond.modules.company.tests import CompanyTestMixin
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction


class HitechServiceTestCase(CompanyTestMixin, ModuleTestCase):
    "Test hitech_service module"
    module = 'hitech_service'

    @property
    def _skip_company_rule(self):
        # web users without a service company stay visible: web.xml has
        # its own rule (service company empty or one of the user's)
        return super()._skip_company_rule | {('web.user', 'service_company')}

    @with_transaction()
    def test_groups_and_menu(self):
        "The module's groups exist and its menu is granted to them"
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        Menu = pool.get('ir.ui.menu')
        Group = pool.get('res.group')
        menu = Menu(ModelData.get_id('hitech_service', 'menu_service'))
        granted = {g.id for g in menu.groups}
        self.assertIn(ModelData.get_id('hitech_service', 'group_service_agent'), granted)
        self.assertIn(ModelData.get_id('hitech_service', 'group_service_manager'), granted)
        self.assertEqual(Group(ModelData.get_id('hitech_service', 'group_service_manager')).parent.id, ModelData.get_id('hitech_service', 'group_service_agent'))


del ModuleTestCase
