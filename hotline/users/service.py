"""Users and their logins: creating and changing accounts (one set of checks for the admin page
and the CLI), passwords (argon2id), login sessions that can be ended, and logging in.

Logging in never holds a write transaction while a password is hashed: the account is read in a
read-only session, the password verified outside any transaction (at most
``PASSWORD_CHECKS_AT_ONCE`` at a time, so a burst of logins cannot eat the memory and CPU that
intake needs), and only a good login writes (its session row and ``last_login_at``) in one short
transaction. Failed logins are counted in memory (:mod:`hotline.users.throttle`) and audited off
the request's path: a stream of bad passwords never touches the database writer.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from hotline.config import write_private_file
from hotline.database import utcnow
from hotline.users.identity import CurrentUser
from hotline.users.models import User, UserSession
from hotline.users.roles import Role

__all__ = [
    "MIN_PASSWORD_LENGTH", "SEAT_PATTERN", "SEAT_ROLES", "UserError", "UserFieldErrors", "LoginOutcome",
    "hash_password", "verify_password", "validate_user_fields", "create_user", "update_user", "set_active",
    "set_password", "set_seat", "list_users", "get_user", "open_session", "end_session", "end_user_sessions",
    "authenticate", "check_credentials", "record_login", "ensure_first_admin",
]

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
#: Password hashes computed at once (each argon2id hash takes ~64 MiB and a core for ~50 ms).
PASSWORD_CHECKS_AT_ONCE = 2
_password_slots = threading.BoundedSemaphore(PASSWORD_CHECKS_AT_ONCE)

#: Roles that take calls at a phone and therefore have a seat (queue member interface).
SEAT_ROLES = frozenset({Role.AGENT, Role.SUPERVISOR})
#: An Asterisk queue member interface: technology/resource, e.g. ``PJSIP/agent-1101``.
SEAT_PATTERN = re.compile(r"(?:PJSIP|SIP|IAX2|Local)/[A-Za-z0-9][A-Za-z0-9_.@-]{0,70}")
USERNAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{1,63}")


class UserError(ValueError):
    """A user could not be created or changed; the message says why."""


class UserFieldErrors(UserError):
    """Field-level refusals: ``errors`` maps the form field to its Chinese message."""

    def __init__(self, errors: dict[str, str]):
        self.errors = dict(errors)
        super().__init__("；".join(f"{field}: {message}" for field, message in self.errors.items()))


def hash_password(password: str) -> str:
    with _password_slots:
        return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    with _password_slots:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


_DUMMY_HASH: str | None = None


def _dummy_hash() -> str:
    """A hash to verify against for unknown users (the same cost as a real check)."""
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
    return _DUMMY_HASH


# --- checks shared by the admin page and the CLI --------------------------------------------------

def _known_districts(rules) -> dict[str, str]:
    return {d.code: d.name for d in rules.districts} if rules is not None else {}


def _known_departments(rules) -> dict[str, str]:
    return {d.code: d.name for d in rules.departments} if rules is not None else {}


def password_problem(password: str) -> str | None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        return f"密码至少 {MIN_PASSWORD_LENGTH} 位(password must have at least {MIN_PASSWORD_LENGTH} characters)"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"密码最多 {MAX_PASSWORD_LENGTH} 位"
    return None


def validate_user_fields(session: Session | None, rules, *, role: Role | str, district_code: str | None = None,
                         department_code: str | None = None, seat: str | None = None,
                         username: str | None = None, display_name: str | None = None,
                         user_id: int | None = None) -> dict[str, Any]:
    """Check a user's role, scope and seat (and username, display name when given); the cleaned
    values, or :class:`UserFieldErrors` naming every bad field. ``rules`` (``routing_rules.yaml``)
    says which districts and departments exist; ``session`` checks that the username and the
    seat are free (``user_id`` = the user being changed)."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    try:
        out["role"] = Role(role)
    except ValueError:
        errors["role"] = f"未知角色“{role}”，可选：" + "、".join(f"{r.label}({r.value})" for r in Role)
        out["role"] = None
    role = out["role"]
    if username is not None:
        username = username.strip()
        if not USERNAME_PATTERN.fullmatch(username):
            errors["username"] = "用户名为 2–64 位字母、数字、点、下划线或连字符，以字母或数字开头"
        elif session is not None and session.scalar(
                select(User.id).where(func.lower(User.username) == username.lower(),
                                      User.id != (user_id or -1))) is not None:
            errors["username"] = f"用户名“{username}”已存在(user already exists)"
        out["username"] = username
    if display_name is not None:
        display_name = display_name.strip()
        if len(display_name) > 64:
            errors["display_name"] = "姓名最多 64 个字"
        out["display_name"] = display_name
    district_code = (district_code or "").strip() or None
    department_code = (department_code or "").strip() or None
    districts, departments = _known_districts(rules), _known_departments(rules)
    if role is Role.DISTRICT_OFFICER:
        if not district_code:
            errors["district_code"] = "区县处置人员必须选择所属区县(a district officer needs --district)"
        elif rules is not None and district_code not in districts:
            errors["district_code"] = (f"未知区县“{district_code}”，可选：" +
                                       "、".join(f"{n}({c})" for c, n in sorted(districts.items())))
    if role is Role.DEPARTMENT_OFFICER:
        if not department_code:
            errors["department_code"] = "部门处置人员必须选择所属部门(a department officer needs --department)"
        elif rules is not None and department_code not in departments:
            errors["department_code"] = f"未知部门“{department_code}”(不在 routing_rules.yaml 的部门列表中)"
    out["district_code"] = district_code if role is Role.DISTRICT_OFFICER else None
    out["department_code"] = department_code if role is Role.DEPARTMENT_OFFICER else None
    seat = (seat or "").strip() or None
    if seat is not None:
        if role is not None and role not in SEAT_ROLES:
            errors["seat"] = "只有坐席和值班长可以绑定座席分机"
        elif not SEAT_PATTERN.fullmatch(seat):
            errors["seat"] = "座席格式应为“技术/名称”，如 PJSIP/agent-1101"
        elif session is not None:
            taken = session.execute(select(User.username).where(
                User.seat == seat, User.active.is_(True), User.id != (user_id or -1))).scalar()
            if taken is not None:
                errors["seat"] = f"座席 {seat} 已绑定给用户 {taken}"
    out["seat"] = seat
    if errors:
        raise UserFieldErrors(errors)
    return out


