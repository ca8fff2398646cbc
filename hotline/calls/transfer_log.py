"""Transfers into the ticket log: every ``Transferred`` domain event of a call that has a
ticket becomes a ``TicketEvent`` (action ``transfer``) on that ticket, and the call row's
``transfers`` list is updated while the call is still live (the recorder stores the final
list again at ``CallEnded``).

Agent-initiated transfers are logged twice: the request (:func:`log_transfer_request`,
action ``transfer_requested``, by the agent) when the API accepted it, and the result
(answered / busy / no answer …) when the PBX reports it. A ticket event is never lost to
a concurrent writer: a clash on the ``(ticket_id, seq)`` key is retried with the next seq.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.calls.models import Call
from hotline.calls.service import get_call
from hotline.cases.models import Ticket, TicketEvent
from hotline.cases.timeline import LogEvent, append_event
from hotline.database import transaction
from hotline.times import iso
from ivr.bus import EventBus, Subscription
from ivr.events import Transferred

log = logging.getLogger(__name__)

__all__ = ["RESULT_LABELS", "TransferLog",
           "log_transfer_request", "tickets_of_call"]

RESULT_LABELS = {"answered": "已接通", "busy": "忙线", "no_answer": "无人接听", "congestion": "线路拥塞",
                 "unavailable": "线路不可用", "cancelled": "已取消", "failed": "失败", "pending": "转接中"}


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if hasattr(value, "value") and not isinstance(value, (str, int, float)):
        return value.value
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


def tickets_of_call(session: Session, call: Call) -> list[Ticket]:
    return list(session.scalars(select(Ticket).where(Ticket.call_id == call.id).order_by(Ticket.id)))


def _target_label(target: str, district_names: dict[str, str]) -> str:
    kind, _, value = target.partition(":")
    if kind == "district":
        name = district_names.get(value, "")
        return f"{name}（{value}）受理电话" if name else f"旗区（{value}）受理电话"
    if kind == "queue":
        return f"人工队列 {value}"
    return target


def log_transfer_request(session: Session, call_id: str, target: str, *, actor: str, actor_id: int | None,
                         at: datetime, district_names: dict[str, str] | None = None) -> list[TicketEvent]:
    """The agent asked to transfer ``call_id`` to ``target``: one event per ticket of the call."""
    call = get_call(session, call_id)
    if call is None:
        return []
    label = _target_label(target, district_names or {})
    return [append_event(session, t, at=at, actor=actor, actor_id=actor_id, action=LogEvent.TRANSFER_REQUESTED,
                         note=f"坐席发起转接：{label}", data={"call_id": call_id, "target": target})
            for t in tickets_of_call(session, call)]


class TransferLog:
    """Subscribes to ``Transferred`` and writes the result to the call row and its tickets."""

    def __init__(self, sessions: sessionmaker[Session], bus: EventBus, *,
                 district_names: dict[str, str] | None = None):
        self.sessions = sessions
        self.bus = bus
        self.district_names = dict(district_names or {})
        self.failures = 0
        self.logged = 0
        self._subscription: Subscription | None = bus.subscribe(self.handle, Transferred)

    def close(self) -> None:
        if self._subscription is not None:
            self.bus.unsubscribe(self._subscription)
            self._subscription = None

    async def handle(self, event: Transferred) -> None:
        try:
            self.logged += await asyncio.to_thread(self.handle_sync, event)
        except Exception:
            self.failures += 1
            log.exception("transfer log: could not record the transfer of call %s", event.call_id)

    def handle_sync(self, event: Transferred) -> int:
        """Record one transfer result (blocking); returns the number of ticket events written."""
        t = event.transfer
        data = {k: _json(v) for k, v in asdict(t).items()}
        data["call_id"] = event.call_id
        result = data.get("result", "")
        with transaction(self.sessions) as session:
            call = get_call(session, event.call_id)
            if call is None:
                return 0
            known = list(call.transfers or [])
            same = [i for i, x in enumerate(known) if isinstance(x, dict)
                    and x.get("at") == data["at"] and x.get("target") == data["target"]]
            row = {k: v for k, v in data.items() if k != "call_id"}
            if same:
                known[same[-1]] = row
            else:
                known.append(row)
            call.transfers = known
            if result == "pending":
                return 0
            target = t.target if t.target else (f"district:{t.district_code}" if t.district_code else "")
            label = _target_label(target, self.district_names)
            status = f"（{t.dial_status}）" if t.dial_status else ""
            note = f"转接{label}：{RESULT_LABELS.get(result, result)}{status}"
            tickets = tickets_of_call(session, call)
            for ticket in tickets:
                append_event(session, ticket, at=event.at, actor="ivr", actor_id=None, action=LogEvent.TRANSFER,
                             note=note, data=data)
            return len(tickets)
