"""The command facade ``hotline`` uses to act on calls (design §2): ``hotline`` never
speaks AMI; it asks this facade to transfer, hang up or call a citizen back.

Targets are the contexts of the rendered dialplan (docs/ivr.md):

* ``district:<code>`` → ``Redirect`` of the citizen channel to ``<prefix>-district,<code>,1``.
  The dialplan dials the district line; the call tracker turns the dial into a
  ``Transferred`` event with the result (answered / busy / no answer / …), and a failed
  line falls back to the ``transfer_failed`` queue — so nothing is lost.
* ``queue:<id>`` → ``Redirect`` to ``<prefix>-queue,<id>,1`` (back to the agents, the
  Mongolian seat …).

Every command addresses the call by its call id (Linkedid); the controller finds the
citizen's channel. Errors are explicit: :class:`UnknownCall` (no live call),
:class:`UnknownTarget` (not a district/queue of the flow), :class:`CommandFailed`
(the PBX refused, or the AMI link was lost — never replayed).

Agent seats (the queue member interface of an agent's phone, e.g. ``PJSIP/agent-1101``):
``sign_in`` / ``sign_out`` (``QueueAdd`` / ``QueueRemove`` for each queue), ``pause`` /
``unpause`` (``QueuePause`` in every queue, with the reason: 示忙 小休/培训/会议 …, or 话后整理)
and ``dial`` (click-to-dial: ``Originate`` rings the seat first; when the agent answers,
``<prefix>-outbound`` dials the citizen). The seat's state comes back as
:class:`~ivr.events.AgentStateChanged` from the :class:`~ivr.agents.AgentBoard`, whoever
changed it; the commands only ask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from ivr.agents import AgentBoard
from ivr.ami import actions
from ivr.ami.errors import AmiError
from ivr.calls import CallTracker
from ivr.controller import AmiController, UnknownCall
from ivr.events import AgentSnapshot, CallSnapshot

__all__ = ["CallFacade", "CallbackResult", "CommandFailed", "FacadeError", "Target", "UnknownCall",
           "UnknownTarget", "parse_target"]


class FacadeError(Exception):
    """Base of the facade's refusals (``str()`` is a clear message)."""


class UnknownTarget(FacadeError, ValueError):
    pass


class CommandFailed(FacadeError):
    def __init__(self, message: str, cause: Exception | None = None):
        super().__init__(message)
        self.cause = cause


@dataclass(frozen=True, slots=True)
class Target:
    kind: str        # "district" or "queue"
    value: str       # district code or queue id

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True, slots=True)
class CallbackResult:
    success: bool
    reason: str              # "answered", "busy", "no_answer", "failed", …
    channel: str | None = None
    uniqueid: str | None = None


_TARGET = re.compile(r"(district|queue):([A-Za-z0-9_-]{1,40})")
_NUMBER = re.compile(r"\+?[0-9]{3,20}")
#: A queue member interface: technology/resource (PJSIP/agent-1101, SIP/2001, Local/200@agents/n).
SEAT = re.compile(r"(PJSIP|SIP|IAX2|Local|DAHDI)/[A-Za-z0-9_.@+-]{1,60}(/n)?")
_ALREADY = ("already there", "not there", "unable to remove interface: not there")
_ORIGINATE_REASONS = {4: "answered", 5: "busy", 3: "no_answer", 8: "congestion", 1: "hungup", 0: "failed"}


def _gone(exc: AmiError) -> bool:
    """Asterisk's answers for a channel that no longer exists ("No such channel",
    "Channel does not exist: …")."""
    text = f"{exc} {exc.server_message or ''}".lower()
    return "no such channel" in text or "does not exist" in text


def parse_target(target: "Target | str") -> Target:
    if isinstance(target, Target):
        return target
    m = _TARGET.fullmatch(str(target).strip())
    if m is None:
        raise UnknownTarget(f"transfer target {target!r} must be 'district:<6-digit code>' or 'queue:<queue id>'")
    return Target(m.group(1), m.group(2))


