"""Live events across the processes of one PostgreSQL database (LISTEN/NOTIFY).

Several ``hotline serve`` behind a reverse proxy each keep their own open consoles (``/live``);
an event published in one process — a notice after a ticket action, a screen pop from the
process that owns the AMI connection — must reach the consoles of every process. The bridge
sends every :class:`~hotline.web.live.LiveEvent` as a ``NOTIFY hotline_live`` and delivers what
the other processes send to its own consoles (its own echo is recognised by an origin id and
skipped: the hub already delivered it locally).

PostgreSQL limits a payload to 8000 bytes: a larger event (a wallboard with many agents) is
sent as numbered parts in one transaction — delivered together and in order — and put back
together by the receivers. Two threads per process: one sends (``publish`` never blocks the
caller), one listens on its own connection. A lost connection is re-opened with back-off; the
consoles of a process that missed events are told to reload (``resync``).
SQLite runs a single process, so there is nothing to bridge.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["PgLiveBridge", "CHANNEL"]

CHANNEL = "hotline_live"
MAX_PAYLOAD = 7800          # bytes of one NOTIFY payload (PostgreSQL's limit is 8000)
_STOP = object()


def _encode(origin: str, event: Any) -> str:
    return json.dumps({"o": origin, "k": event.kind, "d": event.data, "a": event.audience.as_dict()},
                      ensure_ascii=False, separators=(",", ":"), default=_default)


def _default(value: Any) -> Any:
    from datetime import datetime

    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def split(origin: str, text: str, limit: int = MAX_PAYLOAD) -> list[str]:
    """One payload, or numbered parts of at most ``limit`` bytes each."""
    if len(text.encode("utf-8")) <= limit:
        return [text]
    message, parts, chunk, size = uuid.uuid4().hex[:10], [], [], 0
    budget = limit - 120                       # room for the envelope
    for ch in text:
        n = len(ch.encode("utf-8"))
        if size + n > budget:
            parts.append("".join(chunk))
            chunk, size = [], 0
        chunk.append(ch)
        size += n
    parts.append("".join(chunk))
    return [json.dumps({"o": origin, "m": message, "i": i, "n": len(parts), "p": p}, ensure_ascii=False,
                       separators=(",", ":")) for i, p in enumerate(parts)]


class PgLiveBridge:
    def __init__(self, url: str, hub: Any, *, reconnect_after: float = 1.0):
        self.url = url
        self.hub = hub
        self.origin = uuid.uuid4().hex[:12]
        self.reconnect_after = reconnect_after
        self.sent = self.received = self.errors = 0
        self._outbox: queue.Queue = queue.Queue(maxsize=10_000)
        self._parts: dict[tuple[str, str], tuple[float, dict[int, str], int]] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.listening = threading.Event()

    # -- sending ----------------------------------------------------------------------------
    def send(self, event: Any) -> None:
        try:
            self._outbox.put_nowait(event)
        except queue.Full:
            self.errors += 1
            log.warning("live bridge: outbox full, event %s not sent to the other processes", event.kind)

    def _connect(self):
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def _send_loop(self) -> None:
        conn = None
        while not self._stop.is_set():
            event = self._outbox.get()
            if event is _STOP:
                break
            payloads = split(self.origin, _encode(self.origin, event))
            while not self._stop.is_set():
                try:
                    if conn is None:
                        conn = self._connect()
                    with conn.transaction():
                        for payload in payloads:
                            conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
                    self.sent += 1
                    break
                except Exception as exc:
                    self.errors += 1
                    log.warning("live bridge: sending failed (%s); retrying", exc)
                    conn = None
                    time.sleep(self.reconnect_after)
        if conn is not None:
            conn.close()

    # -- receiving ----------------------------------------------------------------------------
    def _listen_loop(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                conn = self._connect()
                conn.execute(f"LISTEN {CHANNEL}")
                self.listening.set()
                if not first:        # events may have been missed meanwhile
                    self.hub.publish_local_resync()
                first = False
                while not self._stop.is_set():
                    for note in conn.notifies(timeout=1.0):
                        self._received(note.payload)
                conn.close()
            except Exception as exc:
                self.errors += 1
                self.listening.clear()
                log.warning("live bridge: listening failed (%s); reconnecting", exc)
                time.sleep(self.reconnect_after)

    def _received(self, payload: str) -> None:
        from hotline.web.live import Audience, LiveEvent

        try:
            message = json.loads(payload)
            if message.get("o") == self.origin:
                return
            if "m" in message:                       # a part of a large event
                key = (message["o"], message["m"])
                started, parts, total = self._parts.get(key, (time.monotonic(), {}, message["n"]))
                parts[message["i"]] = message["p"]
                if len(parts) < total:
                    self._parts[key] = (started, parts, total)
                    self._forget_stale()
                    return
                self._parts.pop(key, None)
                message = json.loads("".join(parts[i] for i in range(total)))
            event = LiveEvent(message["k"], message["d"], Audience.from_dict(message["a"]))
        except Exception:
            self.errors += 1
            log.exception("live bridge: unreadable event")
            return
        self.received += 1
        self.hub.publish_local(event)

    def _forget_stale(self) -> None:
        now = time.monotonic()
        for key, (started, _, _) in list(self._parts.items()):
            if now - started > 30:
                self._parts.pop(key, None)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._threads = [threading.Thread(target=self._send_loop, name="live-bridge-send", daemon=True),
                         threading.Thread(target=self._listen_loop, name="live-bridge-listen", daemon=True)]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        self._outbox.put(_STOP)
        for t in self._threads:
            t.join(timeout=3)
