"""AMI framing: bytes from the socket -> :class:`Message` objects, and actions -> bytes.

The parser is incremental and independent of how the stream is chunked: it
buffers bytes, works on complete lines only and decodes each complete line as
UTF-8 with replacement, so a multi-byte character (``张三``) split across TCP
reads arrives intact and invalid bytes never raise.

Wire rules (see docs/telephony-research.md §1):
* the server's first line is the banner ``Asterisk Call Manager/<version>``
  with no blank line after it;
* a message is ``Key: value`` lines ended by a blank line; lines end in CRLF,
  a bare LF is tolerated;
* ``Key:`` without a space is an empty value; exactly one space after the colon
  is removed so indentation in ``Output:`` lines survives;
* headers repeat (``Output``, ``ChanVariable``, ``Variable``) and keep their order;
* legacy ``Response: Follows`` (Asterisk <= 13 Command) carries raw CLI text,
  possibly with blank lines, up to ``--END COMMAND--``; its lines become
  repeated ``Output`` headers, as in the modern format.

Memory is bounded: a line longer than ``max_line`` bytes or a message larger
than ``max_message`` bytes is dropped (logged, counted in ``dropped``), and the
parser resynchronises at the next blank line.

The line-by-line path (``_line``) is the reference for these rules. For speed,
the complete messages of each read are parsed in one go: by the C extension
``ivr.ami._speedups`` when the install compiled it (plain messages only; it hands
every other message to the Python paths), otherwise in bulk (``_bulk_run``: one
decode, C-level splits, header names from a cache of message shapes, an exactness
check that falls back per message); a read's unfinished last message waits in the
buffer. ``tests/ami/test_fast_paths.py`` checks every path, with and without the
extension, against byte-by-byte feeding, which only ever uses the line path.
"""

from __future__ import annotations

import itertools
import logging
import operator
import os
import re
from collections.abc import Iterable, Mapping

from ..log_limit import RepeatLimit
from .errors import ProtocolError
from .messages import Message

log = logging.getLogger(__name__)
# malformed input from a PBX is reported, but never floods the log
log.addFilter(RepeatLimit(burst=10, interval=60.0))

__all__ = [
    "AmiParser",
    "parse_stream",
    "encode_action",
    "END_COMMAND",
    "SERVER_MAX_LINE",
    "SERVER_MAX_HEADERS",
]

END_COMMAND = "--END COMMAND--"
_END_COMMAND_B = END_COMMAND.encode()
#: Asterisk's reader keeps 1024 bytes per action line (``char inbuf[1025]``) ...
SERVER_MAX_LINE = 1024
#: ... and at most 128 header lines per action (``AST_MAX_MANHEADERS``).
SERVER_MAX_HEADERS = 128

_BANNER_RE = re.compile(r"^[A-Za-z][\w .-]*/[\w.-]+$")
# Headers that may precede the raw body of a legacy ``Response: Follows``.
_FOLLOWS_HEADERS = frozenset({"privilege", "actionid", "message"})
# fast path helpers: ``map(_split_kv, lines, _SEP)`` is ``line.partition(": ")`` per line
_split_kv = str.partition
_SEP = itertools.repeat(": ")
_first = operator.itemgetter(0)
#: Header names already seen to be well-formed (non-empty, no ':', no surrounding
#: whitespace). Bounded: names come from the wire.
_KNOWN_KEYS: set[str] = set()
_KNOWN_KEYS_MAX = 4096


#: Bulk path (:meth:`AmiParser._bulk_run`): a message's "shape" is its header names, each
#: prefixed with the NUL line marker and joined with ':' (a character no name contains);
#: it maps to the tuple of names, shared by every message of that shape. Bounded (names
#: come from the wire); filled from messages the exact per-line rule has accepted.
_SHAPES: dict[str, tuple[str, ...]] = {}
_SHAPES_MAX = 2048
#: Shapes whose first name is ``Response`` in any case (a legacy ``Follows`` needs the line path).
_RESPONSE_SHAPES: set[str] = set()
_NAMES: dict[str, str] = {}  # one shared str object per header name
_even = operator.itemgetter(slice(0, None, 2))
_odd = operator.itemgetter(slice(1, None, 2))
_REPEAT_EMPTY = itertools.repeat(())