# --- accounts ----------------------------------------------------------------------------------

def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role | str,
    display_name: str = "",
    district_code: str | None = None,
    department_code: str | None = None,
    seat: str | None = None,
    rules=None,
) -> User:
    """Add a user (every check of :func:`validate_user_fields`, against ``rules`` when given).
    The password is hashed before the first statement, so no write lock is held meanwhile."""
    problem = password_problem(password)
    password_hash = hash_password(password) if not problem else ""
    try:
        fields = validate_user_fields(session, rules, role=role, district_code=district_code,
                                      department_code=department_code, seat=seat, username=username,
                                      display_name=display_name)
    except UserFieldErrors as exc:
        raise UserFieldErrors({**exc.errors, **({"password": problem} if problem else {})}) from None
    if problem:
        raise UserFieldErrors({"password": problem})
    user = User(
        username=fields["username"],
        display_name=fields["display_name"] or fields["username"],
        password_hash=password_hash,
        role=fields["role"].value,
        district_code=fields["district_code"],
        department_code=fields["department_code"],
        seat=fields["seat"],
    )
    session.add(user)
    session.flush()
    return user


def get_user(session: Session, key: int | str) -> User:
    column = User.id if isinstance(key, int) else User.username
    user = session.scalar(select(User).where(column == key))
    if user is None:
        raise UserError(f"用户“{key}”不存在(no such user)")
    return user


