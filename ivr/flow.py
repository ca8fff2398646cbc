"""The IVR flow model: what the caller hears and where each key leads.

The model is plain frozen dataclasses and knows nothing about ``hotline``; the only
bridge is :func:`flow_from_rules`, which reads a ``Rules`` object duck-typed (any
object with the attributes of :class:`hotline.rules.schema.Rules`) and never imports
``hotline``. :mod:`ivr.dialplan` renders a flow as an Asterisk dialplan and
:mod:`ivr.prompts` turns its prompts into telephone audio.

Shape of a flow:

* ``welcome`` is played to every caller during business hours; then the ``entry``
  menu runs, or, in **menu-less** mode, the caller goes straight to ``agent_queue``.
* A :class:`Menu` has a prompt, a timeout, a retry count, an invalid-input prompt and a
  timeout prompt, and :class:`Option`\\ s by DTMF key (with spoken ``keywords`` for
  speech navigation). Submenus are nested: ``option.submenu`` is the :class:`Menu`.
  ``0`` leads to the agent queue in every menu.
* Outside business hours the caller hears the after-hours prompt and may leave a
  message; the recording becomes a ticket (``UserEvent(HotlineMessage)``).
* A district transfer dials the district's receiving line; when the line is busy or
  unanswered the caller hears ``transfer_failed`` and joins its queue, and the call is
  marked so a ticket is created for that district.
* District offer: a caller whose open ticket belongs to a district (``HOTLINE_OFFERED_DISTRICT``
  from the ``caller_lookup`` AGI script) who chooses a district menu (a menu with
  ``district_transfer`` options) is first offered that district by name — 1 transfers to its
  line, 2 opens the district menu, 0 reaches an agent (:class:`DistrictOffer`).
* Language: Mandarin (``zh``) by default; an option or queue with ``language: mn``
  switches the channel language before the Mongolian seat answers.

Prompt ids (and so file names) are stable and derived from the place of the prompt,
never from its text: ``welcome``, ``menu-<id>``, ``menu-<id>-invalid``,
``menu-<id>-timeout``, ``option-<menu>-<key>`` (``star``/``hash`` for ``*``/``#``),
``after-hours``, ``transfer-failed``, ``offer-district-<code>`` and the fixed system prompts of
:data:`SYSTEM_PROMPTS` / :data:`TICKET_STATE_PROMPTS`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterator

__all__ = [
    "MenuAction", "AfterHours", "BusinessHours", "District", "DistrictOffer", "FlowError", "IvrFlow", "Menu", "Option",
    "Prompt", "QueueSpec", "SPEECH_PROMPTS", "SYSTEM_PROMPTS", "TICKET_STATE_PROMPTS", "TransferFailed",
    "flow_from_rules", "key_name", "offer_prompt",
]

AGENT_KEY = "0"
_KEY = re.compile(r"[0-9*#]")
_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_SPAN = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)")
LANGUAGES = ("zh", "mn")

#: Fixed prompts every dialplan may use (id -> Simplified Chinese text).
SYSTEM_PROMPTS: dict[str, str] = {
    "queue-busy": "现在坐席繁忙，请在提示音后说明您要反映的问题和地点，我们将尽快处理并回复您。",
    "queue-closed": "现在坐席繁忙，请稍后再拨。感谢您的来电，再见。",
    "message-thanks": "您的留言已记录，我们将尽快处理。感谢您的来电，再见。",
    "message-ask": "请在提示音后说明您要反映的问题和地点，说完请挂机或按井号键。",
    "ticket-ask": "请输入工单编号中的数字，以井号键结束。",
    "ticket-not-found": "没有查到您输入的工单编号，请核对后重新输入。",
    "ticket-unavailable": "工单查询暂时无法使用，正在为您转接人工服务，请稍候。",
    "ticket-state-unknown": "已查到您的工单，正在为您转接人工服务了解详细情况，请稍候。",
    "speech-hint": "您也可以在提示音后直接说出您要反映的问题或所在区。",
    "speech-fallback": "对不起，没有听清您说的内容，请按键选择。",
}

#: The system prompts a dialplan rendered with speech navigation plays (:mod:`ivr.speech`).
SPEECH_PROMPTS = ("speech-hint", "speech-fallback")

#: What the caller hears for each ticket state the ``ticket_status`` AGI script reports in
#: ``HOTLINE_TICKET_STATE`` (the codes of the closed loop, design §4).
TICKET_STATE_PROMPTS: dict[str, str] = {
    "received": "您的工单已受理，正在审核立案。",
    "registered": "您的工单已立案，正在派遣给责任单位。",
    "rejected": "您的工单经审核不予立案，详情请咨询人工服务。",
    "dispatched": "您的工单已派遣给责任单位，正在等待签收。",
    "in_progress": "您的工单正在处置中，请耐心等待。",
    "returned": "您的工单正在重新派遣给责任单位。",
    "extension_requested": "您的工单处置时间已申请延期，正在处置中。",
    "resolved": "您的工单已处置完毕，正在核查处理结果。",
    "closed": "您的工单已办结，感谢您对城市建设的关心和支持。",
    "callback_done": "您的工单已办结并完成回访，感谢您的支持。",
    "answered": "您的咨询已答复办结。",
    "merged": "您反映的问题已与其他工单合并办理，正在处置中。",
    "voided": "您的工单已作废，详情请咨询人工服务。",
}

#: The district offer made to a repeat caller before a district menu (``{name}`` = district name).
OFFER_DISTRICT_TEXT = "您有未办结的工单属于{name}，转接{name}受理电话请按1，选择其他区县请按2。"

_KEY_NAMES = {"*": "star", "#": "hash"}


def key_name(key: str) -> str:
    """A DTMF key as it appears in ids and file names: ``1``, ``star``, ``hash``."""
    return _KEY_NAMES.get(key, key)


class FlowError(ValueError):
    """The rules do not describe a usable IVR; ``problems`` name the menu and option."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid IVR flow:\n" + "\n".join(f"  - {p}" for p in self.problems))


