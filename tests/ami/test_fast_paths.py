"""The bulk fast paths (whole-message parsing, batched routing and dispatch) behave
exactly like the line-by-line reference: same messages, same counters, same order."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.ami import protocol
from ivr.ami.client import AmiClient
from ivr.ami.protocol import AmiParser

from ami_fixtures import AMI_FIXTURES


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
