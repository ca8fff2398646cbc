"""Queues: the citizen joins, leaves or abandons a queue, and the agent who answers.

``QueueCallerJoin``/``QueueCallerLeave`` give the queue and the wait (Asterisk's own
``HoldTime`` when ``AgentConnect`` or ``QueueCallerAbandon`` carry it); ``AgentCalled`` marks
the member legs Queue() rings so that they are not taken for transfers (:mod:`.dials`).
"""

from __future__ import annotations

from datetime import datetime

from ..ami.messages import Message
from ..events import AgentAnswered, QueueJoined, QueueLeft
from .state import as_float, as_int


class QueueEvents:
    """Queue handlers of :class:`~ivr.calls.CallTracker` (a mixin over its bookkeeping)."""

    def _on_queuecallerjoin(self, msg: Message, at: datetime) -> None:
        ch = self._channel(msg)
        if ch is None:
            return
        call = ch.call
        s = call.snap
        s.queue = msg.get("Queue") or ""
        s.queue_joined_at = at
        s.queue_left_at = None
        s.queue_wait_s = None
        call.queue_abandoned = False
        self._emit_call(call, QueueJoined(call_id=s.call_id, at=at, queue=s.queue,
                               position=as_int(msg.get("Position"))))

    def _on_queuecallerabandon(self, msg: Message, at: datetime) -> None:
        ch = self._channel(msg)
        if ch is None:
            return
        call = ch.call
        call.queue_abandoned = True
        hold = as_float(msg.get("HoldTime"))
        if hold is not None:
            call.snap.queue_wait_s = hold

    def _on_queuecallerleave(self, msg: Message, at: datetime) -> None:
        ch = self._channel(msg)
        if ch is None:
            return
        call = ch.call
        s = call.snap
        if not s.queue:
            s.queue = msg.get("Queue") or ""
        s.queue_left_at = at
        if s.queue_wait_s is None and s.queue_joined_at is not None:
            s.queue_wait_s = max(0.0, (at - s.queue_joined_at).total_seconds())
        self._emit_call(call, QueueLeft(call_id=s.call_id, at=at, queue=s.queue, wait_s=s.queue_wait_s,
                             abandoned=call.queue_abandoned))

    def _on_agentcalled(self, msg: Message, at: datetime) -> None:
        ch = self._channel(msg)
        dest = msg.get("DestUniqueid")
        if ch is not None and dest:
            ch.call.agent_legs.add(dest)

    def _on_agentconnect(self, msg: Message, at: datetime) -> None:
        ch = self._channel(msg)
        if ch is None:
            return
        call = ch.call
        s = call.snap
        hold = as_float(msg.get("HoldTime"))
        if hold is not None:
            s.queue_wait_s = hold  # Asterisk's own hold time (queue_log CONNECT), as in ASA
        if not s.queue:
            s.queue = msg.get("Queue") or ""
        s.agent = (msg.get("MemberName") or msg.get("Interface") or "").strip()
        s.agent_answered_at = at
        call.served = "agent"
        self._emit_call(call, AgentAnswered(call_id=s.call_id, at=at, queue=s.queue, agent=s.agent,
                                 wait_s=s.queue_wait_s))
