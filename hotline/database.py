"""Engine, sessions and the declarative base.

SQLite (embedded default) runs with WAL, foreign keys and a busy timeout; PostgreSQL
goes through psycopg 3 (``postgresql+psycopg://``). Plain ``postgresql://`` URLs are
upgraded to the psycopg driver so operators can paste a libpq URL.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

from sqlalchemy import DateTime, MetaData, create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timezone-aware datetimes stored as UTC on both databases.

    SQLite has no time zones; PostgreSQL's ``timestamptz`` does. This type accepts
    only aware datetimes and always returns aware UTC ones.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware one is required")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class DatabaseUnavailable(RuntimeError):
    """The database URL cannot be reached (clear one-line message for the CLI)."""


def normalise_url(url: str) -> str:
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def _create_private_file(database: str) -> None:
    """A new SQLite file (and its new directory) readable by its owner only (0600 / 0700): it
    holds citizens' numbers and password hashes. SQLite gives its -wal and -shm files the
    database file's permissions."""
    path = Path(database)
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def make_engine(url: str, **kw) -> Engine:
    url = normalise_url(url)
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
            _create_private_file(u.database)
        kw.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        if u.database and u.database != ":memory:":
            # A checkout never waits for a free connection (SQLite connections are cheap): a
            # write run on the event loop (``writes_without_waiting``) must not block there.
            kw.setdefault("max_overflow", -1)
        engine = create_engine(url, **kw)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Let SQLAlchemy manage transactions explicitly (BEGIN on first statement).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            # busy timeout: sqlite3's ``timeout`` connect argument (30 s unless the caller sets it);
            # kept to restore it after a no-wait BEGIN
            timeout_ms = cur.execute("PRAGMA busy_timeout").fetchone()[0]
            if _record is not None:
                _record.info[BUSY_TIMEOUT_KEY] = timeout_ms
            cur.close()

        writers = engine.sqlite_writer_queue = threading.Lock()  # attribute: visible to tests

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # IMMEDIATE takes the write lock up front, so concurrent writers queue on
            # busy_timeout instead of failing with "database is locked" on upgrade.
            # Read-only work (``read_session_factory``) begins DEFERRED: WAL readers never wait.
            if conn.get_execution_options().get(READ_ONLY_OPTION):
                conn.exec_driver_sql("BEGIN")
                return
            no_wait = _NO_WAIT.get()
            if no_wait is not None:
                _begin_without_waiting(conn, writers, no_wait)
                return
            # Writers of this process queue on a lock first: the next one starts the moment the
            # previous commits, instead of sleeping in SQLite's busy handler (1…100 ms steps).
            # Bounded wait: past it SQLite's own busy_timeout decides, as before.
            held = writers.acquire(timeout=WRITER_QUEUE_TIMEOUT)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                if held:
                    writers.release()
                raise
            conn.info["hotline_writer_lock"] = held

        def _info_of(dbapi_conn) -> dict | None:
            try:  # a pooled connection; the first-connect probe passes one without ``info``
                return dbapi_conn.info
            except (AttributeError, NotImplementedError):
                return None

        def _release(info: dict | None) -> None:
            if info is not None and info.pop("hotline_writer_lock", False):
                writers.release()

        # Released after the DBAPI COMMIT/ROLLBACK itself (the engine's "commit" event comes
        # before it), and on check-in as a safety net for connections that end otherwise.
        dialect = engine.dialect
        do_commit, do_rollback = dialect.do_commit, dialect.do_rollback

        def _commit(dbapi_conn):
            try:
                do_commit(dbapi_conn)
            finally:
                _release(_info_of(dbapi_conn))

        def _rollback(dbapi_conn):
            try:
                do_rollback(dbapi_conn)
            finally:
                _release(_info_of(dbapi_conn))

        dialect.do_commit, dialect.do_rollback = _commit, _rollback
        event.listen(engine, "checkin", lambda _dbapi, record: _release(record.info))

        return engine
    kw.setdefault("pool_pre_ping", True)
    return create_engine(url, **kw)


def check_connection(engine: Engine) -> None:
    """Raise :class:`DatabaseUnavailable` with a clear message if the DB cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # driver-specific errors → one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailable(
            f"cannot reach database {engine.url.render_as_string(hide_password=True)}: {first}"
        ) from exc


READ_ONLY_OPTION = "hotline_read_only"
BUSY_TIMEOUT_KEY = "hotline_busy_timeout_ms"


class WriterBusy(RuntimeError):
    """The SQLite writer is taken (by a thread of this process or by another process) and the
    caller asked not to wait for it (:func:`writes_without_waiting`). Raised by the write
    transaction's BEGIN, before anything was written."""


@dataclass
class _NoWaitCall:
    began: bool = False    # its one write transaction has begun
    busy: bool = False     # a BEGIN found the writer taken


_NO_WAIT: ContextVar[_NoWaitCall | None] = ContextVar("hotline_no_wait_writes", default=None)


@contextmanager
def writes_without_waiting() -> Iterator[_NoWaitCall]:
    """Inside, on SQLite, a write transaction's BEGIN never waits: it takes this process's
    writer lock only if it is free and begins IMMEDIATE with no busy wait, else raises
    :class:`WriterBusy` (check ``.busy`` on the yielded object too, in case the code inside
    caught it). One write transaction per block: a second one raises
    ``RuntimeError``, because the caller could no longer simply run the block again elsewhere.
    Read-only sessions and PostgreSQL are not affected."""
    call = _NoWaitCall()
    token = _NO_WAIT.set(call)
    try:
        yield call
    finally:
        _NO_WAIT.reset(token)


def _begin_without_waiting(conn, writers: threading.Lock, call: _NoWaitCall) -> None:
    if call.began:
        raise RuntimeError("writes_without_waiting: one write transaction per block")
    if not writers.acquire(blocking=False):
        call.busy = True
        raise WriterBusy("SQLite writer lock held in this process")
    dbapi_conn = conn.connection.driver_connection
    try:
        dbapi_conn.execute("PRAGMA busy_timeout = 0")
        try:
            dbapi_conn.execute("BEGIN IMMEDIATE")
        finally:
            dbapi_conn.execute(f"PRAGMA busy_timeout = {int(conn.connection.info.get(BUSY_TIMEOUT_KEY, 30000))}")
    except sqlite3.OperationalError as exc:
        writers.release()
        if (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            call.busy = True
            raise WriterBusy("SQLite database locked by another connection") from exc
        raise
    except BaseException:
        writers.release()
        raise
    call.began = True
    conn.info["hotline_writer_lock"] = True


#: Seconds a writer waits for the in-process SQLite writer queue before leaving it to busy_timeout.
WRITER_QUEUE_TIMEOUT = 10.0


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def read_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for reads only (page and API look-ups). On SQLite they begin a deferred
    transaction, so they never queue behind writers; on PostgreSQL they are ordinary."""
    return sessionmaker(engine.execution_options(**{READ_ONLY_OPTION: True}), expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on error."""
    with factory() as session:
        with session.begin():
            yield session
