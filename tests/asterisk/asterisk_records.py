"""The project's call rows against Asterisk's own records, call by call (decision 0012).

Asterisk's side of one conversation: its CDR rows (cdr_custom, one per leg or bridge, all with
the conversation's Linkedid) and its queue_log lines (``callid`` = the caller channel's Uniqueid,
which for a call from the trunk is the Linkedid too). The project's side: one row of ``calls``.

Rules (``compare``): the same calls exist on both sides; the caller is the CDR's ``src``; start,
answer and end agree within :data:`TOLERANCE` seconds with the first CDR's start and answer and
the last CDR's end; the district-line dials (CDR ``Dial`` legs over the trunk, in order) are the
call's ``district_line`` transfers with the same outcome; a queue the caller entered
(``ENTERQUEUE``) is the call's queue; a ``CONNECT`` is the call's agent (member name) with the
same hold time, and no ``CONNECT`` means no agent; the disposition follows from these: ``agent``
needs a CONNECT and no later answered line, ``transferred`` an answered line (or an adopted
bridge), ``voicemail`` a call that ended in the message context, ``abandoned`` neither.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

TOLERANCE = 1.0
#: CDR disposition of a district Dial leg → the transfer results it may be recorded as
_DIAL_OUTCOMES = {
    "ANSWERED": {"answered"},
    "BUSY": {"busy"},
    "NO ANSWER": {"no_answer", "cancelled"},
    "FAILED": {"unavailable", "failed", "congestion"},
    "CONGESTION": {"congestion"},
}
_QUEUE_EXITS = {"ABANDON", "EXITEMPTY", "EXITWITHTIMEOUT", "EXITWITHKEY"}


@dataclass
class AsteriskCall:
    linkedid: str
    cdrs: list[dict[str, str]] = field(default_factory=list)
    queue: list[list[str]] = field(default_factory=list)

    @property
    def first(self) -> dict[str, str]:
        return self.cdrs[0]

    def district_dials(self, trunk: str = "district-trunk") -> list[dict[str, str]]:
        return [c for c in self.cdrs if c["lastapp"] == "Dial" and c["dstchannel"].startswith(f"PJSIP/{trunk}-")]

    def queue_events(self, *names: str) -> list[list[str]]:
        return [q for q in self.queue if q[4] in names]


def asterisk_calls(cdr: list[dict[str, str]], queue_log: list[list[str]]) -> dict[str, AsteriskCall]:
    calls: dict[str, AsteriskCall] = {}
    for row in sorted(cdr, key=lambda r: (float(r["start"]), int(r["sequence"]))):
        calls.setdefault(row["linkedid"], AsteriskCall(row["linkedid"])).cdrs.append(row)
    by_callid = defaultdict(list)
    for line in queue_log:
        if len(line) >= 5 and line[1] not in ("NONE", "CLI", "MANAGER"):
            by_callid[line[1]].append(line)
    for callid, lines in by_callid.items():
        if callid in calls:
            calls[callid].queue = lines
    return calls


def _epoch(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _near(ours: float | None, theirs: str, what: str, problems: list[str]) -> None:
    if not theirs:
        if ours is not None:
            problems.append(f"{what}: ours {ours:.3f}, Asterisk has none")
        return
    if ours is None or abs(ours - float(theirs)) > TOLERANCE:
        problems.append(f"{what}: ours {ours}, Asterisk {float(theirs):.3f}")


def compare(call, ast: AsteriskCall, *, adopted: bool = False) -> list[str]:
    """What differs between one call row and Asterisk's records of that conversation. For a call
    ``adopted`` mid-way (the app restarted) the hold time is not known to the app."""
    problems: list[str] = []
    first = ast.first
    if call.caller != first["src"]:
        problems.append(f"caller {call.caller!r} != CDR src {first['src']!r}")
    _near(_epoch(call.started_at), first["start"], "start", problems)
    _near(_epoch(call.answered_at), first["answer"], "answer", problems)
    _near(_epoch(call.ended_at), max(ast.cdrs, key=lambda c: float(c["end"]))["end"], "end", problems)

    ours = [t for t in call.transfers if t.get("kind") == "district_line"]
    theirs = ast.district_dials()
    if len(ours) != len(theirs):
        problems.append(f"{len(ours)} district transfer(s), Asterisk dialled {len(theirs)} line(s)")
    for t, c in zip(ours, theirs):
        if t.get("result") not in _DIAL_OUTCOMES.get(c["disposition"], set()):
            problems.append(f"transfer to {t.get('district_code')}: {t.get('result')} vs CDR {c['disposition']}")
        if t.get("result") == "answered" and c["dst"] != t.get("district_code"):
            problems.append(f"answered district {t.get('district_code')} vs CDR dst {c['dst']}")

    entered = ast.queue_events("ENTERQUEUE")
    connects = ast.queue_events("CONNECT")
    if entered and call.queue != entered[-1][2]:
        problems.append(f"queue {call.queue!r} vs queue_log {entered[-1][2]!r}")
    if not entered and call.queue and not (call.variables or {}).get("HOTLINE_QUEUE_STATUS") == "JOINEMPTY":
        problems.append(f"queue {call.queue!r} but no ENTERQUEUE in queue_log")
    if connects:
        last = connects[-1]
        if call.agent != last[3]:
            problems.append(f"agent {call.agent!r} vs queue_log {last[3]!r}")
        if not adopted and (call.queue_wait_s is None or abs(call.queue_wait_s - float(last[5])) > TOLERANCE):
            problems.append(f"queue wait {call.queue_wait_s} vs CONNECT holdtime {last[5]}")
    elif call.agent:
        problems.append(f"agent {call.agent!r} but no CONNECT in queue_log")

    answered_line = bool(theirs) and theirs[-1]["disposition"] == "ANSWERED" and (
        not connects or float(theirs[-1]["start"]) >= float(connects[-1][0]) - TOLERANCE)
    expected = ("transferred" if answered_line else "agent" if connects else
                "voicemail" if ast.cdrs[-1]["dcontext"] == "hl12319-message" and call.disposition == "voicemail"
                else None)
    if expected is not None and call.disposition != expected:
        problems.append(f"disposition {call.disposition} but Asterisk's records say {expected}")
    if expected is None and call.disposition in ("agent", "transferred"):
        problems.append(f"disposition {call.disposition} without a CONNECT or an answered line")
    if ast.queue_events(*_QUEUE_EXITS) and not connects and call.disposition == "agent":
        problems.append("agent disposition for a caller who left the queue unanswered")
    return problems
