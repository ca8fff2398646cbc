"""Console notices (通知中心): who among the staff a notification target means, the notice rows
themselves, and what a user reads, marks read and counts.

Recipients of a target (the rule of decision 0009 for "responsible"):

=====================  ==============================================================
target                 users (active only)
=====================  ==============================================================
``responsible``        the officers of the ticket's department when it has one, else
                       the officers of its district; for a ticket whose routing lead is
                       ``territory`` (事项, 先属地后属主) the district's officers as well
``district``           the district officers of the ticket's district
``department:<code>``  the officers of that department
``dispatcher`` …       every user of that role (``dispatcher``, ``supervisor``,
                       ``admin``, ``agent``)
=====================  ==============================================================

A notice row is unique per (notification, user): resolving the same notification twice — the
immediate delivery after a ticket action and the scheduler's tick racing — never doubles it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable, Mapping

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hotline.notify.models import ConsoleNotice
from hotline.users.models import User
from hotline.users.roles import Role

__all__ = ["NoticeOut", "NoticePage", "ROLE_TARGETS", "recipients", "title_for", "console_body", "add_notices",
           "unread_count", "unread_counts", "list_notices", "mark_read", "mark_all_read"]

ROLE_TARGETS = {"dispatcher": Role.DISPATCHER, "supervisor": Role.SUPERVISOR, "admin": Role.ADMIN,
                "agent": Role.AGENT}

#: Titles of console notices by the action that caused them (as staff name the work).
_TITLES = {
    "dispatch": "新派工单", "redispatch": "工单重新派遣", "reopen": "工单重办",
    "return": "工单被退回，请重新派遣", "request_extension": "延期申请待审批", "feedback": "办结反馈待核查",
    "approve_extension": "延期申请已批准", "deny_extension": "延期申请未批准",
    "verify_fail": "核查未通过，请继续办理", "void": "工单已作废",
    "sla_warning": "办理时限预警", "sla_overdue": "工单超时督办", "escalate": "工单超时督办",
}


def title_for(action: str, action_label: str = "") -> str:
    return _TITLES.get(action) or action_label or "工单通知"


_SMS_SIGNATURE = re.compile(r"^【[^】]{1,20}】")


def console_body(sms_text: str) -> str:
    """The SMS text as the console shows it (without the 【赤峰12319】 signature)."""
    return _SMS_SIGNATURE.sub("", sms_text or "", count=1).strip()


def recipients(session: Session, target: str, context: Mapping[str, Any]) -> list[int]:
    """Ids of the active users a target means (see the module doc); [] for an unknown target."""
    active = User.active.is_(True)
    district = (User.role == Role.DISTRICT_OFFICER.value) & (User.district_code == context.get("district_code"))
    if target == "responsible":
        department = context.get("department_code")
        if department:
            condition = (User.role == Role.DEPARTMENT_OFFICER.value) & (User.department_code == department)
            if context.get("lead") == "territory" and context.get("district_code"):
                condition = condition | district       # 先属地后属主: the district leads, the department co-works
        elif context.get("district_code"):
            condition = district
        else:
            return []
    elif target == "district":
        if not context.get("district_code"):
            return []
        condition = (User.role == Role.DISTRICT_OFFICER.value) & (User.district_code == context["district_code"])
    elif target.startswith("department:"):
        condition = (User.role == Role.DEPARTMENT_OFFICER.value) & (User.department_code == target.split(":", 1)[1])
    elif target in ROLE_TARGETS:
        condition = User.role == ROLE_TARGETS[target].value
    else:
        return []
    return list(session.scalars(select(User.id).where(active, condition).order_by(User.id)))


@dataclass(frozen=True)
class NoticeOut:
    """A delivered notice, as pushed live and listed."""

    id: int
    user_id: int
    title: str
    body: str
    ticket_number: str
    created_at: datetime
    read_at: datetime | None = None

    @classmethod
    def of(cls, row: ConsoleNotice) -> "NoticeOut":
        return cls(row.id, row.user_id, row.title, row.body, row.ticket_number, row.created_at, row.read_at)


def add_notices(session: Session, *, user_ids: Iterable[int], notification_id: int | None, ticket_id: int | None,
                ticket_number: str, title: str, body: str, at: datetime) -> list[NoticeOut]:
    """One notice per user (an existing (notification, user) pair is left alone); the new ones."""
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return []
    table = ConsoleNotice.__table__
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    rows = [{"user_id": uid, "notification_id": notification_id, "ticket_id": ticket_id,
             "ticket_number": (ticket_number or "")[:24], "title": title[:120], "body": body, "created_at": at}
            for uid in ids]
    stmt = insert(table).values(rows)
    if notification_id is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=[table.c.notification_id, table.c.user_id])
    created = session.execute(stmt.returning(table.c.id, table.c.user_id)).all()
    return [NoticeOut(nid, uid, title[:120], body, (ticket_number or "")[:24], at) for nid, uid in created]


def unread_count(session: Session, user_id: int) -> int:
    return session.scalar(select(func.count()).select_from(ConsoleNotice)
                          .where(ConsoleNotice.user_id == user_id, ConsoleNotice.read_at.is_(None))) or 0


def unread_counts(session: Session, user_ids: Iterable[int]) -> dict[int, int]:
    ids = list(set(user_ids))
    if not ids:
        return {}
    rows = session.execute(select(ConsoleNotice.user_id, func.count()).where(
        ConsoleNotice.user_id.in_(ids), ConsoleNotice.read_at.is_(None)).group_by(ConsoleNotice.user_id))
    counts = dict.fromkeys(ids, 0)
    counts.update(dict(rows.all()))
    return counts


@dataclass
class NoticePage:
    items: list[NoticeOut]
    total: int
    unread: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


def list_notices(session: Session, user_id: int, *, page: int = 1, page_size: int = 20,
                 unread_only: bool = False) -> NoticePage:
    """A user's notices: unread first, then newest first."""
    mine = [ConsoleNotice.user_id == user_id]
    if unread_only:
        mine.append(ConsoleNotice.read_at.is_(None))
    total = session.scalar(select(func.count()).select_from(ConsoleNotice).where(*mine)) or 0
    rows = session.scalars(select(ConsoleNotice).where(*mine)
                           .order_by(ConsoleNotice.read_at.is_not(None), ConsoleNotice.id.desc())
                           .offset((page - 1) * page_size).limit(page_size))
    return NoticePage([NoticeOut.of(r) for r in rows], total, unread_count(session, user_id), page, page_size)


def mark_read(session: Session, user_id: int, notice_id: int, at: datetime) -> bool:
    """Mark one of the user's own notices read; False when it is not theirs (or unknown)."""
    owner = session.scalar(select(ConsoleNotice.user_id).where(ConsoleNotice.id == notice_id))
    if owner != user_id:
        return False
    session.execute(update(ConsoleNotice).where(ConsoleNotice.id == notice_id, ConsoleNotice.read_at.is_(None))
                    .values(read_at=at).execution_options(synchronize_session=False))
    return True


def mark_all_read(session: Session, user_id: int, at: datetime) -> int:
    return session.execute(update(ConsoleNotice).where(ConsoleNotice.user_id == user_id,
                                                       ConsoleNotice.read_at.is_(None))
                           .values(read_at=at).execution_options(synchronize_session=False)).rowcount
