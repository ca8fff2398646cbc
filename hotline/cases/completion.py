"""补录: the content of a ticket the IVR opened without one (voicemail, failed transfer).

Such a ticket has no category, and its description is the IVR's note ("请听取录音后补录…").
The workflow refuses to register or dispatch it (``IncompleteTicket``) until someone completes
it: the ``complete`` action stores category, description, address and point, and the router
decides again — district, street, responsible department (or the district when it leads),
priority, time limits — with its Chinese explanation, exactly as at intake. The ticket stays
in 受理; what it held before is kept in the event's data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from sqlalchemy.orm import Session

from hotline.cases.intake import category_snapshot, responsible_department, route_report
from hotline.cases.models import Ticket
from hotline.cases.service import RoutedContent, get_ticket, perform, ticket_view
from hotline.cases.workflow import Action, Actor, plan

__all__ = ["complete_ticket", "needs_completion"]


def needs_completion(ticket: Ticket) -> bool:
    """A received ticket without category or description (待补录)."""
    return ticket.state == "received" and not ticket_view(ticket).has_content


def complete_ticket(session: Session, state_like: Any, number: str, actor: Actor, payload: Mapping[str, Any],
                    *, at: datetime, expected_version: int | None, actor_name: str | None = None) -> Ticket:
    """Complete and re-route the ticket ``number`` (in the caller's transaction).

    The payload is checked by the workflow first (``MissingField`` / ``InvalidField`` name the
    field), then routed (``IntakeError``: unknown category, no territory …); nothing is written
    on a refusal. The district the IVR recorded (the caller's menu choice) helps routing when
    the address and point do not locate the problem.
    """
    ticket = get_ticket(session, actor, number)
    data = plan(Action.COMPLETE, actor, ticket_view(ticket), payload).data
    hint = payload.get("district_code") or ticket.district_code
    decision = route_report(
        state_like, category_code=data["category_code"], kind=data["kind"], description=data["description"],
        address=data["address"] or None, lat=data["lat"], lon=data["lon"], district_code=hint, at=at)
    category = category_snapshot(session, state_like, decision)
    content = RoutedContent(
        category=category, routing=decision.to_dict(), district_code=decision.district.code,
        street_code=decision.street.code if decision.street else None,
        community_code=decision.community.code if decision.community else None,
        department_code=responsible_department(decision), priority=decision.priority)
    stage_policy = getattr(state_like, "stage_policy", None) or (lambda _t, _s: None)
    return perform(session, ticket.id, Action.COMPLETE, actor, payload, at=at, expected_version=expected_version,
                   stage_policy=stage_policy, calendar=getattr(state_like, "calendar", None),
                   actor_name=actor_name, content=content)

