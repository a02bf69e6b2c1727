# This file is part of HiTech CRM. See LICENSE for details.
from trytond.pool import PoolMeta


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def _hitech_rule_models(cls):
        return super()._hitech_rule_models() | {'hitech.ticket'}
