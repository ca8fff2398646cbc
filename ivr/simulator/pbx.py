"""The simulated PBX core: channels, Local pairs, bridges, hang-up and events.

Every state change is published as an AMI event (:class:`Message`) to the
registered listeners (the AMI server fans them out to sessions). Channel and
event semantics follow the Asterisk 20 transcripts in
``shared/fixtures/asterisk-20``: a Local channel is a ``;1``/``;2`` pair whose
``;2`` runs the dialplan, a channel running the dialplan ends with
``SoftHangupRequest`` (and its ``h`` extension), a hang-up propagates to the
Local peer as ``HangupRequest``, and every channel ends with ``Hangup`` and a
``Cdr``.
"""

from __future__ import annotations

import asyncio
import logging
import time as _time
from dataclasses import dataclass
from typing import Callable

from ivr.ami.messages import Message

from .channels import UP, Bridge, Channel, Hungup, Interrupted, cause_text
from .clock import SimClock
from .conf import Dialplan

log = logging.getLogger(__name__)

Listener = Callable[[str, Message], None]


@dataclass(slots=True)
class Endpoint:
    """A scripted far end reachable as ``SIP/<name>`` or ``PJSIP/<name>`` (e.g. a district line).

    ``behaviour``: ``answer`` (after ``answer_after`` s, hang up after ``talk_time`` s,
    ``None`` = stay until the other side leaves), ``busy``, ``noanswer``,
    ``congestion`` or ``unavailable``.
    """

    behaviour: str = "answer"
    answer_after: float = 1.0
    talk_time: float | None = 3.0


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return ""
    return _time.strftime("%Y-%m-%d %H:%M:%S", _time.gmtime(ts))


