"""Live updates pushed to open consoles with Server-Sent Events (``GET /live``).

Services publish :class:`LiveEvent` s — a screen pop for one agent's seat, a new notice for
some users, a wallboard figure for supervisors — each with an :class:`Audience` saying who may
receive it. :class:`LiveHub` hands each event to the connected consoles whose user the
audience admits; nothing else leaves the server. ``publish`` may be called from any thread
(the write lane, the scheduler) and never blocks: a console that does not keep up loses its
oldest events (counted) and is told to reload (``event: resync``).

The browser side is ``static/app.js``: it opens one ``EventSource`` per page and dispatches
the events (``hotline:<kind>`` DOM events) to the parts of the page that listen.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, AsyncIterator

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from hotline.users.roles import Role
from hotline.web.security import CurrentUser, current_user
from hotline.times import json_default

log = logging.getLogger(__name__)

__all__ = ["Audience", "LiveEvent", "LiveHub", "router"]

HEARTBEAT_SECONDS = 15.0
QUEUE_SIZE = 500


@dataclass(frozen=True)
class Audience:
    """Who may receive an event: any user matching one of the fields (all empty = nobody)."""

    user_ids: frozenset[int] = frozenset()
    roles: frozenset[Role] = frozenset()
    district_code: str | None = None       # district officers of this district
    department_code: str | None = None     # department officers of this department

    @classmethod
    def users(cls, *ids: int) -> "Audience":
        return cls(user_ids=frozenset(ids))

    @classmethod
    def of_roles(cls, *roles: Role) -> "Audience":
        return cls(roles=frozenset(roles))

    def admits(self, user: CurrentUser) -> bool:
        if user.id in self.user_ids or user.role in self.roles:
            return True
        if self.district_code and user.role is Role.DISTRICT_OFFICER and user.district_code == self.district_code:
            return True
        return bool(self.department_code and user.role is Role.DEPARTMENT_OFFICER
                    and user.department_code == self.department_code)

    def as_dict(self) -> dict[str, Any]:
        return {"user_ids": sorted(self.user_ids), "roles": sorted(r.value for r in self.roles),
                "district_code": self.district_code, "department_code": self.department_code}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Audience":
        return cls(frozenset(data.get("user_ids") or ()), frozenset(Role(r) for r in data.get("roles") or ()),
                   data.get("district_code"), data.get("department_code"))


@dataclass(frozen=True)
class LiveEvent:
    kind: str                      # call, agent, notice, ticket, wallboard …
    data: dict[str, Any]
    audience: Audience

    def encode(self) -> str:
        return f"event: {self.kind}\ndata: {json.dumps(self.data, ensure_ascii=False, default=json_default)}\n\n"


@dataclass(eq=False)
class _Console:
    user: CurrentUser
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE))
    dropped: int = 0


_CLOSE = object()


class LiveHub:
    """The consoles connected to this process and the events they may see."""

    def __init__(self) -> None:
        self._consoles: set[_Console] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self.published = 0
        self.dropped = 0
        self.bridge = None          # hotline.web.live_bridge.PgLiveBridge: events of the other processes

    @property
    def connections(self) -> int:
        return len(self._consoles)

    def connected_users(self) -> set[int]:
        return {c.user.id for c in list(self._consoles)}

    def publish(self, event: LiveEvent) -> None:
        """Deliver ``event`` to every admitted console of every process (from any thread; never
        blocks): this process's consoles now, the others' through the bridge when there is one."""
        self.publish_local(event)
        if self.bridge is not None:
            self.bridge.send(event)

    def publish_local_resync(self) -> None:
        """Tell every console of this process to reload its data (events may have been missed)."""
        self.publish_local(LiveEvent("resync", {}, Audience(roles=frozenset(Role))))

    def publish_local(self, event: LiveEvent) -> None:
        """Deliver ``event`` to this process's admitted consoles (from any thread)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._deliver(event)
        else:
            loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: LiveEvent) -> None:
        self.published += 1
        text = None
        for console in list(self._consoles):
            if not event.audience.admits(console.user):
                continue
            text = text or event.encode()
            if console.queue.full():
                console.queue.get_nowait()
                console.dropped += 1
                self.dropped += 1
            console.queue.put_nowait(text)

    async def stream(self, user: CurrentUser, request: Request | None = None) -> AsyncIterator[str]:
        """The event stream of one console until it disconnects or the hub closes."""
        self._loop = asyncio.get_running_loop()
        console = _Console(user)
        self._consoles.add(console)
        try:
            yield "retry: 3000\nevent: hello\ndata: {}\n\n"
            reported = 0
            while True:
                try:
                    item = await asyncio.wait_for(console.queue.get(), HEARTBEAT_SECONDS)
                except asyncio.TimeoutError:
                    if request is not None and await request.is_disconnected():
                        return
                    yield ": heartbeat\n\n"
                    continue
                if item is _CLOSE:
                    return
                if console.dropped > reported:       # events were lost: the page reloads its data
                    reported = console.dropped
                    yield "event: resync\ndata: {}\n\n"
                yield item
        finally:
            self._consoles.discard(console)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The loop that serves the consoles (set at start so publishing works before anyone connects)."""
        self._loop = loop

    async def close(self) -> None:
        """End every stream (shutdown must not wait for consoles that stay open for hours)."""
        for console in list(self._consoles):
            try:
                console.queue.put_nowait(_CLOSE)
            except asyncio.QueueFull:
                console.queue.get_nowait()
                console.queue.put_nowait(_CLOSE)


router = APIRouter(include_in_schema=False)


@router.get("/live")
async def live(request: Request, user: CurrentUser = Depends(current_user)) -> StreamingResponse:
    hub: LiveHub = request.app.state.hotline.live
    return StreamingResponse(hub.stream(user, request), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
