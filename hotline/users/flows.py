"""Logging in and out, and changing one's own password, as the pages and the API do it: the
throttle (:mod:`hotline.users.throttle`), the password check outside any write transaction, the
session row, and the audit entries (queued, never on the request's path)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hotline.audit.service import AuditRecord
from hotline.users.identity import CurrentUser
from hotline.users.service import (
    LoginOutcome, UserFieldErrors, check_credentials, end_session, get_user, record_login, set_password,
    verify_password,
)

__all__ = ["LoginRefused", "attempt_login", "log_out", "change_own_password", "audit"]

BAD_CREDENTIALS = "用户名或密码错误"


@dataclass
class LoginRefused(Exception):
    message: str
    status: int = 401
    retry_after: int | None = None

    def __str__(self) -> str:
        return self.message


def audit(state: Any, kind: str, *, user: CurrentUser | None = None, username: str = "", address: str = "",
          action: str = "", target: str = "", detail: str = "", status: int | None = None) -> None:
    """Queue one audit entry (no-op without an audit writer)."""
    writer = getattr(state, "audit", None)
    if writer is None:
        return
    writer.record(AuditRecord(
        kind=kind, action=action, user_id=user.id if user else None,
        username=user.username if user else username[:64], role=user.role.value if user else "",
        address=address, target=target, detail=detail, status=status))


def attempt_login(state: Any, username: str, password: str, *, address: str = "",
                  user_agent: str = "") -> LoginOutcome:
    """A new login session for good credentials; :class:`LoginRefused` otherwise (401 for bad
    credentials, 429 while the account or the address is locked)."""
    guard = state.login_guard
    now = state.now()
    username = (username or "").strip()
    locked = guard.check(username, address, now)
    if locked is not None:
        guard.failed(username, address, now)
        audit(state, "login_locked", username=username, address=address, action="登录", status=429,
              detail=f"locked ({locked.scope}) until {locked.until.isoformat()}")
        raise LoginRefused(locked.message(now.tzinfo), 429, locked.retry_after(now))
    user = check_credentials(state.read_sessions, username, password or "")
    outcome = record_login(state.sessions, user, address=address, user_agent=user_agent) if user else None
    if outcome is None:
        locked = guard.failed(username, address, state.now())
        audit(state, "login_failed", username=username, address=address, action="登录", status=401)
        if locked is not None:
            raise LoginRefused(locked.message(now.tzinfo), 429, locked.retry_after(state.now()))
        raise LoginRefused(BAD_CREDENTIALS)
    guard.succeeded(username)
    audit(state, "login", user=outcome.user, address=address, action="登录", status=200,
          detail=(user_agent or "")[:200])
    return outcome


def log_out(state: Any, user: CurrentUser | None, sid: str | None, address: str = "") -> None:
    """End the login session (its cookie no longer works, also a copy of it)."""
    if sid:
        with state.sessions() as s, s.begin():
            end_session(s, sid, "logout", at=state.now())
    if user is not None:
        audit(state, "logout", user=user, address=address, action="退出登录", status=200)


def change_own_password(state: Any, user: CurrentUser, sid: str | None, *, current: str, new: str,
                        repeat: str, address: str = "") -> None:
    """Check the current password (outside any write transaction), then set the new one; the
    user's other sessions end. :class:`UserFieldErrors` names the bad fields."""
    errors: dict[str, str] = {}
    if new != repeat:
        errors["repeat"] = "两次输入的新密码不一致"
    if new and new == current:
        errors["new"] = "新密码不能与当前密码相同"
    if errors:
        raise UserFieldErrors(errors)
    with state.read_sessions() as s:
        password_hash = get_user(s, user.id).password_hash
    if not verify_password(password_hash, current or ""):
        audit(state, "password", user=user, address=address, action="修改密码", status=422, detail="当前密码错误")
        raise UserFieldErrors({"current": "当前密码不正确"})
    with state.sessions() as s, s.begin():
        set_password(s, user.id, new, keep_session=sid, at=state.now())
    audit(state, "password", user=user, address=address, action="修改密码", status=200,
          detail="其他会话已结束")
