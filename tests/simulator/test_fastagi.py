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
