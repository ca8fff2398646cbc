"""Intake: route a new report, register it as a ticket, and propose duplicates.

``intake_ticket`` is the one way the phone desk (REST API) and Open311 create tickets:

1. the :class:`~hotline.routing.service.Router` decides where the case goes; the decision
   and its Chinese explanation are stored on ``ticket.routing``;
2. :func:`~hotline.cases.service.create_ticket` stores the ticket (state ``received``) with
   the routed district/street/community/department and priority;
3. :func:`~hotline.cases.duplicates.find_duplicates` proposes open tickets that may be the
   same problem (the agent merges with the workflow's ``merge`` action).

Everything is checked before anything is written; refusals raise :class:`IntakeError`
(a ``ValueError`` with a Chinese message naming the field).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from hotline.calls.models import Call
from hotline.calls.service import call_for_ticket
from hotline.cases.duplicates import DuplicateCandidate, find_duplicates
from hotline.cases.errors import InvalidTicket
from hotline.cases.models import Ticket
from hotline.cases.service import create_ticket
from hotline.cases.workflow import Actor
from hotline.categories.models import Category
from hotline.routing.decision import RoutingDecision, RoutingError

__all__ = ["IntakeError", "IntakeResult", "intake_ticket", "responsible_department", "category_snapshot",
           "propose_duplicates", "propose_duplicates_before",
           "route_report"]


class IntakeError(ValueError):
    """The report cannot be registered; ``field`` names the culprit, ``str()`` is Chinese."""

    def __init__(self, field_name: str, message: str):
        self.field = field_name
        super().__init__(message)


@dataclass
class IntakeResult:
    ticket: Ticket
    decision: RoutingDecision
    duplicates: list[DuplicateCandidate]
    created: bool = True   # False when ``source_key`` returned an existing ticket


def responsible_department(decision: RoutingDecision) -> str | None:
    """The department a ticket stores: the routed department when it leads (先属主, ``lead`` =
    ``owner``), else none — the district of the place is then the responsible unit (属地牵头) and
    the assisting department stays in the routing's ``co_unit`` (decision 0009)."""
    return decision.department.code if decision.lead == "owner" else None


def _tz(state_like: Any) -> ZoneInfo:
    rules = getattr(state_like, "rules", None)
    name = getattr(getattr(rules, "calendar", None), "timezone", None)
    if name:
        return ZoneInfo(name)
    settings = getattr(state_like, "settings", None)
    return getattr(settings, "tz", None) or ZoneInfo("Asia/Shanghai")


# Category snapshots per router: the router was built from the active categories, so it is the
# cache's natural lifetime (a rebuilt router starts a fresh cache).
_CATEGORY_CACHE: "weakref.WeakKeyDictionary[Any, dict[tuple[str, str], Category]]" = weakref.WeakKeyDictionary()
_SNAPSHOT = ("id", "standard_ref", "kind", "code", "big_class_code", "big_class", "name", "default_department",
             "is_local_extension", "active")


def _category(session: Session, router: Any, code: str, kind: str) -> Category:
    """The category row as a transient snapshot, shared by the intakes of one router
    (``create_ticket`` only reads it; it is never added to a session)."""
    try:
        cache = _CATEGORY_CACHE.setdefault(router, {})
    except TypeError:            # a router that cannot be weakly referenced: no cache
        cache = {}
    snapshot = cache.get((code, kind))
    if snapshot is None:
        row = _category_row(session, code, kind)
        snapshot = Category(**{name: getattr(row, name) for name in _SNAPSHOT})
        if len(cache) < 10_000:
            cache[(code, kind)] = snapshot
    return snapshot


def category_snapshot(session: Session, state_like: Any, decision: RoutingDecision) -> Category:
    """The category row a routing decision names (a snapshot; see ``_category``)."""
    return _category(session, getattr(state_like, "ticket_router", None), decision.category_code, decision.kind)


def _category_row(session: Session, code: str, kind: str) -> Category:
    rows = session.execute(select(Category).where(
        Category.code == code, Category.kind == kind, Category.active.is_(True))
        .order_by(Category.id)).scalars().all()
    if not rows:
        raise IntakeError("category_code", f"分类 {code}（{kind}）不存在或已停用")
    # GB/T codes before local extensions of the same code and kind.
    rows.sort(key=lambda c: (c.is_local_extension, c.id))
    return rows[0]


