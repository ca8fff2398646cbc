"""The simulator calls a real FastAGI server (the project's ``ivr.agi``) exactly as Asterisk 20 does."""

from __future__ import annotations

import pytest

from ivr.agi.server import FastAgiServer
from ivr.simulator import PbxSimulator
from sim_driver import FIXTURES, Normaliser, drive, free_port, per_channel, responses

COMMANDS = [c for c in (FIXTURES / "agi_ivr_1.sent").read_text().split("\n") if c]


def fixture_env_and_replies() -> tuple[list[str], list[str]]:
    env, _, replies = (FIXTURES / "agi_ivr_1.txt").read_text().partition("\n\n")
    return env.split("\n"), [r for r in replies.split("\n") if r]


class Recorder:
    """A FastAGI script that sends the commands of agi_ivr_1.sent and records env and raw replies."""

    def __init__(self) -> None:
        self.env: dict[str, str] = {}
        self.replies: list[str] = []

    async def __call__(self, session) -> None:
        self.env = {k: session.env.get(k) for k in ("agi_network", "agi_network_script", "agi_request", "agi_type")}
        self.env_raw = session.env
        for command in COMMANDS:
            reply = await session.raw(command, check=False, timeout=30)
            self.replies.extend(reply.lines)


async def test_fastagi_session_matches_agi_ivr_1_and_10() -> None:
    recorder = Recorder()
    async with FastAgiServer("127.0.0.1", 0, {"ivr": recorder}) as agi:
        async with PbxSimulator(agi_address=("127.0.0.1", agi.bound_port), speed=25) as sim:
            fixture, got, _ = await drive(sim, "10_fastagi_ivr_ami_events")
    _, want_replies = fixture_env_and_replies()
    norm = Normaliser()
    assert [norm.text(r) for r in recorder.replies] == [Normaliser().text(r) for r in want_replies]
    assert recorder.env == {"agi_network": "yes", "agi_network_script": "ivr", "agi_request": "agi://127.0.0.1:4573/ivr",
                            "agi_type": "Local"}
    assert responses(got) == responses(fixture)
    want, have = per_channel(fixture), per_channel(got)
    assert sorted(have) == sorted(want)
    for channel in want:
        assert have[channel] == want[channel], channel


async def test_agi_failure_when_nobody_listens_and_call_continues() -> None:
    async with PbxSimulator(agi_address=("127.0.0.1", free_port()), speed=25) as sim:
        fixture, got, _ = await drive(sim, "01e_ivr_no_input_timeout")
    agistatus = [m.get("Value") for m in got if m.name == "VarSet" and m.get("Variable") == "AGISTATUS"]
    assert agistatus == ["FAILURE"]
    assert any(m.name == "UserEvent" and m.get("UserEvent") == "IVRTimeout" for m in got)


async def test_hangup_during_wait_for_digit_like_agi_hangup_test_1() -> None:
    """The channel hangs up while the script waits: ``200 result=-1``, an out-of-band ``HANGUP``,
    and later commands are still answered (agi_hangup-test_1)."""
    from sim_driver import AmiTap

    replies: list[str] = []
    hung_up: list[bool] = []

    async def hangup_test(session) -> None:
        for command in ("ANSWER", "WAIT FOR DIGIT 15000", "NOOP"):
            reply = await session.raw(command, check=False, timeout=30)
            replies.extend(reply.lines)
        hung_up.append(session.hung_up)

    async with FastAgiServer("127.0.0.1", 0, {"hangup-test": hangup_test}) as agi:
        async with PbxSimulator(agi_address=("127.0.0.1", agi.bound_port), speed=25) as sim, AmiTap(sim.bound_port) as tap:
            await tap.action("Setvar", Variable="GLOBAL(IVR_AGI_URL)", Value="agi://127.0.0.1:4573/hangup-test")
            await tap.action("Originate", Channel="Local/s@ivr-12319", Application="Wait", Data="40", Async="true",
                             CallerID='"AGI Hangup" <0905000006>')
            start = await tap.wait_for(lambda m: m.name == "AGIExecStart" and m.get("Command") == "WAIT FOR DIGIT 15000")
            await tap.action("Hangup", Channel=start["Channel"])
            await sim.wait_idle(10)
            status = await tap.wait_for(lambda m: m.name == "VarSet" and m.get("Variable") == "AGISTATUS")
    want = [r for r in (FIXTURES / "agi_hangup-test_1.txt").read_text().partition("\n\n")[2].split("\n") if r]
    assert want == ["200 result=0", "200 result=-1", "HANGUP", "200 result=0"]
    assert replies == [w for w in want if w != "HANGUP"]
    assert hung_up == [True]
    assert status.get("Value") == "HANGUP"
