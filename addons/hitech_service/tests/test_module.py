# This file is part of HiTech CRM. See LICENSE for details.
from trytond.modules.company.tests import CompanyTestMixin
from trytond.pool import Pool
from trytond.tests.test_tryton import ModuleTestCase, with_transaction


class HitechServiceTestCase(CompanyTestMixin, ModuleTestCase):
    "Test hitech_service module"
    module = 'hitech_service'

    @property
    def _skip_company_rule(self):
        # the singleton configuration names the company of the web form
        return super()._skip_company_rule | {
            ('hitech.service.configuration', 'web_form_company'),
            # parts follow the rules of their work order (__access__)
            ('hitech.work.order.part', 'company'),
            # web users without a service company stay visible: web.xml
            # has its own rule (service company empty or one of the user's)
            ('web.user', 'service_company'),
            }

    @with_transaction()
    def test_groups_and_menu(self):
        "The module's groups exist and its menu is granted to them"
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        Menu = pool.get('ir.ui.menu')
        Group = pool.get('res.group')
        menu = Menu(ModelData.get_id('hitech_service', 'menu_service'))
        granted = {g.id for g in menu.groups}
        agent = ModelData.get_id('hitech_service', 'group_service_agent')
        manager = ModelData.get_id('hitech_service', 'group_service_manager')
        self.assertIn(agent, granted)
        self.assertIn(manager, granted)
        self.assertEqual(Group(manager).parent.id, agent)


del ModuleTestCase
