"""Working-time calendar: Chinese statutory holidays, 调休 make-up days, office hours.

All public methods take and return timezone-aware datetimes; naive ones are
refused with :class:`NaiveDatetimeError`. Results are expressed in the
calendar's own time zone (``Asia/Shanghai`` by default).

Holiday data comes from the ``holidays`` package (python-holidays, released monthly;
decision 0007). Its China calendar holds the State Council's official schedules
(放假安排 with their 调休 make-up working days) for every year it has been updated for,
and computes any later year by rule (the statutory holidays, weekend holidays moved to
the next working day, no make-up days). A year is therefore either

* **official** -- the package has that year's published schedule, or the operator
  declared the year in ``local_years`` and entered its schedule in
  ``extra_holidays`` / ``extra_workdays``; or
* **estimated** (推定) -- computed by rule. Deadlines that run through an estimated
  year are still computed, never refused; :meth:`WorkCalendar.depends_on_estimate`
  says so, and the caller marks them provisional (预计) so that they can be
  recomputed once the official schedule is known.

Only a year outside what the package can compute at all (before 1950, after 2100)
raises :class:`CalendarNotCovered`.

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
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Real
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as _holidays
from holidays.countries.china import ChinaStaticHolidays as _ChinaSchedules

__all__ = [
    "CalendarCoverage",
    "CalendarNotCovered",
    "NaiveDatetimeError",
    "WorkCalendar",
    "DEFAULT_OFFICE_HOURS",
    "COMPUTABLE_YEARS",
    "official_package_years",
    "package_version",
]

DEFAULT_OFFICE_HOURS: tuple[tuple[_dt.time, _dt.time], ...] = (
    (_dt.time(8, 30), _dt.time(12, 0)),
    (_dt.time(14, 30), _dt.time(17, 30)),
)

# A calendar with no working day in this many consecutive days is broken.
_MAX_DAY_SCAN = 400


#: Years the ``holidays`` package can compute China's calendar for (its lunar tables).
COMPUTABLE_YEARS = (1950, 2100)


def package_version() -> str:
    return getattr(_holidays, "__version__", "?")


def official_package_years() -> frozenset[int]:
    """Years whose official State Council schedule the installed ``holidays`` package holds.

    Every published schedule since 2001 moves at least one day (调休), so the package lists each
    official year among its special (substituted) days; a year it does not list is computed by
    rule only. This is the one place that reads that table.
    """
    return frozenset(_ChinaSchedules.special_public_holidays)


#: Warn this many days before deadlines start running into an estimated year (longer than any
#: stage's time limit).
COVERAGE_HORIZON_DAYS = 90


def _ranges(years: Iterable[int]) -> str:
    """``2001–2026, 2028`` for a set of years."""
    out, run = [], []
    for year in sorted(years):
        if run and year == run[-1] + 1:
            run.append(year)
            continue
        if run:
            out.append(f"{run[0]}–{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [year]
    if run:
        out.append(f"{run[0]}–{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)


@dataclass(frozen=True)
class CalendarCoverage:
    """Which years' holiday schedules are official and from which year on they are estimated."""

    source: str                    # e.g. "holidays 0.109"
    official: str                  # e.g. "2001–2026"
    local_years: tuple[int, ...]   # years the operator entered in routing_rules.yaml
    estimated_from: int | None     # first year after the current one that is estimated, if any
    fingerprint: str               # changes whenever the data a deadline depends on changes

    def as_dict(self) -> dict:
        return {"source": self.source, "official_years": self.official, "local_years": list(self.local_years),
                "estimated_from": self.estimated_from}

    def describe(self) -> str:
        text = f"节假日数据来源 {self.source}；正式安排年份 {self.official}"
        if self.local_years:
            text += f"（其中本地录入 {_ranges(self.local_years)}）"
        if self.estimated_from is not None:
            text += f"；{self.estimated_from} 年起为推定安排，涉及的时限标为“预计”"
        return text


