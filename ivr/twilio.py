"""The same IVR over Twilio Programmable Voice (optional extra ``twilio``, decision 0013).

:class:`TwilioVoice` answers Twilio's voice webhooks (``<base>/…``, default ``/twilio/voice``) with
TwiML generated from the same :class:`~ivr.flow.IvrFlow` the Asterisk dialplan is rendered from:

============================== ======================================================================
webhook                        TwiML / what it does
============================== ======================================================================
``incoming``                   business hours and caller look-up through the :class:`~ivr.directory.
                               Directory`; welcome, then the entry menu (the district offer first for
                               a repeat caller, as the dialplan), or after hours the message
``menu/<id>``                  ``<Gather input="dtmf speech" language="zh-CN" hints=keywords>`` around
                               the menu prompt, ``actionOnEmptyResult``: silence comes back too
``menu/<id>/choice``           ``Digits`` or ``SpeechResult`` (matched against the menu's keywords,
                               ``Confidence`` ≥ ``min_confidence``) → the option; wrong key, unknown
                               word or silence → invalid / timeout prompt and the menu again, the
                               agent queue after ``max_retries`` (counters in the signed query string)
``offer/<id>?district=``       the district offer: 1 its line, 2 the menu, 0 an agent
``district/<code>/done``       ``<Dial action>`` result: answered ends; busy, no-answer, failed,
                               canceled → ``transfer_failed`` prompt and queue, as ``DIALSTATUS``
``queue/<id>/done`` ``/wait``  ``<Enqueue action waitUrl>``: the caller's ``QueueResult``; waiting
                               longer than the queue's ``max_wait_seconds`` leaves for the fallback
``queue/<id>/bridged``         ``<Queue url>`` of the agent's ``<Dial>`` when an agent takes the caller
``agent/<queue>``              TwiML for an agent's phone or client: ``<Dial><Queue>`` takes the next caller
``ticket/<menu>/<key>``        ``<Gather finishOnKey="#">`` of the ticket number → its state prompt
``message/<reason>``           ``<Record action>`` of a message; ``…/done`` reports it
``status``                     the call's ``statusCallback``: the call ended
============================== ======================================================================

Prompts are ``<Play>``\\ ed from ``prompt_url`` (``hotline prompts build`` output served over HTTPS)
when set, else ``<Say language="zh-CN">`` of their text.

Every webhook becomes the AMI-shaped events the Asterisk dialplan would have produced (a channel
``Twilio/<CallSid>``, ``UserEvent(IVRStart/IVRChoice/IVRSpeech…)``, ``QueueCallerJoin``,
``DialBegin``/``DialEnd``, ``HotlineMessage``, ``Hangup`` …), fed to the same
:class:`~ivr.calls.CallTracker`: Twilio calls get the same call records, dispositions, automatic
tickets, console and metrics as Asterisk calls, by construction. The tracker keeps Twilio's live
calls through an AMI resync (:meth:`TwilioVoice.live_channels`).

Security: :class:`SignatureCheck` validates ``X-Twilio-Signature`` with twilio's own
``RequestValidator`` on the public URL Twilio used (:func:`public_url`, behind a proxy). A replayed
webhook (the same URL and parameters of a call) gets the same TwiML again and changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import xml.etree.ElementTree as ET
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Mapping
from urllib.parse import urlencode, urlsplit

from .ami.messages import Message
from .directory import Directory
from .flow import MenuAction, IvrFlow, Menu, Option, Prompt, offer_prompt
from .scripts.ticket_status import ticket_number_from_digits

log = logging.getLogger(__name__)

__all__ = ["SignatureCheck", "TwilioVoice", "public_url", "DIAL_STATUS", "QUEUE_RESULTS"]

#: ``DialCallStatus`` → the ``DIALSTATUS`` the dialplan would see
DIAL_STATUS = {"completed": "ANSWER", "answered": "ANSWER", "busy": "BUSY", "no-answer": "NOANSWER",
               "failed": "CHANUNAVAIL", "canceled": "CANCEL"}
#: ``QueueResult`` values of ``<Enqueue action>`` that mean the caller left without an agent
QUEUE_RESULTS = ("hangup", "leave", "queue-full", "error", "system-error", "redirected", "bridged",
                 "bridging-in-process")
_FINAL_STATUS = {"completed": (16, "Normal Clearing"), "busy": (17, "User busy"),
                 "no-answer": (19, "No answer"), "failed": (38, "Network out of order"),
                 "canceled": (487, "Request terminated")}
_SID = re.compile(r"CA[0-9a-fA-F]{32}")


# -- signatures and URLs ---------------------------------------------------------------------------

def public_url(url: str, headers: Mapping[str, str], *, public_base: str = "") -> str:
    """The URL Twilio requested, as it signed it.

    ``public_base`` (``https://hotline.example.gov.cn``, the address configured at Twilio) replaces
    scheme and host when set. Otherwise ``X-Forwarded-Proto`` / ``X-Forwarded-Host`` /
    ``X-Forwarded-Port`` (or RFC 7239 ``Forwarded``) of a reverse proxy are honoured. A forged header
    gains nothing: the signature is only valid for the URL Twilio really called.
    """
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if public_base:
        base = urlsplit(public_base)
        prefix = base.path.rstrip("/")
        return f"{base.scheme}://{base.netloc}{prefix}{path}"
    low = {k.lower(): v for k, v in headers.items()}
    scheme, host = parts.scheme, parts.netloc
    forwarded = low.get("forwarded", "")
    if forwarded:
        first = forwarded.split(",")[0]
        pairs = dict(p.strip().split("=", 1) for p in first.split(";") if "=" in p)
        scheme = pairs.get("proto", scheme).strip('"')
        host = pairs.get("host", host).strip('"')
    if low.get("x-forwarded-proto"):
        scheme = low["x-forwarded-proto"].split(",")[0].strip()
    if low.get("x-forwarded-host"):
        host = low["x-forwarded-host"].split(",")[0].strip()
    if low.get("x-forwarded-port") and ":" not in host.rsplit("]", 1)[-1]:
        port = low["x-forwarded-port"].split(",")[0].strip()
        if (scheme, port) not in (("https", "443"), ("http", "80")):
            host = f"{host}:{port}"
    return f"{scheme}://{host}{path}"


class SignatureCheck:
    """``X-Twilio-Signature`` with twilio's ``RequestValidator`` (the account's auth token)."""

    def __init__(self, auth_token: str):
        # the optional extra: imported only when Twilio voice is configured
        from twilio.request_validator import RequestValidator

        if not auth_token:
            raise ValueError("Twilio voice needs the account's auth token (HOTLINE_TWILIO_AUTH_TOKEN)")
        self._validator = RequestValidator(auth_token)

    def valid(self, url: str, params: Mapping[str, str], signature: str) -> bool:
        if not signature:
            return False
        return bool(self._validator.validate(url, dict(params), signature))


# -- TwiML -----------------------------------------------------------------------------------------

def _twiml(*verbs: ET.Element) -> str:
    root = ET.Element("Response")
    root.extend(verbs)
    return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")


def _el(tag: str, text: str | None = None, /, **attrs: object) -> ET.Element:
    el = ET.Element(tag, {k.rstrip("_"): str(v) for k, v in attrs.items() if v is not None})
    if text is not None:
        el.text = text
    return el


def _e164(number: str, country_code: str) -> str:
    """A district line as Twilio dials it: ``04768312319`` → ``+864768312319``."""
    if number.startswith("+"):
        return number
    return country_code + number.lstrip("0")


# -- the bridge into the call tracker ---------------------------------------------------------------

@dataclass
class _Call:
    sid: str
    caller: str
    started: float
    dials: int = 0
    open_dial: str = ""
    queue: str = ""
    queue_joined: float | None = None
    offered: str = ""
    seen: OrderedDict = field(default_factory=OrderedDict)   # request fingerprint -> TwiML answer


class TwilioVoice:
    """Twilio's voice webhooks for one flow (see the module docstring).

    ``feed`` receives the AMI-shaped events (``CallTracker.feed``); ``directory`` answers business
    hours, the caller's open tickets and ticket states; ``clock`` gives epoch seconds.
    """

    def __init__(self, flow: IvrFlow, directory: Directory, feed: Callable[[Message], None], *,
                 base_path: str = "/twilio/voice", prompt_url: str = "", language: str = "zh-CN",
                 min_confidence: float = 0.5, country_code: str = "+86", context_prefix: str = "hl12319",
                 clock: Callable[[], float] = time.time, ended_memory: int = 10_000):
        self.flow = flow
        self.directory = directory
        self.feed = feed
        self.base = base_path.rstrip("/")
        self.prompt_url = prompt_url.rstrip("/")
        self.language = language
        self.min_confidence = min_confidence
        self.country_code = country_code
        self.p = context_prefix
        self.clock = clock
        self._calls: dict[str, _Call] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._ended_memory = ended_memory
        self.replays = 0

    # -- tracker events ------------------------------------------------------------------------
    def _emit(self, call: _Call, event: str, *pairs: tuple[str, str]) -> None:
        headers = [("Event", event), ("Timestamp", f"{self.clock():.6f}"), ("Channel", f"Twilio/{call.sid}"),
                   ("Uniqueid", call.sid), ("Linkedid", call.sid), ("CallerIDNum", call.caller),
                   *pairs]
        self.feed(Message(headers))

    def _user(self, call: _Call, name: str, **fields: str) -> None:
        self._emit(call, "UserEvent", ("UserEvent", name), *fields.items())

    def _var(self, call: _Call, name: str, value: str) -> None:
        self._emit(call, "VarSet", ("Variable", name), ("Value", value))

    def live_channels(self) -> list[Message]:
        """``CoreShowChannel``-like rows of the live Twilio calls, for the tracker's resync."""
        return [Message([("Event", "CoreShowChannel"), ("Channel", f"Twilio/{c.sid}"), ("Uniqueid", c.sid),
                         ("Linkedid", c.sid), ("ChannelState", "6"), ("CallerIDNum", c.caller)])
                for c in self._calls.values()]

    # -- request handling ---------------------------------------------------------------------------
    def _prompt(self, prompt: Prompt) -> ET.Element:
        if self.prompt_url:
            return _el("Play", f"{self.prompt_url}/{prompt.file}.wav")
        return _el("Say", prompt.text, language=self.language)

    def _sys(self, prompt_id: str) -> ET.Element:
        return self._prompt(self.flow.system_prompt(prompt_id))

    def _url(self, path: str, **query: object) -> str:
        q = {k: v for k, v in query.items() if v not in (None, "")}
        return f"{self.base}/{path}" + (f"?{urlencode(q)}" if q else "")

    def _redirect(self, path: str, **query: object) -> ET.Element:
        return _el("Redirect", self._url(path, **query), method="POST")

    async def handle(self, path: str, params: Mapping[str, str], query: Mapping[str, str]) -> str:
        """The TwiML answer to the webhook ``path`` (below the base) with form ``params``.

        Raises ``LookupError`` for an unknown path and ``ValueError`` for a request without a valid
        ``CallSid``."""
        sid = params.get("CallSid", "")
        if not _SID.fullmatch(sid):
            raise ValueError("not a Twilio call webhook (CallSid missing or malformed)")
        path = path.strip("/")
        if path == "status":
            self.status(params)
            return _twiml()
        call = self._calls.get(sid)
        if call is None:
            if sid in self._ended:  # a webhook of a call that is over (a replay): nothing to do
                self.replays += 1
                return _twiml(_el("Hangup"))
            if path != "incoming":
                raise LookupError(f"call {sid} is not known here (its first webhook must be 'incoming')")
            call = self._calls[sid] = _Call(sid, params.get("From", ""), self.clock())
        key = hashlib.sha256(repr((path, sorted(params.items()), sorted(query.items()))).encode()).hexdigest()
        if key in call.seen:
            self.replays += 1
            return call.seen[key]
        answer = _twiml(*await self._dispatch(call, path, params, query))
        call.seen[key] = answer
        while len(call.seen) > 200:
            call.seen.popitem(last=False)
        return answer

    async def _dispatch(self, call: _Call, path: str, params: Mapping[str, str],
                        query: Mapping[str, str]) -> list[ET.Element]:
        parts = path.split("/")
        match parts:
            case ["incoming"]:
                return await self.incoming(call, params)
            case ["menu", menu_id]:
                return self.menu(call, self._menu(menu_id), query)
            case ["menu", menu_id, "choice"]:
                return self.choice(call, self._menu(menu_id), params, query)
            case ["offer", menu_id]:
                return self.offer(call, self._menu(menu_id), query.get("district", ""), params, query)
            case ["district", code, "done"]:
                return self.district_done(call, code, params)
            case ["queue", queue_id, "done"]:
                return self.queue_done(call, self._queue(queue_id), params)
            case ["queue", queue_id, "wait"]:
                return self.queue_wait(call, self._queue(queue_id), params)
            case ["ticket", menu_id, key]:
                return await self.ticket(call, self._menu(menu_id), key, params, query)
            case ["message", reason]:
                return self.message(call, reason, query)
            case ["message", reason, "done"]:
                return self.message_done(call, reason, params)
        raise LookupError(f"no Twilio voice webhook {path!r}")

    def _menu(self, menu_id: str) -> Menu:
        menu = self.flow.menu(menu_id)
        if menu is None:
            raise LookupError(f"no menu {menu_id!r}")
        return menu

    def _queue(self, queue_id: str) -> str:
        if self.flow.queue(queue_id) is None:
            raise LookupError(f"no queue {queue_id!r}")
        return queue_id

    # -- the call --------------------------------------------------------------------------------------
    async def incoming(self, call: _Call, params: Mapping[str, str]) -> list[ET.Element]:
        self._emit(call, "Newchannel", ("CallerIDName", params.get("CallerName", "")),
                   ("Exten", re.sub(r"\D", "", params.get("To", "")) or "12319"), ("Context", f"{self.p}-entry"))
        self._emit(call, "Newstate", ("ChannelState", "6"), ("ChannelStateDesc", "Up"))
        self._user(call, "IVRStart", Menu=f"{self.p}-entry")
        caller = re.sub(r"\D", "", call.caller.replace("+86", "", 1)) if call.caller.startswith("+86") else \
            re.sub(r"\D", "", call.caller)
        try:
            tickets = await self.directory.open_tickets_for(caller) if caller else []
        except Exception:
            log.warning("twilio: caller look-up failed for %s", call.sid, exc_info=True)
            tickets = []
        self._var(call, "HOTLINE_CALLER", call.caller)
        self._var(call, "HOTLINE_OPEN_TICKETS", str(len(tickets)))
        self._var(call, "HOTLINE_REPEAT_CALLER", "1" if tickets else "0")
        for t in tickets:
            if t.district_code and self.flow.district(t.district_code) is not None:
                call.offered = t.district_code
                break
        self._var(call, "HOTLINE_OFFERED_DISTRICT", call.offered)
        if self.flow.business_hours.mode != "always":
            try:
                is_open = await self.directory.is_open_now(None)
                self._var(call, "HOTLINE_HOURS_SOURCE", "backend")
            except Exception:
                log.warning("twilio: business hours unknown for %s; treated as open", call.sid, exc_info=True)
                is_open = True
                self._var(call, "HOTLINE_HOURS_SOURCE", "schedule")
            self._var(call, "HOTLINE_OPEN", "1" if is_open else "0")
            if not is_open:
                self._var(call, "HOTLINE_AFTER_HOURS", "1")
                self._user(call, "IVRStart", Menu=f"{self.p}-message", Value="after_hours")
                verbs = [self._prompt(self.flow.after_hours.prompt)]
                if self.flow.after_hours.leave_message:
                    return verbs + self._record("after_hours")
                return verbs + [_el("Hangup")]
        verbs = [self._prompt(self.flow.welcome)]
        if self.flow.menu_less or self.flow.entry is None:
            return verbs + self._enqueue(call, self.flow.agent_queue)
        return verbs + [self._open_menu(call, self.flow.entry)]

    def _open_menu(self, call: _Call, menu: Menu) -> ET.Element:
        offer = self.flow.district_offer(menu.id)
        if offer is not None and any(d.code == call.offered for d, _ in offer.districts):
            return self._redirect(f"offer/{menu.id}", district=call.offered)
        return self._redirect(f"menu/{menu.id}")

    def menu(self, call: _Call, menu: Menu, query: Mapping[str, str]) -> list[ET.Element]:
        if not query.get("invalid") and not query.get("timeouts"):
            self._var(call, "HOTLINE_MENU", menu.id)
            self._user(call, "IVRStart", Menu=f"{self.p}-menu-{menu.id}")
        hints = ",".join(w for o in menu.options for w in o.keywords)
        gather = _el("Gather", input="dtmf speech", numDigits=1, timeout=menu.timeout_seconds,
                     language=self.language, hints=hints or None, actionOnEmptyResult="true", method="POST",
                     action=self._url(f"menu/{menu.id}/choice", invalid=query.get("invalid", "0"),
                                      timeouts=query.get("timeouts", "0")))
        gather.append(self._prompt(menu.prompt))
        if hints:
            gather.append(self._sys("speech-hint"))
        return [gather]

    def _spoken(self, menu: Menu, speech: str) -> Option | None:
        flat = re.sub(r"[\s，。,.！!？?]", "", speech)
        found = [(flat.find(w.replace(" ", "")), o) for o in menu.options for w in o.keywords
                 if w and w.replace(" ", "") in flat]
        keys = {o.key for _, o in found}
        return min(found, key=lambda x: x[0])[1] if len(keys) == 1 else None

    def choice(self, call: _Call, menu: Menu, params: Mapping[str, str], query: Mapping[str, str]) -> list[ET.Element]:
        ctx = f"{self.p}-menu-{menu.id}"
        invalid, timeouts = int(query.get("invalid", "0") or 0), int(query.get("timeouts", "0") or 0)
        digits = params.get("Digits", "").strip()
        speech = params.get("SpeechResult", "").strip()
        option: Option | None = None
        if digits:
            self._emit(call, "DTMFEnd", ("Digit", digits[:1]), ("Direction", "Received"))
            option = menu.option(digits[:1])
        elif speech:
            try:
                confidence = float(params.get("Confidence", "0") or 0)
            except ValueError:
                confidence = 0.0
            option = self._spoken(menu, speech)
            keyword = next((w for w in (option.keywords if option else ()) if w.replace(" ", "") in
                            speech.replace(" ", "")), "-")
            outcome = "matched" if option is not None and confidence >= self.min_confidence else (
                "low_confidence" if option is not None else "no_match")
            self._user(call, "IVRSpeech", Menu=ctx, Keyword=keyword, Outcome=outcome, Confidence=f"{confidence:.2f}")
            self._var(call, "HOTLINE_SPEECH_RESULT", outcome)
            if outcome != "matched":
                option = None
                digits = "speech"
        if option is None:
            if digits:
                invalid += 1
                self._user(call, "IVRInvalid", Menu=ctx, Digit=digits, Count=str(invalid))
                prompt = self._sys("speech-fallback") if digits == "speech" else self._prompt(menu.invalid_prompt)
            else:
                timeouts += 1
                self._user(call, "IVRTimeout", Menu=ctx, Count=str(timeouts))
                prompt = self._prompt(menu.timeout_prompt)
            if invalid > menu.max_retries or timeouts > menu.max_retries:
                self._user(call, "IVRMaxRetries", Menu=ctx, Invalid=str(invalid), Timeouts=str(timeouts))
                return self._enqueue(call, self.flow.agent_queue)
            return [prompt, self._redirect(f"menu/{menu.id}", invalid=invalid, timeouts=timeouts)]
        self._user(call, "IVRChoice", Menu=ctx, Digit=option.key, Branch=option.action.value)
        return self._take(call, menu, option, invalid, timeouts)

    def _take(self, call: _Call, menu: Menu, o: Option, invalid: int = 0, timeouts: int = 0) -> list[ET.Element]:
        if o.language:
            self._var(call, "CHANNEL(language)", o.language)
        if o.action is MenuAction.SUBMENU and o.submenu is not None:
            return [self._open_menu(call, o.submenu)]
        if o.action is MenuAction.QUEUE:
            return self._enqueue(call, o.queue or self.flow.agent_queue)
        if o.action is MenuAction.DISTRICT_TRANSFER and o.district:
            return self._dial(call, o.district)
        if o.action is MenuAction.TICKET_STATUS:
            return self._ask_ticket(menu, o, tries=0)
        if o.action is MenuAction.AFTER_HOURS_MESSAGE:
            return [self._redirect("message/menu", ask=f"{menu.id}-{o.key_name}")]
        return [self._redirect(f"menu/{menu.id}", invalid=invalid or None, timeouts=timeouts or None,
                               repeat=1)]  # repeat

    def offer(self, call: _Call, menu: Menu, code: str, params: Mapping[str, str],
              query: Mapping[str, str]) -> list[ET.Element]:
        ctx = f"{self.p}-offer-{menu.id}"
        district = self.flow.district(code)
        offer = self.flow.district_offer(menu.id)
        if district is None or offer is None or all(d.code != code for d, _ in offer.districts):
            return [self._redirect(f"menu/{menu.id}")]
        if not query.get("answered"):
            self._var(call, "HOTLINE_OFFER", code)
            self._user(call, "IVRStart", Menu=ctx, Value=code)
            gather = _el("Gather", input="dtmf", numDigits=1, timeout=menu.timeout_seconds, method="POST",
                         actionOnEmptyResult="true", action=self._url(f"offer/{menu.id}", district=code, answered=1))
            gather.append(self._prompt(offer_prompt(district)))
            return [gather]
        digit = params.get("Digits", "")[:1]
        if digit == "1":
            self._user(call, "IVRChoice", Menu=ctx, Digit="1", Branch="district_transfer")
            return self._dial(call, code)
        if digit == "2":
            self._user(call, "IVRChoice", Menu=ctx, Digit="2", Branch="submenu")
            return [self._redirect(f"menu/{menu.id}")]
        if digit == "0":
            self._user(call, "IVRChoice", Menu=ctx, Digit="0", Branch="queue")
            return self._enqueue(call, self.flow.agent_queue)
        if digit:
            self._user(call, "IVRInvalid", Menu=ctx, Digit=digit, Count="1")
            return [self._prompt(menu.invalid_prompt), self._redirect(f"menu/{menu.id}")]
        self._user(call, "IVRTimeout", Menu=ctx, Count="1")
        return [self._prompt(menu.timeout_prompt), self._redirect(f"menu/{menu.id}")]

    # -- district lines ---------------------------------------------------------------------------
    def _dial(self, call: _Call, code: str) -> list[ET.Element]:
        district = self.flow.district(code)
        assert district is not None
        call.dials += 1
        call.open_dial = f"{call.sid};dial{call.dials}"
        self._var(call, "HOTLINE_DISTRICT", code)
        self._user(call, "HotlineDistrict", District=code, Number=district.number)
        self._emit(call, "DialBegin", ("DestUniqueid", call.open_dial), ("DestChannel", f"Twilio/{call.open_dial}"),
                   ("DialString", _e164(district.number, self.country_code)))
        dial = _el("Dial", timeout=self.flow.transfer_failed.dial_timeout_seconds, method="POST",
                   action=self._url(f"district/{code}/done"))
        dial.append(_el("Number", _e164(district.number, self.country_code)))
        return [dial]

    def district_done(self, call: _Call, code: str, params: Mapping[str, str]) -> list[ET.Element]:
        status = DIAL_STATUS.get(params.get("DialCallStatus", ""), "CHANUNAVAIL")
        if call.open_dial:
            self._emit(call, "DialEnd", ("DestUniqueid", call.open_dial), ("DialStatus", status))
            call.open_dial = ""
        self._var(call, "HOTLINE_DIAL_STATUS", status)
        if status in ("ANSWER", "CANCEL"):
            return [_el("Hangup")]
        self._var(call, "HOTLINE_TRANSFER_FAILED", code)
        self._user(call, "HotlineTransferFailed", District=code, DialStatus=status)
        return [self._prompt(self.flow.transfer_failed.prompt)] + self._enqueue(call, self.flow.transfer_failed.queue)

    # -- queues --------------------------------------------------------------------------------------
    def _enqueue(self, call: _Call, queue_id: str) -> list[ET.Element]:
        q = self.flow.queue(queue_id)
        assert q is not None
        self._var(call, "HOTLINE_QUEUE", q.id)
        self._user(call, "IVRStart", Menu=f"{self.p}-queue", Value=q.id)
        call.queue, call.queue_joined = q.id, self.clock()
        self._emit(call, "QueueCallerJoin", ("Queue", q.id), ("Position", "1"))
        return [_el("Enqueue", q.id, method="POST", action=self._url(f"queue/{q.id}/done"),
                    waitUrl=self._url(f"queue/{q.id}/wait"), waitUrlMethod="POST")]

    def queue_wait(self, call: _Call, queue_id: str, params: Mapping[str, str]) -> list[ET.Element]:
        q = self.flow.queue(queue_id)
        assert q is not None
        try:
            waited = float(params.get("QueueTime", "0") or 0)
        except ValueError:
            waited = 0.0
        if waited >= q.max_wait_seconds:
            return [_el("Leave")]
        return [_el("Pause", length=min(10, max(1, int(q.max_wait_seconds - waited))))]

    def _left(self, call: _Call, params: Mapping[str, str], *, abandoned: bool) -> None:
        if not call.queue:
            return
        hold = params.get("QueueTime", "")
        if abandoned:
            self._emit(call, "QueueCallerAbandon", ("Queue", call.queue), ("HoldTime", hold or "0"))
        self._emit(call, "QueueCallerLeave", ("Queue", call.queue))
        call.queue_joined = None

    def queue_bridged(self, call_sid: str, queue_id: str, agent: str, params: Mapping[str, str]) -> str:
        """``<Queue url>``: an agent's ``<Dial><Queue>`` took the caller ``call_sid`` (TwiML for the
        agent's side: nothing to play)."""
        call = self._calls.get(call_sid)
        if call is not None and call.queue == queue_id and call.queue_joined is not None:
            self._left(call, params, abandoned=False)
            self._emit(call, "AgentConnect", ("Queue", queue_id), ("MemberName", agent or "twilio"),
                       ("Interface", f"Twilio/{agent or 'agent'}"), ("HoldTime", params.get("QueueTime", "0")))
        return _twiml()

    def agent_dequeue(self, queue_id: str, agent: str) -> str:
        """TwiML for an agent's phone or Twilio client: take the next caller of ``queue_id``."""
        self._queue(queue_id)
        dial = _el("Dial")
        dial.append(_el("Queue", queue_id, url=self._url(f"queue/{queue_id}/bridged", agent=agent), method="POST"))
        return _twiml(dial)

    def queue_done(self, call: _Call, queue_id: str, params: Mapping[str, str]) -> list[ET.Element]:
        result = params.get("QueueResult", "")
        self._var(call, "HOTLINE_QUEUE_STATUS", result.upper().replace("-", "_"))
        if result in ("bridged", "bridging-in-process"):
            return [_el("Hangup")]
        self._left(call, params, abandoned=result == "hangup")
        if result == "hangup":
            return [_el("Hangup")]
        if queue_id != self.flow.agent_queue:
            return self._enqueue(call, self.flow.agent_queue)
        self._var(call, "HOTLINE_MESSAGE_REASON", "queue_unavailable")
        self._user(call, "IVRStart", Menu=f"{self.p}-message", Value="queue_unavailable")
        if self.flow.after_hours.leave_message:
            return [self._sys("queue-busy")] + self._record("queue_unavailable")
        return [self._sys("queue-closed"), _el("Hangup")]

    # -- ticket status -----------------------------------------------------------------------------
    def _ask_ticket(self, menu: Menu, o: Option, tries: int) -> list[ET.Element]:
        gather = _el("Gather", input="dtmf", finishOnKey="#", numDigits=18, timeout=20, method="POST",
                     actionOnEmptyResult="true", action=self._url(f"ticket/{menu.id}/{o.key_name}", tries=tries))
        gather.append(self._prompt(o.prompt) if o.prompt else self._sys("ticket-ask"))
        return [gather]

    async def ticket(self, call: _Call, menu: Menu, key_name: str, params: Mapping[str, str],
                     query: Mapping[str, str]) -> list[ET.Element]:
        option = next((o for o in menu.options if o.key_name == key_name and o.action is MenuAction.TICKET_STATUS), None)
        if option is None:
            raise LookupError(f"menu {menu.id!r} has no ticket-status key {key_name!r}")
        tries = int(query.get("tries", "0") or 0)
        keyed = params.get("Digits", "").strip()
        self._var(call, "HOTLINE_TICKET_NO", keyed)
        number = ticket_number_from_digits(keyed)
        try:
            status = await self.directory.ticket_status(number) if number else None
        except Exception:
            log.warning("twilio: ticket status unavailable for %s", call.sid, exc_info=True)
            return [self._sys("ticket-unavailable")] + self._enqueue(call, self.flow.agent_queue)
        if status is None:
            if tries + 1 > menu.max_retries:
                return self._enqueue(call, self.flow.agent_queue)
            return [self._sys("ticket-not-found")] + self._ask_ticket(menu, option, tries + 1)
        self._var(call, "HOTLINE_TICKET_STATE", status.status)
        prompt = dict(self.flow.ticket_state_prompts).get(status.status)
        if prompt is None:
            return [self._sys("ticket-state-unknown")] + self._enqueue(call, self.flow.agent_queue)
        self._user(call, "HotlineSelfServed", Service="ticket_status", State=status.status)
        return [self._prompt(prompt), self._redirect(f"menu/{menu.id}")]

    # -- messages ----------------------------------------------------------------------------------
    def _record(self, reason: str) -> list[ET.Element]:
        return [_el("Record", method="POST", action=self._url(f"message/{reason}/done"), finishOnKey="#",
                    maxLength=self.flow.after_hours.max_message_seconds, timeout=8, playBeep="true", trim="trim-silence")]

    def message(self, call: _Call, reason: str, query: Mapping[str, str]) -> list[ET.Element]:
        if reason != "menu":
            raise LookupError(f"no message webhook for {reason!r}")
        menu_id, _, key_name = query.get("ask", "").rpartition("-")
        menu = self._menu(menu_id)
        option = next((o for o in menu.options if o.key_name == key_name), None)
        self._var(call, "HOTLINE_MESSAGE_REASON", "menu")
        self._user(call, "IVRStart", Menu=f"{self.p}-message", Value="menu")
        ask = self._prompt(option.prompt) if option is not None and option.prompt else self._sys("message-ask")
        return [ask] + self._record("menu")

    def message_done(self, call: _Call, reason: str, params: Mapping[str, str]) -> list[ET.Element]:
        if reason not in ("after_hours", "queue_unavailable", "menu"):
            raise LookupError(f"no message reason {reason!r}")
        url = params.get("RecordingUrl", "")
        if url:
            recording = url if url.endswith((".wav", ".mp3")) else url + ".wav"
            self._var(call, "HOTLINE_MESSAGE_FILE", recording)
            self._user(call, "HotlineMessage", File=recording, Reason=reason, Caller=call.caller, Uniqueid=call.sid)
        return [self._sys("message-thanks"), _el("Hangup")]

    # -- the end -----------------------------------------------------------------------------------
    def status(self, params: Mapping[str, str]) -> None:
        """The call's ``statusCallback``: a final ``CallStatus`` ends the call in the tracker."""
        sid = params.get("CallSid", "")
        call = self._calls.get(sid)
        final = _FINAL_STATUS.get(params.get("CallStatus", ""))
        if call is None or final is None:
            return
        if call.open_dial:
            self._emit(call, "DialEnd", ("DestUniqueid", call.open_dial), ("DialStatus", "CANCEL"))
        if call.queue_joined is not None:
            self._left(call, {"QueueTime": f"{self.clock() - call.queue_joined:.0f}"}, abandoned=True)
        self._emit(call, "Hangup", ("Cause", str(final[0])), ("Cause-txt", final[1]))
        del self._calls[sid]
        self._ended[sid] = None
        while len(self._ended) > self._ended_memory:
            self._ended.popitem(last=False)
