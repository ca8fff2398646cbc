"""Wire format without I/O: environment block, reply lines, quoting."""

from __future__ import annotations

import random

import pytest
from agi_peer import FIXTURES, load_fixture

from ivr.agi import AgiArgumentError, AgiEnvironment, AgiProtocolError, ReplyAssembler, parse_response
from ivr.agi.protocol import MAX_COMMAND_BYTES, encode_command, encode_environment, quote, split_args, word

# ------------------------------------------------------------------ environment


def test_environment_of_real_hangup_fixture():
    env = AgiEnvironment.parse((FIXTURES / "agi_hangup-test_1.txt").read_bytes())
    assert env.script == "hangup-test"
    assert env.channel == "Local/s@ivr-12319-00000015;2"
    assert env.uniqueid == "hotline-test-1795799350.43"
    assert env.calleridname == "AGI Hangup"
    assert env.type == "Local" and env.language == "en" and env.version == "20.20.1"
    assert env.threadid == "140151061100224"
    assert env.args == ("0905000006",)
    # replies after the blank line are not part of the environment
    assert "200 result=0" not in "".join(env.raw.values())


def test_query_string_and_path_route_on_script_name():
    block = encode_environment(
        {
            "network": "yes",
            "network_script": "hotline/ivr?district=150402&lang=zh&lang=en&empty=",
            "request": "agi://app:4573/hotline/ivr?district=150402&lang=zh&lang=en&empty=",
        }
    )
    env = AgiEnvironment.parse(block)
    assert env.script == "hotline/ivr"
    assert env.network_script.startswith("hotline/ivr?")
    assert env.query["district"] == "150402"
    assert env.query["empty"] == ""
    assert ("lang", "zh") in env.query_items and ("lang", "en") in env.query_items


def test_no_script_and_unknown_sentinels():
    env = AgiEnvironment.parse("agi_network: yes\nagi_request: agi://h\nagi_callerid: unknown\nagi_dnid: 12319\n\n")
    assert env.script == "" and env.query == {}
    assert env.callerid is None and env.dnid == "12319"
    assert env.priority is None


def test_args_are_ordered_numerically_and_values_kept_raw():
    variables = {"request": "agi://h/x", "calleridname": "张三", "accountcode": ""}
    args = [f"a{n}" for n in range(1, 13)] + ["含: 冒号 和 空格"]
    env = AgiEnvironment.parse(encode_environment(variables, args))
    assert env.args == tuple(args)  # agi_arg_10 comes after agi_arg_9
    assert env.calleridname == "张三"
    assert env.accountcode == ""


def test_empty_value_without_trailing_blank_is_accepted():
    env = AgiEnvironment.parse("agi_request: agi://h/x\nagi_accountcode:\n\n")
    assert env.accountcode == ""


@pytest.mark.parametrize(
    "block",
    [
        "GET / HTTP/1.1\n\n",
        "agi_request: agi://h/x\nthis is not a variable\n\n",
        "agi_request: agi://h/x\nfoo: bar\n\n",
        "agi_channel: SIP/x\n\n",  # no agi_request / agi_network
    ],
)
def test_bad_environment_is_a_protocol_error(block):
    with pytest.raises(AgiProtocolError):
        AgiEnvironment.parse(block)


# ------------------------------------------------------------------ replies


@pytest.mark.parametrize(
    "line, result, text, data, endpos",
    [
        ("200 result=0", 0, "0", None, None),
        ("200 result=-1", -1, "-1", None, None),
        ("200 result=1 (Local/s@ivr-12319-00000014;2)", 1, "1", "Local/s@ivr-12319-00000014;2", None),
        ("200 result=0 endpos=8000", 0, "0", None, 8000),
        ("200 result= (timeout)", None, "", "timeout", None),
        ("200 result=0123 (timeout)", 123, "0123", "timeout", None),
        ("200 result=55", 55, "55", None, None),
        ("200 result=49 (dtmf) endpos=12000", 49, "49", "dtmf", 12000),
        ("200 result=1 ()", 1, "1", "", None),
        ("200 result=1 (a (nested) value) with) endpos)", 1, "1", "a (nested) value) with) endpos", None),
        ("200 result=1 (值 含空格)", 1, "1", "值 含空格", None),
        ("200 result=12#", None, "12#", None, None),
    ],
)
def test_parse_200_replies(line, result, text, data, endpos):
    r = parse_response([line])
    assert (r.code, r.result, r.result_text, r.data, r.endpos) == (200, result, text, data, endpos)
    assert r.ok and r.lines == (line,)


def test_parse_extra_fields():
    r = parse_response(["200 result=1 (speech) endpos=0 results=1"])
    assert r.data == "speech" and r.endpos == 0 and r.fields == {"results": "1"}


