"""Resync after an AMI reconnect: reconcile the live calls with the PBX's channel list.

``begin_resync()``, ``resync_channel(row)`` for each ``CoreShowChannel`` (and
``resync_queue_item(row)`` for each item of ``QueueStatus``), ``end_resync()``. Calls whose
citizen channel (or every channel) is no longer listed end as ``ended_while_disconnected``;
listed channels of unknown conversations are adopted (``CallStarted(adopted=True)``, started
``Duration`` ago). What an adopted call had before comes from the rows: the dialled number and
the answer time from the channel variables ``HOTLINE_DIALED`` / ``HOTLINE_ANSWERED``
(manager.conf ``channelvars``; a state ``Up`` without them: answered at the start), the queue
and its wait from the ``QueueEntry``, and a citizen bridged (``BridgeId``) with another channel
of the call is talking to an agent (in ``Queue``; named as the ``QueueMember``) or to the line
it dialled (``Dial``: a district line when ``HOTLINE_DISTRICT`` is set).
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from ..ami.messages import Message
from ..events import Disposition, Transfer, TransferResult
from .state import UP, Call, as_float, uid_order
from .times import aware, duration

log = logging.getLogger("ivr.calls")


class Resync:
    """The resync API of :class:`~ivr.calls.CallTracker` (a mixin over its bookkeeping)."""

    def begin_resync(self) -> None:
        """Start collecting ``CoreShowChannel`` rows after an AMI reconnect."""
        self._newexten_seen = self.newexten_missing = False  # a new login may have other read classes
        self._resync_rows = []
        self._resync_new = set()
        self._resync_queue = {}
        self._resync_members = {}

    def resync_channel(self, msg: Message) -> None:
        """Record one ``CoreShowChannel`` (or ``Status``) row of the live-channel list."""
        try:
            if self._resync_rows is not None and isinstance(msg, Message) and msg.get("Uniqueid"):
                self._resync_rows.append(msg)
        except Exception:
            log.exception("call tracker: bad resync row %r", msg)

    def add_resync_source(self, rows: Callable[[], Iterable[Message]]) -> None:
        """Another source feeding this tracker (Twilio, :mod:`ivr.twilio`) whose live channels the PBX
        does not list: ``rows()`` gives them as ``CoreShowChannel`` rows at every resync, so they stay."""
        self._resync_sources.append(rows)

    def resync_queue_item(self, msg: Message) -> None:
        """Record one item of ``QueueStatus``: a ``QueueEntry`` (a caller waiting) or a
        ``QueueMember`` (its name names the agent of an adopted call)."""
        if self._resync_rows is None or not isinstance(msg, Message):
            return
        kind = msg.name.lower()
        if kind == "queueentry" and msg.get("Uniqueid"):
            self._resync_queue[msg.get("Uniqueid", "")] = msg
        elif kind == "queuemember" and msg.get("Location") and msg.get("Name"):
            self._resync_members[msg.get("Location", "").lower()] = msg.get("Name", "")

    def end_resync(self) -> None:
        """Reconcile: close calls that vanished, adopt live calls never seen."""
        if self._resync_rows is not None:
            for source in self._resync_sources:
                try:
                    self._resync_rows.extend(source())
                except Exception:
                    log.exception("call tracker: resync source failed")
        rows, self._resync_rows = self._resync_rows, None
        if rows is None:
            return
        try:
            self._reconcile(rows)
        except Exception:
            self.errors += 1
            log.exception("call tracker: resync failed")
        finally:
            self._resync_new = set()
            self._resync_queue = {}
            self._resync_members = {}

    def _reconcile(self, rows: list[Message]) -> None:
        at = aware(self.clock())
        listed = {r.get("Uniqueid", ""): r for r in rows}
        alive = set(listed) | self._resync_new
        for call in list(self._calls.values()):
            gone = [uid for uid in call.channels if uid not in alive]
            for uid in gone:
                ch = call.channels.pop(uid)
                self._by_uid.pop(ch.uniqueid, None)
                self._remember(uid)
            if not call.channels or (call.citizen in gone):
                self._end(call, at, Disposition.ENDED_DISCONNECTED)
        adopted: dict[str, Call] = {}
        ages: dict[str, timedelta] = {}
        for row in rows:
            uid = row.get("Uniqueid", "")
            if not uid or uid in self._by_uid or uid in self._ended:
                continue
            lid = row.get("Linkedid") or uid
            call = self._by_linkedid.get(lid)
            if call is None:
                if lid in self._ended:
                    continue
                call = self._new_call(lid, root=lid, at=at)
                call.adopted = True
                adopted[call.snap.call_id] = call
            ch = self._add_channel(call, uid, row.get("Channel", ""), row,
                                   assign=call.snap.call_id not in adopted)
            ch.app = row.get("Application", "") or ""
            ch.seen_exten = True
            age = duration(row.get("Duration"))
            if age is not None and call.snap.call_id in adopted:
                ages[call.snap.call_id] = max(age, ages.get(call.snap.call_id, age))
        for call_id, call in adopted.items():
            self._assign_citizen(call, fallback=True)
            if call_id in ages:
                call.snap.started_at = at - ages[call_id]
            row = listed.get(call.citizen or "")
            if row is not None:
                call.answered = row.get("ChannelState") == UP
                self._caller_from(call, row, "")
                self._adopt_state(call, row, [listed[u] for u in call.channels if u in listed], at)
            self._publish_started(call)

    def _adopt_state(self, call: Call, row: Message, rows: list[Message], at: datetime) -> None:
        """What an adopted call had before the tracker saw it (see the module docstring)."""
        s = call.snap
        variables = row.variables()
        if variables.get("HOTLINE_DIALED"):
            s.dialed = variables["HOTLINE_DIALED"]
        elif s.dialed == "s":
            s.dialed = ""                       # the extension the dialplan runs, not a number
        for name, value in variables.items():
            if name.upper().startswith("HOTLINE_") and value:
                s.variables.setdefault(name, value)
        if call.answered:
            epoch = as_float(variables.get("HOTLINE_ANSWERED"))
            answered = datetime.fromtimestamp(epoch, timezone.utc) if epoch else s.started_at
            s.answered_at = answered if answered is not None and answered <= at else s.started_at
            if epoch and s.answered_at is not None and s.started_at is not None:
                # Duration is whole seconds (and read a moment ago); the entry answers at once
                s.started_at = min(s.started_at, s.answered_at)
        app = (row.get("Application") or "").lower()
        bridge = row.get("BridgeId") or ""
        peers = [r for r in rows if bridge and r.get("BridgeId") == bridge and r.get("Uniqueid") != call.citizen]
        peer = max(peers, key=lambda r: uid_order(r.get("Uniqueid", ""))) if peers else None
        since = at - (duration(peer.get("Duration")) or timedelta(0)) if peer is not None else at
        entry = self._resync_queue.get(call.citizen or "")
        if entry is not None or app == "queue":
            s.queue = (entry.get("Queue") if entry is not None else "") or variables.get("HOTLINE_QUEUE", "")
            wait = as_float(entry.get("Wait")) if entry is not None else None
            # waiting: Wait seconds ago; talking to an agent: no later than the agent answered
            s.queue_joined_at = at - timedelta(seconds=wait) if wait is not None else since
        if peer is None:
            return
        if app == "queue":
            interface = re.sub(r"-[0-9a-f]{8}$", "", peer.get("Channel", "") or "")
            s.agent = self._resync_members.get(interface.lower(), interface)
            s.agent_answered_at = since
            call.served = "agent"
        elif app == "dial":
            code = variables.get("HOTLINE_DISTRICT", "")
            s.transfers.append(Transfer(at=since, target=f"district:{code}" if code else peer.get("Channel", ""),
                                        kind="district_line" if code else "dial", result=TransferResult.ANSWERED,
                                        dial_status="ANSWER", district_code=code))
            call.served = "transferred"
