# This file is part of HiTech CRM. See LICENSE for details.
"""Business-time arithmetic on a weekly schedule, without the ORM.

Timestamps are naive UTC datetimes (as Tryton stores them); opening hours
are local to the schedule's timezone.  An interval never crosses midnight:
``(start, end)`` are minutes from local midnight with ``0 <= start < end
<= 1440`` (1440 meaning the end of the day), so "22:00-02:00" is written as
two intervals on two weekdays.
"""
import datetime as dt
from functools import lru_cache

from trytond.tools.timezone import UTC, get_tzinfo

DAY = 1440
# far enough for any target, bounded so a closed calendar cannot loop
MAX_DAYS = 3 * 366


class ScheduleError(ValueError):
    pass


def _merge(intervals):
    "Return sorted, merged intervals, checking their bounds"
    result = []
    for start, end in sorted(intervals):
        if not (0 <= start < end <= DAY):
            raise ScheduleError(
                "invalid interval %r-%r: 0 <= start < end <= 1440"
                % (start, end))
        if result and start <= result[-1][1]:
            result[-1] = (result[-1][0], max(result[-1][1], end))
        else:
            result.append((start, end))
    return tuple(result)


class Schedule:
    """Weekly opening intervals with exception dates.

    weekly: {weekday (0 = Monday): [(start_minute, end_minute), ...]}
    exceptions: {date: [(start_minute, end_minute), ...]} replaces the
        weekday's intervals on that date; an empty list closes the day
        (a holiday).
    timezone: an IANA name such as 'Asia/Shanghai'.
    """

    def __init__(self, weekly, exceptions=None, timezone='UTC'):
        self.weekly = {d: _merge(weekly.get(d, ())) for d in range(7)}
        self.exceptions = {
            d: _merge(i) for d, i in (exceptions or {}).items()}
        self.timezone = timezone or 'UTC'
        self.tzinfo = get_tzinfo(self.timezone)
        self.week_minutes = sum(
            e - s for i in self.weekly.values() for s, e in i)
        if not self.week_minutes and not any(self.exceptions.values()):
            raise ScheduleError("the schedule has no opening hours")
        self._day_cache = {}

    def intervals(self, date):
        "Return the opening intervals of a local date"
        if date in self.exceptions:
            return self.exceptions[date]
        return self.weekly[date.weekday()]

    def _to_local(self, timestamp):
        return timestamp.replace(tzinfo=UTC).astimezone(self.tzinfo)

    def _to_utc(self, date, minute):
        local = dt.datetime.combine(date, dt.time()) + dt.timedelta(
            minutes=minute)
        return local.replace(tzinfo=self.tzinfo).astimezone(UTC).replace(
            tzinfo=None)

    def _day_spans(self, date):
        """Return the opening spans of a local date as naive UTC
        (start, end) pairs"""
        spans = self._day_cache.get(date)
        if spans is None:
            spans = self._day_cache[date] = tuple(
                (self._to_utc(date, s), self._to_utc(date, e))
                for s, e in self.intervals(date))
        return spans

    def _local_date(self, timestamp):
        return self._to_local(timestamp).date()

    def add(self, timestamp, delta):
        """Return the naive UTC timestamp reached after delta (a timedelta)
        of business time from timestamp"""
        if delta < dt.timedelta(0):
            raise ScheduleError("negative business time")
        remaining = delta
        cursor = timestamp
        date = self._local_date(timestamp)
        for _ in range(MAX_DAYS):
            for start, end in self._day_spans(date):
                if end <= cursor:
                    continue
                start = max(start, cursor)
                if remaining <= end - start:
                    if not remaining:
                        return start
                    return start + remaining
                remaining -= end - start
                cursor = end
            date += dt.timedelta(days=1)
        raise ScheduleError("no opening hours within %d days" % MAX_DAYS)

    def add_minutes(self, timestamp, minutes):
        return self.add(timestamp, dt.timedelta(minutes=minutes))

    def between(self, start, end):
        """Return the business time (a timedelta) elapsed from start to end;
        zero when end is before start"""
        total = dt.timedelta(0)
        if end <= start:
            return total
        date = self._local_date(start)
        last = self._local_date(end)
        while date <= last:
            for s, e in self._day_spans(date):
                s, e = max(s, start), min(e, end)
                if e > s:
                    total += e - s
            date += dt.timedelta(days=1)
        return total

    def minutes_between(self, start, end):
        return self.between(start, end).total_seconds() / 60

    # set-based helpers: one schedule, many timestamps (the day spans are
    # cached on the schedule so a batch pays each day once)
    def add_many(self, pairs):
        "Return the deadlines of (timestamp, timedelta) pairs"
        return [self.add(t, d) for t, d in pairs]

    def between_many(self, pairs):
        "Return the business time of (start, end) pairs"
        return [self.between(s, e) for s, e in pairs]


def time_to_minute(value, end=False):
    """Return the minutes from midnight of a datetime.time; with end, 00:00
    means the end of the day"""
    minute = value.hour * 60 + value.minute
    if end and minute == 0:
        return DAY
    return minute


@lru_cache(maxsize=64)
def cached_schedule(key, weekly, exceptions, timezone):
    "Return a Schedule for hashable arguments (key identifies a version)"
    return Schedule(
        {d: list(i) for d, i in weekly},
        {d: list(i) for d, i in exceptions}, timezone)
