# This file is part of HiTech CRM. See LICENSE for details.
"""The Chinese translations (zh_CN, zh_TW) of the six modules.

No database: the .po files are read with polib, the library Tryton itself
loads them with.  Checked for every module and language: the file parses,
every translation keeps the placeholders of its source (a missing or
renamed ``%(name)s`` makes gettext fail at run time), no entry is there
twice, zh_TW has the same entries as zh_CN and no Simplified characters,
no English was pasted as a translation, no entry is fuzzy (Tryton does
not use fuzzy translations: the English text is shown), the share of
translated entries stays above the floor measured when the files were
written, and every message of the customer portal and the ticket web form
is translated.
Regenerate the files with tools/i18n_export.py (doc/translations.rst).
"""
import os
import re
import unittest
import xml.etree.ElementTree as ET

import polib

from trytond.modules.hitech_crm_base.tests.common import SUITE_MODULES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULES = SUITE_MODULES
LANGUAGES = ['zh_CN', 'zh_TW']
# Translated share of the entries: 100% measured for every module and
# language when the files were written; a few new strings exported without
# translation (empty msgstr, English shown) stay above the floor.
FLOOR = 0.95
PLACEHOLDER = re.compile(r'%\([^)]*\)[-#0 +]*\d*(?:\.\d+)?[sdifr]|%%')
CJK = re.compile(r'[\u3400-\u9fff]')
# Translations without Chinese characters that are right as they are.
LATIN = {
    '%', 'CRM', 'CSV', 'SLA', 'kB', 'MB', 'Message-ID', 'In-Reply-To',
    }
# Simplified-only characters that must not remain in zh_TW.
SIMPLIFIED = set('们这为说时国门关开发户设数讯务单线报录页销务见')


# The customer facing code: every message it shows must be translated.
PORTAL_SOURCES = [
    ('hitech_service', 'portal.py'),
    ('hitech_service', 'routes.py'),
    ('hitech_service', 'web_form.py'),
    ]
MESSAGE_ID = re.compile(r"""['"](?:hitech_service\.)?(msg_[a-z0-9_]+)['"]""")


def po_path(module, lang):
    return os.path.join(ROOT, 'addons', module, 'locale', lang + '.po')


class TranslationsTestCase(unittest.TestCase):

    def entries(self, module, lang):
        path = po_path(module, lang)
        self.assertTrue(os.path.exists(path), path)
        return [e for e in polib.pofile(path) if not e.obsolete]

    def test_placeholders(self):
        "Every msgstr keeps the %(...)s placeholders of its msgid"
        for module in MODULES:
            for lang in LANGUAGES:
                wrong = [e.msgctxt for e in self.entries(module, lang)
                    if e.msgstr and (
                        sorted(PLACEHOLDER.findall(e.msgstr))
                        != sorted(PLACEHOLDER.findall(e.msgid)))]
                with self.subTest(module=module, lang=lang):
                    self.assertEqual(wrong, [])

    def test_no_duplicate(self):
        "No msgctxt + msgid is there twice"
        for module in MODULES:
            for lang in LANGUAGES:
                keys = [(e.msgctxt, e.msgid)
                    for e in self.entries(module, lang)]
                with self.subTest(module=module, lang=lang):
                    self.assertEqual(len(keys), len(set(keys)))

    def test_same_entries(self):
        "zh_TW translates the same entries as zh_CN"
        for module in MODULES:
            keys = {
                lang: {(e.msgctxt, e.msgid): bool(e.msgstr)
                    for e in self.entries(module, lang)}
                for lang in LANGUAGES}
            with self.subTest(module=module):
                self.assertEqual(keys['zh_CN'], keys['zh_TW'])

    def test_chinese(self):
        "Translations are Chinese, zh_TW in Traditional characters"
        for module in MODULES:
            for lang in LANGUAGES:
                wrong = [e.msgstr for e in self.entries(module, lang)
                    if e.msgstr and (
                        (not CJK.search(e.msgstr)
                            and e.msgstr not in LATIN)
                        or (lang == 'zh_TW'
                            and SIMPLIFIED & set(e.msgstr)))]
                with self.subTest(module=module, lang=lang):
                    self.assertEqual(wrong, [])

    def test_ratio(self):
        "The translated share stays above the floor"
        for module in MODULES:
            for lang in LANGUAGES:
                entries = self.entries(module, lang)
                done = sum(1 for e in entries if e.msgstr)
                ratio = done / len(entries)
                print('%s %s: %s/%s translated (%.1f%%)' % (
                        module, lang, done, len(entries), 100 * ratio))
                with self.subTest(module=module, lang=lang):
                    self.assertGreaterEqual(ratio, FLOOR)

    def test_not_fuzzy(self):
        "No entry is fuzzy: Tryton shows the English text of those"
        for module in MODULES:
            for lang in LANGUAGES:
                fuzzy = [e.msgctxt for e in self.entries(module, lang)
                    if 'fuzzy' in e.flags]
                with self.subTest(module=module, lang=lang):
                    self.assertEqual(fuzzy, [])

    def test_portal_messages(self):
        "Every message the portal and the web form show is translated"
        for module, name in PORTAL_SOURCES:
            folder = os.path.join(ROOT, 'addons', module)
            with open(os.path.join(folder, name), encoding='utf-8') as fp:
                used = set(MESSAGE_ID.findall(fp.read()))
            self.assertTrue(used, name)
            declared = {record.get('id') for record in ET.parse(
                    os.path.join(folder, 'message.xml')).iter('record')
                if record.get('model') == 'ir.message'}
            with self.subTest(module=module, source=name):
                self.assertEqual(used - declared, set())
            for lang in LANGUAGES:
                translated = {e.msgctxt.split(':')[-1]
                    for e in self.entries(module, lang)
                    if e.msgctxt.startswith('model:ir.message,text:')
                    and e.msgstr and 'fuzzy' not in e.flags}
                with self.subTest(module=module, source=name, lang=lang):
                    self.assertEqual(used - translated, set())
