"""The fast paths (the C extension, whole-message parsing in Python, batched routing and
dispatch) behave exactly like the line-by-line reference: same messages, same counters,
same order. Every parser test runs twice: with the C extension and with the pure-Python
paths (what an install without a compiler runs)."""

from __future__ import annotations

import asyncio
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.ami import protocol
from ivr.ami.client import AmiClient
from ivr.ami.protocol import AmiParser

from ami_fixtures import AMI_FIXTURES

try:
    from ivr.ami import _speedups
except ImportError:  # reported by test_c_extension_is_built
    _speedups = None


def pytest_generate_tests(metafunc):
    if "parser_impl" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker
        impls = ["python"] if marker("python_paths") else ["c"] if marker("c_extension") else ["c", "python"]
        metafunc.parametrize("parser_impl", impls, indirect=True)


@pytest.fixture(autouse=True)
def parser_impl(request, monkeypatch):
    """``c``: the installed extension; ``python``: the pure-Python paths."""
    if request.param == "c":
        if _speedups is None:
            pytest.fail("ivr.ami._speedups is not built (install with a C compiler: ./scripts/test does)")
        monkeypatch.setattr(protocol, "_parse_run", _speedups.parse_run)
    else:
        monkeypatch.setattr(protocol, "_parse_run", None)
    return request.param


def whole(data: bytes, **kw) -> tuple[list, int, int]:
    p = AmiParser(**kw)
    out = p.feed(data)
    return [m.headers for m in out], p.malformed_lines, p.dropped


def byte_by_byte(data: bytes, **kw) -> tuple[list, int, int]:
    """Reference: one byte per feed never holds a whole message, so only the line path runs."""
    p = AmiParser(**kw)
    out = []
    for i in range(len(data)):
        out += p.feed(data[i : i + 1])
    return [m.headers for m in out], p.malformed_lines, p.dropped


EDGE_BLOCKS = [
    b"Event: A\r\nKey: v\r\n",
    b"Event: A\r\nK:v\r\nL:\r\nM: \r\nN:  two spaces\r\n",  # no space, empty, one kept space
    b"Event: A\r\nAppData: x: y: z\r\nTime: 12:00:00\r\n",  # ': ' inside values
    b"Event: A\r\nA:b: c\r\n",  # first ':' is not the ': '
    b"Event: A\r\n: no key\r\n",  # empty key
    b"Event: A\r\nFoo Bar: inner space\r\n",
    b"Event: A\r\n Lead: x\r\nTrail : y\r\n",  # whitespace around keys
    b"Event: A\r\nTab\tKey: x\r\n\x1cK: y\r\n" + "K\u3000: z\r\n".encode(),
    b"Event: A\r\n\xe5\xa7\x93\xe5\x90\x8d: \xe5\xbc\xa0\xe4\xb8\x89\r\n",  # non-ASCII key and value
    b"Event: A\r\nK: a\nb\r\nL: c\r\n",  # bare LF inside a value
    b"Event: A\r\nK: a\rb\r\nL: c\r\r\n",  # lone CRs
    b"Event: A\r\njunk\r\nK: v\r\n",  # malformed line
    b"junk\r\nResponse: Follows\r\nPrivilege: Command\r\n",  # Follows after a malformed line
    b"Event: A\r\nChannel\r\nAppData: Uniqueid: 5\r\n",  # would misalign a naive bulk split
    b"\r\n\r\nEvent: AfterBlanks\r\nK: v\r\n",
    b"Event: A\r\nUserField: \r\n",
    b"Event: A\r\nK: bad \xff\xfe utf8\r\nL: trunc \xe5\x8d\r\n",
    b"Response: Follows\r\nPrivilege: Command\r\nActionID: 1\r\nline one\r\n\r\nline: three\r\n--END COMMAND--\r\n",
    b"response: follows \r\nActionID: 2\r\nx--END COMMAND--\r\n",
    b"Response: Success\r\nActionID: 3\r\nMessage: ok\r\n",
]


@pytest.mark.parametrize("i", range(len(EDGE_BLOCKS)))
def test_edge_blocks_match_line_path(i):
    data = EDGE_BLOCKS[i] + b"\r\n" + b"Event: Next\r\nK: v\r\n\r\n"
    assert whole(data, expect_banner=False) == byte_by_byte(data, expect_banner=False)


