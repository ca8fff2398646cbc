"""The live wallboard (实时监控 / 大屏): what is happening on the phones now, and today so far.

Live part, from the telephony (no database): calls waiting per queue and the longest wait
(排队数, 最长等待), calls in the IVR (IVR 中), agents signed in / idle / on a call / wrap-up /
paused (坐席 空闲/通话/话后/示忙), each agent's state and time in state. Today's figures
(呼入/接通/放弃, 接通率, 15 秒接听率, ASA, 平均通话时长) and tickets overdue now come from
:mod:`hotline.metrics.today` (one place defines them).

:class:`WallboardFeed` pushes a ``wallboard`` event to supervisors and admins whenever calls or
agents change — at most once a second, whatever the call rate — and refreshes today's figures
every ``figures_interval`` seconds. Every open wallboard receives the same snapshot.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any

from hotline.calls.schemas import phase_of
from hotline.calls.seats import STATE_LABELS
from hotline.metrics.call_tally import CallThresholds
from hotline.metrics.today import today_so_far
from hotline.users.roles import Role
from hotline.web.live import Audience, LiveEvent
from ivr.bus import EventBus, Subscription
from ivr.events import AgentState, AgentStateChanged, CallEnded, CallStarted, QueueJoined, QueueLeft

log = logging.getLogger(__name__)

__all__ = ["live_snapshot", "WallboardFeed", "WALLBOARD_AUDIENCE"]

WALLBOARD_AUDIENCE = Audience.of_roles(Role.SUPERVISOR, Role.ADMIN)
_COUNTED = (AgentState.IDLE, AgentState.ON_CALL, AgentState.RINGING, AgentState.WRAP_UP, AgentState.PAUSED)


def _since(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())


def live_snapshot(telephony: Any, now: datetime | None = None) -> dict[str, Any]:
    """Calls and agents as the telephony sees them now."""
    now = now or datetime.now(timezone.utc)
    if telephony is None or telephony.facade is None:
        return {"connected": False, "queues": [], "in_ivr": 0, "agents": [], "agent_counts": {}, "as_of": now}
    flow = telephony.flow
    calls = telephony.facade.live_calls()
    waiting: dict[str, list[float]] = {q.id: [] for q in flow.queues}
    in_ivr = on_agent = 0
    for snap in calls:
        phase = phase_of(snap)
        if phase == "queue" and snap.queue_left_at is None:
            waiting.setdefault(snap.queue, []).append(_since(snap.queue_joined_at, now) or 0.0)
        elif phase == "ivr":
            in_ivr += 1
        elif phase == "agent":
            on_agent += 1
    names = {q.id: q.name for q in flow.queues}
    queues = [{"id": q, "name": names.get(q, q), "waiting": len(w), "longest_wait": max(w) if w else 0.0}
              for q, w in waiting.items()]
    agents, counts = [], {state.value: 0 for state in _COUNTED}
    for a in telephony.facade.agent_snapshots():
        if a.state is AgentState.LOGGED_OUT:
            continue
        counts[a.state.value] = counts.get(a.state.value, 0) + 1
        label = STATE_LABELS[a.state] + (f"（{a.pause_reason}）" if a.state is AgentState.PAUSED and a.pause_reason
                                         else "")
        agents.append({"name": a.name or a.interface, "seat": a.interface, "state": a.state.value, "label": label,
                       "since": a.since, "queues": [names.get(q, q) for q in a.queues],
                       "calls_taken": a.calls_taken})
    agents.sort(key=lambda x: (_COUNTED.index(AgentState(x["state"])), x["name"]))
    return {"connected": True, "queues": queues, "in_ivr": in_ivr, "on_agent": on_agent, "live_calls": len(calls),
            "agents": agents, "agent_counts": counts, "signed_in": len(agents), "as_of": now}


class WallboardFeed:
    """Pushes wallboard snapshots (see the module docstring). A service of the app."""

    def __init__(self, state: Any, bus: EventBus, *, min_interval: float = 1.0, figures_interval: float = 10.0):
        self.state, self.bus = state, bus
        self.min_interval, self.figures_interval = min_interval, figures_interval
        self.figures: dict[str, Any] | None = None
        self.published = 0
        self._dirty = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._sub: Subscription | None = None

    def snapshot(self) -> dict[str, Any]:
        live = live_snapshot(self.state.telephony_service())
        live["today"] = self.figures
        return live

    def _changed(self, _event: object) -> None:
        self._dirty.set()

    async def start(self) -> None:
        self._sub = self.bus.subscribe(self._changed, CallStarted, CallEnded, QueueJoined, QueueLeft,
                                       AgentStateChanged, on_overflow=self._changed)   # a full snapshot either way
        self._tasks = [asyncio.create_task(self._push(), name="wallboard-push"),
                       asyncio.create_task(self._refresh_figures(), name="wallboard-figures")]

    async def stop(self) -> None:
        if self._sub is not None:
            self.bus.unsubscribe(self._sub)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _push(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            started = time.monotonic()
            if self.state.live.connections:
                self.state.live.publish(LiveEvent("wallboard", self.snapshot(), WALLBOARD_AUDIENCE))
                self.published += 1
            await asyncio.sleep(max(0.0, self.min_interval - (time.monotonic() - started)))

    def compute_figures(self) -> dict[str, Any]:
        state = self.state
        now = state.now()
        thresholds = CallThresholds.from_rules(state.rules)
        with state.read_sessions() as s:
            return today_so_far(s, now, thresholds, now.tzinfo).as_dict()

    async def _refresh_figures(self) -> None:
        while True:
            try:
                self.figures = await asyncio.to_thread(self.compute_figures)
                self._dirty.set()
            except Exception:
                log.exception("wallboard: today's figures failed")
            await asyncio.sleep(self.figures_interval)