class CalendarNotCovered(LookupError):
    """The calendar of a year cannot be computed at all (outside 1950–2100)."""

    def __init__(self, year: int, covered: tuple[int, int] = COMPUTABLE_YEARS):
        self.year = year
        self.covered = covered
        super().__init__(
            f"no holiday data can be computed for year {year}: the holidays package covers "
            f"{covered[0]}-{covered[1]} (工作日历无法计算 {year} 年)"
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
        official_years: Iterable[int] | None = None,
    ):
        """``official_years``: the years whose State Council schedule is published (default: those
        the installed ``holidays`` package holds); tests pin it to make a year estimated."""
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
        self._official_package_years = (official_package_years() if official_years is None
                                        else frozenset(official_years))
        self._rest_days: dict[int, tuple[frozenset[_dt.date], frozenset[_dt.date]]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"WorkCalendar(tz={self.tz.key!r}, office_hours={self.office_hours!r})"

    # ---- which years are known ------------------------------------------------

    def covers(self, year: int) -> bool:
        """True when working days of ``year`` can be computed (officially or estimated)."""
        return COMPUTABLE_YEARS[0] <= year <= COMPUTABLE_YEARS[1] or year in self.local_years

    def is_official(self, year: int) -> bool:
        """True when the official schedule of ``year`` is known (package data or local entries)."""
        return year in self._official_package_years or year in self.local_years

    def is_estimated(self, year: int) -> bool:
        """True when ``year`` is computed by rule only (推定): its deadlines are provisional."""
        return self.covers(year) and not self.is_official(year)

    def depends_on_estimate(self, start: _dt.date | _dt.datetime, end: _dt.date | _dt.datetime) -> bool:
        """Whether working time from ``start`` to ``end`` touches an estimated year, so that a
        deadline computed across it is provisional (预计)."""
        first, last = sorted((self._local_date(start, "start").year, self._local_date(end, "end").year))
        return any(self.is_estimated(year) for year in range(first, last + 1))

    def coverage(self, day: _dt.date | _dt.datetime) -> CalendarCoverage:
        """Official and estimated years as seen on ``day`` (for ``/readyz`` and the start-up log)."""
        today = self._local_date(day)
        official = {y for y in self._official_package_years | self.local_years}
        estimated_from = next((y for y in range(today.year, COMPUTABLE_YEARS[1] + 1) if self.is_estimated(y)), None)
        fingerprint = "|".join([
            package_version(), _ranges(official), ",".join(sorted(d.isoformat() for d in self.extra_holidays)),
            ",".join(sorted(d.isoformat() for d in self.extra_workdays)), repr(self.office_hours), self.tz.key,
        ])
        return CalendarCoverage(f"holidays {package_version()}", _ranges(official), tuple(sorted(self.local_years)),
                                estimated_from, fingerprint)

    def coverage_warning(self, day: _dt.date | _dt.datetime, horizon_days: int = COVERAGE_HORIZON_DAYS) -> str | None:
        """A notice when deadlines within ``horizon_days`` of ``day`` run into an estimated year
        (they are computed and marked 预计, never refused), else None."""
        today = self._local_date(day)
        horizon = today + _dt.timedelta(days=horizon_days)
        years = [y for y in range(today.year, horizon.year + 1) if self.is_estimated(y)]
        if not years:
            return None
        return (f"{_ranges(years)} 年的节假日安排尚未正式公布（或未录入），涉及该年的办理时限按推定日历计算并标为“预计”；"
                f"国务院公布后请升级 holidays 包或在 routing_rules.yaml 的 calendar.local_years / extra_holidays / "
                f"extra_workdays 中录入，预计时限将自动重算 "
                f"(holiday schedule of {_ranges(years)} is estimated; deadlines there are provisional)")

    # ---- days -------------------------------------------------------------------

    def _local_date(self, day: _dt.date | _dt.datetime, name: str = "date") -> _dt.date:
        if isinstance(day, _dt.datetime):
            return _require_aware(day, name).astimezone(self.tz).date()
        if not isinstance(day, _dt.date):
            raise TypeError(f"{name} must be a datetime.date, got {type(day).__name__}")
        return day

    def _package_days(self, year: int) -> tuple[frozenset[_dt.date], frozenset[_dt.date]]:
        """Rest days on weekdays and working weekend days (调休) of ``year`` from the package,
        computed once per year (the package fills its tables lazily; this keeps threads apart)."""
        days = self._rest_days.get(year)
        if days is None:
            with self._lock:
                days = self._rest_days.get(year)
                if days is None:
                    # the next year too: its schedule may make a late-December weekend day of this
                    # year a working day (2005-12-31 for 2006's New Year)
                    china = _holidays.China(years=(year, year + 1))
                    days = (frozenset(d for d in china if d.year == year),
                            frozenset(d for d in china.weekend_workdays if d.year == year))
                    self._rest_days[year] = days
        return days

    def is_workday(self, day: _dt.date | _dt.datetime) -> bool:
        """Is ``day`` a working day (an aware datetime is converted to the local date)?

        Statutory holidays are rest days, 调休 weekend make-up days are working
        days; ``extra_holidays`` / ``extra_workdays`` override both. A year in
        ``local_years`` that the package has no official schedule for is the operator's:
        weekdays work unless listed in ``extra_holidays``.
        """
        day = self._local_date(day)
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        year = day.year
        if year in self.local_years and year not in self._official_package_years:
            return day.weekday() < 5
        if not self.covers(year):
            raise CalendarNotCovered(year)
        rest, weekend_work = self._package_days(year)
        if day in weekend_work:
            return True
        return day.weekday() < 5 and day not in rest

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