class MenuAction(str, Enum):
    SUBMENU = "submenu"
    QUEUE = "queue"
    DISTRICT_TRANSFER = "district_transfer"
    TICKET_STATUS = "ticket_status"
    AFTER_HOURS_MESSAGE = "after_hours_message"
    REPEAT = "repeat"


@dataclass(frozen=True)
class Prompt:
    """One thing the caller hears. ``file`` is the sound file name (no extension)."""

    id: str
    text: str
    recording: str | None = None       # operator's recorded file (no extension), takes precedence

    @property
    def file(self) -> str:
        return self.id


@dataclass(frozen=True)
class QueueSpec:
    id: str
    name: str
    language: str = "zh"
    strategy: str = "rrmemory"
    service_level_seconds: int = 15
    max_wait_seconds: int = 300
    wrapup_seconds: int = 0


@dataclass(frozen=True)
class District:
    code: str
    name: str
    number: str           # dialled digits of the receiving line (no '-')
    trunk: str            # Asterisk endpoint the line is dialled through


@dataclass(frozen=True)
class Option:
    key: str
    label: str
    action: MenuAction
    keywords: tuple[str, ...] = ()
    queue: str | None = None
    district: str | None = None
    submenu: Menu | None = None
    language: str | None = None
    prompt: Prompt | None = None       # e.g. the ticket-number request

    @property
    def key_name(self) -> str:
        return key_name(self.key)


@dataclass(frozen=True)
class Menu:
    id: str
    prompt: Prompt
    invalid_prompt: Prompt
    timeout_prompt: Prompt
    timeout_seconds: int
    max_retries: int
    options: tuple[Option, ...]

    def option(self, key: str) -> Option | None:
        return next((o for o in self.options if o.key == key), None)

    def walk(self) -> Iterator[Menu]:
        """This menu and every submenu below it, depth first, each once."""
        seen: set[str] = set()
        stack = [self]
        while stack:
            menu = stack.pop(0)
            if menu.id in seen:
                continue
            seen.add(menu.id)
            yield menu
            stack[0:0] = [o.submenu for o in menu.options if o.submenu is not None]


