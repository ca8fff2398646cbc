"""The FastAGI scripts the rendered dialplan calls (docs/ivr.md, "AGI scripts").

Every answer comes through the :class:`ivr.directory.Directory` seam: no SQL, no
``hotline`` import. ``build_router(directory)`` returns the :class:`~ivr.agi.AgiRouter`
the FastAGI server serves::

    router = build_router(SqlDirectory(sessions, rules))
    server = FastAgiServer("0.0.0.0", 4573, router)

============== ============== =====================================================
script         arguments      sets
============== ============== =====================================================
business_hours —              ``HOTLINE_OPEN`` = ``1`` / ``0``, ``HOTLINE_HOURS_SOURCE=backend``
caller_lookup  caller number  ``HOTLINE_OPEN_TICKETS``, ``HOTLINE_REPEAT_CALLER``,
                              ``HOTLINE_LAST_TICKET`` / ``_STATE``, ``HOTLINE_OFFERED_DISTRICT``
ticket_status  keyed digits   ``HOTLINE_TICKET_STATE`` (state code or empty),
                              ``HOTLINE_TICKET_NUMBER`` or ``HOTLINE_TICKET_ERROR``
speech_menu    menu id        ``HOTLINE_SPEECH_RESULT`` (+ ``_KEYWORD``/``_CONFIDENCE``/``_TEXT``);
                              a spoken keyword continues at its option's key
                              (:mod:`ivr.scripts.speech_menu`, only with ``speech=``)
============== ============== =====================================================

A script that cannot answer (directory error) raises, so the server reports
``AGISTATUS=FAILURE`` and the dialplan takes its documented fallback.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ivr.agi.server import AgiRouter
from ivr.directory import Directory
from ivr.scripts.business_hours import business_hours_script
from ivr.scripts.caller_lookup import caller_lookup_script
from ivr.scripts.speech_menu import speech_menu_script
from ivr.speech import SpeechRecognizer
from ivr.scripts.ticket_status import (
    TICKET_ERRORS,
    digits_for_ticket,
    ticket_number_from_digits,
    ticket_status_script,
)

__all__ = [
    "SCRIPT_NAMES", "SpeechScriptSettings", "TICKET_ERRORS", "build_router", "digits_for_ticket", "ticket_number_from_digits",
]

Clock = Callable[[], datetime]

#: The scripts the rendered dialplan calls (``AGI(agi://host:port/<name>,...)``).
SCRIPT_NAMES = ("business_hours", "caller_lookup", "ticket_status")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class SpeechScriptSettings:
    """What the ``speech_menu`` script needs: the current recogniser (``None`` = speech off) and the
    directory Asterisk records into (``record_dir``) as this process reads it (``local_dir``)."""

    recogniser: Callable[[], SpeechRecognizer | None]
    record_dir: str
    local_dir: str | Path | None = None
    context_prefix: str = "hl12319"


def build_router(directory: Directory, *, clock: Clock | None = None, read_back_digits: bool = True,
                 speech: SpeechScriptSettings | None = None) -> AgiRouter:
    """The FastAGI routes of the hotline dialplan, answering through ``directory``.

    ``clock`` (aware ``datetime``) is the time business hours are judged at — the real
    time by default; tests and the simulator pass their own. ``read_back_digits``: the
    ticket-status script reads the found ticket's number back (``SAY DIGITS``) before the
    dialplan plays its state prompt. ``speech`` adds the ``speech_menu`` script (a dialplan rendered
    with ``speech=True`` calls it at every menu; without it the script is unknown, the AGI fails and
    the menu waits for DTMF).
    """
    if not isinstance(directory, Directory):
        raise TypeError(f"directory must implement ivr.directory.Directory, got {type(directory).__name__}")
    now = clock or _utc_now
    router = AgiRouter({
        "business_hours": business_hours_script(directory, now),
        "caller_lookup": caller_lookup_script(directory),
        "ticket_status": ticket_status_script(directory, read_back_digits=read_back_digits),
    })
    if speech is not None:
        router.add("speech_menu", speech_menu_script(speech.recogniser, record_dir=speech.record_dir,
                                                     local_dir=speech.local_dir,
                                                     context_prefix=speech.context_prefix))
    return router
