"""Asyncio AMI client: one TCP session to Asterisk, kept alive and re-established.

* login: plain, or MD5 challenge (``Challenge`` then ``Key: md5(challenge+secret)``);
* every action gets a unique generated ``ActionID``; replies are matched by it,
  never by arrival order;
* event-list actions (``EventList: start`` ... ``*Complete``) resolve once, with
  every item collected; an action may also wait for a terminal event with its
  ActionID (async ``Originate`` -> ``OriginateResponse``);
* ``Ping`` every ``ping_interval`` seconds; no answer within ``ping_timeout``
  means the connection is dead and it is dropped;
* reconnect with exponential backoff and jitter; ``on_connected`` hooks run after
  every (re)login (resynchronise state there: AMI never replays lost events);
  :meth:`AmiClient.start` keeps trying the same way when Asterisk is not up yet;
* actions pending when the connection drops fail with :class:`ConnectionLostError`.
  Only reads listed in :data:`IDEMPOTENT_ACTIONS` (or sent with ``retry=True``)
  are re-sent after a reconnect; actions in :data:`NEVER_REPLAY` never are;
* event handlers run in order on a dispatcher task, so a slow or failing handler
  never stalls the socket reader, and a handler may itself await actions.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import operator
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from .errors import ActionTimeout, AmiError, AuthenticationError, ConnectionLostError, ProtocolError
from .messages import Message
from .protocol import AmiParser, encode_action

log = logging.getLogger(__name__)

__all__ = [
    "AmiClient",
    "ActionResult",
    "EventHandler",
    "ConnectedHook",
    "IDEMPOTENT_ACTIONS",
    "NEVER_REPLAY",
    "backoff_delays",
]

EventHandler = Callable[[Message], Union[Awaitable[None], None]]
ConnectedHook = Callable[["AmiClient"], Awaitable[None]]

#: Reads that may safely be re-sent after a reconnect (lower-case action names).
IDEMPOTENT_ACTIONS = frozenset(
    {
        "ping",
        "getvar",
        "status",
        "coreshowchannels",
        "coresettings",
        "corestatus",
        "queuestatus",
        "queuesummary",
        "listcommands",
        "extensionstate",
        "devicestatelist",
    }
)
#: Actions with side effects on calls: a lost reply must surface, never be replayed.
NEVER_REPLAY = frozenset({"originate", "redirect", "blindtransfer", "atxfer", "hangup"})

_LIST_END = {"complete", "cancelled"}
_first = operator.itemgetter(0)
_headers_of = operator.attrgetter("headers")
#: Bytes handed to the parser per read. A read's messages stay alive until the
#: dispatcher has run their handlers; much more than ~32 KiB (a few dozen events)
#: and the cyclic GC's young-generation passes start scanning them (measured: 64 KiB
#: reads cost about a third more CPU per event than 32 KiB; 16 KiB is no better).
_READ_SIZE = 32 * 1024
#: StreamReader buffer limit; it pauses the socket beyond twice this (memory stays bounded).
#: Kept small: the transport appends each recv (up to 256 KiB) to that buffer and every
#: read takes 32 KiB off its front, so a buffer allowed to fill up to 512 KiB is copied
#: into fresh memory again and again (measured: ~0.3 µs/event more at 256 KiB than 64 KiB).
_STREAM_LIMIT = 64 * 1024


@dataclass(slots=True)
class ActionResult:
    """The complete reply to one action.

    ``response`` is the ``Response:`` message; ``events`` the items of an event
    list in arrival order; ``complete`` the ``*Complete`` event of a list or the
    terminal event the action waited for (``OriginateResponse``).
    """

    response: Message
    events: list[Message] = field(default_factory=list)
    complete: Message | None = None

    @property
    def success(self) -> bool:
        return self.response.name.lower() in ("success", "follows", "goodbye")

    @property
    def message(self) -> str | None:
        return self.response.get("Message")

    @property
    def action_id(self) -> str | None:
        return self.response.action_id

    @property
    def output(self) -> list[str]:
        """``Output`` lines of a ``Command`` reply (modern or legacy format)."""
        return self.response.getall("Output")

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.response.get(key, default)

    def __getitem__(self, key: str) -> str:
        return self.response[key]


class _Pending:
    """Book-keeping for one action in flight."""

    __slots__ = ("action_id", "name", "future", "response", "events", "complete", "until_event", "is_list", "blocking")

    def __init__(self, action_id: str, name: str, until_event: str | None, blocking: bool = False) -> None:
        self.action_id = action_id
        self.blocking = blocking  # blocks the whole AMI session until answered (sync Originate)
        self.name = name
        self.future: asyncio.Future[ActionResult] = asyncio.get_running_loop().create_future()
        self.response: Message | None = None
        self.events: list[Message] = []
        self.complete: Message | None = None
        self.until_event = until_event.lower() if until_event else None
        self.is_list = False

    def _finish(self) -> None:
        if not self.future.done() and self.response is not None:
            self.future.set_result(ActionResult(self.response, self.events, self.complete))

    def on_response(self, msg: Message) -> None:
        self.response = msg
        status = msg.name.lower()
        if status in ("error", "failure", "fail"):
            self._finish()
        elif (msg.get("EventList") or "").lower() == "start":
            self.is_list = True
        elif self.until_event is None or self.complete is not None:
            self._finish()

    def takes(self, msg: Message) -> bool:
        """Consume ``msg`` if it belongs to this action's reply; True when consumed."""
        if self.future.done():
            return False
        if self.until_event is not None and msg.name.lower() == self.until_event:
            self.complete = msg
            self._finish()
            return False  # a real event: handlers see it too
        if self.is_list or (msg.get("EventList") or "").lower() in _LIST_END:
            if (msg.get("EventList") or "").lower() in _LIST_END:
                self.complete = msg
                self._finish()
            else:
                self.events.append(msg)
            return True
        return False

    def fail(self, exc: BaseException) -> None:
        if not self.future.done():
            self.future.set_exception(exc)
            self.future.exception()  # mark retrieved: nobody may be awaiting any more


