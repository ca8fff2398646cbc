"""Fixtures for the SLA sweep, scheduler, callback and notification-flow tests (both databases)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from hotline.cases import service
from hotline.cases.models import Ticket, TicketDeadline, TicketEvent
from hotline.cases.workflow import Actor
from hotline.categories.models import Category
from hotline.directory import work_calendar
from hotline.notify.models import Notification
from hotline.rules.loader import load_rules
from hotline.sla import Stage, compute_deadline
from hotline.users.roles import Role

ROOT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Asia/Shanghai")
HONGSHAN = "150402"
WATER = "util-water"        # has an SMS number in routing_rules.yaml


def local(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


@pytest.fixture(scope="session")
def rules():
    return load_rules(ROOT / "routing_rules.yaml")


@pytest.fixture(scope="session")
def calendar(rules):
    return work_calendar(rules)


AGENT = Actor(None, Role.AGENT)


def _category(session) -> Category:
    """The category of these tickets (立案 and 派遣 refuse a ticket without one)."""
    found = session.execute(select(Category).where(Category.standard_ref == "TEST")).scalar_one_or_none()
    if found is None:
        found = Category(standard_ref="TEST", kind="component", code="01001", big_class_code="01",
                         big_class="市政公用设施类", name="供水井盖")
        session.add(found)
        session.flush()
    return found


def make_ticket(session, *, at=None, department_code=WATER, district_code=HONGSHAN, number_hint="") -> Ticket:
    ticket = service.create_ticket(
        session, channel="phone", caller_number="13800001234", caller_name="张先生", category=_category(session),
        description=f"井盖缺失{number_hint}", address="昭乌达路 12 号", district_code=district_code,
        department_code=department_code, actor=AGENT, at=at or local(2026, 11, 2, 8, 0), tz=TZ)
    session.flush()
    return ticket


def add_deadline(session, ticket: Ticket, stage: str, start: datetime, amount, unit: str, calendar,
                 **extra) -> TicketDeadline:
    due = compute_deadline(start, Stage(stage, amount, unit), calendar)
    row = TicketDeadline(ticket_id=ticket.id, stage=stage, amount=float(amount), unit=unit,
                         started_at=start, due_at=due, **extra)
    session.add(row)
    session.flush()
    return row


def events(session, action=None, ticket_id=None):
    stmt = select(TicketEvent).order_by(TicketEvent.ticket_id, TicketEvent.seq)
    if action:
        stmt = stmt.where(TicketEvent.action == action)
    if ticket_id:
        stmt = stmt.where(TicketEvent.ticket_id == ticket_id)
    return list(session.execute(stmt).scalars())


def outbox(session, template_prefix=None):
    stmt = select(Notification).order_by(Notification.id)
    if template_prefix:
        stmt = stmt.where(Notification.template.startswith(template_prefix))
    return list(session.execute(stmt).scalars())


def count(session, model) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()
