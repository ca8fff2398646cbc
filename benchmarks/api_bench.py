"""Ticket creation through the REST API vs a bare FastAPI + SQLAlchemy insert, same run.

For each database (SQLite file, PostgreSQL when ``--pg-url`` or ``HOTLINE_TEST_POSTGRES_URL`` is
set — a fresh database is created and dropped), two real uvicorn servers run on 127.0.0.1, each
in its own process, one worker:

* ``hotline``: the full app (``create_app``, every router); clients log in as an agent and
  ``POST /api/tickets`` — session check, routing (grid lookup, rules), ticket numbering,
  ticket + event rows, duplicate search, detail response;
* ``bare``: a FastAPI app with one sync endpoint that validates a pydantic body with the same
  fields and inserts one row with an SQLAlchemy session (same ``make_engine`` settings).

Clients: ``--concurrency`` httpx AsyncClients sending requests back to back for ``--requests``
requests per round after a warm-up; rounds alternate between the two servers and the median
round is reported. Target: hotline ≥ 0.5 × bare req/s.

Run:  .venv/bin/python benchmarks/api_bench.py [--requests 600] [--rounds 3] [--concurrency 8] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

RESULTS = Path(__file__).resolve().parent / "results" / "api.md"
PASSWORD = "bench-agent-password"
# Inside 红山区 and 松山区 of the sample grid (hotline/data/grid_sample.json): every point routes.
AREA = (118.951, 118.989, 42.256, 42.314)
CATEGORIES = [("01001", "component"), ("01002", "component"), ("01003", "component"), ("01001", "matter")]


# --- servers (child processes) ---------------------------------------------------------------

def serve_hotline(db_url: str, port: int, var_dir: str) -> None:
    import uvicorn

    from hotline.config import Settings
    from hotline.server import build_state
    from hotline.users.service import create_user
    from hotline.web.app import create_app

    state = build_state(Settings(var_dir=Path(var_dir), database_url=db_url, demo_call_rate=0,
                                 session_secret="b" * 40))
    state.services.clear()
    with state.sessions() as s, s.begin():
        from sqlalchemy import select

        from hotline.users.models import User

        if s.scalar(select(User).where(User.username == "bench")) is None:
            create_user(s, username="bench", password=PASSWORD, role="agent", display_name="压测坐席")
    uvicorn.run(create_app(state), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def serve_bare(db_url: str, port: int) -> None:
    from datetime import datetime, timezone

    import uvicorn
    from fastapi import FastAPI
    from sqlalchemy.orm import sessionmaker

    from hotline.database import make_engine

    Base, BareTicket, Body = _bare_models()
    engine = make_engine(db_url)
    Base.metadata.create_all(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    app = FastAPI()

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    def create(body) -> dict:
        with sessions() as s, s.begin():
            row = BareTicket(**body.model_dump(), created_at=datetime.now(timezone.utc))
            s.add(row)
            s.flush()
            return {"id": row.id}

    create.__annotations__ = {"body": Body, "return": dict}   # real objects, not strings
    app.post("/bare/tickets", status_code=201)(create)

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _bare_models():
    """The baseline's table and body (module-level names, so string annotations resolve)."""
    global _BARE
    if _BARE is None:
        from sqlalchemy import DateTime, Float, Integer, String, Text
        from sqlalchemy.orm import DeclarativeBase, mapped_column
        from pydantic import BaseModel, Field, create_model

        class Base(DeclarativeBase):
            pass

        BareTicket = type("BareTicket", (Base,), {
            "__tablename__": "bench_bare_tickets",
            "id": mapped_column(Integer, primary_key=True),
            "caller_number": mapped_column(String(40)),
            "category_code": mapped_column(String(20)),
            "kind": mapped_column(String(10), nullable=True),
            "description": mapped_column(Text),
            "address": mapped_column(String(300), nullable=True),
            "lat": mapped_column(Float, nullable=True),
            "lon": mapped_column(Float, nullable=True),
            "created_at": mapped_column(DateTime(timezone=True)),
        })
        Body = create_model(
            "Body", __base__=BaseModel,
            caller_number=(str, Field("", max_length=40)), category_code=(str, Field(..., max_length=20)),
            kind=(str | None, None), description=(str, Field(..., max_length=4000)),
            address=(str | None, Field(None, max_length=300)), lat=(float | None, Field(None, ge=-90, le=90)),
            lon=(float | None, Field(None, ge=-180, le=180)))
        _BARE = (Base, BareTicket, Body)
    return _BARE


_BARE = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(kind: str, db_url: str, var_dir: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--db", db_url, "--port", str(port),
                             "--var", var_dir])
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} server exited with {proc.returncode}")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start")


# --- clients ---------------------------------------------------------------------------------

def _body(rng: random.Random, i: int) -> dict:
    code, kind = rng.choice(CATEGORIES)
    return {"caller_number": f"138{rng.randrange(10**8):08d}", "category_code": code, "kind": kind,
            "description": f"压测工单 {i}：井盖破损", "address": f"测试路{i}号",
            "lat": round(rng.uniform(AREA[2], AREA[3]), 6), "lon": round(rng.uniform(AREA[0], AREA[1]), 6)}


