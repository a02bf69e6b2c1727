# This file is part of HiTech CRM. See LICENSE for details.
from trytond.exceptions import UserError
from trytond.model.exceptions import ValidationError


class TeamValidationError(ValidationError):
    pass


class CRMError(UserError):
    pass


class ShareError(UserError):
    pass


class AccountContactValidationError(ValidationError):
    pass


class ActivityValidationError(ValidationError):
    pass


class ImportJobError(UserError):
    pass


class LeadCaptureError(UserError):
    "A web form post that cannot become a lead"

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


class LeadPoolError(UserError):
    pass


class LeadAssignmentError(ValidationError):
    pass


class RegistrationError(UserError):
    pass


class KeywordImportError(UserError):
    pass


class StageRequirementError(UserError):
    pass


class LostReasonError(UserError):
    pass


class QuotaError(UserError):
    pass


class QuotaValidationError(ValidationError):
    pass


class ForecastError(UserError):
    pass


class ForecastValidationError(ValidationError):
    pass
