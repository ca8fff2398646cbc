"""Stage deadlines and stoppable stage clocks (pure computation, no storage).

A time limit is a list of stages (签收, 处置, 回访, ...), each with an amount in
one of three units (:class:`hotline.rules.schema.TimeUnit`): natural hours, working hours
or working days. :class:`StageClock` follows one stage of one ticket: it can be
paused (延期 approved, 挂起) and resumed, and extended, and it reports how much
of the allowed time is used and whether the stage is ok / warning / overdue.

A clock is meant to be rebuilt from the ticket's append-only events by
replaying ``pause`` / ``resume`` / ``extend`` in order.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from numbers import Real

from hotline.rules.schema import TimeUnit

from .calendar import WorkCalendar, _require_aware

__all__ = [
    "TimeUnit",
    "Stage",
    "SlaStatus",
    "StageClock",
    "ClockStateError",
    "compute_deadline",
    "DEFAULT_WARNING_FRACTION",
]

DEFAULT_WARNING_FRACTION = 0.8


class SlaStatus(str, Enum):
    OK = "ok"
    WARNING = "warning"
    OVERDUE = "overdue"

    @property
    def label(self) -> str:
        return {"ok": "正常", "warning": "预警", "overdue": "超时"}[self.value]


class ClockStateError(RuntimeError):
    """An operation that the clock's current state does not allow (e.g. resuming a running clock)."""


def _check_amount(amount: object, unit: TimeUnit, what: str) -> None:
    if isinstance(amount, bool) or not isinstance(amount, Real):
        raise TypeError(f"{what} must be a number, got {amount!r}")
    if amount != amount or amount in (float("inf"), float("-inf")):
        raise ValueError(f"{what} must be finite, got {amount!r}")
    if unit is TimeUnit.WORKING_DAYS:
        if int(amount) != amount:
            raise ValueError(f"{what} in working_days must be a whole number, got {amount!r}")
        if amount < 0:
            raise ValueError(f"{what} must not be negative, got {amount!r}")


@dataclass(frozen=True)
class Stage:
    """One time-limited stage: e.g. ``Stage("签收", 1, "working_days")``.

    ``amount`` must be > 0 for hour units; working days must be a whole number
    >= 0 (0 = 当日, the close of the same working day).
    """

    name: str
    amount: float
    unit: TimeUnit

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"stage name must be a non-empty string, got {self.name!r}")
        unit = TimeUnit.parse(self.unit)
        object.__setattr__(self, "unit", unit)
        _check_amount(self.amount, unit, f"stage {self.name!r} amount")
        if unit is TimeUnit.WORKING_DAYS:
            object.__setattr__(self, "amount", int(self.amount))
        elif self.amount <= 0:
            raise ValueError(f"stage {self.name!r} amount must be positive, got {self.amount!r}")

    @classmethod
    def from_mapping(cls, data: Mapping) -> "Stage":
        """Build from configuration, e.g. ``{"name": "办结", "amount": 5, "unit": "working_days"}``."""
        if not isinstance(data, Mapping):
            raise TypeError(f"stage must be a mapping with name, amount, unit; got {data!r}")
        missing = [key for key in ("name", "amount", "unit") if key not in data]
        if missing:
            raise ValueError(f"stage {dict(data)!r} is missing: {', '.join(missing)}")
        unknown = sorted(set(data) - {"name", "amount", "unit"})
        if unknown:
            raise ValueError(f"stage {data.get('name')!r} has unknown field(s): {', '.join(map(str, unknown))}")
        return cls(data["name"], data["amount"], data["unit"])

    def describe(self) -> str:
        """Human-readable limit in Chinese, e.g. ``签收1个工作日``."""
        return f"{self.name}{self.unit.amount_text(float(self.amount))}"


def compute_deadline(start: _dt.datetime, stage: Stage, calendar: WorkCalendar) -> _dt.datetime:
    """Deadline of ``stage`` when its clock starts at ``start`` (see WorkCalendar for conventions)."""
    if not isinstance(stage, Stage):
        raise TypeError(f"stage must be a Stage, got {stage!r}")
    return _advance(calendar, stage.unit, start, stage.amount)


def _advance(calendar: WorkCalendar, unit: TimeUnit, start: _dt.datetime, amount) -> _dt.datetime:
    if unit is TimeUnit.NATURAL_HOURS:
        return calendar.add_natural_hours(start, amount)
    if unit is TimeUnit.WORKING_HOURS:
        return calendar.add_working_hours(start, amount)
    return calendar.add_working_days(start, int(amount))


def _measure(calendar: WorkCalendar, unit: TimeUnit, a: _dt.datetime, b: _dt.datetime) -> _dt.timedelta:
    """Time that counts against the limit between ``a`` and ``b``."""
    if unit is TimeUnit.NATURAL_HOURS:
        return b.astimezone(_dt.timezone.utc) - a.astimezone(_dt.timezone.utc)
    return calendar.working_time_between(a, b)