async def _round(base: str, path: str, n: int, concurrency: int, login: bool, seed: int) -> dict:
    rng = random.Random(seed)
    bodies = [_body(rng, i) for i in range(n)]
    clients = [httpx.AsyncClient(base_url=base, timeout=60) for _ in range(concurrency)]
    if login:
        for c in clients:
            r = await c.post("/api/session", json={"username": "bench", "password": PASSWORD})
            r.raise_for_status()
            c.headers["X-CSRF-Token"] = r.json()["csrf_token"]
    latencies: list[float] = []
    errors: dict[int, int] = {}
    queue = iter(bodies)

    async def worker(c: httpx.AsyncClient) -> None:
        for body in queue:
            t0 = time.perf_counter()
            r = await (c.get(path) if path == "/api/me" else c.post(path, json=body))
            latencies.append(time.perf_counter() - t0)
            if r.status_code != (200 if path == "/api/me" else 201):
                errors[r.status_code] = errors.get(r.status_code, 0) + 1

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in clients))
    elapsed = time.perf_counter() - start
    for c in clients:
        await c.aclose()
    latencies.sort()
    return {"rps": n / elapsed, "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000, "errors": errors}


def _median_round(rounds: list[dict]) -> dict:
    rounds = sorted(rounds, key=lambda r: r["rps"])
    mid = rounds[len(rounds) // 2]
    errors: dict[int, int] = {}
    for r in rounds:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    return {**mid, "errors": errors, "all": [r["rps"] for r in rounds]}


def bench_backend(name: str, db_url: str, args) -> dict:
    var_dir = tempfile.mkdtemp(prefix=f"api-bench-{name}-")
    procs = []
    try:
        hotline, hbase = _start("hotline", db_url, var_dir)
        procs.append(hotline)
        bare, bbase = _start("bare", db_url, var_dir)
        procs.append(bare)
        asyncio.run(_round(hbase, "/api/tickets", 50, args.concurrency, True, 1))      # warm-up
        asyncio.run(_round(bbase, "/bare/tickets", 50, args.concurrency, False, 1))
        ours, base, auth = [], [], []
        for r in range(args.rounds):
            ours.append(asyncio.run(_round(hbase, "/api/tickets", args.requests, args.concurrency, True, 100 + r)))
            base.append(asyncio.run(_round(bbase, "/bare/tickets", args.requests, args.concurrency, False, 100 + r)))
            auth.append(asyncio.run(_round(hbase, "/api/me", args.requests, args.concurrency, True, 100 + r)))
            print(f"{name} round {r + 1}: hotline {ours[-1]['rps']:.0f} req/s, bare {base[-1]['rps']:.0f} req/s, "
                  f"/api/me {auth[-1]['rps']:.0f} req/s", flush=True)
        return {"hotline": _median_round(ours), "bare": _median_round(base), "auth": _median_round(auth)}
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(var_dir, ignore_errors=True)


def _pg_database(admin_url: str):
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from hotline.database import make_engine

    name = f"hotline_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(admin_url).set(database=name).render_as_string(hide_password=False), drop


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", choices=["hotline", "bare"])
    ap.add_argument("--db")
    ap.add_argument("--port", type=int)
    ap.add_argument("--var")
    ap.add_argument("--requests", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--pg-url", default=os.environ.get("HOTLINE_TEST_POSTGRES_URL", ""))
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    if args.serve == "hotline":
        serve_hotline(args.db, args.port, args.var)
        return 0
    if args.serve == "bare":
        serve_bare(args.db, args.port)
        return 0

    results = {}
    tmp = Path(tempfile.mkdtemp(prefix="api-bench-db-"))
    try:
        results["SQLite"] = bench_backend("sqlite", f"sqlite:///{tmp / 'bench.sqlite3'}", args)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.pg_url:
        url, drop = _pg_database(args.pg_url)
        try:
            results["PostgreSQL"] = bench_backend("postgresql", url, args)
        finally:
            drop()

    load = os.getloadavg()
    lines = ["# REST API ticket creation benchmark", "",
             "Command: `" + " ".join(["python", "benchmarks/api_bench.py"] + [a for a in sys.argv[1:]]) + "`"
             + (" (PostgreSQL from `HOTLINE_TEST_POSTGRES_URL`)" if args.pg_url else ""), "",
             f"Machine: {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs; "
             f"load average after the run {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} (shared machine: other "
             f"engineers' jobs run at the same time). One uvicorn worker per server, {args.concurrency} concurrent "
             f"httpx clients, {args.requests} requests per round, {args.rounds} rounds alternating between the servers; "
             "median round shown (all rounds in the last column).", "",
             "| database | server | req/s | p50 ms | p99 ms | non-201 | ratio vs bare | rounds req/s |",
             "|---|---|---:|---:|---:|---|---:|---|"]
    for db, res in results.items():
        for kind in ("hotline", "bare", "auth"):
            r = res[kind]
            ratio = r["rps"] / res["bare"]["rps"]
            label = {"hotline": "POST /api/tickets", "bare": "bare insert",
                     "auth": "GET /api/me (auth floor, no insert)"}[kind]
            lines.append(f"| {db} | {label} | {r['rps']:.0f} | "
                         f"{r['p50']:.1f} | {r['p99']:.1f} | {r['errors'] or 'none'} | {ratio:.2f} | "
                         + ", ".join(f"{x:.0f}" for x in r["all"]) + " |")
    lines += ["", "Target: hotline ≥ 0.5 × bare. The hotline request does much more than the baseline: "
              "session check and role check, routing (grid point and address lookup + rules, explanation "
              "stored), the duplicate search, per-day ticket numbering (a row lock), ticket + first event rows "
              "in one transaction and a full detail response (events, deadlines, available actions, routing). "
              "`GET /api/me` on the same server is the floor every logged-in API request pays (signed session "
              "cookie + user look-up, cached per process) before any ticket work.", ""]
    text = "\n".join(lines)
    print(text)
    if args.write:
        RESULTS.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
