"""Per-process cache of who a session's user id is (the auth look-up every request pays).

One cache per engine (user ids are per database). An entry lives ``TTL`` seconds at most and
the whole cache is dropped whenever this process writes the ``users`` or ``user_sessions`` table
through the engine
— ORM flush, Core or textual SQL — when the statement runs, when its transaction ends and when
the connection goes back to the pool (after the DBAPI commit), so a disabled user, a changed
role or an ended session (logout, password change) takes effect on the next request. Changes made by another process (``hotline users …``,
an SQL console, another server worker) are seen within ``TTL``.

A reader that started before an invalidation does not store what it read (generation check).
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

#: Seconds an entry is trusted without asking the database (bounds changes from other processes).
TTL = 1.0
_MAX_ENTRIES = 10_000
_WRITES_USERS = re.compile(r"\s*(?:update|delete\s+from|insert\s+into|replace\s+into)"
                           r"\s+(?:\w+\.)?\"?(?:users|user_sessions)\"?(?:\s|\(|$)", re.IGNORECASE)
_PENDING = "hotline_users_written"


class UserCache:
    def __init__(self, ttl: float = TTL, clock=time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._generation = 0
        self._lock = threading.Lock()

    @property
    def generation(self) -> int:
        """Read before a database look-up; pass it to :meth:`put`."""
        return self._generation

    def get(self, key: Any) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, value = entry
        if self._clock() >= expires:
            self._entries.pop(key, None)
            return None
        return value

    def put(self, key: Any, value: Any, generation: int) -> None:
        with self._lock:
            if generation != self._generation:      # invalidated while the caller was reading
                return
            if len(self._entries) >= _MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (self._clock() + self.ttl, value)

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()


_CACHES_LOCK = threading.Lock()  # creating an engine's cache (and its hooks) happens once


def user_cache(engine: Engine) -> UserCache:
    """The cache of ``engine``'s database (created, with its invalidation hooks, on first use)."""
    engine = getattr(engine, "_proxied", engine)      # option engines share their parent's cache
    cache = getattr(engine, "hotline_user_cache", None)
    if cache is None:
        with _CACHES_LOCK:
            cache = getattr(engine, "hotline_user_cache", None)
            if cache is None:
                cache = UserCache()
                _watch(engine, cache)
                engine.hotline_user_cache = cache
    return cache


def _watch(engine: Engine, cache: UserCache) -> None:
    def after_cursor_execute(conn, _cursor, statement, _params, _context, _many) -> None:
        if _WRITES_USERS.match(statement):
            conn.info[_PENDING] = True
            cache.invalidate()

    def transaction_end(conn) -> None:        # before the DBAPI commit/rollback itself
        if conn.info.get(_PENDING):
            cache.invalidate()

    def checkin(_dbapi_conn, record) -> None:  # after it: readers in between stored nothing lasting
        if record.info.pop(_PENDING, False):
            cache.invalidate()

    event.listen(engine, "after_cursor_execute", after_cursor_execute)
    event.listen(engine, "commit", transaction_end)
    event.listen(engine, "rollback", transaction_end)
    event.listen(engine, "checkin", checkin)
