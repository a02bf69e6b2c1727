# This file is part of HiTech CRM. See LICENSE for details.
"Business-time arithmetic, without a database"
import datetime as dt
import unittest

from trytond.modules.hitech_service.worktime import Schedule, ScheduleError

H = dt.timedelta(hours=1)
M = dt.timedelta(minutes=1)


def office(timezone='UTC', exceptions=None):
    "09:00-12:00 and 13:00-18:00, Monday to Friday"
    return Schedule(
        {d: [(9 * 60, 12 * 60), (13 * 60, 18 * 60)] for d in range(5)},
        exceptions, timezone)


class WorktimeTestCase(unittest.TestCase):
    "Add business time and measure it between two timestamps"

    def test_add_within_day(self):
        s = office()
        self.assertEqual(
            s.add(dt.datetime(2026, 12, 1, 9, 30), 2 * H),
            dt.datetime(2026, 12, 1, 11, 30))

    def test_add_skips_lunch(self):
        s = office()
        self.assertEqual(
            s.add(dt.datetime(2026, 12, 1, 11), 2 * H),
            dt.datetime(2026, 12, 1, 14))

    def test_add_over_weekend(self):
        "Friday 17:00 + 4 h: 1 h on Friday, 3 h on Monday"
        s = office()
        self.assertEqual(
            s.add(dt.datetime(2026, 12, 4, 17), 4 * H),
            dt.datetime(2026, 12, 7, 12))

    def test_add_from_closed_time(self):
        "Saturday night starts counting on Monday 09:00"
        s = office()
        self.assertEqual(
            s.add(dt.datetime(2026, 12, 5, 23), 30 * M),
            dt.datetime(2026, 12, 7, 9, 30))
        self.assertEqual(
            s.add(dt.datetime(2026, 12, 5, 23), dt.timedelta(0)),
            dt.datetime(2026, 12, 7, 9))

    def test_add_exact_end(self):
        "Reaching the end of an interval stops there, not at the next"
        s = office()
        self.assertEqual(
            s.add(dt.datetime(2026, 12, 1, 9), 3 * H),
            dt.datetime(2026, 12, 1, 12))

    def test_add_holiday(self):
        "A holiday on Monday pushes to Tuesday"
        s = office(exceptions={dt.date(2026, 12, 7): []})
        self.assertEqual(
            s.add(dt.datetime(2026, 12, 4, 17), 4 * H),
            dt.datetime(2026, 12, 8, 12))

    def test_add_special_hours(self):
        "An exception date with its own hours replaces the weekday's"
        s = office(exceptions={dt.date(2026, 12, 5): [(10 * 60, 12 * 60)]})
        self.assertEqual(
            s.add(dt.datetime(2026, 12, 4, 17), 4 * H),
            dt.datetime(2026, 12, 7, 10))

    def test_shanghai(self):
        "Asia/Shanghai (UTC+8, no DST): local hours map to UTC - 8 h"
        s = office('Asia/Shanghai')
        # Friday 17:00 in Shanghai is 09:00 UTC
        self.assertEqual(
            s.add(dt.datetime(2026, 12, 4, 9), 4 * H),
            dt.datetime(2026, 12, 7, 4))
        # Monday 09:00 Shanghai = Monday 01:00 UTC, which is Sunday 17:00
        # UTC's day: the local date decides
        self.assertEqual(
            s.add(dt.datetime(2026, 12, 6, 20), H),
            dt.datetime(2026, 12, 7, 2))

    def test_dst(self):
        "Europe/Paris: the hours stay local across the DST change"
        s = office('Europe/Paris')
        # Friday 27 March 2026 17:00 CET = 16:00 UTC; Monday 30 March
        # 12:00 CEST = 10:00 UTC
        self.assertEqual(
            s.add(dt.datetime(2026, 3, 27, 16), 4 * H),
            dt.datetime(2026, 3, 30, 10))
        self.assertEqual(
            s.between(dt.datetime(2026, 3, 27, 16),
                dt.datetime(2026, 3, 30, 10)), 4 * H)

    def test_overnight(self):
        "A night shift 22:00-02:00 is two intervals on two days"
        s = Schedule({0: [(22 * 60, 1440)], 1: [(0, 2 * 60)]})
        self.assertEqual(
            s.add(dt.datetime(2026, 11, 30, 23), 2 * H),
            dt.datetime(2026, 12, 1, 1))
        self.assertEqual(
            s.between(dt.datetime(2026, 11, 30, 21),
                dt.datetime(2026, 12, 1, 3)), 4 * H)

    def test_interval_crossing_midnight_refused(self):
        with self.assertRaises(ScheduleError):
            Schedule({0: [(22 * 60, 2 * 60)]})

    def test_closed_schedule_refused(self):
        with self.assertRaises(ScheduleError):
            Schedule({})

    def test_between(self):
        s = office()
        self.assertEqual(
            s.between(dt.datetime(2026, 12, 4, 17),
                dt.datetime(2026, 12, 7, 12)), 4 * H)
        self.assertEqual(
            s.between(dt.datetime(2026, 12, 5), dt.datetime(2026, 12, 6)),
            dt.timedelta(0))
        self.assertEqual(
            s.between(dt.datetime(2026, 12, 7, 12),
                dt.datetime(2026, 12, 4, 17)), dt.timedelta(0))
        self.assertEqual(
            s.minutes_between(dt.datetime(2026, 12, 1, 11, 30),
                dt.datetime(2026, 12, 1, 13, 15)), 45)

    def test_between_inverts_add(self):
        s = office('Asia/Shanghai', {dt.date(2026, 12, 25): []})
        start = dt.datetime(2026, 12, 20, 3, 17)
        for hours in [0.5, 3, 9, 17, 40, 123]:
            end = s.add(start, hours * H)
            self.assertEqual(s.between(start, end), hours * H)

    def test_many(self):
        s = office()
        pairs = [(dt.datetime(2026, 12, 4, 17), 4 * H),
            (dt.datetime(2026, 12, 1, 9), H)]
        self.assertEqual(s.add_many(pairs), [
                dt.datetime(2026, 12, 7, 12), dt.datetime(2026, 12, 1, 10)])
        self.assertEqual(
            s.between_many([(a, s.add(a, d)) for a, d in pairs]),
            [4 * H, H])
