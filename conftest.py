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


def _share_module_caches():
    """A scenario's ``activate_modules(modules, create_company)`` caches
    its database after the setup functions, under a name of its own, so
    on a cold DB_CACHE (every CI run) the modules of the scenarios were
    installed twice: once for the unit tests (``activate_module``, cache
    "hitech_service") and once for the scenarios (cache
    "hitech_service--create_company"), a few minutes each.  On a miss the
    scenario now starts from the database of the modules alone (from the
    cache, or installed and cached for the unit tests) and only runs its
    setup functions before caching the result."""
    from trytond.tests import tools
    original = tools.activate_modules

    def activate_modules(modules, *setup):
        if not setup:
            return original(modules)
        if isinstance(modules, str):
            modules = [modules]
        cache_name = '-'.join(sorted(modules)) + '--' + '|'.join(
            tools._func_name(f) for f in setup)
        if tools.restore_db_cache(cache_name):
            return tools._get_config()
        config = original(modules)
        for func in setup:
            func(config=config)
        tools.backup_db_cache(cache_name)
        return config
    tools.activate_modules = activate_modules


_share_module_caches()
