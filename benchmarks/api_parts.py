"""Where one ticket intake spends its time, in process (companion to ``api_bench.py``).

Sequential requests through FastAPI's TestClient against ``build_state`` on a fresh database;
the handler's parts are timed with ``perf_counter`` wrappers. TestClient adds its own fixed cost
(a portal thread per request), so compare parts and before/after, not against the HTTP benchmark.

    .venv/bin/python benchmarks/api_parts.py [--db URL] [--requests 500]
"""

from __future__ import annotations

import argparse
import collections
import functools
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AREA = (118.951, 118.989, 42.256, 42.314)   # as api_bench.py: inside 红山区 and 松山区
CATEGORIES = [("01001", "component"), ("01002", "component"), ("01003", "component"), ("01001", "matter")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=None, help="database URL (default: SQLite in a temporary directory)")
    ap.add_argument("--requests", type=int, default=500)
    args = ap.parse_args()

    from fastapi.testclient import TestClient

    import hotline.cases.intake as intake
    import hotline.cases.service as service
    import hotline.cases.views as views
    from hotline.config import Settings
    from hotline.server import build_state
    from hotline.users.service import create_user
    from hotline.web.app import create_app

    spent: collections.Counter = collections.Counter()

    def timed(module, name: str) -> None:
        fn = getattr(module, name)

        @functools.wraps(fn)
        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent[name] += time.perf_counter() - t0

        setattr(module, name, wrapper)

    for module, name in [(views, "route_report"), (views, "intake_ticket"), (views, "ticket_detail"),
                         (views, "propose_duplicates"), (intake, "create_ticket"),
                         (service, "next_ticket_number"), (service, "_insert_ticket")]:
        timed(module, name)

    kw = dict(var_dir=Path(tempfile.mkdtemp()), demo_call_rate=0, session_secret="p" * 40)
    if args.db:
        kw["database_url"] = args.db
    state = build_state(Settings(**kw))
    state.services.clear()
    state.routers = views.routers()
    with state.sessions() as s, s.begin():
        create_user(s, username="bench", password="bench-agent-password", role="agent", display_name="压测坐席")
    client = TestClient(create_app(state))
    client.post("/api/session", json={"username": "bench", "password": "bench-agent-password"})
    rng = random.Random(1)

    def body(i: int) -> dict:
        code, kind = rng.choice(CATEGORIES)
        return {"caller_number": f"138{rng.randrange(10**8):08d}", "category_code": code, "kind": kind,
                "description": f"压测工单 {i}：井盖破损", "address": f"测试路{i}号",
                "lat": round(rng.uniform(AREA[2], AREA[3]), 6), "lon": round(rng.uniform(AREA[0], AREA[1]), 6)}

    for i in range(300):  # warm-up, and earlier tickets for the duplicate search
        assert client.post("/api/tickets", json=body(i)).status_code == 201
    n = args.requests
    t0 = time.perf_counter()
    for _ in range(n):
        client.get("/api/me")
    me = (time.perf_counter() - t0) / n
    spent.clear()
    t0 = time.perf_counter()
    for i in range(n):
        assert client.post("/api/tickets", json=body(i)).status_code == 201
    post = (time.perf_counter() - t0) / n
    print(f"GET /api/me {me * 1000:.2f} ms/request, POST /api/tickets {post * 1000:.2f} ms/request ({n} each)")
    for name, seconds in spent.most_common():
        print(f"  {name:22s} {seconds / n * 1000:.2f} ms")
    state.engine.dispose()


if __name__ == "__main__":
    main()
