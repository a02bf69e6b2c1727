#!/usr/bin/env python
# This file is part of HiTech CRM. See LICENSE for details.
"""Benchmark of duplicate detection on PostgreSQL.

Generates N accounts (default 100,000) of which a share (default 5%) are
near-duplicates of another account (typos, legal-suffix variants,
full-width forms, phone formatting), inserted by SQL into a dedicated
database, then:

* rebuilds the normalised names and keys (Party.dedup_rebuild);
* runs the whole-base finder (hitech.party.duplicate.find) and prints
  recall and precision against the injected ground truth, and its time
  as a ratio to a raw SQL scan of the accounts;
* times Party.find_duplicates for single new records (half of them
  duplicates) and prints p50/p95, and the ratio to the stock ORM path
  (Party.search on the exact name).

It prints figures and never asserts on time. Targets: recall >= 0.95,
precision >= 0.95, finder < 30 s, check-on-create p95 < 50 ms.

    .venv/bin/python bench/bench_dedup.py                   # 100,000
    .venv/bin/python bench/bench_dedup.py --size 20000      # quicker

The database (default dedup_bench) is created, and dropped again
unless --keep is given.
"""
import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SYLLABLES = (
    'ka no da ri ta lu men xo vi ra zen pho tek sol mar vel qua tri '
    'neo gal ax or bi on sy ne tor lin kor ve sta lex an dro mi ca fu '
    'jin hua xin tai long feng yun bo li chen hai kai wei rui da sen '
    'tu ro ke pa zu mo fi ga be do ni se la cu vo te hy dra ze ly '
    'pri me ko ta zo ri an ul tra mag nex opt ron ix yo sa wa ki '
    'mu ho ne ja ru'.split())
CITIES = [
    'Shenzhen', 'Shanghai', 'Beijing', 'Guangzhou', 'Hangzhou', 'Suzhou',
    'Chengdu', 'Wuhan', 'Xiamen', 'Nanjing', 'Tianjin', 'Dongguan',
    'Hefei', 'Qingdao', 'Ningbo', 'Xian', 'Changsha', 'Zhuhai', '', '',
    '', '', '', '']
INDUSTRIES = [
    'Technology', 'Electronics', 'Semiconductor', 'Optics', 'Software',
    'Robotics', 'Automation', 'Instruments', 'Photonics', 'Networks',
    'Systems', 'Microelectronics', 'Power', 'Sensors', 'Medical Devices',
    'Telecom', 'Materials', 'Data', 'Intelligent Equipment', 'Trading',
    'Precision Machinery', 'New Energy', 'Display', 'Components']
SUFFIXES = [
    'Co., Ltd.', 'Co. Ltd', 'Limited', 'Ltd.', 'Inc.', 'Corp.',
    'Corporation', 'LLC', 'GmbH', 'Co., Limited', '(China) Co., Ltd.', '']
CJK_CITIES = [
    '深圳市', '上海', '北京', '广州市', '杭州', '苏州', '成都', '武汉',
    '厦门', '南京', '', '']
CJK_CHARS = (
    '华强科达信通创维恒泰鑫源腾飞宏图瑞丰聚光迈瑞汇川天岳德赛安盛博远'
    '中兴海康威视大疆立讯精密欧菲光舜宇蓝思航盛锐捷星网宇视长盈京东方'
    '昊天华勤新宙邦佳禾智能微芯芯原兆易紫光展讯汇顶思特威格科韦尔卓胜'
    '圣邦斯达飞凯晶盛晶方通富华天长电北方华创至纯拓荆盛美芯源中微沪硅'
    '雅克南大光电彤程鼎龙清溢路维安集景嘉国科国芯复旦云天励飞寒武纪')
CJK_INDUSTRIES = [
    '科技', '电子', '半导体', '光电', '软件', '机器人', '自动化', '仪器',
    '通信', '智能装备', '新材料', '精密机械']
CJK_SUFFIXES = [
    '有限公司', '股份有限公司', '有限责任公司', '集团有限公司', '']
