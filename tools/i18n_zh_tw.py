# This file is part of HiTech CRM. See LICENSE for details.
"""Derive the Traditional Chinese (Taiwan) translations from zh_CN.

Development tool only, NOT a runtime requirement: it needs polib (in the
project virtualenv through trytond) and OpenCC, installed apart, e.g.::

    python3 -m venv /tmp/occ
    /tmp/occ/bin/pip install opencc-python-reimplemented polib
    /tmp/occ/bin/python tools/i18n_zh_tw.py

For every module it reads ``locale/zh_CN.po``, converts each msgstr with
OpenCC's ``s2twp`` profile (Traditional characters and Taiwan phrases:
客戶, 資料, 訊息, 預設, 檔案, 設定, ...) and then applies the Taiwan
vocabulary of ``TAIWAN`` below, which OpenCC leaves in mainland usage.
It writes ``locale/zh_TW.po`` with the same entries as zh_CN.po.
"""
import glob
import os

import polib
from opencc import OpenCC

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# After s2twp: mainland words that Taiwan business software says otherwise.
TAIWAN = [
    ('賬戶', '帳戶'),
    ('賬', '帳'),
    ('伙伴', '夥伴'),
    ('營銷', '行銷'),
    ('質量', '品質'),
    ('門戶', '入口網站'),
    ('郵政編碼', '郵遞區號'),
    ('電子表格', '試算表'),
    ('模板', '範本'),
    ('小票', '收據'),
    ('首選項', '偏好設定'),
    ('服務檯', '服務台'),
    ('渠道', '通路'),
    ('定時任務', '排程工作'),
    ('稅號', '統一編號'),
    ('編碼格式', '\0ENC\0'),
    ('文字編碼', '\0TXT\0'),
    ('編碼', '代碼'),
    ('\0ENC\0', '編碼格式'),
    ('\0TXT\0', '文字編碼'),
    ('優化', '最佳化'),
    ('默認', '預設'),
    # s2twp phrase choices that are wrong for a CRM: 代碼 is a code, not
    # program code; review, publish, permission, type, keyword, mapping.
    ('程式碼', '代碼'),
    ('稽核', '審核'),
    ('釋出', '發佈'),
    ('許可權', '權限'),
    ('型別', '類型'),
    ('關鍵詞', '關鍵字'),
    ('對映', '對應'),
    ('視窗', '時間窗'),
    ('合同', '合約'),
    ('當前', '目前'),
    # Taiwan quotes corner brackets.
    ('“', '「'),
    ('”', '」'),
    ]


def convert(text, opencc):
    text = opencc.convert(text)
    for mainland, taiwan in TAIWAN:
        text = text.replace(mainland, taiwan)
    return text


def main():
    opencc = OpenCC('s2twp')
    for source in sorted(glob.glob(
                os.path.join(ROOT, 'addons', '*', 'locale', 'zh_CN.po'))):
        pofile = polib.pofile(source, wrapwidth=78)
        for entry in pofile:
            if entry.msgstr:
                entry.msgstr = convert(entry.msgstr, opencc)
        target = os.path.join(os.path.dirname(source), 'zh_TW.po')
        pofile.save(target)
        print(target, len(pofile))


if __name__ == '__main__':
    main()
