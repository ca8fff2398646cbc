"""Channels and bridges: which channels make up a call, who the citizen is, answer and hang-up.

Identity rules (docs/telephony-research.md §1.10):

* A ``Newchannel`` whose Linkedid is not known starts a call; ``call_id`` is that
  Linkedid. Every channel carrying the same Linkedid (Local halves, Dial() legs,
  queue member channels) joins the call. A Linkedid a channel of the call takes
  later (bridging with an older channel, transfers) becomes an alias; when the
  Linkedid belongs to another live call, the channel moves there
  (:meth:`~ivr.calls.tracker.CallTracker._follow_linkedid`); when it is the citizen channel of its
  own call (a phone that picked up a ringing call: Asterisk gives the older conversation's
  Linkedid), that call was only a staff leg and ends as ``internal``.
* The **citizen channel** is the channel that runs the hotline dialplan for the
  caller: the root channel itself (a SIP/PJSIP inbound call), except when the
  root is a ``Local/...;1`` half — then it is its ``;2`` sibling, because ``;2``
  executes ``exten@context`` while ``;1`` is the originator's end (in the
  Asterisk 20 captures every call is an AMI Originate into ``Local/s@ivr-12319``,
  so the IVR and the DTMF ``Direction: Received`` are on ``;2``).
  ``BridgeEnter`` with ``SwapUniqueid`` hands the role to the replacing channel.
* The caller is the citizen channel's caller ID, and follows its ``NewCallerid`` changes (a
  dialplan that rewrites the number on the way in); ``CID-CallingPres`` gives the number's
  presentation (``allowed``, ``restricted`` when withheld, ``unavailable``).
* The call ends when the citizen channel hangs up (or no channel of the call is
  left); late events of its channels are ignored.
"""

from __future__ import annotations

from datetime import datetime

from ..ami.messages import Message
from ..events import CallAnswered
from .state import UNKNOWN_CID, UP, as_int

# ``CID-CallingPres: 33 (Presentation Prohibited, Passed Screen)``: bits 5-6 of the number (AST_PRES_*)
_PRESENTATION = {0x00: "allowed", 0x20: "restricted", 0x40: "unavailable"}


class ChannelEvents:
    """Channel and bridge handlers of :class:`~ivr.calls.CallTracker` (a mixin over its bookkeeping)."""

    def _on_newchannel(self, msg: Message, at: datetime) -> None:
        uid = msg.get("Uniqueid")
        if not uid or uid in self._by_uid or uid in self._ended:
            return
        lid = msg.get("Linkedid") or uid
        call = self._by_linkedid.get(lid)
        if call is None:
            if lid in self._ended:
                return
            call = self._new_call(lid, root=lid, at=at)
        ch = self._add_channel(call, uid, msg.get("Channel", "") or "", msg)
        if ch.uniqueid == call.citizen:
            self._caller_from(call, msg, "")
            self._maybe_started(call)

    def _on_localbridge(self, msg: Message, at: datetime) -> None:
        one = self._channel(msg, "LocalOne")
        two_uid = msg.get("LocalTwoUniqueid")
        if one is None or not two_uid:
            return
        two = self._by_uid.get(two_uid)
        if two is None and two_uid not in self._ended:
            two = self._add_channel(one.call, two_uid, msg.get("LocalTwoChannel", "") or "", msg,
                                    "LocalTwo")
        elif two is not None and two.call is not one.call and two.uniqueid != two.call.citizen:
            self._move(two, one.call, at)
        if one.call.citizen is None:
            self._assign_citizen(one.call)
        call = one.call
        if call.citizen:
            self._caller_from(call, msg, "LocalTwo" if call.citizen == two_uid else "LocalOne")
            self._maybe_started(call)

    def _on_bridgeenter(self, msg: Message, at: datetime) -> None:
        swap = msg.get("SwapUniqueid")
        uid = msg.get("Uniqueid")
        if not swap or not uid:
            return
        old = self._by_uid.get(swap)
        if old is None:
            return
        call = old.call
        ch = self._by_uid.get(uid)
        if ch is None:
            ch = self._add_channel(call, uid, msg.get("Channel", "") or "", msg)
        elif ch.call is not call and ch.uniqueid != ch.call.citizen:
            self._move(ch, call, at)
        if call.citizen == swap and ch.call is call:
            call.citizen = ch.uniqueid
            call.snap.channel = ch.name

    def _on_newstate(self, msg: Message, at: datetime) -> None:
        ch = self._citizen(msg)
        if ch is None or msg.get("ChannelState") != UP:
            return
        call = ch.call
        if call.snap.answered_at is None:
            call.answered = True
            call.snap.answered_at = ch.cel_answer or at
            self._emit_call(call, CallAnswered(call_id=call.snap.call_id, at=at))

    def _on_newcallerid(self, msg: Message, at: datetime) -> None:
        ch = self._citizen(msg)
        if ch is None:
            return
        s = ch.call.snap
        num = (msg.get("CallerIDNum") or "").strip()
        if num.lower() not in UNKNOWN_CID:
            s.caller = num
        name = (msg.get("CallerIDName") or "").strip()
        if name.lower() not in UNKNOWN_CID:
            s.caller_name = name
        pres = as_int((msg.get("CID-CallingPres") or "").split(" ", 1)[0])
        if pres is not None:
            s.caller_presentation = _PRESENTATION.get(pres & 0x60, "")

    def _on_hangup(self, msg: Message, at: datetime) -> None:
        ch = self._channel(msg)
        if ch is None:
            return
        call = ch.call
        cause = as_int(msg.get("Cause"))
        text = (msg.get("Cause-txt") or "").strip()
        call.channels.pop(ch.uniqueid, None)
        self._by_uid.pop(ch.uniqueid, None)
        self._remember(ch.uniqueid)
        call.last_cause, call.last_cause_text = cause, text
        if ch.uniqueid == call.citizen:
            call.snap.hangup_cause, call.snap.hangup_cause_text = cause, text
            self._end(call, ch.cel_hangup or at)
        elif not call.channels:
            self._end(call, at)
