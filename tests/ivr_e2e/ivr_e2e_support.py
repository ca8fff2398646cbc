"""Helpers of tests/ivr_e2e. The real IVR end to end: ``hotline.telephony.TelephonyService`` in simulator mode —
the dialplan rendered from the shipped rules, the PBX simulator running it, the REAL
FastAGI scripts (``ivr.scripts``) answering through ``SqlDirectory`` and the test
database, the AMI controller + call tracker over TCP, the recorder and the transfer log."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from hotline.calls.models import Call
from hotline.calls.service import get_call
from hotline.cases.models import Ticket, TicketEvent
from hotline.config import Settings
from hotline.telephony import TelephonyService
from ivr.simulator import CallerScript, Endpoint

ROOT = Path(__file__).resolve().parents[2]
TZ = ZoneInfo("Asia/Shanghai")
OPEN_AT = datetime(2026, 11, 27, 10, 0, tzinfo=TZ)     # a Friday morning: agents answer
CLOSED_AT = datetime(2026, 11, 27, 22, 30, tzinfo=TZ)  # after 20:00: messages only
SPEED = 60.0
CALLER = "13904760000"
# the district lines of the shipped rules, as the dialplan dials them
LINES = {"150402": "04768312319", "150403": "04763512319", "150404": "04765812319", "150428": "04763712319"}
AGENTS = (("agents", "PJSIP/agent-1001", "坐席1001"), ("mongolian", "PJSIP/agent-2001", "蒙古语坐席2001"))


class Pbx:
    """A running telephony service and helpers to place scripted calls through it."""

    def __init__(self, svc: TelephonyService, sessions):
        self.svc, self.sessions = svc, sessions

    @property
    def sim(self):
        return self.svc.simulator

    def line(self, district: str, endpoint: Endpoint) -> None:
        self.sim.add_endpoint(LINES[district], endpoint)

    def agent(self, name: str, endpoint: Endpoint) -> None:
        self.sim.add_endpoint(name, endpoint)

    async def place(self, script: CallerScript, caller: str = CALLER):
        return await self.sim.place_call(caller=caller, dialed="12319", script=script)

    async def stored(self, call_id: str, timeout: float = 20.0) -> Call:
        """The call row once the recorder stored its end."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await self.svc.bus.drain()
            with self.sessions() as s:
                call = get_call(s, call_id)
                if call is not None and call.ended_at is not None:
                    s.expunge(call)
                    return call
            if loop.time() > deadline:
                raise AssertionError(f"call {call_id} was not stored as ended")
            await asyncio.sleep(0.02)

    async def call(self, script: CallerScript, caller: str = CALLER, timeout: float = 60.0) -> Call:
        handle = await self.place(script, caller)
        await handle.wait_ended(timeout)
        return await self.stored(handle.linkedid)

    def tickets_of(self, call: Call) -> list[Ticket]:
        with self.sessions() as s:
            rows = list(s.scalars(select(Ticket).where(Ticket.call_id == call.id)))
            for r in rows:
                s.expunge(r)
            return rows

    def events_of(self, ticket_id: int) -> list[TicketEvent]:
        with self.sessions() as s:
            rows = list(s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                                  .order_by(TicketEvent.seq)))
            for r in rows:
                s.expunge(r)
            return rows


def make_running(db_factory, tmp_path, shipped_rules):
    """``async with running(open_now=True, agents=AGENTS) as pbx``: a started service."""

    @asynccontextmanager
    async def start(*, open_now: bool = True, agents=AGENTS, rules=None, at: datetime | None = None,
                    silent_agents: bool = False):
        """``silent_agents``: the seats are logged in but never pick up (callers wait in the queue;
        with no seat at all ``joinempty`` would refuse them at once)."""
        settings = Settings(var_dir=tmp_path, demo_call_rate=0, ami_host="", agi_port=0,
                            session_secret="s" * 40)
        moment = at or (OPEN_AT if open_now else CLOSED_AT)
        svc = TelephonyService(settings, db_factory, sim_speed=SPEED, rules=rules or shipped_rules,
                               clock=lambda: moment, sim_agents=agents)
        await svc.start()
        pbx = Pbx(svc, db_factory)
        # deterministic far ends (the service's defaults are random)
        for district in LINES:
            pbx.line(district, Endpoint("answer", answer_after=2, talk_time=5))
        for _, interface, _ in agents:
            pbx.agent(interface.partition("/")[2],
                      Endpoint("noanswer") if silent_agents else Endpoint("answer", answer_after=2, talk_time=10))
        try:
            yield pbx
        finally:
            await svc.stop()

    return start


def steps(call: Call) -> list[tuple[str, str, str]]:
    return [(s["menu"], s["kind"], s["value"]) for s in call.ivr_path if s["kind"] != "agi"]


def menu_caller() -> CallerScript:
    """A caller who waits until the main menu asks."""
    return CallerScript().until_app("Background").wait(1)
