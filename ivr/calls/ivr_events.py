"""The IVR path and the hotline dialplan's marks: ``Newexten``, ``UserEvent``, DTMF, ``VarSet``, recordings.

IVR path: the citizen channel's ``Newexten`` (context entered, exten changed to
one or two keys / ``t`` / ``i``, AGI scripts) and the dialplan's ``UserEvent`` marks
``IVR<Kind>`` (``IVRStart`` = enter, ``IVRChoice`` = choice, ``IVRTimeout``,
``IVRInvalid``, ``IVRSpeech`` ...; optional ``Menu:`` header). A mark that confirms
the step just derived from ``Newexten`` (same menu and kind) is merged into it.

Hotline dialplan marks (all optional):

* ``UserEvent(HotlineDistrict,District: 150402[,Number: ...])`` — or a ``VarSet`` of
  ``HOTLINE_DISTRICT`` — before ``Dial()``: the next dial of the citizen channel is
  a district-line transfer with that district code (:mod:`.dials`).
* ``UserEvent(HotlineSelfServed)`` (or ``IVRSelfServed``): the IVR served the caller.
* ``UserEvent(HotlineMessage,File: <path>)``: an after-hours message was recorded.
* ``VarSet`` of ``HOTLINE_*`` on the citizen channel is copied to ``variables``.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime

from ..ami.messages import Message
from ..events import IvrStep, MenuChosen, Recorded
from .state import Call

_DIGITS = re.compile(r"^[0-9*#]{1,2}$")  # a menu key; longer numbers are Goto targets
_AGI_APPS = {"agi", "eagi", "deadagi"}
_RECORD_APPS = {"record"}
_VOICEMAIL_APPS = {"voicemail"}
_DISTRICT_MARKS = {"hotlinedistrict", "districttransfer", "districtdial", "ivrdistrict"}
_SELF_SERVED_MARKS = {"hotlineselfserved", "ivrselfserved", "selfserved"}
_MESSAGE_MARKS = {"hotlinemessage"}


class IvrEvents:
    """IVR and dialplan-mark handlers of :class:`~ivr.calls.CallTracker` (a mixin over its bookkeeping)."""

    def _on_newexten(self, msg: Message, at: datetime) -> None:
        self._newexten_seen = True
        ch = self._channel(msg)
        if ch is None:
            return
        ctx = msg.get("Context", "") or ""
        exten = msg.get("Exten") or msg.get("Extension") or ""
        app = msg.get("Application", "") or ""
        data = msg.get("AppData", "") or ""
        call = ch.call
        if ch.uniqueid == call.citizen:
            if not call.snap.dialed and exten:
                call.snap.dialed = exten
            if not ch.seen_exten or ctx != ch.context:
                self._add_step(call, IvrStep(at=at, menu=ctx, kind="enter"))
            elif exten != ch.exten:
                if exten == "t":
                    self._add_step(call, IvrStep(at=at, menu=ctx, kind="timeout"))
                elif exten == "i":
                    self._add_step(call, IvrStep(at=at, menu=ctx, kind="invalid"))
                elif _DIGITS.match(exten):
                    self._add_step(call, IvrStep(at=at, menu=ctx, kind="choice", value=exten))
            low = app.lower()
            if low in _AGI_APPS:
                script = data.split(",", 1)[0].strip()
                self._add_step(call, IvrStep(at=at, menu=ctx, kind="agi", value=script))
            elif low in _RECORD_APPS:
                call.voicemail = True
                path = data.split(",", 1)[0].strip()
                if path:
                    self._add_recording(call, path, "message", at)
            elif low in _VOICEMAIL_APPS:
                call.voicemail = True
        ch.context, ch.exten, ch.app, ch.seen_exten = ctx, exten, app, True
        self._maybe_started(call)

    def _on_userevent(self, msg: Message, at: datetime) -> None:
        ch = self._channel(msg)
        if ch is None:
            return
        call = ch.call
        name = (msg.get("UserEvent") or "").strip()
        low = name.lower()
        if low in _DISTRICT_MARKS:
            code = (msg.get("District") or msg.get("DistrictCode") or "").strip()
            call.pending_district = code or call.pending_district or ""
            return
        if low in _SELF_SERVED_MARKS:
            call.self_served = True
            return
        if low in _MESSAGE_MARKS:
            call.voicemail = True
            path = (msg.get("File") or msg.get("Path") or "").strip()
            if path:
                self._add_recording(call, path, "message", at)
            return
        if not low.startswith("ivr") or len(low) <= 3:
            return
        kind = low[3:]
        if kind == "start":
            kind = "enter"
        menu = (msg.get("Menu") or "").strip() or ch.context or msg.get("Context", "") or ""
        value = ""
        for key in ("Digit", "Choice", "Value", "Keyword", "Text", "Script"):
            v = msg.get(key)
            if v:
                value = v.strip()
                break
        self._add_step(call, IvrStep(at=at, menu=menu, kind=kind, value=value), mark=True)

    def _on_dtmfend(self, msg: Message, at: datetime) -> None:
        ch = self._citizen(msg)
        if ch is None or (msg.get("Direction") or "").lower() != "received":
            return
        digit = (msg.get("Digit") or "").strip()
        if digit:
            ch.call.snap.digits += digit

    def _on_varset(self, msg: Message, at: datetime) -> None:
        ch = self._channel(msg)
        if ch is None:
            return
        call = ch.call
        var = (msg.get("Variable") or "").strip()
        value = msg.get("Value") or ""
        upper = var.upper()
        if upper == "MIXMONITOR_FILENAME" and value:
            self._add_recording(call, value, "call", at)
        elif upper == "RECORDED_FILE" and value and ch.uniqueid == call.citizen:
            self._add_recording(call, value, "message", at)
        elif upper.startswith("HOTLINE_") and ch.uniqueid == call.citizen:
            call.snap.variables[var] = value
            if upper == "HOTLINE_DISTRICT" and value:
                call.pending_district = value

    def _add_recording(self, call: Call, path: str, kind: str, at: datetime) -> None:
        known = call.snap.recordings
        # Record(name.wav) then RECORDED_FILE=name (no extension) is one recording
        if any(p == path or p.startswith(path + ".") or path.startswith(p + ".") for p in known):
            return
        known.append(path)
        self._emit_call(call, Recorded(call_id=call.snap.call_id, at=at, path=path, kind=kind))

    def _add_step(self, call: Call, step: IvrStep, *, mark: bool = False) -> None:
        """Append a step; a dialplan mark confirming the step just derived from
        ``Newexten`` (same menu and kind) is merged into it instead."""
        path = call.snap.ivr_path
        if mark and path and call.unconfirmed_step:
            last = path[-1]
            if last.menu == step.menu and last.kind == step.kind and (
                    not last.value or not step.value or last.value == step.value):
                last.value = last.value or step.value
                call.unconfirmed_step = False
                return
        call.unconfirmed_step = not mark
        path.append(step)
        self._emit_call(call, MenuChosen(call_id=call.snap.call_id, at=step.at, step=copy.copy(step)))
