# This file is part of HiTech CRM. See LICENSE for details.
"""Fixtures shared by the cross-module tests.

The suite database (all six modules activated) is created once per
test session and restored from DB_CACHE afterwards.
"""
SUITE_MODULES = [
    'hitech_crm_base', 'hitech_channel', 'hitech_commission',
    'hitech_service', 'hitech_pos_bridge', 'hitech_integrations']
