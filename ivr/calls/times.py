"""PBX time: the stamps a message carries itself, and CEL records for exact call times.

An event's own PBX timestamp when it has one (``Timestamp:`` with ``timestampevents=yes``,
``EventTV``), else the tracker's injectable ``clock``. CEL records (``EventTime``, PBX local
time read in ``pbx_tz``) then give the exact start, answer and hang-up times of the call; CEL
times further than ``max_cel_skew`` seconds from the clock are ignored (a wrong ``pbx_tz``)
with one warning. :mod:`ivr.replay` supplies a clock that follows the capture's stamps.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache

from ..ami.messages import Message
from .state import Channel

log = logging.getLogger("ivr.calls")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def parse_pbx_time(text: str, tz: tzinfo = timezone.utc) -> datetime | None:
    """``2026-11-27 17:07:23[.ffffff]`` in the PBX zone ``tz``, or epoch seconds -> aware UTC."""
    return _parse_pbx_time(text.strip(), tz)


@lru_cache(maxsize=4096)
def _parse_pbx_time(text: str, tz: tzinfo) -> datetime | None:
    # CEL stamps of one call repeat the same second many times: cached, and parsed with
    # fromisoformat (an order of magnitude cheaper than strptime) when it is a date.
    if not text:
        return None
    if "-" not in text:
        try:
            return datetime.fromtimestamp(float(text), timezone.utc)
        except (ValueError, OverflowError, OSError):
            return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.astimezone(timezone.utc)


def message_time(msg: Message, tz: tzinfo = timezone.utc) -> datetime | None:
    """The PBX time a message carries itself, as aware UTC, or ``None``.

    ``Timestamp:`` (epoch, manager.conf ``timestampevents``; also in Ping replies),
    ``EventTV:`` (security events, with offset) and CEL ``EventTime:`` (PBX local
    time, interpreted in ``tz``).
    """
    try:
        ts = msg.get("Timestamp")
        if ts:
            return datetime.fromtimestamp(float(ts), timezone.utc)
    except (ValueError, OverflowError, OSError):
        pass
    tv = msg.get("EventTV")
    if tv:
        for fmt in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
            try:
                return datetime.strptime(tv.strip(), fmt).astimezone(timezone.utc)
            except ValueError:
                continue
    if msg.name.lower() == "cel":
        return parse_pbx_time(msg.get("EventTime", "") or "", tz)
    return None


def duration(text: str | None) -> timedelta | None:
    """``HH:MM:SS`` (CoreShowChannel ``Duration``) or seconds."""
    if not text:
        return None
    try:
        parts = [int(p) for p in text.strip().split(":")]
    except ValueError:
        return None
    seconds = 0
    for p in parts:
        seconds = seconds * 60 + p
    return timedelta(seconds=seconds)


class CelTimes:
    """The ``Cel`` handler of :class:`~ivr.calls.CallTracker` (a mixin over the tracker's indexes)."""

    def _on_cel(self, msg: Message, at: datetime) -> None:
        """CEL records give second-exact PBX times for start, answer and hangup.

        CEL and channel events travel on different Stasis topics, so a CEL record
        may arrive before the ``Newchannel`` of its channel: it is then kept (bounded)
        until the channel appears.
        """
        uid = msg.get("Uniqueid")
        when = message_time(msg, self.pbx_tz)
        kind = (msg.get("EventName") or "").strip().upper()
        if not uid or when is None or kind not in ("CHAN_START", "ANSWER", "HANGUP"):
            return
        if abs((when - aware(self.clock())).total_seconds()) > self.max_cel_skew:
            if not self._skew_warned:
                self._skew_warned = True
                log.warning("call tracker: CEL EventTime %s is far from the clock %s; CEL times "
                            "ignored (is pbx_tz the PBX's time zone?)", when, self.clock())
            return
        ch = self._by_uid.get(uid)
        if ch is None:
            if uid not in self._ended:
                self._cel_early.setdefault(uid, {})[kind] = when
                self._cel_early.move_to_end(uid)
                while len(self._cel_early) > 1000:
                    self._cel_early.popitem(last=False)
            return
        self._apply_cel(ch, kind, when)

    def _apply_cel(self, ch: Channel, kind: str, when: datetime) -> None:
        call = ch.call
        if kind == "CHAN_START" and ch.uniqueid == call.root:
            call.snap.started_at = when
        elif kind == "ANSWER":
            ch.cel_answer = when
            if ch.uniqueid == call.citizen and call.snap.answered_at is not None:
                call.snap.answered_at = when
        elif kind == "HANGUP":
            ch.cel_hangup = when
