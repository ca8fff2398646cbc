"""The one time rule: every time the hotline writes out — API JSON, live events, Open311, the data
of ticket events and calls — is ISO 8601 with the hotline's offset (``2026-11-27T10:00:00+08:00``).

The database stores UTC (:class:`hotline.database.UTCDateTime`); conversion happens only here, when
a time is written for people or other systems. The zone is the settings' ``timezone``
(``Asia/Shanghai``), set once at start by :func:`set_zone`. Readers accept any offset (and ``Z``).
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import PlainSerializer

__all__ = ["ApiTime", "iso", "json_default", "set_zone", "zone"]

_zone = ZoneInfo("Asia/Shanghai")


def set_zone(tz: ZoneInfo) -> None:
    """Make ``tz`` the zone every time is written in (at start, from the settings)."""
    global _zone
    _zone = tz


def zone() -> ZoneInfo:
    """The hotline's time zone."""
    return _zone


def iso(moment: datetime, timespec: str = "auto") -> str:
    """``moment`` as ISO 8601 with the hotline's offset (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(_zone).isoformat(timespec=timespec)


def json_default(value: Any) -> Any:
    """``default=`` for :func:`json.dumps`: times by the rule, dates as ``YYYY-MM-DD``."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


#: A ``datetime`` field of an API model, written by the rule.
ApiTime = Annotated[datetime, PlainSerializer(iso, return_type=str, when_used="json")]
