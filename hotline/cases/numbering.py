"""Human-readable ticket numbers ``12319-YYYYMMDD-NNNNN``, unique under concurrency.

One atomic upsert per number (``INSERT … ON CONFLICT DO UPDATE … RETURNING``) on
both PostgreSQL and SQLite ≥ 3.35, so two processes never hand out the same number.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hotline.cases.models import TicketNumberSequence

PREFIX = "12319"


def format_number(day: str, n: int) -> str:
    if n > 99999:
        raise OverflowError(f"more than 99999 tickets on {day}")
    return f"{PREFIX}-{day}-{n:05d}"


def next_ticket_number(session: Session, at: datetime, tz: tzinfo) -> str:
    """Allocate the next number of the day ``at`` falls on in ``tz``."""
    if at.tzinfo is None:
        raise ValueError("ticket time must be timezone-aware")
    day = at.astimezone(tz).strftime("%Y%m%d")
    dialect = session.get_bind().dialect.name
    n = session.execute(_upsert(dialect), {"day": day}).scalar_one()
    return format_number(day, n)


_UPSERTS: dict[str, object] = {}


def _upsert(dialect: str):
    """``INSERT … ON CONFLICT (day) DO UPDATE SET last = last + 1 RETURNING last``, built once."""
    stmt = _UPSERTS.get(dialect)
    if stmt is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = TicketNumberSequence.__table__
        stmt = _UPSERTS[dialect] = (
            insert(table)
            .values(day=bindparam("day"), last=1)
            .on_conflict_do_update(index_elements=[table.c.day], set_={"last": table.c.last + 1})
            .returning(table.c.last)
        )
    return stmt


def last_number(session: Session, day: str) -> int:
    return session.execute(select(TicketNumberSequence.last).where(TicketNumberSequence.day == day)).scalar() or 0