@dataclass(frozen=True)
class DistrictOffer:
    """What a repeat caller hears before the district menu ``menu``.

    ``districts`` are the districts ``menu`` transfers to, each with its offer prompt
    (``offer-district-<code>``, one static file per district). The dialplan makes the offer
    only when ``HOTLINE_OFFERED_DISTRICT`` names one of them: ``1`` dials that district's
    line (through the district context, as a menu choice does), ``2`` opens ``menu``, ``0`` reaches
    the agent queue; an invalid key or silence plays ``menu``'s invalid/timeout prompt and
    opens ``menu``.
    """

    menu: Menu
    districts: tuple[tuple[District, Prompt], ...]

    @property
    def id(self) -> str:
        return self.menu.id


def offer_prompt(district: District) -> Prompt:
    """The offer prompt of ``district``; its id derives from the district code."""
    return Prompt(f"offer-district-{district.code}", OFFER_DISTRICT_TEXT.format(name=district.name))


@dataclass(frozen=True)
class BusinessHours:
    """``always`` = 7×24; else ``spans`` ("08:00-20:00") on ``days`` (every_day / working_days).

    The live answer comes from the ``business_hours`` AGI script (it knows statutory
    holidays and 调休); these values are the dialplan's fallback when the AGI fails.
    """

    mode: str = "always"
    spans: tuple[str, ...] = ()
    days: str = "every_day"
    timezone: str = "Asia/Shanghai"


@dataclass(frozen=True)
class AfterHours:
    prompt: Prompt
    leave_message: bool = True
    max_message_seconds: int = 120


@dataclass(frozen=True)
class TransferFailed:
    prompt: Prompt
    queue: str
    dial_timeout_seconds: int = 30