#: The C fast path (ivr/ami/_speedups.c), built by the install when a compiler is present.
#: ``IVR_AMI_PURE_PYTHON=1`` switches it off (same results, slower): a switch for operators
#: and for the benchmark's side-by-side run.
_parse_run = None
if os.environ.get("IVR_AMI_PURE_PYTHON", "") in ("", "0"):
    try:
        from ._speedups import parse_run as _parse_run
    except ImportError:  # pragma: no cover - depends on the build
        pass


def _learn_shape(headers: list[tuple[str, str]]) -> None:
    """Remember the shape of a message the exact per-line rule produced (:data:`_SHAPES`)."""
    shape = ":".join(["\x00" + key for key, _ in headers])
    if shape in _SHAPES or len(_SHAPES) >= _SHAPES_MAX or not headers:
        return
    for key, _ in headers:
        if not key or ":" in key or "\x00" in key or key != key.strip():
            return
    names = tuple(_NAMES.setdefault(key, key) if len(_NAMES) < 4 * _SHAPES_MAX else key for key, _ in headers)
    if names[0].lower() == "response":
        _RESPONSE_SHAPES.add(shape)  # first: a parser in another thread may see the shape at once
    _SHAPES[shape] = names


def _learn_keys(headers: list[tuple[str, str]]) -> bool:
    """True if every key is well-formed; remembers them (up to the bound)."""
    for key, _ in headers:
        if not key or ":" in key or key != key.strip():
            return False
    if len(_KNOWN_KEYS) < _KNOWN_KEYS_MAX:
        _KNOWN_KEYS.update(key for key, _ in headers)
    return True


