"""Creating users and checking passwords (argon2id)."""

from __future__ import annotations

import secrets
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.config import write_private_file
from hotline.users.identity import CurrentUser
from hotline.users.models import User
from hotline.users.roles import Role

_hasher = PasswordHasher()
MIN_PASSWORD_LENGTH = 8


class UserError(ValueError):
    """A user could not be created or changed; the message says why."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def create_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role | str,
    display_name: str = "",
    district_code: str | None = None,
    department_code: str | None = None,
) -> User:
    try:
        role = Role(role)
    except ValueError:
        raise UserError(f"unknown role {role!r}; one of: {', '.join(r.value for r in Role)}") from None
    username = username.strip()
    if not username:
        raise UserError("username must not be empty")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if role is Role.DISTRICT_OFFICER and not district_code:
        raise UserError("a district officer needs --district (6-digit district code)")
    if role is Role.DEPARTMENT_OFFICER and not department_code:
        raise UserError("a department officer needs --department (department code)")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"user {username!r} already exists")
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=hash_password(password),
        role=role.value,
        district_code=district_code if role is Role.DISTRICT_OFFICER else None,
        department_code=department_code if role is Role.DEPARTMENT_OFFICER else None,
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    if user is None:
        hash_password(password)  # same cost whether or not the user exists
        return None
    return user if verify_password(user.password_hash, password) else None


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


def log_in(state, username: str, password: str):
    """The :class:`~hotline.web.security.CurrentUser` for good credentials (and the login time
    recorded), else None."""
    from hotline.database import utcnow

    with state.sessions() as s, s.begin():
        user = authenticate(s, username.strip(), password)
        if user is None:
            return None
        user.last_login_at = utcnow()
        return CurrentUser.of(user)