FREE_MAIL = ['qq.com', '163.com', '126.com', 'gmail.com', 'sina.com']
AREA_CODES = ['10', '20', '21', '22', '23', '24', '25', '27', '28', '29',
    '512', '571', '574', '592', '755', '769', '756', '551', '532', '731']


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', type=int, default=100_000)
    parser.add_argument('--dup-rate', type=float, default=0.05)
    parser.add_argument('--probes', type=int, default=200)
    parser.add_argument('--db', default='dedup_bench')
    parser.add_argument('--seed', type=int, default=42)
    parser.add_argument('--keep', action='store_true',
        help="keep the database (and reuse it when it exists)")
    return parser.parse_args()


class Generator:
    def __init__(self, seed):
        self.random = random.Random(seed)
        self.used_names = set()
        self.used_brands = set()
        self.serial = 0

    def brand(self):
        # A brand belongs to one company: unrelated companies sharing a
        # brand would make the ground truth ambiguous.  Brands one letter
        # apart remain possible, as in real life.
        r = self.random
        while True:
            brand = ''.join(r.choice(SYLLABLES)
                for _ in range(r.choice([2, 3, 3, 4]))).capitalize()
            if brand not in self.used_brands:
                self.used_brands.add(brand)
                return brand

    def name(self):
        from trytond.modules.hitech_crm_base.dedup import normalize_name
        r = self.random
        while True:
            if r.random() < 0.3:
                brand = ''.join(r.choice(CJK_CHARS)
                    for _ in range(r.choice([2, 3, 3, 4])))
                if brand in self.used_brands:
                    continue
                self.used_brands.add(brand)
                name = (r.choice(CJK_CITIES) + brand
                    + r.choice(CJK_INDUSTRIES) + r.choice(CJK_SUFFIXES))
            else:
                parts = [r.choice(CITIES), self.brand(),
                    r.choice(INDUSTRIES), r.choice(SUFFIXES)]
                name = ' '.join(p for p in parts if p)
            key = normalize_name(name)
            if key not in self.used_names:
                self.used_names.add(key)
                return name

    def phone(self):
        r = self.random
        self.serial += 1
        if r.random() < 0.5:
            return 'mobile', '1%s%08d' % (r.choice('3456789') + str(
                    r.randint(0, 9)), self.serial)
        area = r.choice(AREA_CODES)
        digits = 8 if len(area) == 2 else 7 + (self.serial % 2)
        number = str(self.serial).zfill(digits)[-digits:]
        number = str(r.randint(2, 8)) + number[1:]
        return 'phone', '0%s-%s' % (area, number)

    def account(self):
        r = self.random
        name = self.name()
        mechanisms, identifiers = [], []
        if r.random() < 0.8:
            mechanisms.append(self.phone())
        domain = None
        if r.random() < 0.5:
            self.serial += 1
            domain = 'corp%d.com.cn' % self.serial
            mechanisms.append(('email', 'info@' + domain))
            if r.random() < 0.5:
                mechanisms.append(('website', 'https://www.%s/' % domain))
        elif r.random() < 0.3:
            self.serial += 1
            mechanisms.append(
                ('email', 'boss%d@%s' % (self.serial, r.choice(FREE_MAIL))))
        if r.random() < 0.3:
            self.serial += 1
            identifiers.append('91%016d' % self.serial)
        return {'name': name, 'mechanisms': mechanisms,
            'identifiers': identifiers}

    # Variants -------------------------------------------------------
    def typo(self, name):
        r = self.random
        # Keep clear of the legal suffix so that the typo hits the name
        letters = [i for i, c in enumerate(name) if c.isalpha()]
        cut = max(letters[:max(1, int(len(letters) * 0.7))])
        i = r.choice([i for i in letters if i <= cut])
        kind = r.choice(['sub', 'del', 'ins', 'swap'])
        if name[i].isascii():
            alphabet = 'abcdefghijklmnopqrstuvwxyz'
        else:
            alphabet = CJK_CHARS
        if kind == 'sub':
            return name[:i] + r.choice(alphabet) + name[i + 1:]
        elif kind == 'del' and len(letters) > 6:
            return name[:i] + name[i + 1:]
        elif kind == 'swap' and i + 1 < len(name) and name[i + 1].isalpha():
            return name[:i] + name[i + 1] + name[i] + name[i + 2:]
        return name[:i] + r.choice(alphabet) + name[i:]

    def suffix_variant(self, name):
        r = self.random
        for suffix in sorted(SUFFIXES + CJK_SUFFIXES, key=len, reverse=True):
            if suffix and name.endswith(suffix):
                name = name[:-len(suffix)].rstrip()
                break
        if any(ord(c) > 0x2e80 for c in name):
            return name + r.choice(CJK_SUFFIXES)
        return (name + ' ' + r.choice(SUFFIXES)).strip()

    def full_width(self, name):
        return ''.join(
            chr(ord(c) + 0xfee0) if '!' <= c <= '~' else
            ('\u3000' if c == ' ' else c) for c in name)

    def phone_format(self, type_, value):
        r = self.random
        digits = value.replace('-', '')
        if type_ == 'mobile':
            return type_, r.choice([
                    '+86 %s %s %s' % (digits[:3], digits[3:7], digits[7:]),
                    '+86-' + digits,
                    '%s-%s-%s' % (digits[:3], digits[3:7], digits[7:])])
        area, number = value[1:].split('-')
        return type_, r.choice([
                '+86 %s %s' % (area, number),
                '(0%s) %s' % (area, number),
                '+86-%s-%s' % (area, number)])

    def duplicate(self, account):
        r = self.random
        name = account['name']
        kind = r.choice(['typo', 'suffix', 'full_width', 'phone'])
        if kind == 'typo':
            name = self.typo(name)
        elif kind == 'suffix':
            name = self.suffix_variant(name)
        elif kind == 'full_width':
            name = self.full_width(self.suffix_variant(name))
        else:
            name = self.suffix_variant(name)
            if r.random() < 0.5:
                name = self.typo(name)
        mechanisms, identifiers = [], []
        for type_, value in account['mechanisms']:
            if type_ in {'phone', 'mobile'}:
                if kind == 'phone' or r.random() < 0.4:
                    mechanisms.append(self.phone_format(type_, value))
            elif r.random() < 0.3:
                mechanisms.append((type_, value.upper()))
        if account['identifiers'] and r.random() < 0.2:
            identifiers = list(account['identifiers'])
        return {'name': name, 'mechanisms': mechanisms,
            'identifiers': identifiers, 'kind': kind}


