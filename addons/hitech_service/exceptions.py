# This file is part of HiTech CRM. See LICENSE for details.
from trytond.exceptions import UserError, UserWarning
from trytond.model.exceptions import ValidationError


class CalendarError(ValidationError):
    "A service calendar whose hours cannot be used"
    pass


class CalendarWarning(UserWarning):
    pass


class SLAError(ValidationError):
    "A service level policy that is inconsistent"
    pass


class SLAUserError(UserError):
    pass
