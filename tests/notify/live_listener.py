"""A console connected to the real live hub (its own event loop in a thread), for tests that
check what reaches a user's open pages."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time

from hotline.users.identity import CurrentUser


class LiveListener:
    def __init__(self, hub, user: CurrentUser):
        self.hub = hub
        self.user = user
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.events: queue.Queue[tuple[str, dict]] = queue.Queue()
        hub.attach(self.loop)
        ready = threading.Event()
        self.task = asyncio.run_coroutine_threadsafe(self._consume(ready), self.loop)
        assert ready.wait(5), "live stream did not start"

    async def _consume(self, ready: threading.Event) -> None:
        async for chunk in self.hub.stream(self.user):
            ready.set()
            kind, data = None, {}
            for line in chunk.splitlines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = json.loads(line[6:])
            if kind and kind != "hello":
                self.events.put((kind, data))

    def next(self, kind: str, timeout: float = 10) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {kind!r} event for {self.user.username} within {timeout} s")
            try:
                got, data = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if got == kind:
                return data

    def pending(self) -> list[tuple[str, dict]]:
        out = []
        while not self.events.empty():
            out.append(self.events.get_nowait())
        return out

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.hub.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