@dataclass(frozen=True)
class IvrFlow:
    welcome: Prompt
    agent_queue: str
    queues: tuple[QueueSpec, ...]
    districts: tuple[District, ...]
    after_hours: AfterHours
    transfer_failed: TransferFailed
    business_hours: BusinessHours = BusinessHours()
    entry: Menu | None = None           # None in menu-less mode
    menu_less: bool = False
    language: str = "zh"
    system_prompts: tuple[Prompt, ...] = field(
        default_factory=lambda: tuple(Prompt(k, v) for k, v in SYSTEM_PROMPTS.items()))
    ticket_state_prompts: tuple[tuple[str, Prompt], ...] = field(
        default_factory=lambda: tuple((s, Prompt(f"ticket-state-{s.replace('_', '-')}", t))
                                      for s, t in TICKET_STATE_PROMPTS.items()))

    @property
    def menus(self) -> tuple[Menu, ...]:
        """Every menu reachable from ``entry`` (empty in menu-less mode)."""
        if self.menu_less or self.entry is None:
            return ()
        return tuple(self.entry.walk())

    def menu(self, menu_id: str) -> Menu | None:
        return next((m for m in self.menus if m.id == menu_id), None)

    def queue(self, queue_id: str) -> QueueSpec | None:
        return next((q for q in self.queues if q.id == queue_id), None)

    def district(self, code: str) -> District | None:
        return next((d for d in self.districts if d.code == code), None)

    @property
    def district_offers(self) -> tuple[DistrictOffer, ...]:
        """One offer per menu that has ``district_transfer`` options, in menu order."""
        offers = []
        for menu in self.menus:
            districts: list[District] = []
            for o in menu.options:
                d = self.district(o.district) if o.action is MenuAction.DISTRICT_TRANSFER and o.district else None
                if d is not None and d not in districts:
                    districts.append(d)
            if districts:
                offers.append(DistrictOffer(menu, tuple((d, offer_prompt(d)) for d in districts)))
        return tuple(offers)

    def district_offer(self, menu_id: str) -> DistrictOffer | None:
        """The offer made before menu ``menu_id``, ``None`` when it is not a district menu."""
        return next((x for x in self.district_offers if x.id == menu_id), None)

    def system_prompt(self, prompt_id: str) -> Prompt:
        return next(p for p in self.system_prompts if p.id == prompt_id)

    @property
    def uses_ticket_status(self) -> bool:
        return any(o.action is MenuAction.TICKET_STATUS for m in self.menus for o in m.options)

    def prompts(self, *, speech: bool = False) -> list[Prompt]:
        """Every prompt the rendered dialplan plays, each id once, in a stable order (``speech``:
        a dialplan rendered with speech navigation, which also plays :data:`SPEECH_PROMPTS`)."""
        options = [(m, o) for m in self.menus for o in m.options]
        sys = {p.id: p for p in self.system_prompts}
        found: list[Prompt] = [self.welcome]
        if speech and self.menus:
            found += [sys[p] for p in SPEECH_PROMPTS]
        if self.business_hours.mode != "always":
            found.append(self.after_hours.prompt)
        if self.districts:  # the district context serves menus and AMI Redirects alike
            found.append(self.transfer_failed.prompt)
        for menu in self.menus:
            found += [menu.prompt, menu.invalid_prompt, menu.timeout_prompt]
            found += [o.prompt for o in menu.options if o.prompt is not None]
        for offer in self.district_offers:
            found += [p for _, p in offer.districts]
        messages = [o for _, o in options if o.action is MenuAction.AFTER_HOURS_MESSAGE]
        if self.after_hours.leave_message:
            found += [sys["queue-busy"], sys["message-thanks"]]
        else:
            found.append(sys["queue-closed"])
        if messages:
            found.append(sys["message-thanks"])
            if any(o.prompt is None for o in messages):
                found.append(sys["message-ask"])
        tickets = [o for _, o in options if o.action is MenuAction.TICKET_STATUS]
        if tickets:
            if any(o.prompt is None for o in tickets):
                found.append(sys["ticket-ask"])
            found += [sys["ticket-not-found"], sys["ticket-unavailable"], sys["ticket-state-unknown"]]
            found += [p for _, p in self.ticket_state_prompts]
        out: dict[str, Prompt] = {}
        for p in found:
            out.setdefault(p.id, p)
        return list(out.values())

    def keywords(self) -> dict[str, list[tuple[str, str]]]:
        """Spoken keyword -> [(menu id, key)] for speech navigation."""
        table: dict[str, list[tuple[str, str]]] = {}
        for menu in self.menus:
            for o in menu.options:
                for word in o.keywords:
                    table.setdefault(word, []).append((menu.id, o.key))
        return table

    def validate(self) -> IvrFlow:
        """Check the flow itself (also for flows built by hand); raises :class:`FlowError`."""
        problems = list(_flow_problems(self))
        if problems:
            raise FlowError(problems)
        return self


