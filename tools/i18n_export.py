# This file is part of HiTech CRM. See LICENSE for details.
"""Regenerate the Chinese translation files of the HiTech CRM modules.

Run from the repository root with the project virtualenv::

    .venv/bin/python tools/i18n_export.py

It builds a throw-away SQLite database (in a temporary folder, or
``--path``), activates the six modules, makes ``zh_CN`` and ``zh_TW``
translatable (``zh_TW`` is not in Tryton's stock ``ir.lang`` and is
created), then runs ``trytond-admin --export-translations``, i.e. the
*Set Translations*, *Clean Translations*, *Synchronize Translations* and
*Export Translations* wizards for every module and language.  The
existing ``addons/<module>/locale/<lang>.po`` files are loaded first, so
their translations are kept: new strings come out with an empty
``msgstr`` and strings gone from the code are dropped.
"""
import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = [
    'hitech_crm_base',
    'hitech_channel',
    'hitech_commission',
    'hitech_service',
    'hitech_pos_bridge',
    'hitech_integrations',
    ]
LANGUAGES = ['zh_CN', 'zh_TW']
DB_NAME = 'i18n_tmpl'

CREATE_ZH_TW = '''
import sys
from trytond.config import config
config.update_etc(sys.argv[1])
from trytond.pool import Pool
from trytond.transaction import Transaction
Pool.start()
pool = Pool(sys.argv[2])
pool.init()
with Transaction().start(sys.argv[2], 0) as transaction:
    Lang = pool.get('ir.lang')
    if not Lang.search([('code', '=', 'zh_TW')]):
        zh_cn, = Lang.search([('code', '=', 'zh_CN')])
        Lang.copy([zh_cn], default={
                'code': 'zh_TW',
                'name': 'Chinese Traditional (Taiwan)',
                'translatable': False,
                })
'''


def admin(conf, *args):
    env = dict(os.environ, TRYTONPASSFILE=os.path.join(
            os.path.dirname(conf), 'password'))
    env.pop('TRYTOND_CONFIG', None)
    subprocess.run([
            os.path.join(os.path.dirname(sys.executable), 'trytond-admin'),
            '-c', conf, '-d', DB_NAME, '--email', 'admin@example.com']
        + list(args),
        check=True, env=env, cwd=ROOT)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--path', help='folder for the SQLite database '
        '(default: a new temporary folder)')
    parser.add_argument('modules', nargs='*', default=MODULES,
        help='modules to export (default: all six)')
    options = parser.parse_args()

    path = options.path or tempfile.mkdtemp(prefix='i18n_')
    os.makedirs(path, exist_ok=True)
    db_file = os.path.join(path, DB_NAME + '.sqlite')
    if os.path.exists(db_file):
        os.remove(db_file)
    # The SQLite backend opens only an existing file.
    open(db_file, 'w').close()
    conf = os.path.join(path, 'trytond.conf')
    with open(conf, 'w') as fp:
        fp.write('[database]\nuri = sqlite://\npath = %s\n'
            'language = en\n' % path)
    with open(os.path.join(path, 'password'), 'w') as fp:
        fp.write('i18n-admin-password\n')
    for module in options.modules:
        os.makedirs(os.path.join(
                ROOT, 'addons', module, 'locale'), exist_ok=True)

    # Activate the modules (and their dependencies) in English.
    admin(conf, '-u', *options.modules, '--activate-dependencies')
    subprocess.run([sys.executable, '-c', CREATE_ZH_TW, conf, DB_NAME],
        check=True, cwd=ROOT)
    # Load the existing .po files, then set, clean, synchronize, export.
    admin(conf, '-u', *options.modules, '-l', *LANGUAGES,
        '--export-translations')
    for module in options.modules:
        for lang in LANGUAGES:
            po = os.path.join(ROOT, 'addons', module, 'locale', lang + '.po')
            print(po, 'written' if os.path.exists(po) else 'MISSING')


if __name__ == '__main__':
    main()
