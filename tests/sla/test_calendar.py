"""WorkCalendar against the real 2025/2026 State Council schedules.

Expected dates are those of the State Council notices (国务院办公厅关于2025年/2026年部分节假日
安排的通知), as the ``holidays`` package holds them; ``test_package_data_matches_expectations``
fails first if a package update changes them, and every day from 2004 to the last year both
sources know is checked against the independent ``chinesecalendar`` package.
"""

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.sla import CalendarNotCovered, NaiveDatetimeError, WorkCalendar, official_package_years

TZ = ZoneInfo("Asia/Shanghai")


def at(y, m, d, hh=0, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=TZ)


def days(start, end):
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


# Rest days and 调休 make-up working days from the package data.
NATIONAL_DAY_2025_OFF = days(date(2025, 10, 1), date(2025, 10, 8))  # 国庆 + 中秋 (10-06)
NATIONAL_DAY_2025_MAKEUP = [date(2025, 9, 28), date(2025, 10, 11)]  # Sunday, Saturday
SPRING_2026_OFF = days(date(2026, 2, 15), date(2026, 2, 23))
SPRING_2026_MAKEUP = [date(2026, 2, 14), date(2026, 2, 28)]  # Saturdays
LABOUR_2026_OFF = days(date(2026, 5, 1), date(2026, 5, 5))
LABOUR_2026_MAKEUP = [date(2026, 5, 9)]  # Saturday


@pytest.fixture
def cal():
    return WorkCalendar()


def test_package_data_matches_expectations():
    import holidays

    china = holidays.China(years=(2025, 2026))
    for d in NATIONAL_DAY_2025_OFF + SPRING_2026_OFF + LABOUR_2026_OFF:
        assert d in china or d.weekday() >= 5, d
    for d in NATIONAL_DAY_2025_MAKEUP + SPRING_2026_MAKEUP + LABOUR_2026_MAKEUP:
        assert d in china.weekend_workdays and d.weekday() >= 5, d
    official = official_package_years()
    assert set(range(2001, 2027)) <= official


def test_every_day_agrees_with_chinesecalendar():
    """Two independent transcriptions of the State Council notices give the same working days,
    except 2005-12-31: a Saturday that the 2006 notice made a working day (元旦 1月1日至3日放假，
    12月31日（星期六）上班), which chinesecalendar lists as a rest day."""
    from chinese_calendar.constants import holidays as cc_holidays

    cal = WorkCalendar()
    last = min(max(d.year for d in cc_holidays), max(official_package_years()))
    differ = [d for d in days(date(2004, 1, 1), date(last, 12, 31)) if cal.is_workday(d) != chinese_calendar.is_workday(d)]
    assert differ == [date(2005, 12, 31)]


@pytest.mark.parametrize(
    "off, makeup",
    [
        (NATIONAL_DAY_2025_OFF, NATIONAL_DAY_2025_MAKEUP),
        (SPRING_2026_OFF, SPRING_2026_MAKEUP),
        (LABOUR_2026_OFF, LABOUR_2026_MAKEUP),
    ],
    ids=["national-day-2025", "spring-festival-2026", "labour-day-2026"],
)
def test_holidays_are_rest_days_and_makeup_weekends_are_workdays(cal, off, makeup):
    for d in off:
        assert not cal.is_workday(d), d
    for d in makeup:
        assert cal.is_workday(d), d


def test_ordinary_weekend_and_weekday(cal):
    assert not cal.is_workday(date(2025, 10, 12))  # Sunday after the make-up Saturday
    assert cal.is_workday(date(2025, 10, 9))
    assert cal.is_workday(date(2026, 11, 27))  # Friday
    assert not cal.is_workday(date(2026, 11, 28))  # Saturday


def test_aware_datetime_uses_local_date(cal):
    # 2025-09-30 23:00 UTC is 2025-10-01 07:00 in Beijing: a holiday.
    assert not cal.is_workday(datetime(2025, 9, 30, 23, 0, tzinfo=timezone.utc))
    assert cal.is_workday(datetime(2025, 9, 30, 15, 0, tzinfo=timezone.utc))


def test_next_workday(cal):
    assert cal.next_workday(date(2025, 9, 30)) == date(2025, 10, 9)
    assert cal.next_workday(date(2025, 9, 27)) == date(2025, 9, 28)  # Sat -> make-up Sunday
    assert cal.next_workday(date(2026, 2, 13)) == date(2026, 2, 14)
    assert cal.next_workday(date(2026, 2, 14)) == date(2026, 2, 24)
    assert cal.next_workday(date(2026, 4, 30)) == date(2026, 5, 6)


