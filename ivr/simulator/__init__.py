"""A PBX simulator that speaks real AMI (TCP) and calls a real FastAGI server.

Usage::

    async with PbxSimulator(ami_port=0, agi_address=("127.0.0.1", 4573), speed=20) as sim:
        port = sim.bound_port
        call = await sim.place_call(caller="13800000000", dialed="12319",
                                    script=CallerScript().wait(3).press("1"))
        await call.wait_ended()

The dialplan is data (:class:`~ivr.simulator.conf.Dialplan`): pass the text of
an ``extensions.conf``, a ``Dialplan``, or a dict for ``Dialplan.from_dict``.
By default the dialplan, queues and manager user that produced the Asterisk 20
transcripts in ``shared/fixtures/asterisk-20`` are loaded.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from .agi_client import AgiRunner
from .channels import Channel
from .clock import SimClock
from .conf import Dialplan, QueueConf, parse_extensions_conf, parse_manager_conf, parse_queues_conf
from .dialplan import Interpreter
from .pbx import Endpoint, Pbx
from .queues import QueueManager
from .scenario import CallerScript, CallHandle, run_script
from .server import AmiServer, AmiUser

__all__ = ["PbxSimulator", "CallerScript", "CallHandle", "Endpoint", "Dialplan", "SimClock", "default_dialplan"]

DATA = Path(__file__).parent / "data"


def default_dialplan() -> Dialplan:
    return parse_extensions_conf((DATA / "extensions.conf").read_text(encoding="utf-8"))


def default_queues() -> dict[str, QueueConf]:
    return parse_queues_conf((DATA / "queues.conf").read_text(encoding="utf-8"))


class PbxSimulator:
    def __init__(
        self,
        ami_port: int = 0,
        agi_address: tuple[str, int] | None = None,
        username: str = "hotline",
        secret: str = "hotline-secret",
        dialplan: Dialplan | str | dict | None = None,
        queues: dict[str, QueueConf] | str | None = None,
        *,
        host: str = "127.0.0.1",
        speed: float = 1.0,
        systemname: str = "hotline-test",
        inbound_context: str = "sip-guest",
        endpoints: dict[str, Endpoint] | None = None,
        login_failure_delay: float = 1.0,
        version: str = "20.20.1",
        manager_conf: str | None = None,
        start_time: float | None = None,
    ) -> None:
        """``manager_conf``: text of a manager.conf whose users (secret, read=, write=) replace
        ``username``/``secret`` (which then get read=all, write=all). ``start_time``: the simulated
        epoch at construction (e.g. a Saturday night for after-hours tests); default now."""
        if dialplan is None:
            dp = default_dialplan()
        elif isinstance(dialplan, str):
            dp = parse_extensions_conf(dialplan)
        elif isinstance(dialplan, dict):
            dp = Dialplan.from_dict(dialplan)
        else:
            dp = dialplan
        if queues is None:
            qconf = default_queues()
        elif isinstance(queues, str):
            qconf = parse_queues_conf(queues)
        else:
            qconf = queues
        self.version = version
        self.systemname = systemname
        self.inbound_context = inbound_context
        self.clock = SimClock(speed, start_time)
        self.pbx = Pbx(dp, self.clock, systemname)
        self.pbx.endpoints.update(endpoints or {})
        self.interp = Interpreter(self.pbx)
        self.interp.agi_runner = AgiRunner(agi_address, version)
        self.queues = QueueManager(self.pbx, qconf)
        self.pbx.queues = self.queues
        users = {username: AmiUser(secret)}
        if manager_conf is not None:
            users = {u.name: AmiUser.from_lists(u.secret, u.read, u.write)
                     for u in parse_manager_conf(manager_conf).values()}
        self.ami = AmiServer(self, host, ami_port, users, login_failure_delay)
        self.pbx.listeners.append(self.ami.broadcast)
        self._started = False

    # -- lifecycle ----------------------------------------------------------
    async def start(self) -> None:
        if not self._started:
            await self.ami.start()
            self._started = True

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self.pbx.hangup_all(16)
        await asyncio.sleep(0)
        tasks = [t for t in self.pbx.tasks if not t.done()]
        if tasks:
            done, pending = await asyncio.wait(tasks, timeout=2)
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        await self.ami.stop()

    async def __aenter__(self) -> "PbxSimulator":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def bound_port(self) -> int:
        return self.ami.bound_port

    @property
    def dialplan(self) -> Dialplan:
        return self.pbx.dialplan

    def load_dialplan(self, dialplan: Dialplan | str | dict) -> None:
        """Replace the dialplan (running calls continue with the new one)."""
        if isinstance(dialplan, str):
            dialplan = parse_extensions_conf(dialplan)
        elif isinstance(dialplan, dict):
            dialplan = Dialplan.from_dict(dialplan)
        self.pbx.dialplan = dialplan
        for k, v in dialplan.globals.items():
            self.pbx.globals.setdefault(k, v)

    # -- scenario API -------------------------------------------------------
    def add_endpoint(self, name: str, endpoint: Endpoint) -> None:
        """A far end reachable as ``SIP/<name>`` / ``PJSIP/<name>`` (district line, agent phone)."""
        self.pbx.endpoints[name] = endpoint

    def add_agent(self, queue: str, name: str, endpoint: Endpoint | None = None, *, member_name: str = "",
                  penalty: int = 0, paused: bool = False) -> None:
        """An agent phone ``SIP/<name>`` (scripted by ``endpoint``) logged into ``queue`` as a dynamic member."""
        self.add_endpoint(name, endpoint or Endpoint("answer", answer_after=2, talk_time=30))
        err = self.queues.add(queue, f"SIP/{name}", penalty, paused, member_name or name, "")
        if err:
            raise ValueError(err)

    async def place_call(
        self,
        caller: str = "13800000000",
        dialed: str = "12319",
        script: CallerScript | None = None,
        *,
        caller_name: str = "",
        context: str | None = None,
        trunk: str = "trunk",
        tech: str = "SIP",
    ) -> CallHandle:
        """An inbound call from ``caller`` to ``dialed`` that runs the dialplan; ``script`` plays the caller."""
        pbx = self.pbx
        seq = pbx.next_seq()
        pbx.processed_calls += 1
        chan = pbx.new_channel(
            f"{tech}/{trunk}-{seq:08x}", context or self.inbound_context, dialed, state=4,
            cid=(caller_name, caller), tech=tech, dnid=dialed,
        )
        self.interp.start(chan)
        handle = CallHandle(chan, pbx=pbx)
        if script is not None:
            handle.task = pbx.spawn(run_script(pbx, chan, script))
        return handle

    def find_channel(self, ident: str) -> Channel | None:
        return self.pbx.find_channel(ident)

    def active_calls(self) -> int:
        return len({c.linkedid for c in self.pbx.channels.values()})

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Until no channel is left."""
        await asyncio.wait_for(self.pbx.idle.wait(), timeout)

    def redirect(self, chan: Channel, context: str, exten: str, priority: int) -> None:
        """Async goto: the channel's current application stops and it continues at context,exten,priority."""
        if chan.gone or chan.hanging_up:
            return
        if chan.owner is not None and not chan.owner.done():
            chan.redirect_to = (context, exten, priority)
            chan.interrupt.set()
            return
        chan.context, chan.exten, chan.priority = context, exten, priority
        chan.interrupt.clear()
        self.interp.start(chan)
        if chan.bridge is not None:
            self.pbx.leave_bridge(chan)
