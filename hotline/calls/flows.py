"""The agent's console follows the telephony live: seat states, the screen pop, the simulated
desk phone, transfer results.

:class:`AgentConsoleFeed` subscribes to the telephony events on the bus and publishes live
events to the consoles of the users bound to the seat concerned:

* ``agent``  — the seat's state changed (签入/示忙/振铃/通话中/话后整理), with the agent bar's data;
* ``call``   — a call rings at or is connected to the seat: the page fetches the call panel
  (caller, IVR path, district, wait, history and open tickets) from ``/agent/panel``;
* ``phone``  — simulator only: the desk phone rings / is connected / is free;
* ``transfer`` — the result of a transfer the agent asked for (已接通 / 忙线 / 无人接听 …).

Payloads are small; the page fetches what it shows, so nothing is pushed to a user the
server would not show it to.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from hotline.calls.seats import seat_view, users_at_seat
from hotline.calls.transfer_log import RESULT_LABELS
from hotline.web.live import Audience, LiveEvent
from ivr.bus import EventBus, Subscription
from ivr.events import AgentState, AgentStateChanged, Transferred

log = logging.getLogger(__name__)

__all__ = ["AgentConsoleFeed"]

_SEAT_CACHE_SECONDS = 30.0


class AgentConsoleFeed:
    def __init__(self, bus: EventBus, read_sessions: sessionmaker[Session], live: Any, telephony: Any,
                 names: Any = None):
        self.bus, self.read_sessions, self.live, self.telephony, self.names = bus, read_sessions, live, telephony, names
        self._seat_users: dict[str, tuple[float, list[int]]] = {}
        self._transfer_requests: dict[str, int] = {}      # call id → the user who asked for the transfer
        self._subs: list[Subscription] = [bus.subscribe(self.on_agent, AgentStateChanged, on_overflow=self._behind),
                                          bus.subscribe(self.on_transfer, Transferred)]
        telephony.on_softphone = self.on_softphone
        self._resend: asyncio.Task | None = None

    def close(self) -> None:
        for sub in self._subs:
            self.bus.unsubscribe(sub)
        self._subs = []

    # -- who sits where ---------------------------------------------------------------------
    def forget_seat(self, seat: str) -> None:
        """An admin changed a binding: look the seat up again next time."""
        self._seat_users.pop(seat.lower(), None)

    async def users(self, seat: str) -> list[int]:
        key = seat.lower()
        cached = self._seat_users.get(key)
        if cached is not None and time.monotonic() - cached[0] < _SEAT_CACHE_SECONDS:
            return cached[1]

        def load() -> list[int]:
            with self.read_sessions() as s:
                return users_at_seat(s, seat)

        ids = await asyncio.to_thread(load)
        self._seat_users[key] = (time.monotonic(), ids)
        return ids

    def transfer_requested(self, call_id: str, user_id: int) -> None:
        self._transfer_requests[call_id] = user_id
        while len(self._transfer_requests) > 1000:
            self._transfer_requests.pop(next(iter(self._transfer_requests)))

    # -- events -----------------------------------------------------------------------------
    async def on_agent(self, event: AgentStateChanged) -> None:
        agent = event.agent
        ids = await self.users(agent.interface)
        if not ids:
            return
        audience = Audience.users(*ids)
        view = seat_view(self.telephony, agent.interface)
        self.live.publish(LiveEvent("agent", view.as_dict(), audience))
        if agent.state in (AgentState.RINGING, AgentState.ON_CALL) and agent.call_id:
            self.live.publish(LiveEvent("call", {"call_id": agent.call_id, "state": agent.state.value,
                                                 "at": event.at}, audience))

    def _behind(self, _sub: Subscription) -> None:
        """Agent events were dropped (decision 0015): send every seat's current state again (once
        for a burst of drops)."""
        if self._resend is None or self._resend.done():
            self._resend = asyncio.get_running_loop().create_task(self._resend_soon())

    async def _resend_soon(self) -> None:
        await asyncio.sleep(0.01)          # let the burst that overflowed finish first
        await self.resend_seats()

    async def resend_seats(self) -> int:
        """Publish the current state of every seat the queues know to its agents; returns how many."""
        board = self.telephony.facade.agents if self.telephony is not None else None
        sent = 0
        for snap in (board.snapshots() if board is not None else []):
            ids = await self.users(snap.interface)
            if ids:
                self.live.publish(LiveEvent("agent", seat_view(self.telephony, snap.interface).as_dict(),
                                            Audience.users(*ids)))
                sent += 1
        return sent

    def on_softphone(self, phone: Any) -> None:
        """Called by the telephony service (simulator) when a desk phone changes."""
        asyncio.get_running_loop().create_task(self._phone(phone.name, phone.state, phone.caller))

    async def _phone(self, seat: str, state: str, caller: str) -> None:
        ids = await self.users(seat)
        if ids:
            self.live.publish(LiveEvent("phone", {"seat": seat, "state": state, "caller": caller},
                                        Audience.users(*ids)))

    async def on_transfer(self, event: Transferred) -> None:
        user_id = self._transfer_requests.get(event.call_id)
        t = event.transfer
        if user_id is None or t.result.value == "pending":
            return
        target = self.names.unit(t.district_code) if self.names is not None and t.district_code else t.target
        self.live.publish(LiveEvent("transfer", {
            "call_id": event.call_id, "target": target, "result": t.result.value,
            "result_label": RESULT_LABELS.get(t.result.value, t.result.value),
            "title": f"转接{target}：{RESULT_LABELS.get(t.result.value, t.result.value)}"}, Audience.users(user_id)))