def test_all_edge_blocks_in_one_stream_match_line_path():
    data = b"Asterisk Call Manager/9.0.0\r\n" + b"\r\n".join(EDGE_BLOCKS) + b"\r\n"
    assert whole(data) == byte_by_byte(data)


@pytest.mark.parametrize("path", AMI_FIXTURES, ids=[p.name for p in AMI_FIXTURES])
def test_fixture_matches_line_path(path):
    data = path.read_bytes()
    assert whole(data) == byte_by_byte(data)


def test_result_does_not_depend_on_the_known_key_cache(monkeypatch):
    data = b"".join(b + b"\r\n" for b in EDGE_BLOCKS)
    warm = whole(data, expect_banner=False)
    monkeypatch.setattr(protocol, "_KNOWN_KEYS", set())
    assert whole(data, expect_banner=False) == warm
    monkeypatch.setattr(protocol, "_KNOWN_KEYS_MAX", 0)
    monkeypatch.setattr(protocol, "_KNOWN_KEYS", set())
    assert whole(data, expect_banner=False) == warm


_LINE = st.one_of(
    st.sampled_from(
        [b"Event: A", b"K: v", b"K:v", b"K:", b"K: ", b": v", b"A:b: c", b"K: x: y", b"K y: v", b" K: v", b"K : v",
         b"K\t: v", b"junk", b"Channel", b"", b"K: a\nb", b"K: a\rb", b"Response: Follows", b"--END COMMAND--",
         b"\xe5\xbc\xa0: \xe4\xb8\x89", b"K: \xff", b"x" * 90]
    ),
    st.builds(lambda k, v: k + b": " + v, st.binary(max_size=6), st.binary(max_size=8)),
)


@given(st.lists(_LINE, max_size=40))
@settings(max_examples=300, deadline=None, database=None)
def test_random_lines_match_line_path(lines):
    data = b"\r\n".join(lines) + b"\r\n\r\n"
    kw = dict(max_line=64, max_message=512, expect_banner=False)
    assert whole(data, **kw) == byte_by_byte(data, **kw)


# -- bulk path: whole runs of messages per read (shapes learnt from the exact rule) ----------
import random


def chunked(data: bytes, sizes, **kw) -> tuple[list, int, int, bool]:
    p = AmiParser(**kw)
    out, pos, i = [], 0, 0
    while pos < len(data):
        step = sizes[i % len(sizes)]
        out += p.feed(data[pos : pos + step])
        pos += step
        i += 1
    return [m.headers for m in out], p.malformed_lines, p.dropped, p.pending


def twice(data: bytes, **kw) -> tuple[list, int, int]:
    """Feed ``data`` to a fresh parser once to learn its shapes, then return the second pass:
    the bulk path with every shape known."""
    whole(data, **kw)
    return whole(data, **kw)


@pytest.fixture
def no_shapes(monkeypatch):
    """An empty shape cache (it is process-wide and fills up as tests run)."""
    monkeypatch.setattr(protocol, "_SHAPES", {})
    monkeypatch.setattr(protocol, "_RESPONSE_SHAPES", set())


@pytest.mark.parametrize("path", AMI_FIXTURES, ids=[p.name for p in AMI_FIXTURES])
def test_fixture_random_chunkings_match_line_path(path):
    data = path.read_bytes()
    ref = byte_by_byte(data)
    rng = random.Random(path.name)
    for sizes in ([len(data)], [1 << 15], [4096, 17], [rng.randrange(1, 3000) for _ in range(50)], [rng.randrange(1, 200) for _ in range(50)]):
        headers, malformed, dropped, pending = chunked(data, sizes)
        assert (headers, malformed, dropped) == ref
        assert not pending


@pytest.mark.python_paths
def test_fixture_stream_with_cold_and_warm_shape_cache(no_shapes):
    data = b"".join(p.read_bytes() for p in AMI_FIXTURES)
    ref = byte_by_byte(data)
    assert whole(data) == ref  # cold: unknown shapes go through the exact rule (and teach it)
    assert protocol._SHAPES
    assert whole(data) == ref  # warm
    assert chunked(data, [1 << 15])[:3] == ref


def _newexten_events(n: int, tail: str) -> bytes:
    """``n`` Newexten events on distinct channels; ``tail``: the headers after ``Extension`` ({i} = index)."""
    return b"".join(
        (f"Event: Newexten\r\nPrivilege: dialplan,all\r\nChannel: SIP/100-{i:08x}\r\nExtension: 12319\r\n"
         + tail.format(i=i) + "\r\n").encode()
        for i in range(n)
    )