def test_working_days_friday_evening_before_national_day_2025(cal):
    start = at(2025, 9, 26, 19, 0)  # Friday evening
    expected = [
        date(2025, 9, 28),  # make-up Sunday is working day 1
        date(2025, 9, 29),
        date(2025, 9, 30),
        date(2025, 10, 9),
        date(2025, 10, 10),
        date(2025, 10, 11),  # make-up Saturday
        date(2025, 10, 13),
    ]
    for n, day in enumerate(expected, start=1):
        assert cal.add_working_days(start, n) == datetime.combine(day, time(17, 30), TZ), n


def test_working_days_spring_festival_2026(cal):
    start = at(2026, 2, 13, 10, 0)  # Friday before the holiday
    assert cal.add_working_days(start, 1) == at(2026, 2, 14, 17, 30)
    assert cal.add_working_days(start, 2) == at(2026, 2, 24, 17, 30)
    assert cal.add_working_days(start, 5) == at(2026, 2, 27, 17, 30)
    assert cal.add_working_days(start, 6) == at(2026, 2, 28, 17, 30)


def test_working_days_labour_day_2026(cal):
    start = at(2026, 4, 30, 15, 0)
    assert cal.add_working_days(start, 1) == at(2026, 5, 6, 17, 30)
    assert cal.add_working_days(start, 3) == at(2026, 5, 8, 17, 30)
    assert cal.add_working_days(start, 4) == at(2026, 5, 9, 17, 30)  # make-up Saturday
    assert cal.add_working_days(start, 5) == at(2026, 5, 11, 17, 30)


def test_working_days_start_day_not_counted(cal):
    assert cal.add_working_days(at(2026, 11, 23, 8, 0), 1) == at(2026, 11, 24, 17, 30)
    assert cal.add_working_days(at(2026, 11, 23, 23, 59), 1) == at(2026, 11, 24, 17, 30)
    # start on a rest day: first working day after it is day 1
    assert cal.add_working_days(at(2026, 11, 28, 9, 0), 1) == at(2026, 11, 30, 17, 30)


def test_zero_working_days_is_same_day_close(cal):
    assert cal.add_working_days(at(2026, 11, 23, 9, 0), 0) == at(2026, 11, 23, 17, 30)
    assert cal.add_working_days(at(2026, 11, 23, 17, 30), 0) == at(2026, 11, 24, 17, 30)
    assert cal.add_working_days(at(2026, 10, 3, 9, 0), 0) == at(2026, 10, 8, 17, 30)


def test_working_days_bad_input(cal):
    with pytest.raises(ValueError, match="negative"):
        cal.add_working_days(at(2026, 11, 23), -1)
    with pytest.raises(TypeError, match="whole number"):
        cal.add_working_days(at(2026, 11, 23), 1.5)


def test_working_hours_friday_evening(cal):
    assert cal.add_working_hours(at(2026, 11, 27, 18, 0), 2) == at(2026, 11, 30, 10, 30)


def test_working_hours_start_in_lunch_break(cal):
    start = at(2026, 11, 25, 12, 40)
    assert cal.add_working_hours(start, 1) == at(2026, 11, 25, 15, 30)
    # exactly the afternoon: ends at the close, not the next morning
    assert cal.add_working_hours(start, 3) == at(2026, 11, 25, 17, 30)
    assert cal.add_working_hours(start, 3.5) == at(2026, 11, 26, 9, 0)


def test_working_hours_across_morning_close(cal):
    start = at(2026, 11, 25, 11, 0)
    assert cal.add_working_hours(start, 1) == at(2026, 11, 25, 12, 0)
    assert cal.add_working_hours(start, timedelta(minutes=61)) == at(2026, 11, 25, 14, 31)


def test_working_hours_spanning_holidays(cal):
    assert cal.add_working_hours(at(2025, 9, 30, 16, 0), 4) == at(2025, 10, 9, 11, 0)
    assert cal.add_working_hours(at(2026, 9, 30, 17, 0), 1) == at(2026, 10, 8, 9, 0)
    # 2026-02-13 Fri 17:00 -> make-up Saturday 02-14 -> after Spring Festival
    # 0.5 h Friday + 6.5 h Saturday + 0.5 h on 02-24
    assert cal.add_working_hours(at(2026, 2, 13, 17, 0), 7.5) == at(2026, 2, 24, 9, 0)


