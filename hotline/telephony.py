"""Telephony for ``hotline serve``.

Always: the FastAGI server (``agi_host``/``agi_port``) serving the IVR scripts of
:mod:`ivr.scripts` through :class:`hotline.directory.SqlDirectory`, the AMI controller
with its call tracker, the :class:`~ivr.facade.CallFacade` the web API commands calls
through, the call recorder and the transfer log.

With an AMI host configured the controller follows that Asterisk (which runs the
dialplan ``hotline dialplan render`` produced). Without one (demo / simulator mode) the
dialplan is rendered from the configured rules into ``<var_dir>/dialplan`` with its AGI
pointing at our FastAGI server, the built-in PBX simulator runs it, the four district
lines and a few agents are simulated, and demo traffic walks the real IVR.

Agent seats: an :class:`~ivr.agents.AgentBoard` follows the queue members (the console's
agents sign in, pause and take calls through the facade). In simulator mode a console
agent's seat is a :class:`~ivr.simulator.softphone.Softphone` the page answers
(:meth:`TelephonyService.softphone`); the simulated demo agents sit in a backup penalty tier,
so a signed-in console agent gets the calls first; citizens called back are simulated too.

Speech (decision 0013): with ``HOTLINE_SPEECH_MODEL`` set, the Vosk model is loaded once at start
and shared by the ``speech_menu`` FastAGI script (menus answer spoken keywords; Asterisk mode, the
dialplan rendered with ``speech``) and the transcription worker (messages → ticket transcripts).
Without a model, or with one that cannot be loaded, everything works by DTMF, as the log says once
at start.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from sqlalchemy.orm import Session, sessionmaker

from hotline.config import Settings
from ivr.agents import AgentBoard
from ivr.api import (
    ModelUnavailable, SignatureCheck, SpeechRecognizer, SpeechScriptSettings, TwilioVoice, load_model,
)
from ivr.ami.client import AmiClient
from ivr.bus import EventBus
from ivr.calls import CallTracker
from ivr.controller import AmiController

log = logging.getLogger(__name__)

__all__ = ["TelephonyService", "RandomEndpoint", "SIM_AGENTS", "prompt_seconds"]

#: Queue penalty of the simulated demo agents: a backup tier behind console agents (penalty 0).
SIM_AGENT_PENALTY = 1

#: Simulated agents in demo mode: (queue, interface, member name).
SIM_AGENTS = (
    ("agents", "PJSIP/agent-1001", "坐席1001"),
    ("agents", "PJSIP/agent-1002", "坐席1002"),
    ("agents", "PJSIP/agent-1003", "坐席1003"),
    ("mongolian", "PJSIP/agent-2001", "蒙古语坐席2001"),
)


class RandomEndpoint:
    """A simulated far end whose outcome varies from call to call.

    The simulator reads ``behaviour`` when it requests the channel (must not be
    ``unavailable``), then checks it against ``busy``, ``congestion`` and ``noanswer`` in
    turn; each read draws afresh, so a dial is busy with probability ``busy``, otherwise
    unanswered with probability ``noanswer``, otherwise answered after ``answer_after``
    (uniform range) and kept for ``talk_time`` (uniform range) simulated seconds.
    """

    def __init__(self, rng: random.Random, *, busy: float = 0.1, noanswer: float = 0.1,
                 answer_after: tuple[float, float] = (2.0, 8.0), talk_time: tuple[float, float] = (60.0, 240.0)):
        self.rng, self.busy, self.noanswer = rng, busy, noanswer
        self._answer_after, self._talk_time = answer_after, talk_time
        self._reads = 0

    @property
    def behaviour(self) -> str:
        self._reads += 1
        draw = self.rng.random()
        # reads in _run_endpoint: busy?, congestion?, noanswer?
        if draw < self.busy:
            return "busy"
        if draw < self.busy + self.noanswer:
            return "noanswer"
        return "answer"

    @property
    def answer_after(self) -> float:
        return self.rng.uniform(*self._answer_after)

    @property
    def talk_time(self) -> float:
        return self.rng.uniform(*self._talk_time)


def prompt_seconds(flow: Any, prompts_dir: str = "hl12319", chars_per_second: float = 4.5) -> dict[str, float]:
    """How long each prompt of ``flow`` plays, estimated from its Chinese text (Mandarin
    prompts run at about 4–5 characters a second), keyed as the dialplan names the file."""
    out: dict[str, float] = {}
    for p in flow.prompts():
        chars = sum(1 for ch in p.text if not ch.isspace())
        out[f"{prompts_dir.rstrip('/')}/{p.file}"] = round(max(1.0, chars / chars_per_second), 1)
    return out


@dataclass
class TwilioHooks:
    """What the Twilio webhook routes need: the IVR, the signature check, the public base URL."""

    voice: TwilioVoice
    check: SignatureCheck
    public_base: str = ""


class TelephonyService:
    """Starts and stops everything telephony in the right order (a service of the web app).

    ``rules`` (optional) replaces the rules loaded from ``settings.rules_file``; ``clock``
    (aware ``datetime``) is the time business hours are judged at — by default the PBX's
    time (the simulator's clock in simulator mode, the real time otherwise).
    """

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], bus: EventBus | None = None,
                 *, sim_speed: float = 1.0, demo_seed: int | None = None, rules: Any = None,
                 clock: Callable[[], datetime] | None = None, sim_agents=SIM_AGENTS,
                 district_line_mix: tuple[float, float] = (0.1, 0.1), leadership: Any = None):
        """``leadership`` (:class:`hotline.cluster.TelephonyLeadership`): with several processes on
        one database, only the holder of the telephony lock starts; the others wait to take over."""
        self.leadership = leadership
        self.role = "leader"                      # or "follower" while another process owns the telephony
        self._standby: asyncio.Task | None = None
        self._watch: asyncio.Task | None = None
        self.sim_speed = sim_speed
        self.demo_seed = demo_seed
        self.settings = settings
        self.sessions = sessions
        self.bus = bus or EventBus()
        self.rules = rules
        self.clock = clock
        self.sim_agents = tuple(sim_agents)
        self.district_line_mix = district_line_mix
        self.simulator = None
        self.demo = None
        self.controller: AmiController | None = None
        self.tracker: CallTracker | None = None
        self.agents: AgentBoard | None = None
        self._agent_timer: asyncio.Task | None = None
        self.softphones: dict[str, Any] = {}      # simulator: interface → Softphone
        self.on_softphone: Callable[[Any], None] | None = None   # told when a softphone changes
        self.facade = None
        self.agi = None
        self.flow = None
        self.recorder = None
        self.transfer_log = None
        self.dialplan_dir: Path | None = None
        self.mode = settings.telephony_mode
        self.drain_timeout = 5.0                  # shutdown never waits longer for slow subscribers
        self.directory = None                     # hotline.directory.SqlDirectory the AGI scripts ask
        self.speech: SpeechRecognizer | None = None   # with a speech model: menus and transcription
        self.transcription = None                 # hotline.calls.transcription.TranscriptionWorker
        self.twilio: TwilioHooks | None = None    # the IVR over Twilio (HOTLINE_TWILIO_VOICE)

    def readiness(self) -> str:
        """``ok`` once the AMI session is up, else why not (``/readyz``: checks.telephony). A
        ``hotline serve`` started before Asterisk runs anyway and keeps connecting."""
        if self.role == "follower":
            return "ok (follower: another process owns the AMI connection)"
        if self.controller is None:
            return "error: telephony not started"
        if self.controller.connected:
            return "ok"
        client = self.controller.client
        why = client.last_error or "connecting"
        return f"error: AMI {client.host}:{client.port} not connected ({why}); retrying"

    @property
    def agi_port(self) -> int:
        return self.agi.bound_port

    def _now(self) -> datetime:
        if self.clock is not None:
            return self.clock()
        if self.simulator is not None:
            return datetime.fromtimestamp(self.simulator.clock.now(), timezone.utc)
        return datetime.now(timezone.utc)

    async def _start_agi(self, router) -> None:
        from ivr.agi.server import FastAgiServer

        s = self.settings
        self.agi = FastAgiServer(s.agi_host, s.agi_port, router, command_timeout=10)
        try:
            await self.agi.start()
        except OSError as exc:
            if self.mode != "simulator" or s.agi_port == 0:
                raise
            # the simulator runs in this process: any free port will do
            log.warning("FastAGI port %s:%d unavailable (%s); the simulator uses a free port instead",
                        s.agi_host, s.agi_port, exc)
            self.agi = FastAgiServer(s.agi_host, 0, router, command_timeout=10)
            await self.agi.start()

    async def start(self) -> None:
        if self.leadership is not None:
            taken = await asyncio.to_thread(self.leadership.try_take)
            if not taken:
                self.role = "follower"
                log.info("telephony: another process owns it (%s); this one follows and takes over if it stops",
                         await asyncio.to_thread(self.leadership.leader_url) or "leader unknown")
                self._standby = asyncio.create_task(self._take_over_when_free(), name="telephony-standby")
                return
            self._watch = asyncio.create_task(self._watch_leadership(), name="telephony-leadership")
        await self._start_telephony()

    async def _take_over_when_free(self, every: float = 3.0) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                taken = await asyncio.to_thread(self.leadership.try_take)
            except Exception:
                log.warning("telephony: leader lock not reachable", exc_info=True)
                continue
            if taken:
                log.warning("telephony: the leader is gone; this process takes over the telephony")
                self.role = "leader"
                self._watch = asyncio.create_task(self._watch_leadership(), name="telephony-leadership")
                await self._start_telephony()
                return

    async def _watch_leadership(self, every: float = 3.0) -> None:
        """A leader that loses its lock (its database connection broke) stops its telephony at
        once: another process may already have taken over."""
        while True:
            await asyncio.sleep(every)
            try:
                held = await asyncio.to_thread(self.leadership.still_held)
            except Exception:
                held = False
            if not held:
                log.error("telephony: leader lock lost; stopping the telephony and following")
                await self._stop_telephony()
                self.role = "follower"
                self._standby = asyncio.create_task(self._take_over_when_free(), name="telephony-standby")
                return

    async def _start_telephony(self) -> None:
        from hotline.calls.recorder import CallRecorder
        from hotline.calls.transfer_log import TransferLog
        from hotline.directory import SqlDirectory
        from ivr.facade import CallFacade
        from ivr.flow import flow_from_rules
        from ivr.scripts import build_router

        s = self.settings
        if self.rules is None:
            from hotline.server import load_rules_or_fail

            self.rules = load_rules_or_fail(s)
        self.flow = flow_from_rules(self.rules)
        self.bus.start()
        self.recorder = CallRecorder(self.sessions, s.tz, self.bus)
        self.transfer_log = TransferLog(self.sessions, self.bus,
                                        district_names={d.code: d.name for d in self.flow.districts})
        self.directory = SqlDirectory(self.sessions, self.rules)
        self.speech = await self._load_speech()
        speech = SpeechScriptSettings(lambda: self.speech, record_dir=s.speech_record_dir,
                                      local_dir=s.speech_local_dir)
        await self._start_agi(build_router(self.directory, clock=self._now, speech=speech))
        if self.mode == "simulator":
            secret = secrets.token_urlsafe(16)  # in-process only, never leaves this process
            await self._start_simulator(secret)
            host, port, user = "127.0.0.1", self.simulator.bound_port, s.ami_username
            log.info("no AMI host configured: built-in PBX simulator on 127.0.0.1:%d running the rendered "
                     "IVR (%s) with demo calls (%.2f/s)", port, self.dialplan_dir, s.demo_call_rate)
        else:
            host, port, user, secret = s.ami_host, s.ami_port, s.ami_username, s.ami_secret.get_secret_value()
        # the simulator stamps CEL EventTime in UTC; Asterisk in its own (the hotline's) zone
        if self.simulator is not None:  # one clock for the simulated world (accelerated in tests/benchmarks)
            sim_clock = self.simulator.clock
            self.tracker = CallTracker(self.bus, pbx_tz=timezone.utc,
                                       clock=lambda: datetime.fromtimestamp(sim_clock.now(), timezone.utc))
        else:
            self.tracker = CallTracker(self.bus, pbx_tz=s.tz)
        self.recorder.calls = self.tracker       # the source of truth when the recorder falls behind
        if s.twilio_voice and not s.twilio_auth_token.get_secret_value():
            log.error("Twilio voice off: HOTLINE_TWILIO_VOICE is set but HOTLINE_TWILIO_AUTH_TOKEN is not "
                      "(webhook signatures cannot be checked)")
        elif s.twilio_voice:
            voice = TwilioVoice(self.flow, self.directory, self.tracker.feed, prompt_url=s.twilio_prompt_url)
            self.twilio = TwilioHooks(voice, SignatureCheck(s.twilio_auth_token.get_secret_value()),
                                      s.twilio_public_url)
            self.tracker.add_resync_source(voice.live_channels)
            log.info("Twilio voice webhooks on /twilio/voice (public URL %s)", s.twilio_public_url or "from the request")
        tracker_clock = self.tracker.clock
        self.agents = AgentBoard(self.bus, clock=tracker_clock, call_id_for=self.tracker.call_id_for,
                                 wrapup_seconds={q.id: q.wrapup_seconds for q in self.flow.queues})
        client = AmiClient(host, port, user, secret, events=True)
        self.controller = AmiController(client, self.tracker, self.agents)
        await self.controller.start()
        self._agent_timer = asyncio.create_task(self.agents.run_timer(), name="agent-board-timer")
        await self.recorder.resync()             # calls left open by an earlier process are closed
        self._start_transcription()
        self.facade = CallFacade(self.controller, districts=[d.code for d in self.flow.districts],
                                 queues=[q.id for q in self.flow.queues])
        if self.simulator is not None:
            await self._login_sim_agents()
            if s.demo_call_rate > 0:
                from ivr.demo import DemoMix, DemoTraffic

                from hotline.directory import is_open, work_calendar

                mix = DemoMix.for_flow(self.flow)
                mix.ticket_digits = self._recent_ticket_digits()
                calendar = work_calendar(self.rules)
                self.demo = DemoTraffic(self.simulator, s.demo_call_rate, seed=self.demo_seed, mix=mix,
                                        max_concurrent=s.demo_max_calls,
                                        is_open=lambda: is_open(self.rules, calendar, self._now()))
                await self.demo.start()

    async def _load_speech(self) -> SpeechRecognizer | None:
        """The shared recogniser, or ``None`` (said once in the log: the IVR works by DTMF)."""
        s = self.settings
        if s.speech_model is None:
            log.info("speech recognition off (HOTLINE_SPEECH_MODEL unset): IVR menus work by keypad (DTMF) "
                     "only and messages are not transcribed")
            return None
        try:
            model = await asyncio.to_thread(load_model, s.speech_model)
        except ModelUnavailable as exc:
            log.error("speech recognition off: %s; IVR menus work by keypad (DTMF) only and messages are not "
                      "transcribed", exc)
            return None
        log.info("speech recognition on: model %s; menus listen for spoken keywords (dialplan rendered with "
                 "speech), messages are transcribed", model.path)
        return SpeechRecognizer(model, self.flow, min_confidence=s.speech_min_confidence, workers=s.speech_workers)

    def _start_transcription(self) -> None:
        from hotline.calls.transcription import TranscriptionWorker, parse_path_map

        s = self.settings
        self.transcription = TranscriptionWorker(
            self.sessions, lambda: self.speech, rules=lambda: self.rules, flow=lambda: self.flow, bus=self.bus,
            interval=s.speech_transcribe_interval, path_map=parse_path_map(s.speech_path_map),
            fetch=self._twilio_recordings() if self.twilio is not None else None)
        self.transcription.start()

    def _twilio_recordings(self):
        """Messages left on Twilio calls are fetched from Twilio with the account's credentials."""
        from hotline.calls.twilio_recordings import TwilioRecordings
        from hotline.notify.twilio_gateway import TwilioSettings

        account = TwilioSettings()
        if not account.account_sid:
            log.warning("messages left on Twilio calls are not transcribed: HOTLINE_TWILIO_ACCOUNT_SID is not set")
            return None
        return TwilioRecordings(account.account_sid, account.auth_token.get_secret_value(),
                                base_url=account.base_url, timeout=account.timeout)

    def _recent_ticket_digits(self, limit: int = 50) -> list[str]:
        """Digits of recent tickets, so demo callers checking a ticket often key a real one."""
        from sqlalchemy import select

        from hotline.cases.models import Ticket
        from ivr.scripts import digits_for_ticket

        try:
            with self.sessions() as session:
                numbers = session.scalars(select(Ticket.number).order_by(Ticket.id.desc()).limit(limit)).all()
        except Exception:  # demo only: an unreadable table just means random numbers
            log.warning("demo traffic: could not read recent ticket numbers", exc_info=True)
            return []
        out = []
        for n in numbers:
            try:
                out.append(digits_for_ticket(n))
            except ValueError:
                continue
        return out

    async def _start_simulator(self, secret: str) -> None:
        from ivr.dialplan import render_dialplan
        from ivr.simulator import PbxSimulator

        s = self.settings
        out = s.ensure_var_dir() / "dialplan"
        agi_host = "127.0.0.1" if s.agi_host in ("", "0.0.0.0", "::") else s.agi_host
        render_dialplan(self.flow, out_dir=out, agi_host=agi_host, agi_port=self.agi_port)
        self.dialplan_dir = out
        self.simulator = PbxSimulator(
            ami_port=0, agi_address=(agi_host, self.agi_port), username=s.ami_username, secret=secret,
            dialplan=(out / "extensions.conf").read_text(encoding="utf-8"),
            queues=(out / "queues.conf").read_text(encoding="utf-8"),
            speed=self.sim_speed, inbound_context="hl12319-entry")
        self.simulator.interp.sound_seconds.update(prompt_seconds(self.flow))
        rng = random.Random(self.demo_seed)
        busy, noanswer = self.district_line_mix
        for d in self.flow.districts:
            self.simulator.add_endpoint(d.number, RandomEndpoint(rng, busy=busy, noanswer=noanswer))
        for _, interface, _ in self.sim_agents:
            self.simulator.add_endpoint(interface.partition("/")[2],
                                        RandomEndpoint(rng, busy=0.0, noanswer=0.0, answer_after=(2.0, 5.0),
                                                       talk_time=(90.0, 300.0)))
        # citizens an agent calls back (click-to-dial): most answer after a few rings
        self.simulator.pbx.default_endpoint = RandomEndpoint(rng, busy=0.1, noanswer=0.15, answer_after=(3.0, 9.0),
                                                             talk_time=(600.0, 600.0))
        await self.simulator.start()

    async def _login_sim_agents(self) -> None:
        """Simulated agents log in over the AMI, as the console's agents do against Asterisk."""
        from ivr.ami import actions

        queues = {q.id for q in self.flow.queues}
        for queue, interface, name in self.sim_agents:
            if queue in queues:
                await actions.queue_add(self.controller.client, queue, interface, member_name=name,
                                        penalty=SIM_AGENT_PENALTY)

    # -- rules reload ------------------------------------------------------------------------------
    async def apply_rules(self, rules, flow) -> str:
        """New rules (:mod:`hotline.rules.reload`): the dialplan is rendered and the PBX reloads it,
        then the flow, the facade's targets, the IVR's answers and the transfer labels follow.
        Returns what the PBX did."""
        from hotline.directory import work_calendar
        from ivr.ami import actions
        from ivr.dialplan import render_dialplan

        s = self.settings
        if self.simulator is not None:
            render_dialplan(flow, out_dir=self.dialplan_dir, agi_host=self._agi_host(), agi_port=self.agi_port)
            self.simulator.load_dialplan((self.dialplan_dir / "extensions.conf").read_text(encoding="utf-8"))
            done = "simulator: dialplan reloaded"
        elif s.dialplan_dir is not None:
            render_dialplan(flow, out_dir=s.dialplan_dir, agi_host=s.dialplan_agi_host or self._agi_host(),
                            agi_port=s.agi_port, speech=self.speech is not None)
            await actions.command(self.controller.client, "dialplan reload")
            await actions.command(self.controller.client, "module reload app_queue.so")
            done = f"Asterisk: dialplan rendered into {s.dialplan_dir}, dialplan and app_queue reloaded"
        else:
            done = "Asterisk: HOTLINE_DIALPLAN_DIR unset, the dialplan is the operator's (hotline dialplan render)"
        self.rules, self.flow = rules, flow
        if self.speech is not None:
            self.speech.use_flow(flow)
        if self.twilio is not None:
            self.twilio.voice.flow = flow
        if self.facade is not None:
            self.facade.districts = frozenset(d.code for d in flow.districts)
            self.facade.queues = frozenset(q.id for q in flow.queues)
        if self.agents is not None:
            self.agents.wrapup_seconds = {q.id: q.wrapup_seconds for q in flow.queues}
        if self.directory is not None:
            self.directory.rules, self.directory.calendar = rules, work_calendar(rules)
        if self.transfer_log is not None:
            self.transfer_log.district_names = {d.code: d.name for d in flow.districts}
        return done

    def _agi_host(self) -> str:
        host = self.settings.agi_host
        return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host

    # -- simulator: the console agent's phone and demo calls -----------------------------------
    def softphone(self, interface: str):
        """The simulated desk phone of a console agent's seat (created on first use); None when a
        real PBX is attached (the agent has a real phone)."""
        if self.simulator is None:
            return None
        phone = self.softphones.get(interface)
        if phone is None:
            from ivr.simulator.softphone import Softphone

            phone = Softphone(interface, on_change=self._softphone_changed)
            self.softphones[interface] = phone
            self.simulator.add_endpoint(interface.partition("/")[2], phone)
        return phone

    def _softphone_changed(self, phone) -> None:
        if self.on_softphone is not None:
            try:
                self.on_softphone(phone)
            except Exception:
                log.exception("softphone listener failed")

    async def place_demo_call(self, caller: str | None = None) -> str:
        """Simulator only: a citizen who asks for an agent — through the menu (its agent key) in
        business hours; after hours, when the menu would take a message, straight into the agent
        queue, as a caller put through by the night desk would be. Returns the caller's number."""
        if self.simulator is None:
            raise RuntimeError("demo calls need the built-in PBX simulator")
        from ivr.demo import DemoMix, agent_script, random_caller
        from ivr.simulator import CallerScript

        from hotline.directory import is_open, work_calendar

        rng = random.Random()
        number = caller or random_caller(rng)
        if is_open(self.rules, work_calendar(self.rules), self._now()):
            await self.simulator.place_call(caller=number, dialed="12319",
                                            script=agent_script(rng, DemoMix.for_flow(self.flow)))
        else:
            await self.simulator.place_call(caller=number, dialed=self.flow.agent_queue, context="hl12319-queue",
                                            script=CallerScript().wait(600).hangup())
        return number

    async def stop(self) -> None:
        for task in (self._standby, self._watch):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        self._standby = self._watch = None
        await self._stop_telephony()
        await self.bus.close()
        if self.leadership is not None:
            await asyncio.to_thread(self.leadership.release)

    async def _stop_telephony(self) -> None:
        if self.transcription is not None:
            await self.transcription.stop()
            self.transcription = None
        if self._agent_timer is not None:
            self._agent_timer.cancel()
            await asyncio.gather(self._agent_timer, return_exceptions=True)
            self._agent_timer = None
        if self.demo:
            await self.demo.stop()
        if self.simulator is not None and self.tracker is not None:
            # end the simulated calls while the controller still listens: each is stored as ended
            self.simulator.pbx.hangup_all(16)
            for _ in range(300):
                if len(self.tracker) == 0:
                    break
                await asyncio.sleep(0.01)
        if self.controller:
            await self.controller.stop()
        if self.simulator:
            await self.simulator.stop()
        if self.agi:
            await self.agi.stop(grace=2.0)
        await self.bus.drain(timeout=self.drain_timeout)
        if self.recorder:
            try:     # whatever the bus could not deliver in time is stored from the tracker
                await asyncio.wait_for(self.recorder.resync(), self.drain_timeout)
            except asyncio.TimeoutError:
                log.warning("call recorder: final resync did not finish in %.0f s; the next start "
                            "closes the remaining calls", self.drain_timeout)
            self.recorder.close()
        if self.transfer_log:
            self.transfer_log.close()
        if self.speech is not None:
            await asyncio.to_thread(self.speech.close)
        # nothing of it is left: pages see no telephony (a follower forwards to the new leader)
        self.facade = self.controller = self.tracker = self.agents = self.simulator = self.agi = None
        self.recorder = self.transfer_log = self.demo = self.speech = None
        self.softphones.clear()
