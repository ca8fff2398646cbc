"""Process-level tuning for the long-running server (``hotline serve``).

A live call centre keeps tens of thousands of small objects per second in flight (AMI
messages, call snapshots, request objects). With CPython's default gen-0 threshold (700) the
cyclic collector runs hundreds of times a second and, with the start-up objects (rules, grid
index, ORM mappers) in the young generations, a single collection reached 44–88 ms of CPU in
``benchmarks/sim_e2e_bench.py`` — the whole 50 ms event-lag budget. Freezing what start-up
built and raising the gen-0 threshold took GC CPU at 100 setups/s from 85–247 ms to 3–4 ms per
10 s step (see benchmarks/results/sim_e2e.md, A/B section). Libraries never do this; the
application does, once, after start-up.
"""

from __future__ import annotations

import gc

#: gen-0 threshold for the server process (CPython's default is 700)
GEN0_THRESHOLD = 10_000


def tune_gc(gen0: int = GEN0_THRESHOLD) -> tuple[int, int, int]:
    """Collect, move every surviving start-up object to the permanent generation, raise gen-0's
    threshold; returns the previous thresholds."""
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(gen0, before[1], before[2])
    return before


class PidFile:
    """``<var>/hotline.pid`` while the server runs (``hotline rules reload`` signals that process).
    A service of the app: written at start-up, removed at shutdown — uvicorn ends the process by
    re-raising SIGTERM after the app's shutdown, so nothing after ``uvicorn.run`` would run."""

    def __init__(self, path) -> None:
        self.path = path

    async def start(self) -> None:
        import os

        self.path.write_text(f"{os.getpid()}\n")

    async def stop(self) -> None:
        self.path.unlink(missing_ok=True)