@dataclass
class StageClock:
    """The running clock of one stage.

    Pausing stops the clock (only time while running counts). On resume the
    remaining allowance is carried forward from the resume moment: for hour
    units exactly; for working days the new deadline is rounded forward to the
    close of office hours of the day the allowance runs out, so a working-day
    deadline always ends at a close of business. A clock paused after its
    deadline stays overdue: resuming does not move a passed deadline.

    ``extend(by)`` adds ``by`` units of the stage's unit to the deadline
    (working days: the close of the ``by``-th working day after the current
    deadline's day). Extending while paused is allowed.
    """

    stage: Stage
    start: _dt.datetime
    calendar: WorkCalendar
    warning_fraction: float = DEFAULT_WARNING_FRACTION
    deadline: _dt.datetime = field(init=False)
    paused_at: _dt.datetime | None = field(init=False, default=None)
    _runs: list = field(init=False, repr=False)
    _last_event: _dt.datetime = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.stage, Stage):
            raise TypeError(f"stage must be a Stage, got {self.stage!r}")
        if not isinstance(self.calendar, WorkCalendar):
            raise TypeError(f"calendar must be a WorkCalendar, got {self.calendar!r}")
        _check_fraction(self.warning_fraction)
        self.start = _require_aware(self.start, "start").astimezone(self.calendar.tz)
        self.deadline = compute_deadline(self.start, self.stage, self.calendar)
        self._runs = [[self.start, None]]  # running intervals [begin, end or None]
        self._last_event = self.start

    # ---- state changes ------------------------------------------------------

    @property
    def paused(self) -> bool:
        return self.paused_at is not None

    def _event_time(self, at: _dt.datetime, name: str) -> _dt.datetime:
        at = _require_aware(at, name).astimezone(self.calendar.tz)
        if at < self._last_event:
            raise ValueError(
                f"{name} {at.isoformat()} is before the clock's last event {self._last_event.isoformat()}; "
                "replay events in time order"
            )
        return at

    def pause(self, at: _dt.datetime) -> None:
        """Stop the clock (延期 approved / 挂起)."""
        if self.paused:
            raise ClockStateError(f"stage {self.stage.name!r} is already paused since {self.paused_at.isoformat()}")
        at = self._event_time(at, "at")
        self._runs[-1][1] = at
        self.paused_at = at
        self._last_event = at

    def resume(self, at: _dt.datetime) -> None:
        """Restart the clock; the deadline moves by the paused time (see class doc)."""
        if not self.paused:
            raise ClockStateError(f"stage {self.stage.name!r} is not paused")
        at = self._event_time(at, "at")
        paused_at = self.paused_at
        if paused_at < self.deadline:
            remaining = _measure(self.calendar, self.stage.unit, paused_at, self.deadline)
            if remaining > _dt.timedelta(0):
                if self.stage.unit is TimeUnit.NATURAL_HOURS:
                    new_deadline = self.calendar.add_natural_hours(at, remaining)
                else:
                    new_deadline = self.calendar.add_working_hours(at, remaining)
                    if self.stage.unit is TimeUnit.WORKING_DAYS:
                        new_deadline = self.calendar.close_of_business(new_deadline.date())
                self.deadline = max(self.deadline, new_deadline)
        self.paused_at = None
        self._runs.append([at, None])
        self._last_event = at

    def extend(self, by: float) -> _dt.datetime:
        """Move the deadline later by ``by`` units of the stage's unit; returns the new deadline."""
        _check_amount(by, self.stage.unit, "extension")
        if by <= 0:
            raise ValueError(f"extension must be positive, got {by!r}")
        self.deadline = _advance(self.calendar, self.stage.unit, self.deadline, by)
        return self.deadline

    # ---- queries --------------------------------------------------------------

    def _reference(self, now: _dt.datetime) -> _dt.datetime:
        now = _require_aware(now, "now").astimezone(self.calendar.tz)
        if self.paused_at is not None and now >= self.paused_at:
            return self.paused_at
        return now

    def used(self, now: _dt.datetime) -> _dt.timedelta:
        """Counted time consumed up to ``now`` (paused time excluded)."""
        now = _require_aware(now, "now").astimezone(self.calendar.tz)
        total = _dt.timedelta(0)
        for begin, end in self._runs:
            stop = now if end is None else min(end, now)
            if stop > begin:
                total += _measure(self.calendar, self.stage.unit, begin, stop)
        return total

    def remaining(self, now: _dt.datetime) -> _dt.timedelta:
        """Counted time left until the deadline (negative when overdue for natural hours)."""
        ref = self._reference(now)
        return _measure(self.calendar, self.stage.unit, ref, self.deadline)

    def fraction_used(self, now: _dt.datetime) -> float:
        """Share of the allowed time consumed at ``now`` (1.0 = at the deadline, >1 = past it)."""
        used = self.used(now)
        allowed = used + self.remaining(now)
        if allowed <= _dt.timedelta(0):
            return float("inf") if used > _dt.timedelta(0) else 1.0
        return used / allowed

    def is_overdue(self, now: _dt.datetime) -> bool:
        return self._reference(now) > self.deadline

    def sla_status(self, now: _dt.datetime, warning_fraction: float | None = None) -> SlaStatus:
        """``overdue`` past the deadline, ``warning`` once the warning fraction is used, else ``ok``."""
        fraction = self.warning_fraction if warning_fraction is None else warning_fraction
        _check_fraction(fraction)
        if self.is_overdue(now):
            return SlaStatus.OVERDUE
        if self.fraction_used(now) >= fraction:
            return SlaStatus.WARNING
        return SlaStatus.OK


def _check_fraction(value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 < value <= 1:
        raise ValueError(f"warning_fraction must be a number in (0, 1], got {value!r}")
