"""Dialplan as data: parsing extensions.conf, expressions, and the applications the hotline uses."""

from __future__ import annotations

import pytest

from ivr.simulator import CallerScript, PbxSimulator, default_dialplan
from ivr.simulator.conf import ConfError, Dialplan, parse_extensions_conf, parse_queues_conf, pattern_matches
from ivr.simulator.expressions import evaluate, split_args, substitute
from sim_driver import FIXTURES, AmiTap, free_port


def test_fixture_dialplan_parses_into_contexts_and_labels() -> None:
    dp = parse_extensions_conf((FIXTURES / "extensions.conf.used").read_text())
    assert dp.globals == {"IVR_USE_AGI": "yes", "IVR_AGI_URL": "agi://127.0.0.1:4573/ivr"}
    s = dp.find("ivr-12319", "s")
    assert [st.app for st in s.steps][:3] == ["NoOp", "Answer", "Set"]
    assert s.label("menu") == 10 and s.step(11).app == "WaitExten" and s.step(11).args == "5"
    assert dp.find("district-lines", "100").name == "_X."
    assert dp.find("district-lines", "operator").name == "operator"
    assert dp.find("queue-agents", "200").name == "_2XX"
    assert dp.find("queue-agents", "300") is None
    assert dp.find("nosuch", "s") is None
    assert parse_queues_conf((FIXTURES / "queues.conf.used").read_text())["test"].members[0].name == "Agent200"


def test_default_dialplan_is_the_fixture_dialplan() -> None:
    want = parse_extensions_conf((FIXTURES / "extensions.conf.used").read_text())
    assert default_dialplan() == want


@pytest.mark.parametrize(
    "pattern, exten, ok",
    [("_X.", "1", False), ("_X.", "12", True), ("_2XX", "200", True), ("_2XX", "300", False), ("_NXX", "199", False),
     ("_1[3-9]X", "150", True), ("_X!", "1", True), ("_X!", "", False), ("12319", "12319", True), ("12319", "1231", False)],
)
def test_pattern_matching(pattern: str, exten: str, ok: bool) -> None:
    assert pattern_matches(pattern, exten) is ok


def test_bad_conf_is_reported_with_line() -> None:
    with pytest.raises(ConfError, match="line 2"):
        parse_extensions_conf("[ctx]\nsame => n,NoOp()\n")


def test_dialplan_from_dict() -> None:
    dp = Dialplan.from_dict({"globals": {"A": "1"}, "contexts": {"c": {"s": ["Answer()", {"app": "Wait", "args": "1", "label": "w"}]}}})
    assert dp.find("c", "s").label("w") == 2 and dp.globals == {"A": "1"}


@pytest.mark.parametrize(
    "expr, value",
    [('"yes" != "yes"', "0"), ('"no" != "yes"', "1"), ("3 >= 1 & 3 <= 4", "1"), ("5 >= 1 & 5 <= 4", "0"),
     ("2+3*4", "14"), ("(2+3)*4", "20"), ("7 / 2", "3"), ("7 % 4", "3"), ("!0", "1"), ('"" = ""', "1"), ("", "")],
)
def test_expressions(expr: str, value: str) -> None:
    assert evaluate(expr) == value


def test_substitution_nested_and_substrings() -> None:
    vars_ = {"A": "hello", "B": "A", "N": "13800000000"}
    resolve = lambda name: vars_.get(name, "")  # noqa: E731
    assert substitute("${${B}} world", resolve) == "hello world"
    assert substitute("${N:0:3}-${N:-4}", resolve) == "138-0000"
    assert substitute('$["${A}" = "hello"]?x', resolve) == "1?x"
    assert substitute("${MISSING}|", resolve) == "|"
    assert substitute("${unterminated", resolve) == "${unterminated"
    assert split_args('a,"b,c",IF($[1]?x:y),d') == ["a", '"b,c"', "IF($[1]?x:y)", "d"]


READ_PLAN = """
[in]
exten => s,1,Answer()
 same => n,Read(CODE,custom/enter-code,4,,2,3)
 same => n,UserEvent(ReadDone,Code: ${CODE},Status: ${READSTATUS})
 same => n,Record(msg-${UNIQUEID}.wav,3,20,k)
 same => n,UserEvent(Recorded,File: ${RECORDED_FILE},Status: ${RECORD_STATUS})
 same => n,Set(GLOBAL(LAST)=${CODE})
 same => n,Hangup(21)
"""