class AmiParser:
    """Incremental AMI stream parser; one instance per TCP connection."""

    def __init__(
        self,
        *,
        max_line: int = 64 * 1024,
        max_message: int = 4 * 1024 * 1024,
        expect_banner: bool = True,
    ) -> None:
        if max_line <= 0 or max_message <= 0:
            raise ValueError("max_line and max_message must be positive")
        self.max_line = max_line
        self.max_message = max_message
        # the line path counts a message's bytes with the CRLF of its last line
        self._fast_limit = min(max_line, max_message - 2)
        #: The banner line (``Asterisk Call Manager/9.0.0``) once received.
        self.banner: str | None = None
        #: Messages dropped because they broke a size limit.
        self.dropped = 0
        #: Non-blank lines that were not ``Key: value`` and were skipped.
        self.malformed_lines = 0
        self._expect_banner = expect_banner
        self._buf = b""
        self._headers: list[tuple[str, str]] = []
        self._size = 0
        self._follows = False  # inside a legacy Response: Follows body
        self._follows_body = False  # a non-header line of that body was seen
        self._discarding = False  # skipping an oversized message until resync
        self._discard_follows = False  # ... and that message was a legacy Follows body
        self._mid_line = False  # bytes of an overlong line were thrown away
        self._bulk_ok = True  # set by _bulk_run: False when it refused or stopped early

    # -- public ---------------------------------------------------------------
    @property
    def banner_version(self) -> str | None:
        """The AMI protocol version from the banner (``9.0.0``), if any."""
        if self.banner and "/" in self.banner:
            return self.banner.rsplit("/", 1)[1]
        return None

    @property
    def pending(self) -> bool:
        """True while a message is partially received."""
        return bool(self._headers or self._buf)

    def feed(self, data: bytes) -> list[Message]:
        """Add bytes from the socket and return every message now complete."""
        if not data:
            return []
        # one copy: the unparsed rest of the last read (usually a partial message) + data
        mv = self._buf + data if self._buf else bytes(data)
        out: list[Message] = []
        pos = 0
        n = len(mv)
        line = self._line
        speedups = _parse_run
        # start of the last CRLF blank line: past it no whole message can be taken in one go
        # (LF-only framing never has one, so it never rescans the buffer for it)
        last_block = mv.rfind(b"\r\n\r\n")
        bulk = True
        while pos < n:
            # (``_size``: skipped malformed lines of the message so far count towards its size)
            clean = not (
                self._expect_banner or self._headers or self._size or self._follows or self._discarding or self._mid_line
            )
            if clean:
                if pos <= last_block:
                    # fast paths: every complete message up to the last blank line at once,
                    # then (what that refused) one message at a time
                    new = pos
                    if speedups is not None:
                        # C: the plain messages; it stops at the first one it leaves to Python,
                        # which takes that one alone before C goes on
                        new, found = speedups(mv, pos, last_block + 4, self._fast_limit)
                        if found:
                            out += map(Message, found)
                        if new == pos:
                            new = self._fast_run(mv, pos, out, once=True)
                    elif bulk:
                        self._bulk_ok = True
                        new = self._bulk_run(mv, pos, last_block, out)
                        # refused or stopped early: the rest of this read goes message by
                        # message (no rescan of the run after every odd message)
                        bulk = self._bulk_ok
                        if new == pos:
                            new = self._fast_run(mv, pos, out)
                    else:
                        new = self._fast_run(mv, pos, out)
                    if new != pos:
                        pos = new
                        continue
                elif n - pos <= self.max_line and _no_end(mv, pos):
                    # the start of a message that the next read completes: leave it in the
                    # buffer and take it whole then, instead of line by line now
                    break
            # line by line: banner, legacy Follows, LF-only, odd or oversized input
            nl = mv.find(b"\n", pos)
            if nl < 0:
                break
            line(mv[pos:nl], out)
            pos = nl + 1
        self._buf = mv[pos:] if pos else mv
        self._check_partial()
        return out

    def _bulk_run(self, mv: bytes, pos: int, last: int, out: list[Message]) -> int:
        """Parse the complete messages in ``mv[pos:last + 4]`` in bulk; return where it stopped.

        One decode for the run, then, with no per-line Python code: every CRLF becomes
        ``": \\x00"`` (NUL marks a line start; the run has no NUL), the run is split into
        messages at ``": \\x00: "`` (a blank line) and each message at ``": "``. The even
        tokens are the header names, each with its NUL; joined with ':' they look up the
        message's shape (:data:`_SHAPES`, learnt from messages the exact per-line rule
        accepted), which gives the clean names; the odd tokens are the values.

        Exactness: with a message's shape known, each even token is exactly NUL + a valid
        name; if moreover every value pairs with a name and no value holds a NUL (checked by
        totals below), every NUL, i.e. every line start, begins a name token, so every line
        was exactly ``name: value`` with no further ``": "`` in it: the per-line rule's
        result. Messages of unknown shape go through that rule (and teach their shape); a
        run that fails a check goes message by message (:meth:`_bulk_slow`).
        """
        limit = self._fast_limit
        if last - pos > limit:
            # keep every message of the run within the size limits (longer: line path)
            last = mv.rfind(b"\r\n\r\n", pos, pos + limit + 4)
            if last < pos:
                self._bulk_ok = False
                return pos
        text = mv[pos : last + 4].decode("utf-8", "replace")
        if "\x00" in text:  # the line marker
            self._bulk_ok = False
            return pos
        marked = "\x00" + text.replace("\r\n", ": \x00")
        if "\n" in marked:  # a bare LF: the line path frames it
            self._bulk_ok = False
            return pos
        crlf = len(marked) - len(text) - 1
        parts = marked.split(": \x00: ")
        if parts.pop() != "\x00":  # not one blank line at the end (overlapping blank lines)
            self._bulk_ok = False
            return pos
        tokens = list(map(str.split, parts, _SEP))
        shape_keys = list(map(":".join, map(_even, tokens)))
        shapes = list(map(_SHAPES.get, shape_keys, _REPEAT_EMPTY))
        headers = list(map(list, map(zip, shapes, map(_odd, tokens))))
        nuls = crlf - len(parts)  # the NULs left in the parts: one per line
        bad: list[int] = []
        if () in shapes:  # unknown shapes: a value with ": ", a new name, a malformed line
            find = shapes.index
            i = find(())
            try:
                while True:
                    bad.append(i)
                    nuls -= parts[i].count("\x00")
                    i = find((), i + 1)
            except ValueError:
                pass
        # The other messages: every even token is NUL + a name (i.e. one NUL each), so a
        # message has at most as many values as names and at least as many NULs as names;
        # all three equal for each message iff the totals are (then the values hold no NUL).
        if sum(map(len, headers)) == nuls and (
            _RESPONSE_SHAPES.isdisjoint(shape_keys) or not _any_follows(shape_keys, tokens)
        ):
            for i in bad:
                part = parts[i]
                found = _part_headers(part) if part[:1] == "\x00" else None
                if found is None:
                    break
                _learn_shape(found)
                headers[i] = found
            else:
                out += map(Message, filter(None, headers) if bad else headers)
                return last + 4
        return self._bulk_slow(mv, pos, last, parts, tokens, shapes, shape_keys, headers, out)

    def _bulk_slow(
        self,
        mv: bytes,
        pos: int,
        last: int,
        parts: list[str],
        tokens: list[list[str]],
        shapes: list[tuple[str, ...]],
        shape_keys: list[str],
        headers: list[list[tuple[str, str]]],
        out: list[Message],
    ) -> int:
        """:meth:`_bulk_run` for a run that failed the bulk check, one message at a time.

        A message whose own counts add up keeps its bulk result; any other is parsed by the
        exact per-line rule from its text (and its shape learnt). At the first message
        that needs the line path (malformed line, legacy Follows) it returns that
        message's position.

        A blank line is ``": \\x00: "`` after the replacement, but so is a line break followed
        by a line starting with ``": "``; then the next part does not start with the NUL line
        marker and this part is not a complete message: the line path takes it.
        """
        append = out.append
        for i, part in enumerate(parts):
            if i + 1 < len(parts) and parts[i + 1][:1] != "\x00":
                found = None
            elif (shape := shapes[i]) and len(tokens[i]) == 2 * len(shape) and part.count("\x00") == len(shape):
                if shape_keys[i] not in _RESPONSE_SHAPES or tokens[i][1].strip().lower() != "follows":
                    append(Message(headers[i]))
                    continue
                found = None
            else:
                found = _part_headers(part)
            if found is None:  # the line path takes it from here
                for _ in range(i):
                    pos = mv.find(b"\r\n\r\n", pos) + 4
                self._bulk_ok = False
                return pos
            if found:
                _learn_shape(found)
                append(Message(found))
        return last + 4

    def _fast_run(self, mv: bytes, pos: int, out: list[Message], once: bool = False) -> int:
        """Parse every complete plain message from ``pos`` (only the first if ``once``);
        return where it stopped.

        It stops before the first message it cannot take whole (none complete
        any more, oversized, a bare LF inside, a malformed line, a legacy
        ``Response: Follows``); the line path then takes that one. A multi-byte
        character never straddles a message boundary, so decoding a whole
        message at once is as safe as decoding line by line.
        """
        find = mv.find
        limit = self._fast_limit
        append = out.append
        split_kv = _split_kv
        known_keys = _KNOWN_KEYS
        while True:
            end = find(b"\r\n\r\n", pos)
            if end < 0 or end - pos > limit:
                return pos
            text = mv[pos:end].decode("utf-8", "replace")
            lines = text.split("\r\n")
            # split every line at its first ": " in one pass, then check in bulk that this is
            # the exact rule (key up to the first ':', then one optional space): every line
            # had ": ", no bare LF, and every key is one already found valid (no ':', not
            # empty, no surrounding whitespace) -- the same few dozen names all day long
            headers = [(k, v) for k, s, v in map(split_kv, lines, _SEP) if s]
            if (
                len(headers) == len(lines)
                and text.count("\n") == len(lines) - 1
                and (known_keys.issuperset(map(_first, headers)) or _learn_keys(headers))
            ):
                key0 = headers[0][0]
                if len(key0) == 8 and key0.lower() == "response" and headers[0][1].strip().lower() == "follows":
                    return pos
                append(Message(headers))
                pos = end + 4
                if once:
                    return pos
                continue
            if not _careful_block(text, lines, out):
                return pos
            pos = end + 4
            if once:
                return pos

    def reset(self) -> None:
        """Forget all state (for a new connection)."""
        self.banner = None
        self._expect_banner = True
        self._buf = b""
        self._headers = []
        self._size = 0
        self._follows = self._follows_body = False
        self._discarding = self._discard_follows = self._mid_line = False

    # -- internals --------------------------------------------------------------
    def _check_partial(self) -> None:
        """Keep an unterminated line from growing without bound."""
        size = len(self._buf)
        # a trailing CR may be the first half of the line's CRLF: not part of the line
        if size > self.max_line and (size > self.max_line + 1 or not self._buf.endswith(b"\r")):
            if not self._discarding:
                self._drop(f"line longer than {self.max_line} bytes")
            # keep a trailing CR so that a following LF is not misread
            self._buf = b""
            self._mid_line = True

    def _drop(self, why: str) -> None:
        self.dropped += 1
        first = self._headers[0] if self._headers else None
        log.error("AMI: dropping message %s: %s; resyncing at the next blank line", first, why)
        self._discarding = True
        self._discard_follows = self._follows
        self._headers = []
        self._size = 0
        self._follows = False
        self._follows_body = False

    def _line(self, raw: bytes, out: list[Message]) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if self._mid_line:
            # tail of an overlong line whose head was already thrown away
            self._mid_line = False
            return
        if len(raw) > self.max_line:
            if not self._discarding:
                self._drop(f"line longer than {self.max_line} bytes")
            return
        if self._discarding:
            if self._discard_follows:
                if END_COMMAND.encode() in raw:
                    self._discarding = False
            elif not raw:
                self._discarding = False
            return
        line = raw.decode("utf-8", "replace")

        if self._expect_banner:
            self._expect_banner = False
            if _BANNER_RE.match(line):
                self.banner = line
                return

        if self._follows:
            self._follows_line(line, out)
            return

        if not line:
            if self._headers:
                out.append(Message(self._headers))
                self._headers = []
            self._size = 0  # (also after a block of malformed lines only)
            return

        self._size += len(raw) + 2
        if self._size > self.max_message:
            self._drop(f"message larger than {self.max_message} bytes")
            return

        key, sep, value = line.partition(":")
        if not sep or not key or key != key.strip():
            self.malformed_lines += 1
            log.warning("AMI: skipping line that is not 'Key: value': %r", line[:200])
            return
        if value.startswith(" "):
            value = value[1:]
        self._headers.append((key, value))
        if len(self._headers) == 1 and key.lower() == "response" and value.strip().lower() == "follows":
            self._follows = True
            self._follows_body = False

    def _follows_line(self, line: str, out: list[Message]) -> None:
        """A line inside a legacy ``Response: Follows`` command reply."""
        self._size += len(line) + 2
        if self._size > self.max_message:
            self._drop(f"message larger than {self.max_message} bytes")
            return
        idx = line.find(END_COMMAND)
        if idx >= 0:
            before = line[:idx]
            if before:
                self._headers.append(("Output", before))
            out.append(Message(self._headers))
            self._headers = []
            self._size = 0
            self._follows = False
            self._follows_body = False
            return  # the blank line that follows is skipped as an empty line
        if not self._follows_body:
            key, sep, value = line.partition(":")
            if sep and key.lower() in _FOLLOWS_HEADERS:
                self._headers.append((key, value[1:] if value.startswith(" ") else value))
                return
            self._follows_body = True
        self._headers.append(("Output", line))


