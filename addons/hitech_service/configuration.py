# This file is part of HiTech CRM. See LICENSE for details.
from trytond.model import (
    ModelSingleton, ModelSQL, ModelView, fields)
from trytond.modules.company.model import (
    CompanyMultiValueMixin, CompanyValueMixin)
from trytond.pool import Pool
from trytond.pyson import Eval, Id


def default_func(field_name):
    @classmethod
    def default(cls, **pattern):
        return getattr(
            cls.multivalue_model(field_name),
            'default_%s' % field_name, lambda: None)()
    return default


class Configuration(
        ModelSingleton, ModelSQL, ModelView, CompanyMultiValueMixin):
    "Service Configuration"
    __name__ = 'hitech.service.configuration'

    ticket_sequence = fields.MultiValue(fields.Many2One(
            'ir.sequence', "Ticket Sequence", required=True,
            domain=[
                ('company', 'in',
                    [Eval('context', {}).get('company', -1), None]),
                ('sequence_type', '=',
                    Id('hitech_service', 'sequence_type_ticket')),
                ],
            help="The sequence that numbers new tickets; the number is "
            "quoted in the subject of the emails, e.g. \"[TKT00042]\"."))
    email_from = fields.Char("Email From",
        help="The sender address of the answers sent from tickets; "
        "leave empty to use the [email] from option of the server.")
    email_max_size = fields.Integer("Maximum Email Size",
        domain=['OR', ('email_max_size', '=', None),
            ('email_max_size', '>', 0)],
        help="In megabytes: larger emails are rejected and create "
        "nothing; leave empty for no limit.")
    email_attachment_max_size = fields.Integer("Maximum Attachment Size",
        domain=['OR', ('email_attachment_max_size', '=', None),
            ('email_attachment_max_size', '>', 0)],
        help="In megabytes: an email with a larger attachment is rejected "
        "and creates nothing; leave empty for no limit.")
    web_form_company = fields.Many2One(
        'company.company', "Web Form Company", ondelete='SET NULL',
        help="The company of the tickets of the web form; leave empty when "
        "there is only one company.")
    web_form_secret = fields.Char("Web Form Secret",
        help="When set, the web form route only accepts submissions that "
        "send this value in the X-HiTech-Secret header or the \"secret\" "
        "field.")
    web_form_rate_limit = fields.Integer("Web Form Rate Limit",
        domain=['OR', ('web_form_rate_limit', '=', None),
            ('web_form_rate_limit', '>', 0)],
        help="The number of tickets one IP address may submit per hour "
        "through the web form; leave empty for no limit.")
    web_form_max_size = fields.Integer("Web Form Maximum Size",
        domain=['OR', ('web_form_max_size', '=', None),
            ('web_form_max_size', '>', 0)],
        help="In kilobytes: larger submissions are refused.")

    @classmethod
    def multivalue_model(cls, field):
        pool = Pool()
        if field == 'ticket_sequence':
            return pool.get('hitech.service.configuration.sequence')
        return super().multivalue_model(field)

    default_ticket_sequence = default_func('ticket_sequence')

    @classmethod
    def default_email_max_size(cls):
        return 25

    @classmethod
    def default_email_attachment_max_size(cls):
        return 10

    @classmethod
    def default_web_form_rate_limit(cls):
        return 20

    @classmethod
    def default_web_form_max_size(cls):
        return 64

    def get_email_max_size(self):
        "Return the maximum email size in bytes or None"
        if self.email_max_size:
            return self.email_max_size * 1024 * 1024

    def get_email_attachment_max_size(self):
        "Return the maximum attachment size in bytes or None"
        if self.email_attachment_max_size:
            return self.email_attachment_max_size * 1024 * 1024

    def get_web_form_max_size(self):
        "Return the maximum web form size in bytes or None"
        if self.web_form_max_size:
            return self.web_form_max_size * 1024


class ConfigurationSequence(ModelSQL, CompanyValueMixin):
    "Service Configuration Sequence"
    __name__ = 'hitech.service.configuration.sequence'

    ticket_sequence = fields.Many2One(
        'ir.sequence', "Ticket Sequence", required=True,
        domain=[
            ('company', 'in', [Eval('company', -1), None]),
            ('sequence_type', '=',
                Id('hitech_service', 'sequence_type_ticket')),
            ])

    @classmethod
    def default_ticket_sequence(cls):
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        try:
            return ModelData.get_id('hitech_service', 'sequence_ticket')
        except KeyError:
            return None
