"""Simulated channels and bridges, and the AMI snapshot blocks they print."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field

STATE_DESC = {
    0: "Down",
    1: "Rsrvd",
    2: "OffHook",
    3: "Dialing",
    4: "Ring",
    5: "Ringing",
    6: "Up",
    7: "Busy",
    8: "Dialing Offhook",
    9: "Pre-ring",
}
UP = 6

CAUSE_TEXT = {
    0: "Unknown",
    1: "Unallocated (unassigned) number",
    3: "No route to destination",
    16: "Normal Clearing",
    17: "User busy",
    18: "No user responding",
    19: "User alerting, no answer",
    21: "Call Rejected",
    27: "Destination out of order",
    34: "Circuit/channel congestion",
    38: "Network out of order",
    41: "Temporary failure",
}


def cause_text(cause: int) -> str:
    return CAUSE_TEXT.get(cause, "Unknown")


class Interrupted(Exception):
    """The channel's current application was interrupted (hang-up or redirect)."""


class Hungup(Interrupted):
    pass


@dataclass(eq=False)
class Channel:
    name: str
    uniqueid: str
    linkedid: str
    context: str
    exten: str
    priority: int = 1
    state: int = 0
    cid_num: str = ""
    cid_name: str = ""
    conn_num: str = ""
    conn_name: str = ""
    language: str = "en"
    accountcode: str = ""
    tech: str = "Local"
    dnid: str = ""
    created: float = 0.0
    answered_at: float | None = None
    variables: dict[str, str] = field(default_factory=dict)
    gosub_stack: list = field(default_factory=list)  # (context, exten, return priority, saved ARGn)
    app: str = ""
    appdata: str = ""
    local_peer: "Channel | None" = None
    local_half: int = 0
    bridge: "Bridge | None" = None
    hangup_cause: int | None = None
    gone: bool = False
    hanging_up: bool = False
    owner: asyncio.Task | None = None
    in_pbx: bool = False
    hangup_source_dialplan: bool = False
    utterances: list = field(default_factory=list)  # WAV files the caller says at the next RECORD FILE
    redirect_to: tuple[str, str, int] | None = None
    cdr_userfield: str = ""
    cdr_lastapp: str = ""
    cdr_lastdata: str = ""
    # set when something (Dial, Queue, Originate) waits for this channel to answer/fail
    progress: asyncio.Future | None = None

    def __post_init__(self) -> None:
        self.interrupt = asyncio.Event()
        self.bridge_left = asyncio.Event()
        self.dtmf: asyncio.Queue[str] = asyncio.Queue()
        self.ended = asyncio.Event()

    # -- AMI snapshot -------------------------------------------------------
    def snapshot(self, prefix: str = "", with_channel: bool = True) -> list[tuple[str, str]]:
        h: list[tuple[str, str]] = []
        if with_channel:
            h.append((prefix + "Channel", self.name))
        h += [
            (prefix + "ChannelState", str(self.state)),
            (prefix + "ChannelStateDesc", STATE_DESC.get(self.state, "Unknown")),
            (prefix + "CallerIDNum", self.cid_num or "<unknown>"),
            (prefix + "CallerIDName", self.cid_name or "<unknown>"),
            (prefix + "ConnectedLineNum", self.conn_num or "<unknown>"),
            (prefix + "ConnectedLineName", self.conn_name or "<unknown>"),
            (prefix + "Language", self.language),
            (prefix + "AccountCode", self.accountcode),
            (prefix + "Context", self.context),
            (prefix + "Exten", self.exten),
            (prefix + "Priority", str(self.priority)),
            (prefix + "Uniqueid", self.uniqueid),
            (prefix + "Linkedid", self.linkedid),
        ]
        return h

    @property
    def is_up(self) -> bool:
        return self.state == UP

    @property
    def callerid_all(self) -> str:
        if self.cid_name and self.cid_num:
            return f'"{self.cid_name}" <{self.cid_num}>'
        if self.cid_num:
            return f"<{self.cid_num}>"
        if self.cid_name:
            return f'"{self.cid_name}" <>'
        return ""

    def device(self) -> str:
        """Device name without the sequence suffix (``Local/s@ivr-12319``)."""
        base = self.name.split(";")[0]
        return base.rsplit("-", 1)[0] if "-" in base else base


def parse_callerid(text: str) -> tuple[str, str]:
    """``'"Name" <123>'`` -> ``("Name", "123")``; ``'123'`` -> ``("", "123")``."""
    text = (text or "").strip()
    if "<" in text and text.endswith(">"):
        name, _, num = text[:-1].rpartition("<")
        return name.strip().strip('"').strip(), num.strip()
    if text.replace("+", "").isdigit():
        return "", text
    return text.strip('"'), ""


class Bridge:
    def __init__(self) -> None:
        self.uniqueid = str(uuid.uuid4())
        self.members: list[Channel] = []
        self.destroyed = False
        #: called once with the first channel that leaves (app_queue's AgentComplete)
        self.on_leave = None

    def snapshot(self) -> list[tuple[str, str]]:
        return [
            ("BridgeUniqueid", self.uniqueid),
            ("BridgeType", "basic"),
            ("BridgeTechnology", "simple_bridge"),
            ("BridgeCreator", "<unknown>"),
            ("BridgeName", "<unknown>"),
            ("BridgeNumChannels", str(len(self.members))),
            ("BridgeVideoSourceMode", "none"),
        ]
