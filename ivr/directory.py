"""The small look-up interface ``ivr`` asks ``hotline`` through (design §2).

``hotline`` implements it against its database; tests and the simulator may use any
object with these coroutine methods. ``ivr`` never imports ``hotline``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class DistrictLine:
    district_code: str        # 6-digit administrative code, e.g. "150402"
    name: str                 # "红山区"
    number: str               # the district's local receiving line (dialled over the trunk)
    menu_digit: str = ""      # digit that selects it in the IVR


@dataclass(frozen=True, slots=True)
class TicketStatus:
    number: str               # "12319-20261127-00042"
    status: str               # state code, e.g. "dispatched"
    status_label: str         # Chinese label read back to the caller, e.g. "已派遣"
    updated_at: datetime
    district_code: str = ""
    deadline: datetime | None = None


@runtime_checkable
class Directory(Protocol):
    async def district_line(self, district_code: str) -> DistrictLine | None: ...

    async def district_lines(self) -> list[DistrictLine]: ...

    async def ticket_status(self, number: str) -> TicketStatus | None: ...

    async def open_tickets_for(self, caller: str) -> list[TicketStatus]: ...

    async def is_open_now(self, at: datetime | None = None) -> bool: ...
