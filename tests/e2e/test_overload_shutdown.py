"""A real ``hotline serve`` under a burst of simulated calls far beyond its event buffer: the
slow subscriber resynchronises, SIGTERM finishes within seconds and no call row stays open
(an outside test saw 217 calls open forever and a shutdown that never ended)."""

from __future__ import annotations

import sqlite3
import time

import pytest

from tests.e2e.serve_support import running_serve

pytestmark = pytest.mark.slow


def test_burst_then_sigterm(tmp_path):
    with running_serve(tmp_path, HOTLINE_DEMO_CALL_RATE="60", HOTLINE_BUS_QUEUE_SIZE="20") as serve:
        for _ in range(150):                 # until the buffer has overflowed under load
            time.sleep(0.1)
            if "event bus overflow" in serve.log.read_text():
                break
        time.sleep(1.0)
        with sqlite3.connect(serve.database) as conn:
            assert conn.execute("SELECT count(*) FROM calls").fetchone()[0] > 0
        took = serve.stop()
    text = serve.log.read_text()
    assert "event bus overflow" in text, text[-3000:]
    assert took < 15, f"shutdown took {took:.1f} s"
    with sqlite3.connect(serve.database) as conn:
        total, still_open = conn.execute(
            "SELECT count(*), sum(CASE WHEN ended_at IS NULL THEN 1 ELSE 0 END) FROM calls").fetchone()
    assert total > 20 and still_open == 0, (total, still_open)
