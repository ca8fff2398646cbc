"""A small asyncio AMI server that replays real Asterisk 20 transcripts.

The ``NN_*.txt`` fixture is the server side of a real session, ``NN_*.sent`` the
actions that produced it. The server checks credentials itself (plain and MD5
challenge, as Asterisk does), then expects the fixture's actions in order. For
each action it streams the fixture's messages, replacing the fixture ActionIDs
with the client's, up to the next response that belongs to an action not yet
sent: responses are gated by actions, events flow freely in between.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass, field

from ivr.ami.messages import Message
from ivr.ami.protocol import AmiParser, parse_stream

from ami_fixtures import fixture_bytes

USERNAME = "hotline"
SECRET = "hotline-secret"


def _substitute(msg: Message, ids: dict[str, str]) -> Message:
    return Message([(k, ids.get(v, v) if k.lower() == "actionid" else v) for k, v in msg.headers])


@dataclass
class Session:
    writer: asyncio.StreamWriter
    received: list[Message] = field(default_factory=list)
    logged_in: bool = False
    challenge: str | None = None


class FakeAmi:
    def __init__(
        self,
        fixture: str | None = None,
        *,
        answer_login: bool = True,
        answer_ping: bool = True,
        drop_after: int | None = None,
        banner: bytes | None = None,
        chunk: int | None = None,
        drop_on: str | None = None,
        accept_all: bool = False,
    ) -> None:
        self.fixture = fixture
        self.answer_login = answer_login
        self.answer_ping = answer_ping
        self.drop_after = drop_after  # close the socket after this many replayed messages
        self.chunk = chunk  # write in chunks of this many bytes (exercise split reads)
        self.drop_on = drop_on  # close the socket, unanswered, when this action arrives
        self.accept_all = accept_all  # answer any unscripted action with Success (header checks)
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.sessions: list[Session] = []
        self.mismatches: list[str] = []
        self.pings = 0
        self.logins = 0
        self.failed_logins = 0
        if fixture:
            raw = fixture_bytes(fixture + ".txt")
            self.banner = banner or raw.split(b"\r\n", 1)[0] + b"\r\n"
            msgs = parse_stream(raw)
            self.login_reply = msgs[0]
            self.script = msgs[1:]
            self.expected = [m for m in parse_stream(fixture_bytes(fixture + ".sent")) if m.name.lower() not in ("login", "logoff")]
        else:
            self.banner = banner or b"Asterisk Call Manager/9.0.0\r\n"
            self.login_reply = Message.of(("Response", "Success"), ("ActionID", "login-1"), ("Message", "Authentication accepted"))
            self.script = []
            self.expected = []
        failure = parse_stream(fixture_bytes("08a_login_failure.txt"))
        self.auth_failed_reply = next(m for m in failure if m.get("Message") == "Authentication failed")
        self.permission_denied = next(m for m in failure if m.get("Message") == "Permission denied")

    # -- lifecycle ---------------------------------------------------------------
    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port, reuse_address=True)
        self.port = self.server.sockets[0].getsockname()[1]
        return self.port

    async def kill(self) -> None:
        """Stop listening and cut every connection (Asterisk restart)."""
        if self.server is not None:
            self.server.close()
        for s in self.sessions:
            s.writer.transport.abort()
        if self.server is not None:
            await self.server.wait_closed()
            self.server = None

    # -- protocol ----------------------------------------------------------------
    async def _send(self, session: Session, data: bytes) -> None:
        if self.chunk:
            for i in range(0, len(data), self.chunk):
                session.writer.write(data[i : i + self.chunk])
                await session.writer.drain()
        else:
            session.writer.write(data)
            await session.writer.drain()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = Session(writer)
        self.sessions.append(session)
        parser = AmiParser(expect_banner=False)
        ids: dict[str, str] = {}  # fixture ActionID -> client ActionID
        state = {"pos": 0, "next": 0, "sent": 0}
        try:
            await self._send(session, self.banner)
            while True:
                data = await reader.read(4096)
                if not data:
                    return
                for action in parser.feed(data):
                    session.received.append(action)
                    if not await self._on_action(session, action, ids, state):
                        writer.close()
                        return
        except (ConnectionError, OSError):
            return
        finally:
            writer.transport.abort()

    async def _on_action(self, session: Session, action: Message, ids: dict[str, str], state: dict) -> bool:
        name = action.name.lower()
        aid = action.action_id or ""
        if self.drop_on and name == self.drop_on.lower():
            return False
        if name == "challenge":
            session.challenge = str(secrets.randbelow(10**9))
            reply = Message.of(("Response", "Success"), ("ActionID", aid), ("Challenge", session.challenge))
            await self._send(session, reply.encode())
            return True
        if name == "login":
            if not self.answer_login:
                return True
            ok = action.get("Username") == USERNAME
            if action.get("AuthType", "").lower() == "md5":
                expect = hashlib.md5(((session.challenge or "") + SECRET).encode()).hexdigest()
                ok = ok and session.challenge is not None and action.get("Key") == expect
            else:
                ok = ok and action.get("Secret") == SECRET
            if not ok:
                self.failed_logins += 1
                await asyncio.sleep(0.05)  # Asterisk sleeps 1 s, replies, then closes
                await self._send(session, _substitute(self.auth_failed_reply, {self.auth_failed_reply.action_id: aid}).encode())
                return False
            self.logins += 1
            session.logged_in = True
            ids[self.login_reply.action_id] = aid
            await self._send(session, _substitute(self.login_reply, ids).encode())
            return await self._stream(session, ids, state)
        if not session.logged_in:
            await self._send(session, _substitute(self.permission_denied, {self.permission_denied.action_id: aid}).encode())
            return True
        if name == "logoff":
            goodbye = next((m for m in self.script if m.is_response and m.name == "Goodbye"), None)
            goodbye = goodbye or Message.of(("Response", "Goodbye"), ("ActionID", "x"), ("Message", "Thanks for all the fish."))
            await self._send(session, _substitute(goodbye, {goodbye.action_id: aid}).encode())
            return False
        expected = self.expected[state["next"]] if state["next"] < len(self.expected) else None
        if expected is not None and expected.name.lower() == name:
            state["next"] += 1
            want = sorted((k.lower(), v) for k, v in expected.headers if k.lower() != "actionid")
            got = sorted((k.lower(), v) for k, v in action.headers if k.lower() != "actionid")
            if want != got:
                self.mismatches.append(f"{expected.name}: expected {want}, got {got}")
            ids[expected.action_id] = aid
            return await self._stream(session, ids, state)
        if name == "ping":
            self.pings += 1
            if self.answer_ping:
                pong = Message.of(("Response", "Success"), ("ActionID", aid), ("Ping", "Pong"), ("Timestamp", f"{time.time():.6f}"))
                await self._send(session, pong.encode())
            return True
        if self.accept_all:
            await self._send(session, Message.of(("Response", "Success"), ("ActionID", aid), ("Message", "accepted")).encode())
            return True
        self.mismatches.append(f"unexpected action {action.name}")
        await self._send(session, Message.of(("Response", "Error"), ("ActionID", aid), ("Message", f"Invalid/unknown command: {action.name}. Use Action: ListCommands to show available commands.")).encode())
        return True

    async def _stream(self, session: Session, ids: dict[str, str], state: dict) -> bool:
        """Replay script messages until a response for an action not yet received."""
        known_fixture_ids = {m.action_id for m in self.expected}
        out = bytearray()
        while state["pos"] < len(self.script):
            msg = self.script[state["pos"]]
            aid = msg.action_id
            if aid in known_fixture_ids and aid not in ids:
                break
            if msg.is_response and msg.name == "Goodbye":
                break
            out += _substitute(msg, ids).encode()
            state["pos"] += 1
            state["sent"] += 1
            if self.drop_after is not None and state["sent"] >= self.drop_after:
                await self._send(session, bytes(out))
                return False
        if out:
            await self._send(session, bytes(out))
        return True
