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


class QuotaError(UserError):
    pass


class QuotaValidationError(ValidationError):
    pass


class ForecastError(UserError):
    pass


class ForecastValidationError(ValidationError):
    pass
