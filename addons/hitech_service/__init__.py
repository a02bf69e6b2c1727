# This file is part of HiTech CRM. See LICENSE for details.
from . import portal

__all__ = [portal]
