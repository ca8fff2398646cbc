"""Domain events: the typed seam from ``ivr/`` (telephony) to ``hotline/`` (ticketing).

``ivr`` publishes these on the :mod:`ivr.bus`; ``hotline`` subscribes. Nothing here
knows about AMI headers, SQL or pages. Every event carries ``call_id`` — the Asterisk
Linkedid of the citizen's inbound channel, stable across Local channels and transfers
— and ``at``, the time the PBX reported it (timezone-aware UTC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum


class Disposition(str, Enum):
    """How a call ended, from the citizen's point of view (design §3)."""

    SELF_SERVED = "self_served"      # finished in the IVR with a self-service success
    AGENT = "agent"                  # talked to an agent
    TRANSFERRED = "transferred"      # handed to a district local line that answered
    VOICEMAIL = "voicemail"          # left an after-hours message
    ABANDONED = "abandoned"          # hung up in the IVR or queue before being served
    FAILED = "failed"                # never connected (originate failure, congestion)
    ENDED_DISCONNECTED = "ended_while_disconnected"  # vanished while the controller was offline
    INTERNAL = "internal"            # a staff leg that served another call (an attended transfer's
    #                                  consult call, a pickup): kept as a row, no citizen metric counts it


class TransferResult(str, Enum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    UNAVAILABLE = "unavailable"
    CANCELLED = "cancelled"
    FAILED = "failed"
    PENDING = "pending"


@dataclass(slots=True)
class IvrStep:
    """One step of the caller's path through the voice menu."""

    at: datetime
    menu: str                 # menu/context id, e.g. "main"
    kind: str                 # "enter", "choice", "timeout", "invalid", "speech", "agi"
    value: str = ""           # digit, keyword or AGI script


@dataclass(slots=True)
class Transfer:
    at: datetime
    target: str               # dialled target, e.g. "district:150402" or a channel/extension
    kind: str                 # "district_line", "blind", "attended", "redirect"
    result: TransferResult = TransferResult.PENDING
    dial_status: str = ""     # raw DIALSTATUS when known (ANSWER, BUSY, NOANSWER, ...)
    district_code: str = ""


@dataclass(slots=True)
class CallSnapshot:
    """What the tracker knows about one citizen conversation at a moment."""

    call_id: str              # Linkedid of the inbound channel
    caller: str = ""
    caller_name: str = ""
    caller_presentation: str = ""  # "allowed", "restricted" (withheld) or "unavailable"; "" when unknown
    dialed: str = ""
    channel: str = ""         # the citizen's channel name
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    ivr_path: list[IvrStep] = field(default_factory=list)
    digits: str = ""          # every DTMF digit the caller pressed, in order
    queue: str = ""
    queue_joined_at: datetime | None = None
    queue_left_at: datetime | None = None
    queue_wait_s: float | None = None
    agent: str = ""
    agent_answered_at: datetime | None = None
    transfers: list[Transfer] = field(default_factory=list)
    recordings: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)  # IVR marks (e.g. HOTLINE_* vars)
    disposition: Disposition | None = None
    hangup_cause: int | None = None
    hangup_cause_text: str = ""


# -- events -------------------------------------------------------------------

@dataclass(slots=True, kw_only=True)
class CallEvent:
    call_id: str
    at: datetime


@dataclass(slots=True, kw_only=True)
class CallStarted(CallEvent):
    caller: str
    dialed: str
    channel: str = ""
    adopted: bool = False     # found live during a resync rather than seen from the start


@dataclass(slots=True, kw_only=True)
class CallAnswered(CallEvent):
    pass


@dataclass(slots=True, kw_only=True)
class MenuChosen(CallEvent):
    step: IvrStep


@dataclass(slots=True, kw_only=True)
class QueueJoined(CallEvent):
    queue: str
    position: int | None = None


@dataclass(slots=True, kw_only=True)
class QueueLeft(CallEvent):
    queue: str
    wait_s: float | None
    abandoned: bool


@dataclass(slots=True, kw_only=True)
class AgentAnswered(CallEvent):
    queue: str
    agent: str
    wait_s: float | None = None


@dataclass(slots=True, kw_only=True)
class Transferred(CallEvent):
    transfer: Transfer


@dataclass(slots=True, kw_only=True)
class Recorded(CallEvent):
    path: str
    kind: str = "call"        # "call" (MixMonitor) or "message" (after-hours Record)


@dataclass(slots=True, kw_only=True)
class CallEnded(CallEvent):
    snapshot: CallSnapshot


# -- agents -------------------------------------------------------------------

class AgentState(str, Enum):
    """An agent seat as the queues see it (console convention: 未签入 → 签入空闲 → 振铃 → 通话中 →
    话后整理 → 签入空闲; 示忙 from any signed-in state)."""

    LOGGED_OUT = "logged_out"     # 未签入: member of no queue
    IDLE = "idle"                 # 签入空闲
    RINGING = "ringing"           # 振铃: a queue call rings the seat
    ON_CALL = "on_call"           # 通话中
    WRAP_UP = "wrap_up"           # 话后整理: the queue's wrap-up time, or paused for wrap-up
    PAUSED = "paused"             # 示忙 (with a reason)


@dataclass(slots=True)
class AgentSnapshot:
    """What the queues say about one agent seat (a queue member interface) at a moment."""

    interface: str                # e.g. PJSIP/agent-1101
    name: str = ""                # the member name the agent signed in with
    state: AgentState = AgentState.LOGGED_OUT
    since: datetime | None = None  # when the seat entered ``state``
    queues: tuple[str, ...] = ()
    pause_reason: str = ""
    call_id: str = ""             # the call ringing or connected at the seat
    calls_taken: int = 0
    wrap_up_until: datetime | None = None


@dataclass(slots=True, kw_only=True)
class AgentStateChanged:
    """An agent seat changed state (not a call event: ``call_id`` is the call ringing or connected
    at the seat, empty otherwise)."""

    at: datetime
    agent: AgentSnapshot


DomainEvent = (
    CallStarted | CallAnswered | MenuChosen | QueueJoined | QueueLeft | AgentAnswered
    | Transferred | Recorded | CallEnded | AgentStateChanged
)
