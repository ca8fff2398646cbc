"""``AGI(agi://…/speech_menu,<menu id>)``: the caller may say a keyword instead of pressing a key.

Rendered into every menu when the dialplan is rendered with ``speech`` (``dialplans/_menu_wait.j2``).
FastAGI runs over TCP, so the audio cannot come on EAGI's file descriptor 3 (that exists only for a
local EAGI process): the script has Asterisk record a short file (``RECORD FILE``, ended by a key, by
silence after speech or by the menu's timeout) into ``record_dir`` — a directory Asterisk writes and
this process reads (``local_dir``; the same directory on one host, a shared volume in compose) — and
recognises it with :class:`ivr.speech.SpeechRecognizer` against the menu's keyword grammar.

Outcome, in ``HOTLINE_SPEECH_RESULT`` (also ``HOTLINE_SPEECH_KEYWORD`` / ``_CONFIDENCE`` / ``_TEXT``):

=================== ===================================================================
``dtmf``            a key ended the recording: the dialplan continues at that key's extension
``matched``         a keyword with enough confidence: continues at its option's key, after
                    ``UserEvent(IVRSpeech,Menu: <context>,Keyword: …)`` (the call's IVR path)
``silence``         nothing said: the dialplan takes the menu's timeout branch
``noise`` ``no_match`` ``low_confidence``
                    the dialplan says "please press a key" and waits for DTMF
``off`` ``busy`` ``error``
                    no recogniser (no model configured, unknown menu), every worker busy, the
                    recording unreadable: plain DTMF, as without speech
=================== ===================================================================

The recording is deleted once recognised.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Callable

from ivr.agi.session import AgiSession
from ivr.speech import AudioFormatError, SpeechBusy, SpeechRecognizer, read_audio

log = logging.getLogger(__name__)

__all__ = ["speech_menu_script", "SPEECH_RESULTS"]

SPEECH_RESULTS = ("dtmf", "matched", "silence", "noise", "no_match", "low_confidence", "off", "busy", "error")
_KEYS = "0123456789*#"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")
#: seconds of silence after which Asterisk ends the recording
SILENCE_SECONDS = 2


def speech_menu_script(recogniser: Callable[[], SpeechRecognizer | None], *, record_dir: str,
                       local_dir: str | Path | None = None, context_prefix: str = "hl12319"):
    """``recogniser()`` returns the current recogniser (``None`` while speech is off): rules reloads
    and a model loaded after start are picked up on the next call."""
    local = Path(local_dir if local_dir is not None else record_dir)

    async def speech_menu(session: AgiSession) -> None:
        args = session.env.args
        menu_id = (args[0] if args else "").strip()
        rec = recogniser()
        menu = rec.grammars.flow.menu(menu_id) if rec is not None and menu_id in rec.grammars else None
        if rec is None or menu is None:
            await session.set_variable("HOTLINE_SPEECH_RESULT", "off")
            return
        context = f"{context_prefix}-menu-{menu_id}"
        name = _SAFE.sub("_", f"speech-{session.env.uniqueid or 'call'}-{menu_id}")
        result = await session.record_file(f"{record_dir.rstrip('/')}/{name}", "wav", escape_digits=_KEYS,
                                           timeout_ms=menu.timeout_seconds * 1000, silence_s=SILENCE_SECONDS)
        path = local / f"{name}.wav"
        try:
            if result.reason == "hangup":
                return
            if result.reason == "dtmf" and result.digit:
                await session.set_variable("HOTLINE_SPEECH_RESULT", "dtmf")
                await session.goto_on_exit(context, result.digit, 1)
                return
            try:
                audio = read_audio(path)
            except (OSError, AudioFormatError) as exc:
                log.warning("speech_menu: recording of %s unusable: %s", session.env.channel, exc)
                await session.set_variable("HOTLINE_SPEECH_RESULT", "error")
                return
            try:
                choice = await rec.recognise_menu(menu_id, audio)
            except SpeechBusy:
                log.warning("speech_menu: every speech worker busy; %s continues by DTMF", session.env.channel)
                await session.set_variable("HOTLINE_SPEECH_RESULT", "busy")
                return
        finally:
            path.unlink(missing_ok=True)
        await session.set_variable("HOTLINE_SPEECH_RESULT", choice.outcome)
        await session.set_variable("HOTLINE_SPEECH_KEYWORD", choice.keyword)
        await session.set_variable("HOTLINE_SPEECH_CONFIDENCE", f"{choice.confidence:.2f}")
        await session.set_variable("HOTLINE_SPEECH_TEXT", choice.text)
        if choice.outcome in ("silence",):
            return
        await session.exec("UserEvent", f"IVRSpeech,Menu: {context},Keyword: {choice.keyword or '-'},"
                                        f"Outcome: {choice.outcome},Confidence: {choice.confidence:.2f}")
        if choice.matched:
            await session.goto_on_exit(context, choice.key, 1)

    return speech_menu
