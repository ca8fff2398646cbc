"""Working-time calendar: Chinese statutory holidays, 调休 make-up days, office hours.

All public methods take and return timezone-aware datetimes; naive ones are
refused with :class:`NaiveDatetimeError`. Results are expressed in the
calendar's own time zone (``Asia/Shanghai`` by default).

Holiday data comes from the ``chinesecalendar`` package, which only knows the
years the State Council schedule had been published for when it was
released. A date outside those years raises :class:`CalendarNotCovered`
naming the year -- it is never silently treated as an ordinary weekday. An
operator who has the official schedule of a new year before the package is
updated can declare that year in ``local_years`` and list its holidays and
make-up days in ``extra_holidays`` / ``extra_workdays``.

Conventions
-----------
* Office periods are half-open: ``[08:30, 12:00)`` and ``[14:30, 17:30)`` by
  default. ``add_working_hours`` may return the exact end of a period.
* Working days follow 《民法典》 art. 201/203: the day on which the period
  starts is not counted; the period ends when business stops (the close of
  office hours) on the N-th following working day. See
  :meth:`WorkCalendar.add_working_days`.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from numbers import Real
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar
from chinese_calendar import constants as _cc_constants

__all__ = [
    "CalendarNotCovered",
    "NaiveDatetimeError",
    "WorkCalendar",
    "DEFAULT_OFFICE_HOURS",
    "package_years",
]

DEFAULT_OFFICE_HOURS: tuple[tuple[_dt.time, _dt.time], ...] = (
    (_dt.time(8, 30), _dt.time(12, 0)),
    (_dt.time(14, 30), _dt.time(17, 30)),
)

# A calendar with no working day in this many consecutive days is broken.
_MAX_DAY_SCAN = 400


def package_years() -> tuple[int, int]:
    """First and last year the installed ``chinesecalendar`` has holiday data for."""
    years = [d.year for d in _cc_constants.holidays]
    return min(years), max(years)


#: Warn this many days before the holiday data runs out (longer than any stage's time limit).
COVERAGE_HORIZON_DAYS = 90


class CalendarNotCovered(LookupError):
    """The holiday schedule of a year is unknown, so working time cannot be computed."""

    def __init__(self, year: int, covered: tuple[int, int]):
        self.year = year
        self.covered = covered
        super().__init__(
            f"no holiday/make-up-day data for year {year}: chinesecalendar "
            f"{getattr(chinese_calendar, '__version__', '?')} covers {covered[0]}-{covered[1]}; "
            f"update the package or declare {year} in local_years with its official schedule "
            f"(工作日历缺少 {year} 年节假日安排)"
        )


class NaiveDatetimeError(ValueError):
    """A datetime without time zone was given where an absolute moment is required."""


def _require_aware(value: object, name: str) -> _dt.datetime:
    if not isinstance(value, _dt.datetime):
        raise TypeError(f"{name} must be a datetime.datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetimeError(
            f"{name} is a naive datetime ({value.isoformat()}); pass a timezone-aware datetime, "
            "e.g. datetime(..., tzinfo=ZoneInfo('Asia/Shanghai'))"
        )
    return value


def _to_timedelta(value: object, name: str) -> _dt.timedelta:
    """Accept a timedelta or a number of hours."""
    if isinstance(value, _dt.timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number of hours or a timedelta, got {value!r}")
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return _dt.timedelta(hours=float(value))


def _validate_office_hours(periods: Iterable) -> tuple[tuple[_dt.time, _dt.time], ...]:
    try:
        result = tuple(tuple(p) for p in periods)
    except TypeError as exc:
        raise ValueError("office_hours must be a list of (start, end) time pairs") from exc
    if not result:
        raise ValueError("office_hours must contain at least one (start, end) period")
    previous_end: _dt.time | None = None
    for index, period in enumerate(result):
        if len(period) != 2 or not all(isinstance(t, _dt.time) for t in period):
            raise ValueError(f"office_hours[{index}] must be a (datetime.time, datetime.time) pair, got {period!r}")
        start, end = period
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError(f"office_hours[{index}] must use naive local times (the calendar's tz applies)")
        if not start < end:
            raise ValueError(f"office_hours[{index}]: start {start} must be before end {end}")
        if previous_end is not None and start < previous_end:
            raise ValueError(
                f"office_hours[{index}] starts at {start}, before the previous period ends ({previous_end}); "
                "periods must be sorted and must not overlap"
            )
        previous_end = end
    return result  # type: ignore[return-value]


def _validate_dates(values: Iterable, name: str) -> frozenset[_dt.date]:
    result = set()
    for value in values:
        if isinstance(value, _dt.datetime) or not isinstance(value, _dt.date):
            raise TypeError(f"{name} must contain datetime.date values, got {value!r}")
        result.add(value)
    return frozenset(result)


class WorkCalendar:
    """Working days and office hours for deadline arithmetic."""

    def __init__(
        self,
        tz: str | ZoneInfo = "Asia/Shanghai",
        office_hours: Iterable[tuple[_dt.time, _dt.time]] = DEFAULT_OFFICE_HOURS,
        extra_holidays: Iterable[_dt.date] = frozenset(),
        extra_workdays: Iterable[_dt.date] = frozenset(),
        local_years: Iterable[int] = frozenset(),
    ):
        if isinstance(tz, ZoneInfo):
            self.tz = tz
        elif isinstance(tz, str):
            try:
                self.tz = ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {tz!r}") from exc
        else:
            raise TypeError(f"tz must be an IANA zone name or ZoneInfo, got {tz!r}")
        self.office_hours = _validate_office_hours(office_hours)
        self.extra_holidays = _validate_dates(extra_holidays, "extra_holidays")
        self.extra_workdays = _validate_dates(extra_workdays, "extra_workdays")
        clash = self.extra_holidays & self.extra_workdays
        if clash:
            raise ValueError(f"dates both in extra_holidays and extra_workdays: {sorted(clash)}")
        years = set()
        for year in local_years:
            if isinstance(year, bool) or not isinstance(year, int):
                raise TypeError(f"local_years must contain integers, got {year!r}")
            years.add(year)
        self.local_years = frozenset(years)
        self._package_years = package_years()

    def __repr__(self) -> str:
        return f"WorkCalendar(tz={self.tz.key!r}, office_hours={self.office_hours!r})"

    # ---- days ---------------------------------------------------------------

    def covers(self, year: int) -> bool:
        """True when the holiday schedule of ``year`` is known."""
        first, last = self._package_years
        return first <= year <= last or year in self.local_years

    def covered_through(self, day: _dt.date | _dt.datetime) -> _dt.date | None:
        """The last day of the unbroken run of covered years that starts with ``day``'s year
        (None if that year itself is not covered): deadlines can be computed up to it."""
        year = self._local_date(day).year
        if not self.covers(year):
            return None
        while self.covers(year + 1):
            year += 1
        return _dt.date(year, 12, 31)

    def coverage_warning(self, day: _dt.date | _dt.datetime, horizon_days: int = COVERAGE_HORIZON_DAYS) -> str | None:
        """A message when the holiday data ends within ``horizon_days`` of ``day`` (deadlines that
        run past it cannot be computed), else None."""
        today = self._local_date(day)
        end = self.covered_through(today)
        if end is not None and (end - today).days > horizon_days:
            return None
        until = f"节假日数据只到 {end.isoformat()}" if end else f"节假日数据不含 {today.year} 年"
        return (f"{until}：请在 routing_rules.yaml 的 calendar.local_years / extra_holidays / extra_workdays "
                f"中补录国务院公布的放假安排，否则超出该日期的时限无法计算 "
                f"(holiday data ends {end or 'before today'}; add the next year's schedule to the rules)")

    def _local_date(self, day: _dt.date | _dt.datetime, name: str = "date") -> _dt.date:
        if isinstance(day, _dt.datetime):
            return _require_aware(day, name).astimezone(self.tz).date()
        if not isinstance(day, _dt.date):
            raise TypeError(f"{name} must be a datetime.date, got {type(day).__name__}")
        return day

    def is_workday(self, day: _dt.date | _dt.datetime) -> bool:
        """Is ``day`` a working day (an aware datetime is converted to the local date)?

        Statutory holidays are rest days, 调休 weekend make-up days are working
        days; ``extra_holidays`` / ``extra_workdays`` override both.
        """
        day = self._local_date(day)
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        if day.year in self.local_years and not self._package_covers(day.year):
            return day.weekday() < 5
        if not self.covers(day.year):
            raise CalendarNotCovered(day.year, self._package_years)
        return bool(chinese_calendar.is_workday(day))

    def _package_covers(self, year: int) -> bool:
        first, last = self._package_years
        return first <= year <= last

    def next_workday(self, day: _dt.date | _dt.datetime) -> _dt.date:
        """The first working day strictly after ``day``."""
        day = self._local_date(day)
        for offset in range(1, _MAX_DAY_SCAN + 1):
            candidate = day + _dt.timedelta(days=offset)
            if self.is_workday(candidate):
                return candidate
        raise ValueError(f"no working day within {_MAX_DAY_SCAN} days after {day}; check extra_holidays")

    def office_periods(self, day: _dt.date) -> list[tuple[_dt.datetime, _dt.datetime]]:
        """Office periods of ``day`` as aware datetimes; empty on rest days."""
        day = self._local_date(day)
        if not self.is_workday(day):
            return []
        return [
            (_dt.datetime.combine(day, start, self.tz), _dt.datetime.combine(day, end, self.tz))
            for start, end in self.office_hours
        ]

    def close_of_business(self, day: _dt.date) -> _dt.datetime:
        """End of the last office period on ``day`` (whether or not it is a working day)."""
        day = self._local_date(day)
        return _dt.datetime.combine(day, self.office_hours[-1][1], self.tz)

    def is_office_time(self, moment: _dt.datetime) -> bool:
        local = _require_aware(moment, "moment").astimezone(self.tz)
        return any(start <= local < end for start, end in self.office_periods(local.date()))

    def next_opening(self, moment: _dt.datetime) -> _dt.datetime:
        """``moment`` itself if it lies in office time, else the next opening."""
        local = _require_aware(moment, "moment").astimezone(self.tz)
        day = local.date()
        for _ in range(_MAX_DAY_SCAN):
            for start, end in self.office_periods(day):
                if local < end:
                    return max(local, start)
            day += _dt.timedelta(days=1)
        raise ValueError(f"no office time within {_MAX_DAY_SCAN} days after {local}")

    # ---- arithmetic -----------------------------------------------------------

    def add_working_days(self, start: _dt.datetime, days: int) -> _dt.datetime:
        """Deadline of ``days`` working days counted from ``start``.

        The start day is not counted (《民法典》 art. 201); the deadline is the
        close of office hours (art. 203: "停止业务活动的时间") of the
        ``days``-th working day after the local date of ``start``. A start on a
        rest day therefore makes the first following working day day 1.
        ``days == 0`` means "the same working day" (当日): the close of the
        start day if it is a working day and ``start`` is before its close,
        otherwise the close of the next working day.
        """
        local = _require_aware(start, "start").astimezone(self.tz)
        if isinstance(days, bool) or not isinstance(days, int):
            raise TypeError(f"days must be a whole number of working days, got {days!r}")
        if days < 0:
            raise ValueError(f"days must not be negative, got {days}")
        day = local.date()
        if days == 0:
            if self.is_workday(day) and local < self.close_of_business(day):
                return self.close_of_business(day)
            return self.close_of_business(self.next_workday(day))
        for _ in range(days):
            day = self.next_workday(day)
        return self.close_of_business(day)

    def add_working_hours(self, start: _dt.datetime, hours: float | _dt.timedelta) -> _dt.datetime:
        """The moment when ``hours`` of office time have elapsed after ``start``.

        Only office-hour minutes on working days count; a start outside office
        hours starts counting at the next opening. A result that falls exactly
        on the end of a period is returned as that end (not the next opening).
        Zero hours returns ``start`` unchanged.
        """
        local = _require_aware(start, "start").astimezone(self.tz)
        remaining = _to_timedelta(hours, "hours")
        if remaining < _dt.timedelta(0):
            raise ValueError(f"hours must not be negative, got {hours!r}")
        if not remaining:
            return local
        day = local.date()
        idle_days = 0
        while True:
            periods = self.office_periods(day)
            for open_, close in periods:
                if local >= close:
                    continue
                begin = max(local, open_)
                available = close - begin
                if remaining <= available:
                    return begin + remaining
                remaining -= available
            idle_days = 0 if periods else idle_days + 1
            if idle_days > _MAX_DAY_SCAN:
                raise ValueError(f"no office time within {_MAX_DAY_SCAN} days; check extra_holidays")
            day += _dt.timedelta(days=1)

    def add_natural_hours(self, start: _dt.datetime, hours: float | _dt.timedelta) -> _dt.datetime:
        """``start`` plus elapsed (absolute) time, regardless of calendar; result in local time."""
        moment = _require_aware(start, "start")
        delta = _to_timedelta(hours, "hours")
        utc = moment.astimezone(_dt.timezone.utc) + delta
        return utc.astimezone(self.tz)

    def working_time_between(self, a: _dt.datetime, b: _dt.datetime) -> _dt.timedelta:
        """Office time elapsed from ``a`` to ``b`` (negative when ``b`` is before ``a``)."""
        a = _require_aware(a, "a").astimezone(self.tz)
        b = _require_aware(b, "b").astimezone(self.tz)
        if b < a:
            return -self.working_time_between(b, a)
        total = _dt.timedelta(0)
        day = a.date()
        last = b.date()
        while day <= last:
            for open_, close in self.office_periods(day):
                begin, end = max(open_, a), min(close, b)
                if begin < end:
                    total += end - begin
            day += _dt.timedelta(days=1)
        return total
