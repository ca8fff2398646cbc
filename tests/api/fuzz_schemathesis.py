"""Manual fuzz run (not collected by pytest): schemathesis + openapi-spec-validator against a real server.

Needs ``schemathesis`` and ``openapi-spec-validator``, which the project does not depend on; run it
from a virtualenv that has them and sees the project, e.g.::

    python -m venv /tmp/fuzzvenv && /tmp/fuzzvenv/bin/pip install schemathesis openapi-spec-validator
    echo "import site; site.addsitedir('$PWD/.venv/lib/python3.11/site-packages')" \\
        > /tmp/fuzzvenv/lib/python3.11/site-packages/zz_main.pth
    /tmp/fuzzvenv/bin/python tests/api/fuzz_schemathesis.py [--max-examples 50]

It builds a full state on a temporary SQLite database, starts uvicorn on 127.0.0.1, logs in as
an admin (who may call every endpoint), validates the OpenAPI document and runs
``schemathesis run`` with the ``not_a_server_error`` check (plus response-schema conformance).
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


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-examples", type=int, default=30)
    args = ap.parse_args()

    from hotline.config import Settings
    from hotline.server import build_state
    from hotline.users.service import create_user
    from hotline.web.app import create_app

    tmp = Path(tempfile.mkdtemp(prefix="hotline-fuzz-"))
    state = build_state(Settings(var_dir=tmp, demo_call_rate=0, session_secret="f" * 40))
    state.services.clear()
    password = "fuzz-admin-password"
    with state.sessions() as s, s.begin():
        create_user(s, username="fuzzadmin", password=password, role="admin", display_name="模糊测试")
    os.environ.setdefault("HOTLINE_OPEN311_API_KEYS", "fuzz-open311-key-0123456789")

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(state), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
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

    from openapi_spec_validator import validate

    validate(doc)
    print(f"openapi-spec-validator: OK ({len(doc['paths'])} paths, OpenAPI {doc['openapi']})")
    spec_file = tmp / "openapi.json"
    spec_file.write_text(json.dumps(doc, ensure_ascii=False))

    st = shutil.which("schemathesis", path=os.path.dirname(sys.executable)) or "schemathesis"
    cmd = [st, "run", str(spec_file), "--url", base, "-H", f"Cookie: {cookie}", "-H", f"X-CSRF-Token: {csrf}",
           "--checks", "not_a_server_error", "--max-examples", str(args.max_examples),
           "--include-path-regex", "^/(api/(tickets|callers|grid|categories|routing)|open311)"]
    print("$", " ".join(c if "hotline_session" not in c else "Cookie: <session>" for c in cmd), flush=True)
    rc = subprocess.call(cmd)
    server.should_exit = True
    state.engine.dispose()
    shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
