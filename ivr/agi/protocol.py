"""FastAGI wire format, without I/O: the environment block, reply lines, argument quoting.

Wire facts (Asterisk 20 ``res_agi.c``, fixtures ``agi_*.txt``):

* Asterisk sends ``agi_<name>: <value>`` lines, each ending in ``\\n``, then one empty line.
  Values are not escaped; a line is split on the first ``": "``.
* Each command is one ``\\n``-terminated line; Asterisk splits it into words on blanks,
  ``"..."`` groups words, ``\\`` escapes the next character. Its read buffer is 8192 bytes.
* Replies: ``200 result=<x>[ (<data>)][ endpos=<n>]``; ``510 ...``; ``511 ...``;
  ``520-...`` + usage lines + ``520 End of proper usage.``; ``100 result=0 Trying...``
  before the real reply (GOSUB); and a bare ``HANGUP`` line, out of band, when the
  channel hangs up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterable, Mapping
from urllib.parse import parse_qsl

from ivr.agi.errors import AgiArgumentError, AgiProtocolError

#: Asterisk's AGI_BUF_LEN: longer command lines are cut and the rest runs as a new command.
MAX_COMMAND_BYTES = 8192
#: Default limits on what we accept from the peer (memory stays bounded per session).
MAX_LINE_BYTES = 16384
MAX_ENV_LINES = 512
MAX_ENV_BYTES = 16384
MAX_REPLY_LINES = 256

HANGUP_LINE = "HANGUP"
UNKNOWN = "unknown"  # Asterisk's value for an absent caller id, dnid or rdnis

_REPLY_RE = re.compile(r"^(?P<code>\d{3})(?P<sep>[ -])(?P<text>.*)$")
_DATA_TAIL_RE = re.compile(r"^ \((?P<data>.*)\)(?P<tail>(?: +[A-Za-z_]\w*=\S*)*) *$")
_INT_RE = re.compile(r"^-?\d+$")
_ARG_RE = re.compile(r"^agi_arg_(\d+)$")
_NEEDS_QUOTES_RE = re.compile(r'[\s"\\]')
_NO_FIELDS: Mapping[str, str] = MappingProxyType({})


# --------------------------------------------------------------------------- environment


@dataclass(frozen=True, slots=True)
class AgiEnvironment:
    """The ``agi_*`` block Asterisk sends when a FastAGI session starts.

    ``raw`` maps full names (``agi_channel``) to values; ``args`` holds ``agi_arg_1..N``
    in numeric order. Caller id, name, dnid and rdnis are ``None`` when Asterisk says
    ``unknown``.
    """

    raw: Mapping[str, str]
    args: tuple[str, ...] = ()

    def get(self, name: str, default: str | None = None) -> str | None:
        """Value of ``agi_<name>`` (or of ``name`` if it already starts with ``agi_``)."""
        key = name if name.startswith("agi_") else f"agi_{name}"
        return self.raw.get(key, default)

    def _known(self, name: str) -> str | None:
        value = self.get(name)
        return None if value in (None, "", UNKNOWN) else value

    @property
    def network(self) -> bool:
        return self.get("network") == "yes"

    @property
    def network_script(self) -> str:
        """Everything after ``agi://host[:port]/``, query string included (may be empty)."""
        return self.get("network_script") or ""

    @property
    def script(self) -> str:
        """Script name used for routing: ``network_script`` without query, outer slashes removed."""
        return self.network_script.split("?", 1)[0].strip("/")

    @property
    def query(self) -> Mapping[str, str]:
        """Query parameters of ``network_script`` (``ivr?district=150402`` -> {district: 150402}).

        A repeated key keeps its last value; use :attr:`query_items` to see all of them.
        """
        return MappingProxyType(dict(self.query_items))

    @property
    def query_items(self) -> tuple[tuple[str, str], ...]:
        _, _, qs = self.network_script.partition("?")
        return tuple(parse_qsl(qs, keep_blank_values=True))

    @property
    def request(self) -> str:
        return self.get("request") or ""

    @property
    def channel(self) -> str:
        return self.get("channel") or ""

    @property
    def uniqueid(self) -> str:
        return self.get("uniqueid") or ""

    @property
    def language(self) -> str:
        return self.get("language") or ""

    @property
    def type(self) -> str:
        return self.get("type") or ""

    @property
    def version(self) -> str:
        return self.get("version") or ""

    @property
    def callerid(self) -> str | None:
        return self._known("callerid")

    @property
    def calleridname(self) -> str | None:
        return self._known("calleridname")

    @property
    def dnid(self) -> str | None:
        return self._known("dnid")

    @property
    def rdnis(self) -> str | None:
        return self._known("rdnis")

    @property
    def context(self) -> str:
        return self.get("context") or ""

    @property
    def extension(self) -> str:
        return self.get("extension") or ""

    @property
    def priority(self) -> int | None:
        value = self.get("priority") or ""
        return int(value) if _INT_RE.match(value) else None

    @property
    def enhanced(self) -> bool:
        """True for EAGI (``agi_enhanced: 1.0``)."""
        return (self.get("enhanced") or "0.0") not in ("0", "0.0")

    @property
    def accountcode(self) -> str:
        return self.get("accountcode") or ""

    @property
    def threadid(self) -> str:
        return self.get("threadid") or ""

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> AgiEnvironment:
        """Build from decoded lines (without their ``\\n``; the blank terminator optional)."""
        raw: dict[str, str] = {}
        numbered: dict[int, str] = {}
        for line in lines:
            line = line.rstrip("\r")
            if not line:
                break
            name, sep, value = line.partition(": ")
            if not sep:
                # tolerate "agi_accountcode:" whose trailing blank was stripped somewhere
                if line.endswith(":"):
                    name, value = line[:-1], ""
                else:
                    raise AgiProtocolError(f"not an AGI environment line: {line[:80]!r}")
            if not name.startswith("agi_") or not name[4:] or " " in name:
                raise AgiProtocolError(f"not an AGI environment variable: {name[:80]!r}")
            raw[name] = value
            match = _ARG_RE.match(name)
            if match:
                numbered[int(match.group(1))] = value
        if "agi_request" not in raw and "agi_network" not in raw:
            raise AgiProtocolError("AGI environment without agi_request")
        args = tuple(numbered[n] for n in sorted(numbered))
        return cls(raw=MappingProxyType(raw), args=args)

    @classmethod
    def parse(cls, block: bytes | str) -> AgiEnvironment:
        """Parse a whole block (bytes are decoded as UTF-8, bad bytes replaced)."""
        text = block.decode("utf-8", "replace") if isinstance(block, bytes) else block
        return cls.from_lines(text.split("\n"))


