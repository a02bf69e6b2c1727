# This file is part of HiTech CRM. See LICENSE for details.
from . import routes

__all__ = [routes]
