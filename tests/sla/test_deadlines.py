from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hotline.sla import (
    CalendarNotCovered,
    ClockStateError,
    NaiveDatetimeError,
    SlaStatus,
    Stage,
    StageClock,
    TimeUnit,
    WorkCalendar,
    compute_deadline,
)

TZ = ZoneInfo("Asia/Shanghai")


def at(y, m, d, hh=0, mm=0, ss=0):
    return datetime(y, m, d, hh, mm, ss, tzinfo=TZ)


@pytest.fixture
def cal():
    return WorkCalendar()


# ---- Stage -------------------------------------------------------------------


def test_stage_parses_unit_and_describes_in_chinese():
    stage = Stage("签收", 1, "working_days")
    assert stage.unit is TimeUnit.WORKING_DAYS
    assert stage.describe() == "签收1个工作日"
    assert Stage("处置", 4, "working_hours").describe() == "处置4工作小时"
    assert Stage("应急", 2.5, TimeUnit.NATURAL_HOURS).describe() == "应急2.5小时"


@pytest.mark.parametrize(
    "args, error, message",
    [
        (("签收", 1, "days"), ValueError, "natural_hours, working_hours, working_days"),
        (("签收", 1.5, "working_days"), ValueError, "whole number"),
        (("签收", -1, "working_days"), ValueError, "negative"),
        (("处置", 0, "working_hours"), ValueError, "positive"),
        (("处置", "4", "working_hours"), TypeError, "number"),
        (("处置", True, "working_hours"), TypeError, "number"),
        (("", 4, "working_hours"), ValueError, "name"),
    ],
)
def test_stage_rejects_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        Stage(*args)


def test_stage_from_mapping():
    assert Stage.from_mapping({"name": "办结", "amount": 5, "unit": "working_days"}) == Stage("办结", 5, "working_days")
    with pytest.raises(ValueError, match="missing: unit"):
        Stage.from_mapping({"name": "办结", "amount": 5})
    with pytest.raises(ValueError, match="unknown field"):
        Stage.from_mapping({"name": "办结", "amount": 5, "unit": "working_days", "units": 1})


# ---- compute_deadline ------------------------------------------------------------


def test_compute_deadline_per_unit(cal):
    start = at(2025, 9, 30, 16, 0)
    assert compute_deadline(start, Stage("应急", 24, "natural_hours"), cal) == at(2025, 10, 1, 16, 0)
    assert compute_deadline(start, Stage("处置", 4, "working_hours"), cal) == at(2025, 10, 9, 11, 0)
    assert compute_deadline(start, Stage("签收", 1, "working_days"), cal) == at(2025, 10, 9, 17, 30)


def test_callback_is_due_next_working_day(cal):
    # 回访 the working day after 办结: closed the evening before National Day 2026
    assert compute_deadline(at(2026, 9, 30, 18, 0), Stage("回访", 1, "working_days"), cal) == at(2026, 10, 8, 17, 30)


def test_compute_deadline_errors(cal):
    with pytest.raises(NaiveDatetimeError):
        compute_deadline(datetime(2026, 11, 23, 9), Stage("签收", 1, "working_days"), cal)
    with pytest.raises(CalendarNotCovered, match="2101"):
        compute_deadline(at(2100, 12, 25, 9), Stage("办结", 13, "working_days"), cal)
    with pytest.raises(TypeError, match="Stage"):
        compute_deadline(at(2026, 11, 23, 9), ("签收", 1, "working_days"), cal)


# ---- StageClock: pause / resume / extend ---------------------------------------------


def test_natural_hours_pause_shifts_deadline_by_paused_time(cal):
    clock = StageClock(Stage("应急", 24, "natural_hours"), at(2026, 11, 23, 10, 0), cal)
    assert clock.deadline == at(2026, 11, 24, 10, 0)
    clock.pause(at(2026, 11, 23, 12, 0))
    assert clock.paused
    clock.resume(at(2026, 11, 24, 12, 0))
    assert clock.deadline == at(2026, 11, 25, 10, 0)
    assert clock.used(at(2026, 11, 24, 13, 0)) == timedelta(hours=3)


