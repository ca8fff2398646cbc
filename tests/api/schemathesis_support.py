"""Schemathesis against a real server: the OpenAPI document must be true.

:func:`run` builds a full state on a temporary SQLite database, starts uvicorn on 127.0.0.1, logs in
as an admin (who may call every endpoint), checks the document with openapi-spec-validator and runs
``schemathesis run`` — the server runs its services, telephony on the PBX simulator included — over
every ``/api`` and ``/open311`` operation (logout excepted) with the checks
that compare what the server does with what the document says: no 500, only documented status
codes, content types and headers, and bodies that match the documented schema. The suite runs it
bounded and with a fixed seed (``tests/api/test_schemathesis.py``); by hand, for a longer run::

    .venv/bin/python tests/api/schemathesis_support.py --max-examples 200 --seed 7
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
          "response_schema_conformance")


def run(max_examples: int = 25, seed: int = 1, checks: str = CHECKS) -> tuple[int, str]:
    """(exit code, schemathesis's report)."""
    from openapi_spec_validator import validate

    from hotline.config import Settings
    from hotline.server import build_state
    from hotline.users.service import create_user
    from hotline.web.app import create_app

    tmp = Path(tempfile.mkdtemp(prefix="hotline-schemathesis-"))
    state = build_state(Settings(var_dir=tmp, database_url=f"sqlite:///{tmp}/hotline.db", demo_call_rate=0,
                                 session_secret="f" * 40))
    password = "schemathesis-admin-password"
    with state.sessions() as s, s.begin():
        create_user(s, username="fuzzadmin", password=password, role="admin", display_name="模糊测试")
    os.environ.setdefault("HOTLINE_OPEN311_API_KEYS", "fuzz-open311-key-0123456789")

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.get(base + "/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        r = httpx.post(base + "/api/session", json={"username": "fuzzadmin", "password": password})
        r.raise_for_status()
        cookie = f"hotline_session={r.cookies['hotline_session']}"
        csrf = r.json()["csrf_token"]
        doc = httpx.get(base + "/api/openapi.json", headers={"cookie": cookie}).json()
        validate(doc)
        spec_file = tmp / "openapi.json"
        spec_file.write_text(json.dumps(doc, ensure_ascii=False))
        st = shutil.which("schemathesis", path=os.path.dirname(sys.executable)) or "schemathesis"
        cmd = [st, "run", str(spec_file), "--url", base, "-H", f"Cookie: {cookie}", "-H", f"X-CSRF-Token: {csrf}",
               "--checks", checks, "--max-examples", str(max_examples), "--seed", str(seed),
               "--generation-database", "none", "--no-color",
               "--include-path-regex", "^/(api|open311)/", "--exclude-path-regex", "^/api/session$",
               "--suppress-health-check", "all"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1200,
                              env={**os.environ, "SCHEMATHESIS_HOOKS": ""})
        return done.returncode, done.stdout + done.stderr
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        state.close()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-examples", type=int, default=25)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--checks", default=CHECKS)
    args = ap.parse_args()
    rc, report = run(args.max_examples, args.seed, args.checks)
    print(report)
    return rc


if __name__ == "__main__":
    sys.exit(main())