def parse_stream(data: bytes, *, expect_banner: bool = True) -> list[Message]:
    """Parse a complete byte stream (banner optional) into messages."""
    return AmiParser(expect_banner=expect_banner).feed(data)


def _norm_value(key: str, value: object) -> list[str]:
    if isinstance(value, bool):
        return ["true" if value else "false"]
    if isinstance(value, (str, int, float)):
        return [str(value)]
    if isinstance(value, Mapping):
        return [f"{k}={v}" for k, v in value.items()]
    if isinstance(value, Iterable):
        return [str(v) for v in value]
    raise ProtocolError(f"header {key!r}: unsupported value type {type(value).__name__}")


def encode_action(
    name: str,
    headers: Iterable[tuple[str, object]] | Mapping[str, object] | None = None,
    /,
    **fields: object,
) -> bytes:
    """Serialise one action: ``Action: <name>`` then the headers, then a blank line.

    ``headers`` may be a mapping or a sequence of pairs (to repeat a key);
    keyword ``fields`` are appended. A list/tuple value repeats the header, a
    dict value becomes repeated ``k=v`` lines (``Variable``), ``None`` values are
    omitted and booleans become ``true``/``false``. CR/LF in keys or values
    (header injection), empty keys, lines the server would reject as too long
    and more than 128 lines raise :class:`ProtocolError` before anything is sent.
    """
    if not isinstance(name, str) or not name.strip():
        raise ProtocolError("action name must be a non-empty string")
    pairs: list[tuple[str, object]] = [("Action", name)]
    if headers is not None:
        items = headers.items() if isinstance(headers, Mapping) else headers
        pairs.extend(items)
    pairs.extend(fields.items())

    lines: list[str] = []
    for key, value in pairs:
        if value is None:
            continue
        if not isinstance(key, str) or not key or key != key.strip() or ":" in key:
            raise ProtocolError(f"invalid header name {key!r}")
        if key.lower() == "action" and lines:
            raise ProtocolError("'Action' may appear only once")
        for v in _norm_value(key, value):
            if any(c in v or c in key for c in "\r\n\0"):
                raise ProtocolError(f"header {key!r}: CR, LF or NUL in value is not allowed")
            line = f"{key}: {v}"
            if len(line.encode("utf-8")) > SERVER_MAX_LINE - 2:
                raise ProtocolError(
                    f"header {key!r}: line longer than Asterisk accepts ({SERVER_MAX_LINE} bytes)"
                )
            lines.append(line)
    if len(lines) > SERVER_MAX_HEADERS:
        raise ProtocolError(f"too many header lines ({len(lines)} > {SERVER_MAX_HEADERS})")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def _any_follows(shape_keys: list[str], tokens: list[list[str]]) -> bool:
    """True if a message of a known ``Response`` shape is a legacy ``Response: Follows``."""
    responses = _RESPONSE_SHAPES
    for i, key in enumerate(shape_keys):
        if key in responses and len(tokens[i]) > 1 and tokens[i][1].strip().lower() == "follows":
            return True
    return False


