# This file is part of HiTech CRM. See LICENSE for details.
from trytond.exceptions import UserError


class KBArticleError(UserError):
    pass


class PortalError(UserError):
    "A customer portal request that cannot be served"
    pass


class SurveyError(UserError):
    "A satisfaction survey that cannot be sent or answered"
    pass