def encode_environment(variables: Mapping[str, str], args: Iterable[str] = ()) -> bytes:
    """Encode an environment block the way Asterisk sends it (for simulators and tests)."""
    out = []
    for name, value in variables.items():
        key = name if name.startswith("agi_") else f"agi_{name}"
        if "\n" in key or "\n" in str(value):
            raise AgiArgumentError(f"newline in environment variable {key!r}")
        out.append(f"{key}: {value}\n")
    for n, value in enumerate(args, start=1):
        if "\n" in value:
            raise AgiArgumentError(f"newline in agi_arg_{n}")
        out.append(f"agi_arg_{n}: {value}\n")
    out.append("\n")
    return "".join(out).encode("utf-8")


# --------------------------------------------------------------------------- replies


@dataclass(frozen=True, slots=True)
class AgiResponse:
    """One reply to one command.

    ``result`` is the integer after ``result=`` (``None`` when empty or not an integer,
    e.g. GET DATA digits ``"0123"`` — read those from ``result_text``); ``data`` is the
    text in parentheses (``timeout``, a variable's value...), ``endpos`` the sample
    offset, ``fields`` every other ``key=value`` after the data, ``lines`` the raw lines.
    """

    code: int
    result: int | None = None
    result_text: str = ""
    data: str | None = None
    endpos: int | None = None
    fields: Mapping[str, str] = field(default_factory=lambda: _NO_FIELDS)
    lines: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def text(self) -> str:
        """The first line without its code (``Invalid or unknown command``, ``result=1 (x)``)."""
        return self.lines[0][4:] if self.lines else ""


def _to_int(text: str) -> int | None:
    digits = text[1:] if text[:1] == "-" else text
    return int(text) if digits.isdigit() and digits.isascii() else None


def _parse_200(line: str, lines: tuple[str, ...]) -> AgiResponse:
    if not line.startswith("200 result="):
        raise AgiProtocolError(f"200 reply without result=: {line[:80]!r}")
    result_text, _, rest = line[11:].partition(" ")
    result = _to_int(result_text)
    if not rest:  # "200 result=1", the most common shape
        return AgiResponse(200, result, result_text, None, None, _NO_FIELDS, lines)
    data: str | None = None
    tail = rest
    if rest[0] == "(":
        if rest[-1] == ")":  # "(value)" with nothing after it: GET VARIABLE and friends
            return AgiResponse(200, result, result_text, rest[1:-1], None, _NO_FIELDS, lines)
        match = _DATA_TAIL_RE.match(" " + rest)
        if match:
            data, tail = match.group("data"), match.group("tail")
    fields: dict[str, str] = {}
    for token in tail.split():
        key, sep, value = token.partition("=")
        if sep:
            fields[key] = value
    endpos_text = fields.pop("endpos", None)
    endpos = _to_int(endpos_text) if endpos_text is not None else None
    return AgiResponse(200, result, result_text, data, endpos, MappingProxyType(fields) if fields else _NO_FIELDS, lines)


