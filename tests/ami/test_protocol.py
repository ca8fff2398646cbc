"""AmiParser / parse_stream / encode_action against real Asterisk 20 bytes."""

from __future__ import annotations

import logging
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.ami.errors import ProtocolError
from ivr.ami.messages import Message
from ivr.ami.protocol import AmiParser, encode_action, parse_stream

from ami_fixtures import AMI_FIXTURES, FIXTURES, fixture_bytes

FIXTURE_IDS = [p.name for p in AMI_FIXTURES]
FIXTURE_DATA = {p.name: p.read_bytes() for p in AMI_FIXTURES}


def feed_chunks(data: bytes, cuts: list[int], **kw) -> tuple[AmiParser, list[Message]]:
    parser = AmiParser(**kw)
    out: list[Message] = []
    prev = 0
    for cut in sorted(set(cuts)) + [len(data)]:
        out.extend(parser.feed(data[prev:cut]))
        prev = cut
    return parser, out


def independent_block_count(data: bytes) -> int:
    """Count blank-line-terminated blocks without using the parser."""
    text = data.decode("utf-8")
    # the banner is a single line glued to the first message
    assert text.startswith("Asterisk Call Manager/")
    text = text.split("\r\n", 1)[1]
    blocks = [b for b in text.split("\r\n\r\n") if b.strip()]
    assert text.endswith("\r\n\r\n")
    return len(blocks)


def test_fixtures_present():
    assert len(AMI_FIXTURES) >= 15, FIXTURES


@pytest.mark.parametrize("name", FIXTURE_IDS)
def test_fixture_counts_match_independent_block_count(name):
    data = FIXTURE_DATA[name]
    parser = AmiParser()
    msgs = parser.feed(data)
    assert parser.banner == "Asterisk Call Manager/9.0.0"
    assert parser.banner_version == "9.0.0"
    assert len(msgs) == independent_block_count(data)
    assert parser.dropped == 0 and parser.malformed_lines == 0
    assert not parser.pending
    # every header line of the block is kept, in order
    text = data.decode().split("\r\n", 1)[1]
    blocks = [b for b in text.split("\r\n\r\n") if b.strip()]
    for msg, block in zip(msgs, blocks, strict=True):
        assert len(msg.headers) == len(block.split("\r\n"))
        assert msg.kind in ("response", "event")


@pytest.mark.parametrize("name", FIXTURE_IDS)
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fixture_parses_identically_under_any_chunking(name, data):
    raw = FIXTURE_DATA[name]
    expected = parse_stream(raw)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=60), label="cuts")
    _, got = feed_chunks(raw, cuts)
    assert got == expected


@pytest.mark.parametrize("name", FIXTURE_IDS)
def test_fixture_byte_by_byte_and_small_random_chunks(name):
    raw = FIXTURE_DATA[name]
    expected = parse_stream(raw)
    parser = AmiParser()
    got = [m for i in range(len(raw)) for m in parser.feed(raw[i : i + 1])]
    assert got == expected
    rng = random.Random(name)
    cuts = []
    pos = 0
    while pos < len(raw):
        pos += rng.randint(1, 7)
        cuts.append(pos)
    assert feed_chunks(raw, cuts)[1] == expected


def test_lf_only_stream_equals_crlf_stream():
    raw = FIXTURE_DATA["06_queuestatus_and_queue_call.txt"]
    assert parse_stream(raw.replace(b"\r\n", b"\n")) == parse_stream(raw)


def test_command_output_is_repeated_output_headers_in_order():
    msgs = parse_stream(fixture_bytes("07_command_core_show_channels.txt"))
    by_id = {m.action_id: m for m in msgs}
    show = by_id["command-2"]
    out = show.getall("Output")
    assert len(out) == 6
    assert out[0].startswith("Channel ") and out[0].endswith(" ")  # trailing blanks kept
    assert out[-3:] == ["2 active channels", "1 active call", "20 calls processed"]
    err = by_id["command-5"]
    assert err.name == "Error"
    assert err["Message"] == "Command output follows"
    assert err.getall("Output")[0].startswith("No such command 'core show nosuchthing'")


