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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_bench import PASSWORD, _body  # noqa: E402  (the same requests as the HTTP benchmark)


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
        create_user(s, username="bench", password=PASSWORD, role="agent", display_name="压测坐席")
    client = TestClient(create_app(state))
    client.post("/api/session", json={"username": "bench", "password": PASSWORD})
    rng = random.Random(1)

    def body(i: int) -> dict:
        return _body(rng, i)

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