def backoff_delays(
    initial: float, factor: float, maximum: float, jitter: float, rng: random.Random | None = None
) -> Iterator[float]:
    """Reconnect delays: ``initial * factor**n`` capped at ``maximum``, each
    multiplied by a random factor in ``[1 - jitter, 1 + jitter]`` so that many
    clients restarted together do not reconnect in lock-step."""
    rng = rng or random.Random()
    delay = initial
    while True:
        yield delay * (1 + rng.uniform(-jitter, jitter))
        delay = min(maximum, delay * factor)


def _events_header(events: bool | str | Iterable[str]) -> str:
    if events is True:
        return "on"
    if events is False:
        return "off"
    if isinstance(events, str):
        if not events.strip():
            raise ValueError("events mask must not be empty")
        return events.strip()
    classes = [c.strip() for c in events]
    if not classes or not all(classes):
        raise ValueError("events classes must be non-empty names")
    return ",".join(classes)


class AmiClient:
    """One managed AMI session. Use ``await client.connect()`` / ``await client.close()``
    or ``async with AmiClient(...)``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 5038,
        username: str = "",
        secret: str = "",
        *,
        events: bool | str | Iterable[str] = True,
        auth: str = "plain",
        action_timeout: float = 10.0,
        connect_timeout: float = 10.0,
        ping_interval: float | None = 20.0,
        ping_timeout: float = 5.0,
        reconnect: bool = True,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        backoff_factor: float = 2.0,
        backoff_jitter: float = 0.25,
        max_retries: int = 2,
        parser_factory: Callable[[], AmiParser] = AmiParser,
    ) -> None:
        if not username:
            raise ValueError("username is required")
        if auth not in ("plain", "md5"):
            raise ValueError("auth must be 'plain' or 'md5'")
        if action_timeout <= 0 or connect_timeout <= 0 or ping_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if ping_interval is not None and ping_interval <= 0:
            raise ValueError("ping_interval must be positive or None")
        if backoff_initial <= 0 or backoff_max < backoff_initial or backoff_factor < 1:
            raise ValueError("invalid backoff settings")
        if not 0 <= backoff_jitter <= 1:
            raise ValueError("backoff_jitter must be within [0, 1]")
        self.host = host
        self.port = port
        self.username = username
        self._secret = secret
        self.events_mask = _events_header(events)
        self.auth = auth
        self.action_timeout = action_timeout
        self.connect_timeout = connect_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.reconnect = reconnect
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.backoff_factor = backoff_factor
        self.backoff_jitter = backoff_jitter
        self.max_retries = max_retries
        self._parser_factory = parser_factory

        self._id_prefix = uuid.uuid4().hex[:12]
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}
        self._handlers: dict[str, list[EventHandler]] = {}
        self._catch_all: list[EventHandler] = []
        self._handlers_version = 0  # bumped by on()/off(): the dispatcher's look-up cache is stale
        self._on_connected: list[ConnectedHook] = []
        self._on_disconnected: list[Callable[[BaseException | None], Any]] = []

        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser: AmiParser | None = None
        self._banner: asyncio.Future[str] | None = None
        self._ready = asyncio.Event()
        self._logged_in = False
        self._closing = False
        self._conn_tasks: list[asyncio.Task] = []
        self._supervisor: asyncio.Task | None = None
        self._hooks_task: asyncio.Task | None = None
        self._dispatcher: asyncio.Task | None = None
        self._queue: asyncio.Queue[list[Message] | None] = asyncio.Queue()
        self._lost: asyncio.Event = asyncio.Event()
        self._last_rx = 0.0

        #: counters for monitoring
        self.stats: dict[str, int] = {
            "connects": 0,
            "disconnects": 0,
            "events": 0,
            "responses": 0,
            "handler_errors": 0,
            "unmatched_responses": 0,
            "ping_failures": 0,
            "reconnect_failures": 0,
        }
        self.banner: str | None = None
        #: why the last attempt to connect failed (None once logged in)
        self.last_error: str | None = None

    # ------------------------------------------------------------------ public
    @property
    def connected(self) -> bool:
        """Logged in and usable right now."""
        return self._ready.is_set()

    def next_action_id(self) -> str:
        return f"{self._id_prefix}-{next(self._ids)}"

    def on(self, event: str | None, handler: EventHandler) -> EventHandler:
        """Register ``handler(message)`` for an event name (case-insensitive), or
        for every event when ``event`` is ``None`` or ``"*"``. Returns the handler."""
        if not callable(handler):
            raise TypeError("handler must be callable")
        if event is None or event == "*":
            self._catch_all.append(handler)
        else:
            if not event.strip():
                raise ValueError("event name must not be empty")
            self._handlers.setdefault(event.lower(), []).append(handler)
        self._handlers_version += 1
        return handler

    def off(self, event: str | None, handler: EventHandler) -> None:
        """Remove a handler registered with :meth:`on` (no error if absent)."""
        lst = self._catch_all if event is None or event == "*" else self._handlers.get(event.lower(), [])
        if handler in lst:
            lst.remove(handler)
            self._handlers_version += 1

    def on_connected(self, hook: ConnectedHook) -> ConnectedHook:
        """Run ``await hook(client)`` after every successful (re)login."""
        self._on_connected.append(hook)
        return hook

    def on_disconnected(self, hook: Callable[[BaseException | None], Any]) -> None:
        """Call ``hook(exc)`` (sync) whenever an established session is lost."""
        self._on_disconnected.append(hook)

    async def connect(self) -> None:
        """Open the session and log in; raises on the first failure.

        Afterwards the session is supervised: when it drops it is re-established
        in the background (if ``reconnect``)."""
        if self._supervisor is not None:
            raise RuntimeError("connect() already called")
        self._closing = False
        if self._dispatcher is None:
            self._dispatcher = asyncio.create_task(self._dispatch_loop(), name="ami-dispatch")
        try:
            await self._establish()
        except BaseException:
            await self._teardown(None, notify=False)
            self._dispatcher.cancel()
            self._dispatcher = None
            raise
        self._supervisor = asyncio.create_task(self._supervise(), name="ami-supervisor")
        await self._run_connected_hooks()

    async def start(self) -> bool:
        """Like :meth:`connect`, but a first attempt that fails does not raise: the session is
        then established in the background with the reconnect backoff, and ``on_connected``
        hooks run once it is (an app started before Asterisk keeps trying instead of exiting).
        Returns whether the first attempt logged in; :attr:`last_error` says why not."""
        if self._supervisor is not None:
            raise RuntimeError("connect() already called")
        self._closing = False
        if self._dispatcher is None:
            self._dispatcher = asyncio.create_task(self._dispatch_loop(), name="ami-dispatch")
        try:
            await self._establish()
        except (AmiError, OSError) as exc:
            self.last_error = str(exc)
            log.warning("AMI: %s; retrying in the background", exc)
            self._lost.set()      # the supervisor starts with a reconnect
            self._supervisor = asyncio.create_task(self._supervise(), name="ami-supervisor")
            return False
        self._supervisor = asyncio.create_task(self._supervise(), name="ami-supervisor")
        await self._run_connected_hooks()
        return True

    async def close(self, *, logoff: bool = True) -> None:
        """Log off (best effort), stop reconnecting and fail pending actions."""
        self._closing = True
        for task in (self._supervisor, self._hooks_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._supervisor = self._hooks_task = None
        if logoff and self.connected:
            try:
                await self.send_action("Logoff", timeout=min(2.0, self.action_timeout))
            except AmiError:
                pass
        await self._teardown(ConnectionLostError("client closed"), notify=False)
        if self._dispatcher is not None:
            self._queue.put_nowait(None)
            try:
                await asyncio.wait_for(self._dispatcher, timeout=5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._dispatcher.cancel()
            self._dispatcher = None

    async def __aenter__(self) -> "AmiClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def send_action(
        self,
        name: str,
        headers: Iterable[tuple[str, object]] | Mapping[str, object] | None = None,
        /,
        *,
        timeout: float | None = None,
        until_event: str | None = None,
        retry: bool | None = None,
        check: bool = True,
        **fields: object,
    ) -> ActionResult:
        """Send one action and wait for its complete reply.

        ``timeout`` covers the whole exchange (default ``action_timeout``).
        ``until_event``: also wait for the event of that name carrying this
        ActionID. ``retry``: re-send after a reconnect (default: only for
        :data:`IDEMPOTENT_ACTIONS`; refused for :data:`NEVER_REPLAY`).
        ``check``: raise :class:`AmiError` on ``Response: Error``.
        """
        lname = name.lower().strip() if isinstance(name, str) else ""
        if retry is None:
            retry = lname in IDEMPOTENT_ACTIONS
        elif retry and lname in NEVER_REPLAY:
            raise ValueError(f"{name} has side effects and is never replayed")
        pairs: list[tuple[str, object]] = []
        if headers is not None:
            pairs.extend(headers.items() if isinstance(headers, Mapping) else headers)
        pairs.extend(fields.items())
        action_id = None
        for k, v in pairs:
            if isinstance(k, str) and k.lower() == "actionid":
                action_id = str(v)
        if action_id is None:
            action_id = self.next_action_id()
            pairs.append(("ActionID", action_id))
        if action_id in self._pending:
            raise ProtocolError(f"ActionID {action_id!r} is already in use")
        payload = encode_action(name, pairs)  # validates before anything is sent
        blocking = lname == "originate" and not any(
            isinstance(k, str) and k.lower() == "async" and str(v).lower() in ("true", "yes", "1")
            for k, v in pairs
        )

        timeout = self.action_timeout if timeout is None else timeout
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        deadline = time.monotonic() + timeout
        attempts = 0
        while True:
            attempts += 1
            try:
                result = await self._exchange(
                    name, action_id, payload, until_event, deadline, wait_ready=retry, blocking=blocking
                )
            except ConnectionLostError:
                if retry and not self._closing and attempts <= self.max_retries and time.monotonic() < deadline:
                    log.info("AMI: retrying %s after reconnect (attempt %d)", name, attempts + 1)
                    continue
                raise
            break
        if check and not result.success:
            raise AmiError(
                f"{name} failed: {result.message or result.response.name}", result.response
            )
        return result

    # ------------------------------------------------------------ internals
    async def _exchange(
        self,
        name: str,
        action_id: str,
        payload: bytes,
        until_event: str | None,
        deadline: float,
        *,
        wait_ready: bool,
        login: bool = False,
        blocking: bool = False,
    ) -> ActionResult:
        if not login and not self._ready.is_set():
            supervised = self._supervisor is not None and not self._supervisor.done()
            if not wait_ready or self._closing or not supervised or not self.reconnect:
                raise ConnectionLostError(f"{name}: not connected to AMI {self.host}:{self.port}")
            try:
                await asyncio.wait_for(self._ready.wait(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                raise ActionTimeout(f"{name}: AMI not connected within the timeout") from None
        writer = self._writer
        if writer is None or writer.is_closing():
            raise ConnectionLostError(f"{name}: connection to AMI is down")
        pending = _Pending(action_id, name, until_event, blocking)
        self._pending[action_id] = pending
        try:
            writer.write(payload)
            try:
                await writer.drain()
            except (ConnectionError, OSError) as exc:
                raise ConnectionLostError(f"{name}: connection lost while sending ({exc})") from exc
            remaining = deadline - time.monotonic()
            try:
                return await asyncio.wait_for(asyncio.shield(pending.future), max(0.0, remaining))
            except asyncio.TimeoutError:
                raise ActionTimeout(
                    f"{name} (ActionID {action_id}): no complete reply within the timeout",
                    pending.response,
                ) from None
        finally:
            self._pending.pop(action_id, None)

    async def _establish(self) -> None:
        """Connect, wait for the banner, log in. Raises on failure."""
        loop = asyncio.get_running_loop()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, limit=_STREAM_LIMIT), self.connect_timeout
            )
        except asyncio.TimeoutError:
            raise ConnectionLostError(f"connect to {self.host}:{self.port} timed out") from None
        except OSError as exc:
            raise ConnectionLostError(f"connect to {self.host}:{self.port} failed: {exc}") from exc
        self._reader, self._writer = reader, writer
        self._parser = self._parser_factory()
        self._banner = loop.create_future()
        self._lost = asyncio.Event()
        self._logged_in = False
        self._last_rx = time.monotonic()
        self._conn_tasks = [asyncio.create_task(self._read_loop(reader), name="ami-reader")]
        try:
            try:
                banner = await asyncio.wait_for(asyncio.shield(self._banner), self.connect_timeout)
            except asyncio.TimeoutError:
                raise ProtocolError(f"no AMI banner from {self.host}:{self.port}") from None
            self.banner = banner
            log.info("AMI: connected to %s:%s (%s)", self.host, self.port, banner)
            await self._login()
        except BaseException:
            await self._teardown(None, notify=False)
            raise
        self._logged_in = True
        self.last_error = None
        self.stats["connects"] += 1
        if self.ping_interval:
            self._conn_tasks.append(asyncio.create_task(self._keepalive(), name="ami-keepalive"))
        self._ready.set()

    async def _login(self) -> None:
        deadline = time.monotonic() + self.connect_timeout
        fields: list[tuple[str, object]] = [("Username", self.username)]
        if self.auth == "md5":
            res = await self._raw_action("Challenge", [("AuthType", "MD5")], deadline)
            challenge = res.get("Challenge")
            if not res.success or not challenge:
                raise AuthenticationError(f"MD5 challenge refused: {res.message}", res.response)
            key = hashlib.md5((challenge + self._secret).encode("utf-8")).hexdigest()
            fields += [("AuthType", "MD5"), ("Key", key)]
        else:
            fields.append(("Secret", self._secret))
        fields.append(("Events", self.events_mask))
        res = await self._raw_action("Login", fields, deadline)
        if not res.success:
            raise AuthenticationError(
                f"AMI login as {self.username!r} refused: {res.message}", res.response
            )

    async def _raw_action(self, name: str, fields: list[tuple[str, object]], deadline: float) -> ActionResult:
        action_id = self.next_action_id()
        payload = encode_action(name, fields, ActionID=action_id)
        try:
            return await self._exchange(name, action_id, payload, None, deadline, wait_ready=False, login=True)
        except ActionTimeout as exc:
            raise ActionTimeout(f"{name}: no answer from AMI within {self.connect_timeout}s", exc.response) from None

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        parser = self._parser
        assert parser is not None
        error: BaseException | None = None
        feed = parser.feed
        route_batch = self._route_batch
        put = self._queue.put_nowait
        try:
            while True:
                data = await reader.read(_READ_SIZE)
                if not data:
                    break
                self._last_rx = time.monotonic()
                msgs = feed(data)
                if msgs:
                    batch = route_batch(msgs)
                    if batch:  # one queue operation per read, not per event
                        put(batch)
                        # let the dispatcher run: a reader that never suspends (data always
                        # buffered) would otherwise pile up every event in memory
                        batch = None
                        await asyncio.sleep(0)
                    msgs = batch = None  # handled: free them before the next read reuses the memory
                if self._banner is not None and not self._banner.done() and parser.banner:
                    self._banner.set_result(parser.banner)
        except asyncio.CancelledError:
            raise
        except (ConnectionError, OSError) as exc:
            error = exc
        except Exception as exc:  # a bug in routing must not go unnoticed
            log.exception("AMI: reader failed")
            error = exc
        self._connection_lost(error)

    def _route_batch(self, msgs: list[Message]) -> list[Message]:
        """:meth:`_route` over the messages of one read; returns those for the handlers."""
        banner = self._banner
        if banner is not None and not banner.done():
            # a server that sends no banner: accept the first message as the start
            banner.set_result(self._parser.banner or "")  # type: ignore[union-attr]
        pending = self._pending
        stats = self.stats
        if not pending:
            # the common case: a read of plain events and no action waiting for any of them,
            # checked with C-level iteration only
            try:
                if list(map(_first, map(_first, map(_headers_of, msgs)))).count("Event") == len(msgs):
                    stats["events"] += len(msgs)
                    return msgs
            except IndexError:  # a message without headers: the loop below handles it
                pass
        batch: list[Message] = []
        append = batch.append
        events = 0
        for msg in msgs:
            headers = msg.headers
            first = headers[0][0] if headers else ""
            if first == "Event" or (first != "Response" and msg.kind != "response"):
                events += 1
                if pending:  # only then can an event belong to an action
                    aid = msg.action_id
                    p = pending.get(aid) if aid is not None else None
                    if p is not None and p.takes(msg):
                        continue
                append(msg)
            else:
                self._route_response(msg)
        stats["events"] += events
        return batch

    def _route_response(self, msg: Message) -> None:
        self.stats["responses"] += 1
        aid = msg.action_id
        pending = self._pending.get(aid) if aid is not None else None
        if pending is None:
            self.stats["unmatched_responses"] += 1
            log.debug("AMI: response for unknown ActionID %r dropped", aid)
            return
        pending.on_response(msg)

    def _route(self, msg: Message) -> bool:
        """Resolve replies to actions; True when ``msg`` goes to the event handlers."""
        return bool(self._route_batch([msg]))

    async def _dispatch_loop(self) -> None:
        queue = self._queue
        iscoroutine = asyncio.iscoroutine
        stats = self.stats
        cache: dict[str, tuple[EventHandler, ...]] = {}  # event name as sent -> handlers
        version = self._handlers_version
        while True:
            batch = await queue.get()
            if batch is None:
                return
            for msg in batch:
                if version != self._handlers_version:  # on()/off() since the look-ups were cached
                    cache.clear()
                    version = self._handlers_version
                headers = msg.headers
                name = headers[0][1] if headers else ""  # msg.name without the property call
                handlers = cache.get(name)
                if handlers is None:
                    handlers = cache[name] = (*self._handlers.get(name.lower(), ()), *self._catch_all)
                    if len(cache) > 4096:  # names come from the wire: keep the cache bounded
                        cache.clear()
                for handler in handlers:
                    try:
                        result = handler(msg)
                        if result is not None and iscoroutine(result):
                            await result
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        stats["handler_errors"] += 1
                        log.exception("AMI: event handler %r failed on %s", handler, msg.name)
            # free this read's messages now, not when the next batch replaces them: the
            # reader's next parse then reuses their (cache-hot) memory
            batch = msg = headers = result = None

    async def _keepalive(self) -> None:
        assert self.ping_interval
        while True:
            await asyncio.sleep(self.ping_interval)
            if not self._ready.is_set():
                return
            if any(p.blocking for p in self._pending.values()):
                continue  # Asterisk answers nothing until a sync Originate ends
            try:
                await self._ping_once()
            except ActionTimeout as exc:
                if time.monotonic() - self._last_rx < self.ping_timeout:
                    # Bytes keep arriving: the reply is queued behind a burst of events we
                    # are still reading. A busy link is not a dead one.
                    log.info("AMI: Ping reply late while events stream in; keeping the connection")
                    continue
                self.stats["ping_failures"] += 1
                log.warning("AMI: keepalive Ping failed (%s); dropping the connection", exc)
                if self._writer is not None:
                    self._writer.transport.abort()
                return
            except (ConnectionLostError, AmiError) as exc:
                self.stats["ping_failures"] += 1
                log.warning("AMI: keepalive Ping failed (%s); dropping the connection", exc)
                if self._writer is not None:
                    self._writer.transport.abort()
                return

    async def _ping_once(self) -> None:
        action_id = self.next_action_id()
        payload = encode_action("Ping", ActionID=action_id)
        deadline = time.monotonic() + self.ping_timeout
        res = await self._exchange("Ping", action_id, payload, None, deadline, wait_ready=False)
        if not res.success:
            raise AmiError(f"Ping answered {res.response.name}: {res.message}", res.response)

    def _connection_lost(self, error: BaseException | None) -> None:
        was_ready = self._ready.is_set()
        self._ready.clear()
        if self._banner is not None and not self._banner.done():
            self._banner.set_exception(ConnectionLostError("connection closed before the AMI banner"))
            self._banner.exception()
        exc = ConnectionLostError(
            f"connection to AMI {self.host}:{self.port} lost" + (f": {error}" if error else "")
        )
        self._fail_pending(exc)
        if was_ready:
            self.stats["disconnects"] += 1
            log.warning("AMI: %s", exc)
            for hook in list(self._on_disconnected):
                try:
                    hook(error)
                except Exception:
                    log.exception("AMI: on_disconnected hook failed")
        if self._writer is not None:
            self._writer.transport.abort()
        self._lost.set()

    def _fail_pending(self, exc: BaseException) -> None:
        for pending in list(self._pending.values()):
            pending.fail(exc)

    async def _teardown(self, exc: BaseException | None, *, notify: bool) -> None:
        self._ready.clear()
        me = asyncio.current_task()
        tasks = [t for t in self._conn_tasks if t is not me]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._conn_tasks = []
        if self._writer is not None:
            self._writer.transport.abort()
            self._writer = None
        self._reader = None
        self._fail_pending(exc or ConnectionLostError("connection closed"))

    async def _supervise(self) -> None:
        while not self._closing:
            await self._lost.wait()
            await self._teardown(None, notify=False)
            if self._closing or not self.reconnect:
                return
            delays = backoff_delays(
                self.backoff_initial, self.backoff_factor, self.backoff_max, self.backoff_jitter
            )
            while not self._closing:
                wait = next(delays)
                log.info("AMI: reconnecting to %s:%s in %.2fs", self.host, self.port, wait)
                await asyncio.sleep(wait)
                try:
                    await self._establish()
                except asyncio.CancelledError:
                    raise
                except (AmiError, OSError) as exc:
                    self.stats["reconnect_failures"] += 1
                    self.last_error = str(exc)
                    log.warning("AMI: reconnect failed: %s", exc)
                    continue
                break
            else:
                return
            # hooks run beside the supervisor: if the link drops while a hook awaits
            # an action, the supervisor is free to reconnect
            self._hooks_task = asyncio.create_task(self._run_connected_hooks(), name="ami-on-connected")

    async def _run_connected_hooks(self) -> None:
        for hook in list(self._on_connected):
            try:
                await hook(self)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("AMI: on_connected hook %r failed", hook)
