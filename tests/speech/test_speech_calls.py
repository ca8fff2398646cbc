"""Speech navigation through the whole IVR: the dialplan rendered with ``speech=True`` runs on the PBX
simulator, its ``speech_menu`` FastAGI script records what the (simulated) caller says — espeak-ng
audio — and the real Korean model picks the option; the call tracker records the path."""

from __future__ import annotations

from datetime import datetime, timezone

from ivr.agi.server import FastAgiServer
from ivr.calls import CallTracker
from ivr.dialplan import render_dialplan
from ivr.directory import DistrictLine
from ivr.events import CallEnded
from ivr.scripts import SpeechScriptSettings, build_router
from ivr.simulator import CallerScript, Endpoint, PbxSimulator
from speech_audio import sox, synthesise


class OpenDirectory:
    """``hotline`` as the scripts see it: always open, no tickets."""

    async def district_line(self, district_code):
        return DistrictLine(district_code, "", "0")

    async def district_lines(self):
        return []

    async def ticket_status(self, number):
        return None

    async def open_tickets_for(self, caller):
        return []

    async def is_open_now(self, at=None):
        return True


async def call(flow, tmp_path, script, recogniser):
    record_dir = tmp_path / "speech"
    speech = SpeechScriptSettings(lambda: recogniser, record_dir=str(record_dir))
    agi = FastAgiServer("127.0.0.1", 0, build_router(OpenDirectory(), speech=speech,
                                                     clock=lambda: datetime(2026, 12, 7, 4, tzinfo=timezone.utc)))
    await agi.start()
    try:
        out = tmp_path / "dialplan"
        render_dialplan(flow, out_dir=out, agi_host="127.0.0.1", agi_port=agi.bound_port, speech=True)
        ended = []
        tracker = CallTracker(on_event=lambda e: ended.append(e) if isinstance(e, CallEnded) else None)
        async with PbxSimulator(agi_address=("127.0.0.1", agi.bound_port),
                                dialplan=(out / "extensions.conf").read_text(encoding="utf-8"),
                                queues=(out / "queues.conf").read_text(encoding="utf-8"),
                                speed=60, inbound_context="hl12319-entry") as sim:
            sim.pbx.listeners.append(lambda cls, msg: tracker.feed(msg))
            for d in flow.districts:
                sim.add_endpoint(d.number, Endpoint("answer", answer_after=1, talk_time=5))
            sim.add_agent("agents", "agent-1001", Endpoint("answer", answer_after=1, talk_time=5),
                          member_name="坐席1001")
            handle = await sim.place_call(caller="13904760000", script=script)
            await handle.wait_ended(timeout=60)
    finally:
        await agi.stop()
    assert not list(record_dir.glob("*")), "recordings are deleted once recognised"
    return ended[0].snapshot


def speech_steps(snap):
    return [(s.menu, s.value) for s in snap.ivr_path if s.kind == "speech"]


def choices(snap):
    return [(s.menu, s.value) for s in snap.ivr_path if s.kind == "choice"]


async def test_two_spoken_keywords_reach_the_district_line(korean_flow, recogniser, tmp_path):
    # 서울 = main menu key 2 (the district menu), 사람 = district menu key 4 (喀喇沁旗)
    script = CallerScript().say(synthesise("서울", tmp_path / "a.wav")) \
        .say(synthesise("사람", tmp_path / "b.wav")).wait(60).hangup()
    snap = await call(korean_flow, tmp_path, script, recogniser)
    assert speech_steps(snap) == [("hl12319-menu-main", "서울"), ("hl12319-menu-districts", "사람")]
    assert choices(snap) == [("hl12319-menu-main", "2"), ("hl12319-menu-districts", "4")]
    assert snap.variables["HOTLINE_SPEECH_RESULT"] == "matched"
    assert [t.target for t in snap.transfers] == ["district:150428"]
    assert snap.disposition.value == "transferred"


async def test_asking_for_an_agent_by_voice_joins_the_agent_queue(korean_flow, recogniser, tmp_path):
    script = CallerScript().say(synthesise("상담원", tmp_path / "a.wav")).wait(30).hangup()
    snap = await call(korean_flow, tmp_path, script, recogniser)
    assert choices(snap) == [("hl12319-menu-main", "0")]
    assert snap.queue == "agents"


async def test_an_unknown_word_falls_back_to_a_key(korean_flow, recogniser, tmp_path):
    script = CallerScript().say(synthesise("감사합니다", tmp_path / "a.wav")) \
        .until_app("Background").until_app("WaitExten").press("0").wait(30).hangup()
    snap = await call(korean_flow, tmp_path, script, recogniser)
    assert snap.variables["HOTLINE_SPEECH_RESULT"] == "no_match"
    assert speech_steps(snap) == [("hl12319-menu-main", "-")]
    assert choices(snap) == [("hl12319-menu-main", "0")]
    assert snap.queue == "agents"


async def test_noise_falls_back_to_a_key(korean_flow, recogniser, tmp_path):
    noise = sox(["synth", "2", "pinknoise", "vol", "0.3"], tmp_path / "noise.wav")
    script = CallerScript().say(noise).until_app("Background").until_app("WaitExten").press("0").wait(30).hangup()
    snap = await call(korean_flow, tmp_path, script, recogniser)
    assert snap.variables["HOTLINE_SPEECH_RESULT"] == "noise"
    assert choices(snap) == [("hl12319-menu-main", "0")]


async def test_silence_is_the_menus_timeout(korean_flow, recogniser, tmp_path):
    quiet = sox(["trim", "0", "2"], tmp_path / "quiet.wav")
    script = CallerScript().say(quiet).say(synthesise("상담원", tmp_path / "a.wav")).wait(60).hangup()
    snap = await call(korean_flow, tmp_path, script, recogniser)
    kinds = [(s.menu, s.kind) for s in snap.ivr_path if s.kind in ("timeout", "choice")]
    assert kinds == [("hl12319-menu-main", "timeout"), ("hl12319-menu-main", "choice")]
    assert snap.queue == "agents"


async def test_a_key_pressed_while_listening_is_a_key(korean_flow, recogniser, tmp_path):
    script = CallerScript().until_app("AGI").wait(1).press("2").until_app("AGI").wait(1).press("1").wait(60).hangup()
    snap = await call(korean_flow, tmp_path, script, recogniser)
    assert choices(snap) == [("hl12319-menu-main", "2"), ("hl12319-menu-districts", "1")]
    assert speech_steps(snap) == []
    assert [t.target for t in snap.transfers] == ["district:150402"]


async def test_without_a_recogniser_the_menus_work_by_keys(korean_flow, tmp_path):
    script = CallerScript().until_app("WaitExten").press("0").wait(30).hangup()
    snap = await call(korean_flow, tmp_path, script, None)
    assert snap.variables["HOTLINE_SPEECH_RESULT"] == "off"
    assert choices(snap) == [("hl12319-menu-main", "0")]