async def test_read_record_and_hangup_cause() -> None:
    async with PbxSimulator(dialplan=READ_PLAN, inbound_context="in", speed=50, agi_address=("127.0.0.1", free_port())) as s:
        async with AmiTap(s.bound_port) as tap:
            call = await s.place_call("13800000009", "s", CallerScript().until_app("Read").wait(1.5).press("0427").until_app("Record").wait(1).press("#"))
            await call.wait_ended(15)
            done = await tap.wait_for(lambda m: m.get("UserEvent") == "ReadDone")
            assert (done.get("Code"), done.get("Status")) == ("0427", "OK")
            rec = await tap.wait_for(lambda m: m.get("UserEvent") == "Recorded")
            assert rec.get("Status") == "DTMF" and rec.get("File").startswith("msg-hotline-test-")
            hang = await tap.wait_for(lambda m: m.name == "Hangup" and m.get("Channel") == call.name)
            assert (hang.get("Cause"), hang.get("Cause-txt")) == ("21", "Call Rejected")
            got = await tap.action("Getvar", Variable="GLOBAL(LAST)")
            assert got.get("Value") == "0427"


async def test_invalid_digit_goes_to_i_and_back_to_menu() -> None:
    async with PbxSimulator(speed=50, agi_address=("127.0.0.1", free_port())) as s, AmiTap(s.bound_port) as tap:
        call = await s.place_call("13800000010", "12319", CallerScript().until_app("WaitExten").press("9").until_app("BackGround").until_app("WaitExten").press("3"))
        await call.wait_ended(15)
        inv = await tap.wait_for(lambda m: m.get("UserEvent") == "IVRInvalid")
        assert inv.get("Digit") == "9"
        choice = await tap.wait_for(lambda m: m.get("UserEvent") == "IVRChoice")
        assert choice.get("Digit") == "3"
        await tap.wait_for(lambda m: m.name == "Newexten" and m.get("Context") == "ivr-branch-info" and m.get("Application") == "Playback")


def _epoch(text: str, tz: str = "Asia/Shanghai") -> float:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


@pytest.mark.parametrize(
    "spec, when, ok",
    [
        ("08:00-20:00,*,*,*,Asia/Shanghai", "2026-11-27 08:00", True),
        ("08:00-20:00,*,*,*,Asia/Shanghai", "2026-11-27 20:00", True),
        ("08:00-20:00,*,*,*,Asia/Shanghai", "2026-11-27 20:01", False),
        ("08:00-20:00,*,*,*,Asia/Shanghai", "2026-11-27 07:59", False),
        ("08:30-17:30,mon-fri,*,*,Asia/Shanghai", "2026-11-28 10:00", False),  # Saturday
        ("08:30-17:30,mon-fri,*,*,Asia/Shanghai", "2026-11-27 10:00", True),  # Friday
        ("22:00-06:00,*,*,*,Asia/Shanghai", "2026-11-27 23:30", True),
        ("*,fri-mon,*,*,Asia/Shanghai", "2026-11-30 12:00", True),  # Monday, wrapped range
        ("*,*,1-15,jan&nov,Asia/Shanghai", "2026-11-27 12:00", False),
        ("*,*,20-31,jan&nov,Asia/Shanghai", "2026-11-27 12:00", True),
    ],
)
def test_time_conditions(spec: str, when: str, ok: bool) -> None:
    from ivr.simulator.timespec import matches

    assert matches(spec, _epoch(when)) is ok


def test_strftime_in_zone() -> None:
    from ivr.simulator.timespec import strftime

    assert strftime(f"{_epoch('2026-11-27 23:30')},Asia/Shanghai,%Y%m%d", 0) == "20261127"
    assert strftime(f"{_epoch('2026-11-27 23:30')},UTC,%Y%m%d %H", 0) == "20261127 15"


async def test_gotoiftime_strftime_and_channel_language_in_a_call() -> None:
    plan = """
[in]
exten => s,1,Set(CHANNEL(language)=zh)
 same => n,GotoIfTime(00:00-23:59,*,*,*,Asia/Shanghai?open:closed)
 same => n(open),UserEvent(Hours,State: open,Day: ${STRFTIME(${EPOCH},Asia/Shanghai,%Y)})
 same => n,Hangup()
 same => n(closed),UserEvent(Hours,State: closed)
"""
    async with PbxSimulator(dialplan=plan, inbound_context="in", speed=50, agi_address=("127.0.0.1", free_port())) as s:
        async with AmiTap(s.bound_port) as tap:
            call = await s.place_call("13800000011", "s")
            await call.wait_ended(5)
            ev = await tap.wait_for(lambda m: m.get("UserEvent") == "Hours")
    assert ev.get("State") == "open" and ev.get("Language") == "zh" and ev.get("Day").isdigit()


