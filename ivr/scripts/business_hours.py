"""``AGI(agi://…/business_hours)``: sets ``HOTLINE_OPEN`` to ``1`` or ``0``.

The directory knows the rules' hours, statutory holidays and 调休 (``is_open_now``).
When it fails the script raises: ``AGISTATUS=FAILURE`` and the dialplan's
``GotoIfTime`` schedule decides instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Callable

from ivr.agi.session import AgiSession
from ivr.directory import Directory


def business_hours_script(directory: Directory, clock: Callable[[], datetime]):
    async def business_hours(session: AgiSession) -> None:
        at = clock()
        if at.tzinfo is None:
            raise ValueError("business_hours clock must return an aware datetime")
        is_open = await directory.is_open_now(at)
        await session.set_variable("HOTLINE_HOURS_SOURCE", "backend")
        await session.set_variable("HOTLINE_OPEN", "1" if is_open else "0")

    return business_hours
