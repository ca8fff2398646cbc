"""The simulator against the real Asterisk 20 transcripts, over real TCP.

For every scenario the fixture's ``.sent`` actions are replayed; the responses
must be identical (status, ActionID, Message, EventList) and, per channel, the
tracked events must come in the same order with the same key fields.
"""

from __future__ import annotations

import pytest

from ivr.simulator import PbxSimulator
from sim_driver import FIXTURES, call_records, drive, free_port, per_channel, responses

SCENARIOS = [
    "00_login_ping_logoff",
    "01_ivr_call_dtmf_playdtmf",
    "01b_ivr_call_dtmf_receive",
    "01c_ivr_call_dtmf_senddtmf_dialplan",
    "01e_ivr_no_input_timeout",
    "02_redirect",
    "03_originate_response",
    "04_originate_failure",
    "05_coreshowchannels_status",
    "06_queuestatus_and_queue_call",
    "08_error_responses",
    "08a_login_failure",
    "09_hangup_action_cdr",
]


def make_sim() -> PbxSimulator:
    return PbxSimulator(agi_address=("127.0.0.1", free_port()), speed=25, login_failure_delay=0.05)


@pytest.mark.parametrize("name", SCENARIOS)
async def test_responses_match_fixture(name: str) -> None:
    async with make_sim() as sim:
        fixture, got, _ = await drive(sim, name)
    assert responses(got) == responses(fixture)


@pytest.mark.parametrize("name", [n for n in SCENARIOS if not n.startswith(("00", "08"))])
async def test_channel_events_match_fixture(name: str) -> None:
    async with make_sim() as sim:
        fixture, got, _ = await drive(sim, name)
    want, have = per_channel(fixture), per_channel(got)
    assert sorted(have) == sorted(want)
    for channel in want:
        assert have[channel] == want[channel], channel


@pytest.mark.parametrize("name", SCENARIOS)
async def test_call_tracker_sees_the_same_calls(name: str) -> None:
    async with make_sim() as sim:
        _, _, raw = await drive(sim, name)
    assert call_records(raw) == call_records((FIXTURES / f"{name}.txt").read_bytes())


def _layouts(msgs) -> dict[tuple[str, str], set[tuple[str, ...]]]:
    out: dict[tuple[str, str], set[tuple[str, ...]]] = {}
    for m in msgs:
        key = (m.kind, m.name if m.is_event else (m.get("ActionID") or "").rsplit("-", 1)[0])
        out.setdefault(key, set()).add(tuple(k for k, _ in m.headers))
    return out


async def test_every_message_has_a_header_layout_asterisk_used() -> None:
    """Header names and order of each event type / action response equal one seen from Asterisk 20."""
    want: dict = {}
    have: dict = {}
    for name in SCENARIOS:
        async with make_sim() as sim:
            fixture, got, _ = await drive(sim, name)
        for k, v in _layouts(fixture).items():
            want.setdefault(k, set()).update(v)
        for k, v in _layouts(got).items():
            have.setdefault(k, set()).update(v)
    assert set(have) == set(want)
    for key, layouts in have.items():
        assert layouts <= want[key], key


async def test_login_ping_coresettings_corestatus_fields_like_00() -> None:
    volatile = {"Timestamp", "CoreStartupDate", "CoreStartupTime", "CoreReloadDate", "CoreReloadTime"}
    async with make_sim() as sim:
        fixture, got, _ = await drive(sim, "00_login_ping_logoff")
    want = [[(k, v) for k, v in m.headers if k not in volatile] for m in fixture]
    have = [[(k, v) for k, v in m.headers if k not in volatile] for m in got]
    assert have == want
    stamp = next(m for m in got if m.get("Ping") == "Pong")["Timestamp"]
    assert stamp.replace(".", "").isdigit() and len(stamp.split(".")[1]) == 6
