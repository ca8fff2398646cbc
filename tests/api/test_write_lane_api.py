"""Writing endpoints go through the write lane: a write that has to wait for the database never
holds up the event loop, and nothing is lost or written twice (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from contextlib import contextmanager
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func, select

from hotline.cases.models import Ticket
from tests.api.conftest import HONGSHAN_HEPING, PASSWORD

KEY = "test-open311-key-0123456789"
BODY = {"caller_number": "13800001234", "caller_name": "陈先生", "category_code": "01001", "kind": "component",
        "description": "井盖破损，有人踩空", "address": "和平路12号",
        "lat": HONGSHAN_HEPING[0], "lon": HONGSHAN_HEPING[1]}


@contextmanager
def database_writer_taken(state):
    """Another process holds the database's writer: SQLite's write lock, or on PostgreSQL an
    exclusive lock on the ticket-number table (every intake draws a number)."""
    engine = state.engine
    if engine.dialect.name == "sqlite":
        other = sqlite3.connect(engine.url.database, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("COMMIT")
            other.close()
    else:
        with engine.connect() as other:
            other.exec_driver_sql("LOCK TABLE ticket_number_sequences IN EXCLUSIVE MODE")
            try:
                yield
            finally:
                other.rollback()


def _count(state) -> int:
    with state.sessions() as s:
        return s.scalar(select(func.count()).select_from(Ticket))


async def _while_waiting(client: httpx.AsyncClient, request) -> tuple[list[float], httpx.Response]:
    """Start ``request``; while it waits, ``/healthz`` must answer, again and again. A blocked event
    loop could not answer at all until the writer is released (after this returns), so the bound
    only has to be finite: it is generous, for a loaded CI machine."""
    task = asyncio.create_task(request)
    answered = []
    loop = asyncio.get_running_loop()
    for _ in range(5):
        started = loop.time()
        r = await asyncio.wait_for(client.get("/healthz"), 10)
        assert r.status_code == 200
        answered.append(loop.time() - started)
        assert not task.done(), "the write was expected to wait for the database"
    return answered, task


@pytest.fixture
async def agent(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as c:
        r = await c.post("/api/session", json={"username": "agent1", "password": PASSWORD})
        assert r.status_code == 200
        c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        yield c


async def test_ticket_intake_waiting_for_the_database_does_not_block_the_loop(agent, api_state):
    before = _count(api_state)
    with database_writer_taken(api_state):
        answered, task = await _while_waiting(agent, agent.post("/api/tickets", json=BODY))
    r = await asyncio.wait_for(task, 30)
    assert r.status_code == 201, r.text
    assert max(answered) < 5.0
    assert _count(api_state) == before + 1                    # written once
    assert api_state.write_lane.ran_in_thread >= 1


async def test_open311_post_waiting_for_the_database_does_not_block_the_loop(agent, api_state, monkeypatch):
    monkeypatch.setenv("HOTLINE_OPEN311_API_KEYS", KEY)
    form = urlencode({"api_key": KEY, "jurisdiction_id": "chifeng.gov.cn", "service_code": "C01001",
                      "lat": str(HONGSHAN_HEPING[0]), "long": str(HONGSHAN_HEPING[1]),
                      "description": "路面塌陷"})
    post = agent.post("/open311/v2/requests.json", content=form,
                      headers={"content-type": "application/x-www-form-urlencoded"})
    before = _count(api_state)
    with database_writer_taken(api_state):
        answered, task = await _while_waiting(agent, post)
    r = await asyncio.wait_for(task, 30)
    assert r.status_code == 200, r.text
    assert r.json()[0]["service_request_id"].startswith("12319-")
    assert max(answered) < 5.0 and _count(api_state) == before + 1


async def test_workflow_action_goes_through_the_lane(agent, app, api_state):
    created = (await agent.post("/api/tickets", json=BODY)).json()["ticket"]
    dispatcher = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
    async with dispatcher:
        r = await dispatcher.post("/api/session", json={"username": "disp1", "password": PASSWORD})
        assert r.status_code == 200
        dispatcher.headers["X-CSRF-Token"] = r.json()["csrf_token"]
        lane = api_state.write_lane
        ran = lane.ran_on_loop + lane.ran_in_thread
        r = await dispatcher.post(f"/api/tickets/{created['number']}/actions/register",
                                  json={"expected_version": created["version"]})
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "registered"
        assert lane.ran_on_loop + lane.ran_in_thread == ran + 1
        # on SQLite, with the writer free, on the loop; on PostgreSQL in a lane thread
        assert (lane.ran_on_loop > 0) == (api_state.engine.dialect.name == "sqlite")


async def test_concurrent_intakes_all_land_once(agent, api_state):
    before = _count(api_state)
    writers = getattr(api_state.engine, "sqlite_writer_queue", None)
    if writers is not None:     # the first requests find the writer taken: both paths run
        writers.acquire()
        threading.Timer(0.2, writers.release).start()
    rs = await asyncio.gather(*(agent.post("/api/tickets", json=dict(BODY, caller_number=f"1380000{i:04d}"))
                                for i in range(12)))
    assert [r.status_code for r in rs] == [201] * 12
    numbers = {r.json()["ticket"]["number"] for r in rs}
    assert len(numbers) == 12 and _count(api_state) == before + 12


async def test_reads_never_wait_for_the_writer(agent, api_state):
    """Look-ups (screen pop, lists, Open311 GETs) run in read-only sessions: on SQLite they read
    the last committed state while another connection writes, instead of queueing behind it."""
    created = (await agent.post("/api/tickets", json=BODY)).json()["ticket"]
    number = created["number"]
    expected = {f"/api/tickets/{number}": number, "/api/tickets?page_size=5": number,
                f"/api/tickets/{number}/duplicates": "[]", "/api/callers/13800001234/history": number,
                "/api/categories?kind=component": "井盖", "/api/grid/units?level=1": "红山区",
                "/open311/v2/services.json": "C01001", "/open311/v2/services/C01001.json": "C01001",
                "/open311/v2/requests.json": number, f"/open311/v2/requests/{number}.json": number}
    with database_writer_taken(api_state):
        for path, text in expected.items():
            r = await asyncio.wait_for(agent.get(path), 2)
            assert r.status_code == 200 and text in r.text, (path, r.text[:300])
