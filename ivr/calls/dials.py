"""Dials and transfers: ``Dial()`` legs of the citizen channel, district lines, blind and attended transfers.

A ``Dial()`` of the citizen channel (``DialBegin``) is a transfer attempt; ``DialEnd`` gives its
result. It is a district-line transfer when the dialplan marked it (``UserEvent(HotlineDistrict,
District: 150402)`` or ``HOTLINE_DISTRICT``, see :mod:`.ivr_events`; target ``district:<code>``)
or when it dials into or from one of ``district_contexts`` (default ``district-lines`` as in the
test PBX, ``district-dial``). Queue() ringing a member is not a transfer. A channel that never
showed a ``Newexten`` (an AMI user without the ``dialplan`` read class: no application is known)
dials when ``DialBegin`` says so; the first such dial of a connection is warned about
(``newexten_missing``).

``BlindTransfer`` and ``AttendedTransfer`` add a transfer of their own; one whose line then fails
does not count. The transferer's consult call (the ``SecondTransferer``'s own call, when it is
another call) is a staff leg of the transferred conversation: it ends as ``internal``, and the
number it dialled is the transfer's target when the event names no target channel.
"""

from __future__ import annotations

import copy
import logging
from datetime import datetime

from ..ami.messages import Message
from ..events import Transfer, Transferred, TransferResult
from .state import FAILED_RESULTS, UNKNOWN_CID, Call, Channel

log = logging.getLogger("ivr.calls")

_DIAL_APPS = {"dial", "agi", "eagi"}  # AGI "EXEC Dial" leaves the app at AGI
_DIAL_RESULTS = {
    "ANSWER": TransferResult.ANSWERED,
    "BUSY": TransferResult.BUSY,
    "NOANSWER": TransferResult.NO_ANSWER,
    "CONGESTION": TransferResult.CONGESTION,
    "CHANUNAVAIL": TransferResult.UNAVAILABLE,
    "CANCEL": TransferResult.CANCELLED,
    "ABORT": TransferResult.CANCELLED,
}
_DIAL_PROGRESS = {"", "RINGING", "PROGRESS", "PROCEEDING"}


class DialEvents:
    """Dial and transfer handlers of :class:`~ivr.calls.CallTracker` (a mixin over its bookkeeping)."""

    def _is_district(self, msg: Message, ch: Channel) -> bool:
        """Dialled into a district context, or dialled from one (``district-dial``)."""
        if ch.context.lower() in self.district_contexts:
            return True
        ctx = (msg.get("DestContext") or "").lower()
        ds = (msg.get("DialString") or "").lower()
        for d in self.district_contexts:
            if ctx == d or ds.endswith("@" + d) or ("@" + d + "/") in ds:
                return True
        return False

    def _on_dialbegin(self, msg: Message, at: datetime) -> None:
        ch = self._citizen(msg)
        dest = msg.get("DestUniqueid")
        if ch is None or not dest:
            return
        call = ch.call
        marked = call.pending_district is not None
        if dest in call.agent_legs:
            return  # Queue() ringing a member (AgentCalled came first): not a transfer
        if not ch.seen_exten and not marked:
            self._dial_without_newexten()       # the application is unknown: DialBegin is all there is
        elif ch.app.lower() not in _DIAL_APPS and not marked:
            return  # Queue(), Page(), ...: not a transfer
        code = call.pending_district or ""
        call.pending_district = None
        if marked or self._is_district(msg, ch):
            kind = "district_line"
        else:
            kind = "dial"
        target = f"district:{code}" if code else (msg.get("DialString") or msg.get("DestChannel") or "")
        t = Transfer(at=at, target=target, kind=kind, district_code=code)
        call.snap.transfers.append(t)
        call.dials[dest] = t
        self._publish_started(call)

    def _dial_without_newexten(self) -> None:
        if self._newexten_seen or self.newexten_missing:
            return
        self.newexten_missing = True
        log.warning("call tracker: a Dial() without any Newexten on this AMI connection: the AMI user "
                    "lacks the 'dialplan' read class (manager.conf: read = ...,dialplan). Dials are taken "
                    "from DialBegin/DialEnd, but IVR paths and recordings are not seen")

    def _on_dialend(self, msg: Message, at: datetime) -> None:
        dest = msg.get("DestUniqueid")
        ch = self._channel(msg)
        if ch is None or not dest:
            return
        call = ch.call
        t = call.dials.get(dest)
        status = (msg.get("DialStatus") or "").strip().upper()
        if t is None or status in _DIAL_PROGRESS:
            return
        del call.dials[dest]
        t.dial_status = status
        t.result = _DIAL_RESULTS.get(status, TransferResult.FAILED)
        if t.result == TransferResult.ANSWERED:
            call.served = "transferred"
        elif t.result in FAILED_RESULTS:
            # a blind/attended transfer into a dialplan that then failed to reach the line
            earlier = call.snap.transfers[:-1] if call.snap.transfers[-1:] == [t] else []
            if call.served == "transferred" and earlier and earlier[-1].kind in ("blind", "attended"):
                call.served = "agent" if call.snap.agent_answered_at else ""
        self._emit_call(call, Transferred(call_id=call.snap.call_id, at=at, transfer=copy.copy(t)))

    def _transfer_call(self, msg: Message, *prefixes: str) -> Call | None:
        for p in prefixes:
            ch = self._channel(msg, p)
            if ch is not None:
                return ch.call
        for p in prefixes:
            call = self._by_linkedid.get(msg.get(p + "Linkedid") or "")
            if call is not None:
                return call
        return None

    def _on_blindtransfer(self, msg: Message, at: datetime) -> None:
        call = self._transfer_call(msg, "Transferee", "Transferer")
        if call is None:
            return
        result = (msg.get("Result") or "").strip()
        ctx, ext = msg.get("Context") or "", msg.get("Extension") or ""
        target = f"{ext}@{ctx}" if ctx else ext
        t = Transfer(at=at, target=target, kind="blind", dial_status=result,
                     result=TransferResult.ANSWERED if result.lower() == "success"
                     else TransferResult.FAILED)
        self._record_transfer(call, t, at)

    def _on_attendedtransfer(self, msg: Message, at: datetime) -> None:
        call = self._transfer_call(msg, "Transferee", "OrigTransferer", "SecondTransferer")
        if call is None:
            return
        consult = self._transfer_call(msg, "SecondTransferer")
        if consult is call:
            consult = None
        if consult is not None:
            consult.internal = True     # the transferer's call to the target: a staff leg of this one
        result = (msg.get("Result") or "").strip()
        target = msg.get("TransferTargetChannel") or (consult.snap.dialed if consult is not None else "")
        for key in ("SecondTransfererExten", "SecondTransfererConnectedLineNum", "DestApp", "DestType"):
            if not target or target.lower() in UNKNOWN_CID:
                target = (msg.get(key) or "").strip()
        t = Transfer(at=at, target=target, kind="attended", dial_status=result,
                     result=TransferResult.ANSWERED if result.lower() == "success"
                     else TransferResult.FAILED)
        self._record_transfer(call, t, at)

    def _record_transfer(self, call: Call, t: Transfer, at: datetime) -> None:
        call.snap.transfers.append(t)
        if t.result == TransferResult.ANSWERED:
            call.served = "transferred"
        self._emit_call(call, Transferred(call_id=call.snap.call_id, at=at, transfer=copy.copy(t)))
