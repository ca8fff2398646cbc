"""Playing Twilio's role in tests: webhook parameters in Twilio's format, signed with twilio's own
``RequestValidator``, and TwiML parsed back into XML elements."""

from __future__ import annotations

import itertools
import xml.etree.ElementTree as ET

from twilio.request_validator import RequestValidator

TOKEN = "12345678901234567890123456789012"
ACCOUNT = "AC" + "a" * 32
_sids = itertools.count(1)


def new_sid() -> str:
    return f"CA{next(_sids):032x}"


def params(sid: str, caller: str = "+8613904760000", status: str = "in-progress", **extra: str) -> dict[str, str]:
    """The parameters Twilio posts with every voice webhook (and ``extra``)."""
    return {"AccountSid": ACCOUNT, "ApiVersion": "2010-04-01", "CallSid": sid, "CallStatus": status,
            "Called": "+864768312319", "Caller": caller, "Direction": "inbound", "From": caller,
            "To": "+864768312319", "CallerCountry": "CN", **extra}


def sign(url: str, data: dict[str, str], token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, data)


def twiml(text: str) -> ET.Element:
    root = ET.fromstring(text)
    assert root.tag == "Response"
    return root


class TwilioRecordingHost:
    """Twilio's recording media endpoint on a local port, as Twilio serves it.

    ``GET /2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}.wav`` needs HTTP basic auth
    with the Account SID and auth token (401 with ``WWW-Authenticate`` otherwise) and answers with a
    302 to the media storage — a second local port, another origin — which serves the bytes and
    refuses any request that still carries the credentials. Unknown recordings are 404. ``fail``
    makes the API answer that status instead (a 503 outage, say). ``requests`` lists every request
    (path, had credentials).
    """

    def __init__(self, account: str = ACCOUNT, token: str = TOKEN):
        import base64
        import http.server
        import threading

        self.recordings: dict[str, bytes] = {}
        self.requests: list[tuple[str, bool]] = []
        self.fail: int | None = None
        expected = "Basic " + base64.b64encode(f"{account}:{token}".encode()).decode()
        host = self

        class Media(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                authorised = self.headers.get("Authorization") is not None
                host.requests.append((self.path, authorised))
                body = host.recordings.get(self.path.split("?")[0].rsplit("/", 1)[-1].removesuffix(".wav"))
                if authorised or body is None:      # storage URLs are signed; credentials never belong here
                    self.send_response(403 if authorised else 404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "audio/x-wav")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Api(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                auth = self.headers.get("Authorization")
                host.requests.append((self.path, auth is not None))
                prefix = f"/2010-04-01/Accounts/{account}/Recordings/"
                if auth != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
                    self.end_headers()
                    return
                if host.fail:
                    self.send_response(host.fail)
                    self.end_headers()
                    return
                sid = self.path.removeprefix(prefix).removesuffix(".wav")
                if not self.path.startswith(prefix) or sid not in host.recordings:
                    self.send_response(404)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"code": 20404, "message": "The requested resource was not found", '
                                     b'"more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}')
                    return
                self.send_response(302)
                self.send_header("Location", f"{host.media_url}/v1/{account}/{sid}.wav?X-Amz-Signature=test")
                self.end_headers()

        self._media = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Media)
        self._api = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
        self.media_url = f"http://127.0.0.1:{self._media.server_address[1]}"
        self.base_url = f"http://127.0.0.1:{self._api.server_address[1]}"
        self.account = account
        for server in (self._media, self._api):
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def add(self, sid: str, audio: bytes) -> str:
        """Store a recording; returns the ``RecordingUrl`` Twilio would report (without extension)."""
        self.recordings[sid] = audio
        return f"{self.base_url}/2010-04-01/Accounts/{self.account}/Recordings/{sid}"

    def close(self) -> None:
        for server in (self._media, self._api):
            server.shutdown()
            server.server_close()
