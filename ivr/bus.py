"""In-process async event bus (single-process default, design §1).

Publishers never wait on slow subscribers: ``publish`` puts the event on each
subscriber's bounded queue. A full queue drops the subscriber's oldest event: the drop is
counted on the subscription (``dropped``), logged at most once per ``log_interval`` seconds
for the whole bus, and the subscriber's ``on_overflow`` callback (if any) is told, so it can
resynchronise from the source of truth (the call tracker) instead of trusting a stream with
holes. A stuck subscriber therefore cannot stall the AMI reader, and nothing is lost
silently. A subscriber that raises is logged and keeps receiving.

``drain(timeout)`` waits until every subscriber has handled what was published so far, or
until the deadline (shutdown must always finish); it returns whether everything was handled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

log = logging.getLogger(__name__)

Handler = Callable[[object], Awaitable[None] | None]

DEFAULT_QUEUE_SIZE = 10_000


@dataclass(eq=False)
class Subscription:
    handler: Handler
    types: tuple[type, ...]
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=DEFAULT_QUEUE_SIZE))
    dropped: int = 0
    on_overflow: Callable[["Subscription"], None] | None = None
    task: asyncio.Task | None = None


class EventBus:
    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE, log_interval: float = 10.0) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self._subs: list[Subscription] = []
        self.queue_size = queue_size
        self.log_interval = log_interval
        self.dropped = 0                 # events dropped for any subscriber since start
        self._logged_at = float("-inf")
        self._logged_dropped = 0

    def subscribe(self, handler: Handler, *types: type,
                  on_overflow: Callable[[Subscription], None] | None = None) -> Subscription:
        """Call ``handler(event)`` for events of ``types`` (all events when none given);
        ``on_overflow(subscription)`` when events for it had to be dropped."""
        sub = Subscription(handler, types, asyncio.Queue(maxsize=self.queue_size), on_overflow=on_overflow)
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
                sub.queue.task_done()        # the dropped event counts as handled: drain() still returns
                sub.dropped += 1
                self.dropped += 1
                self._report_overflow(sub)
            sub.queue.put_nowait(event)

    def _report_overflow(self, sub: Subscription) -> None:
        now = time.monotonic()
        if now - self._logged_at >= self.log_interval:
            log.warning("event bus overflow: %d event(s) dropped since the last report (%d in all); "
                        "the slow subscriber %r resynchronises", self.dropped - self._logged_dropped,
                        self.dropped, getattr(sub.handler, "__qualname__", sub.handler))
            self._logged_at, self._logged_dropped = now, self.dropped
        if sub.on_overflow is not None:
            try:
                sub.on_overflow(sub)
            except Exception:
                log.exception("overflow callback of %r failed", sub.handler)

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every subscriber has handled what was published so far (at most
        ``timeout`` seconds); True when everything was handled."""
        joins = asyncio.gather(*(s.queue.join() for s in self._subs if s.task))
        try:
            await asyncio.wait_for(joins, timeout)
            return True
        except asyncio.TimeoutError:
            left = sum(s.queue.qsize() for s in self._subs)
            log.warning("event bus: %d event(s) still unhandled after %.1f s; stopping anyway", left, timeout)
            return False

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
