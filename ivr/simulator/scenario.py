"""Simulated callers: scripted digits with delays, silence and hang-up at any step.

>>> script = CallerScript().wait(2).press("1").wait(30).hangup()

Steps run in order once the call is placed; delays are simulated seconds. A
script that ends without ``hangup()`` leaves the caller on the line until the
PBX hangs up.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .channels import Channel

if TYPE_CHECKING:  # pragma: no cover
    from .pbx import Pbx


@dataclass(frozen=True, slots=True)
class ScriptStep:
    kind: str  # "wait" | "press" | "say" | "hangup" | "wait_answer" | "until_app"
    value: str | float = ""


@dataclass
class CallerScript:
    steps: list[ScriptStep] = field(default_factory=list)
    digit_gap: float = 0.3
    digit_duration_ms: int = 120

    def wait(self, seconds: float) -> "CallerScript":
        self.steps.append(ScriptStep("wait", float(seconds)))
        return self

    silence = wait

    def press(self, digits: str) -> "CallerScript":
        self.steps.append(ScriptStep("press", str(digits)))
        return self

    def say(self, wav_path: str) -> "CallerScript":
        """The caller speaks: ``wav_path`` (8 kHz mono WAV) is what the next AGI ``RECORD FILE`` of the
        channel records (the speech_menu script of speech navigation)."""
        self.steps.append(ScriptStep("say", str(wav_path)))
        return self

    def until_app(self, app: str) -> "CallerScript":
        """Block until the caller's channel runs dialplan application ``app`` (e.g. ``"WaitExten"``):
        a caller who presses a key "when the menu asks", independent of the clock speed."""
        self.steps.append(ScriptStep("until_app", app))
        return self

    def wait_answer(self) -> "CallerScript":
        """Block until the PBX answers the call."""
        self.steps.append(ScriptStep("wait_answer"))
        return self

    def hangup(self, cause: int = 16) -> "CallerScript":
        """The caller hangs up (Q.850 ``cause``, 16 = normal clearing)."""
        self.steps.append(ScriptStep("hangup", float(cause)))
        return self


@dataclass(eq=False)
class CallHandle:
    """A placed call: the inbound channel and a way to wait for its end."""

    channel: Channel
    task: asyncio.Task | None = None
    pbx: "Pbx | None" = None

    async def press(self, digits: str, duration_ms: int = 120, gap: float = 0.3) -> None:
        """The caller presses ``digits`` now (in addition to any script)."""
        if self.pbx is None:
            raise RuntimeError("handle not attached to a PBX")
        for d in digits:
            if self.channel.gone:
                return
            await self.pbx.dtmf_in(self.channel, d, duration_ms)
            await self.pbx.clock.sleep(gap)

    def hangup(self, cause: int = 16) -> None:
        """The caller hangs up now."""
        if self.pbx is not None:
            self.pbx.request_hangup(self.channel, cause, announce=True)

    @property
    def uniqueid(self) -> str:
        return self.channel.uniqueid

    @property
    def linkedid(self) -> str:
        return self.channel.linkedid

    @property
    def name(self) -> str:
        return self.channel.name

    @property
    def ended(self) -> bool:
        return self.channel.gone

    async def wait_ended(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self.channel.ended.wait(), timeout)


async def run_script(pbx: "Pbx", chan: Channel, script: CallerScript) -> None:
    for step in script.steps:
        if chan.gone:
            return
        if step.kind == "wait":
            await pbx.clock.sleep(float(step.value))
        elif step.kind == "until_app":
            while not chan.gone and chan.app.lower() != str(step.value).lower():
                await asyncio.sleep(0.005)
        elif step.kind == "wait_answer":
            while not chan.gone and not chan.is_up:
                await asyncio.sleep(0.01)
        elif step.kind == "press":
            for d in str(step.value):
                if chan.gone:
                    return
                await pbx.dtmf_in(chan, d, script.digit_duration_ms)
                await pbx.clock.sleep(script.digit_gap)
        elif step.kind == "say":
            chan.utterances.append(str(step.value))
        elif step.kind == "hangup":
            pbx.request_hangup(chan, int(step.value or 16), announce=True)
            return
