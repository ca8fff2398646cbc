"""Call figures from ``calls`` rows (pure: no SQL, no clock).

A call row is one citizen conversation (design §3): its start, the IVR path, the queue it
joined and when, Asterisk's hold time (``queue_wait_s``, the ``CONNECT``/``ABANDON`` hold time of
queue_log), the agent's answer, the end, the transfers with their results and the disposition
the call tracker gave it. :class:`CallTally` folds rows into additive :class:`CallCounts` per
(bucket, queue) and :class:`TransferCounts` per (bucket, district line); :class:`CallFigures`
turns counts into the rates staff read. The hourly rollups, the reports and the wallboard all
count through here, so a call is counted the same way everywhere.

Per call (civic-research §4.2; thresholds from :class:`CallThresholds`) — a row with disposition
``internal`` (a staff leg the tracker kept: an attended transfer's consult call, a pickup) is no
citizen call and counts nowhere:

* every call counts in ``calls``; a call with an IVR path in ``ivr_entered``, and — if its
  disposition is ``self_served`` — in ``self_served`` (IVR containment's numerator);
* a call that joined a queue is *offered*; its wait is ``queue_wait_s`` when recorded, else
  the time from joining to the agent's answer (or to the end of the call);
* offered and answered by an agent → ``answered`` (within the queue's service-level seconds →
  ``answered_in_sl``); its talk time runs from the agent's answer to the end of the call;
* offered, not answered, disposition ``abandoned`` → ``abandoned`` (a wait under the
  short-abandon threshold also → ``short_abandoned``); other unanswered entries (after-hours
  message after the queue, a transfer away) count as offered only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Callable, Hashable, Iterable, Mapping, NamedTuple

from hotline.metrics.definitions import (
    DEFAULT_SERVICE_LEVEL_SECONDS, SHORT_ABANDON_SECONDS, mean, ratio,
)

__all__ = ["CallRecord", "CallThresholds", "CallCounts", "TransferCounts", "CallTally", "CallFigures",
           "TransferFigures", "hour_of", "wait_seconds", "talk_seconds", "transfer_district"]


class CallRecord(NamedTuple):
    """The columns of a ``calls`` row the figures need (the reports select exactly these)."""

    started_at: datetime | None
    ended_at: datetime | None
    ivr_steps: int                    # length of ivr_path
    queue: str
    queue_joined_at: datetime | None
    queue_wait_s: float | None
    agent_answered_at: datetime | None
    transfers: list | str | None      # the JSON list (or its text, as SQLite may return it)
    disposition: str | None


@dataclass(frozen=True)
class CallThresholds:
    """Per-queue service-level seconds and wrap-up seconds (routing_rules.yaml ``queues``), and
    the short-abandon threshold."""

    service_level_s: Mapping[str, float] = field(default_factory=dict)
    wrapup_s: Mapping[str, float] = field(default_factory=dict)
    short_abandon_s: float = SHORT_ABANDON_SECONDS
    default_service_level_s: float = DEFAULT_SERVICE_LEVEL_SECONDS

    @classmethod
    def from_rules(cls, rules: Any) -> "CallThresholds":
        if rules is None:
            return cls()
        return cls(service_level_s={q.id: float(q.service_level_seconds) for q in rules.queues},
                   wrapup_s={q.id: float(q.wrapup_seconds) for q in rules.queues})

    def service_level_for(self, queue: str) -> float:
        return self.service_level_s.get(queue, self.default_service_level_s)

    def wrapup_for(self, queue: str) -> float:
        return self.wrapup_s.get(queue, 0.0)

    def fingerprint(self) -> str:
        """What stored counts depend on (wrap-up is applied when reading, so it is not here)."""
        return json.dumps({"sl": {q: float(v) for q, v in sorted(self.service_level_s.items())},
                           "sl_default": float(self.default_service_level_s), "short": float(self.short_abandon_s)},
                          sort_keys=True, separators=(",", ":"))


@dataclass
class CallCounts:
    """Additive call counts (the columns of ``metrics_call_hours``)."""

    calls: int = 0
    ivr_entered: int = 0
    self_served: int = 0
    voicemail: int = 0
    transferred: int = 0
    failed: int = 0
    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    wait_answered_s: float = 0.0
    max_wait_s: float = 0.0
    handled: int = 0
    talk_s: float = 0.0

    def add(self, other: "CallCounts") -> "CallCounts":
        for f in fields(self):
            if f.name == "max_wait_s":
                self.max_wait_s = max(self.max_wait_s, other.max_wait_s)
            else:
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def as_row(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_row(cls, row: Any) -> "CallCounts":
        return cls(**{f.name: (getattr(row, f.name) or 0) for f in fields(cls)})


@dataclass
class TransferCounts:
    attempts: int = 0
    answered: int = 0
    cancelled: int = 0

    def add(self, other: "TransferCounts") -> "TransferCounts":
        self.attempts += other.attempts
        self.answered += other.answered
        self.cancelled += other.cancelled
        return self


def hour_of(at: datetime) -> datetime:
    """The UTC hour a moment falls in (rollup bucket; hours of UTC+8 are the same hours)."""
    return at.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return max(0.0, (later - earlier).total_seconds())


def wait_seconds(call: CallRecord) -> float | None:
    """Queue wait: Asterisk's hold time when recorded, else joined → answered (or → ended)."""
    if call.queue_joined_at is None:
        return None
    if call.queue_wait_s is not None:
        return max(0.0, float(call.queue_wait_s))
    return _seconds(call.agent_answered_at or call.ended_at, call.queue_joined_at)


