"""Demo traffic: a steady trickle of realistic citizen calls into the PBX simulator, so a
newcomer running ``hotline serve`` without Asterisk sees live calls walk the real IVR.

Callers follow the shipped menu (:meth:`DemoMix.for_flow` reads it from the IVR flow):
they press a key when the menu asks (after listening a little), pick a district in the
district submenu, key a ticket number for self-service, press a wrong key, stay silent,
hang up early, or give up while waiting in the queue. After hours far fewer people call
(``after_hours_share`` of the daytime rate) and only some of them leave a message; the others
hang up when they hear the service is closed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field
from typing import Callable

from ivr.simulator import CallerScript, PbxSimulator

log = logging.getLogger(__name__)

MOBILE_PREFIXES = ("138", "139", "150", "151", "152", "158", "159", "182", "187", "188", "135", "136", "137",
                   "130", "131", "132", "155", "156", "185", "186", "133", "153", "180", "181", "189", "177")


@dataclass
class DemoMix:
    """What demo callers do: ``choices`` maps a behaviour to its weight.

    Behaviours: a key of the entry menu (``"1"``, ``"0"`` …), ``"district"`` (the district
    submenu key, then one of ``district_digits``), ``"ticket"`` (the ticket-status key, then
    13 digits and ``#``), ``"invalid"``, ``"silent"``, ``"early_hangup"``. ``patience`` is
    the range of seconds a caller waits after choosing before hanging up (queue abandon).
    """

    choices: dict[str, float] = field(default_factory=lambda: {
        "1": 0.30, "2": 0.35, "3": 0.10, "4": 0.10, "invalid": 0.05, "silent": 0.05, "early_hangup": 0.05})
    menu_digits: str = "1234"
    district_key: str = ""
    district_digits: str = ""
    ticket_key: str = ""
    ticket_digits: list[str] = field(default_factory=list)
    patience: tuple[float, float] = (60.0, 420.0)
    agent_key: str = "0"      # the entry menu's key for the (Chinese-speaking) agents

    @classmethod
    def for_flow(cls, flow) -> "DemoMix":
        """The caller mix for ``flow``'s entry menu (``ivr.flow.IvrFlow``): most callers report a
        problem or ask for an agent, a fifth want their district's line, some check a ticket."""
        if flow.entry is None:  # menu-less: everyone goes to an agent
            return cls(choices={"silent": 0.9, "early_hangup": 0.1}, menu_digits="")
        weights: dict[str, float] = {}
        district_key = ticket_key = district_digits = ""
        agent_key = ""
        for o in flow.entry.options:
            action = getattr(o.action, "value", str(o.action))
            if action == "queue":
                weights[o.key] = 0.12 if o.key == "0" else (0.03 if o.language == "mn" else 0.35)
                if o.language != "mn" and (o.key == "0" or not agent_key):
                    agent_key = o.key
            elif action == "submenu":
                sub = o.submenu
                digits = "".join(x.key for x in sub.options
                                 if getattr(x.action, "value", str(x.action)) == "district_transfer")
                if digits:
                    district_key, district_digits = o.key, digits
                    weights["district"] = 0.20
            elif action == "ticket_status":
                ticket_key = o.key
                weights["ticket"] = 0.10
            elif action == "district_transfer":
                weights[o.key] = 0.05
        weights.update({"invalid": 0.05, "silent": 0.04, "early_hangup": 0.04})
        return cls(choices=weights, menu_digits="".join(o.key for o in flow.entry.options),
                   district_key=district_key, district_digits=district_digits, ticket_key=ticket_key,
                   agent_key=agent_key or "0")


def random_caller(rng: random.Random) -> str:
    if rng.random() < 0.15:  # a Chifeng landline
        return "0476" + "".join(rng.choice("0123456789") for _ in range(7))
    return rng.choice(MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(8))


def _ticket_digits(rng: random.Random, mix: DemoMix) -> str:
    if mix.ticket_digits and rng.random() < 0.8:
        return rng.choice(mix.ticket_digits)
    return f"2026{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(1, 300):05d}"


def random_script(rng: random.Random, mix: DemoMix) -> CallerScript:
    kinds, weights = zip(*mix.choices.items())
    kind = rng.choices(kinds, weights)[0]
    script = CallerScript()
    if mix.district_key or mix.ticket_key:  # the real menu: listen until it asks (Background)
        script = script.until_app("Background")
    script = script.wait(round(rng.uniform(1.0, 3.5), 1))
    if kind == "silent":
        return script.wait(rng.uniform(*mix.patience)).hangup()
    if kind == "early_hangup":
        return script.hangup()
    if kind == "invalid":
        wrong = rng.choice([d for d in "5678*#" if d not in mix.menu_digits] or ["#"])
        right = rng.choice(mix.menu_digits) if mix.menu_digits else "0"
        script = script.press(wrong).wait(2.0).press(right)
    elif kind == "district" and mix.district_key:
        script = (script.press(mix.district_key).wait(1.0).until_app("Background")
                  .wait(round(rng.uniform(1.0, 4.0), 1)).press(rng.choice(mix.district_digits)))
    elif kind == "ticket" and mix.ticket_key:
        script = (script.press(mix.ticket_key).wait(0.5).until_app("Read").wait(round(rng.uniform(1.0, 3.0), 1))
                  .press(_ticket_digits(rng, mix) + "#").wait(rng.uniform(10.0, 25.0)).hangup())
        return script
    else:
        script = script.press(kind)
    return script.wait(rng.uniform(*mix.patience)).hangup()


def agent_script(rng: random.Random, mix: DemoMix, patience: float = 600.0) -> CallerScript:
    """A caller who asks for an agent at once and waits up to ``patience`` seconds, then talks
    until the agent hangs up (the demo call an agent takes in the console)."""
    script = CallerScript()
    if mix.district_key or mix.ticket_key:
        script = script.until_app("Background")
    return script.wait(round(rng.uniform(1.0, 2.0), 1)).press(mix.agent_key).wait(patience).hangup()


#: Of the callers after hours, the share who leave a message (the rest hang up at the prompt).
AFTER_HOURS_MESSAGE_SHARE = 0.35


def after_hours_script(rng: random.Random) -> CallerScript:
    """After hours: most callers hang up on hearing the service is closed; the others listen to
    the message prompt, speak after the tone, and finish with ``#`` (the prompt asks for it) or
    by hanging up."""
    if rng.random() >= AFTER_HOURS_MESSAGE_SHARE:
        return CallerScript().wait(round(rng.uniform(2.0, 8.0), 1)).hangup()
    script = CallerScript().until_app("Record").wait(round(rng.uniform(8.0, 45.0), 1))
    if rng.random() < 0.6:
        return script.press("#").wait(10.0).hangup()
    return script.hangup()


class DemoTraffic:
    """Places calls on ``sim`` at ``rate`` calls per second (Poisson arrivals) until stopped."""

    def __init__(self, sim: PbxSimulator, rate: float, *, seed: int | None = None,
                 mix: DemoMix | None = None, max_concurrent: int = 50,
                 is_open: Callable[[], bool] | None = None, after_hours_share: float = 0.15):
        if rate <= 0:
            raise ValueError("demo call rate must be positive")
        self.sim = sim
        self.rate = rate
        self.rng = random.Random(seed)
        self.mix = mix or DemoMix()
        self.max_concurrent = max_concurrent
        self.is_open = is_open  # None: always open; else closed → after-hours callers
        self.after_hours_share = after_hours_share
        self.placed = 0
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="demo-traffic")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def place_one(self):
        self.placed += 1
        return await self.sim.place_call(caller=random_caller(self.rng), dialed="12319",
                                         script=self.next_script())

    def next_gap(self) -> float:
        """Seconds until the next caller (Poisson arrivals; fewer after hours)."""
        closed = self.is_open is not None and not self.is_open()
        return self.rng.expovariate(self.rate * (self.after_hours_share if closed else 1.0))

    def next_script(self) -> CallerScript:
        if self.is_open is not None and not self.is_open():
            return after_hours_script(self.rng)
        return random_script(self.rng, self.mix)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.next_gap())
            if self.sim.active_calls() >= self.max_concurrent:
                continue
            try:
                await self.place_one()
            except Exception:
                log.exception("demo call failed to start")