def test_working_hours_zero_and_negative(cal):
    start = at(2026, 11, 28, 10, 0)
    assert cal.add_working_hours(start, 0) == start
    with pytest.raises(ValueError, match="negative"):
        cal.add_working_hours(start, -1)
    with pytest.raises(TypeError):
        cal.add_working_hours(start, "2")


def test_natural_hours_ignore_holidays(cal):
    assert cal.add_natural_hours(at(2025, 9, 30, 16, 0), 24) == at(2025, 10, 1, 16, 0)
    assert cal.add_natural_hours(at(2026, 2, 14, 20, 0), timedelta(hours=2.5)) == at(2026, 2, 14, 22, 30)
    result = cal.add_natural_hours(datetime(2026, 5, 1, 0, 0, tzinfo=timezone.utc), 1)
    assert result == at(2026, 5, 1, 9, 0) and result.utcoffset() == timedelta(hours=8)


def test_working_time_between(cal):
    assert cal.working_time_between(at(2026, 11, 23), at(2026, 11, 24)) == timedelta(hours=6, minutes=30)
    assert cal.working_time_between(at(2026, 11, 27, 17, 0), at(2026, 11, 30, 9, 0)) == timedelta(hours=1)
    assert cal.working_time_between(at(2025, 9, 30, 8, 30), at(2025, 10, 9, 8, 30)) == timedelta(hours=6.5)
    assert cal.working_time_between(at(2026, 11, 24), at(2026, 11, 23)) == -timedelta(hours=6.5)
    assert cal.working_time_between(at(2026, 11, 25, 12, 5), at(2026, 11, 25, 14, 0)) == timedelta(0)


@settings(max_examples=200, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 9, 30)),
    minutes=st.integers(min_value=1, max_value=60 * 40),
)
def test_working_hours_roundtrip(start, minutes):
    cal = WorkCalendar()
    start = start.replace(tzinfo=TZ)
    end = cal.add_working_hours(start, timedelta(minutes=minutes))
    assert end > start
    assert cal.working_time_between(start, end) == timedelta(minutes=minutes)
    assert cal.is_workday(end.date())


ESTIMATED_2027 = dict(official_years=range(2001, 2027))   # as on 2026-12-07: 2027 not yet published


def test_an_estimated_year_is_computed_never_refused():
    cal = WorkCalendar(**ESTIMATED_2027)
    assert cal.is_official(2026) and cal.is_estimated(2027) and not cal.is_official(2027)
    # 春节 2027: 初一 is 2027-02-06 (Saturday); 初一–初三 are statutory rest days in any schedule,
    # so the Monday 02-08 (初三) is never a working day
    assert not cal.is_workday(date(2027, 2, 8))
    start = at(2027, 2, 4, 10, 0)              # Thursday before the festival
    due = cal.add_working_days(start, 3)
    assert due > at(2027, 2, 8, 17, 30) and cal.is_workday(due.date())
    counted = [d for d in days(date(2027, 2, 5), due.date()) if cal.is_workday(d)]
    assert len(counted) == 3 and counted[-1] == due.date()
    assert cal.depends_on_estimate(start, due)
    # a deadline from December 2026 into 2027 depends on the estimate; one inside 2026 does not
    assert cal.depends_on_estimate(at(2026, 12, 30, 10), cal.add_working_days(at(2026, 12, 30, 10), 5))
    assert not cal.depends_on_estimate(at(2026, 12, 1, 10), cal.add_working_days(at(2026, 12, 1, 10), 5))
    # working hours and natural hours across the new year too
    assert cal.add_working_hours(at(2026, 12, 31, 17, 0), 2) > at(2027, 1, 1, 23, 59)
    assert cal.add_natural_hours(at(2026, 12, 31, 12, 0), 24) == at(2027, 1, 1, 12, 0)


def test_only_years_the_package_cannot_compute_are_refused(cal):
    with pytest.raises(CalendarNotCovered, match="2101") as info:
        cal.is_workday(date(2101, 1, 4))
    assert info.value.year == 2101
    with pytest.raises(CalendarNotCovered, match="1949"):
        cal.is_workday(date(1949, 6, 2))
    with pytest.raises(CalendarNotCovered, match="2101"):
        cal.add_working_days(at(2100, 12, 30, 10, 0), 5)