def talk_seconds(call: CallRecord) -> float | None:
    """Agent answer → end of the call (None while the call lasts)."""
    return _seconds(call.ended_at, call.agent_answered_at)


def _transfer_list(value: list | str | None) -> list:
    if not value:
        return []
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, list) else []


def transfer_district(transfer: Mapping[str, Any]) -> str | None:
    """The district line a transfer dialled (``district_code``, or a ``district:`` target)."""
    code = transfer.get("district_code") or ""
    if not code:
        kind, _, value = str(transfer.get("target") or "").partition(":")
        code = value if kind == "district" else ""
    return code or None


class CallTally:
    """Folds calls into counts per (bucket, queue) and transfers per (bucket, district line).

    ``bucket(started_at)`` names the bucket (default: one bucket, ``None``)."""

    def __init__(self, thresholds: CallThresholds,
                 bucket: Callable[[datetime], Hashable] = lambda _at: None) -> None:
        self.thresholds = thresholds
        self.bucket = bucket
        self.counts: dict[tuple[Hashable, str], CallCounts] = {}
        self.transfers: dict[tuple[Hashable, str], TransferCounts] = {}

    def add_all(self, calls: Iterable[CallRecord]) -> "CallTally":
        for call in calls:
            self.add(call)
        return self

    def add(self, call: CallRecord) -> None:
        if call.started_at is None or call.disposition == "internal":
            return
        key = self.bucket(call.started_at)
        queue = (call.queue or "") if call.queue_joined_at is not None else ""
        c = self.counts.get((key, queue))
        if c is None:
            c = self.counts[(key, queue)] = CallCounts()
        c.calls += 1
        disposition = call.disposition or ""
        if call.ivr_steps:
            c.ivr_entered += 1
            if disposition == "self_served":
                c.self_served += 1
        if disposition == "voicemail":
            c.voicemail += 1
        elif disposition == "transferred":
            c.transferred += 1
        elif disposition == "failed":
            c.failed += 1
        if call.queue_joined_at is not None:
            self._queue_entry(c, call, queue, disposition)
        for t in _transfer_list(call.transfers):
            if not isinstance(t, Mapping):
                continue
            result = t.get("result") or ""
            district = transfer_district(t)
            if district is None or result == "pending":
                continue
            tc = self.transfers.get((key, district))
            if tc is None:
                tc = self.transfers[(key, district)] = TransferCounts()
            tc.attempts += 1
            tc.answered += result == "answered"
            tc.cancelled += result == "cancelled"

    def _queue_entry(self, c: CallCounts, call: CallRecord, queue: str, disposition: str) -> None:
        c.offered += 1
        wait = wait_seconds(call)
        if wait is not None:
            c.max_wait_s = max(c.max_wait_s, wait)
        if call.agent_answered_at is not None:
            c.answered += 1
            if wait is not None:
                c.wait_answered_s += wait
                if wait <= self.thresholds.service_level_for(queue):
                    c.answered_in_sl += 1
            talk = talk_seconds(call)
            if talk is not None:
                c.handled += 1
                c.talk_s += talk
        elif disposition == "abandoned":
            c.abandoned += 1
            if wait is not None and wait < self.thresholds.short_abandon_s:
                c.short_abandoned += 1

    # -- views ---------------------------------------------------------------------------------
    def per_queue(self) -> dict[str, CallCounts]:
        """Counts per queue over every bucket."""
        out: dict[str, CallCounts] = {}
        for (_key, queue), counts in self.counts.items():
            out.setdefault(queue, CallCounts()).add(counts)
        return out

    def per_district(self) -> dict[str, TransferCounts]:
        out: dict[str, TransferCounts] = {}
        for (_key, district), counts in self.transfers.items():
            out.setdefault(district, TransferCounts()).add(counts)
        return out


