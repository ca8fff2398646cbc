"""A real ``hotline serve`` under a burst of simulated calls far beyond its event buffer: the
slow subscriber resynchronises, SIGTERM finishes within seconds and no call row stays open
(an outside test saw 217 calls open forever and a shutdown that never ended)."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_burst_then_sigterm(tmp_path):
    port = _port()
    env = dict(os.environ, HOTLINE_VAR_DIR=str(tmp_path), HOTLINE_WEB_PORT=str(port), HOTLINE_AGI_PORT="0",
               HOTLINE_DEMO_CALL_RATE="60", HOTLINE_BUS_QUEUE_SIZE="20", HOTLINE_SESSION_SECRET="o" * 48)
    env.pop("HOTLINE_DATABASE_URL", None)
    log_path = tmp_path / "serve.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "hotline.cli", "serve"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log_path.read_text()[-3000:]
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
            db = tmp_path / "hotline.sqlite3"
            for _ in range(150):                 # until the buffer has overflowed under load
                time.sleep(0.1)
                if "event bus overflow" in log_path.read_text():
                    break
            time.sleep(1.0)
            with sqlite3.connect(db) as conn:
                assert conn.execute("SELECT count(*) FROM calls").fetchone()[0] > 0
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
            took = time.monotonic() - started
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log_path.read_text()
    assert "event bus overflow" in text, text[-3000:]
    assert took < 15, f"shutdown took {took:.1f} s"
    with sqlite3.connect(db) as conn:
        total, still_open = conn.execute(
            "SELECT count(*), sum(CASE WHEN ended_at IS NULL THEN 1 ELSE 0 END) FROM calls").fetchone()
    assert total > 20 and still_open == 0, (total, still_open)