class CallFacade:
    """``transfer`` / ``hangup`` / ``originate_callback`` on an :class:`AmiController`.

    ``districts`` and ``queues`` are the codes and ids the dialplan was rendered with
    (``IvrFlow.districts`` / ``IvrFlow.queues``); other targets are refused before any
    AMI action is sent.
    """

    def __init__(self, controller: AmiController, *, districts: Iterable[str], queues: Iterable[str],
                 context_prefix: str = "hl12319", callback_context: str | None = None,
                 callback_trunk: str = "", dial_technology: str = "PJSIP"):
        self.controller = controller
        self.districts = frozenset(districts)
        self.queues = frozenset(queues)
        self.prefix = context_prefix
        self.callback_context = callback_context or f"{context_prefix}-queue"
        self.callback_trunk = callback_trunk
        self.dial_technology = dial_technology

    @property
    def tracker(self) -> CallTracker:
        return self.controller.tracker

    # -- queries -----------------------------------------------------------------------
    def live_calls(self) -> list[CallSnapshot]:
        """Snapshots of the calls in progress, oldest first."""
        calls = self.tracker.live_snapshots()
        return sorted(calls, key=lambda s: (s.started_at is None, s.started_at or 0))

    def call(self, call_id: str) -> CallSnapshot:
        snap = self.tracker.snapshot(call_id)
        if snap is None:
            raise UnknownCall(call_id)
        return snap

    # -- commands ----------------------------------------------------------------------
    def _destination(self, target: Target) -> tuple[str, str]:
        if target.kind == "district":
            if target.value not in self.districts:
                raise UnknownTarget(f"district {target.value!r} has no receiving line in the IVR flow "
                                    f"(known: {', '.join(sorted(self.districts)) or 'none'})")
            return f"{self.prefix}-district", target.value
        if target.value not in self.queues:
            raise UnknownTarget(f"queue {target.value!r} is not a queue of the IVR flow "
                                f"(known: {', '.join(sorted(self.queues)) or 'none'})")
        return f"{self.prefix}-queue", target.value

    async def transfer(self, call_id: str, target: "Target | str") -> Target:
        """Send the citizen of ``call_id`` to a district line or a queue (AMI ``Redirect``).

        Returns once the PBX accepted the redirect; the result of a district dial arrives
        later as a ``Transferred`` domain event for the same call id.
        """
        t = parse_target(target)
        context, exten = self._destination(t)
        channel = self.controller.citizen_channel(call_id)  # raises UnknownCall
        try:
            await actions.redirect(self.controller.client, channel, context=context, exten=exten, priority=1)
        except AmiError as exc:
            if _gone(exc):  # the caller hung up between the lookup and the action
                raise UnknownCall(call_id) from exc
            raise CommandFailed(f"PBX refused the transfer of call {call_id} to {t}: {exc}", exc) from exc
        return t

    async def hangup(self, call_id: str, cause: int = 16) -> None:
        try:
            await self.controller.hangup(call_id, cause=cause)
        except AmiError as exc:
            if _gone(exc):
                raise UnknownCall(call_id) from exc
            raise CommandFailed(f"PBX refused to hang up call {call_id}: {exc}", exc) from exc

    async def originate_callback(self, number: str, *, queue: str | None = None, caller_id: str = "12319",
                                 timeout_s: int = 30, variables: dict[str, str] | None = None) -> CallbackResult:
        """Call a citizen back and, once they answer, put them in ``queue`` (default: the first
        agent queue given) so the next agent takes the callback (回访 / missed call)."""
        number = (number or "").strip()
        if not _NUMBER.fullmatch(number):
            raise ValueError(f"callback number {number!r} must be 3–20 digits")
        queue = queue or (sorted(self.queues)[0] if self.queues else "")
        if queue not in self.queues:
            raise UnknownTarget(f"queue {queue!r} is not a queue of the IVR flow")
        if not isinstance(timeout_s, int) or not 1 <= timeout_s <= 300:
            raise ValueError("timeout_s must be 1–300 seconds")
        dial = f"{self.dial_technology}/{number}" + (f"@{self.callback_trunk}" if self.callback_trunk else "")
        vars_ = {"HOTLINE_CALLBACK": "1", **(variables or {})}
        try:
            res = await actions.originate(self.controller.client, dial, exten=queue, context=self.callback_context,
                                          priority=1, timeout_ms=timeout_s * 1000, caller_id=caller_id,
                                          variables=vars_)
        except AmiError as exc:
            raise CommandFailed(f"PBX refused the callback to {number}: {exc}", exc) from exc
        reason = "answered" if res.success else _ORIGINATE_REASONS.get(res.reason or 0, "failed")
        return CallbackResult(res.success, reason, res.channel, res.uniqueid)

    # -- agent seats -------------------------------------------------------------------
    @property
    def agents(self) -> AgentBoard | None:
        return self.controller.agents

    def agent(self, interface: str) -> AgentSnapshot:
        """The seat as the queues see it (``logged_out`` when unknown)."""
        board = self.agents
        return board.snapshot(interface) if board is not None else AgentSnapshot(interface=interface)

    def agent_snapshots(self) -> list[AgentSnapshot]:
        board = self.agents
        return board.snapshots() if board is not None else []

    def _check_seat(self, interface: str) -> str:
        interface = (interface or "").strip()
        if not SEAT.fullmatch(interface):
            raise UnknownTarget(f"agent seat {interface!r} is not a queue member interface such as PJSIP/agent-1101")
        return interface

    def _check_queues(self, queues: Iterable[str] | None) -> list[str]:
        chosen = list(dict.fromkeys(queues)) if queues is not None else sorted(self.queues)
        unknown = [q for q in chosen if q not in self.queues]
        if unknown or not chosen:
            raise UnknownTarget(f"queue(s) {', '.join(unknown) or '(none)'} not in the IVR flow "
                                f"(known: {', '.join(sorted(self.queues)) or 'none'})")
        return chosen

    async def sign_in(self, interface: str, name: str, queues: Iterable[str] | None = None, *,
                      penalty: int = 0) -> list[str]:
        """Add the seat to ``queues`` (default: every queue of the flow); already there is fine."""
        interface = self._check_seat(interface)
        chosen = self._check_queues(queues)
        for queue in chosen:
            try:
                await actions.queue_add(self.controller.client, queue, interface, member_name=name or interface,
                                        penalty=penalty, state_interface=interface)
            except AmiError as exc:
                if not _already(exc):
                    raise CommandFailed(f"PBX refused to sign {interface} into {queue}: {exc}", exc) from exc
        return chosen

    async def sign_out(self, interface: str, queues: Iterable[str] | None = None) -> list[str]:
        """Remove the seat from ``queues`` (default: every queue it is in); not there is fine."""
        interface = self._check_seat(interface)
        chosen = list(queues) if queues is not None else list(self.agent(interface).queues) or sorted(self.queues)
        for queue in chosen:
            try:
                await actions.queue_remove(self.controller.client, queue, interface)
            except AmiError as exc:
                if not _already(exc):
                    raise CommandFailed(f"PBX refused to sign {interface} out of {queue}: {exc}", exc) from exc
        return chosen

    async def pause(self, interface: str, reason: str) -> None:
        """示忙: pause the seat in every queue with ``reason`` (小休, 培训, 会议, 话后整理 …)."""
        interface = self._check_seat(interface)
        reason = (reason or "").strip()
        if not reason or len(reason) > 40:
            raise ValueError("a pause needs a reason of at most 40 characters")
        try:
            await actions.queue_pause(self.controller.client, interface, True, reason=reason)
        except AmiError as exc:
            raise CommandFailed(f"PBX refused to pause {interface}: {exc}", exc) from exc

    async def unpause(self, interface: str) -> None:
        interface = self._check_seat(interface)
        try:
            await actions.queue_pause(self.controller.client, interface, False)
        except AmiError as exc:
            raise CommandFailed(f"PBX refused to unpause {interface}: {exc}", exc) from exc

    async def dial(self, interface: str, number: str, *, caller_id: str = "12319", timeout_s: int = 30,
                   variables: dict[str, str] | None = None) -> CallbackResult:
        """Click-to-dial: ring the agent's seat; once answered, ``<prefix>-outbound`` dials ``number``.
        Returns when the seat answered (``success``) or did not."""
        interface = self._check_seat(interface)
        number = (number or "").strip()
        if not _NUMBER.fullmatch(number):
            raise ValueError(f"number {number!r} must be 3–20 digits")
        if not isinstance(timeout_s, int) or not 1 <= timeout_s <= 300:
            raise ValueError("timeout_s must be 1–300 seconds")
        try:
            res = await actions.originate(self.controller.client, interface, exten=number,
                                          context=f"{self.prefix}-outbound", priority=1,
                                          timeout_ms=timeout_s * 1000, caller_id=caller_id,
                                          variables={"HOTLINE_OUTBOUND": "1", **(variables or {})})
        except AmiError as exc:
            raise CommandFailed(f"PBX refused to dial {number} from {interface}: {exc}", exc) from exc
        reason = "answered" if res.success else _ORIGINATE_REASONS.get(res.reason or 0, "failed")
        return CallbackResult(res.success, reason, res.channel, res.uniqueid)


def _already(exc: AmiError) -> bool:
    """QueueAdd of a member already there / QueueRemove of one not there: nothing to do."""
    text = f"{exc} {exc.server_message or ''}".lower()
    return any(word in text for word in _ALREADY)
