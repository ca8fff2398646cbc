"""Shared helpers for the call-tracker tests."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from ivr.ami.messages import Message

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk-20"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.txt").read_bytes()


def utc(hms: str, day: str = "2026-11-27") -> datetime:
    """``"17:07:23"`` -> aware UTC datetime on the capture day."""
    return datetime.fromisoformat(f"{day}T{hms}").replace(tzinfo=timezone.utc)


def ev(name: str, *pairs: tuple[str, str], **fields: str) -> Message:
    """An AMI event; keyword names use ``_`` for ``-`` (``Cause_txt`` -> ``Cause-txt``)."""
    headers = [("Event", name), *pairs]
    headers += [(k.replace("_", "-"), str(v)) for k, v in fields.items()]
    return Message(headers)


def chan(channel: str, uid: str, linkedid: str, *, state: str = "6", context: str = "ivr",
         exten: str = "s", cid: str = "13800000000", name: str = "") -> dict[str, str]:
    """The channel snapshot block of an event."""
    return {
        "Channel": channel, "ChannelState": state, "CallerIDNum": cid, "CallerIDName": name,
        "Context": context, "Exten": exten, "Uniqueid": uid, "Linkedid": linkedid,
    }


class FakeClock:
    """Injectable clock; tests move it explicitly."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 27, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.now += timedelta(seconds=seconds)
