"""``AGI(agi://…/caller_lookup,${CALLERID(num)})``: what the hotline knows about the caller.

Sets (every value is copied onto the call record by the call tracker):

* ``HOTLINE_OPEN_TICKETS`` — how many open tickets the number has (``0`` when none);
* ``HOTLINE_REPEAT_CALLER`` — ``1`` when the caller has an open ticket, else ``0``;
* ``HOTLINE_LAST_TICKET`` / ``HOTLINE_LAST_TICKET_STATE`` — the newest open ticket;
* ``HOTLINE_OFFERED_DISTRICT`` — the district code of the newest open ticket that has one
  and whose district has a receiving line (empty otherwise). The dialplan offers that
  district by name before a district menu that transfers to it (``hl12319-offer-<menu>``,
  docs/ivr.md); an empty or unknown code means no offer.

Anonymous or withheld numbers (``anonymous``, ``unknown``, non-digits) are not looked
up: ``HOTLINE_OPEN_TICKETS=0``. Failures are ignored by the dialplan.
"""

from __future__ import annotations

import re

from ivr.agi.session import AgiSession
from ivr.directory import Directory

_NUMBER = re.compile(r"\+?\d{3,20}")


def normalise_caller(raw: str) -> str:
    """The number as the hotline stores it: digits only, ``+86``/``0086`` country code removed."""
    raw = (raw or "").strip().replace(" ", "").replace("-", "")
    if not _NUMBER.fullmatch(raw):
        return ""
    digits = raw.lstrip("+")
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 11 and raw.startswith(("+", "00")):
            return digits[len(prefix):]
    return digits


def caller_lookup_script(directory: Directory):
    async def caller_lookup(session: AgiSession) -> None:
        args = session.env.args
        caller = normalise_caller(args[0] if args else (session.env.callerid or ""))
        tickets = await directory.open_tickets_for(caller) if caller else []
        offered = ""
        for t in tickets:  # newest first
            if t.district_code and await directory.district_line(t.district_code) is not None:
                offered = t.district_code
                break
        await session.set_variable("HOTLINE_OPEN_TICKETS", str(len(tickets)))
        await session.set_variable("HOTLINE_REPEAT_CALLER", "1" if tickets else "0")
        if tickets:
            await session.set_variable("HOTLINE_LAST_TICKET", tickets[0].number)
            await session.set_variable("HOTLINE_LAST_TICKET_STATE", tickets[0].status)
        await session.set_variable("HOTLINE_OFFERED_DISTRICT", offered)

    return caller_lookup
