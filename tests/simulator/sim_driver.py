"""Drive the PBX simulator with a fixture's ``.sent`` actions over TCP and compare with the real transcript.

Normalisation: Local channel sequence numbers and Uniqueids are renumbered in
order of first appearance, so ``Local/s@hold-00000008;2`` in the fixture and
``Local/s@hold-00000000;2`` from the simulator both become ``Local/s@hold-#0;2``.
Before each action is sent, the driver waits until the simulator has produced
the tracked events the real Asterisk had produced before answering that
action (so timing-dependent actions such as PlayDTMF or Redirect hit the same
dialplan state), then rewrites channel names in the action to the simulator's.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections import Counter, defaultdict
from pathlib import Path

from ivr.ami.messages import Message
from ivr.ami.protocol import AmiParser, parse_stream

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "asterisk-20"

#: events compared per channel, in order
TRACKED = {
    "Newchannel", "Newstate", "Newexten", "UserEvent", "DTMFBegin", "DTMFEnd", "DialBegin", "DialEnd",
    "BridgeEnter", "BridgeLeave", "Hangup", "HangupRequest", "SoftHangupRequest", "QueueCallerJoin",
    "QueueCallerLeave", "QueueCallerAbandon", "AgentCalled", "AgentConnect", "AgentComplete", "MusicOnHoldStart",
    "MusicOnHoldStop", "MixMonitorStart", "NewCallerid", "NewConnectedLine", "NewAccountCode", "AGIExecStart",
    "AGIExecEnd",
}
#: fields compared for each tracked event (after normalisation)
FIELDS = ("Context", "Exten", "Priority", "ChannelState", "Application", "AppData", "Cause", "Cause-txt", "DialStatus",
          "Digit", "Direction", "UserEvent", "Queue", "Position", "Count", "Reason", "CallerIDNum", "CallerIDName",
          "ConnectedLineNum", "AccountCode", "Linkedid", "Uniqueid", "DestChannel", "Interface", "MemberName", "Command",
          "ResultCode", "Result")

_SEQ = re.compile(r"(Local/[^\s;,]+?-)([0-9a-f]{8})(;[12])")
_UID = re.compile(r"hotline-test-\d+\.\d+")


def fixture_messages(name: str) -> list[Message]:
    return parse_stream((FIXTURES / f"{name}.txt").read_bytes())


def sent_actions(name: str) -> list[bytes]:
    raw = (FIXTURES / f"{name}.sent").read_bytes()
    return [b + b"\r\n\r\n" for b in raw.split(b"\r\n\r\n") if b.strip()]


class Normaliser:
    """Renumbers channel sequence numbers and Uniqueids in order of first appearance."""

    def __init__(self) -> None:
        self.seqs: dict[str, int] = {}
        self.uids: dict[str, int] = {}

    def seq(self, hex8: str) -> int:
        return self.seqs.setdefault(hex8, len(self.seqs))

    def text(self, value: str) -> str:
        value = _SEQ.sub(lambda m: f"{m.group(1)}#{self.seq(m.group(2))}{m.group(3)}", value)
        return _UID.sub(lambda m: f"uid#{self.uids.setdefault(m.group(0), len(self.uids))}", value)

    def message(self, m: Message) -> Message:
        return Message([(k, self.text(v)) for k, v in m.headers])


def channel_of(m: Message) -> str | None:
    return m.get("Channel") or m.get("DestChannel")


def signature(m: Message) -> tuple:
    return (m.name, channel_of(m)) + tuple(m.get(f) for f in ("Context", "Exten", "Priority", "Application"))


def tracked(msgs: list[Message]) -> list[Message]:
    return [m for m in msgs if m.is_event and m.name in TRACKED]


def per_channel(msgs: list[Message]) -> dict[str, list[tuple]]:
    out: dict[str, list[tuple]] = defaultdict(list)
    for m in tracked(msgs):
        ch = channel_of(m)
        if ch is None:
            continue
        out[ch].append((m.name,) + tuple((f, m.get(f)) for f in FIELDS if m.get(f) is not None))
    return dict(out)


def responses(msgs: list[Message]) -> list[tuple]:
    return [(m.name, m.get("ActionID"), m.get("Message"), m.get("EventList")) for m in msgs if m.is_response]


def free_port() -> int:
    """A port with nothing listening (for 'no FastAGI server' runs)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Run:
    def __init__(self) -> None:
        self.raw = bytearray()
        self.messages: list[Message] = []


