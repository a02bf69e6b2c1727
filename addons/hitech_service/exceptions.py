# This file is part of HiTech CRM. See LICENSE for details.
from trytond.exceptions import UserError, UserWarning
from trytond.model.exceptions import ValidationError


class TicketError(UserError):
    pass


class TicketValidationError(ValidationError):
    pass


class TicketEmailError(UserError):
    "An email that cannot become a ticket or a ticket message"
    pass


class TicketFormError(UserError):
    "A web form submission that cannot become a ticket"
    pass


class KBArticleError(UserError):
    pass


class PortalError(UserError):
    "A customer portal request that cannot be served"
    pass


class SurveyError(UserError):
    "A satisfaction survey that cannot be sent or answered"
    pass


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


class WorkOrderError(UserError):
    pass


class WorkOrderValidationError(ValidationError):
    pass
