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


def _forget_database_list():
    """Tryton 8.0's SQLite backend caches its database list for the session
    timeout (600 s) and, unlike PostgreSQL, keeps it when a database is
    created or dropped.  With a stale list, drop_db() skips dropping the
    in-memory database of a scenario (proteus commits its company, "Dunder
    Mifflin") and a later test class starts on it: on cold SQLite runs unit
    tests failed with a duplicate-account warning for the test company.
    The test helpers now look at the real list every time."""
    from trytond import backend
    from trytond.tests import test_tryton
    original = test_tryton.db_exist

    def db_exist(name=test_tryton.DB_NAME):
        backend.Database._list_cache.clear()
        backend.Database._list_cache_timestamp.clear()
        return original(name)
    test_tryton.db_exist = db_exist


_forget_database_list()
