"""Open311's reads and its one write: published services, public requests, submission.

A service is an active category. A code that is both a component (部件) and a matter (事项) —
e.g. ``01001`` 供水井盖 / 供水井盖异常 — is published as ``C01001`` and ``M01001`` (a bare
colliding code is unknown), unique codes as they are. Only tickets with a published service
are public: a ticket without a category (a voicemail the dispatcher has not completed yet)
never appears in the feed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session

from hotline.cases.intake import IntakeResult, intake_ticket
from hotline.cases.models import Ticket, TicketDeadline
from hotline.cases.workflow import OPEN_STATES, STAGE_HANDLE
from hotline.categories.models import Category

__all__ = ["Service", "RequestQuery", "published_services", "collisions", "service_code_of", "find_requests",
           "request_by_number", "handle_deadlines", "parent_numbers", "submit", "OPEN_VALUES"]

OPEN_VALUES = sorted(s.value for s in OPEN_STATES)


@dataclass(frozen=True)
class Service:
    service_code: str
    category: Category


def published_services(session: Session) -> dict[str, Service]:
    """Active categories by published service code (GB/T before local for the same code and kind)."""
    rows = session.execute(select(Category).where(Category.active.is_(True))
                           .order_by(Category.code, Category.kind, Category.is_local_extension, Category.id)).scalars()
    by_code: dict[str, dict[str, Category]] = {}
    for c in rows:
        by_code.setdefault(c.code, {}).setdefault(c.kind, c)
    out: dict[str, Service] = {}
    for code, kinds in by_code.items():
        for kind, c in kinds.items():
            sc = code if len(kinds) == 1 else ("C" if kind == "component" else "M") + code
            out[sc] = Service(sc, c)
    return out


def collisions(services: dict[str, Service]) -> set[str]:
    """Category codes published with a C/M prefix."""
    return {s.category.code for sc, s in services.items() if sc != s.category.code}


def service_code_of(code: str, kind: str, collided: set[str]) -> str:
    return (("C" if kind == "component" else "M") + code) if code in collided else code


@dataclass(frozen=True)
class RequestQuery:
    numbers: tuple[str, ...] = ()          # service_request_id: these, whatever the other filters
    services: tuple[Service, ...] = ()     # service_code filter (empty: all published)
    start: datetime | None = None
    end: datetime | None = None
    statuses: frozenset[str] = frozenset()  # {"open"}, {"closed"} or both/none
    limit: int = 1000


def _published():
    """The ticket's category is an active one (so it has a published service code)."""
    return exists().where(Category.code == Ticket.category_code, Category.kind == Ticket.category_kind,
                          Category.active.is_(True))


def find_requests(session: Session, query: RequestQuery) -> list[Ticket]:
    """Public tickets matching ``query``, newest first (only tickets with a published service)."""
    stmt = select(Ticket)
    if query.numbers:
        stmt = stmt.where(Ticket.number.in_(query.numbers))
    else:
        if query.services:
            stmt = stmt.where(or_(*[and_(Ticket.category_code == s.category.code,
                                         Ticket.category_kind == s.category.kind) for s in query.services]))
        if query.start is not None:
            stmt = stmt.where(Ticket.created_at >= query.start)
        if query.end is not None:
            stmt = stmt.where(Ticket.created_at <= query.end)
        if query.statuses == {"open"}:
            stmt = stmt.where(Ticket.state.in_(OPEN_VALUES))
        elif query.statuses == {"closed"}:
            stmt = stmt.where(Ticket.state.not_in(OPEN_VALUES))
    stmt = stmt.where(_published())
    return list(session.execute(stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc())
                                .limit(query.limit)).scalars())


def request_by_number(session: Session, number: str) -> Ticket | None:
    return session.execute(select(Ticket).where(Ticket.number == number, _published())).scalar_one_or_none()


def handle_deadlines(session: Session, ticket_ids: list[int]) -> dict[int, datetime]:
    """The 处置 deadline of each ticket (Open311 ``expected_datetime``)."""
    if not ticket_ids:
        return {}
    rows = session.execute(select(TicketDeadline.ticket_id, TicketDeadline.due_at).where(
        TicketDeadline.ticket_id.in_(ticket_ids), TicketDeadline.stage == STAGE_HANDLE))
    return {tid: due for tid, due in rows}


def parent_numbers(session: Session, tickets: list[Ticket]) -> dict[int, str]:
    """The number of the ticket each merged ticket was merged into."""
    ids = sorted({t.parent_id for t in tickets if t.parent_id})
    if not ids:
        return {}
    return dict(session.execute(select(Ticket.id, Ticket.number).where(Ticket.id.in_(ids))).all())


def submit(session: Session, state: Any, service: Service, *, phone: str, name: str, description: str,
           address: str | None, lat: float | None, lon: float | None, key_id: str, at: datetime) -> IntakeResult:
    """A citizen's request through a partner's key: the same intake as the phone desk."""
    return intake_ticket(
        session, state, channel="open311", caller_number=phone, caller_name=name,
        category_code=service.category.code, kind=service.category.kind,
        description=description or f"（Open311 提交，未填写描述）{service.category.name}",
        address=address, lat=lat, lon=lon, actor=None, at=at, actor_name=f"open311:{key_id}")
