"""Where one ticket intake spends its time, in process (companion to ``api_bench.py``).

Sequential requests straight into the ASGI app (no HTTP, no TestClient) against ``build_state``
on a fresh database; the handler's parts are timed with ``perf_counter`` wrappers, and CPU time
per request is reported next to wall time. ``--inline`` runs the threadpool calls on the event
loop (what a profiler sees as one thread); without it sync endpoints take their usual thread hop.

    .venv/bin/python benchmarks/api_parts.py [--db URL] [--requests 500] [--inline] [--profile FILE]

``--profile FILE`` writes a cProfile of the timed POSTs (``--inline`` recommended: cProfile
only sees the thread it runs in).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import functools
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_bench import PASSWORD, _body  # noqa: E402  (the same requests as the HTTP benchmark)


async def _call(app, method: str, path: str, body: dict | None = None, cookie: bytes | None = None,
                csrf: bytes | None = None) -> dict:
    """One HTTP request as an ASGI call; returns status, headers and body."""
    raw = json.dumps(body).encode() if body is not None else b""
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
               (b"content-length", str(len(raw)).encode())]
    if cookie:
        headers.append((b"cookie", cookie))
    if csrf:
        headers.append((b"x-csrf-token", csrf))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80), "state": {}}
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    out: dict = {"status": None, "headers": [], "body": b""}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            out["status"], out["headers"] = message["status"], message.get("headers", [])
        elif message["type"] == "http.response.body":
            out["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", default=None, help="database URL (default: SQLite in a temporary directory)")
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--inline", action="store_true", help="run threadpool calls on the event loop")
    ap.add_argument("--profile", default=None, help="write a cProfile of the timed POSTs to this file")
    args = ap.parse_args()

    if args.inline:
        import anyio.to_thread

        async def run_sync(func, *a, abandon_on_cancel=False, cancellable=None, limiter=None):
            return func(*a)

        anyio.to_thread.run_sync = run_sync

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
                         (views, "propose_duplicates_before"), (intake, "create_ticket"),
                         (service, "next_ticket_number"), (service, "_insert_ticket")]:
        timed(module, name)

    kw = dict(var_dir=Path(tempfile.mkdtemp()), demo_call_rate=0, session_secret="p" * 40)
    if args.db:
        kw["database_url"] = args.db
    state = build_state(Settings(**kw))
    state.services.clear()

    with state.sessions() as s, s.begin():
        create_user(s, username="bench", password=PASSWORD, role="agent", display_name="压测坐席")
    app = create_app(state)
    rng = random.Random(1)

    async def run() -> None:
        login = await _call(app, "POST", "/api/session", {"username": "bench", "password": PASSWORD})
        cookie = next(v for k, v in login["headers"] if k == b"set-cookie").split(b";")[0]
        csrf = json.loads(login["body"])["csrf_token"].encode()
        for i in range(300):  # warm-up, and earlier tickets for the duplicate search
            assert (await _call(app, "POST", "/api/tickets", _body(rng, i), cookie, csrf))["status"] == 201
        n = args.requests
        c0, t0 = time.process_time(), time.perf_counter()
        for _ in range(n):
            await _call(app, "GET", "/api/me", None, cookie)
        me_cpu, me = (time.process_time() - c0) / n, (time.perf_counter() - t0) / n
        bodies = [_body(rng, i) for i in range(n)]
        spent.clear()
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        c0, t0 = time.process_time(), time.perf_counter()
        for body in bodies:
            assert (await _call(app, "POST", "/api/tickets", body, cookie, csrf))["status"] == 201
        post_cpu, post = (time.process_time() - c0) / n, (time.perf_counter() - t0) / n
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        mode = "inline" if args.inline else "threadpool"
        print(f"{mode}: GET /api/me {me * 1000:.2f} ms/request ({me_cpu * 1000:.2f} ms CPU), "
              f"POST /api/tickets {post * 1000:.2f} ms/request ({post_cpu * 1000:.2f} ms CPU), {n} each")
        for name, seconds in spent.most_common():
            print(f"  {name:26s} {seconds / n * 1000:.2f} ms")

    asyncio.run(run())
    state.engine.dispose()


if __name__ == "__main__":
    main()
