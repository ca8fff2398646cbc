"""Login throttling: after repeated failures an account, and separately an address, is locked for
a growing time (in memory, per process: a flood of bad passwords never reaches the database).

Policy (decision 0010): ``user_threshold`` failures for one username (5), or ``address_threshold``
failures from one address (20), lock it for ``base_lock`` (1 min), doubling with every further
failure up to ``max_lock`` (15 min). Attempts while locked are refused without checking the
password — and count as failures, so guessing on never gets through. Failures older than
``window`` (15 min) are forgotten; a good login clears its username's count.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["LoginGuard", "Locked"]


@dataclass
class _Count:
    failures: int
    last: datetime
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Locked:
    """A refused attempt: which key is locked (``user`` or ``address``) and until when."""

    scope: str
    until: datetime

    def message(self, tz) -> str:
        until = self.until.astimezone(tz).strftime("%H:%M:%S")
        who = "该账号" if self.scope == "user" else "本机地址"
        return f"登录失败次数过多，{who}已被暂时锁定，请于 {until} 后再试；如忘记密码请联系系统管理员。"

    def retry_after(self, now: datetime) -> int:
        return max(1, int((self.until - now).total_seconds() + 0.999))


class LoginGuard:
    def __init__(self, *, user_threshold: int = 5, address_threshold: int = 20,
                 base_lock: timedelta = timedelta(minutes=1), max_lock: timedelta = timedelta(minutes=15),
                 window: timedelta = timedelta(minutes=15), max_entries: int = 50_000):
        self.user_threshold = user_threshold
        self.address_threshold = address_threshold
        self.base_lock, self.max_lock, self.window = base_lock, max_lock, window
        self.max_entries = max_entries
        self._counts: dict[tuple[str, str], _Count] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(username: str, address: str) -> list[tuple[str, str]]:
        keys = [("user", (username or "").strip().lower()[:64])]
        if address:
            keys.append(("address", address))
        return keys

    def _live(self, key: tuple[str, str], now: datetime) -> _Count | None:
        count = self._counts.get(key)
        if count is None:
            return None
        if now - count.last > self.window and (count.locked_until is None or count.locked_until <= now):
            del self._counts[key]
            return None
        return count

    def check(self, username: str, address: str, now: datetime) -> Locked | None:
        """The lock that refuses this attempt, if any (no password check is done when locked)."""
        with self._lock:
            for key in self._keys(username, address):
                count = self._live(key, now)
                if count is not None and count.locked_until is not None and count.locked_until > now:
                    return Locked(key[0], count.locked_until)
        return None

    def failed(self, username: str, address: str, now: datetime) -> Locked | None:
        """Count a failure (also a refused attempt while locked); the lock it causes, if any."""
        locked = None
        with self._lock:
            if len(self._counts) >= self.max_entries:
                self._prune(now)
            for key in self._keys(username, address):
                count = self._live(key, now)
                if count is None:
                    count = self._counts[key] = _Count(0, now)
                count.failures += 1
                count.last = now
                threshold = self.user_threshold if key[0] == "user" else self.address_threshold
                if count.failures >= threshold:
                    extra = count.failures - threshold
                    span = self.max_lock if extra >= 20 else min(self.base_lock * (2 ** extra), self.max_lock)
                    count.locked_until = max(count.locked_until or now, now + span)
                    if locked is None or count.locked_until > locked.until:
                        locked = Locked(key[0], count.locked_until)
        return locked

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._counts.pop(("user", (username or "").strip().lower()[:64]), None)

    def clear(self, username: str) -> None:
        """An administrator unlocks an account (password reset, enabling)."""
        self.succeeded(username)

    def _prune(self, now: datetime) -> None:
        for key in [k for k in self._counts if self._live(k, now) is None]:
            self._counts.pop(key, None)
        if len(self._counts) >= self.max_entries:   # still full: forget the unlocked ones
            for key in [k for k, c in self._counts.items() if not c.locked_until or c.locked_until <= now]:
                del self._counts[key]
