"""The tracker's internal records — one :class:`Call` per conversation, one :class:`Channel` per
channel — and the small readers of header values every handler family shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ..events import CallSnapshot, Transfer, TransferResult

UNKNOWN_CID = {"", "<unknown>", "unknown"}
UP = "6"  # ChannelState of an answered channel
FAILED_RESULTS = {
    TransferResult.BUSY, TransferResult.NO_ANSWER, TransferResult.CONGESTION,
    TransferResult.UNAVAILABLE, TransferResult.FAILED,
}


@dataclass(eq=False)
class Channel:
    uniqueid: str
    name: str
    call: "Call"
    context: str = ""
    exten: str = ""
    app: str = ""
    seen_exten: bool = False
    cel_answer: datetime | None = None
    cel_hangup: datetime | None = None


@dataclass(eq=False)
class Call:
    snap: CallSnapshot
    root: str
    seq: int
    channels: dict[str, Channel] = field(default_factory=dict)
    linkedids: set[str] = field(default_factory=set)
    citizen: str | None = None
    started_published: bool = False
    adopted: bool = False
    answered: bool = False
    dials: dict[str, Transfer] = field(default_factory=dict)
    agent_legs: set[str] = field(default_factory=set)
    unconfirmed_step: bool = False  # the last IVR step came from Newexten, no mark yet
    pending_district: str | None = None
    served: str = ""              # "agent" or "transferred": the last serving outcome
    voicemail: bool = False
    self_served: bool = False
    queue_abandoned: bool = False
    internal: bool = False        # a staff leg of another conversation (Disposition.INTERNAL)
    last_cause: int | None = None
    last_cause_text: str = ""

    def citizen_channel(self) -> Channel | None:
        return self.channels.get(self.citizen) if self.citizen else None


def is_local_one(name: str) -> bool:
    """``Local/x@ctx-0000001;1`` — the originator-side half of a Local pair."""
    return name.startswith("Local/") and name.endswith(";1")


def uid_order(uid: str) -> tuple[float, int, str]:
    """Sort key for 'oldest channel' heuristics; Uniqueids stay opaque strings otherwise."""
    tail = uid.rsplit("-", 1)[-1]
    epoch, _, seq = tail.partition(".")
    try:
        return (float(epoch), int(seq or 0), uid)
    except ValueError:
        return (float("inf"), 0, uid)


def as_int(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        return None


def as_float(text: str | None) -> float | None:
    try:
        return float(str(text).strip())
    except (TypeError, ValueError):
        return None