def _part_headers(part: str) -> list[tuple[str, str]] | None:
    """:func:`_block_headers` for one message of a bulk run (lines marked by ``": \\x00"``).

    The common case (a value containing ``": "``) with one ``partition`` per line, as
    exact as the per-line rule when every line had a ``": "`` and every name is one the
    rule already accepted (:data:`_KNOWN_KEYS`); anything else through that rule.
    """
    lines = part.split(": \x00")
    lines[0] = lines[0][1:]
    headers = [(k, v) for k, s, v in map(_split_kv, lines, _SEP) if s]
    if len(headers) == len(lines) and (_KNOWN_KEYS.issuperset(map(_first, headers)) or _learn_keys(headers)):
        key0 = headers[0][0]
        if len(key0) != 8 or key0.lower() != "response" or headers[0][1].strip().lower() != "follows":
            return headers
    return _block_headers("\r\n".join(lines))


def _block_headers(text: str) -> list[tuple[str, str]] | None:
    """The headers of one complete CRLF block (no bare LF) by the exact per-line rule.

    ``[]`` for blank lines only; ``None`` when the line path must take the block
    (a malformed line, to be counted and logged, or a legacy ``Response: Follows``).
    """
    headers: list[tuple[str, str]] = []
    append = headers.append
    for ln in text.split("\r\n"):
        if not ln:
            continue  # extra blank lines before the message
        key, sep, value = ln.partition(":")
        if not sep or not key or key != key.strip():
            return None  # the line path counts and logs the malformed line
        append((key, value[1:] if value[:1] == " " else value))
    if headers:
        first_key, first_value = headers[0]
        if first_key.lower() == "response" and first_value.strip().lower() == "follows":
            return None
    return headers


def _careful_block(text: str, lines: list[str], out: list[Message]) -> bool:
    """A complete block the bulk check refused, line by line; False = use the line path."""
    if text.count("\n") != len(lines) - 1:
        return False  # a bare LF inside: let the line path frame it
    headers = _block_headers(text)
    if headers is None:
        return False
    if headers:
        _learn_shape(headers)
        out.append(Message(headers))
    return True


def _no_end(mv: bytes, pos: int) -> bool:
    """True if the line path would complete nothing in ``mv[pos:]`` (from a clean state):
    no blank line (CRLF or bare LF) and no legacy ``--END COMMAND--``."""
    return mv.find(b"\n\n", pos) < 0 and mv.find(b"\n\r\n", pos) < 0 and mv.find(_END_COMMAND_B, pos) < 0
