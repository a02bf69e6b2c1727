# This file is part of HiTech CRM. See LICENSE for details.
"""pytest glue for Tryton's tests.

Tryton's own doctest runner (load_doc_tests) drops the test database after
each scenario; pytest's doctest runner does not.  On PostgreSQL the next
scenario would then find the database of the previous one and fail, so
every scenario starts and ends without a test database.
"""
import pytest
from _pytest.doctest import DoctestItem


@pytest.fixture(autouse=True)
def tryton_scenario_database(request):
    if isinstance(request.node, DoctestItem):
        from trytond.tests.test_tryton import drop_db
        drop_db()
        yield
        drop_db()
    else:
        yield