class Pbx:
    def __init__(self, dialplan: Dialplan, clock: SimClock, systemname: str = "hotline-test") -> None:
        self.dialplan = dialplan
        self.clock = clock
        self.systemname = systemname
        self.globals: dict[str, str] = dict(dialplan.globals)
        self.channels: dict[str, Channel] = {}
        #: live channels per linkedid: LINKEDID_END without scanning every channel at each hang-up
        self._linked: dict[str, int] = {}
        self.endpoints: dict[str, Endpoint] = {}
        #: the far end of any other number (e.g. citizens called back); None = unavailable
        self.default_endpoint: Endpoint | None = None
        self.listeners: list[Listener] = []
        self._uid_seq = 0
        self._chan_seq = 0
        self.processed_calls = 0
        self.started_at = clock.now()
        self.reloaded_at = self.started_at
        self.tasks: set[asyncio.Task] = set()
        self.idle = asyncio.Event()
        self.idle.set()
        self.queues = None  # set by the simulator (QueueManager)
        self.agi_address: tuple[str, int] | None = None

    # -- events -------------------------------------------------------------
    def emit(self, event: str, cls: str, headers: list[tuple[str, str]]) -> None:
        msg = Message([("Event", event), ("Privilege", f"{cls},all"), ("SystemName", self.systemname), *headers])
        for listener in list(self.listeners):
            try:
                listener(cls, msg)
            except Exception:  # noqa: BLE001 - one broken listener must not stop the PBX
                log.exception("event listener failed")

    def chan_event(self, event: str, chan: Channel, *extra: tuple[str, str], cls: str = "call") -> None:
        self.emit(event, cls, chan.snapshot() + list(extra))

    def cel(self, chan: Channel, name: str, *, app: str = "", appdata: str = "", extra: str = "") -> None:
        """A Channel Event Logging record (cel_manager), as the transcripts show them."""
        self.emit(
            "CEL",
            "call",
            [
                ("EventName", name), ("AccountCode", chan.accountcode), ("CallerIDnum", chan.cid_num),
                ("CallerIDname", chan.cid_name), ("CallerIDani", ""), ("CallerIDrdnis", ""), ("CallerIDdnid", chan.dnid),
                ("Exten", chan.exten), ("Context", chan.context), ("Channel", chan.name), ("Application", app),
                ("AppData", appdata), ("EventTime", fmt_time(self.clock.now())), ("AMAFlags", "DOCUMENTATION"),
                ("UniqueID", chan.uniqueid), ("LinkedID", chan.linkedid), ("Userfield", chan.cdr_userfield),
                ("Peer", ""), ("PeerAccount", ""), ("Extra", extra),
            ],
        )

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    # -- channel creation ---------------------------------------------------
    def _uniqueid(self) -> str:
        uid = f"{self.systemname}-{int(self.clock.now())}.{self._uid_seq}"
        self._uid_seq += 1
        return uid

    def next_seq(self) -> int:
        seq = self._chan_seq
        self._chan_seq += 1
        return seq

    def _register(self, chan: Channel) -> None:
        if chan.name not in self.channels:
            self._linked[chan.linkedid] = self._linked.get(chan.linkedid, 0) + 1
        self.channels[chan.name] = chan
        self.idle.clear()

    def new_channel(
        self,
        name: str,
        context: str,
        exten: str,
        *,
        state: int = 0,
        linkedid: str | None = None,
        cid: tuple[str, str] = ("", ""),
        tech: str = "SIP",
        accountcode: str = "",
        dnid: str = "",
        uniqueid: str | None = None,
    ) -> Channel:
        uid = uniqueid or self._uniqueid()
        chan = Channel(
            name=name,
            uniqueid=uid,
            linkedid=linkedid or uid,
            context=context,
            exten=exten,
            state=state,
            cid_name=cid[0],
            cid_num=cid[1],
            tech=tech,
            accountcode=accountcode,
            dnid=dnid,
            created=self.clock.now(),
        )
        self._register(chan)
        self.chan_event("Newchannel", chan)
        self.cel(chan, "CHAN_START")
        return chan

    def new_local_pair(
        self, exten: str, context: str, *, linkedid: str | None = None, accountcode: str = "",
        uniqueids: tuple[str, str] = ("", ""),
    ) -> tuple[Channel, Channel]:
        """``uniqueids``: Originate ChannelId/OtherChannelId; ``;2`` defaults to ``<ChannelId>;2`` (core_unreal)."""
        seq = self.next_seq()
        base = f"Local/{exten}@{context}-{seq:08x}"
        self.processed_calls += 1
        uid1, uid2 = uniqueids
        if uid1 and not uid2:
            uid2 = uid1 + ";2"
        one = self.new_channel(base + ";1", context, exten, state=0, linkedid=linkedid, tech="Local",
                               accountcode=accountcode, uniqueid=uid1 or None)
        two = self.new_channel(base + ";2", context, exten, state=4, linkedid=one.linkedid, tech="Local",
                               accountcode=accountcode, uniqueid=uid2 or None)
        one.local_peer, two.local_peer = two, one
        one.local_half, two.local_half = 1, 2
        return one, two

    def set_callerid(self, chan: Channel, name: str, num: str) -> None:
        chan.cid_name, chan.cid_num = name, num
        self.chan_event("NewCallerid", chan, ("CID-CallingPres", "0 (Presentation Allowed, Not Screened)"))

    def set_connected(self, chan: Channel, name: str, num: str) -> None:
        chan.conn_name, chan.conn_num = name, num
        self.chan_event("NewConnectedLine", chan)

    def local_bridge_event(self, one: Channel, two: Channel) -> None:
        self.emit(
            "LocalBridge",
            "call",
            one.snapshot("LocalOne")
            + two.snapshot("LocalTwo")
            + [("Context", two.context), ("Exten", two.exten), ("LocalOptimization", "Yes")],
        )

    def find_channel(self, ident: str | None) -> Channel | None:
        """By exact name, then Uniqueid, then name prefix (as ast_channel_get_by_name)."""
        if not ident:
            return None
        chan = self.channels.get(ident)
        if chan is not None:
            return chan
        for c in self.channels.values():
            if c.uniqueid == ident:
                return c
        for c in self.channels.values():
            if c.name.lower().startswith(ident.lower()):
                return c
        return None

    # -- variables ----------------------------------------------------------
    def set_var(self, chan: Channel | None, name: str, value: str, emit: bool = True) -> None:
        if chan is None:
            self.globals[name] = value
            if emit:
                self.emit("VarSet", "dialplan", [("Channel", "none"), ("Uniqueid", "none"), ("Variable", name), ("Value", value)])
            return
        chan.variables[name] = value
        if emit:
            self.chan_event("VarSet", chan, ("Variable", name), ("Value", value), cls="dialplan")

    # -- state --------------------------------------------------------------
    def set_state(self, chan: Channel, state: int) -> None:
        if chan.state == state or chan.gone:
            return
        chan.state = state
        self.chan_event("Newstate", chan)
        if state == UP and chan.tech == "Local":
            self.device_state(chan, "INUSE")

    def device_state(self, chan: Channel, state: str) -> None:
        self.emit("DeviceStateChange", "call", [("Device", chan.device()), ("State", state)])

    def answer(self, chan: Channel) -> None:
        """Answer ``chan``; for a Local ``;2`` this answers the ``;1`` half too."""
        if chan.gone or chan.is_up:
            return
        chan.answered_at = self.clock.now()
        self.cel(chan, "ANSWER", app=chan.app, appdata=chan.appdata)
        self.set_state(chan, UP)
        peer = chan.local_peer
        if peer is not None and chan.local_half == 2 and not peer.gone and not peer.is_up:
            peer.answered_at = chan.answered_at
            self.cel(peer, "ANSWER", app=peer.app, appdata=peer.appdata)
            self.set_state(peer, UP)
            self._signal(peer, "answer")
        else:
            self._signal(chan, "answer")

    def signal_busy(self, chan: Channel, kind: str = "busy") -> None:
        """A called channel reports busy/congestion to whoever is dialing it."""
        target = chan.local_peer if chan.local_half == 2 and chan.local_peer else chan
        self._signal(target, kind)

    def _signal(self, chan: Channel, what: str) -> None:
        fut = chan.progress
        if fut is not None and not fut.done():
            fut.set_result(what)

    # -- waiting inside applications ----------------------------------------
    def endpoint(self, peer: str) -> Endpoint | None:
        """The simulated far end dialled as ``<tech>/<peer>``."""
        return self.endpoints.get(peer) or (self.default_endpoint if peer else None)

    async def wait(self, chan: Channel, seconds: float | None) -> None:
        """Sleep ``seconds`` of simulated time unless the channel is interrupted."""
        if chan.interrupt.is_set():
            raise Hungup() if chan.hanging_up else Interrupted()
        try:
            if seconds is None:
                await chan.interrupt.wait()
            else:
                await asyncio.wait_for(chan.interrupt.wait(), self.clock.real(seconds))
        except asyncio.TimeoutError:
            return
        raise Hungup() if chan.hanging_up else Interrupted()

    async def wait_digit(self, chan: Channel, seconds: float | None) -> str | None:
        """Next DTMF digit received on ``chan`` or ``None`` on timeout."""
        if chan.interrupt.is_set():
            raise Hungup() if chan.hanging_up else Interrupted()
        if not chan.dtmf.empty():
            return chan.dtmf.get_nowait()
        getter = asyncio.ensure_future(chan.dtmf.get())
        stopper = asyncio.ensure_future(chan.interrupt.wait())
        try:
            done, _ = await asyncio.wait(
                {getter, stopper},
                timeout=None if seconds is None else self.clock.real(seconds),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            stopper.cancel()
            if not getter.done():
                getter.cancel()
        if getter in done and not getter.cancelled():
            return getter.result()
        if stopper in done:
            raise Hungup() if chan.hanging_up else Interrupted()
        return None

    # -- DTMF ---------------------------------------------------------------
    async def dtmf_in(self, chan: Channel, digit: str, duration_ms: int = 250, begin: bool = True) -> None:
        """``digit`` arrives on ``chan`` (Direction: Received) and is queued for its application.

        ``begin=False`` is PlayDTMF with ``Receive: yes``: Asterisk 20 reports only the DTMFEnd.
        """
        if chan.gone:
            return
        if begin:
            self.chan_event("DTMFBegin", chan, ("Digit", digit), ("Direction", "Received"), cls="dtmf")
        await self.clock.sleep(duration_ms / 1000)
        if chan.gone:
            return
        self.chan_event(
            "DTMFEnd", chan, ("Digit", digit), ("DurationMs", str(duration_ms)), ("Direction", "Received"), cls="dtmf"
        )
        chan.dtmf.put_nowait(digit)

    def dtmf_target(self, chan: Channel) -> Channel:
        """Where DTMF sent *from* ``chan`` is received: the Local peer or the bridged party."""
        if chan.local_peer is not None and not chan.local_peer.gone:
            return chan.local_peer
        if chan.bridge is not None:
            for other in chan.bridge.members:
                if other is not chan:
                    return other
        return chan

    # -- bridges ------------------------------------------------------------
    def bridge_channels(self, a: Channel, b: Channel, before_enter: Callable[[], None] | None = None) -> Bridge:
        bridge = Bridge()
        self.emit("BridgeCreate", "call", bridge.snapshot())
        if before_enter is not None:
            before_enter()
        for chan in (b, a):
            chan.bridge = bridge
            chan.bridge_left.clear()
            bridge.members.append(chan)
            self.emit("BridgeEnter", "call", bridge.snapshot() + chan.snapshot())
        for chan, other in ((b, a), (a, b)):
            self.set_var(chan, "BRIDGEPEER", other.name)
        return bridge

    def leave_bridge(self, chan: Channel) -> None:
        bridge = chan.bridge
        if bridge is None:
            return
        if bridge.on_leave is not None:
            hook, bridge.on_leave = bridge.on_leave, None
            hook(chan)
        for member in [chan] + [m for m in bridge.members if m is not chan]:
            if member in bridge.members:
                self.set_var(member, "BRIDGEPEER", "")
        for member in [chan] + [m for m in bridge.members if m is not chan]:
            if member not in bridge.members:
                continue
            bridge.members.remove(member)
            self.emit("BridgeLeave", "call", bridge.snapshot() + member.snapshot())
            member.bridge = None
            member.bridge_left.set()
        if not bridge.destroyed:
            bridge.destroyed = True
            self.emit("BridgeDestroy", "call", bridge.snapshot())

    async def wait_bridge(self, chan: Channel) -> None:
        """Block while ``chan`` stays bridged; raise if it is hung up meanwhile."""
        if chan.bridge is None:
            return
        left = asyncio.ensure_future(chan.bridge_left.wait())
        stop = asyncio.ensure_future(chan.interrupt.wait())
        try:
            await asyncio.wait({left, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            left.cancel()
            stop.cancel()
        if chan.interrupt.is_set():
            if chan.bridge is not None:
                self.leave_bridge(chan)
            raise Hungup() if chan.hanging_up else Interrupted()

    # -- hang-up ------------------------------------------------------------
    def request_hangup(self, chan: Channel, cause: int | None = None, *, announce: bool = False) -> None:
        """Ask ``chan`` to hang up. ``announce`` emits ``HangupRequest`` first."""
        if chan.gone or chan.hanging_up:
            return
        if chan.hangup_cause is None and cause is not None:
            chan.hangup_cause = cause
        if announce:
            self.chan_event("HangupRequest", chan, ("Cause", str(cause if cause is not None else 0)))
        chan.hanging_up = True
        chan.interrupt.set()
        self._signal(chan, "hangup")
        if chan.owner is None or chan.owner.done():
            self.destroy(chan)

    def destroy(self, chan: Channel) -> None:
        """Final hang-up: leave the bridge, tell the Local peer, emit Hangup and Cdr."""
        if chan.gone:
            return
        chan.hanging_up = True
        chan.interrupt.set()
        self._signal(chan, "hangup")
        cause = chan.hangup_cause if chan.hangup_cause is not None else 0
        if chan.bridge is not None:
            self.leave_bridge(chan)
        peer = chan.local_peer
        peer_alive = peer is not None and not peer.gone and not peer.hanging_up
        if peer_alive:
            self.chan_event("HangupRequest", peer, ("Cause", str(cause)))
        chan.gone = True
        self.chan_event("Hangup", chan, ("Cause", str(cause)), ("Cause-txt", cause_text(cause)))
        source = "dialplan/builtin" if chan.in_pbx and chan.hangup_source_dialplan else ""
        self.cel(chan, "HANGUP", extra=f'{{"hangupcause":{cause},"hangupsource":"{source}","dialstatus":""}}')
        self.cel(chan, "CHAN_END")
        self._cdr(chan)
        if chan.tech == "Local" and chan.answered_at is not None:
            self.device_state(chan, "NOT_INUSE")
        if self.channels.pop(chan.name, None) is not None:
            left = self._linked.get(chan.linkedid, 1) - 1
            if left > 0:
                self._linked[chan.linkedid] = left
            else:
                self._linked.pop(chan.linkedid, None)
                self.cel(chan, "LINKEDID_END")
        chan.ended.set()
        if peer_alive:
            self.request_hangup(peer, cause)
        if not self.channels:
            self.idle.set()

    def _cdr(self, chan: Channel) -> None:
        end = self.clock.now()
        answered = chan.answered_at
        if answered is not None:
            disposition = "ANSWERED"
        elif chan.hangup_cause == 17:
            disposition = "BUSY"
        elif chan.hangup_cause in (0, 34, 38) and not chan.cdr_lastapp:
            disposition = "FAILED"
        else:
            disposition = "NO ANSWER"
        self.emit(
            "Cdr",
            "cdr",
            [
                ("AccountCode", chan.accountcode),
                ("Source", chan.cid_num),
                ("Destination", chan.exten),
                ("DestinationContext", chan.context),
                ("CallerID", chan.callerid_all),
                ("Channel", chan.name),
                ("DestinationChannel", chan.variables.get("__cdr_dstchannel", "")),
                ("LastApplication", chan.cdr_lastapp),
                ("LastData", chan.cdr_lastdata),
                ("StartTime", fmt_time(chan.created)),
                ("AnswerTime", fmt_time(answered)),
                ("EndTime", fmt_time(end)),
                ("Duration", str(int(end - chan.created))),
                ("BillableSeconds", str(int(end - answered)) if answered else "0"),
                ("Disposition", disposition),
                ("AMAFlags", "DOCUMENTATION"),
                ("UniqueID", chan.uniqueid),
                ("UserField", chan.cdr_userfield),
            ],
        )

    def hangup_all(self, cause: int = 16) -> None:
        for chan in list(self.channels.values()):
            self.request_hangup(chan, cause)
