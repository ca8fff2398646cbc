"""A local stand-in for Twilio's Messages REST API (the edge of the world for SMS).

It speaks the documented protocol so the real ``twilio`` client can be pointed at it:

* ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, form fields ``To``, ``From``,
  ``Body`` (``application/x-www-form-urlencoded``), HTTP Basic auth with the account SID
  and auth token;
* ``201`` with a Message resource (``sid`` = ``SM`` + 32 hex, ``status`` ``queued``,
  ``direction`` ``outbound-api``, RFC 2822 dates, ``num_segments`` as a string, ``uri``
  relative to the API host, …);
* errors as Twilio's JSON ``{"code", "message", "more_info", "status"}``: 401/20003 for
  bad credentials, 404/20404 for unknown resources, 400/21211 for an invalid ``To``,
  21604/21603/21602 for missing To/From/Body, 21610 for unsubscribed recipients,
  21408 for regions not enabled;
* :meth:`FakeTwilio.fail_next` forces the next answers to 429 (20429) or 5xx (20500) for
  retry tests; :attr:`FakeTwilio.delay` slows answers down to make senders overlap.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass
from email.utils import format_datetime
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

API_VERSION = "2010-04-01"
_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages\.json$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")

_ERRORS = {
    20003: "Authenticate",
    20404: "The requested resource {path} was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    21211: "Invalid 'To' Phone Number: {to}",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
}


def new_account_sid() -> str:
    return "AC" + secrets.token_hex(16)


def _segments(body: str) -> int:
    # Twilio counts UCS-2 for anything outside ASCII-ish GSM text: 70 / 67 per part.
    ucs2 = any(ord(c) > 127 for c in body)
    units = len(body.encode("utf-16-le")) // 2 if ucs2 else len(body)
    single, part = (70, 67) if ucs2 else (160, 153)
    return 1 if units <= single else -(-units // part)


@dataclass
class ReceivedMessage:
    sid: str
    to: str
    from_: str
    body: str
    at: datetime


class FakeTwilio:
    """Threaded HTTP server on ``127.0.0.1:<free port>``; use as a context manager."""

    def __init__(self, account_sid: str | None = None, auth_token: str | None = None):
        self.account_sid = account_sid or new_account_sid()
        self.auth_token = auth_token or secrets.token_hex(16)
        self.messages: list[ReceivedMessage] = []
        self.requests: list[dict] = []          # every request seen (path, status answered)
        self.invalid: set[str] = set()          # well-formed but not assignable numbers → 21211
        self.unsubscribed: set[str] = set()     # numbers that texted STOP → 21610
        self.blocked_prefixes: set[str] = set()  # geo permissions off → 21408
        self.delay = 0.0                         # seconds to wait before answering
        self._forced: list[int] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-twilio", daemon=True
        )

    # -- lifecycle -------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FakeTwilio":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- test controls ---------------------------------------------------------------
    def fail_next(self, status: int, count: int = 1) -> None:
        """Answer the next ``count`` message requests with HTTP ``status`` (429 or 5xx)."""
        with self._lock:
            self._forced.extend([status] * count)

    def sent_to(self, number: str) -> list[ReceivedMessage]:
        with self._lock:
            return [m for m in self.messages if m.to == number]

    # -- protocol --------------------------------------------------------------------
    def _error(self, status: int, code: int, **fmt) -> tuple[int, dict]:
        return status, {
            "code": code,
            "message": _ERRORS[code].format(**fmt),
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }

    def _authorised(self, header: str | None, account: str) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return (
            secrets.compare_digest(user, self.account_sid)
            and secrets.compare_digest(password, self.auth_token)
            and account == self.account_sid
        )

    def _create_message(self, path: str, headers, raw: bytes) -> tuple[int, dict]:
        m = _PATH.match(path.split("?", 1)[0])
        if not m:
            return self._error(404, 20404, path=path)
        if not self._authorised(headers.get("Authorization"), m["account"]):
            return self._error(401, 20003)
        with self._lock:
            forced = self._forced.pop(0) if self._forced else None
        if forced is not None:
            return self._error(forced, 20429 if forced == 429 else 20500)
        ctype = (headers.get("Content-Type") or "").split(";")[0].strip()
        if ctype != "application/x-www-form-urlencoded":
            return self._error(400, 21604)
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}
        to, from_, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        if not to:
            return self._error(400, 21604)
        if not from_:
            return self._error(400, 21603)
        if not body:
            return self._error(400, 21602)
        if not _E164.match(to) or to in self.invalid:
            return self._error(400, 21211, to=to)
        if any(to.startswith(p) for p in self.blocked_prefixes):
            return self._error(400, 21408, to=to)
        if to in self.unsubscribed:
            return self._error(400, 21610)
        now = datetime.now(timezone.utc)
        sid = "SM" + secrets.token_hex(16)
        with self._lock:
            self.messages.append(ReceivedMessage(sid=sid, to=to, from_=from_, body=body, at=now))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json"
        stamp = format_datetime(now, usegmt=True)
        return 201, {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": stamp,
            "date_sent": None,
            "date_updated": stamp,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": to,
            "uri": uri,
        }

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _answer(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if fake.delay:
                    time.sleep(fake.delay)
                status, payload = fake._create_message(self.path, self.headers, raw)
                with fake._lock:
                    fake.requests.append({"path": self.path, "status": status})
                self._answer(status, payload)

            def do_GET(self) -> None:
                self._answer(*fake._error(404, 20404, path=self.path))

        return Handler
