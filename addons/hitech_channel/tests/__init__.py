# This file is part of HiTech CRM. See LICENSE for details.
import importlib
import pkgutil


def load_tests(loader, tests, pattern):
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith('test_'):
            module = importlib.import_module(f'{__name__}.{info.name}')
            tests.addTests(
                loader.loadTestsFromModule(module, pattern=pattern))
    return tests