@pytest.mark.python_paths
def test_bulk_path_takes_known_shapes_without_the_per_line_rule(monkeypatch):
    events = _newexten_events(200, "Application: Playback\r\nAppData: hotline/welcome\r\nUniqueid: 1.{i}\r\n")
    ref = byte_by_byte(events, expect_banner=False)
    whole(events, expect_banner=False)  # learn the shape
    calls = []
    monkeypatch.setattr(protocol, "_block_headers", lambda text: calls.append(text))
    monkeypatch.setattr(AmiParser, "_line", lambda self, raw, out: calls.append(raw))
    assert chunked(events, [4096], expect_banner=False)[:3] == ref
    assert calls == []


@pytest.mark.python_paths
def test_shape_cache_bound(monkeypatch):
    data = b"".join(b + b"\r\n" for b in EDGE_BLOCKS)
    ref = byte_by_byte(data, expect_banner=False)
    monkeypatch.setattr(protocol, "_SHAPES", {})
    monkeypatch.setattr(protocol, "_RESPONSE_SHAPES", set())
    monkeypatch.setattr(protocol, "_SHAPES_MAX", 0)
    assert twice(data, expect_banner=False) == ref
    assert protocol._SHAPES == {}


# Blocks that a naive bulk split would get wrong, each after its shape is known.
BULK_TRAPS = [
    # a line without ": " and a value with two: the counts add up, the alignment does not
    (b"Event: A\r\nChannel: x\r\nUniqueid: 5\r\n", b"Event: A\r\nChannel\r\nUniqueid: 5: 6\r\n"),
    (b"Event: A\r\nK: v\r\nL: w\r\n", b"Event: A\r\nK: v: L\r\nw\r\n"),
    (b"Event: A\r\nK: v\r\nL: w\r\n", b"Event: A\r\nK:v\r\nL: w: x\r\n"),
    # a line starting with ': ' looks like a blank line once CRLF is replaced
    (b"Event: A\r\nK: v\r\n", b"Event: A\r\nK: v\r\n: x\r\n"),
    (b"Event: A\r\nK: v\r\n", b"Event: A\r\n: K: v\r\n"),
    # bare LF and lone CR (a bare LF after ': ' ends a line for the line path)
    (b"Event: A\r\nK: a\r\nL: v\r\nKa: b\r\n", b"Event: A\r\nK: a: \nL: v\r\nKa\rb\r\n"),
    (b"Event: A\r\nK: v\r\n", b"Event: A\r\nK: v\nK: w\r\n"),
    (b"Event: A\r\nK: v\r\n", b"Event: A\r\nK: v\rK: w\r\n"),
    # NUL (the line marker) in a value or a name
    (b"Event: A\r\nK: v\r\n", b"Event: A\r\nK: \x00v\r\n"),
    (b"Event: A\r\nK: v\r\nL: w\r\n", b"Event: A\r\nK: v\x00: \x00L: w\r\n"),
    # names of a known shape with a different case or surrounding space
    (b"Event: A\r\nK: v\r\n", b"event: A\r\nK : v\r\n"),
    # empty values, a value that is only ': ', an empty key
    (b"Event: A\r\nK: v\r\n", b"Event: A\r\nK: \r\n"),
    (b"Event: A\r\nK: v\r\n", b"Event: A\r\nK: : \r\n"),
    (b"Event: A\r\nK: v\r\n", b"Event: A\r\n: \r\n"),
    # legacy Follows after plain events of the same shape
    (b"Response: Success\r\nActionID: 1\r\n", b"Response: Follows\r\nActionID: 1\r\nout: line\r\n--END COMMAND--\r\n"),
    (b"Response: Success\r\nActionID: 1\r\n", b"RESPONSE:  follows \r\nActionID: 1\r\n--END COMMAND--\r\n"),
    # extra blank lines between messages
    (b"Event: A\r\nK: v\r\n", b"\r\n\r\nEvent: A\r\nK: v\r\n"),
    (b"Event: A\r\nK: v\r\n", b"\r\nEvent: A\r\nK: v\r\n"),
]


