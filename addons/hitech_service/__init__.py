# This file is part of HiTech CRM. See LICENSE for details.
from . import portal, routes

__all__ = [portal, routes]