def test_repeated_variable_headers_status_and_sent_actions():
    msgs = parse_stream(fixture_bytes("05_coreshowchannels_status.txt"))
    status = [m for m in msgs if m.name == "Status" and m.action_id == "status-6"]
    assert len(status) == 1
    assert status[0].getall("Variable") == ["CALLERID(num)=0901000002", "CDR(userfield)="]
    assert status[0].variables("Variable") == {"CALLERID(num)": "0901000002", "CDR(userfield)": ""}
    sent = parse_stream(fixture_bytes("03_originate_response.sent"))
    orig = next(m for m in sent if m.action_id == "orig-district-1")
    assert orig.kind == "action"
    assert orig.getall("Variable") == ["CALL_KIND=district", "TICKET=42"]


def test_chanvariable_headers_kept_in_order():
    raw = (
        b"Event: Newchannel\r\nChannel: SIP/a-1\r\nChanVariable: CASE_ID=42\r\n"
        b"ChanVariable: HOTLINE_DISTRICT=\xe7\xba\xa2\xe5\xb1\xb1\xe5\x8c\xba\r\n"
        b"ChanVariable: IVR_PATH=\r\nUniqueid: u.1\r\n\r\n"
    )
    (msg,) = parse_stream(raw, expect_banner=False)
    assert msg.getall("ChanVariable") == ["CASE_ID=42", "HOTLINE_DISTRICT=红山区", "IVR_PATH="]
    assert msg.variables() == {"CASE_ID": "42", "HOTLINE_DISTRICT": "红山区", "IVR_PATH": ""}
    assert [k for k, _ in msg.headers] == ["Event", "Channel", "ChanVariable", "ChanVariable", "ChanVariable", "Uniqueid"]


def test_originate_response_is_an_event_carrying_response():
    msgs = parse_stream(fixture_bytes("03_originate_response.txt"))
    orr = [m for m in msgs if m.get("Event") == "OriginateResponse"]
    assert orr, "fixture has OriginateResponse events"
    first = orr[0]
    assert first.kind == "event" and first.is_event and not first.is_response
    assert first.name == "OriginateResponse"
    assert first["Response"] == "Success" and first["Reason"] == "4"
    assert first.action_id == "orig-district-1"


def test_empty_values_with_and_without_space():
    (msg,) = parse_stream(b"Event: Cdr\r\nAccountCode: \r\nConnectedLineName:\r\nUserField: \r\n\r\n", expect_banner=False)
    assert msg.headers == [("Event", "Cdr"), ("AccountCode", ""), ("ConnectedLineName", ""), ("UserField", "")]


def test_value_with_colons_and_leading_indent():
    (msg,) = parse_stream(b"Event: X\r\nRequestType: Action: Foo\r\nOutput:   indented\r\nK:v\r\n\r\n", expect_banner=False)
    assert msg["RequestType"] == "Action: Foo"
    assert msg["Output"] == "  indented"
    assert msg["K"] == "v"


@pytest.mark.parametrize("cut", range(1, 6))
def test_utf8_split_inside_multibyte_character(cut):
    name = "张三".encode()  # 6 bytes
    raw = b"Event: Newchannel\r\nCallerIDName: " + name + b"\r\n\r\n"
    split_at = raw.index(name) + cut
    p = AmiParser(expect_banner=False)
    first = p.feed(raw[:split_at])
    (msg,) = p.feed(raw[split_at:])
    assert first == []
    assert msg["CallerIDName"] == "张三"


@pytest.mark.parametrize("cut", [1, 2])
def test_crlf_split_between_reads(cut):
    raw = b"Response: Success\r\nActionID: a\r\n\r\n"
    pos = raw.index(b"\r\n\r\n") + cut
    p = AmiParser(expect_banner=False)
    msgs = p.feed(raw[:pos]) + p.feed(raw[pos:])
    assert msgs == [Message([("Response", "Success"), ("ActionID", "a")])]