def _flow_problems(flow: IvrFlow) -> Iterator[str]:
    queue_ids = [q.id for q in flow.queues]
    for qid in sorted({q for q in queue_ids if queue_ids.count(q) > 1}):
        yield f"queue {qid!r} is defined twice"
    for q in flow.queues:
        if not _ID.fullmatch(q.id):
            yield f"queue {q.id!r}: not an identifier (lower-case letters, digits, '-', '_')"
        if q.language not in LANGUAGES:
            yield f"queue {q.id!r}: unknown language {q.language!r}"
    if flow.queue(flow.agent_queue) is None:
        yield f"agent queue {flow.agent_queue!r} is not defined"
    if flow.queue(flow.transfer_failed.queue) is None:
        yield f"transfer_failed: queue {flow.transfer_failed.queue!r} is not defined"
    for d in flow.districts:
        if not re.fullmatch(r"\d{6}", d.code):
            yield f"district {d.code!r}: not a 6-digit code"
        if not re.fullmatch(r"\d{3,12}", d.number):
            yield f"district {d.code} ({d.name}): line {d.number!r} is not a dialable number"
        if not _ID.fullmatch(d.trunk):
            yield f"district {d.code} ({d.name}): trunk {d.trunk!r} is not an endpoint name"
    bh = flow.business_hours
    if bh.mode not in ("always", "scheduled"):
        yield f"business hours: unknown mode {bh.mode!r}"
    if bh.mode == "scheduled" and not bh.spans:
        yield "business hours: mode 'scheduled' needs spans"
    for span in bh.spans:
        if not _SPAN.fullmatch(span):
            yield f"business hours: {span!r} is not a span such as '08:00-20:00'"
    if bh.days not in ("every_day", "working_days"):
        yield f"business hours: unknown days {bh.days!r}"
    if flow.menu_less:
        return
    if flow.entry is None:
        yield "no entry menu (set menu_less for an IVR without menus)"
        return
    ids: dict[str, Menu] = {}
    for menu in flow.menus:
        if menu.id in ids and ids[menu.id] is not menu:
            yield f"menu {menu.id!r} is defined twice"
        ids[menu.id] = menu
    for menu in flow.menus:
        where = f"menu {menu.id!r}"
        if not _ID.fullmatch(menu.id):
            yield f"{where}: id is not an identifier (lower-case letters, digits, '-', '_')"
        if menu.timeout_seconds <= 0:
            yield f"{where}: timeout must be positive"
        if menu.max_retries < 0:
            yield f"{where}: max retries must not be negative"
        keys = [o.key for o in menu.options]
        for k in sorted({k for k in keys if keys.count(k) > 1}):
            yield f"{where}: key {k!r} is used twice"
        zero = menu.option(AGENT_KEY)
        if zero is None:
            yield f"{where}: has no option '0'; 0 must lead to an agent in every menu"
        elif not (zero.action is MenuAction.QUEUE and zero.queue == flow.agent_queue):
            yield f"{where} option '0': must lead to the agent queue {flow.agent_queue!r}"
        for o in menu.options:
            at = f"{where} option {o.key!r} ({o.label})"
            if not _KEY.fullmatch(o.key):
                yield f"{at}: {o.key!r} is not a single DTMF key (0-9, * or #)"
            if o.language is not None and o.language not in LANGUAGES:
                yield f"{at}: unknown language {o.language!r}"
            if o.action is MenuAction.QUEUE and (o.queue is None or flow.queue(o.queue) is None):
                yield f"{at}: queue {o.queue!r} is not defined"
            if o.action is MenuAction.DISTRICT_TRANSFER and (o.district is None or flow.district(o.district) is None):
                yield f"{at}: district {o.district!r} is not defined"
            if o.action is MenuAction.SUBMENU and o.submenu is None:
                yield f"{at}: submenu is missing"


# --- rules -> flow --------------------------------------------------------------------------------

def _value(x: Any) -> Any:
    return getattr(x, "value", x)


