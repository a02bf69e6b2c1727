# This file is part of HiTech CRM. See LICENSE for details.
import datetime as dt

from trytond.cache import Cache
from trytond.i18n import gettext
from trytond.model import (
    DeactivableMixin, ModelSQL, ModelView, fields, sequence_ordered)
from trytond.modules.company.company import TIMEZONES
from trytond.pool import Pool
from trytond.pyson import Eval, Get, If, In
from trytond.transaction import Transaction

from .exceptions import CalendarError, CalendarWarning
from .worktime import DAY, Schedule, ScheduleError, time_to_minute

WEEKDAYS = [
    ('0', "Monday"),
    ('1', "Tuesday"),
    ('2', "Wednesday"),
    ('3', "Thursday"),
    ('4', "Friday"),
    ('5', "Saturday"),
    ('6', "Sunday"),
    ]
DEFAULT_START = 9 * 60


class Calendar(DeactivableMixin, ModelSQL, ModelView):
    "Service Calendar"
    __name__ = 'hitech.service.calendar'

    name = fields.Char("Name", required=True, translate=True)
    company = fields.Many2One(
        'company.company', "Company", required=True,
        domain=[
            ('id', If(In('company', Eval('context', {})), '=', '!='),
                Get(Eval('context', {}), 'company', 0)),
            ],
        help="The company whose service desk works these hours.")
    timezone = fields.Selection(
        TIMEZONES, "Timezone", required=True, translate=False,
        help="The opening hours and exception dates are local to this "
        "timezone.")
    intervals = fields.One2Many(
        'hitech.service.calendar.interval', 'calendar', "Opening Hours",
        help="The weekly opening intervals. An interval cannot cross "
        "midnight: split it into two days.")
    exceptions = fields.One2Many(
        'hitech.service.calendar.exception', 'calendar', "Exceptions",
        help="Holidays (no hours: closed all day) and dates with special "
        "opening hours.")
    weekly_hours = fields.Function(
        fields.Float("Hours per Week", digits=(16, 2),
            help="The business hours of a week without exceptions."),
        'get_weekly_hours')
    company_weekly_hours = fields.Function(
        fields.Float("Company Hours per Week", digits=(16, 2),
            help="The company's hours per work week (Company > Work "
            "Time); the calendar warns when they differ."),
        'get_company_weekly_hours')

    _schedule_cache = Cache('hitech.service.calendar.schedule', context=False)

    @classmethod
    def default_company(cls):
        return Transaction().context.get('company')

    @classmethod
    def default_timezone(cls):
        pool = Pool()
        Company = pool.get('company.company')
        company = cls.default_company()
        if company:
            company = Company(company)
            if company.timezone:
                return company.timezone
        return 'UTC'

    @classmethod
    def default_intervals(cls):
        """Default to the company's work time: hours_per_work_day from 09:00
        on as many weekdays (from Monday) as hours_per_work_week holds"""
        pool = Pool()
        Company = pool.get('company.company')
        company = cls.default_company()
        day, week = 8.0, 40.0
        if company:
            company = Company(company)
            day = company.hours_per_work_day or day
            week = company.hours_per_work_week or week
        minutes = min(int(round(day * 60)), DAY - DEFAULT_START)
        days = min(int(round(week / day)) if day else 5, 7)
        end = DEFAULT_START + minutes
        return [{
                'weekday': str(d),
                'start_time': dt.time(DEFAULT_START // 60),
                'end_time': (dt.time(end // 60, end % 60)
                    if end < DAY else dt.time(0)),
                } for d in range(days)]

    def get_weekly_hours(self, name):
        return sum(i.duration for i in self.intervals) / 60

    @classmethod
    def get_company_weekly_hours(cls, calendars, name):
        return {c.id: c.company.hours_per_work_week for c in calendars}

    @classmethod
    def validate_fields(cls, calendars, field_names):
        super().validate_fields(calendars, field_names)
        pool = Pool()
        Warning = pool.get('res.user.warning')
        for calendar in calendars:
            try:
                calendar.get_schedule()
            except ScheduleError:
                raise CalendarError(gettext(
                        'hitech_service.msg_calendar_no_hours',
                        calendar=calendar.rec_name))
            company_hours = calendar.company.hours_per_work_week
            if (company_hours
                    and abs(calendar.weekly_hours - company_hours) > 0.01):
                key = Warning.format('calendar_company_hours', [calendar])
                if Warning.check(key):
                    raise CalendarWarning(key, gettext(
                            'hitech_service.msg_calendar_company_hours',
                            calendar=calendar.rec_name,
                            hours=round(calendar.weekly_hours, 2),
                            company_hours=company_hours))

    @classmethod
    def on_modification(cls, mode, calendars, field_names=None):
        super().on_modification(mode, calendars, field_names=field_names)
        cls._schedule_cache.clear()

    def _schedule_values(self):
        weekly = {}
        for interval in self.intervals:
            weekly.setdefault(int(interval.weekday), []).append(
                interval.minutes)
        exceptions = {}
        for exception in self.exceptions:
            hours = exceptions.setdefault(exception.date, [])
            if exception.start_time is not None and exception.end_time:
                hours.append(exception.minutes)
        return weekly, exceptions, self.timezone

    def get_schedule(self):
        "Return the worktime.Schedule of the calendar"
        key = self.id if self.id is not None and self.id >= 0 else None
        if key is not None:
            schedule = self._schedule_cache.get(key)
            if schedule is not None:
                return schedule
        schedule = Schedule(*self._schedule_values())
        if key is not None:
            self._schedule_cache.set(key, schedule)
        return schedule

    def add_business_time(self, timestamp, delta):
        "Return the timestamp delta of business time after timestamp"
        return self.get_schedule().add(timestamp, delta)

    def business_time(self, start, end):
        "Return the business time between two timestamps as a timedelta"
        return self.get_schedule().between(start, end)


class _HoursMixin:
    __slots__ = ()
    start_time = fields.Time("From", format='%H:%M')
    end_time = fields.Time("To", format='%H:%M',
        help="00:00 means midnight at the end of the day.")
    duration = fields.Function(
        fields.Integer("Minutes"), 'get_duration')

    @property
    def minutes(self):
        return (time_to_minute(self.start_time),
            time_to_minute(self.end_time, end=True))

    def get_duration(self, name):
        if self.start_time is None or self.end_time is None:
            return 0
        start, end = self.minutes
        return max(end - start, 0)

    @classmethod
    def validate_fields(cls, records, field_names):
        super().validate_fields(records, field_names)
        for record in records:
            if record.start_time is None and record.end_time is None:
                continue
            if record.start_time is None or record.end_time is None:
                raise CalendarError(gettext(
                        'hitech_service.msg_calendar_interval_incomplete',
                        interval=record.rec_name))
            start, end = record.minutes
            if not start < end:
                raise CalendarError(gettext(
                        'hitech_service.msg_calendar_interval_midnight',
                        interval=record.rec_name))

    @classmethod
    def on_modification(cls, mode, records, field_names=None):
        super().on_modification(mode, records, field_names=field_names)
        Pool().get('hitech.service.calendar')._schedule_cache.clear()


class CalendarInterval(_HoursMixin, sequence_ordered(), ModelSQL, ModelView):
    "Service Calendar Opening Interval"
    __name__ = 'hitech.service.calendar.interval'

    calendar = fields.Many2One(
        'hitech.service.calendar', "Calendar", required=True,
        ondelete='CASCADE')
    weekday = fields.Selection(WEEKDAYS, "Weekday", required=True,
        sort=False)
    weekday_string = weekday.translated('weekday')

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'calendar'})
        cls.start_time.required = True
        cls.end_time.required = True
        cls._order = [
            ('calendar', 'ASC'),
            ('weekday', 'ASC'),
            ('start_time', 'ASC'),
            ('id', 'ASC'),
            ]

    def get_rec_name(self, name):
        return '%s %s-%s' % (
            self.weekday_string,
            self.start_time.strftime('%H:%M') if self.start_time else '',
            self.end_time.strftime('%H:%M') if self.end_time else '')


class CalendarException(_HoursMixin, ModelSQL, ModelView):
    "Service Calendar Exception"
    __name__ = 'hitech.service.calendar.exception'

    calendar = fields.Many2One(
        'hitech.service.calendar', "Calendar", required=True,
        ondelete='CASCADE')
    date = fields.Date("Date", required=True)
    name = fields.Char("Name", help="For example the holiday's name.")

    @classmethod
    def __setup__(cls):
        super().__setup__()
        cls.__access__.update({'calendar'})
        cls.start_time.help = ("Leave the hours empty to close the whole "
            "day; several lines on one date add their hours.")
        cls._order = [
            ('calendar', 'ASC'), ('date', 'ASC'), ('id', 'ASC')]

    def get_rec_name(self, name):
        return '%s %s' % (self.date, self.name or '')