def update_user(session: Session, user_id: int, rules, *, role: Role | str, display_name: str,
                district_code: str | None, department_code: str | None, seat: str | None) -> User:
    """Change role, scope, seat and display name (one check for all)."""
    user = get_user(session, user_id)
    fields = validate_user_fields(session, rules, role=role, district_code=district_code,
                                  department_code=department_code, seat=seat, display_name=display_name,
                                  user_id=user.id)
    user.role = fields["role"].value
    user.display_name = fields["display_name"] or user.username
    user.district_code, user.department_code, user.seat = (fields["district_code"], fields["department_code"],
                                                           fields["seat"])
    session.flush()
    return user


def set_seat(session: Session, user_id: int, seat: str | None) -> User:
    user = get_user(session, user_id)
    fields = validate_user_fields(session, None, role=user.role, district_code=user.district_code,
                                  department_code=user.department_code, seat=seat, user_id=user.id)
    user.seat = fields["seat"]
    session.flush()
    return user


def set_active(session: Session, user_id: int, active: bool, *, at: datetime | None = None) -> User:
    """Disable (every session of the user ends at once) or enable an account. Enabling checks the
    seat again: another active user may have taken it meanwhile."""
    user = get_user(session, user_id)
    if active and not user.active and user.seat:
        taken = session.scalar(select(User.username).where(User.seat == user.seat, User.active.is_(True)))
        if taken is not None:
            raise UserFieldErrors({"seat": f"座席 {user.seat} 已绑定给用户 {taken}，请先修改该用户的座席"})
    user.active = active
    session.flush()
    if not active:
        end_user_sessions(session, user.id, "disabled", at=at)
    return user


def set_password(session: Session, user_id: int, password: str, *, keep_session: str | None = None,
                 at: datetime | None = None) -> User:
    """A new password; every session of the user except ``keep_session`` ends."""
    problem = password_problem(password)
    if problem:
        raise UserFieldErrors({"password": problem})
    password_hash = hash_password(password)          # before the first statement: no lock held meanwhile
    user = get_user(session, user_id)
    user.password_hash = password_hash
    session.flush()
    end_user_sessions(session, user.id, "password", at=at, keep=keep_session)
    return user


def list_users(session: Session, *, role: str | None = None, active: bool | None = None, q: str | None = None,
               unit: str | None = None) -> list[User]:
    conditions = []
    if role:
        conditions.append(User.role == role)
    if active is not None:
        conditions.append(User.active.is_(active))
    if unit:
        conditions.append(or_(User.district_code == unit, User.department_code == unit))
    if q and q.strip():
        pattern = q.strip()
        conditions.append(or_(User.username.contains(pattern, autoescape=True),
                              User.display_name.contains(pattern, autoescape=True),
                              User.seat.contains(pattern, autoescape=True)))
    return list(session.scalars(select(User).where(*conditions).order_by(User.active.desc(), User.role, User.username)))


# --- sessions ------------------------------------------------------------------------------------

def open_session(session: Session, user_id: int, *, address: str = "", user_agent: str = "",
                 at: datetime | None = None) -> str:
    sid = secrets.token_urlsafe(32)
    session.add(UserSession(id=sid, user_id=user_id, created_at=at or utcnow(), address=(address or "")[:64],
                            user_agent=(user_agent or "")[:200], end_reason=""))
    session.flush()
    return sid


def end_session(session: Session, sid: str, reason: str = "logout", *, at: datetime | None = None) -> int:
    return session.execute(update(UserSession).where(UserSession.id == sid, UserSession.ended_at.is_(None))
                           .values(ended_at=at or utcnow(), end_reason=reason[:20])
                           .execution_options(synchronize_session=False)).rowcount


def end_user_sessions(session: Session, user_id: int, reason: str, *, at: datetime | None = None,
                      keep: str | None = None) -> int:
    conditions = [UserSession.user_id == user_id, UserSession.ended_at.is_(None)]
    if keep:
        conditions.append(UserSession.id != keep)
    return session.execute(update(UserSession).where(*conditions)
                           .values(ended_at=at or utcnow(), end_reason=reason[:20])
                           .execution_options(synchronize_session=False)).rowcount


