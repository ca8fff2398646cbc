"""Deadline lights and countdowns (hotline.cases.lights): office time for working-day and
working-hour stages, clock time for natural hours, 黄灯 at the rules' warning percentage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hotline.cases.lights import deadline_light, running_light, stage_label
from hotline.sla import Stage, WorkCalendar, compute_deadline

TZ = ZoneInfo("Asia/Shanghai")
# Chifeng office hours (routing_rules.yaml): 08:30-12:00 and 14:30-17:30, an office day of 6.5 hours
CAL = WorkCalendar("Asia/Shanghai", office_hours=[(datetime.min.time().replace(hour=8, minute=30),
                                                   datetime.min.time().replace(hour=12)),
                                                  (datetime.min.time().replace(hour=14, minute=30),
                                                   datetime.min.time().replace(hour=17, minute=30))])


def local(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


@dataclass
class Row:
    stage: str
    amount: float
    unit: str
    started_at: datetime
    due_at: datetime
    completed_at: datetime | None = None
    warned_at: datetime | None = None
    provisional: bool = False
    id: int = 1


def row(stage, amount, unit, start, **kw) -> Row:
    return Row(stage, amount, unit, start, compute_deadline(start, Stage(stage, amount, unit), CAL), **kw)


def test_working_days_countdown_in_office_days_and_hours():
    # 5 working days from Monday 2026-11-23 09:00: due Monday 2026-11-30 17:30
    r = row("处置", 5, "working_days", local(2026, 11, 23, 9, 0))
    assert r.due_at == local(2026, 11, 30, 17, 30)
    light = deadline_light(r, local(2026, 11, 26, 14, 30), CAL)
    # Thu 14:30 → Thu close 3 h, Fri 6.5 h, Mon 6.5 h = 16 h = 2 office days + 3 h
    assert (light.text, light.light, light.label, light.allowance) == ("剩余 2 工作日 3 小时", "normal", "处置时限",
                                                                       "5个工作日")
    assert not light.provisional and light.running and not light.late


def test_warning_at_the_rules_percentage_or_once_the_sweep_warned():
    r = row("处置", 5, "working_days", local(2026, 11, 23, 9, 0))
    # the allowance: Mon from 09:00 6 h + Tue–Fri 4 × 6.5 h + next Mon 6.5 h = 38.5 office hours; the
    # warning comes when 20 % = 7.7 h are left (Fri 15:04: 2.4 h + Mon 6.5 h ≈ 8.9 h left: normal)
    assert deadline_light(r, local(2026, 11, 27, 15, 4), CAL).light == "normal"
    assert deadline_light(r, local(2026, 11, 30, 8, 40), CAL).light == "warning"     # 6.3 h left
    # at 90 % the warning waits for 3.85 h left
    assert deadline_light(r, local(2026, 11, 30, 8, 40), CAL, warning_percent=90).light == "normal"
    warned = row("处置", 5, "working_days", local(2026, 11, 23, 9, 0), warned_at=local(2026, 11, 24, 9, 0))
    assert deadline_light(warned, local(2026, 11, 24, 9, 0), CAL).light == "warning"


def test_overdue_counts_office_time_after_the_deadline():
    r = row("处置", 5, "working_days", local(2026, 11, 23, 9, 0))       # due Mon 11-30 17:30
    light = deadline_light(r, local(2026, 12, 2, 9, 30), CAL)            # Tue 6.5 h + Wed 1 h
    assert (light.light, light.text, light.light_label) == ("overdue", "已超时 1 工作日 1 小时", "红灯")
    assert light.late
    # in the evening after the deadline no office time has passed: clock time is shown
    evening = deadline_light(r, local(2026, 11, 30, 20, 0), CAL)
    assert (evening.light, evening.text) == ("overdue", "已超时 2 小时 30 分")


def test_natural_hours_count_clock_time_and_provisional_is_kept():
    r = row("签收", 24, "natural_hours", local(2026, 11, 28, 9, 0), provisional=True)   # a Saturday
    light = deadline_light(r, local(2026, 11, 28, 20, 15), CAL)
    assert (light.text, light.light, light.provisional) == ("剩余 12 小时 45 分", "normal", True)
    assert deadline_light(r, local(2026, 11, 29, 5, 0), CAL).light == "warning"          # 20 of 24 h
    assert deadline_light(r, local(2026, 12, 1, 10, 0), CAL).text == "已超时 2 天 1 小时"


def test_completed_stages_say_on_time_or_late():
    r = row("签收", 1, "working_days", local(2026, 11, 23, 9, 0))
    on_time = Row(**{**r.__dict__, "completed_at": r.due_at - timedelta(hours=1)})
    late = Row(**{**r.__dict__, "completed_at": r.due_at + timedelta(hours=1)})
    light = deadline_light(on_time, local(2026, 12, 9), CAL)
    assert (light.text, light.light) == ("按期完成", "done")
    assert deadline_light(late, local(2026, 12, 9), CAL).text == "超时完成"
    assert deadline_light(late, local(2026, 12, 9), CAL).late


def test_running_light_is_the_stage_running_now():
    accept = row("签收", 1, "working_days", local(2026, 11, 23, 9, 0), id=1)
    accept.completed_at = local(2026, 11, 23, 10, 0)
    handle = row("处置", 5, "working_days", local(2026, 11, 23, 10, 0), id=2)
    assert running_light([accept, handle], local(2026, 11, 24, 9, 0), CAL).stage == "处置"
    handle.completed_at = local(2026, 11, 24, 10, 0)
    assert running_light([accept, handle], local(2026, 11, 24, 11, 0), CAL) is None
    assert stage_label("回访") == "回访时限"


@pytest.mark.parametrize("minutes_left, text", [(30, "剩余 30 分"), (0.5, "剩余 不足 1 分"), (90, "剩余 1 小时 30 分")])
def test_short_remainders(minutes_left, text):
    start = local(2026, 11, 23, 9, 0)
    r = Row("签收", 4, "working_hours", start, local(2026, 11, 23, 11, 0) + timedelta(minutes=30))
    now = r.due_at - timedelta(minutes=minutes_left)
    assert deadline_light(r, now, CAL).text == text