async def test_gosub_with_arguments_and_return_value() -> None:
    plan = """
[in]
exten => s,1,Set(ARG1=outer)
 same => n,Gosub(sub-tag,s,1(150402,红山区))
 same => n,UserEvent(AfterSub,Ret: ${GOSUB_RETVAL},Arg: ${ARG1})
 same => n,GosubIf($[1 = 0]?sub-tag,s,1(x):sub-tag,s,1(y,z))
 same => n,UserEvent(AfterSubIf,Ret: ${GOSUB_RETVAL})
 same => n,Hangup()
[sub-tag]
exten => s,1,UserEvent(InSub,A1: ${ARG1},A2: ${ARG2})
 same => n,Return(${ARG1}-done)
"""
    async with PbxSimulator(dialplan=plan, inbound_context="in", speed=50, agi_address=("127.0.0.1", free_port())) as s:
        async with AmiTap(s.bound_port) as tap:
            call = await s.place_call("13800000012", "s")
            await call.wait_ended(5)
            await tap.wait_for(lambda m: m.get("UserEvent") == "AfterSubIf")
    ins = [(m.get("A1"), m.get("A2")) for m in tap.events("UserEvent") if m.get("UserEvent") == "InSub"]
    assert ins == [("150402", "红山区"), ("y", "z")]
    after = next(m for m in tap.events("UserEvent") if m.get("UserEvent") == "AfterSub")
    assert (after.get("Ret"), after.get("Arg")) == ("150402-done", "outer")
    assert next(m for m in tap.events("UserEvent") if m.get("UserEvent") == "AfterSubIf").get("Ret") == "y-done"


async def test_dial_u_option_runs_a_subroutine_on_the_called_line() -> None:
    from ivr.simulator import Endpoint

    plan = """
[in]
exten => _X.,1,Answer()
 same => n,Dial(SIP/street${EXTEN},10,gU(sub-announce^${EXTEN}^12319-20261127-00042))
 same => n,UserEvent(AfterDial,Status: ${DIALSTATUS})
 same => n,Hangup()
[sub-announce]
exten => s,1,UserEvent(Announce,Line: ${ARG1},Ticket: ${ARG2})
 same => n,Playback(hl12319/transfer-notice)
 same => n,GotoIf($["${ARG1}" = "99"]?abort)
 same => n,Return()
 same => n(abort),Set(GOSUB_RESULT=ABORT)
 same => n,Return()
"""
    async with PbxSimulator(dialplan=plan, inbound_context="in", speed=50, agi_address=("127.0.0.1", free_port())) as s:
        s.add_endpoint("street55", Endpoint("answer", answer_after=1, talk_time=2))
        s.add_endpoint("street99", Endpoint("answer", answer_after=1, talk_time=2))
        async with AmiTap(s.bound_port) as tap:
            ok = await s.place_call("13800000013", "55")
            await ok.wait_ended(10)
            after = await tap.wait_for(lambda m: m.get("UserEvent") == "AfterDial")
            ann = await tap.wait_for(lambda m: m.get("UserEvent") == "Announce")
            assert after.get("Status") == "ANSWER"
            assert (ann.get("Line"), ann.get("Ticket")) == ("55", "12319-20261127-00042")
            assert ann.get("Channel").startswith("SIP/street55-")
            assert any(m.name == "BridgeEnter" and m.get("Channel") == ok.name for m in tap.events())
            aborted = await s.place_call("13800000014", "99")
            await aborted.wait_ended(10)
            await s.wait_idle(5)
            assert not any(m.name == "BridgeEnter" and m.get("Channel") == aborted.name for m in tap.events())
            assert not [m for m in tap.events("UserEvent") if m.get("UserEvent") == "AfterDial" and m.get("Channel") == aborted.name]


@pytest.mark.parametrize("when, state", [("2026-11-28 23:30", "closed"), ("2026-11-27 10:00", "open")])
async def test_start_time_puts_the_simulated_clock_at_a_chosen_moment(when: str, state: str) -> None:
    plan = """
[in]
exten => s,1,GotoIfTime(08:30-17:30,mon-fri,*,*,Asia/Shanghai?open:closed)
 same => n(open),UserEvent(Hours,State: open)
 same => n,Hangup()
 same => n(closed),UserEvent(Hours,State: closed)
"""
    async with PbxSimulator(dialplan=plan, inbound_context="in", speed=50, start_time=_epoch(when),
                            agi_address=("127.0.0.1", free_port())) as s, AmiTap(s.bound_port) as tap:
        call = await s.place_call("13800000040", "s")
        await call.wait_ended(5)
        ev = await tap.wait_for(lambda m: m.get("UserEvent") == "Hours")
    assert ev.get("State") == state
    uid_epoch = int(call.uniqueid.rsplit("-", 1)[1].split(".")[0])
    assert 0 <= uid_epoch - int(_epoch(when)) < 3600  # Uniqueids carry the simulated epoch
