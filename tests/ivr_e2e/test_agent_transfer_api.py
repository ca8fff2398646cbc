"""Agent-initiated transfer through the REST API: the facade redirects the caller over the
AMI into the rendered district context; the dial result lands on the Call and in the log of
the call's ticket. Also the role checks and input errors of the live-calls API."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import httpx
import pytest
from ivr_e2e_support import menu_caller

from hotline.calls.models import Call
from hotline.calls.service import get_call
from hotline.cases.service import create_ticket
from hotline.database import transaction
from hotline.users.service import create_user
from hotline.web.app import AppState, create_app
from ivr.simulator import Endpoint
from ivr_e2e_support import OPEN_AT, TZ

PASSWORD = "ivr-e2e-pass-1"
USERS = {"agent1": dict(role="agent", display_name="王芳"), "sup1": dict(role="supervisor", display_name="刘值班"),
         "hs": dict(role="district_officer", district_code="150402", display_name="红山区办")}


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch):
    from argon2 import PasswordHasher

    import hotline.users.service as users

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


class Console:
    def __init__(self, pbx, sessions):
        with transaction(sessions) as s:
            for name, info in USERS.items():
                create_user(s, username=name, password=PASSWORD, **info)
        state = AppState(settings=pbx.svc.settings, engine=sessions.kw["bind"], sessions=sessions,
                         services=[pbx.svc], telephony=pbx.svc.mode)
        self.app = create_app(state)

    async def client(self, username: str | None) -> httpx.AsyncClient:
        c = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://testserver")
        if username:
            r = await c.post("/api/session", json={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        return c

    @asynccontextmanager
    async def as_user(self, username: str | None):
        c = await self.client(username)
        try:
            yield c
        finally:
            await c.aclose()


async def agent_on_the_line(pbx) -> tuple[object, str]:
    """A caller who pressed 1 and talks to an agent (the agent stays until the caller leaves)."""
    pbx.agent("agent-1001", Endpoint("answer", answer_after=2, talk_time=None))
    handle = await pbx.place(menu_caller().press("1"))
    for _ in range(2000):
        snap = pbx.svc.tracker.snapshot(handle.linkedid)
        if snap is not None and snap.agent_answered_at is not None:
            return handle, handle.linkedid
        await asyncio.sleep(0.005)
    raise AssertionError("the agent never answered")


def ticket_for_call(sessions, call_id: str) -> int:
    """What the agent's intake does while talking: a ticket linked to the call."""
    with transaction(sessions) as s:
        call = get_call(s, call_id)
        return create_ticket(s, channel="phone", caller_number=call.caller, category=None,
                             description="路灯不亮，请区里处理", district_code="150402", call=call,
                             actor=None, actor_name="王芳", at=OPEN_AT, tz=TZ).id


async def test_transfer_to_an_answering_district_line_is_logged_on_call_and_ticket(running, db_factory):
    async with running() as pbx:
        console = Console(pbx, db_factory)
        handle, call_id = await agent_on_the_line(pbx)
        ticket_id = ticket_for_call(db_factory, call_id)
        async with console.as_user("agent1") as agent:
            live = (await agent.get("/api/calls/live")).json()
            [mine] = [c for c in live["calls"] if c["call_id"] == call_id]
            assert mine["phase"] == "agent" and mine["caller"] == "13904760000"
            r = await agent.post(f"/api/calls/{call_id}/transfer", json={"district_code": "150402"})
            assert r.status_code == 202, r.text
            assert r.json() == {"call_id": call_id, "target": "district:150402", "status": "requested",
                                "ticket_events": 1}
        await handle.wait_ended(60)   # the district line answers, talks 5 s and hangs up
        call = await pbx.stored(call_id)
        events = pbx.events_of(ticket_id)
    assert [t["result"] for t in call.transfers if t["district_code"] == "150402"] == ["answered"]
    assert call.disposition == "transferred" and call.agent
    assert [e.action for e in events] == ["create", "transfer_requested", "transfer"]
    requested, result = events[1], events[2]
    assert requested.actor == "王芳" and requested.data["target"] == "district:150402"
    assert result.actor == "ivr" and result.data["result"] == "answered" and result.data["dial_status"] == "ANSWER"
    assert "红山区" in result.note and "已接通" in result.note
    assert result.from_state == result.to_state == "received"


