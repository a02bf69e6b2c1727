# This file is part of HiTech CRM. See LICENSE for details.
from trytond.exceptions import UserError


class KBArticleError(UserError):
    pass