def ensure_database(args):
    env = dict(os.environ, TRYTOND_DATABASE__URI='postgresql:///')
    env.pop('TRYTOND_CONFIG', None)
    exists = subprocess.run(
        ['psql', '-d', 'postgres', '-tAc',
            "SELECT 1 FROM pg_database WHERE datname='%s'" % args.db],
        capture_output=True, text=True, check=True).stdout.strip()
    if exists and args.keep:
        activated = subprocess.run(
            ['psql', '-d', args.db, '-tAc',
                "SELECT 1 FROM ir_module WHERE name='hitech_crm_base' "
                "AND state='activated'"],
            capture_output=True, text=True).stdout.strip()
        if activated:
            with tempfile.NamedTemporaryFile('w', suffix='.pass') as passfile:
                passfile.write('bench-admin-password\n')
                passfile.flush()
                env['TRYTONPASSFILE'] = passfile.name
                admin = os.path.join(
                    os.path.dirname(sys.executable), 'trytond-admin')
                subprocess.run([admin, '-d', args.db, '-u', 'hitech_crm_base'],
                    env=env, check=True, stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
            return False
    if exists:
        subprocess.run(['dropdb', args.db], check=True)
    subprocess.run(['createdb', '-E', 'UTF8', '-T', 'template0', args.db],
        check=True)
    with tempfile.NamedTemporaryFile('w', suffix='.pass') as passfile:
        passfile.write('bench-admin-password\n')
        passfile.flush()
        env['TRYTONPASSFILE'] = passfile.name
        admin = os.path.join(os.path.dirname(sys.executable), 'trytond-admin')
        start = time.perf_counter()
        subprocess.run([admin, '-d', args.db, '--all',
                '--email', 'admin@example.com'], env=env, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.run([admin, '-d', args.db, '-u', 'hitech_crm_base',
                '--activate-dependencies'], env=env, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print("database %s activated in %.0f s" % (
                args.db, time.perf_counter() - start))
    return True


def insert_accounts(accounts):
    "Insert accounts by SQL; return their ids in order"
    import datetime

    from trytond.pool import Pool
    from trytond.transaction import Transaction
    pool = Pool()
    Party = pool.get('party.party')
    ContactMechanism = pool.get('party.contact_mechanism')
    Identifier = pool.get('party.identifier')
    party = Party.__table__()
    mechanism = ContactMechanism.__table__()
    identifier = Identifier.__table__()
    cursor = Transaction().connection.cursor()
    now = datetime.datetime.now()
    ids = []
    for start in range(0, len(accounts), 1000):
        chunk = accounts[start:start + 1000]
        cursor.execute(*party.insert(
                [party.code, party.name, party.active, party.party_kind,
                    party.create_uid, party.create_date],
                [['B%07d' % (start + i), a['name'], True, 'company', 0, now]
                    for i, a in enumerate(chunk)],
                returning=[party.id]))
        chunk_ids = [r[0] for r in cursor]
        ids.extend(chunk_ids)
        rows = [[pid, t, v, v, True, i, 0, now]
            for pid, a in zip(chunk_ids, chunk)
            for i, (t, v) in enumerate(a['mechanisms'])]
        if rows:
            cursor.execute(*mechanism.insert(
                    [mechanism.party, mechanism.type, mechanism.value,
                        mechanism.value_compact, mechanism.active,
                        mechanism.sequence, mechanism.create_uid,
                        mechanism.create_date], rows))
        rows = [[pid, c, c, True, 0, now]
            for pid, a in zip(chunk_ids, chunk) for c in a['identifiers']]
        if rows:
            cursor.execute(*identifier.insert(
                    [identifier.party, identifier.code,
                        identifier.code_compact, identifier.active,
                        identifier.create_uid, identifier.create_date],
                    rows))
    return ids


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * len(values))))]


