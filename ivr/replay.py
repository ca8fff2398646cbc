"""Replay a captured AMI byte stream through the call tracker.

Used by ``hotline ami replay FILE [--json]`` and by the tests on the Asterisk 20
fixtures. Most AMI events carry no time of their own (``timestampevents = no``),
so the replay clock follows the stamps the capture does carry — CEL
``EventTime``, ``EventTV``, ``Timestamp`` and the ``EndTime`` of ``Cdr`` events
(written when the CDR is posted). An unstamped event between two stamps gets a
time interpolated by its position in the stream (millisecond resolution); the
tracker itself takes the exact CEL times for call start, answer and hang-up.
Events before the first stamp take the first, events after the last take the
last, and the clock never runs backwards; a capture without any stamp uses
``default_time`` (default: now).
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from datetime import datetime, timezone, tzinfo
from enum import Enum
from typing import Any

from .ami.messages import Message
from .ami.protocol import AmiParser
from .calls import CallTracker, UnsupportedAmi, parse_pbx_time, message_time
from .calls.compat import unsupported_reason
from .events import CallEnded, CallSnapshot, CallStarted

__all__ = ["replay_bytes", "replay_messages", "capture_times", "snapshot_to_json"]


def _stamp(msg: Message, tz: tzinfo) -> datetime | None:
    own = message_time(msg, tz)
    if own is not None:
        return own
    if msg.name.lower() == "cdr":
        return parse_pbx_time(msg.get("EndTime", "") or "", tz)
    return None


def capture_times(messages: list[Message], tz: tzinfo = timezone.utc,
                  default_time: datetime | None = None) -> list[datetime]:
    """The replay time of each message (see the module docstring)."""
    stamps = [_stamp(m, tz) for m in messages]
    known = [i for i, t in enumerate(stamps) if t is not None]
    if not known:
        fallback = default_time or datetime.now(timezone.utc)
        return [fallback] * len(messages)
    out: list[datetime] = []
    k = 0  # index into known: the next stamped message at or after i
    for i in range(len(messages)):
        while k < len(known) and known[k] < i:
            k += 1
        if k < len(known) and known[k] == i:
            out.append(stamps[i])  # type: ignore[arg-type]
        elif k == 0:
            out.append(stamps[known[0]])  # type: ignore[arg-type]
        elif k == len(known):
            out.append(stamps[known[-1]])  # type: ignore[arg-type]
        else:
            ip, inx = known[k - 1], known[k]
            tp, tn = stamps[ip], stamps[inx]
            assert tp is not None and tn is not None
            if tn <= tp:
                out.append(tp)
            else:
                frac = (i - ip) / (inx - ip)
                est = tp + (tn - tp) * frac
                out.append(est.replace(microsecond=(est.microsecond // 1000) * 1000))
    # stamps mix resolutions (EventTV ms, CEL whole seconds): never let the clock go back
    for i in range(1, len(out)):
        if out[i] < out[i - 1]:
            out[i] = out[i - 1]
    return out


def replay_messages(messages: list[Message], *, pbx_tz: tzinfo = timezone.utc,
                    default_time: datetime | None = None, **tracker_options: Any) -> list[CallSnapshot]:
    """Run parsed messages through a fresh :class:`CallTracker`.

    Returns every call in the order it started: ended calls with their final
    snapshot, then calls still live at the end of the capture (no disposition).
    """
    times = capture_times(messages, pbx_tz, default_time)
    now = [times[0] if times else (default_time or datetime.now(timezone.utc))]
    order: dict[str, int] = {}
    ended: dict[str, CallSnapshot] = {}

    def collect(event: object) -> None:
        if isinstance(event, CallStarted):
            order.setdefault(event.call_id, len(order))
        elif isinstance(event, CallEnded):
            order.setdefault(event.call_id, len(order))
            ended[event.call_id] = event.snapshot

    tracker = CallTracker(on_event=collect, clock=lambda: now[0], pbx_tz=pbx_tz, **tracker_options)
    for msg, t in zip(messages, times):
        now[0] = t
        tracker.feed(msg)
    calls = list(ended.values())
    calls += [s for s in tracker.live_snapshots() if s.call_id not in ended]
    big = len(order) + 1
    return sorted(calls, key=lambda s: order.get(s.call_id, big))


def replay_bytes(data: bytes, *, pbx_tz: tzinfo = timezone.utc,
                 default_time: datetime | None = None, **tracker_options: Any) -> list[CallSnapshot]:
    """Parse a raw AMI capture (banner optional) and return every call in it.

    Raises :class:`~ivr.calls.UnsupportedAmi` for the capture of a PBX the call model does not
    fit (an AMI 1 banner: Asterisk 11 or older)."""
    parser = AmiParser(expect_banner=True)
    messages = parser.feed(data)
    reason = unsupported_reason(parser.banner)
    if reason is not None:
        raise UnsupportedAmi(reason)
    return replay_messages(messages, pbx_tz=pbx_tz, default_time=default_time, **tracker_options)


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def snapshot_to_json(s: CallSnapshot) -> dict[str, Any]:
    """A JSON-safe dict: ISO-8601 times, enum values, ``call_id`` = Linkedid."""
    out = _jsonable(s)
    out["duration_s"] = (
        (s.ended_at - s.started_at).total_seconds() if s.ended_at and s.started_at else None
    )
    return out