def test_invalid_utf8_replaced_not_raised():
    (msg,) = parse_stream(b"Event: X\r\nCallerIDName: \xff\xfeab\xe5\r\n\r\n", expect_banner=False)
    assert msg["CallerIDName"] == "\ufffd\ufffdab\ufffd"


def test_banner_only_when_it_looks_like_one():
    p = AmiParser()
    (msg,) = p.feed(b"Response: Success\r\nActionID: 1\r\n\r\n")
    assert p.banner is None and msg.action_id == "1"
    p2 = AmiParser()
    assert p2.feed(b"Asterisk Call Manager/") == [] and p2.banner is None
    p2.feed(b"2.10.6\r\n")
    assert p2.banner_version == "2.10.6"


def test_lines_without_colon_are_skipped_and_counted(caplog):
    p = AmiParser(expect_banner=False)
    with caplog.at_level(logging.WARNING):
        (msg,) = p.feed(b"Event: X\r\nthis is not a header\r\nA: 1\r\n\r\n")
    assert msg.headers == [("Event", "X"), ("A", "1")]
    assert p.malformed_lines == 1
    assert "not 'Key: value'" in caplog.text


def test_multiple_blank_lines_between_messages():
    msgs = parse_stream(b"\r\n\r\nEvent: A\r\n\r\n\r\n\r\nEvent: B\r\n\r\n", expect_banner=False)
    assert [m.name for m in msgs] == ["A", "B"]


@given(st.binary(max_size=4000))
@settings(max_examples=300, deadline=None, database=None)
def test_garbage_never_crashes(blob):
    p = AmiParser(max_line=256, max_message=2048)
    msgs = p.feed(blob)
    for m in msgs:
        assert isinstance(m, Message)
    # the parser still works afterwards
    tail = p.feed(b"\r\n\r\nEvent: Alive\r\nK: v\r\n\r\n")
    assert any(m.get("Event") == "Alive" for m in tail)


@given(st.lists(st.sampled_from([b"Event: A", b"K: v", b"", b"\xff\xfe", b"Response: Follows", b"--END COMMAND--", b"x" * 300, b"junk"]), max_size=60), st.data())
@settings(max_examples=200, deadline=None, database=None)
def test_structured_garbage_chunking_invariant(lines, data):
    raw = b"\r\n".join(lines) + b"\r\n"
    whole = AmiParser(max_line=256, max_message=1024, expect_banner=False).feed(raw)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=30))
    _, chunked = feed_chunks(raw, cuts, max_line=256, max_message=1024, expect_banner=False)
    assert chunked == whole


def test_overlong_line_dropped_then_resync(caplog):
    p = AmiParser(max_line=100)
    with caplog.at_level(logging.ERROR):
        msgs = p.feed(b"Event: Big\r\nHuge: " + b"x" * 500 + b"\r\nMore: 1\r\n\r\nEvent: Next\r\nA: b\r\n\r\n")
    assert [m.name for m in msgs] == ["Next"]
    assert p.dropped == 1
    assert "dropping message" in caplog.text


def test_overlong_line_without_newline_does_not_accumulate():
    p = AmiParser(max_line=1000)
    p.feed(b"Event: Big\r\nHuge: ")
    for _ in range(200):
        assert p.feed(b"y" * 4096) == []
        assert len(p._buf) <= 1000 + 4096
    msgs = p.feed(b"\r\nTail: 1\r\n\r\nEvent: After\r\n\r\n")
    assert [m.name for m in msgs] == ["After"]
    assert p.dropped == 1


def test_overlong_line_tail_ending_in_cr_is_not_a_blank_line():
    p = AmiParser(max_line=50)
    p.feed(b"Event: Big\r\nHuge: " + b"z" * 80 + b"\r")
    msgs = p.feed(b"\nStill: big\r\n\r\nEvent: Ok\r\n\r\n")
    assert [m.name for m in msgs] == ["Ok"]


