"""Writes audit entries off the request's path: ``record`` only queues (never blocks, never
touches the database); one background thread inserts what has queued every ``interval`` seconds
in one short transaction. A full queue (the database down for long) drops entries and logs how
many, rather than holding requests up."""

from __future__ import annotations

import logging
import queue
import threading

from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from hotline.audit.models import AuditEntry
from hotline.audit.service import AuditRecord

log = logging.getLogger(__name__)

__all__ = ["AuditWriter"]


class AuditWriter:
    def __init__(self, sessions: sessionmaker[Session], *, interval: float = 0.5, max_queue: int = 20_000,
                 batch: int = 500):
        self.sessions = sessions
        self.interval = interval
        self.batch = batch
        self.dropped = 0
        self.written = 0
        self._queue: queue.Queue[AuditRecord] = queue.Queue(max_queue)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._stop = threading.Event()

    def record(self, entry: AuditRecord) -> None:
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 100) or self.dropped % 10_000 == 0:
                log.error("audit queue full: %d entries dropped so far", self.dropped)
            return
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.flush()
        self.flush()

    def flush(self) -> int:
        """Write everything queued now (the background thread calls it; tests and the audit page
        may too, to see the latest entries). Returns the number written."""
        written = 0
        with self._write_lock:
            while True:
                rows = []
                while len(rows) < self.batch:
                    try:
                        rows.append(self._queue.get_nowait().row())
                    except queue.Empty:
                        break
                if not rows:
                    return written
                try:
                    with self.sessions() as s, s.begin():
                        s.execute(insert(AuditEntry.__table__), rows)
                except Exception:
                    log.exception("writing %d audit entries failed; they are lost", len(rows))
                    self.dropped += len(rows)
                    return written
                written += len(rows)
                self.written += len(rows)

    def close(self) -> None:
        """Stop the thread after a last flush (app shutdown)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout=10)
        self.flush()
