"""A logging filter that lets each call site log at most ``burst`` lines per ``interval``.

A PBX that sends garbage (an outside test fed 12,000 malformed AMI lines in two minutes)
must not flood the log: the first lines show what is wrong, the rest are counted, and the
next line that gets through says how many similar lines were suppressed.
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["RepeatLimit"]


class RepeatLimit(logging.Filter):
    def __init__(self, burst: int = 10, interval: float = 60.0, clock=time.monotonic):
        super().__init__()
        self.burst, self.interval, self.clock = burst, interval, clock
        self._sites: dict[tuple[str, int], list[float]] = {}   # site → [window start, count, suppressed]
        self._lock = threading.Lock()

    def reset(self) -> None:
        """Forget every window (a fresh allowance for every call site)."""
        with self._lock:
            self._sites.clear()

    def filter(self, record: logging.LogRecord) -> bool:
        site = (record.pathname, record.lineno)
        now = self.clock()
        with self._lock:
            window = self._sites.get(site)
            if window is None or now - window[0] >= self.interval:
                suppressed = int(window[2]) if window is not None else 0
                self._sites[site] = [now, 1, 0]
                if suppressed:
                    record.msg = f"{record.msg} (+{suppressed} similar line(s) suppressed in the last {self.interval:.0f} s)"
                return True
            window[1] += 1
            if window[1] <= self.burst:
                return True
            window[2] += 1
            return False
