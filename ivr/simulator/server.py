"""AMI TCP server (Asterisk's port 5038) for the simulated PBX.

Speaks AMI 9.0.0 as Asterisk 20 does: the banner line, CRLF framing,
``Response`` header order ``Response, ActionID, [EventList], Message``,
plain and MD5-challenge login, ``Events:`` masks intersected with the
user's ``read=`` classes, ``Privilege: <class>,all`` on events, and a 1 s
delay then disconnect after a failed login. Malformed input is answered
with an error and never crashes the server.
"""

from __future__ import annotations

import asyncio
import logging
import time as _time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ivr.ami.messages import Message
from ivr.ami.protocol import AmiParser

if TYPE_CHECKING:  # pragma: no cover
    from . import PbxSimulator

log = logging.getLogger(__name__)

BANNER = b"Asterisk Call Manager/9.0.0\r\n"
AMI_VERSION = "9.0.0"
ALL_CLASSES = frozenset(
    "system call log verbose command agent user config dtmf reporting cdr dialplan originate agi cc aoc test security message".split()
)


def parse_classes(value: str | None) -> frozenset[str]:
    """``Events:`` value -> allowed event classes (``on``/``off``/list/number)."""
    if value is None:
        return ALL_CLASSES
    v = value.strip().lower()
    if v in ("on", "yes", "true", "all", "1") or v == "":
        return ALL_CLASSES
    if v in ("off", "no", "false", "0"):
        return frozenset()
    if v.isdigit():
        return ALL_CLASSES
    classes = {c.strip() for c in v.split(",") if c.strip()}
    if "all" in classes:
        return ALL_CLASSES
    return frozenset(classes & ALL_CLASSES)


@dataclass
class AmiUser:
    secret: str
    read: frozenset[str] = ALL_CLASSES
    write: frozenset[str] = ALL_CLASSES

    @classmethod
    def from_lists(cls, secret: str, read: list[str], write: list[str]) -> "AmiUser":
        def classes(items: list[str]) -> frozenset[str]:
            return ALL_CLASSES if "all" in items else frozenset(items) & ALL_CLASSES

        return cls(secret, classes(read), classes(write))


@dataclass(eq=False)
class AmiSession:
    server: "AmiServer"
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    username: str | None = None
    authenticated: bool = False
    classes: frozenset[str] = frozenset()
    challenge: str | None = None
    closed: bool = False
    session_id: str = ""
    started: float = field(default_factory=_time.time)
    #: legacy regex event filters (Action: Filter): (exclude?, compiled regex)
    filters: list = field(default_factory=list)

    def passes_filters(self, msg: Message) -> bool:
        """Includes first (any must match when present), then excludes (none may match)."""
        if not self.filters:
            return True
        text = "".join(f"{k}: {v}\r\n" for k, v in msg.headers)
        includes = [rx for exclude, rx in self.filters if not exclude]
        if includes and not any(rx.search(text) for rx in includes):
            return False
        return not any(rx.search(text) for exclude, rx in self.filters if exclude)

    #: a client that lets this much output pile up is disconnected (Asterisk: writetimeout)
    max_backlog = 16 * 1024 * 1024

    def send(self, *messages: Message) -> None:
        if self.closed:
            return
        try:
            self.writer.write(b"".join(m.encode() for m in messages))
            if self.writer.transport.get_write_buffer_size() > self.max_backlog:
                log.warning("AMI client %s is not reading; disconnecting", self.remote_address)
                self.closed = True
                self.writer.transport.abort()
        except (ConnectionError, RuntimeError):
            self.closed = True

    def wants(self, cls: str) -> bool:
        return self.authenticated and not self.closed and cls in self.classes

    @property
    def local_address(self) -> str:
        sock = self.writer.get_extra_info("sockname") or ("127.0.0.1", 0)
        return f"IPV4/TCP/{sock[0]}/{sock[1]}"

    @property
    def remote_address(self) -> str:
        peer = self.writer.get_extra_info("peername") or ("127.0.0.1", 0)
        return f"IPV4/TCP/{peer[0]}/{peer[1]}"