@pytest.mark.parametrize("i", range(len(BULK_TRAPS)))
def test_bulk_traps_match_line_path(i):
    teach, trap = BULK_TRAPS[i]
    plain = b"Event: Plain\r\nK: v\r\n\r\n"
    data = teach + b"\r\n" + plain * 3 + trap + b"\r\n" + plain * 3 + teach + b"\r\n"
    ref = byte_by_byte(data, expect_banner=False)
    assert twice(data, expect_banner=False) == ref
    for sizes in ([7], [64, 3], [len(teach) + 2]):
        assert chunked(data, sizes, expect_banner=False)[:3] == ref


def test_message_size_limit_counts_the_last_line_break():
    # the line path counts every line with its CRLF: a 99-byte message body is 101 bytes
    for size in (97, 98, 99, 100, 101):
        body = b"Event: A\r\nK: " + b"x" * (size - 13)
        data = body + b"\r\n\r\nEvent: B\r\nK: v\r\n\r\n"
        kw = dict(max_message=100, expect_banner=False)
        assert whole(data, **kw) == byte_by_byte(data, **kw)
        assert twice(data, **kw) == byte_by_byte(data, **kw)


def test_run_longer_than_the_limits_is_taken_in_pieces():
    msgs = b"".join(f"Event: E{i}\r\nK: {'v' * (i % 40)}\r\n\r\n".encode() for i in range(300))
    for kw in (dict(max_line=100, max_message=120), dict(max_line=1000, max_message=60), dict(max_line=30)):
        kw["expect_banner"] = False
        assert twice(msgs, **kw) == byte_by_byte(msgs, **kw)
        assert chunked(msgs, [5000], **kw)[:3] == byte_by_byte(msgs, **kw)


@pytest.mark.parametrize("cut", range(1, 12))
def test_utf8_name_split_across_reads_in_a_run(cut):
    name = "张三".encode()
    msg = b"Event: Newchannel\r\nCallerIDName: " + name + b"\r\n\r\n"
    data = b"Event: A\r\nK: v\r\n\r\n" + msg + msg
    at = len(b"Event: A\r\nK: v\r\n\r\n") + len(b"Event: Newchannel\r\nCallerIDName: ") + cut % 7
    p = AmiParser(expect_banner=False)
    out = p.feed(data[:at]) + p.feed(data[at:])
    assert [m.get("CallerIDName") for m in out] == [None, "张三", "张三"]


def test_lf_only_stream_with_a_warm_cache_and_small_reads():
    crlf = b"".join(p.read_bytes() for p in AMI_FIXTURES[:3])
    lf = crlf.replace(b"\r\n", b"\n")
    whole(crlf)  # shapes known: LF-only framing must still take the line path
    ref = byte_by_byte(lf)
    assert whole(lf) == ref
    assert chunked(lf, [1000, 7])[:3] == ref
    assert [h for h in ref[0]] == byte_by_byte(crlf)[0]


def test_many_responses_in_a_run_and_a_follows_among_them():
    ok = b"".join(f"Response: Success\r\nActionID: {i}\r\nPing: Pong\r\n\r\n".encode() for i in range(50))
    follows = b"Response: Follows\r\nActionID: 7\r\nPing: Pong\r\n--END COMMAND--\r\n\r\n"
    for data in (ok, ok + follows + ok, follows + ok):
        ref = byte_by_byte(data, expect_banner=False)
        assert twice(data, expect_banner=False) == ref
        assert chunked(data, [300], expect_banner=False)[:3] == ref


@pytest.mark.python_paths
def test_bulk_path_gives_up_for_the_rest_of_a_read_after_an_odd_message(monkeypatch):
    # a message the line path must take (here: a malformed line) stops the bulk run; retrying the
    # bulk path after each such message would rescan the rest of the read again and again
    msg = b"Event: Newexten\r\nChannel: SIP/1\r\njunk\r\nExten: 1\r\n\r\n"
    data = msg * 200
    ref = byte_by_byte(data, expect_banner=False)
    calls = []
    bulk_run = AmiParser._bulk_run

    def counting(self, *args):
        calls.append(1)
        return bulk_run(self, *args)

    monkeypatch.setattr(AmiParser, "_bulk_run", counting)
    assert whole(data, expect_banner=False) == ref
    assert len(calls) == 1


def test_partial_message_waits_in_the_buffer():
    p = AmiParser(expect_banner=False)
    assert [m.name for m in p.feed(b"Event: A\r\nK: v\r\n\r\nEvent: B\r\nK: ")] == ["A"]
    assert p.pending
    assert [m.headers for m in p.feed(b"w\r\n\r\n")] == [[("Event", "B"), ("K", "w")]]
    assert not p.pending


