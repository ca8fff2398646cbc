"""Start a real ``hotline serve`` (SQLite, simulator) in a subprocess for end-to-end tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Serve:
    base: str
    var: Path
    log: Path
    proc: subprocess.Popen
    stopped_in: float | None = None

    @property
    def database(self) -> Path:
        return self.var / "hotline.sqlite3"

    def stop(self, timeout: float = 30) -> float:
        """SIGTERM; returns how long the shutdown took."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout)
        self.stopped_in = time.monotonic() - started
        return self.stopped_in


@contextmanager
def running_serve(var: Path, **env: str):
    port = free_port()
    environ = dict(os.environ, HOTLINE_VAR_DIR=str(var), HOTLINE_WEB_PORT=str(port), HOTLINE_AGI_PORT="0",
                   HOTLINE_DEMO_CALL_RATE="0", HOTLINE_SESSION_SECRET="e" * 48)
    environ.pop("HOTLINE_DATABASE_URL", None)
    environ.update(env)
    log_path = var / "serve.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "hotline.cli", "serve"], cwd=ROOT, env=environ,
                                stdout=log, stderr=subprocess.STDOUT)
        serve = Serve(f"http://127.0.0.1:{port}", var, log_path, proc)
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError("serve exited: " + log_path.read_text()[-3000:])
                try:
                    if httpx.get(serve.base + "/readyz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("serve did not become ready")
                time.sleep(0.2)
            yield serve
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
