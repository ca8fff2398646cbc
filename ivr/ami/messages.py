"""AMI messages: an ordered list of ``Key: Value`` headers.

Headers may repeat (``Output``, ``ChanVariable``, ``Variable``), so a message keeps
every pair in arrival order. Look-ups are case-insensitive on the key, as Asterisk
itself treats keys. The first header decides the kind: ``Response`` makes a
response, ``Event`` an event (``OriginateResponse`` is an event that also carries
a ``Response:`` header later in the block).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

EOL = "\r\n"


@dataclass(slots=True)
class Message:
    """One AMI message (response, event or action)."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    # lower-case key -> first value, built on the second look-up (see ``get``)
    _index: dict[str, str] | None = field(default=None, init=False, repr=False, compare=False)
    # (headers list, its length) the index was built from; None until the first look-up
    _indexed: tuple[list | None, int] | None = field(default=None, init=False, repr=False, compare=False)

    # -- construction -------------------------------------------------------
    @classmethod
    def of(cls, *pairs: tuple[str, str], **fields: str) -> "Message":
        items = list(pairs) + [(k, str(v)) for k, v in fields.items()]
        return cls(items)

    # -- kind ---------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``"response"``, ``"event"``, ``"action"`` or ``"unknown"`` from the first header."""
        headers = self.headers
        if not headers:
            return "unknown"
        first = headers[0][0]
        if first == "Event":  # as Asterisk spells it: skip the lower()
            return "event"
        first = first.lower()
        return first if first in ("response", "event", "action") else "unknown"

    @property
    def is_event(self) -> bool:
        return self.kind == "event"

    @property
    def is_response(self) -> bool:
        return self.kind == "response"

    @property
    def name(self) -> str:
        """Event name, response status (``Success``/``Error``/``Goodbye``/``Follows``) or action name."""
        return self.headers[0][1] if self.headers else ""

    @property
    def action_id(self) -> str | None:
        return self.get("ActionID")

    # -- look-up ------------------------------------------------------------
    def get(self, key: str, default: str | None = None) -> str | None:
        """First value of ``key`` (case-insensitive) or ``default``.

        The first look-up scans; from the second on, a dict of the lower-cased keys answers
        (the call tracker asks an event about ten times, often for headers it does not have).
        The dict is rebuilt if ``headers`` was replaced or grew since. Measured in
        ``benchmarks/sim_e2e_bench.py --phases replay``: tracker 13.0 -> 10.1 µs/event; an
        exact-key dict first (then the lower-case one on a miss) was slower, 11.2.
        """
        headers = self.headers
        indexed = self._indexed
        if indexed is not None:
            if indexed[0] is not headers or indexed[1] != len(headers):
                self._index = {k.lower(): v for k, v in reversed(headers)}
                self._indexed = (headers, len(headers))
            return self._index.get(key.lower(), default)
        self._indexed = (None, -1)  # the next look-up builds the index
        k = key.lower()
        for hk, hv in headers:
            if hk.lower() == k:
                return hv
        return default

    def getall(self, key: str) -> list[str]:
        """Every value of a repeated header, in order."""
        k = key.lower()
        return [hv for hk, hv in self.headers if hk.lower() == k]

    def __getitem__(self, key: str) -> str:
        v = self.get(key)
        if v is None:
            raise KeyError(key)
        return v

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.headers)

    def variables(self, key: str = "ChanVariable") -> dict[str, str]:
        """Split repeated ``Name=value`` headers (``ChanVariable``, ``Variable``) into a dict."""
        out: dict[str, str] = {}
        for raw in self.getall(key):
            name, _, value = raw.partition("=")
            out[name] = value
        return out

    def as_dict(self) -> dict[str, str]:
        """Flat dict (first value wins) — convenient for logging and JSON."""
        out: dict[str, str] = {}
        for k, v in self.headers:
            out.setdefault(k, v)
        return out

    # -- wire ---------------------------------------------------------------
    def encode(self) -> bytes:
        """Serialise as Asterisk does: ``Key: Value\\r\\n`` lines and a blank line."""
        body = "".join(f"{k}: {v}{EOL}" for k, v in self.headers)
        return (body + EOL).encode("utf-8")

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"<Message {self.kind}:{self.name} {self.as_dict()!r}>"