async def test_busy_district_line_falls_back_to_the_queue_and_the_ticket_says_busy(running, db_factory):
    async with running() as pbx:
        console = Console(pbx, db_factory)
        pbx.line("150404", Endpoint("busy"))
        handle, call_id = await agent_on_the_line(pbx)
        ticket_id = ticket_for_call(db_factory, call_id)
        async with console.as_user("sup1") as sup:
            r = await sup.post(f"/api/calls/{call_id}/transfer", json={"district_code": "150404"})
            assert r.status_code == 202, r.text
            for _ in range(2000):  # the busy line sends the caller back to the agents' queue
                snap = pbx.svc.tracker.snapshot(call_id)
                if snap is not None and snap.transfers and snap.transfers[-1].result.value == "busy":
                    break
                await asyncio.sleep(0.005)
            r = await sup.post(f"/api/calls/{call_id}/hangup")
            assert r.status_code == 202, r.text
        await handle.wait_ended(30)
        call = await pbx.stored(call_id)
        events = pbx.events_of(ticket_id)
    [t] = [t for t in call.transfers if t["district_code"] == "150404"]
    assert (t["result"], t["dial_status"]) == ("busy", "BUSY")
    assert call.variables["HOTLINE_TRANSFER_FAILED"] == "150404"
    assert call.disposition != "transferred"
    assert [e.action for e in events] == ["create", "transfer_requested", "transfer"]
    assert events[2].data["result"] == "busy" and "忙线" in events[2].note


async def test_transfer_back_to_a_queue(running, db_factory):
    async with running() as pbx:
        console = Console(pbx, db_factory)
        handle, call_id = await agent_on_the_line(pbx)
        async with console.as_user("agent1") as agent:
            r = await agent.post(f"/api/calls/{call_id}/transfer", json={"queue": "mongolian"})
            assert r.status_code == 202, r.text
            assert r.json()["ticket_events"] == 0   # no ticket yet: nothing to log
            for _ in range(2000):
                snap = pbx.svc.tracker.snapshot(call_id)
                if snap is not None and snap.variables.get("HOTLINE_QUEUE") == "mongolian":
                    break
                await asyncio.sleep(0.005)
            assert (await agent.post(f"/api/calls/{call_id}/hangup")).status_code == 202
        await handle.wait_ended(30)
        call = await pbx.stored(call_id)
    assert call.variables["HOTLINE_QUEUE"] == "mongolian"


async def test_roles_and_bad_input(running, db_factory):
    async with running() as pbx:
        console = Console(pbx, db_factory)
        handle, call_id = await agent_on_the_line(pbx)
        anonymous, officer, agent = (await console.client(None), await console.client("hs"),
                                     await console.client("agent1"))
        try:
            url = f"/api/calls/{call_id}/transfer"
            assert (await anonymous.get("/api/calls/live")).status_code == 401
            assert (await anonymous.post(url, json={"queue": "agents"})).status_code == 401
            assert (await officer.get("/api/calls/live")).status_code == 403
            assert (await officer.post(url, json={"queue": "agents"})).status_code == 403
            assert (await officer.post(f"/api/calls/{call_id}/hangup")).status_code == 403
            for body in ({}, {"district_code": "150402", "queue": "agents"}, {"district_code": "15040"},
                         {"queue": "Agents!"}, {"district": "150402"}):
                r = await agent.post(url, json=body)
                assert r.status_code == 422, (body, r.text)
            r = await agent.post(url, json={"district_code": "150499"})
            assert r.status_code == 422 and "150499" in r.json()["detail"]
            r = await agent.post(url, json={"queue": "nosuchqueue"})
            assert r.status_code == 422
            r = await agent.post("/api/calls/no-such-call/transfer", json={"queue": "agents"})
            assert r.status_code == 404
            assert (await agent.post("/api/calls/no-such-call/hangup")).status_code == 404
            # the refused requests did not touch the call
            assert pbx.svc.tracker.snapshot(call_id).transfers == []
            assert (await agent.post(f"/api/calls/{call_id}/hangup")).status_code == 202
        finally:
            for c in (anonymous, officer, agent):
                await c.aclose()
        await handle.wait_ended(30)
        call = await pbx.stored(call_id)
    assert call.disposition == "agent"
    with db_factory() as s:
        assert s.get(Call, call.id).transfers == []
