# This file is part of HiTech CRM. See LICENSE for details.
"""Fixtures shared by the cross-module tests.

The suite database (all six modules activated) is created once per
test session and restored from DB_CACHE afterwards.
"""
from trytond.modules.hitech_crm_base.tests.common import (  # noqa: F401
    SUITE_MODULES)