def test_legacy_follows_end_marker_without_blank_line_is_not_held_back():
    # Follows ends at --END COMMAND--; the blank line after it may come in a later read
    p = AmiParser(expect_banner=False)
    first = p.feed(b"Event: A\r\nK: v\r\n\r\nResponse: Follows\r\nActionID: 9\r\nline\r\n--END COMMAND--\r\n")
    assert [m.name for m in first] == ["A", "Follows"]
    assert first[1].getall("Output") == ["line"]


_BULK_LINE = st.one_of(
    st.sampled_from(
        [b"Event: A", b"Event: B", b"K: v", b"K: x: y", b"K:v", b"K:", b"K: ", b": v", b": ", b"Channel", b"",
         b"K: a\nb", b"K: a\rb", b"K: \x00", b"Response: Follows", b"response: success", b"--END COMMAND--",
         b"\xe5\xbc\xa0: \xe4\xb8\x89", b"K: \xff", b" K: v", b"K : v"]
    ),
    st.builds(lambda k, v: k + b": " + v, st.sampled_from([b"K", b"L", b"Event", b"A:b"]), st.binary(max_size=6)),
)


@given(st.lists(st.lists(_BULK_LINE, min_size=1, max_size=6), max_size=12), st.integers(1, 64))
@settings(max_examples=300, deadline=None, database=None)
def test_random_runs_match_line_path(blocks, step):
    data = b"".join(b"\r\n".join(lines) + b"\r\n\r\n" for lines in blocks)
    kw = dict(max_line=64, max_message=512, expect_banner=False)
    ref = byte_by_byte(data, **kw)
    assert twice(data, **kw) == ref
    assert chunked(data, [step, 97], **kw)[:3] == ref


# -- client: batched routing and dispatch ---------------------------------------------
async def _server(events: bytes):
    """Banner, accept the login, then send ``events`` in one write."""

    async def handle(reader, writer):
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += await reader.read(4096)
        aid = next(ln.split(b": ", 1)[1] for ln in buf.split(b"\r\n") if ln.lower().startswith(b"actionid:"))
        writer.write(b"Response: Success\r\nActionID: " + aid + b"\r\nMessage: Authentication accepted\r\n\r\n" + events)
        await writer.drain()
        try:
            await reader.read()
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_on_and_off_inside_one_batch_take_effect_from_the_next_event():
    names = ["First", "Second", "third", "Fourth", "Fifth"]
    events = b"".join(f"Event: {n}\r\nPrivilege: user,all\r\nSeq: {i}\r\n\r\n".encode() for i, n in enumerate(names))
    server = await _server(events)
    client = AmiClient("127.0.0.1", server.sockets[0].getsockname()[1], username="u", secret="s", ping_interval=None)
    seen: list[tuple[str, str]] = []
    done = asyncio.Event()

    def late(msg):
        seen.append(("late", msg.name))

    def first(msg):
        seen.append(("all", msg.name))
        if msg.name == "First":
            client.on("Third", late)  # registered mid-batch: applies to 'third' (case-insensitive)
            client.on("Fifth", late)
        if msg.name == "third":
            client.off("Fifth", late)  # removed mid-batch: 'Fifth' no longer reaches it
        if msg.name == "Second":
            raise RuntimeError("handler bug")  # isolated: the batch goes on
        if msg.name == "Fifth":
            done.set()

    client.on(None, first)
    await client.connect()
    try:
        await asyncio.wait_for(done.wait(), 5)
        assert seen == [("all", "First"), ("all", "Second"), ("late", "third"), ("all", "third"), ("all", "Fourth"), ("all", "Fifth")]
        assert client.stats["handler_errors"] == 1
        assert client.stats["events"] == 5
    finally:
        await client.close(logoff=False)
        server.close()
        await server.wait_closed()


# -- the C extension ----------------------------------------------------------------------
@pytest.mark.c_extension
def test_c_extension_is_built():
    # an install with a compiler (./scripts/test, CI, the docker image) must have it: without
    # it the parser is correct but 1.5-2 x slower (benchmarks/results/ami_ingest.md)
    assert _speedups is not None, "ivr.ami._speedups is missing: reinstall with a C compiler present"


