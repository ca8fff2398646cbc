"""Asterisk time conditions (``GotoIfTime``/``ExecIfTime``/``IFTIME``) and ``STRFTIME``.

A condition is ``times,weekdays,mdays,months[,timezone]``; each field is ``*``
or ``&``-joined ranges: times ``08:30-17:30``, weekdays ``mon-fri``, month days
``1-15``, months ``jan-mar``. Ranges may wrap (``fri-mon``, ``22:00-06:00``); the end minute is included.
Times are evaluated on the simulated clock in the given zone (default UTC).
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


def _zone(name: str):
    if not name:
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def _in_range(value: int, lo: int, hi: int) -> bool:
    return lo <= value <= hi if lo <= hi else (value >= lo or value <= hi)


def _field(spec: str, value: int, parse) -> bool:
    spec = spec.strip().lower()
    if spec in ("", "*"):
        return True
    for part in spec.split("&"):
        lo_s, _, hi_s = part.partition("-")
        lo = parse(lo_s)
        hi = parse(hi_s) if hi_s else lo
        if lo is None or hi is None:
            continue
        if _in_range(value, lo, hi):
            return True
    return False


def _minutes(text: str) -> int | None:
    h, _, m = text.strip().partition(":")
    try:
        return int(h) * 60 + int(m or 0)
    except ValueError:
        return None


def _named(names: list[str], base: int):
    def parse(text: str) -> int | None:
        t = text.strip().lower()[:3]
        return names.index(t) + base if t in names else None

    return parse


def _number(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def matches(spec: str, epoch: float) -> bool:
    """True when ``epoch`` falls inside ``times,weekdays,mdays,months[,tz]``."""
    parts = [p.strip() for p in spec.split(",")] + ["*"] * 4
    times, wdays, mdays, months, tz = parts[0], parts[1], parts[2], parts[3], parts[4] if len(parts) > 4 else ""
    now = datetime.fromtimestamp(epoch, _zone("" if tz == "*" else tz))
    minute = now.hour * 60 + now.minute
    if times.strip() not in ("", "*"):
        ok = False
        for part in times.split("&"):
            lo_s, _, hi_s = part.partition("-")
            lo, hi = _minutes(lo_s), _minutes(hi_s or lo_s)
            if lo is None or hi is None:
                continue
            # both ends inclusive at minute resolution, as pbx_timing.c ("Do the last one")
            if _in_range(minute, lo, hi):
                ok = True
        if not ok:
            return False
    weekday = (now.weekday() + 1) % 7  # Sunday = 0
    return (
        _field(wdays, weekday, _named(DAYS, 0))
        and _field(mdays, now.day, _number)
        and _field(months, now.month, _named(MONTHS, 1))
    )


def strftime(args: str, default_epoch: float) -> str:
    """``STRFTIME([epoch][,timezone][,format])``; default format ``%c``."""
    parts = args.split(",", 2) + ["", ""]
    epoch_s, tz, fmt = parts[0].strip(), parts[1].strip(), parts[2]
    try:
        epoch = float(epoch_s) if epoch_s else default_epoch
    except ValueError:
        epoch = default_epoch
    when = datetime.fromtimestamp(epoch, _zone(tz))
    try:
        return when.strftime(fmt or "%c")
    except ValueError:
        return ""


__all__ = ["matches", "strftime"]
