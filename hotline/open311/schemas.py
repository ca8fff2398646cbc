"""What the public sees (Open311 GeoReport v2 fields): services and requests.

Privacy: callers' numbers, names and e-mail are never published. Descriptions are published
only for tickets citizens submitted publicly (channels ``open311`` and ``web``), and digit runs
that look like phone numbers are masked even there. Times: W3C (ISO 8601) in the hotline's zone.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from hotline.cases.models import Ticket
from hotline.cases.workflow import TicketState
from hotline.open311.service import OPEN_VALUES, Service, service_code_of
from hotline.times import iso

__all__ = ["service_out", "request_out", "w3c", "mask_digits", "PUBLIC_DESCRIPTION_CHANNELS"]

PUBLIC_DESCRIPTION_CHANNELS = frozenset({"open311", "web"})
KIND_LABEL = {"component": "部件", "matter": "事项"}
_PHONE_LIKE = re.compile(r"(?<!\d)(\+?86[-\s]?)?(\d[\d\- ]{5,}\d)(?!\d)")


def w3c(moment: datetime | None) -> str | None:
    """A W3C date-time (Open311's format) by the one time rule (:mod:`hotline.times`)."""
    return iso(moment, timespec="seconds") if moment is not None else None


def mask_digits(text: str) -> str:
    def repl(m: re.Match) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return m.group(0) if len(digits) < 7 else "*" * (len(m.group(0)) - 4) + m.group(0)[-4:]
    return _PHONE_LIKE.sub(repl, text)


def service_out(s: Service) -> dict[str, Any]:
    c = s.category
    kind = KIND_LABEL.get(c.kind, c.kind)
    return {"service_code": s.service_code, "service_name": c.name,
            "description": f"{c.big_class}｜{c.name}（{kind}，{c.standard_ref} {c.code}）",
            "metadata": False, "type": "realtime", "keywords": f"{kind},{c.big_class}", "group": c.big_class}


def _agency(ticket: Ticket, rules: Any) -> str:
    lead = (ticket.routing or {}).get("lead_unit") or {}
    if lead.get("name"):
        return lead["name"]
    if rules is not None and ticket.department_code:
        dept = rules.department(ticket.department_code)
        if dept is not None:
            return dept.name
    if rules is not None and ticket.district_code:
        district = rules.district(ticket.district_code)
        if district is not None:
            return district.name
    return ""


def _status_notes(ticket: Ticket, parents: dict[int, str]) -> str:
    try:
        label = TicketState(ticket.state).label
    except ValueError:
        return ticket.state
    if ticket.state == TicketState.MERGED.value and ticket.parent_id in parents:
        return f"{label}（并入工单 {parents[ticket.parent_id]}）"
    return label


def request_out(ticket: Ticket, *, rules: Any, collided: set[str], handle_due: dict[int, datetime],
                parents: dict[int, str]) -> dict[str, Any]:
    is_open = ticket.state in OPEN_VALUES
    description = mask_digits(ticket.description) if ticket.channel in PUBLIC_DESCRIPTION_CHANNELS else ""
    return {
        "service_request_id": ticket.number,
        "status": "open" if is_open else "closed",
        "status_notes": _status_notes(ticket, parents),
        "service_name": ticket.category_name,
        "service_code": service_code_of(ticket.category_code, ticket.category_kind, collided),
        "description": description,
        "agency_responsible": _agency(ticket, rules),
        "service_notice": "",
        "requested_datetime": w3c(ticket.created_at),
        "updated_datetime": w3c(ticket.updated_at if is_open else (ticket.closed_at or ticket.updated_at)),
        "expected_datetime": w3c(handle_due.get(ticket.id)),
        "address": ticket.address,
        "address_id": None,
        "zipcode": None,
        "lat": ticket.lat,
        "long": ticket.lon,
        "media_url": None,
    }
