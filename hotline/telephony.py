"""Telephony for ``hotline serve``: the AMI controller (against Asterisk, or against the
built-in PBX simulator with demo traffic when no AMI host is configured), and the call
recorder that persists what the tracker publishes."""

from __future__ import annotations

import logging
import secrets

from sqlalchemy.orm import Session, sessionmaker

from hotline.config import Settings
from ivr.ami.client import AmiClient
from ivr.bus import EventBus
from ivr.calls import CallTracker
from ivr.controller import AmiController

log = logging.getLogger(__name__)


class TelephonyService:
    """Starts and stops everything telephony in the right order (a service of the web app)."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], bus: EventBus | None = None,
                 *, sim_speed: float = 1.0, demo_seed: int | None = None):
        self.sim_speed = sim_speed
        self.demo_seed = demo_seed
        self.settings = settings
        self.sessions = sessions
        self.bus = bus or EventBus()
        self.simulator = None
        self.demo = None
        self.controller: AmiController | None = None
        self.recorder = None
        self.mode = settings.telephony_mode

    async def start(self) -> None:
        from hotline.calls.recorder import CallRecorder

        s = self.settings
        self.bus.start()
        self.recorder = CallRecorder(self.sessions, s.tz, self.bus)
        if self.mode == "simulator":
            from ivr.demo import DemoTraffic
            from ivr.simulator import PbxSimulator

            secret = secrets.token_urlsafe(16)  # in-process only, never leaves this process
            self.simulator = PbxSimulator(ami_port=0, username=s.ami_username, secret=secret,
                                          speed=self.sim_speed)
            await self.simulator.start()
            host, port, user = "127.0.0.1", self.simulator.bound_port, s.ami_username
            log.info("no AMI host configured: built-in PBX simulator on 127.0.0.1:%d with demo calls "
                     "(%.2f/s)", port, s.demo_call_rate)
        else:
            host, port, user, secret = s.ami_host, s.ami_port, s.ami_username, s.ami_secret.get_secret_value()
        tracker = CallTracker(self.bus, pbx_tz=s.tz)
        client = AmiClient(host, port, user, secret, events=True)
        self.controller = AmiController(client, tracker)
        await self.controller.start()
        if self.simulator is not None and s.demo_call_rate > 0:
            self.demo = DemoTraffic(self.simulator, s.demo_call_rate, seed=self.demo_seed)
            await self.demo.start()

    async def stop(self) -> None:
        if self.demo:
            await self.demo.stop()
        if self.controller:
            await self.controller.stop()
        if self.recorder:
            await self.bus.drain()
            self.recorder.close()
        if self.simulator:
            await self.simulator.stop()
        await self.bus.close()