def response(action: Message | None, status: str = "Success", message: str | None = None, *extra: tuple[str, str],
             eventlist: bool = False) -> Message:
    h: list[tuple[str, str]] = [("Response", status)]
    aid = action.get("ActionID") if action is not None else None
    if aid is not None:
        h.append(("ActionID", aid))
    if eventlist:
        h.append(("EventList", "start"))
    if message is not None:
        h.append(("Message", message))
    h.extend(extra)
    return Message(h)


def error(action: Message | None, message: str) -> Message:
    return response(action, "Error", message)


class AmiServer:
    def __init__(self, sim: "PbxSimulator", host: str, port: int, users: dict[str, AmiUser],
                 login_failure_delay: float = 1.0, auth_timeout: float = 30.0) -> None:
        self.sim = sim
        self.host = host
        self.port = port
        self.users = users
        self.login_failure_delay = login_failure_delay
        self.auth_timeout = auth_timeout  # manager.conf authtimeout: unauthenticated sessions are dropped
        self.sessions: set[AmiSession] = set()
        self._server: asyncio.base_events.Server | None = None
        self._conn_tasks: set[asyncio.Task] = set()

    @property
    def bound_port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("AMI server not started")
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_connect, self.host, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for s in list(self.sessions):
            s.closed = True
            s.writer.close()
        for t in list(self._conn_tasks):
            t.cancel()
        if self._conn_tasks:
            await asyncio.gather(*self._conn_tasks, return_exceptions=True)
        if self._server is not None:
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2)
            except asyncio.TimeoutError:
                pass
            self._server = None

    # -- events -------------------------------------------------------------
    def broadcast(self, cls: str, msg: Message) -> None:
        for s in list(self.sessions):
            if s.wants(cls) and s.passes_filters(msg):
                s.send(msg)

    def security_event(self, session: AmiSession, name: str, severity: str, extra: list[tuple[str, str]],
                       tail: list[tuple[str, str]] = ()) -> None:
        now = _time.time()
        tv = _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(now)) + f".{int(now % 1 * 1000):03d}+0000"
        stv = _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(session.started)) + f".{int(session.started % 1 * 1000):03d}+0000"
        msg = Message(
            [("Event", name), ("Privilege", "security,all"), ("SystemName", self.sim.systemname), ("EventTV", tv),
             ("Severity", severity), ("Service", "AMI"), ("EventVersion", "1"), *extra,
             ("SessionID", session.session_id), ("LocalAddress", session.local_address),
             ("RemoteAddress", session.remote_address), *tail, ("SessionTV", stv), *(
                 [("AccountID", session.username)] if name == "RequestBadFormat" and session.username else [])]
        )
        if name == "SuccessfulAuth":
            # AccountID precedes SessionID in this event
            msg = Message(
                [("Event", name), ("Privilege", "security,all"), ("SystemName", self.sim.systemname), ("EventTV", tv),
                 ("Severity", severity), ("Service", "AMI"), ("EventVersion", "1"), ("AccountID", session.username or ""),
                 ("SessionID", session.session_id), ("LocalAddress", session.local_address),
                 ("RemoteAddress", session.remote_address), ("UsingPassword", "0"), ("SessionTV", stv)]
            )
        self.broadcast("security", msg)

    # -- connections --------------------------------------------------------
    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._conn_tasks.add(task)
        session = AmiSession(self, reader, writer, session_id=f"0x{id(writer):x}")
        self.sessions.add(session)
        parser = AmiParser(expect_banner=False, max_line=64 * 1024)
        from .actions import dispatch

        try:
            writer.write(BANNER)
            await writer.drain()
            loop = asyncio.get_running_loop()
            auth_deadline = loop.time() + self.auth_timeout
            while not session.closed:
                if session.authenticated:
                    data = await reader.read(65536)
                else:
                    try:
                        data = await asyncio.wait_for(reader.read(65536), max(0.0, auth_deadline - loop.time()))
                    except asyncio.TimeoutError:
                        break
                if not data:
                    break
                for action in parser.feed(data):
                    keep = await dispatch(self, session, action)
                    try:
                        await writer.drain()
                    except (ConnectionError, RuntimeError):
                        session.closed = True
                    if not keep:
                        session.closed = True
                        break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        except Exception:  # noqa: BLE001 - never let one session kill the server
            log.exception("AMI session failed")
        finally:
            session.closed = True
            self.sessions.discard(session)
            try:
                writer.close()
            except RuntimeError:
                pass
            if task is not None:
                self._conn_tasks.discard(task)
