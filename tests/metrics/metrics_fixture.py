"""A week of hotline work whose figures are computed by hand in the tests (not by the code
under test): 18 calls and 13 tickets, written with the project's own services
(``upsert_call``, ``create_ticket``, ``perform``, ``record_attempt``).

The reported week is Monday 2026-11-02 … Sunday 2026-11-08 (Asia/Shanghai); ``NOW`` is the
Tuesday after. Deadlines use natural hours so they can be checked with a clock: 签收 2 h after
派遣, 处置 24 h after 签收, 回访 24 h after 结案, no 核查 limit (so a case closes on time when it
is closed by its 处置 deadline).

Calls (local time; queue wait = Asterisk's hold time unless said otherwise)::

   #  start        IVR queue      wait  result                              talk
   1  11-02 09:00  2   agents      8 s  answered                           120 s
   2  11-02 09:10  2   agents     15 s  answered (exactly the 15 s SL)     200 s
   3  11-02 09:20  2   agents     16 s  answered                           100 s
   4  11-02 09:30  2   agents      3 s  abandoned (short)
   5  11-02 09:40  2   agents     40 s  abandoned
   6  11-02 10:05  3   —                self-served
   7  11-02 10:15  1   —                hung up in the IVR (abandoned)
   8  11-02 10:30  2   —                transferred to 红山区, answered
   9  11-03 14:00  2   agents     10 s  元宝山区 busy → agents, answered        60 s
  10  11-03 14:30  2   —                元宝山区 rang, caller hung up (cancelled)
  11  11-03 15:00  2   agents     30 s  红山区 no answer → agents, abandoned
  12  11-04 20:30  1   —                after-hours voicemail
  13  11-05 09:00  2   mongolian  18 s  answered (mongolian SL 20 s)       300 s
  14  11-05 09:05  2   mongolian  25 s  answered                           240 s
  15  11-05 11:00  0   —                failed (never connected)
  16  11-08 23:50  2   agents     12 s  answered; no hold time recorded:     30 s
                                        the wait comes from the timestamps
  17  11-09 00:10  2   agents      5 s  answered — after the week            50 s
  18  11-01 23:59  2   agents      5 s  answered — before the week           50 s

Tickets (S = 西屯街道 150402001, Z = 三中街街道 150402002, T = 松山区 150404001)::

  T1  红山区 S 城管 06001 phone   11-02 09:00 受理 … 反馈 11-02 16:00, 结案 17:00, 回访未接通 11-03 09:30,
                                  回访 11-03 10:00 满意
  T2  红山区 S 城管 06001 web     11-02 10:00 … 签收 late, 反馈 11-03 15:00 (due 13:00: late), 返工 16:00,
                                  反馈 11-04 10:00, 结案 11:00, 回访 11-05 09:00 基本满意
  T3  红山区 Z 供水 01001 phone   11-03 08:00 … 签收 09:00, never fed back (处置 due 11-04 09:00)
  T4  松山区 T 供水 01001 phone   11-04 09:00 … 签收 09:30, 延期 +24 h approved, 反馈 11-06 09:00 (due 09:30),
                                  结案 10:00 (due 09:30: late), 回访未接通 11-07 10:00 and 11-09 10:00
  T5  红山区 Z 城管 06001 phone   11-05 10:00 直接答复
  T6  红山区 — — 06001 phone      11-05 11:00 不予立案
  T7  红山区 S 城管 06001 phone   11-05 12:00 并案 into T1
  T8  松山区 T 城管 06001 phone   11-06 09:00 立案, 派遣 09:20, never accepted (签收 due 11:20)
  T9  红山区 S 城管 06001 phone   11-01 20:00 (before the week) … 反馈 11-02 18:00 on time,
                                  结案 11-09 09:00 (due 11-03 08:00: late)
  T10 红山区 S 城管 06001 phone   11-07 09:00 … 反馈 15:00, 结案 16:00, 回访 11-08 10:00 不满意, 重办 11:00,
                                  签收 12:00, 反馈 17:00, 结案 18:00, 回访 11-09 09:00 满意
  T11 红山区 Z 供水 01001 phone   11-08 10:00 受理, nothing else
  T12 松山区 T 供水 01001 phone   11-06 10:00 … 签收 10:20, 作废 15:00
  T13 松山区 T 城管 06001 phone   11-02 14:00 … 签收 14:30, 退回 15:00, 重新派遣 16:00, 签收 16:30,
                                  反馈 11-03 16:00 (due 16:30), 结案 17:00 (late), 回访 11-05 09:00 满意 (late)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from hotline.calls.service import upsert_call
from hotline.cases import service
from hotline.cases.callbacks import record_attempt
from hotline.cases.models import Ticket
from hotline.cases.workflow import Actor
from hotline.categories.models import Category
from hotline.metrics.call_tally import CallThresholds
from hotline.sla import Stage, WorkCalendar
from hotline.users.models import User
from hotline.users.roles import Role
from ivr.events import CallSnapshot, Disposition, IvrStep, Transfer, TransferResult

TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar("Asia/Shanghai")
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=TZ)
HONGSHAN, SONGSHAN = "150402", "150404"
XITUN, SANZHONGJIE, SONGSHAN_STREET = "150402001", "150402002", "150404001"
URBAN, WATER = "city-urban", "util-water"
THRESHOLDS = CallThresholds(service_level_s={"agents": 15, "mongolian": 20},
                            wrapup_s={"agents": 15, "mongolian": 10})

POLICY = {"签收": Stage("签收", 2, "natural_hours"), "处置": Stage("处置", 24, "natural_hours"),
          "回访": Stage("回访", 24, "natural_hours")}


def policy(_ticket, stage_name):
    return POLICY.get(stage_name)


def at(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=TZ)


# --- calls ----------------------------------------------------------------------------------------

def _call(n: int, start: datetime, *, ivr: int = 2, queue: str = "", join_after: float = 10.0,
          wait: float | None = None, answered: bool = False, talk: float = 0.0, disposition: Disposition,
          transfers: tuple[tuple[str, TransferResult], ...] = (), record_wait: bool = True,
          ended: bool = True) -> CallSnapshot:
    path = [IvrStep(at=start + timedelta(seconds=i + 1), menu="main", kind="enter" if i == 0 else "choice",
                    value=str(i)) for i in range(ivr)]
    moments = start + timedelta(seconds=5)
    transfer_list = []
    for district, result in transfers:
        transfer_list.append(Transfer(at=moments, target=f"district:{district}", kind="district_line",
                                      result=result, district_code=district))
        moments += timedelta(seconds=20)
    joined = start + timedelta(seconds=join_after) if queue else None
    agent_at = joined + timedelta(seconds=wait) if queue and answered else None
    if queue and answered:
        end = agent_at + timedelta(seconds=talk)
    elif queue:
        end = joined + timedelta(seconds=wait)
    else:
        end = start + timedelta(seconds=60)
    return CallSnapshot(
        call_id=f"call-{n}", caller=f"1380000{n:04d}", dialed="12319", started_at=start,
        answered_at=start + timedelta(seconds=1) if disposition is not Disposition.FAILED else None,
        ended_at=end if ended else None, ivr_path=path, queue=queue, queue_joined_at=joined,
        queue_wait_s=wait if queue and record_wait else None, agent="坐席1001" if agent_at else "",
        agent_answered_at=agent_at, transfers=transfer_list, disposition=disposition if ended else None)


D = Disposition
R = TransferResult
CALLS = [
    _call(1, at(11, 2, 9), queue="agents", wait=8, answered=True, talk=120, disposition=D.AGENT),
    _call(2, at(11, 2, 9, 10), queue="agents", wait=15, answered=True, talk=200, disposition=D.AGENT),
    _call(3, at(11, 2, 9, 20), queue="agents", wait=16, answered=True, talk=100, disposition=D.AGENT),
    _call(4, at(11, 2, 9, 30), queue="agents", wait=3, disposition=D.ABANDONED),
    _call(5, at(11, 2, 9, 40), queue="agents", wait=40, disposition=D.ABANDONED),
    _call(6, at(11, 2, 10, 5), ivr=3, disposition=D.SELF_SERVED),
    _call(7, at(11, 2, 10, 15), ivr=1, disposition=D.ABANDONED),
    _call(8, at(11, 2, 10, 30), disposition=D.TRANSFERRED, transfers=(("150402", R.ANSWERED),)),
    _call(9, at(11, 3, 14), queue="agents", join_after=40, wait=10, answered=True, talk=60, disposition=D.AGENT,
          transfers=(("150403", R.BUSY),)),
    _call(10, at(11, 3, 14, 30), disposition=D.ABANDONED, transfers=(("150403", R.CANCELLED),)),
    _call(11, at(11, 3, 15), queue="agents", join_after=40, wait=30, disposition=D.ABANDONED,
          transfers=(("150402", R.NO_ANSWER),)),
    _call(12, at(11, 4, 20, 30), ivr=1, disposition=D.VOICEMAIL),
    _call(13, at(11, 5, 9), queue="mongolian", join_after=12, wait=18, answered=True, talk=300, disposition=D.AGENT),
    _call(14, at(11, 5, 9, 5), queue="mongolian", join_after=12, wait=25, answered=True, talk=240,
          disposition=D.AGENT),
    _call(15, at(11, 5, 11), ivr=0, disposition=D.FAILED),
    _call(16, at(11, 8, 23, 50), queue="agents", wait=12, answered=True, talk=30, disposition=D.AGENT,
          record_wait=False),
    _call(17, at(11, 9, 0, 10), queue="agents", wait=5, answered=True, talk=50, disposition=D.AGENT),
    _call(18, at(11, 1, 23, 59), queue="agents", wait=5, answered=True, talk=50, disposition=D.AGENT),
]


def write_calls(session: Session, calls=CALLS) -> None:
    for snapshot in calls:
        upsert_call(session, snapshot)
    session.commit()


# --- tickets --------------------------------------------------------------------------------------

@dataclass
class People:
    agent: Actor
    dispatcher: Actor
    supervisor: Actor
    hongshan: Actor
    songshan: Actor
    urban: Actor                 # department officers: a ticket with a department is theirs (decision 0009)
    water: Actor


def people(session: Session) -> People:
    specs = {"agent": (Role.AGENT, None), "dispatcher": (Role.DISPATCHER, None),
             "supervisor": (Role.SUPERVISOR, None), "hongshan": (Role.DISTRICT_OFFICER, HONGSHAN),
             "songshan": (Role.DISTRICT_OFFICER, SONGSHAN)}
    departments = {"urban": URBAN, "water": WATER}
    users = {}
    for name, (role, district) in specs.items():
        users[name] = User(username=f"m-{name}", display_name=name, password_hash="x", role=role.value,
                           district_code=district)
    for name, department in departments.items():
        users[name] = User(username=f"m-{name}", display_name=name, password_hash="x",
                           role=Role.DEPARTMENT_OFFICER.value, department_code=department)
    session.add_all(users.values())
    session.commit()
    return People(**{n: Actor(u.id, Role(u.role), u.district_code, u.department_code) for n, u in users.items()})


def categories(session: Session) -> dict[str, Category]:
    """The two categories of the week (the sample data's rows when it was loaded)."""
    existing = {(c.code, c.kind): c for c in session.execute(
        select(Category).where(Category.code.in_(("06001", "01001")))).scalars()}
    if ("06001", "matter") in existing and ("01001", "component") in existing:
        return {"06001": existing[("06001", "matter")], "01001": existing[("01001", "component")]}
    cats = {
        "06001": Category(standard_ref="GB/T 47678.5-2026", kind="matter", code="06001", big_class_code="06",
                          big_class="市容环境类", name="私搭乱建"),
        "01001": Category(standard_ref="GB/T 47678.5-2026", kind="component", code="01001", big_class_code="01",
                          big_class="市政公用设施", name="供水井盖"),
    }
    session.add_all(cats.values())
    session.commit()
    return cats


class Desk:
    """Writes tickets and their history through the ticket service."""

    def __init__(self, session: Session, people: People, cats: dict[str, Category]):
        self.s, self.p, self.cats = session, people, cats

    def new(self, when: datetime, district: str, street: str | None, department: str | None, category: str,
            channel: str = "phone") -> Ticket:
        t = service.create_ticket(self.s, channel=channel, caller_number="13900001111", caller_name="市民",
                                  category=self.cats[category], description="测试诉求", address="测试地址",
                                  district_code=district, street_code=street, department_code=department,
                                  actor=self.p.agent, at=when, tz=TZ)
        self.s.commit()
        return t

    def act(self, ticket: Ticket, action: str, actor: Actor, when: datetime, **payload) -> Ticket:
        t = service.perform(self.s, ticket.id, action, actor, payload, at=when, expected_version=None,
                            stage_policy=policy, calendar=CAL)
        self.s.commit()
        return t

    def officer(self, ticket: Ticket) -> Actor:
        """The responsible unit's officer: the department's when the ticket has one."""
        if ticket.department_code:
            return self.p.urban if ticket.department_code == URBAN else self.p.water
        return self.p.hongshan if ticket.district_code == HONGSHAN else self.p.songshan

    def through(self, ticket: Ticket, *, register: datetime, dispatch: datetime, accept: datetime | None = None,
                feedback: datetime | None = None, close: datetime | None = None) -> Ticket:
        self.act(ticket, "register", self.p.agent, register)
        self.act(ticket, "dispatch", self.p.dispatcher, dispatch)
        if accept:
            self.act(ticket, "accept", self.officer(ticket), accept)
        if feedback:
            self.act(ticket, "feedback", self.officer(ticket), feedback, result="已处理")
        if close:
            self.act(ticket, "verify_pass", self.p.dispatcher, close)
        return ticket

    def attempt(self, ticket: Ticket, when: datetime) -> None:
        record_attempt(self.s, ticket.id, self.p.agent, at=when)
        self.s.commit()

    def callback(self, ticket: Ticket, when: datetime, satisfaction: str) -> None:
        self.act(ticket, "callback", self.p.agent, when, satisfaction=satisfaction)


def write_tickets(session: Session) -> dict[str, Ticket]:
    desk = Desk(session, people(session), categories(session))
    p = desk.p
    t: dict[str, Ticket] = {}

    t["T1"] = desk.through(desk.new(at(11, 2, 9), HONGSHAN, XITUN, URBAN, "06001"), register=at(11, 2, 9, 10),
                           dispatch=at(11, 2, 9, 20), accept=at(11, 2, 10), feedback=at(11, 2, 16),
                           close=at(11, 2, 17))
    desk.attempt(t["T1"], at(11, 3, 9, 30))
    desk.callback(t["T1"], at(11, 3, 10), "satisfied")

    t["T2"] = desk.through(desk.new(at(11, 2, 10), HONGSHAN, XITUN, URBAN, "06001", channel="web"),
                           register=at(11, 2, 10, 5), dispatch=at(11, 2, 10, 10), accept=at(11, 2, 13),
                           feedback=at(11, 3, 15))
    desk.act(t["T2"], "verify_fail", p.dispatcher, at(11, 3, 16), reason="未处理到位")
    desk.act(t["T2"], "feedback", desk.officer(t["T2"]), at(11, 4, 10), result="已整改")
    desk.act(t["T2"], "verify_pass", p.dispatcher, at(11, 4, 11))
    desk.callback(t["T2"], at(11, 5, 9), "basically_satisfied")

    t["T3"] = desk.through(desk.new(at(11, 3, 8), HONGSHAN, SANZHONGJIE, WATER, "01001"), register=at(11, 3, 8, 5),
                           dispatch=at(11, 3, 8, 10), accept=at(11, 3, 9))

    t["T4"] = desk.through(desk.new(at(11, 4, 9), SONGSHAN, SONGSHAN_STREET, WATER, "01001"),
                           register=at(11, 4, 9, 5), dispatch=at(11, 4, 9, 10), accept=at(11, 4, 9, 30))
    desk.act(t["T4"], "request_extension", desk.officer(t["T4"]), at(11, 5, 8), reason="需更换管件", duration=24,
             unit="natural_hours")
    desk.act(t["T4"], "approve_extension", p.supervisor, at(11, 5, 8, 30))
    desk.act(t["T4"], "feedback", desk.officer(t["T4"]), at(11, 6, 9), result="已更换")
    desk.act(t["T4"], "verify_pass", p.dispatcher, at(11, 6, 10))
    desk.attempt(t["T4"], at(11, 7, 10))
    desk.attempt(t["T4"], at(11, 9, 10))

    t["T5"] = desk.new(at(11, 5, 10), HONGSHAN, SANZHONGJIE, URBAN, "06001")
    desk.act(t["T5"], "answer_directly", p.agent, at(11, 5, 10, 5), result="已解答")
    t["T6"] = desk.new(at(11, 5, 11), HONGSHAN, None, None, "06001")
    desk.act(t["T6"], "reject", p.agent, at(11, 5, 11, 10), reason="不属于受理范围")
    t["T7"] = desk.new(at(11, 5, 12), HONGSHAN, XITUN, URBAN, "06001")
    desk.act(t["T7"], "merge", p.agent, at(11, 5, 12, 5), parent=t["T1"].number)

    t["T8"] = desk.through(desk.new(at(11, 6, 9), SONGSHAN, SONGSHAN_STREET, URBAN, "06001"),
                           register=at(11, 6, 9, 10), dispatch=at(11, 6, 9, 20))

    t["T9"] = desk.through(desk.new(at(11, 1, 20), HONGSHAN, XITUN, URBAN, "06001"), register=at(11, 1, 20, 10),
                           dispatch=at(11, 1, 20, 20), accept=at(11, 2, 8), feedback=at(11, 2, 18),
                           close=at(11, 9, 9))

    t["T10"] = desk.through(desk.new(at(11, 7, 9), HONGSHAN, XITUN, URBAN, "06001"), register=at(11, 7, 9, 5),
                            dispatch=at(11, 7, 9, 20), accept=at(11, 7, 9, 30), feedback=at(11, 7, 15),
                            close=at(11, 7, 16))
    desk.callback(t["T10"], at(11, 8, 10), "dissatisfied")
    desk.act(t["T10"], "reopen", p.agent, at(11, 8, 11), reason="市民不满意")
    desk.act(t["T10"], "accept", desk.officer(t["T10"]), at(11, 8, 12))
    desk.act(t["T10"], "feedback", desk.officer(t["T10"]), at(11, 8, 17), result="已重新处理")
    desk.act(t["T10"], "verify_pass", p.dispatcher, at(11, 8, 18))
    desk.callback(t["T10"], at(11, 9, 9), "satisfied")

    t["T11"] = desk.new(at(11, 8, 10), HONGSHAN, SANZHONGJIE, WATER, "01001")

    t["T12"] = desk.through(desk.new(at(11, 6, 10), SONGSHAN, SONGSHAN_STREET, WATER, "01001"),
                            register=at(11, 6, 10, 5), dispatch=at(11, 6, 10, 10), accept=at(11, 6, 10, 20))
    desk.act(t["T12"], "void", p.supervisor, at(11, 6, 15), reason="重复登记")

    t["T13"] = desk.through(desk.new(at(11, 2, 14), SONGSHAN, SONGSHAN_STREET, URBAN, "06001"),
                            register=at(11, 2, 14, 5), dispatch=at(11, 2, 14, 10), accept=at(11, 2, 14, 30))
    desk.act(t["T13"], "return", desk.officer(t["T13"]), at(11, 2, 15), reason="不属于本单位")
    desk.act(t["T13"], "redispatch", p.dispatcher, at(11, 2, 16))
    desk.act(t["T13"], "accept", desk.officer(t["T13"]), at(11, 2, 16, 30))
    desk.act(t["T13"], "feedback", desk.officer(t["T13"]), at(11, 3, 16), result="已处理")
    desk.act(t["T13"], "verify_pass", p.dispatcher, at(11, 3, 17))
    desk.callback(t["T13"], at(11, 5, 9), "satisfied")
    return t
