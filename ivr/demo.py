"""Demo traffic: a steady trickle of realistic citizen calls into the PBX simulator, so a
newcomer running ``hotline serve`` without Asterisk sees live calls in the system.

Callers follow the menu the simulator runs: most press a branch digit after listening
a little, some press a wrong key, some stay silent, some hang up early.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field

from ivr.simulator import CallerScript, PbxSimulator

log = logging.getLogger(__name__)

MOBILE_PREFIXES = ("138", "139", "150", "151", "152", "158", "159", "182", "187", "188", "135", "136", "137",
                   "130", "131", "132", "155", "156", "185", "186", "133", "153", "180", "181", "189", "177")


@dataclass
class DemoMix:
    """Weights of what demo callers do (digit → weight; "silent", "early_hangup", "invalid")."""

    choices: dict[str, float] = field(default_factory=lambda: {
        "1": 0.30, "2": 0.35, "3": 0.10, "4": 0.10, "invalid": 0.05, "silent": 0.05, "early_hangup": 0.05})
    menu_digits: str = "1234"


def random_caller(rng: random.Random) -> str:
    if rng.random() < 0.15:  # a Chifeng landline
        return "0476" + "".join(rng.choice("0123456789") for _ in range(7))
    return rng.choice(MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(8))


def random_script(rng: random.Random, mix: DemoMix) -> CallerScript:
    kinds, weights = zip(*mix.choices.items())
    kind = rng.choices(kinds, weights)[0]
    script = CallerScript().wait(round(rng.uniform(1.0, 3.5), 1))
    if kind == "silent":
        return script
    if kind == "early_hangup":
        return script.hangup()
    if kind == "invalid":
        wrong = rng.choice([d for d in "56789*#" if d not in mix.menu_digits])
        return script.press(wrong).wait(2.0).press(rng.choice(mix.menu_digits))
    return script.press(kind)


class DemoTraffic:
    """Places calls on ``sim`` at ``rate`` calls per second (Poisson arrivals) until stopped."""

    def __init__(self, sim: PbxSimulator, rate: float, *, seed: int | None = None,
                 mix: DemoMix | None = None, max_concurrent: int = 50):
        if rate <= 0:
            raise ValueError("demo call rate must be positive")
        self.sim = sim
        self.rate = rate
        self.rng = random.Random(seed)
        self.mix = mix or DemoMix()
        self.max_concurrent = max_concurrent
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
                                         script=random_script(self.rng, self.mix))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.rng.expovariate(self.rate))
            if self.sim.active_calls() >= self.max_concurrent:
                continue
            try:
                await self.place_one()
            except Exception:
                log.exception("demo call failed to start")
