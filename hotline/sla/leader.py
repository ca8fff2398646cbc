"""One scheduler leader per database (design §1: "exactly one scheduler leader").

Several processes may run the web tier against one database; only the process holding the
leader lock runs the periodic jobs (SLA sweep, outbox sender, callbacks), because two
APScheduler instances would each fire every job.

* PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) held on a dedicated
  connection outside the pool. The lock lives exactly as long as that connection: a leader
  that dies or loses its connection frees it, and :meth:`still_held` notices a lost one.
* SQLite: an exclusive ``fcntl.flock`` on ``<database file>.scheduler.lock``; the kernel
  frees it when the process dies. An in-memory database gets a process-local lock.

Every lock is non-blocking: :meth:`try_acquire` returns at once, and a follower simply tries
again on its next tick.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

__all__ = ["LeaderLock", "PostgresAdvisoryLock", "FileLock", "ProcessLock", "leader_lock_for", "lock_key"]

DEFAULT_NAME = "hotline.scheduler"


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


class LeaderLock(Protocol):
    @property
    def held(self) -> bool: ...

    def try_acquire(self) -> bool:
        """Take the lock if free (never blocks); True when this instance holds it afterwards."""

    def still_held(self) -> bool:
        """Whether the lock is still ours (e.g. the connection carrying it is alive)."""

    def release(self) -> None:
        """Give the lock up (idempotent)."""


class PostgresAdvisoryLock:
    def __init__(self, engine: Engine, name: str = DEFAULT_NAME, *, application_name: str | None = None):
        # a private engine without pooling: closing the connection really ends the session (and the
        # lock); ``application_name`` labels that session, so others can see who holds the lock
        connect_args = {"application_name": application_name[:63]} if application_name else {}
        self._engine = create_engine(engine.url, poolclass=NullPool, connect_args=connect_args)
        self.key = lock_key(name)
        self.name = name
        self._conn: Connection | None = None
        self._mutex = threading.Lock()

    @property
    def held(self) -> bool:
        return self._conn is not None

    def try_acquire(self) -> bool:
        with self._mutex:
            if self._conn is not None:
                return True
            conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
            except Exception:
                conn.close()
                raise
            if not got:
                conn.close()
                return False
            self._conn = conn
            log.info("leader lock %s (advisory %d) acquired", self.name, self.key)
            return True

    def still_held(self) -> bool:
        with self._mutex:
            if self._conn is None:
                return False
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except Exception as exc:  # the connection (and with it the lock) is gone
                log.warning("leader lock %s lost: %s", self.name, exc)
                self._drop()
                return False

    def release(self) -> None:
        with self._mutex:
            if self._conn is None:
                return
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            except Exception as exc:
                log.warning("leader lock %s: unlock failed (%s); closing the connection frees it",
                            self.name, exc)
            self._drop()
            log.info("leader lock %s released", self.name)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        try:
            conn.close()
        except Exception:  # already broken
            pass

    def dispose(self) -> None:
        self.release()
        self._engine.dispose()


class FileLock:
    """Exclusive ``flock`` on a file (per open file, so two instances in one process exclude each other too)."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._fd: int | None = None
        self._mutex = threading.Lock()

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> bool:
        import fcntl

        with self._mutex:
            if self._fd is not None:
                return True
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            log.info("leader lock %s acquired", self.path)
            return True

    def still_held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        import fcntl

        with self._mutex:
            if self._fd is None:
                return
            fd, self._fd = self._fd, None
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)
            log.info("leader lock %s released", self.path)

    def dispose(self) -> None:
        self.release()


_PROCESS_LOCKS: dict[str, threading.Lock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


class ProcessLock:
    """For an in-memory SQLite database (one process by definition): one leader per name."""

    def __init__(self, name: str):
        with _PROCESS_LOCKS_GUARD:
            self._lock = _PROCESS_LOCKS.setdefault(name, threading.Lock())
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def try_acquire(self) -> bool:
        if not self._held:
            self._held = self._lock.acquire(blocking=False)
        return self._held

    def still_held(self) -> bool:
        return self._held

    def release(self) -> None:
        if self._held:
            self._held = False
            self._lock.release()

    def dispose(self) -> None:
        self.release()


def leader_lock_for(engine: Engine, name: str = DEFAULT_NAME, *, application_name: str | None = None) -> LeaderLock:
    """The right leader lock for ``engine``'s database (``<database>.<last part of name>.lock``
    on SQLite, e.g. ``hotline.sqlite3.scheduler.lock``)."""
    url = engine.url
    backend = url.get_backend_name()
    if backend == "postgresql":
        return PostgresAdvisoryLock(engine, name, application_name=application_name)
    if backend == "sqlite":
        database = url.database
        if not database or database == ":memory:" or database.startswith("file::memory:"):
            return ProcessLock(f"{name}:{id(engine)}")
        suffix = name.rsplit(".", 1)[-1]
        return FileLock(Path(database).resolve().with_name(f"{Path(database).name}.{suffix}.lock"))
    raise ValueError(f"no leader lock for database backend {backend!r}")
