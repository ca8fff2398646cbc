"""The hotline's answers to the IVR (the Directory seam) from rules and database."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from hotline.cases.models import Ticket
from hotline.config import PROJECT_ROOT
from hotline.directory import SqlDirectory, is_open, work_calendar
from hotline.rules import load_rules
from ivr.directory import Directory

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def rules():
    return load_rules(PROJECT_ROOT / "routing_rules.yaml")


@pytest.fixture
def directory(db_factory, rules):
    with db_factory() as s, s.begin():
        s.add_all([
            Ticket(number="12319-20261127-00001", state="dispatched", caller_number="13800000001",
                   district_code="150402", created_at=datetime(2026, 11, 27, 9, tzinfo=SH)),
            Ticket(number="12319-20261127-00002", state="closed", caller_number="13800000001",
                   district_code="150404", created_at=datetime(2026, 11, 27, 10, tzinfo=SH)),
        ])
    return SqlDirectory(db_factory, rules)


def test_is_a_directory(directory):
    assert isinstance(directory, Directory)


async def test_district_lines_come_from_the_rules(directory):
    line = await directory.district_line("150402")
    assert line.name == "红山区" and line.number == "04768312319" and line.menu_digit == "1"
    assert await directory.district_line("999999") is None
    assert {d.district_code for d in await directory.district_lines()} == {"150402", "150403", "150404", "150428"}


async def test_ticket_status_is_read_back_in_chinese(directory):
    st = await directory.ticket_status(" 12319-20261127-00001 ")
    assert st.status == "dispatched" and st.status_label.startswith("已派遣") and st.district_code == "150402"
    assert await directory.ticket_status("12319-20261127-09999") is None


async def test_open_tickets_of_a_caller_exclude_closed_ones(directory):
    got = await directory.open_tickets_for("13800000001")
    assert [t.number for t in got] == ["12319-20261127-00001"]
    assert await directory.open_tickets_for("") == []


def test_business_hours_follow_the_rules(rules):
    cal = work_calendar(rules)
    assert is_open(rules, cal, datetime(2026, 11, 27, 9, 0, tzinfo=SH))
    assert not is_open(rules, cal, datetime(2026, 11, 27, 21, 0, tzinfo=SH))
    assert not is_open(rules, cal, datetime(2026, 11, 27, 7, 59, tzinfo=SH))
    # every_day mode: a Sunday morning is open too
    assert is_open(rules, cal, datetime(2026, 11, 29, 10, 0, tzinfo=SH))
    wd = rules.model_copy(update={"business_hours": rules.business_hours.model_copy(update={"days": "working_days"})})
    assert not is_open(wd, cal, datetime(2026, 11, 29, 10, 0, tzinfo=SH))      # Sunday
    assert not is_open(wd, cal, datetime(2026, 10, 1, 10, 0, tzinfo=SH))       # 国庆
    assert is_open(wd, cal, datetime(2026, 10, 10, 10, 0, tzinfo=SH))          # 调休 Saturday


def test_operator_entered_year_extends_the_calendar(rules):
    from datetime import date

    from hotline.sla.calendar import CalendarNotCovered

    cal = work_calendar(rules)
    with pytest.raises(CalendarNotCovered, match="2101"):
        cal.is_workday(date(2101, 1, 4))
    cal2 = rules.calendar.model_copy(update={"local_years": (2027,), "extra_holidays": (date(2027, 1, 4),)})
    cal = work_calendar(rules.model_copy(update={"calendar": cal2}))
    assert cal.is_official(2027)
    assert cal.is_workday(date(2027, 1, 5)) and not cal.is_workday(date(2027, 1, 4))
    assert not cal.is_workday(date(2027, 1, 2))  # a Saturday


async def test_in_call_look_ups_do_not_wait_for_the_writer(directory, engine):
    """A caller asking for a ticket's status is answered while another connection writes."""
    import asyncio

    with engine.connect() as writer:       # holds SQLite's writer lock / a PostgreSQL transaction
        writer.exec_driver_sql("UPDATE tickets SET priority = 'urgent' WHERE number = '12319-20261127-00002'")
        status = await asyncio.wait_for(directory.ticket_status("12319-20261127-00001"), 2)
        assert status is not None and status.status == "dispatched"
        assert [t.number for t in await asyncio.wait_for(directory.open_tickets_for("13800000001"), 2)] == [
            "12319-20261127-00001"]
        writer.rollback()
