"""Two ``hotline serve`` on one PostgreSQL database (issue 11 §4): one owns the telephony, the
other follows; consoles on either see the same live events; a follower forwards the agent's
commands to the leader; when the leader stops, the follower takes over."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid

import httpx
import pytest
from sqlalchemy import text

from hotline.database import make_engine
from tests.e2e.serve_support import running_serve

pytestmark = pytest.mark.slow
PASSWORD = "two-nodes-pass-1"


@pytest.fixture
def pg_url():
    admin = os.environ.get("HOTLINE_TEST_POSTGRES_URL")
    if not admin:
        pytest.skip("HOTLINE_TEST_POSTGRES_URL is not set: the two-node test needs PostgreSQL")
    name = f"hotline_nodes_{uuid.uuid4().hex[:8]}"
    engine = make_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.rsplit("/", 1)[0] + "/" + name
    yield url
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def _users(url: str) -> None:
    from hotline.database import session_factory
    from hotline.users.service import create_user

    engine = make_engine(url)
    with session_factory(engine)() as s, s.begin():
        create_user(s, username="agent1", password=PASSWORD, role="agent", display_name="王芳",
                    seat="PJSIP/agent-1201")
        create_user(s, username="hs", password=PASSWORD, role="district_officer", district_code="150402",
                    display_name="红山区城管办")
        create_user(s, username="disp1", password=PASSWORD, role="dispatcher", display_name="张伟")
    engine.dispose()


async def _login(base: str, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30, read=None))
    r = await client.post("/api/session", json={"username": username, "password": PASSWORD})
    r.raise_for_status()
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client


async def _events(client: httpx.AsyncClient, seen: list[tuple[str, dict]], ready: asyncio.Event) -> None:
    async with client.stream("GET", "/live") as response:
        kind = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
                if kind == "hello":
                    ready.set()
            elif line.startswith("data: "):
                seen.append((kind, json.loads(line[6:])))


async def _until(predicate, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "condition not reached in time"
        await asyncio.sleep(0.1)


def test_two_processes_one_database(tmp_path, pg_url):
    env = {"HOTLINE_DATABASE_URL": pg_url, "HOTLINE_SESSION_SECRET": "n" * 48}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with running_serve(tmp_path / "a", **env) as a:
        with running_serve(tmp_path / "b", **env) as b:
            assert httpx.get(a.base + "/readyz").json()["telephony"] == "simulator"
            assert httpx.get(b.base + "/readyz").json()["telephony"] == "simulator (follower)"
            _users(pg_url)
            asyncio.run(_live_across_nodes(a, b))
            a.stop()                                # the leader goes away: the follower takes over
            for _ in range(100):
                if httpx.get(b.base + "/readyz").json()["telephony"] == "simulator":
                    break
                time.sleep(0.2)
            assert httpx.get(b.base + "/readyz").json()["telephony"] == "simulator"
            asyncio.run(_agent_signs_in_at(b.base))


async def _live_across_nodes(a, b) -> None:
    officer_on_b = await _login(b.base, "hs")
    agent_on_b = await _login(b.base, "agent1")
    dispatcher_on_a = await _login(a.base, "disp1")
    officer_seen: list = []
    agent_seen: list = []
    ready = [asyncio.Event(), asyncio.Event()]
    tasks = [asyncio.create_task(_events(officer_on_b, officer_seen, ready[0])),
             asyncio.create_task(_events(agent_on_b, agent_seen, ready[1]))]
    try:
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in ready)), 20)
        # a ticket dispatched through node A: the officer's console on node B gets the notice live
        r = await dispatcher_on_a.post("/api/tickets", json={
            "caller_number": "13800001234", "category_code": "06010", "description": "永巨街道垃圾堆放",
            "address": "永巨街道"})
        assert r.status_code == 201, r.text
        number = r.json()["ticket"]["number"]
        r = await dispatcher_on_a.post(f"/api/tickets/{number}/actions/register", json={"expected_version": 1})
        assert r.status_code == 200, r.text
        r = await dispatcher_on_a.post(f"/api/tickets/{number}/actions/dispatch",
                                       json={"expected_version": r.json()["version"], "district_code": "150402"})
        assert r.status_code == 200, r.text
        await _until(lambda: any(k == "notice" and d.get("ticket") == number for k, d in officer_seen))
        # the agent signs in through node B: forwarded to the leader A, whose agent board's event
        # comes back to the console on B
        r = await agent_on_b.post("/agent/signin", data={"queue": "agents"}, follow_redirects=False)
        assert r.status_code == 303, r.text
        await _until(lambda: any(k == "agent" and d.get("state") == "idle" for k, d in agent_seen))
        page = await agent_on_b.get("/agent")
        assert page.status_code == 200 and "签入空闲" in page.text
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in (officer_on_b, agent_on_b, dispatcher_on_a):
            await c.aclose()


async def _agent_signs_in_at(base: str) -> None:
    agent = await _login(base, "agent1")
    try:
        r = await agent.post("/agent/signin", data={"queue": "agents"}, follow_redirects=False)
        assert r.status_code == 303
        for _ in range(50):
            page = await agent.get("/agent/bar")
            if "签入空闲" in page.text:
                break
            await asyncio.sleep(0.1)
        assert "签入空闲" in page.text
    finally:
        await agent.aclose()
