"""Typed helpers for the AMI actions the hotline uses (docs/telephony-research.md §1.8).

Every helper takes the :class:`~ivr.ami.client.AmiClient` first, validates its
arguments before anything is sent, and returns the parsed reply. Errors from
Asterisk raise :class:`~ivr.ami.errors.AmiError` carrying the response.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from .client import ActionResult, AmiClient
from .errors import AmiError
from .messages import Message

__all__ = [
    "OriginateResult",
    "ORIGINATE_REASONS",
    "new_channel_id",
    "originate",
    "redirect",
    "blind_transfer",
    "atxfer",
    "hangup",
    "setvar",
    "getvar",
    "play_dtmf",
    "queue_add",
    "queue_remove",
    "queue_pause",
    "queue_status",
    "queue_summary",
    "core_show_channels",
    "user_event",
    "command",
    "ping",
]

#: ``Reason`` of OriginateResponse (``pbx_dial_reason``).
ORIGINATE_REASONS = {
    0: "failed",  # no such number / extension / unknown
    1: "hangup",
    3: "no_answer",
    4: "answered",
    5: "busy",
    8: "congestion",
}

_DTMF = set("0123456789*#ABCDabcd")


def _need(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} is required")
    return value


def _vars(variables: Mapping[str, object] | None) -> list[str] | None:
    if not variables:
        return None
    out = []
    for k, v in variables.items():
        if not isinstance(k, str) or not k or "=" in k:
            raise ValueError(f"invalid variable name {k!r}")
        out.append(f"{k}={v}")
    return out


def new_channel_id() -> str:
    """A fresh Uniqueid to pre-assign with ``ChannelId`` (max 149 chars in Asterisk)."""
    return f"hl-{uuid.uuid4().hex}"


@dataclass(slots=True)
class OriginateResult:
    """Outcome of an async Originate (from its ``OriginateResponse`` event)."""

    success: bool
    reason: int | None
    reason_text: str
    uniqueid: str | None
    channel: str | None
    action_id: str | None
    event: Message | None
    queued: ActionResult


async def originate(
    client: AmiClient,
    channel: str,
    *,
    exten: str | None = None,
    context: str | None = None,
    priority: int | str | None = None,
    application: str | None = None,
    data: str | None = None,
    timeout_ms: int | None = 30000,
    caller_id: str | None = None,
    variables: Mapping[str, object] | None = None,
    account: str | None = None,
    channel_id: str | None = None,
    other_channel_id: str | None = None,
    early_media: bool | None = None,
    codecs: str | None = None,
    wait: bool = True,
    margin: float = 10.0,
) -> OriginateResult:
    """Place a call with ``Async: true`` (a synchronous Originate blocks the AMI session).

    Either ``exten`` + ``context`` (``priority`` defaults to 1) or ``application``.
    With ``wait`` the result comes from the ``OriginateResponse`` event, waited
    for up to ``timeout_ms`` plus ``margin`` seconds; without it only the
    "successfully queued" ack is awaited. Never replayed after a reconnect.
    ``channel_id`` pre-assigns the Uniqueid (see :func:`new_channel_id`).
    """
    _need(channel, "channel")
    if application and (exten or context):
        raise ValueError("give either exten/context or application, not both")
    if application is None:
        if not exten or not context:
            raise ValueError("originate needs exten and context, or application")
        if priority is None:
            priority = 1
    if timeout_ms is not None and (not isinstance(timeout_ms, int) or timeout_ms <= 0):
        raise ValueError("timeout_ms must be a positive integer (milliseconds)")
    headers: list[tuple[str, object]] = [("Channel", channel)]
    if application is not None:
        headers += [("Application", application), ("Data", data)]
    else:
        headers += [("Context", context), ("Exten", exten), ("Priority", priority)]
    headers += [
        ("CallerID", caller_id),
        ("Timeout", timeout_ms),
        ("Account", account),
        ("ChannelId", channel_id),
        ("OtherChannelId", other_channel_id),
        ("EarlyMedia", early_media),
        ("Codecs", codecs),
        ("Async", "true"),
        ("Variable", _vars(variables)),
    ]
    wait_s = (timeout_ms or 30000) / 1000 + margin
    res = await client.send_action(
        "Originate",
        headers,
        until_event="OriginateResponse" if wait else None,
        timeout=wait_s if wait else None,
    )
    ev = res.complete
    if ev is None:
        return OriginateResult(True, None, "queued", channel_id, None, res.action_id, None, res)
    reason_raw = ev.get("Reason")
    reason = int(reason_raw) if reason_raw and reason_raw.lstrip("-").isdigit() else None
    uniqueid = ev.get("Uniqueid")
    return OriginateResult(
        success=(ev.get("Response") or "").lower() == "success",
        reason=reason,
        reason_text=ORIGINATE_REASONS.get(reason, "unknown") if reason is not None else "unknown",
        uniqueid=None if uniqueid in (None, "", "<unknown>") else uniqueid,
        channel=ev.get("Channel"),
        action_id=res.action_id,
        event=ev,
        queued=res,
    )


async def redirect(
    client: AmiClient,
    channel: str,
    context: str,
    exten: str,
    priority: int | str = 1,
    *,
    extra_channel: str | None = None,
    extra_context: str | None = None,
    extra_exten: str | None = None,
    extra_priority: int | str | None = None,
) -> ActionResult:
    """Send ``channel`` (and atomically ``extra_channel``, e.g. its bridged peer) to dialplan."""
    _need(channel, "channel"), _need(context, "context"), _need(exten, "exten")
    extra: list[tuple[str, object]] = []
    if extra_channel is not None:
        _need(extra_channel, "extra_channel")
        extra = [
            ("ExtraChannel", extra_channel),
            ("ExtraContext", extra_context or context),
            ("ExtraExten", extra_exten or exten),
            ("ExtraPriority", extra_priority if extra_priority is not None else priority),
        ]
    elif any(x is not None for x in (extra_context, extra_exten, extra_priority)):
        raise ValueError("extra_context/extra_exten/extra_priority need extra_channel")
    return await client.send_action(
        "Redirect",
        [("Channel", channel), ("Context", context), ("Exten", exten), ("Priority", priority)] + extra,
    )


async def blind_transfer(client: AmiClient, channel: str, exten: str, context: str | None = None) -> ActionResult:
    """Transfer the bridge ``channel`` is in (its peer) to ``exten@context``."""
    _need(channel, "channel"), _need(exten, "exten")
    return await client.send_action("BlindTransfer", Channel=channel, Exten=exten, Context=context)


async def atxfer(client: AmiClient, channel: str, exten: str, context: str | None = None) -> ActionResult:
    """Attended transfer (needs an ``atxfer`` feature code in features.conf)."""
    _need(channel, "channel"), _need(exten, "exten")
    return await client.send_action("Atxfer", Channel=channel, Exten=exten, Context=context)


async def hangup(client: AmiClient, channel: str, cause: int | None = None) -> ActionResult:
    """Hang up a channel (name, Uniqueid or ``/regex/``; a regex answers with a list)."""
    _need(channel, "channel")
    if cause is not None and (not isinstance(cause, int) or not 0 <= cause <= 127):
        raise ValueError("cause must be a Q.850 code 0..127")
    return await client.send_action("Hangup", Channel=channel, Cause=cause)


async def setvar(client: AmiClient, variable: str, value: object, channel: str | None = None) -> ActionResult:
    """Set a channel variable, or a global one when ``channel`` is omitted."""
    _need(variable, "variable")
    return await client.send_action("Setvar", Channel=channel, Variable=variable, Value=str(value))


async def getvar(client: AmiClient, variable: str, channel: str | None = None) -> str | None:
    """Value of a variable or function (``CALLERID(name)``); ``None`` when unset."""
    _need(variable, "variable")
    res = await client.send_action("Getvar", Channel=channel, Variable=variable)
    value = res.get("Value")
    return value if value not in (None, "(null)") else None


async def play_dtmf(
    client: AmiClient, channel: str, digit: str, *, duration_ms: int | None = None, receive: bool | None = None
) -> ActionResult:
    """Play one DTMF digit on a channel (``receive`` emulates inbound DTMF)."""
    _need(channel, "channel")
    if not isinstance(digit, str) or len(digit) != 1 or digit not in _DTMF:
        raise ValueError("digit must be one of 0-9 * # A-D")
    if duration_ms is not None and (not isinstance(duration_ms, int) or duration_ms <= 0):
        raise ValueError("duration_ms must be a positive integer")
    return await client.send_action(
        "PlayDTMF", Channel=channel, Digit=digit, Duration=duration_ms, Receive="yes" if receive else None
    )


async def queue_add(
    client: AmiClient,
    queue: str,
    interface: str,
    *,
    member_name: str | None = None,
    penalty: int | None = None,
    paused: bool | None = None,
    state_interface: str | None = None,
    reason: str | None = None,
) -> ActionResult:
    _need(queue, "queue"), _need(interface, "interface")
    return await client.send_action(
        "QueueAdd",
        Queue=queue,
        Interface=interface,
        MemberName=member_name,
        Penalty=penalty,
        Paused=paused,
        StateInterface=state_interface,
        Reason=reason,
    )


async def queue_remove(client: AmiClient, queue: str, interface: str) -> ActionResult:
    _need(queue, "queue"), _need(interface, "interface")
    return await client.send_action("QueueRemove", Queue=queue, Interface=interface)


async def queue_pause(
    client: AmiClient, interface: str, paused: bool = True, *, queue: str | None = None, reason: str | None = None
) -> ActionResult:
    """Pause/unpause a member in ``queue`` (all queues when omitted)."""
    _need(interface, "interface")
    if not isinstance(paused, bool):
        raise ValueError("paused must be a bool")
    return await client.send_action("QueuePause", Interface=interface, Paused=paused, Queue=queue, Reason=reason)


async def queue_status(client: AmiClient, queue: str | None = None, member: str | None = None) -> ActionResult:
    """QueueParams / QueueMember / QueueEntry items in ``.events``."""
    return await client.send_action("QueueStatus", Queue=queue, Member=member)


async def queue_summary(client: AmiClient, queue: str | None = None) -> ActionResult:
    return await client.send_action("QueueSummary", Queue=queue)


async def core_show_channels(client: AmiClient) -> list[Message]:
    """One ``CoreShowChannel`` event per live channel."""
    res = await client.send_action("CoreShowChannels")
    return res.events


async def user_event(client: AmiClient, name: str, headers: Mapping[str, object] | None = None) -> ActionResult:
    """Emit ``Event: UserEvent`` with ``UserEvent: name`` and the given headers."""
    _need(name, "name")
    pairs = [("UserEvent", name)] + list((headers or {}).items())
    return await client.send_action("UserEvent", pairs)


async def command(client: AmiClient, cli: str, *, check: bool = True) -> list[str]:
    """Run a CLI command; returns its output lines (``Output:`` or legacy Follows body).

    An unknown command is ``Response: Error``: raises :class:`AmiError` whose
    ``response`` still holds the Output lines, unless ``check`` is False."""
    _need(cli, "command")
    res = await client.send_action("Command", Command=cli, check=False)
    if check and not res.success:
        lines = res.output
        raise AmiError(f"command {cli!r} failed: {lines[0] if lines else res.message}", res.response)
    return res.output


async def ping(client: AmiClient, timeout: float | None = None) -> ActionResult:
    """``Ping`` -> ``Ping: Pong`` (+ ``Timestamp``); retried across a reconnect."""
    res = await client.send_action("Ping", timeout=timeout)
    if res.get("Ping") != "Pong":
        raise AmiError("unexpected Ping reply", res.response)
    return res