def parse_response(lines: Iterable[str]) -> AgiResponse:
    """Parse one complete reply (one line, or the lines of a multi-line 520)."""
    lines = tuple(line.rstrip("\r") for line in lines)
    if not lines:
        raise AgiProtocolError("empty AGI reply")
    first = lines[0]
    if first[:4] == "200 ":
        return _parse_200(first, lines)
    match = _REPLY_RE.match(first)
    if not match or (match.group("code") == "200"):
        raise AgiProtocolError(f"not an AGI reply: {first[:80]!r}")
    return AgiResponse(code=int(match.group("code")), lines=lines)


class ReplyAssembler:
    """Turns the line stream after the environment into replies (sans-I/O).

    Feed lines one by one; :meth:`feed` returns an :class:`AgiResponse` when one is
    complete, else ``None``. A bare ``HANGUP`` line sets :attr:`hangup_seen` and is not
    part of any reply; ``100 ... Trying`` lines are skipped (the real reply follows).
    """

    def __init__(self, max_lines: int = MAX_REPLY_LINES) -> None:
        self.hangup_seen = False
        self._pending: list[str] = []
        self._max_lines = max_lines

    @property
    def in_progress(self) -> bool:
        return bool(self._pending)

    def feed(self, line: str) -> AgiResponse | None:
        if line[-1:] == "\r":
            line = line[:-1]
        if line[:4] == "200 " and not self._pending:
            return _parse_200(line, (line,))
        if self._pending:  # inside a multi-line 520
            self._pending.append(line)
            if len(self._pending) > self._max_lines:
                raise AgiProtocolError(f"multi-line reply longer than {self._max_lines} lines")
            if line.startswith(self._pending[0][:3] + " "):
                lines, self._pending = self._pending, []
                return parse_response(lines)
            return None
        if line == HANGUP_LINE:
            self.hangup_seen = True
            return None
        match = _REPLY_RE.match(line)
        if not match:
            raise AgiProtocolError(f"not an AGI reply: {line[:80]!r}")
        if match.group("sep") == "-":
            self._pending = [line]
            return None
        if match.group("code") == "100":
            return None
        return AgiResponse(code=int(match.group("code")), lines=(line,))


# --------------------------------------------------------------------------- commands


def quote(value: str, *, always: bool = False) -> str:
    """Quote one argument for Asterisk's ``parse_args``.

    Wrapped in double quotes when it is empty, contains blanks, ``"`` or ``\\`` (or when
    ``always``); ``"`` and ``\\`` are backslash-escaped. CR, LF and NUL cannot be sent.
    """
    if not isinstance(value, str):
        raise AgiArgumentError(f"AGI argument must be str, got {type(value).__name__}")
    if "\n" in value or "\r" in value or "\0" in value:
        raise AgiArgumentError(f"AGI argument contains a line break or NUL: {value[:40]!r}")
    if not always and value and not _NEEDS_QUOTES_RE.search(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def word(value: str, what: str = "argument") -> str:
    """A bare word (command name, variable or application name): non-empty, no blanks."""
    if not isinstance(value, str) or not value or _NEEDS_QUOTES_RE.search(value) or "\0" in value:
        raise AgiArgumentError(f"invalid AGI {what}: {value!r}")
    return value


def encode_command(line: str) -> bytes:
    """UTF-8 bytes of one command line plus ``\\n``; rejects line breaks and overlong lines."""
    if "\n" in line or "\r" in line or "\0" in line:
        raise AgiArgumentError(f"AGI command contains a line break or NUL: {line[:40]!r}")
    if not line.strip():
        raise AgiArgumentError("empty AGI command")
    data = line.encode("utf-8") + b"\n"
    if len(data) > MAX_COMMAND_BYTES - 1:
        raise AgiArgumentError(
            f"AGI command is {len(data)} bytes; Asterisk reads at most {MAX_COMMAND_BYTES - 1}"
        )
    return data


def split_args(line: str) -> list[str]:
    """Split a command line like Asterisk's ``parse_args`` (used by tests and simulators)."""
    args: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    in_word = False
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and not in_word:
                in_word = True
            continue
        if ch in " \t" and not quoted and not escaped:
            if in_word:
                args.append("".join(cur))
                cur = []
                in_word = False
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        cur.append(ch)
        in_word = True
        escaped = False
    if in_word:
        args.append("".join(cur))
    return args