def test_working_hours_pause_carries_remaining_office_time(cal):
    clock = StageClock(Stage("处置", 8, "working_hours"), at(2026, 11, 23, 9, 0), cal)
    assert clock.deadline == at(2026, 11, 24, 10, 30)
    clock.pause(at(2026, 11, 23, 10, 0))  # 1 h used, 7 h left
    clock.resume(at(2026, 11, 25, 9, 0))  # Wed: 6 h, then 1 h on Thu
    assert clock.deadline == at(2026, 11, 26, 9, 30)
    assert clock.used(at(2026, 11, 25, 10, 0)) == timedelta(hours=2)


def test_working_days_pause_rounds_to_close_of_business(cal):
    clock = StageClock(Stage("办结", 2, "working_days"), at(2026, 11, 23, 10, 0), cal)
    assert clock.deadline == at(2026, 11, 25, 17, 30)
    clock.pause(at(2026, 11, 23, 11, 0))  # 17 of 18 office hours left
    clock.resume(at(2026, 11, 24, 15, 0))  # runs out Fri 10:00 -> close of Friday
    assert clock.deadline == at(2026, 11, 27, 17, 30)


def test_pause_over_holiday_costs_nothing(cal):
    clock = StageClock(Stage("处置", 4, "working_hours"), at(2025, 9, 30, 16, 0), cal)
    assert clock.deadline == at(2025, 10, 9, 11, 0)
    clock.pause(at(2025, 9, 30, 17, 30))  # at close of business
    clock.resume(at(2025, 10, 8, 20, 0))  # only holiday time passed while paused
    assert clock.deadline == at(2025, 10, 9, 11, 0)


def test_extend_working_days_over_makeup_saturday(cal):
    clock = StageClock(Stage("办结", 5, "working_days"), at(2026, 9, 28, 9, 0), cal)
    # 09-29, 09-30, 10-08, 10-09, 10-10 (make-up Saturday)
    assert clock.deadline == at(2026, 10, 10, 17, 30)
    assert clock.extend(2) == at(2026, 10, 13, 17, 30)
    assert clock.deadline == at(2026, 10, 13, 17, 30)


def test_extend_hours_units(cal):
    natural = StageClock(Stage("应急", 2, "natural_hours"), at(2026, 11, 23, 10, 0), cal)
    natural.extend(1.5)
    assert natural.deadline == at(2026, 11, 23, 13, 30)
    working = StageClock(Stage("处置", 2, "working_hours"), at(2026, 11, 27, 16, 0), cal)
    assert working.deadline == at(2026, 11, 30, 9, 0)
    working.extend(3)
    assert working.deadline == at(2026, 11, 30, 12, 0)


def test_extend_while_paused_then_resume(cal):
    clock = StageClock(Stage("处置", 6.5, "working_hours"), at(2026, 11, 23, 8, 30), cal)
    assert clock.deadline == at(2026, 11, 23, 17, 30)
    clock.pause(at(2026, 11, 23, 14, 30))  # 3.5 h used, 3 h left
    clock.extend(6.5)  # 9.5 h left
    clock.resume(at(2026, 11, 24, 8, 30))
    assert clock.deadline == at(2026, 11, 25, 11, 30)
    assert clock.fraction_used(at(2026, 11, 24, 8, 30)) == pytest.approx(3.5 / 13)


def test_extend_rejects_bad_amounts(cal):
    clock = StageClock(Stage("办结", 5, "working_days"), at(2026, 9, 28, 9, 0), cal)
    with pytest.raises(ValueError, match="whole number"):
        clock.extend(0.5)
    with pytest.raises(ValueError, match="positive"):
        clock.extend(0)


def test_pausing_an_overdue_clock_keeps_it_overdue(cal):
    clock = StageClock(Stage("签收", 1, "working_days"), at(2026, 11, 23, 9, 0), cal)
    deadline = clock.deadline
    clock.pause(at(2026, 11, 25, 9, 0))
    clock.resume(at(2026, 11, 26, 9, 0))
    assert clock.deadline == deadline
    assert clock.sla_status(at(2026, 11, 26, 9, 0)) is SlaStatus.OVERDUE