@pytest.mark.parametrize(
    "line, code",
    [
        ("510 Invalid or unknown command", 510),
        ("511 Command Not Permitted on a dead channel or intercept routine", 511),
        ("520 Invalid command syntax.  Proper usage not available.", 520),
    ],
)
def test_parse_error_replies(line, code):
    r = parse_response([line])
    assert r.code == code and not r.ok and r.text == line[4:] and r.result is None


@pytest.mark.parametrize("line", ["HELLO", "200 noresult", "20 result=1", "200-result=1", ""])
def test_bad_reply_line_is_a_protocol_error(line):
    with pytest.raises(AgiProtocolError):
        parse_response([line])


def test_assembler_on_the_real_ivr_fixture():
    env, units, sent = load_fixture("agi_ivr_1")
    text = (FIXTURES / "agi_ivr_1.txt").read_text().partition("\n\n")[2]
    asm = ReplyAssembler()
    replies = [r for r in (asm.feed(line) for line in text.splitlines()) if r is not None]
    assert len(replies) == len(sent.splitlines()) == 14
    assert [r.code for r in replies] == [200] * 11 + [510, 520, 200]
    usage = replies[12]
    assert usage.lines[0] == "520-Invalid command syntax.  Proper usage follows:"
    assert usage.lines[-1] == "520 End of proper usage."
    assert len(usage.lines) == 4
    assert asm.hangup_seen is False and not asm.in_progress


def test_assembler_hangup_line_is_out_of_band():
    text = (FIXTURES / "agi_hangup-test_1.txt").read_text().partition("\n\n")[2]
    asm = ReplyAssembler()
    out = []
    for line in text.splitlines():
        r = asm.feed(line)
        out.append(None if r is None else r.result)
    assert out == [0, -1, None, 0]
    assert asm.hangup_seen is True


def test_assembler_skips_trying_and_bounds_multiline():
    asm = ReplyAssembler(max_lines=5)
    assert asm.feed("100 result=0 Trying...") is None
    assert asm.feed("200 result=0").result == 0
    assert asm.feed("520-Invalid command syntax.  Proper usage follows:") is None
    for _ in range(4):  # 5 lines in total: still allowed
        assert asm.feed("usage line") is None
    with pytest.raises(AgiProtocolError):
        asm.feed("still usage")


# ------------------------------------------------------------------ quoting


@pytest.mark.parametrize(
    "value, expected",
    [
        ("yes", "yes"),
        ("", '""'),
        ("two words", '"two words"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\path", '"C:\\\\path"'),
        ("投诉 井盖缺失", '"投诉 井盖缺失"'),
        ("井盖", "井盖"),
        ("tab\there", '"tab\there"'),
    ],
)
def test_quote(value, expected):
    assert quote(value) == expected
    assert split_args(f"CMD {quote(value)} tail") == ["CMD", value, "tail"]


def test_quote_always():
    assert quote("1234", always=True) == '"1234"'
    assert quote("", always=True) == '""'


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "a\0b"])
def test_quote_rejects_line_breaks(bad):
    with pytest.raises(AgiArgumentError):
        quote(bad)
    with pytest.raises(AgiArgumentError):
        encode_command(f"VERBOSE {bad}")


def test_quote_rejects_non_strings():
    with pytest.raises(AgiArgumentError):
        quote(5)  # type: ignore[arg-type]


def test_quote_round_trips_through_asterisk_argument_splitting():
    rng = random.Random(12319)
    alphabet = 'ab "\\\t,:;()$\'{}井盖路灯'
    for _ in range(2000):
        values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(3)]
        line = "SET VARIABLE " + " ".join(quote(v) for v in values)
        assert split_args(line) == ["SET", "VARIABLE", *values]


def test_split_args_matches_the_fixture_exec_line():
    # Asterisk split the unquoted options at the blank: UserEvent got "Step: " empty.
    assert split_args("EXEC UserEvent AGIStep,Step: done") == ["EXEC", "UserEvent", "AGIStep,Step:", "done"]


def test_word_and_command_limits():
    assert word("CALLERID(num)") == "CALLERID(num)"
    for bad in ["", "two words", 'q"uote']:
        with pytest.raises(AgiArgumentError):
            word(bad)
    assert encode_command("VERBOSE \"井\" 1") == 'VERBOSE "井" 1\n'.encode()
    with pytest.raises(AgiArgumentError):
        encode_command("   ")
    with pytest.raises(AgiArgumentError):
        encode_command("VERBOSE " + "x" * MAX_COMMAND_BYTES)
    # the limit counts UTF-8 bytes, not characters
    with pytest.raises(AgiArgumentError):
        encode_command("VERBOSE " + "井" * (MAX_COMMAND_BYTES // 3))