def test_oversized_message_dropped_then_resync():
    p = AmiParser(max_line=100, max_message=500)
    big = b"Event: Flood\r\n" + b"".join(b"H%d: %s\r\n" % (i, b"v" * 40) for i in range(50)) + b"\r\n"
    msgs = p.feed(big + b"Event: Small\r\n\r\n")
    assert [m.name for m in msgs] == ["Small"]
    assert p.dropped == 1


def test_legacy_follows_command_output():
    raw = (
        b"Asterisk Call Manager/2.10.6\r\n"
        b"Response: Follows\r\nPrivilege: Command\r\nActionID: cmd-1\r\n"
        b"Channel              Location\r\nKey: looks like a header\r\n\r\n"
        b"2 active channels\n--END COMMAND--\r\n\r\n"
        b"Response: Success\r\nActionID: ping-2\r\nPing: Pong\r\n\r\n"
    )
    expected_out = ["Channel              Location", "Key: looks like a header", "", "2 active channels"]
    for cuts in ([], [5, 70, 71, 120], list(range(len(raw)))):
        _, msgs = feed_chunks(raw, cuts)
        assert len(msgs) == 2
        cmd, ping = msgs
        assert cmd.name == "Follows" and cmd.action_id == "cmd-1" and cmd["Privilege"] == "Command"
        assert cmd.getall("Output") == expected_out
        assert ping.action_id == "ping-2"


def test_legacy_follows_marker_glued_to_last_line():
    raw = b"Response: Follows\r\nActionID: c\r\nlast line--END COMMAND--\r\n\r\n"
    (msg,) = parse_stream(raw, expect_banner=False)
    assert msg.getall("Output") == ["last line"]


def test_reset_forgets_partial_state():
    p = AmiParser()
    p.feed(b"Asterisk Call Manager/9.0.0\r\nEvent: Half\r\nA: ")
    assert p.pending
    p.reset()
    assert not p.pending and p.banner is None
    p.feed(b"Asterisk Call Manager/9.0.0\r\n")
    assert p.banner_version == "9.0.0"


def test_invalid_limits_rejected():
    with pytest.raises(ValueError):
        AmiParser(max_line=0)


# -- encode_action ------------------------------------------------------------
def test_encode_action_roundtrip_with_repeated_headers():
    raw = encode_action(
        "Originate",
        [("Channel", "Local/100@district-lines"), ("Variable", "A=1")],
        Variable=["B=2", "C=张"],
        Async=True,
        Timeout=30000,
        Account=None,
    )
    assert raw.endswith(b"\r\n\r\n")
    (msg,) = parse_stream(raw, expect_banner=False)
    assert msg.kind == "action" and msg.name == "Originate"
    assert msg.getall("Variable") == ["A=1", "B=2", "C=张"]
    assert msg["Async"] == "true" and msg["Timeout"] == "30000"
    assert "Account" not in msg


def test_encode_action_dict_value_becomes_variables():
    (msg,) = parse_stream(encode_action("Originate", Variable={"CASE_ID": "7", "X": "y"}), expect_banner=False)
    assert msg.getall("Variable") == ["CASE_ID=7", "X=y"]


def test_encode_matches_fixture_bytes():
    sent = fixture_bytes("00_login_ping_logoff.sent")
    first = sent.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    (msg,) = parse_stream(first, expect_banner=False)
    assert encode_action("Login", msg.headers[1:]) == first


@pytest.mark.parametrize(
    "kwargs",
    [
        {"Channel": "SIP/a\r\nAction: Hangup"},
        {"Channel": "x\ny"},
        {"Bad:Key": "v"},
        {" Lead": "v"},
        {"Action": "Again"},
        {"Data": "x" * 1100},
        {"Variable": [f"V{i}=1" for i in range(200)]},
        {"Obj": object()},
    ],
)
def test_encode_action_rejects_bad_input(kwargs):
    with pytest.raises(ProtocolError):
        encode_action("Originate", **kwargs)


def test_encode_action_rejects_empty_name():
    with pytest.raises(ProtocolError):
        encode_action("  ")
    with pytest.raises(ValueError):  # ProtocolError is also a ValueError
        encode_action("")