@pytest.mark.c_extension
def test_protocol_uses_the_extension_when_built():
    import subprocess
    import sys

    code = "from ivr.ami import protocol, _speedups; print(protocol._parse_run is _speedups.parse_run)"

    def run(switch: str) -> str:
        env = dict(os.environ, IVR_AMI_PURE_PYTHON=switch)
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout

    assert run("") == run("0") == "True\n"
    assert run("1") == "False\n"  # the operators' switch: pure-Python paths only


@pytest.mark.c_extension
def test_c_path_takes_plain_messages_without_python_parsing(monkeypatch):
    events = _newexten_events(300, "Application: Set\r\nAppData: IVR_PATH=main: 1\r\nCallerIDName: \u5f20\u4e09\r\nK:\r\n")
    ref = byte_by_byte(events, expect_banner=False)
    calls = []
    for name in ("_fast_run", "_bulk_run", "_line"):
        monkeypatch.setattr(AmiParser, name, lambda self, *a, _n=name, **k: calls.append(_n))
    monkeypatch.setattr(protocol, "_block_headers", lambda text: calls.append(text))
    for sizes in ([len(events)], [4096], [1000, 37, 333]):
        assert chunked(events, sizes, expect_banner=False)[:3] == ref
    assert calls == []


@pytest.mark.c_extension
def test_c_path_hands_odd_messages_to_python_one_at_a_time(monkeypatch):
    odd = b"Event: Odd\r\nChannel: SIP/1\r\njunk\r\nExten: 1\r\n\r\n"  # malformed line: line path
    plain = b"Event: Plain\r\nChannel: SIP/2\r\n\r\n"
    data = (odd + plain * 3) * 50
    ref = byte_by_byte(data, expect_banner=False)
    taken_by_c = []
    real = _speedups.parse_run

    def counting(*args):
        new, found = real(*args)
        taken_by_c.extend(found)
        return new, found

    monkeypatch.setattr(protocol, "_parse_run", counting)
    assert whole(data, expect_banner=False) == ref
    assert len(taken_by_c) == 150  # every plain message, none of the odd ones
    assert {h[0][1] for h in taken_by_c} == {"Plain"}


@pytest.mark.c_extension
def test_c_path_names_are_shared_and_the_name_cache_is_bounded():
    # 3,000 distinct names (the cache keeps 512) and names longer than it stores
    long_name = "X" * 60
    data = b"".join(f"Event: E\r\nName{i}: {i}\r\n{long_name}: v\r\n\r\n".encode() for i in range(3000))
    ref = byte_by_byte(data, expect_banner=False)
    got = whole(data, expect_banner=False)
    assert got == ref
    p = AmiParser(expect_banner=False)
    a, b = p.feed(b"Event: Same\r\nChannel: x\r\n\r\nEvent: Same\r\nChannel: y\r\n\r\n")
    assert a.headers[1][0] is b.headers[1][0]  # one str per name


@pytest.mark.c_extension
def test_c_parse_run_contract():
    run = _speedups.parse_run
    data = b"\r\n\r\nEvent: A\r\nK: v\r\n\r\nEvent: B\r\nK: w\r\n\r\nEvent: C\r\nK: "
    # blank lines before a message are skipped; a message cut by `end` is left alone
    assert run(data, 0, len(data), 1000) == (40, [[("Event", "A"), ("K", "v")], [("Event", "B"), ("K", "w")]])
    assert run(data, 0, 39, 1000) == (22, [[("Event", "A"), ("K", "v")]])
    # the size limit counts from the first header line to the CRLF before the blank line
    assert run(b"Event: A\r\nK: v\r\n\r\n", 0, 18, 14) == (18, [[("Event", "A"), ("K", "v")]])
    assert run(b"Event: A\r\nK: v\r\n\r\n", 0, 18, 13) == (0, [])
    # what C leaves to Python: legacy Follows (any case, padded), odd names, bare LF, no colon
    for block in (b"Response: Follows", b"RESPONSE:  follows \t", b"Response: F\xc3\xb6llows", b"Foo Bar: x",
                  b"Event: A\nK: v", b"Event", b"\xe5\xa7\x93: v", b": v"):
        assert run(block + b"\r\n\r\n", 0, len(block) + 4, 1000) == (0, []), block
    # but a Response that is not Follows, and a Follows that is not the first header, are plain
    block = b"Response: Followsx\r\nK: Follows\r\n\r\n"
    assert run(block, 0, len(block), 1000)[1] == [[("Response", "Followsx"), ("K", "Follows")]]
    with pytest.raises(TypeError):
        run("text", 0, 4, 10)