@dataclass(frozen=True)
class CallFigures:
    """The figures of a set of calls (one queue or several): counts summed, rates derived."""

    counts: CallCounts
    wrapup_s: float                        # Σ wrap-up seconds applied to handled calls

    @classmethod
    def of(cls, per_queue: Mapping[str, CallCounts], thresholds: CallThresholds) -> "CallFigures":
        total = CallCounts()
        wrapup = 0.0
        for queue, counts in per_queue.items():
            total.add(counts)
            wrapup += counts.handled * thresholds.wrapup_for(queue)
        return cls(total, wrapup)

    def __getattr__(self, name: str) -> Any:   # counts read through: figures.offered, …
        if name != "counts" and name in CallCounts.__dataclass_fields__:
            return getattr(self.counts, name)
        raise AttributeError(name)

    @property
    def answer_rate(self) -> float | None:
        return ratio(self.counts.answered, self.counts.offered)

    @property
    def abandon_rate(self) -> float | None:
        c = self.counts
        return ratio(c.abandoned - c.short_abandoned, c.offered - c.short_abandoned)

    @property
    def service_level(self) -> float | None:
        c = self.counts
        return ratio(c.answered_in_sl, c.offered - c.short_abandoned)

    @property
    def answered_in_time_rate(self) -> float | None:
        return ratio(self.counts.answered_in_sl, self.counts.answered)

    @property
    def asa(self) -> float | None:
        return mean(self.counts.wait_answered_s, self.counts.answered)

    @property
    def max_wait(self) -> float | None:
        return self.counts.max_wait_s if self.counts.offered else None

    @property
    def avg_talk(self) -> float | None:
        return mean(self.counts.talk_s, self.counts.handled)

    @property
    def aht(self) -> float | None:
        return mean(self.counts.talk_s + self.wrapup_s, self.counts.handled)

    @property
    def containment_rate(self) -> float | None:
        return ratio(self.counts.self_served, self.counts.ivr_entered)

    def value(self, key: str) -> Any:
        """A figure by its definition key (``answer_rate``, ``offered``, …)."""
        return getattr(self, key)


@dataclass(frozen=True)
class TransferFigures:
    district_code: str
    counts: TransferCounts

    @property
    def success_rate(self) -> float | None:
        c = self.counts
        return ratio(c.answered, c.attempts - c.cancelled)
