"""The hotline side of the ``ivr.directory.Directory`` seam: answers the IVR's in-call
questions (district lines, ticket status, a caller's open tickets, business hours)
from the routing rules and the database."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hotline.cases.models import Ticket
from hotline.cases.workflow import OPEN_STATES, TicketState
from hotline.database import read_session_factory, utcnow
from hotline.rules.schema import Rules
from hotline.sla.calendar import CalendarNotCovered, WorkCalendar
from ivr.directory import DistrictLine, TicketStatus


def work_calendar(rules: Rules) -> WorkCalendar:
    cal = rules.calendar
    return WorkCalendar(
        tz=cal.timezone,
        office_hours=[(s.start, s.end) for s in cal.office_hours],
        extra_holidays=frozenset(cal.extra_holidays),
        extra_workdays=frozenset(cal.extra_workdays),
        local_years=frozenset(cal.local_years),
    )


def _status(t: Ticket) -> TicketStatus:
    try:
        label = TicketState(t.state).label
    except ValueError:
        label = t.state
    return TicketStatus(number=t.number, status=t.state, status_label=label, updated_at=t.updated_at,
                        district_code=t.district_code or "")


class SqlDirectory:
    """Implements :class:`ivr.directory.Directory`. Database work runs in a thread so the
    FastAGI event loop never blocks on SQL, in read-only sessions so a caller on the line never
    waits for the SQLite writer (an SLA sweep, an intake)."""

    def __init__(self, sessions: sessionmaker[Session], rules: Rules):
        self.sessions = read_session_factory(sessions.kw["bind"])
        self.rules = rules
        self.calendar = work_calendar(rules)

    async def district_line(self, district_code: str) -> DistrictLine | None:
        d = self.rules.district(district_code)
        return d.as_line() if d else None

    async def district_lines(self) -> list[DistrictLine]:
        return self.rules.district_lines()

    async def ticket_status(self, number: str) -> TicketStatus | None:
        number = number.strip()

        def q() -> TicketStatus | None:
            with self.sessions() as s:
                t = s.scalar(select(Ticket).where(Ticket.number == number))
                return _status(t) if t else None

        return await asyncio.to_thread(q)

    async def open_tickets_for(self, caller: str) -> list[TicketStatus]:
        caller = caller.strip()
        if not caller:
            return []
        open_values = [s.value for s in OPEN_STATES]

        def q() -> list[TicketStatus]:
            with self.sessions() as s:
                rows = s.scalars(select(Ticket).where(Ticket.caller_number == caller,
                                                      Ticket.state.in_(open_values))
                                 .order_by(Ticket.created_at.desc()).limit(5))
                return [_status(t) for t in rows]

        return await asyncio.to_thread(q)

    async def is_open_now(self, at: datetime | None = None) -> bool:
        return is_open(self.rules, self.calendar, at or utcnow())


def is_open(rules: Rules, calendar: WorkCalendar, at: datetime) -> bool:
    """Whether agents answer at ``at`` (business hours of the rules, Chinese holidays)."""
    bh = rules.business_hours
    if bh.mode == "always":
        return True
    local = at.astimezone(calendar.tz)
    if bh.days == "working_days":
        try:
            if not calendar.is_workday(local.date()):
                return False
        except CalendarNotCovered:
            pass  # unknown year: better to answer than to send everyone to voicemail
    t = local.time()
    return any(span.contains(t) for span in bh.hours)