async def drive(sim, name: str, *, settle: float = 10.0) -> tuple[list[Message], list[Message], bytes]:
    """Replay ``name``.sent against ``sim``; returns (fixture messages, simulator messages, simulator bytes),
    both normalised."""
    fixture = fixture_messages(name)
    fx_norm = Normaliser()
    fixture_n = [fx_norm.message(m) for m in fixture]
    actions = sent_actions(name)

    # tracked events seen in the fixture before the response to each action
    before: list[Counter] = []
    counter: Counter = Counter()
    responses_seen = 0
    for m in fixture_n:
        if m.is_response:
            while len(before) <= responses_seen:
                before.append(Counter(counter))
            responses_seen += 1
        elif m.is_event and m.name in TRACKED:
            counter[signature(m)] += 1
    while len(before) < len(actions):
        before.append(Counter(counter))

    reader, writer = await asyncio.open_connection("127.0.0.1", sim.bound_port)
    parser = AmiParser()
    run = Run()
    sim_norm = Normaliser()
    got: Counter = Counter()
    got_responses = 0
    changed = asyncio.Event()

    async def pump() -> None:
        nonlocal got_responses
        while True:
            data = await reader.read(65536)
            if not data:
                break
            run.raw += data
            for m in parser.feed(data):
                run.messages.append(m)
                n = sim_norm.message(m)
                if n.is_response:
                    got_responses += 1
                elif n.is_event and n.name in TRACKED:
                    got[signature(n)] += 1
            changed.set()

    pump_task = asyncio.create_task(pump())

    async def until(pred, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not pred():
            left = end - loop.time()
            if left <= 0 or pump_task.done():
                return pred()
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), left)
            except asyncio.TimeoutError:
                pass
        return True

    try:
        for i, action in enumerate(actions):
            want = before[i]
            await until(lambda: all(got[k] >= v for k, v in want.items()), settle)
            text = action.decode()
            # fixture channel names -> the simulator's: same normalised index, simulator's hex
            inverse = {idx: hx for hx, idx in sim_norm.seqs.items()}

            def to_sim(m: re.Match) -> str:
                idx = fx_norm.seq(m.group(2))
                return f"{m.group(1)}{inverse.get(idx, m.group(2))}{m.group(3)}"

            text = _SEQ.sub(to_sim, text)
            writer.write(text.encode())
            await writer.drain()
            await until(lambda: got_responses > i or pump_task.done(), settle)
        await asyncio.wait_for(pump_task, settle)
    finally:
        pump_task.cancel()
        writer.close()
    renorm = Normaliser()
    sim_n = [renorm.message(m) for m in run.messages]
    return fixture_n, sim_n, bytes(run.raw)


def call_records(data: bytes) -> list[dict]:
    """What the call tracker derives from an AMI byte stream, without times and with normalised ids."""
    import dataclasses

    from ivr.replay import replay_bytes

    norm = Normaliser()
    out = []
    for snap in replay_bytes(data):
        d = dataclasses.asdict(snap)
        rec = {k: v for k, v in d.items() if not k.endswith(("_at", "_s"))}
        rec["call_id"] = norm.text(rec["call_id"])
        rec["channel"] = norm.text(rec["channel"])
        rec["ivr_path"] = [(s["menu"], s["kind"], s["value"]) for s in rec["ivr_path"]]
        rec["transfers"] = [(t["target"], t["kind"], t["result"], t["dial_status"]) for t in rec["transfers"]]
        rec["recordings"] = [norm.text(r) for r in rec["recordings"]]
        rec["answered"] = snap.answered_at is not None
        rec["queued"] = snap.queue_joined_at is not None
        out.append(rec)
    return out


class AmiTap:
    """A minimal AMI client for tests: logs in and records every message the simulator sends."""

    def __init__(self, port: int, events: str = "on") -> None:
        self.port = port
        self.event_mask = events
        self.messages: list[Message] = []
        self.raw = bytearray()
        self._changed = asyncio.Event()
        self._n = 0

    async def __aenter__(self) -> "AmiTap":
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.parser = AmiParser()
        self.task = asyncio.create_task(self._pump())
        await self.action("Login", Username="hotline", Secret="hotline-secret", Events=self.event_mask)
        return self

    async def __aexit__(self, *exc) -> None:
        self.task.cancel()
        self.writer.close()

    async def _pump(self) -> None:
        while True:
            data = await self.reader.read(65536)
            if not data:
                self._changed.set()
                return
            self.raw += data
            self.messages.extend(self.parser.feed(data))
            self._changed.set()

    async def wait_for(self, pred, timeout: float = 10.0) -> Message:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            for m in self.messages:
                if pred(m):
                    return m
            left = end - loop.time()
            if left <= 0 or self.task.done():
                raise AssertionError("message not seen")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def action(self, name: str, *pairs: tuple[str, str], **fields: str) -> Message:
        self._n += 1
        aid = f"{name.lower()}-{self._n}"
        headers = [("Action", name)] + list(pairs) + [(k, v) for k, v in fields.items()] + [("ActionID", aid)]
        self.writer.write(Message(headers).encode())
        await self.writer.drain()
        return await self.wait_for(lambda m: m.is_response and m.get("ActionID") == aid)

    def events(self, name: str | None = None) -> list[Message]:
        return [m for m in self.messages if m.is_event and (name is None or m.name == name)]