def main():
    args = parse_args()
    os.environ['TRYTOND_DATABASE__URI'] = 'postgresql:///'
    os.environ.pop('TRYTOND_CONFIG', None)
    sys.path.insert(0, ROOT)
    created = ensure_database(args)

    from trytond.pool import Pool
    from trytond.transaction import Transaction
    Pool.start()
    pool = Pool(args.db)
    pool.init()

    generator = Generator(args.seed)
    n_dup = int(args.size * args.dup_rate)
    n_base = args.size - n_dup

    with Transaction().start(args.db, 0, context={}) as transaction:
        Party = pool.get('party.party')
        Duplicate = pool.get('hitech.party.duplicate')
        cursor = transaction.connection.cursor()
        cursor.execute('SELECT COUNT(*) FROM party_party')
        existing, = cursor.fetchone()
        if existing and not created and args.keep:
            print("reusing %d accounts; ground truth regenerated" % existing)
        start = time.perf_counter()
        base = [generator.account() for _ in range(n_base)]
        originals = generator.random.sample(range(n_base), n_dup)
        dups = [generator.duplicate(base[i]) for i in originals]
        print("generated %d accounts + %d near-duplicates in %.1f s" % (
                n_base, n_dup, time.perf_counter() - start))
        if not (existing and args.keep):
            start = time.perf_counter()
            ids = insert_accounts(base + dups)
            transaction.commit()
            print("inserted by SQL in %.1f s" % (time.perf_counter() - start))
        else:
            cursor.execute("SELECT id FROM party_party WHERE code LIKE 'B%%' "
                "ORDER BY code")
            ids = [r[0] for r in cursor]
            cursor.execute('UPDATE party_party SET dedup_name = NULL')
        base_ids, dup_ids = ids[:n_base], ids[n_base:]
        truth = {tuple(sorted((base_ids[o], d)))
            for o, d in zip(originals, dup_ids)}
        kind_of = {tuple(sorted((base_ids[o], d))): dup['kind']
            for o, d, dup in zip(originals, dup_ids, dups)}

        start = time.perf_counter()
        rebuilt = Party.dedup_rebuild()
        transaction.commit()
        print("normalised names and keys of %d accounts in %.1f s" % (
                rebuilt, time.perf_counter() - start))
        cursor.execute('ANALYZE')

        # Baseline: a raw SQL scan of the accounts
        start = time.perf_counter()
        cursor.execute('SELECT id, name FROM party_party WHERE active')
        cursor.fetchall()
        scan = time.perf_counter() - start

        cursor.execute('DELETE FROM hitech_party_duplicate')
        start = time.perf_counter()
        Duplicate.find()
        finder = time.perf_counter() - start
        transaction.commit()
        cursor.execute('SELECT party_a, party_b FROM hitech_party_duplicate')
        found = {tuple(sorted(r)) for r in cursor}
        tp = len(found & truth)
        recall = tp / len(truth) if truth else 1
        precision = tp / len(found) if found else 1
        print()
        print("== Finder over %d accounts (%d injected pairs)" % (
                len(ids), len(truth)))
        print("pairs found %d, true %d" % (len(found), tp))
        print("recall    %.3f  (target >= 0.95)" % recall)
        print("precision %.3f  (target >= 0.95)" % precision)
        for kind in ['typo', 'suffix', 'full_width', 'phone']:
            pairs = {p for p in truth if kind_of[p] == kind}
            if pairs:
                print("  recall %-10s %.3f (%d pairs)" % (
                        kind, len(pairs & found) / len(pairs), len(pairs)))
        print("time      %.1f s  (target < 30 s); %.0f x a raw SQL scan "
            "of the accounts (%.2f s)" % (finder, finder / scan, scan))

        # Check on create: single new records, half of them duplicates
        r = random.Random(args.seed + 1)
        probes = []
        for i in range(args.probes):
            if i % 2:
                o = r.randrange(n_base)
                dup = generator.duplicate(base[o])
                probes.append((base_ids[o], dup))
            else:
                probes.append((None, generator.account()))
        times, stock_times, hits, expected = [], [], 0, 0
        for original, account in probes:
            values = {
                'name': account['name'],
                'contact_mechanisms': [
                    {'type': t, 'value': v}
                    for t, v in account['mechanisms']],
                'identifiers': account['identifiers'],
                }
            start = time.perf_counter()
            candidates, = Party.find_duplicates([values])
            times.append(time.perf_counter() - start)
            start = time.perf_counter()
            Party.search([('name', '=', account['name'])], limit=10)
            stock_times.append(time.perf_counter() - start)
            if original:
                expected += 1
                hits += original in [c.party.id for c in candidates]
        p95 = percentile(times, 95) * 1000
        stock_p95 = percentile(stock_times, 95) * 1000
        print()
        print("== Check on create (%d single records)" % len(probes))
        print("find_duplicates p50 %.1f ms, p95 %.1f ms (target < 50 ms)" % (
                percentile(times, 50) * 1000, p95))
        print("  p95 is %.1f x the stock Party.search on the exact name "
            "(p95 %.1f ms)" % (p95 / stock_p95, stock_p95))
        print("  duplicates found among the candidates: %d / %d (%.3f)" % (
                hits, expected, hits / expected if expected else 1))

    if not args.keep:
        from trytond.backend import Database
        Database(args.db).close()
        Pool.stop(args.db)
        subprocess.run(['dropdb', '--if-exists', args.db])


if __name__ == '__main__':
    main()
