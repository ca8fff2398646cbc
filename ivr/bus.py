"""In-process async event bus (single-process default, design §1).

Publishers never wait on slow subscribers: ``publish`` puts the event on each
subscriber's bounded queue; a full queue drops the oldest event and counts it, so a
stuck subscriber cannot stall the AMI reader. A subscriber that raises is logged and
keeps receiving.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Awaitable, Callable

log = logging.getLogger(__name__)

Handler = Callable[[object], Awaitable[None] | None]


@dataclass(eq=False)
class Subscription:
    handler: Handler
    types: tuple[type, ...]
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=10_000))
    dropped: int = 0
    task: asyncio.Task | None = None


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []

    def subscribe(self, handler: Handler, *types: type) -> Subscription:
        """Call ``handler(event)`` for events of ``types`` (all events when none given)."""
        sub = Subscription(handler, types)
        self._subs.append(sub)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            sub.task = loop.create_task(self._pump(sub))
        return sub

    def start(self) -> None:
        """Start pumps for subscriptions made before the loop was running."""
        for sub in self._subs:
            if sub.task is None:
                sub.task = asyncio.get_running_loop().create_task(self._pump(sub))

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
        if sub.task:
            sub.task.cancel()

    def publish(self, event: object) -> None:
        for sub in self._subs:
            if sub.types and not isinstance(event, sub.types):
                continue
            if sub.queue.full():
                sub.queue.get_nowait()
                sub.dropped += 1
            sub.queue.put_nowait(event)

    async def drain(self) -> None:
        """Wait until every subscriber has handled what was published so far."""
        await asyncio.gather(*(s.queue.join() for s in self._subs if s.task))

    async def close(self) -> None:
        for sub in list(self._subs):
            self.unsubscribe(sub)

    async def _pump(self, sub: Subscription) -> None:
        while True:
            event = await sub.queue.get()
            try:
                result = sub.handler(event)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:  # a bad subscriber never kills the bus
                log.exception("event handler %r failed on %r", sub.handler, type(event).__name__)
            finally:
                sub.queue.task_done()
