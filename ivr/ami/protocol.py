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
"""

from __future__ import annotations

import itertools
import logging
import operator
import re
from collections.abc import Iterable, Mapping

from .errors import ProtocolError
from .messages import Message

log = logging.getLogger(__name__)

__all__ = [
    "AmiParser",
    "parse_stream",
    "encode_action",
    "END_COMMAND",
    "SERVER_MAX_LINE",
    "SERVER_MAX_HEADERS",
]

END_COMMAND = "--END COMMAND--"
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
        self._fast_limit = min(max_line, max_message)
        #: The banner line (``Asterisk Call Manager/9.0.0``) once received.
        self.banner: str | None = None
        #: Messages dropped because they broke a size limit.
        self.dropped = 0
        #: Non-blank lines that were not ``Key: value`` and were skipped.
        self.malformed_lines = 0
        self._expect_banner = expect_banner
        self._buf = bytearray()
        self._headers: list[tuple[str, str]] = []
        self._size = 0
        self._follows = False  # inside a legacy Response: Follows body
        self._follows_body = False  # a non-header line of that body was seen
        self._discarding = False  # skipping an oversized message until resync
        self._discard_follows = False  # ... and that message was a legacy Follows body
        self._mid_line = False  # bytes of an overlong line were thrown away

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
        buf = self._buf
        buf += data
        mv = bytes(buf)
        out: list[Message] = []
        pos = 0
        n = len(mv)
        line = self._line
        # start of the last CRLF blank line: past it no whole message can be taken in one go
        # (LF-only framing never has one, so it never rescans the buffer for it)
        last_block = mv.rfind(b"\r\n\r\n")
        while pos < n:
            if pos <= last_block and not (
                self._expect_banner or self._headers or self._follows or self._discarding or self._mid_line
            ):
                # fast path: whole CRLF-framed messages, one decode per message
                new = self._fast_run(mv, pos, out)
                if new != pos:
                    pos = new
                    continue
            # line by line: banner, legacy Follows, LF-only, odd or oversized input
            nl = mv.find(b"\n", pos)
            if nl < 0:
                break
            line(mv[pos:nl], out)
            pos = nl + 1
        del buf[:pos]
        self._check_partial()
        return out

    def _fast_run(self, mv: bytes, pos: int, out: list[Message]) -> int:
        """Parse every complete plain message from ``pos``; return where it stopped.

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
                continue
            if not _careful_block(text, lines, out):
                return pos
            pos = end + 4

    def reset(self) -> None:
        """Forget all state (for a new connection)."""
        self.banner = None
        self._expect_banner = True
        self._buf.clear()
        self._headers = []
        self._size = 0
        self._follows = self._follows_body = False
        self._discarding = self._discard_follows = self._mid_line = False

    # -- internals --------------------------------------------------------------
    def _check_partial(self) -> None:
        """Keep an unterminated line from growing without bound."""
        if len(self._buf) > self.max_line:
            if not self._discarding:
                self._drop(f"line longer than {self.max_line} bytes")
            # keep a trailing CR so that a following LF is not misread
            self._buf.clear()
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
                self._size = 0
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


def _careful_block(text: str, lines: list[str], out: list[Message]) -> bool:
    """A complete block the bulk check refused, line by line; False = use the line path."""
    if text.count("\n") != len(lines) - 1:
        return False  # a bare LF inside: let the line path frame it
    headers: list[tuple[str, str]] = []
    append = headers.append
    for ln in lines:
        if not ln:
            continue  # extra blank lines before the message
        key, sep, value = ln.partition(":")
        if not sep or not key or key != key.strip():
            return False  # the line path counts and logs the malformed line
        append((key, value[1:] if value[:1] == " " else value))
    if not headers:
        return True
    first_key, first_value = headers[0]
    if first_key.lower() == "response" and first_value.strip().lower() == "follows":
        return False
    out.append(Message(headers))
    return True