# --- logging in ---------------------------------------------------------------------------------

def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, else None (same cost whether or not the user exists).
    Reads only: call it in a read-only session."""
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if user is None:
        verify_password(_dummy_hash(), password)
        return None
    return user if verify_password(user.password_hash, password) else None


@dataclass(frozen=True)
class LoginOutcome:
    user: CurrentUser
    sid: str


def check_credentials(read_sessions, username: str, password: str) -> CurrentUser | None:
    """Verify credentials outside any write transaction (see the module doc)."""
    username = (username or "").strip()
    if not username or len(username) > 64 or len(password or "") > MAX_PASSWORD_LENGTH:
        verify_password(_dummy_hash(), (password or "")[:MAX_PASSWORD_LENGTH])
        return None
    with read_sessions() as s:
        user = s.scalar(select(User).where(User.username == username, User.active.is_(True)))
        row = (user.password_hash, CurrentUser.of(user)) if user is not None else None
    if row is None:
        verify_password(_dummy_hash(), password)
        return None
    return row[1] if verify_password(row[0], password) else None


def record_login(sessions, user: CurrentUser, *, address: str = "", user_agent: str = "",
                 at: datetime | None = None) -> LoginOutcome | None:
    """The short write of a good login: the session row and ``last_login_at``. None when the
    account was disabled between the password check and now."""
    at = at or utcnow()
    with sessions() as s, s.begin():
        done = s.execute(update(User).where(User.id == user.id, User.active.is_(True)).values(last_login_at=at)
                         .execution_options(synchronize_session=False)).rowcount
        if not done:
            return None
        sid = open_session(s, user.id, address=address, user_agent=user_agent, at=at)
    return LoginOutcome(user, sid)


INITIAL_ADMIN = "admin"
INITIAL_PASSWORD_FILE = "initial_admin_password"


def ensure_first_admin(session: Session, var_dir: Path | str) -> str | None:
    """On a database with no users at all, create ``admin`` with a random password written to
    ``var/initial_admin_password`` (mode 0600) so that a fresh server can be logged into.
    Returns the file's path when it created the account, else None (users exist: nothing changes)."""
    if session.scalar(select(User.id).limit(1)) is not None:
        return None
    password = secrets.token_urlsafe(12)
    create_user(session, username=INITIAL_ADMIN, password=password, role=Role.ADMIN, display_name="系统管理员")
    path = Path(var_dir) / INITIAL_PASSWORD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # left from an earlier database: this account's password replaces it
    write_private_file(path, password + "\n")
    return str(path)


DEMO_AGENT = "demo-agent"
DEMO_AGENT_SEAT = "PJSIP/agent-demo"
DEMO_PASSWORD_FILE = "demo_agent_password"


def ensure_demo_agent(session: Session, var_dir: Path | str) -> str | None:
    """With the built-in PBX simulator on a fresh database: an agent account ``demo-agent`` (演示坐席)
    whose seat is a simulated desk phone, so a newcomer can take a demo call in the console; the
    password is written to ``var/demo_agent_password`` (0600). Returns the file's path when it
    created the account."""
    if session.scalar(select(User.id).where(User.username == DEMO_AGENT)) is not None:
        return None
    password = secrets.token_urlsafe(12)
    create_user(session, username=DEMO_AGENT, password=password, role=Role.AGENT, display_name="演示坐席",
                seat=DEMO_AGENT_SEAT)
    path = Path(var_dir) / DEMO_PASSWORD_FILE
    path.unlink(missing_ok=True)
    write_private_file(path, password + "\n")
    return str(path)


def seats(session: Session, user_ids: Iterable[int] | None = None) -> dict[int, str]:
    """Seat of each active user that has one (the agent workspace and the queue use it)."""
    stmt = select(User.id, User.seat).where(User.active.is_(True), User.seat.is_not(None))
    if user_ids is not None:
        stmt = stmt.where(User.id.in_(list(user_ids)))
    return dict(session.execute(stmt).all())