def test_local_year_supplied_by_operator():
    # Operator-entered schedule for a year the package lacks (illustrative dates, not official data).
    cal = WorkCalendar(local_years={2027}, extra_holidays={date(2027, 1, 1)}, extra_workdays={date(2027, 1, 2)},
                       **ESTIMATED_2027)
    assert cal.is_official(2027) and not cal.depends_on_estimate(at(2026, 12, 31), at(2027, 1, 4))
    assert not cal.is_workday(date(2027, 1, 1))
    assert cal.is_workday(date(2027, 1, 2))
    assert not cal.is_workday(date(2027, 1, 3))
    assert cal.add_working_days(at(2026, 12, 31, 10, 0), 1) == at(2027, 1, 2, 17, 30)


def test_extra_holidays_and_workdays_override_package():
    cal = WorkCalendar(extra_holidays={date(2026, 11, 25)}, extra_workdays={date(2026, 11, 28)})
    assert not cal.is_workday(date(2026, 11, 25))
    assert cal.is_workday(date(2026, 11, 28))
    assert cal.add_working_days(at(2026, 11, 24, 9, 0), 1) == at(2026, 11, 26, 17, 30)
    with pytest.raises(ValueError, match="both"):
        WorkCalendar(extra_holidays={date(2026, 11, 25)}, extra_workdays={date(2026, 11, 25)})


def test_custom_office_hours():
    cal = WorkCalendar(office_hours=[(time(9, 0), time(17, 0))])
    assert cal.add_working_hours(at(2026, 11, 23, 16, 0), 2) == at(2026, 11, 24, 10, 0)
    assert cal.add_working_days(at(2026, 11, 23, 16, 0), 1) == at(2026, 11, 24, 17, 0)


@pytest.mark.parametrize(
    "periods, message",
    [
        ([], "at least one"),
        ([(time(9), time(8))], "before"),
        ([(time(8), time(12)), (time(11), time(17))], "overlap"),
        ([("08:30", "12:00")], "pair"),
    ],
)
def test_bad_office_hours(periods, message):
    with pytest.raises(ValueError, match=message):
        WorkCalendar(office_hours=periods)


def test_bad_time_zone():
    with pytest.raises(ValueError, match="Mars/Olympus"):
        WorkCalendar(tz="Mars/Olympus")


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.add_working_days(datetime(2026, 11, 23, 9), 1),
        lambda c: c.add_working_hours(datetime(2026, 11, 23, 9), 1),
        lambda c: c.add_natural_hours(datetime(2026, 11, 23, 9), 1),
        lambda c: c.working_time_between(datetime(2026, 11, 23, 9), at(2026, 11, 24)),
        lambda c: c.is_workday(datetime(2026, 11, 23, 9)),
        lambda c: c.is_office_time(datetime(2026, 11, 23, 9)),
    ],
)
def test_naive_datetime_rejected(cal, call):
    with pytest.raises(NaiveDatetimeError, match="naive"):
        call(cal)


def test_office_time_and_next_opening(cal):
    assert cal.is_office_time(at(2026, 11, 23, 8, 30))
    assert not cal.is_office_time(at(2026, 11, 23, 12, 0))
    assert not cal.is_office_time(at(2026, 11, 28, 10, 0))
    assert cal.next_opening(at(2026, 11, 23, 12, 30)) == at(2026, 11, 23, 14, 30)
    assert cal.next_opening(at(2026, 11, 27, 18, 0)) == at(2026, 11, 30, 8, 30)
    assert cal.next_opening(at(2026, 11, 23, 9, 15)) == at(2026, 11, 23, 9, 15)


def test_coverage_names_official_and_estimated_years_and_warns_before_an_estimate():
    cal = WorkCalendar(**ESTIMATED_2027)
    coverage = cal.coverage(date(2026, 12, 7))
    assert coverage.official == "2001–2026" and coverage.estimated_from == 2027
    assert coverage.source.startswith("holidays ") and "2027 年起为推定安排" in coverage.describe()
    # far from the estimated year: quiet; within the horizon: a notice naming the year and the fix
    assert cal.coverage_warning(date(2026, 3, 1)) is None
    soon = cal.coverage_warning(date(2026, 12, 5))
    assert soon is not None and "2027 年" in soon and "预计" in soon and "calendar.local_years" in soon
    assert "2027" in cal.coverage_warning(date(2027, 1, 2))
    extended = WorkCalendar(local_years=[2027], **ESTIMATED_2027)
    assert extended.coverage_warning(date(2026, 12, 5)) is None
    assert extended.coverage(date(2026, 12, 7)).official == "2001–2027"
    assert extended.coverage(date(2026, 12, 7)).fingerprint != coverage.fingerprint