def flow_from_rules(rules: Any) -> IvrFlow:
    """Build the flow from a ``hotline.rules.Rules`` object (duck-typed).

    Raises :class:`FlowError` listing every problem, each naming its menu and option.
    """
    ivr = rules.ivr
    problems: list[str] = []
    queues = tuple(QueueSpec(id=q.id, name=q.name, language=_value(q.language), strategy=_value(q.strategy),
                             service_level_seconds=int(q.service_level_seconds),
                             max_wait_seconds=int(q.max_wait_seconds), wrapup_seconds=int(q.wrapup_seconds))
                   for q in rules.queues)
    districts = tuple(District(code=d.code, name=d.name, number=str(d.line).replace("-", ""), trunk=d.trunk)
                      for d in rules.districts)
    rule_menus = {m.id: m for m in ivr.menus}
    built: dict[str, Menu] = {}

    def build(menu_id: str, trail: tuple[str, ...]) -> Menu | None:
        if menu_id in built:
            return built[menu_id]
        src = rule_menus.get(menu_id)
        if src is None:
            return None
        options: list[Option] = []
        for o in src.options:
            key = str(o.digit)
            at = f"menu {menu_id!r} option {key!r} ({o.label})"
            try:
                action = MenuAction(_value(o.action))
            except ValueError:
                problems.append(f"{at}: unknown action {_value(o.action)!r}")
                continue
            submenu = None
            if action is MenuAction.SUBMENU:
                target = getattr(o, "menu", None)
                if target is None:
                    problems.append(f"{at}: action 'submenu' needs 'menu'")
                elif target in trail + (menu_id,):
                    problems.append(f"{at}: submenu cycle: {' → '.join(trail + (menu_id, target))}")
                elif target not in rule_menus:
                    problems.append(f"{at}: submenu {target!r} is not defined")
                else:
                    submenu = build(target, trail + (menu_id,))
            if action is MenuAction.QUEUE and getattr(o, "queue", None) is None:
                problems.append(f"{at}: action 'queue' needs 'queue'")
            if action is MenuAction.DISTRICT_TRANSFER and getattr(o, "district", None) is None:
                problems.append(f"{at}: action 'district_transfer' needs 'district'")
            text = getattr(o, "prompt", None)
            prompt = Prompt(f"option-{menu_id}-{key_name(key)}", text) if text else None
            options.append(Option(
                key=key, label=o.label, action=action, keywords=tuple(getattr(o, "keywords", ()) or ()),
                queue=getattr(o, "queue", None), district=getattr(o, "district", None), submenu=submenu,
                language=_value(getattr(o, "language", None)), prompt=prompt))
        menu = Menu(
            id=src.id,
            prompt=Prompt(f"menu-{src.id}", src.prompt, getattr(src, "recording", None)),
            invalid_prompt=Prompt(f"menu-{src.id}-invalid", src.invalid_prompt),
            timeout_prompt=Prompt(f"menu-{src.id}-timeout", src.timeout_prompt),
            timeout_seconds=int(src.timeout_seconds), max_retries=int(src.max_retries),
            options=tuple(options))
        built[menu_id] = menu
        return menu

    menu_less = bool(ivr.menu_less)
    entry = None
    if not menu_less:
        entry = build(ivr.entry, ())
        if entry is None:
            problems.append(f"entry menu {ivr.entry!r} is not defined")
        else:
            reachable = {m.id for m in entry.walk()}
            for mid in rule_menus:
                if mid not in reachable:
                    problems.append(f"menu {mid!r} cannot be reached from entry menu {ivr.entry!r}")

    bh = rules.business_hours
    spans = tuple(str(s) for s in getattr(bh, "hours", ()) or ())
    ah = ivr.after_hours
    tf = ivr.transfer_failed
    flow = IvrFlow(
        welcome=Prompt("welcome", ivr.welcome, getattr(ivr, "welcome_recording", None)),
        agent_queue=ivr.agent_queue,
        queues=queues,
        districts=districts,
        after_hours=AfterHours(Prompt("after-hours", ah.prompt, getattr(ah, "recording", None)),
                               leave_message=bool(ah.leave_message),
                               max_message_seconds=int(ah.max_message_seconds)),
        transfer_failed=TransferFailed(Prompt("transfer-failed", tf.prompt), queue=tf.queue,
                                       dial_timeout_seconds=int(tf.dial_timeout_seconds)),
        business_hours=BusinessHours(mode=_value(bh.mode), spans=spans, days=_value(bh.days),
                                     timezone=getattr(getattr(rules, "calendar", None), "timezone", "Asia/Shanghai")),
        entry=entry,
        menu_less=menu_less,
        language=_value(ivr.language),
    )
    try:
        flow.validate()
    except FlowError as exc:
        problems += [p for p in exc.problems if p not in problems]
    if problems:
        raise FlowError(problems)
    return flow
