"""Simulation clock: real time, or accelerated by a speed factor.

All simulated durations (``Wait(3)``, ring timeouts, caller delays) go
through :meth:`SimClock.sleep`; wall-clock timestamps in events come from
:meth:`SimClock.now`, which advances ``speed`` times faster than real time.
"""

from __future__ import annotations

import asyncio
import time


class SimClock:
    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._origin_real = time.monotonic()
        self._origin_sim = time.time() if start is None else start

    def now(self) -> float:
        """Simulated epoch seconds."""
        return self._origin_sim + (time.monotonic() - self._origin_real) * self.speed

    def real(self, sim_seconds: float) -> float:
        """Real seconds that ``sim_seconds`` of simulated time take."""
        return max(0.0, sim_seconds) / self.speed

    async def sleep(self, sim_seconds: float) -> None:
        await asyncio.sleep(self.real(sim_seconds))
