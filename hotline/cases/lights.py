"""Deadline lights (时限灯) and countdowns as staff read them: 剩余 2 工作日 3 小时 / 已超时 1 工作日.

A stage deadline (``TicketDeadline``) is shown with

* its light: ``normal`` (no colour), ``warning`` (黄灯) once ``rules.sla.warning_at_percent`` of
  the stage's allowance is used — or the SLA sweep has already warned it — and ``overdue`` (红灯)
  past the deadline; a completed stage is ``done`` (按期完成 / 超时完成);
* a countdown in the stage's own time: working-day and working-hour stages count office time
  (an office day = the calendar's office hours, 6.5 hours in Chifeng: "2 工作日 3 小时" is two
  office days and three office hours), natural-hour stages count clock time ("1 天 5 小时");
* 预计 when the deadline is provisional (computed on an estimated holiday calendar).

Pure presentation over a row and ``now``: nothing here queries or writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Iterable

from hotline.rules.schema import TimeUnit
from hotline.sla import WorkCalendar

__all__ = ["Light", "DeadlineLight", "deadline_light", "running_light", "stage_label", "LIGHT_LABELS"]

NORMAL, WARNING, OVERDUE, DONE = "normal", "warning", "overdue", "done"
LIGHT_LABELS = {NORMAL: "正常", WARNING: "黄灯", OVERDUE: "红灯", DONE: "已完成"}
Light = str
_MINUTE = timedelta(minutes=1)


def stage_label(stage: str) -> str:
    """签收 → 签收时限 (the stage names staff use)."""
    return f"{stage}时限"


@dataclass(frozen=True)
class DeadlineLight:
    stage: str
    label: str                 # 签收时限, 处置时限 …
    allowance: str             # 1个工作日, 4工作小时, 24小时 (TimeUnit.amount_text)
    started_at: datetime
    due_at: datetime
    completed_at: datetime | None
    light: Light               # normal / warning / overdue / done
    text: str                  # 剩余 2 工作日 3 小时 / 已超时 1 工作日 / 按期完成 / 超时完成
    provisional: bool          # 预计

    @property
    def light_label(self) -> str:
        return LIGHT_LABELS[self.light]

    @property
    def running(self) -> bool:
        return self.completed_at is None

    @property
    def late(self) -> bool:
        """Completed after its deadline, or running past it."""
        if self.completed_at is not None:
            return self.completed_at > self.due_at
        return self.light == OVERDUE


def _office_day(calendar: WorkCalendar) -> timedelta:
    total = timedelta(0)
    for start, end in calendar.office_hours:
        total += datetime.combine(datetime.min, end) - datetime.combine(datetime.min, start)
    return total or timedelta(hours=24)


def _span(amount: timedelta, unit: str, calendar: WorkCalendar) -> str:
    """``amount`` of a stage's time as text: office days and hours, or days and hours."""
    amount = max(amount, timedelta(0))
    if unit == "natural_hours":
        day, day_word = timedelta(days=1), "天"
    else:
        day, day_word = _office_day(calendar), "工作日"
    days, rest = divmod(amount, day)
    hours, rest = divmod(rest, timedelta(hours=1))
    minutes = rest // _MINUTE
    parts = []
    if days:
        parts.append(f"{days} {day_word}")
    if hours:
        parts.append(f"{hours} 小时")
    if not days and minutes:
        parts.append(f"{minutes} 分")
    return " ".join(parts) or "不足 1 分"


def _measure(unit: str, a: datetime, b: datetime, calendar: WorkCalendar) -> timedelta:
    if unit == "natural_hours":
        return b - a
    return calendar.working_time_between(a, b)


def _allowance(amount: float, unit: str) -> str:
    return TimeUnit(unit).amount_text(amount)


def deadline_light(row: Any, now: datetime, calendar: WorkCalendar, warning_percent: float = 80) -> DeadlineLight:
    """The light and countdown of one deadline row at ``now``."""
    label, allowance = stage_label(row.stage), _allowance(row.amount, row.unit)
    common = dict(stage=row.stage, label=label, allowance=allowance, started_at=row.started_at,
                  due_at=row.due_at, completed_at=row.completed_at, provisional=bool(row.provisional))
    if row.completed_at is not None:
        late = row.completed_at > row.due_at
        return DeadlineLight(light=DONE, text="超时完成" if late else "按期完成", **common)
    if now > row.due_at:
        past = _measure(row.unit, row.due_at, now, calendar)
        if past < _MINUTE:   # overdue outside office hours: say how long ago in clock time
            past, unit = now - row.due_at, "natural_hours"
        else:
            unit = row.unit
        return DeadlineLight(light=OVERDUE, text=f"已超时 {_span(past, unit, calendar)}", **common)
    left = _measure(row.unit, now, row.due_at, calendar)
    total = _measure(row.unit, row.started_at, row.due_at, calendar)
    used = total - left
    warned = getattr(row, "warned_at", None) is not None or (
        total > timedelta(0) and used * 100 >= total * warning_percent)
    return DeadlineLight(light=WARNING if warned else NORMAL, text=f"剩余 {_span(left, row.unit, calendar)}",
                         **common)


def running_light(rows: Iterable[Any], now: datetime, calendar: WorkCalendar,
                  warning_percent: float = 80) -> DeadlineLight | None:
    """The light of the stage running now (the latest started, not completed), if any."""
    running = [r for r in rows if r.completed_at is None]
    if not running:
        return None
    row = max(running, key=lambda r: (r.started_at, r.id or 0))
    return deadline_light(row, now, calendar, warning_percent)