def test_clock_state_errors(cal):
    clock = StageClock(Stage("签收", 1, "working_days"), at(2026, 11, 23, 9, 0), cal)
    with pytest.raises(ClockStateError, match="not paused"):
        clock.resume(at(2026, 11, 23, 10, 0))
    clock.pause(at(2026, 11, 23, 10, 0))
    with pytest.raises(ClockStateError, match="already paused"):
        clock.pause(at(2026, 11, 23, 11, 0))
    with pytest.raises(ValueError, match="time order"):
        clock.resume(at(2026, 11, 23, 9, 30))
    with pytest.raises(NaiveDatetimeError):
        clock.resume(datetime(2026, 11, 23, 11, 0))
    with pytest.raises(NaiveDatetimeError):
        StageClock(Stage("签收", 1, "working_days"), datetime(2026, 11, 23, 9), cal)


# ---- fraction_used / sla_status -----------------------------------------------------------


def test_status_thresholds_natural_hours(cal):
    clock = StageClock(Stage("应急", 10, "natural_hours"), at(2026, 11, 23, 0, 0), cal)
    assert clock.fraction_used(at(2026, 11, 23, 7, 0)) == pytest.approx(0.7)
    assert clock.sla_status(at(2026, 11, 23, 7, 0)) == "ok"
    assert clock.sla_status(at(2026, 11, 23, 8, 0)) is SlaStatus.WARNING
    assert clock.sla_status(at(2026, 11, 23, 10, 0)) is SlaStatus.WARNING  # at the deadline
    assert clock.sla_status(at(2026, 11, 23, 10, 0, 1)) is SlaStatus.OVERDUE
    assert clock.fraction_used(at(2026, 11, 23, 12, 0)) == pytest.approx(1.2)
    assert clock.sla_status(at(2026, 11, 23, 5, 0), warning_fraction=0.5) is SlaStatus.WARNING
    assert StageClock(clock.stage, clock.start, cal, warning_fraction=0.9).sla_status(
        at(2026, 11, 23, 8, 30)
    ) is SlaStatus.OK


def test_fraction_counts_only_working_time(cal):
    clock = StageClock(Stage("签收", 1, "working_days"), at(2026, 11, 27, 17, 0), cal)  # Friday
    assert clock.deadline == at(2026, 11, 30, 17, 30)
    # 0.5 h Friday of 7 h in total; the weekend adds nothing
    assert clock.fraction_used(at(2026, 11, 29, 23, 0)) == pytest.approx(0.5 / 7)
    assert clock.sla_status(at(2026, 11, 29, 23, 0)) is SlaStatus.OK
    # Monday 14:30: 0.5 + 3.5 = 4 h of 7
    assert clock.fraction_used(at(2026, 11, 30, 14, 30)) == pytest.approx(4 / 7)
    # Monday 16:30: 6 h of 7 = 0.857 -> warning
    assert clock.sla_status(at(2026, 11, 30, 16, 30)) is SlaStatus.WARNING
    # after close on the deadline day: overdue although no office time passed
    assert clock.sla_status(at(2026, 11, 30, 18, 0)) is SlaStatus.OVERDUE


def test_status_frozen_while_paused(cal):
    clock = StageClock(Stage("处置", 10, "natural_hours"), at(2026, 11, 23, 0, 0), cal)
    clock.pause(at(2026, 11, 23, 9, 0))
    later = at(2026, 12, 1, 0, 0)
    assert clock.fraction_used(later) == pytest.approx(0.9)
    assert clock.sla_status(later) is SlaStatus.WARNING
    assert not clock.is_overdue(later)


def test_status_labels_in_chinese():
    assert [s.label for s in SlaStatus] == ["正常", "预警", "超时"]


def test_bad_warning_fraction(cal):
    with pytest.raises(ValueError, match="warning_fraction"):
        StageClock(Stage("签收", 1, "working_days"), at(2026, 11, 23, 9, 0), cal, warning_fraction=1.5)
    clock = StageClock(Stage("签收", 1, "working_days"), at(2026, 11, 23, 9, 0), cal)
    with pytest.raises(ValueError, match="warning_fraction"):
        clock.sla_status(at(2026, 11, 23, 10, 0), warning_fraction=0)