def intake_ticket(
    session: Session, state_like: Any, *, channel: str, caller_number: str, category_code: str,
    kind: str | None = None, description: str, address: str | None = None,
    lat: float | None = None, lon: float | None = None, district_code: str | None = None,
    street_code: str | None = None, priority: str | None = None, override: Mapping[str, Any] | None = None,
    call_id: str | int | None = None, actor: Actor | None, at: datetime, caller_name: str = "",
    source_key: str | None = None, actor_name: str | None = None, note: str = "",
    decision: RoutingDecision | None = None, with_duplicates: bool = True,
) -> IntakeResult:
    """Route and register one report; see the module docstring. Raises :class:`IntakeError`.

    ``decision`` (from :func:`route_report`) lets a caller route before opening its write
    transaction; ``with_duplicates=False`` leaves the proposals to :func:`propose_duplicates`
    after the commit. Both keep the write transaction — and the day's number row lock — short.
    """
    router = getattr(state_like, "ticket_router", None)
    if router is None:
        raise IntakeError("router", "路由规则未加载，暂时无法受理（routing rules not loaded）")
    if not isinstance(description, str) or not description.strip():
        raise IntakeError("description", "诉求内容不能为空")
    if source_key is not None:
        existing = session.execute(select(Ticket).where(Ticket.source_key == source_key)).scalar_one_or_none()
        if existing is not None:
            return IntakeResult(existing, _stored_decision(existing), [], created=False)

    if decision is None:
        decision = route_report(state_like, category_code=category_code, kind=kind, description=description,
                                address=address, lat=lat, lon=lon, district_code=district_code,
                                street_code=street_code, priority=priority, override=override, at=at)

    category = _category(session, router, decision.category_code, decision.kind)
    call = None
    if call_id is not None:
        call = call_for_ticket(session, call_id, caller=caller_number, at=at)
        if call is None:
            raise IntakeError("call_id", f"通话记录 {call_id} 不存在")

    routing = decision.to_dict()
    try:
        ticket = create_ticket(
            session, channel=channel, caller_number=caller_number or "", caller_name=caller_name or "",
            category=category, description=description, address=address or "", lat=lat, lon=lon,
            district_code=decision.district.code,
            street_code=decision.street.code if decision.street else None,
            community_code=decision.community.code if decision.community else None,
            department_code=responsible_department(decision), priority=decision.priority, routing=routing,
            call=call, source_key=source_key, actor=actor, at=at, tz=_tz(state_like),
            actor_name=actor_name, note=note,
            event_data={"routing_rule": decision.rule_id, "place_source": decision.place_source},
        )
    except InvalidTicket as exc:
        raise IntakeError(exc.field, str(exc)) from None

    duplicates = propose_duplicates(session, state_like, ticket, at) if with_duplicates else []
    return IntakeResult(ticket, decision, duplicates)


def route_report(state_like: Any, *, category_code: str, kind: str | None = None, description: str,
                 address: str | None = None, lat: float | None = None, lon: float | None = None,
                 district_code: str | None = None, street_code: str | None = None, priority: str | None = None,
                 override: Mapping[str, Any] | None = None, at: datetime) -> RoutingDecision:
    """Where the report goes (no database work). Raises :class:`IntakeError`."""
    router = getattr(state_like, "ticket_router", None)
    if router is None:
        raise IntakeError("router", "路由规则未加载，暂时无法受理（routing rules not loaded）")
    route_override = dict(override or {})
    if priority:
        route_override.setdefault("priority", priority)
    try:
        return router.route(
            category_code, kind=kind, lon=lon, lat=lat, address=address, district_code=district_code,
            street_code=street_code, description=description, at=at, override=route_override or None)
    except RoutingError as exc:
        raise IntakeError("routing", str(exc)) from None


def propose_duplicates(session: Session | Connection, state_like: Any, ticket: Ticket,
                       at: datetime) -> list[DuplicateCandidate]:
    """Open tickets that may be the same problem as ``ticket`` (rules' radius and window)."""
    return _duplicates(session, state_like, category_code=ticket.category_code,
                       category_kind=ticket.category_kind, lat=ticket.lat, lon=ticket.lon,
                       community_code=ticket.community_code, street_code=ticket.street_code, at=at,
                       exclude_ids=(ticket.id,))


def propose_duplicates_before(session: Session | Connection, state_like: Any, decision: RoutingDecision,
                              lat: float | None, lon: float | None, at: datetime) -> list[DuplicateCandidate]:
    """The proposals :func:`propose_duplicates` would give for the ticket that ``decision`` is about
    to create (the same category, place and window), looked up before it is stored."""
    return _duplicates(session, state_like, category_code=decision.category_code, category_kind=decision.kind,
                       lat=lat, lon=lon, community_code=decision.community.code if decision.community else None,
                       street_code=decision.street.code if decision.street else None, at=at, exclude_ids=())


def _duplicates(session, state_like, *, exclude_ids: tuple[int, ...], **where: Any) -> list[DuplicateCandidate]:
    cfg = getattr(getattr(state_like, "rules", None), "duplicates", None)
    return find_duplicates(
        session, radius_metres=getattr(cfg, "radius_metres", 250), window_days=getattr(cfg, "window_days", 30),
        same_category=getattr(cfg, "same_category", True), exclude_ids=exclude_ids, **where)


def _stored_decision(ticket: Ticket) -> Any:
    """The routing stored with an existing ticket (a dict, not a ``RoutingDecision``)."""
    return ticket.routing or {}
