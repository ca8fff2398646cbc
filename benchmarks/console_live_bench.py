"""Live console latency: screen pops and wallboard updates pushed over Server-Sent Events.

Starts a real ``hotline serve`` (SQLite, the built-in PBX simulator, no random demo traffic),
creates ``--agents`` agent users with seats (simulated desk phones) and ``--wallboards``
supervisors, logs every one of them in, opens one ``/live`` stream per console from this
process, signs the agents into the agent queue, then places ``--calls`` demo calls at
``--pace`` calls per second (``POST /agent/demo-call``: a citizen who asks for an agent).
Nobody answers, so each call rings one agent after another (round robin), and every ring is
a screen pop at that agent's console.

Measured at the client, on the same machine (one clock):

* **screen pop** — from the moment the server's agent board processed the queue's
  ``AgentCalled`` (the ``at`` the ``call`` event carries) to the moment this process has read
  the event from the agent's stream; the AMI hop before it (simulator → controller, the
  ``sim_e2e`` benchmark's event lag, p99 ≤ 2.1 ms) is not included;
* **wallboard** — from the snapshot's ``as_of`` (taken when the server built it) to receipt at
  every supervisor console;
* server CPU seconds per pushed event (``/proc/<pid>/stat`` before and after).

Two more loads (issue 11's wallboard figures):

* ``--demo-rate R --duration S``: the simulator's own demo traffic at R call setups per second
  (callers in the IVR, in the queue, answered by the simulated agents, hanging up) for S seconds;
  the wallboards then follow that traffic;
* ``--pg URL --nodes 2``: two ``hotline serve`` on a fresh PostgreSQL database (one leads the
  telephony, the other follows); the consoles are split between them, so half the wallboards
  receive their events through the other process (PostgreSQL NOTIFY, decision 0014). Latency is
  reported per node.

Usage::

    python benchmarks/console_live_bench.py --agents 100 --wallboards 100 --calls 200 --pace 5
    python benchmarks/console_live_bench.py --agents 0 --wallboards 500 --calls 0 --demo-rate 100 --duration 30
    python benchmarks/console_live_bench.py --agents 0 --wallboards 500 --calls 0 --demo-rate 100 --duration 30 \
        --pg postgresql://postgres@127.0.0.1:5432/postgres --nodes 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.serve_support import running_serve  # noqa: E402

PASSWORD = "bench-live-pass-1"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def create_users(url: str, agents: int, wallboards: int) -> None:
    from hotline.database import make_engine, session_factory
    from hotline.users.service import create_user

    engine = make_engine(url)
    with session_factory(engine)() as s, s.begin():
        for i in range(agents):
            create_user(s, username=f"a{i}", password=PASSWORD, role="agent", display_name=f"坐席{i}",
                        seat=f"PJSIP/agent-{3000 + i}")
        for i in range(wallboards):
            create_user(s, username=f"s{i}", password=PASSWORD, role="supervisor", display_name=f"值班{i}")
    engine.dispose()


async def login(base: str, username: str) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(60, read=None))
    r = await client.post("/api/session", json={"username": username, "password": PASSWORD})
    r.raise_for_status()
    client.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    return client


async def listen(client: httpx.AsyncClient, kind: str, samples: list[float], ready: asyncio.Event,
                 counter: list[int], reconnects: list[int] | None = None) -> None:
    """One console's event stream; like a browser's EventSource it reconnects after a dropped
    connection (counted in ``reconnects``), and counts as ready at its first ``hello``."""
    greeted = False
    while True:
        try:
            greeted = await _stream(client, kind, samples, ready, counter, greeted)
        except (httpx.TransportError, httpx.RemoteProtocolError):
            pass
        if reconnects is not None:
            reconnects[0] += 1
        await asyncio.sleep(0.5)


async def _stream(client: httpx.AsyncClient, kind: str, samples: list[float], ready: asyncio.Event,
                  counter: list[int], greeted: bool) -> bool:
    async with client.stream("GET", "/live", headers={"Accept": "text/event-stream"}) as response:
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
                if event == "hello" and not greeted:
                    greeted = True
                    counter[0] += 1
                    if counter[0] == counter[1]:
                        ready.set()
            elif line.startswith("data: ") and event == kind:
                received = time.time()
                data = json.loads(line[6:])
                stamp = data.get("at") if kind == "call" else data.get("as_of")
                if stamp and (kind != "call" or data.get("state") == "ringing"):
                    from datetime import datetime

                    samples.append((received - datetime.fromisoformat(stamp).timestamp()) * 1000)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


@contextmanager
def fresh_postgres(admin_url: str):
    """A throw-away database on the PostgreSQL server at ``admin_url``."""
    from sqlalchemy import text

    from hotline.database import make_engine

    name = f"hotline_livebench_{uuid.uuid4().hex[:8]}"
    engine = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


async def run(args) -> dict:
    var = Path(tempfile.mkdtemp(prefix="live-bench-"))
    # demo traffic runs from the start (the leader's simulator); the measurement window opens once
    # every console is connected
    env = {"HOTLINE_SCHEDULER_INTERVAL": "3600", "HOTLINE_DEMO_CALL_RATE": str(args.demo_rate),
           "HOTLINE_DEMO_MAX_CALLS": str(args.demo_max_calls)}
    with ExitStack() as stack:
        if args.pg:
            env["HOTLINE_DATABASE_URL"] = stack.enter_context(fresh_postgres(args.pg))
        nodes = []
        for n in range(args.nodes):
            (var / f"node{n}").mkdir()
            nodes.append(stack.enter_context(running_serve(var / f"node{n}", **env)))
        create_users(env.get("HOTLINE_DATABASE_URL") or f"sqlite:///{nodes[0].database}", args.agents,
                     args.wallboards)
        # agents on the first node (it leads the telephony); wallboards spread over all nodes
        agents = [await login(nodes[0].base, f"a{i}") for i in range(args.agents)]
        boards = [await login(nodes[i % len(nodes)].base, f"s{i}") for i in range(args.wallboards)]
        pops: list[float] = []
        walls: list[list[float]] = [[] for _ in nodes]
        ready = asyncio.Event()
        counter = [0, len(agents) + len(boards)]
        reconnects = [0]
        tasks = [asyncio.create_task(listen(c, "call", pops, ready, counter, reconnects)) for c in agents]
        tasks += [asyncio.create_task(listen(c, "wallboard", walls[i % len(nodes)], ready, counter, reconnects))
                  for i, c in enumerate(boards)]
        await asyncio.wait_for(ready.wait(), 300)
        for c in agents:
            r = await c.post("/agent/signin", data={"queue": "agents"}, follow_redirects=False)
            assert r.status_code == 303, r.text
        await asyncio.sleep(2)
        pids = [node.proc.pid for node in nodes]
        cpu0 = [cpu_seconds(pid) for pid in pids]
        pushed0 = len(pops) + sum(map(len, walls))
        calls0 = calls_stored(env.get("HOTLINE_DATABASE_URL") or f"sqlite:///{nodes[0].database}")
        started = time.monotonic()
        for i in range(args.calls):
            r = await agents[i % len(agents)].post("/agent/demo-call", follow_redirects=False)
            assert r.status_code == 303, r.text
            await asyncio.sleep(1 / args.pace)
        await asyncio.sleep(args.duration if args.demo_rate else args.settle)
        elapsed = time.monotonic() - started
        cpu = [cpu_seconds(pid) - c0 for pid, c0 in zip(pids, cpu0)]
        events = len(pops) + sum(map(len, walls)) - pushed0
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for c in agents + boards:
            await c.aclose()
        logs = [node.log.read_text() for node in nodes]
        calls = calls_stored(env.get("HOTLINE_DATABASE_URL") or f"sqlite:///{nodes[0].database}")
        for node in reversed(nodes):
            node.stop()
    every_wall = [x for w in walls for x in w]
    result = {
        "database": "postgresql" if args.pg else "sqlite", "nodes": args.nodes,
        "consoles": args.agents + args.wallboards, "agents": args.agents, "wallboards": args.wallboards,
        "calls": args.calls, "pace_per_s": args.pace, "demo_rate_per_s": args.demo_rate,
        "calls_stored": calls, "seconds": round(elapsed, 1),
        "calls_per_s_in_window": round((calls - calls0) / elapsed, 1),      # rows of calls started in the window
        "screen_pops": len(pops), "pop_ms": {q: round(pct(pops, q), 1) for q in (50, 95, 99)},
        "wallboard_events": len(every_wall), "wallboard_ms": {q: round(pct(every_wall, q), 1) for q in (50, 95, 99)},
        "wallboard_ms_per_node": [{q: round(pct(w, q), 1) for q in (50, 95, 99)} | {"events": len(w)} for w in walls],
        "server_cpu_s_per_node": [round(c, 2) for c in cpu],
        "server_cpu_ms_per_delivery": round(sum(cpu) * 1000 / max(events, 1), 3),
        "stream_reconnects": reconnects[0],
        "overflow_logged": any(re.search("event bus overflow", log) for log in logs),
    }
    return result


def calls_stored(url: str) -> int:
    from sqlalchemy import text

    from hotline.database import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM calls")).scalar_one()
    engine.dispose()
    return count


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--agents", type=int, default=100)
    p.add_argument("--wallboards", type=int, default=100)
    p.add_argument("--calls", type=int, default=100)
    p.add_argument("--pace", type=float, default=5.0, help="demo calls placed per second")
    p.add_argument("--settle", type=float, default=10.0, help="seconds to keep listening after the last call")
    p.add_argument("--demo-rate", type=float, default=0.0, help="simulator demo call setups per second")
    p.add_argument("--demo-max-calls", type=int, default=50,
                   help="simulated calls at once (a setup rate R with calls of D seconds needs about R × D)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds of demo traffic measured")
    p.add_argument("--pg", default="", help="PostgreSQL server URL (a fresh database is created on it)")
    p.add_argument("--nodes", type=int, default=1, help="hotline serve processes on the database")
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args)), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
