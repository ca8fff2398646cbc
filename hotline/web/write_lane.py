"""The write lane: where request handlers that write run.

A sync FastAPI endpoint runs in anyio's shared thread pool (40 threads). For a handler that
writes, the hop costs more than it buys: SQLite takes one writer at a time, and on PostgreSQL
the day's ticket-number row lock serialises intake until commit. Every hop is two thread
wake-ups, and the worker then trades the GIL with the event loop at each database call while
it holds the writer lock, so the writes queue behind the loop's work.

:meth:`WriteLane.run` therefore runs a handler's transaction

* on **SQLite**, directly on the event loop when the writer is free: the BEGIN takes the
  writer without waiting or fails at once (:func:`hotline.database.writes_without_waiting`),
  and then nothing in the transaction waits for a lock (WAL readers never block the writer).
  The one wait left on the loop is SQLite's WAL auto-checkpoint, run by the commit that fills
  ~1,000 WAL pages (≈ 60 tickets; ≈ 5 ms with its fsync here). When the writer is taken (by
  the SLA sweep, another worker thread or another process), the call goes to a worker thread
  of the lane and waits there, never on the loop;
* on **PostgreSQL** (network round trips, row locks), always in a worker thread of the lane:
  at most ``lanes`` at a time (2 by default; one lane leaves the process idle during round trips).

Measured with 8 concurrent clients creating tickets (``benchmarks/results/api.md``, decision
0006): SQLite 560 → 740 requests/s and server CPU per request 1.5 → 1.2 ms with the event-loop
path; PostgreSQL 370 → 430 requests/s with two lanes against the shared pool.

Handlers that only read keep the shared pool.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from typing import Any, Callable, TypeVar

import anyio.to_thread
from anyio import CapacityLimiter
from fastapi import Request

from hotline.database import WriterBusy, writes_without_waiting

__all__ = ["WriteLane", "default_lanes", "in_write_lane"]

T = TypeVar("T")

#: Worker threads per database when the setting is 0 (see the module docstring).
DEFAULT_LANES = {"sqlite": 1, "postgresql": 2}


def default_lanes(dialect: str, configured: int = 0) -> int:
    """``configured`` when set (> 0), else the measured default for ``dialect``."""
    return configured if configured > 0 else DEFAULT_LANES.get(dialect, 2)


class WriteLane:
    """Runs write handlers: on the loop when ``on_loop`` (SQLite) and the writer is free,
    else in at most ``lanes`` worker threads."""

    def __init__(self, lanes: int, *, on_loop: bool = False) -> None:
        if lanes < 1:
            raise ValueError("a write lane needs at least one thread")
        self.lanes = lanes
        self.on_loop = on_loop
        self.ran_on_loop = 0          # counters for tests and the curious
        self.ran_in_thread = 0
        # a limiter belongs to its event loop; tests run several loops in one process
        self._limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = (
            weakref.WeakKeyDictionary())

    @classmethod
    def for_engine(cls, engine: Any, configured_lanes: int = 0) -> "WriteLane":
        dialect = engine.dialect.name
        return cls(default_lanes(dialect, configured_lanes), on_loop=dialect == "sqlite")

    def limiter(self) -> CapacityLimiter:
        loop = asyncio.get_running_loop()
        limiter = self._limiters.get(loop)
        if limiter is None:
            limiter = self._limiters[loop] = CapacityLimiter(self.lanes)
        return limiter

    async def run(self, func: Callable[..., T], *args: Any) -> T:
        """``func(*args)``: a function that makes at most one write transaction (it may read
        before it) and has no other side effect before that transaction begins, so that it can
        be run again in a thread when the writer turns out to be taken."""
        if self.on_loop:
            with writes_without_waiting() as call:
                try:
                    result = func(*args)
                except WriterBusy:
                    pass
                else:
                    if not call.busy:
                        self.ran_on_loop += 1
                        return result
        self.ran_in_thread += 1
        return await anyio.to_thread.run_sync(func, *args, limiter=self.limiter())


def in_write_lane(endpoint: Callable[..., T]) -> Callable[..., Any]:
    """Run a sync endpoint through the app's write lane instead of the shared thread pool.

    The endpoint must take ``request: Request`` and follow :meth:`WriteLane.run`'s contract;
    FastAPI sees the same signature (``functools.wraps``), so parameters, dependencies and the
    OpenAPI document are unchanged.
    """
    @functools.wraps(endpoint)
    async def run_in_lane(*args: Any, **kwargs: Any) -> Any:
        request: Request = kwargs["request"]
        lane: WriteLane = request.app.state.hotline.write_lane
        return await lane.run(functools.partial(endpoint, *args, **kwargs))

    return run_in_lane
