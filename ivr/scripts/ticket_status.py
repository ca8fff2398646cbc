"""``AGI(agi://…/ticket_status,${HOTLINE_TICKET_NO})``: ticket self-service.

Ticket numbers are ``12319-YYYYMMDD-NNNNN``; a phone keypad has no ``-``, so the caller
keys the 13 digits ``YYYYMMDDNNNNN`` (the number printed on the SMS without the
``12319-`` prefix and dashes). Also accepted: the full 18 digits with the ``12319``
prefix. The script sets

* ``HOTLINE_TICKET_STATE`` — the ticket's state code (the dialplan plays the matching
  ``ivr.flow.TICKET_STATE_PROMPTS`` prompt), or empty when there is no answer;
* ``HOTLINE_TICKET_NUMBER`` — the full number of the ticket found;
* ``HOTLINE_TICKET_ERROR`` — why the state is empty: ``empty`` (nothing keyed),
  ``invalid_number`` (not 13/18 digits or not a real date), ``not_found`` (no such
  ticket); cleared when a ticket is found.

Before returning, a found ticket's digits are read back (``SAY DIGITS``) so the caller
hears which ticket the following state prompt is about. A directory failure raises:
``AGISTATUS=FAILURE`` sends the caller to an agent.
"""

from __future__ import annotations

import logging
import re
from datetime import date

from ivr.agi.errors import AgiCommandFailed, AgiHangup
from ivr.agi.session import AgiSession
from ivr.directory import Directory

log = logging.getLogger(__name__)

PREFIX = "12319"
_FULL = re.compile(r"12319-(\d{8})-(\d{5})")
TICKET_ERRORS = ("empty", "invalid_number", "not_found")


def _valid_day(day: str) -> bool:
    try:
        date(int(day[:4]), int(day[4:6]), int(day[6:8]))
    except ValueError:
        return False
    return True


def ticket_number_from_digits(digits: str) -> str | None:
    """``"2026112700042"`` (or ``"123192026112700042"``) → ``"12319-20261127-00042"``;
    ``None`` when the keyed digits cannot be a ticket number."""
    digits = (digits or "").strip().rstrip("#")
    if not digits.isdigit() or not digits.isascii():
        return None
    if len(digits) == 18 and digits.startswith(PREFIX):
        digits = digits[len(PREFIX):]
    if len(digits) != 13:
        return None
    day, serial = digits[:8], digits[8:]
    if not _valid_day(day) or serial == "00000":
        return None
    return f"{PREFIX}-{day}-{serial}"


def digits_for_ticket(number: str) -> str:
    """``"12319-20261127-00042"`` → ``"2026112700042"``, the digits a caller keys."""
    m = _FULL.fullmatch((number or "").strip())
    if m is None:
        raise ValueError(f"not a ticket number: {number!r} (expected 12319-YYYYMMDD-NNNNN)")
    return m.group(1) + m.group(2)


async def _read_back(session: AgiSession, digits: str) -> None:
    """``SAY DIGITS``; ``result=-1`` means the caller hung up (then stop) or the digit sounds
    are missing (then carry on: the state prompt matters more than the read-back)."""
    try:
        await session.say_digits(digits)
    except AgiCommandFailed:
        if not session.hung_up:
            await session.noop()  # its reply comes after any pending out-of-band HANGUP line
        if session.hung_up:
            raise AgiHangup("caller hung up during the ticket number read-back") from None
        log.warning("ticket_status: SAY DIGITS failed on %s (digit sounds for language %r missing?)",
                    session.env.channel, session.env.language)


def ticket_status_script(directory: Directory, *, read_back_digits: bool = True):
    async def ticket_status(session: AgiSession) -> None:
        args = session.env.args
        keyed = (args[0] if args else "").strip()
        number = ticket_number_from_digits(keyed)
        if not keyed:
            error = "empty"
        elif number is None:
            error = "invalid_number"
        else:
            status = await directory.ticket_status(number)
            error = "" if status is not None else "not_found"
        if error:
            await session.set_variable("HOTLINE_TICKET_STATE", "")
            await session.set_variable("HOTLINE_TICKET_ERROR", error)
            return
        assert status is not None and number is not None
        await session.set_variable("HOTLINE_TICKET_ERROR", "")
        await session.set_variable("HOTLINE_TICKET_NUMBER", status.number)
        if read_back_digits:
            await _read_back(session, digits_for_ticket(number))
        # last: the dialplan reads this to choose the state prompt
        await session.set_variable("HOTLINE_TICKET_STATE", status.status)

    return ticket_status
