"""Render an :class:`~ivr.flow.IvrFlow` as Asterisk configuration (Jinja2 templates in ``dialplans/``).

:func:`render_dialplan` writes three files into ``out_dir``:

* ``extensions.conf`` — contexts only (no ``[general]``/``[globals]``), every one named
  ``<prefix>-…`` so the file can be ``#include``d into an existing dialplan. Inbound
  calls enter ``<prefix>-entry,s,1``.
* ``queues.conf`` — one section per queue (agents log in dynamically over AMI); the
  host's ``queues.conf`` keeps its ``[general]`` and ``#include``\\ s this file.
* ``manager.conf.example`` — the AMI user the backend needs (read classes for the
  events the call tracker consumes), with a placeholder secret.

Contexts (``p`` = prefix):

``p-entry``        answer, ``caller_lookup`` AGI, ``business_hours`` AGI (``HOTLINE_OPEN``)
                   with a ``GotoIfTime`` fallback when ``AGISTATUS`` is not SUCCESS, welcome,
                   then the entry menu (or the agent queue in menu-less mode)
``p-menu-<id>``    one per menu: Background + WaitExten, a key per option, ``i``/``t`` with
                   loop counters, the agent queue after ``max_retries``
``p-offer-<id>``   a repeat caller's open-ticket district offered first (``HOTLINE_OFFERED_DISTRICT``
                   from ``caller_lookup``): 1 dials it, 2 opens the district menu, 0 an agent
``p-queue``        an extension per queue: MixMonitor, Queue(), QUEUESTATUS handling
``p-district``     an extension per district code: Dial() over the trunk, DIALSTATUS handling;
                   BUSY/NOANSWER/CONGESTION/CHANUNAVAIL → ``transfer_failed`` prompt and queue,
                   marked with ``HOTLINE_TRANSFER_FAILED`` + ``UserEvent(HotlineTransferFailed)``
``p-ticket``       ticket-status options: Read() the number, ``ticket_status`` AGI, read back
``p-message``      after-hours / queue-busy / menu messages: Record(…,k) and
                   ``UserEvent(HotlineMessage,File: …)`` from the ``h`` extension

UserEvents use the names and fields :mod:`ivr.calls` consumes (``IVRStart``,
``IVRChoice``, ``IVRInvalid``, ``IVRTimeout`` with ``Menu:`` = the context name so they
merge with the steps derived from ``Newexten``; ``HotlineDistrict``, ``HotlineMessage``,
``HotlineSelfServed``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from .flow import MenuAction, IvrFlow, Menu, Option, Prompt

__all__ = ["DialplanSettings", "TEMPLATES_DIR", "render_dialplan", "ticket_options"]

#: ``dialplans/`` at the root of the checkout (templates are not package data).
TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "dialplans"

_PREFIX = re.compile(r"[a-z][a-z0-9_-]{0,30}")
_HOST = re.compile(r"[A-Za-z0-9.:_-]+|\[[0-9A-Fa-f:]+\]")
_PATH = re.compile(r"[A-Za-z0-9_./-]+")
_TECH = re.compile(r"[A-Z][A-Za-z0-9]*")


@dataclass(frozen=True)
class DialplanSettings:
    """Deployment knobs of a render (defaults suit the docker/ compose setup)."""

    context_prefix: str = "hl12319"
    trunk: str | None = None                 # overrides every district's trunk endpoint
    dial_technology: str = "PJSIP"
    agi_host: str = "127.0.0.1"
    agi_port: int = 4573
    prompts_dir: str = "hl12319"             # sound path prefix as Asterisk sees it (relative to sounds/)
    recordings_dir: str = "/var/spool/asterisk/monitor/hl12319"   # MixMonitor of agent calls
    outbound_trunk: str | None = None        # click-to-dial citizens over this endpoint (default: the
                                             # --trunk override, else the first district's trunk)
    outbound_caller_id: str = "12319"        # the number citizens see when an agent calls them
    outbound_dial_seconds: int = 60
    messages_dir: str = "/var/spool/asterisk/hl12319-messages"    # Record() of messages
    message_silence_seconds: int = 8
    ami_user: str = "hotline"
    ami_permit: str = "127.0.0.1/255.255.255.255"
    speech: bool = False                     # menus listen for spoken keywords (speech_menu AGI)

    def check(self) -> None:
        problems = []
        if not _PREFIX.fullmatch(self.context_prefix):
            problems.append(f"context_prefix {self.context_prefix!r}: lower-case letters, digits, '-', '_'")
        for name in ("trunk", "outbound_trunk"):
            value = getattr(self, name)
            if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]+", value):
                problems.append(f"{name} {value!r} is not an endpoint name")
        if not re.fullmatch(r"\+?[0-9]{3,20}", self.outbound_caller_id):
            problems.append(f"outbound_caller_id {self.outbound_caller_id!r} is not a phone number")
        if not 5 <= int(self.outbound_dial_seconds) <= 300:
            problems.append(f"outbound_dial_seconds {self.outbound_dial_seconds!r}: 5–300")
        if not _TECH.fullmatch(self.dial_technology):
            problems.append(f"dial_technology {self.dial_technology!r} is not a channel technology")
        if not _HOST.fullmatch(self.agi_host):
            problems.append(f"agi_host {self.agi_host!r} is not a host name or address")
        if not 0 < int(self.agi_port) < 65536:
            problems.append(f"agi_port {self.agi_port!r} is not a TCP port")
        for name in ("prompts_dir", "recordings_dir", "messages_dir"):
            value = getattr(self, name)
            if not _PATH.fullmatch(value) or ".." in value.split("/"):
                problems.append(f"{name} {value!r}: only letters, digits, '_', '.', '-', '/' (no '..')")
        if not re.fullmatch(r"[A-Za-z0-9_-]+", self.ami_user):
            problems.append(f"ami_user {self.ami_user!r} is not a manager user name")
        if problems:
            raise ValueError("invalid dialplan settings: " + "; ".join(problems))


def ticket_options(flow: IvrFlow) -> list[tuple[Menu, Option]]:
    return [(m, o) for m in flow.menus for o in m.options if o.action is MenuAction.TICKET_STATUS]


def _message_options(flow: IvrFlow) -> list[tuple[Menu, Option]]:
    return [(m, o) for m in flow.menus for o in m.options if o.action is MenuAction.AFTER_HOURS_MESSAGE]


def _environment(templates_dir: Path) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _span_for_gotoiftime(span: str) -> str:
    """``08:00-20:00`` → ``08:00-19:59``: the rules' end is exclusive, GotoIfTime's end minute is
    inclusive (pbx_timing.c marks the last minute too), so 20:00:30 must already be closed."""
    start, end = span.split("-")
    hours, minutes = (int(x) for x in end.split(":"))
    total = (hours * 60 + minutes - 1) % (24 * 60)
    return f"{start}-{total // 60:02d}:{total % 60:02d}"


def _context(flow: IvrFlow, s: DialplanSettings) -> dict[str, Any]:
    p = s.context_prefix
    tz = flow.business_hours.timezone

    def snd(prompt: Prompt) -> str:
        return f"{s.prompts_dir.rstrip('/')}/{prompt.file}"

    def menu_ctx(menu: Menu) -> str:
        return f"{p}-menu-{menu.id}"

    def queue_target(queue_id: str) -> str:
        return f"{p}-queue,{queue_id},1"

    def option_target(menu: Menu, o: Option) -> str:
        if o.action is MenuAction.SUBMENU:
            assert o.submenu is not None
            return f"{menu_ctx(o.submenu)},s,1"
        if o.action is MenuAction.QUEUE:
            return queue_target(o.queue or flow.agent_queue)
        if o.action is MenuAction.DISTRICT_TRANSFER:
            return f"{p}-district,{o.district},1"
        if o.action is MenuAction.TICKET_STATUS:
            return f"{p}-ticket,{menu.id}-{o.key_name},1"
        if o.action is MenuAction.AFTER_HOURS_MESSAGE:
            return f"{p}-message,{menu.id}-{o.key_name},1"
        return "s,prompt"  # repeat

    def queue_fallback(queue_id: str) -> str:
        """Where a caller goes when Queue() returns without an agent."""
        if queue_id != flow.agent_queue:
            return queue_target(flow.agent_queue)
        return f"{p}-message,busy,1"

    def trunk_of(district) -> str:
        return s.trunk or district.trunk

    outbound_trunk = s.outbound_trunk or s.trunk or (flow.districts[0].trunk if flow.districts else "trunk")

    bh = flow.business_hours
    weekdays = "mon-fri" if bh.days == "working_days" else "*"
    return {
        "p": p,
        "flow": flow,
        "s": s,
        "agi": f"agi://{s.agi_host}:{int(s.agi_port)}",
        "tz": tz,
        "snd": snd,
        "menu_ctx": menu_ctx,
        "option_target": option_target,
        "queue_target": queue_target,
        "queue_fallback": queue_fallback,
        "trunk_of": trunk_of,
        "outbound_trunk": outbound_trunk,
        "always_open": bh.mode == "always",
        "spans": [_span_for_gotoiftime(x) for x in bh.spans],
        "weekdays": weekdays,
        "ticket_options": ticket_options(flow),
        "message_options": _message_options(flow),
        "ticket_states": list(flow.ticket_state_prompts),
        "sys": {pr.id: pr for pr in flow.system_prompts},
        "MenuAction": MenuAction,
        "speech": bool(s.speech),
    }


def render_dialplan(flow: IvrFlow, *, out_dir: str | os.PathLike[str], context_prefix: str = "hl12319",
                    trunk: str | None = None, agi_host: str = "127.0.0.1", agi_port: int = 4573,
                    prompts_dir: str = "hl12319", templates_dir: str | os.PathLike[str] | None = None,
                    **settings: Any) -> list[Path]:
    """Render ``extensions.conf``, ``queues.conf`` and ``manager.conf.example`` into ``out_dir``.

    Extra keyword arguments are :class:`DialplanSettings` fields (``dial_technology``,
    ``recordings_dir``, ``messages_dir``, ``ami_user`` …). Returns the written paths.
    """
    s = DialplanSettings(context_prefix=context_prefix, trunk=trunk, agi_host=agi_host, agi_port=agi_port,
                         prompts_dir=prompts_dir, **settings)
    s.check()
    flow.validate()
    tdir = Path(templates_dir) if templates_dir else TEMPLATES_DIR
    if not (tdir / "extensions.conf.j2").is_file():
        raise FileNotFoundError(f"dialplan templates not found in {tdir}; install the project editable "
                                "(pip install -e .) or pass templates_dir=<checkout>/dialplans")
    env = _environment(tdir)
    ctx = _context(flow, s)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for template, name in (("extensions.conf.j2", "extensions.conf"), ("queues.conf.j2", "queues.conf"),
                           ("manager.conf.j2", "manager.conf.example")):
        text = env.get_template(template).render(**ctx)
        text = re.sub(r"\n{3,}", "\n\n", text)
        path = out / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        written.append(path)
    return written
