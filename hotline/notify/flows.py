"""Internal notifications → console notices and SMS: who ``responsible``, ``supervisor`` … are,
and what they read.

The case service (:mod:`hotline.cases.service`) and the SLA sweep (:mod:`hotline.sla.sweep`)
store messages for people by *target*, not by number: a ``Notification`` row with channel
``internal``, ``to`` = the target, template ``ticket.<action>.<target>`` and the JSON context
in ``body``. :meth:`NotificationFlows.resolve_pending` delivers each such row:

1. **In the console** (通知中心, :mod:`hotline.notify.console`): one notice for every active user
   the target means (the responsible unit's officers, a role's users …), pushed live to their
   open pages by ``on_notices`` after the transaction commits.
2. **By SMS** as an extra channel, only to *mobile* numbers of the target:

=====================  ==================================================================
target                 SMS recipient(s)
=====================  ==================================================================
``responsible``        the ticket's department SMS number (``departments.sms_number``,
                       synced from ``routing_rules.yaml`` ``departments[].sms``); without
                       one, the district's line (``districts[].line``)
``district``           the district office's ``sms`` number, else its line
``department:<code>``  that department's SMS number
``dispatcher``,        the numbers configured for the role: ``role_numbers`` (from the
``supervisor``,        ``HOTLINE_NOTIFY_ROLE_NUMBERS`` environment variable, see
``admin``, ``agent``   :func:`role_numbers_from_env`)
=====================  ==================================================================

With console recipients, a landline or a missing number simply means no SMS: the row becomes
the SMS to the first mobile, or (no mobile) channel ``console``, status ``sent``. Without any
console recipient the SMS is the only channel, and a row that cannot be resolved (no number
configured, a landline, a template fault) ends ``failed`` with a clear ``last_error`` — never an
exception into the workflow or the sweep. Further SMS recipients get their own rows
(``dedup_key`` = the internal key + ``>n``). Every update of an internal row is conditional on
it still being pending, and notices are unique per (row, user): nothing is delivered twice.

Texts come from the notify templates (``hotline/notify/templates``): the SLA warning
(``sla_warning``) and overdue/escalation (``sla_overdue``) templates, ``ticket_dispatched``
for dispatch/redispatch/reopen; the template named in ``rules.notifications.templates`` for
the event is used instead when a template file of that name exists. Other workflow events
use ``ticket_update`` when that template exists, else a fixed one-line text.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hotline.cases.models import Ticket, TicketDeadline
from hotline.database import utcnow
from hotline.departments.models import Department
from hotline.notify import console
from hotline.notify.console import NoticeOut
from hotline.notify.models import Notification
from hotline.notify.render import RenderError, render, template_names
from hotline.notify.service import FAILED, PENDING, SENT, InvalidPhoneNumber, OutboxSender, normalise_phone
from hotline.notify.service import _Claim  # SmsOutboxSender re-implements OutboxSender._claim

log = logging.getLogger(__name__)

__all__ = [
    "INTERNAL", "ROLE_NUMBERS_ENV", "ROLE_TARGETS", "NotificationFlows", "ResolveReport", "Unresolvable",
    "SmsOutboxSender", "role_numbers_from_env",
]

INTERNAL = "internal"
CONSOLE = "console"          # an internal row delivered in the console only (no mobile to text)
ROLE_NUMBERS_ENV = "HOTLINE_NOTIFY_ROLE_NUMBERS"
ROLE_TARGETS = ("dispatcher", "supervisor", "admin", "agent")
_TARGET_LABELS = {"dispatcher": "派遣员", "supervisor": "值班长", "admin": "系统管理员", "agent": "坐席"}


class Unresolvable(LookupError):
    """No SMS recipient for a target (the message says what to configure)."""


def role_numbers_from_env(value: str | None = None) -> dict[str, tuple[str, ...]]:
    """Parse ``supervisor=13800000001,13800000002;dispatcher=13800000003``.

    ``value`` defaults to the ``HOTLINE_NOTIFY_ROLE_NUMBERS`` environment variable. Unknown
    roles and malformed entries raise ``ValueError`` naming the entry.
    """
    text = os.environ.get(ROLE_NUMBERS_ENV, "") if value is None else value
    out: dict[str, tuple[str, ...]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        role, sep, numbers = part.partition("=")
        role = role.strip()
        if not sep or role not in ROLE_TARGETS:
            raise ValueError(f"{ROLE_NUMBERS_ENV}: {part!r} is not <role>=<number>[,<number>…] "
                             f"with role one of {', '.join(ROLE_TARGETS)}")
        listed = tuple(n.strip() for n in numbers.split(",") if n.strip())
        if not listed:
            raise ValueError(f"{ROLE_NUMBERS_ENV}: no number for {role!r}")
        out[role] = out.get(role, ()) + listed
    return out


@dataclass
class ResolveReport:
    resolved: int = 0        # internal rows delivered (console notices and/or SMS rows)
    notices: int = 0         # console notices created
    messages: int = 0        # SMS rows queued (pending) in total
    failed: int = 0          # internal rows or recipients that ended failed
    errors: list[str] = field(default_factory=list)


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class NotificationFlows:
    """Resolves internal notification rows (see module doc). ``rules`` = the loaded routing rules."""

    def __init__(self, rules, *, role_numbers: Mapping[str, Sequence[str]] | None = None, tz=None,
                 on_notices: Callable[[list[NoticeOut]], None] | None = None):
        self.rules = rules
        self.on_notices = on_notices      # called with the console notices of each committed batch
        self.role_numbers = {k: tuple(v) for k, v in (role_numbers or {}).items()}
        unknown = sorted(set(self.role_numbers) - set(ROLE_TARGETS))
        if unknown:
            raise ValueError(f"role_numbers: unknown role(s) {', '.join(unknown)}; expected {', '.join(ROLE_TARGETS)}")
        self.tz = tz

    # -- recipients ---------------------------------------------------------------------------

    def _department(self, session: Session, code: str) -> tuple[str, str | None]:
        """(name, sms number or None) of a department: the database row, else the rules."""
        row = session.execute(select(Department).where(Department.code == code)).scalar_one_or_none()
        if row is not None:
            return row.name, row.sms_number
        dep = self.rules.department(code)
        if dep is None:
            raise Unresolvable(f"未知部门“{code}”(unknown department {code!r})")
        return dep.name, dep.sms

    def _district_line(self, code: str | None) -> tuple[str, str]:
        """(name, number) of the district office: its SMS number, else its line (a landline is
        refused when the row is sent, with a clear error)."""
        district = self.rules.district(code) if code else None
        if district is None:
            raise Unresolvable(f"工单未指定责任部门或区县，无法确定接收人(no department or district for {code!r})")
        return district.name, district.sms or district.line

    def recipients(self, session: Session, target: str, context: Mapping[str, Any]) -> list[str]:
        """Phone numbers (as configured, not yet normalised) for ``target``; :class:`Unresolvable` if none."""
        if target == "responsible":
            code = context.get("department_code")
            if code:
                name, sms = self._department(session, code)
                if sms:
                    return [sms]
                if not context.get("district_code"):
                    raise Unresolvable(f"责任部门“{name}”未配置短信号码(department {code!r} has no sms number)")
            return [self._district_line(context.get("district_code"))[1]]
        if target == "district":
            return [self._district_line(context.get("district_code"))[1]]
        if target.startswith("department:"):
            code = target.split(":", 1)[1]
            name, sms = self._department(session, code)
            if not sms:
                raise Unresolvable(f"部门“{name}”未配置短信号码(department {code!r} has no sms number)")
            return [sms]
        if target in ROLE_TARGETS:
            numbers = self.role_numbers.get(target, ())
            if not numbers:
                raise Unresolvable(f"未配置{_TARGET_LABELS[target]}的短信号码(set {ROLE_NUMBERS_ENV} "
                                   f"{target}=<mobile>)")
            return list(numbers)
        raise Unresolvable(f"未知的通知对象“{target}”(unknown notification target {target!r})")

    def unit_name(self, session: Session, context: Mapping[str, Any]) -> str:
        """Name of the responsible unit shown in the text (department, else district)."""
        code = context.get("department_code")
        if code:
            try:
                return self._department(session, code)[0]
            except Unresolvable:
                return code
        district = self.rules.district(context.get("district_code") or "")
        return district.name if district else "相关单位"

    # -- texts ----------------------------------------------------------------------------------

    def _template(self, event: str, default: str) -> str:
        configured = self.rules.notifications.templates.get(event) if event else None
        return configured if configured and configured in template_names() else default

    def text(self, session: Session, row: Notification, context: Mapping[str, Any]) -> tuple[str, str, dict]:
        """(template name, rendered text, template context) for an internal row."""
        parts = (row.template or "").split(".")
        action = context.get("action") or (parts[1] if len(parts) > 2 else "")
        unit = self.unit_name(session, context)
        category = context.get("category_name") or "未分类"
        number = context.get("number", "")
        if action in ("sla_warning", "sla_overdue", "escalate"):
            name = (self._template("deadline_warning", "sla_warning") if action == "sla_warning"
                    else self._template("escalation", "sla_overdue"))
            ctx = {"number": number, "category": category, "stage": context.get("stage", ""),
                   "due": _parse_time(context.get("due_at")), "unit": unit}
            return name, render(name, ctx, tz=self.tz), ctx
        if action in ("dispatch", "redispatch", "reopen") and row.ticket_id is not None:
            deadline = session.execute(select(TicketDeadline.due_at).where(
                TicketDeadline.ticket_id == row.ticket_id, TicketDeadline.stage == "签收",
                TicketDeadline.completed_at.is_(None))).scalar()
            if deadline is not None:
                name = self._template("ticket_dispatched", "ticket_dispatched")
                ctx = {"number": number, "category": category, "address": context.get("address") or "未填写",
                       "deadline": deadline, "unit": unit}
                return name, render(name, ctx, tz=self.tz), ctx
        ctx = {"number": number, "category": category, "unit": unit,
               "action_label": context.get("action_label", action), "state_label": context.get("state_label", ""),
               "note": context.get("note", "")}
        if "ticket_update" in template_names():
            return "ticket_update", render("ticket_update", ctx, tz=self.tz), ctx
        note = " ".join(str(ctx["note"]).split())
        note = note if len(note) <= 40 else note[:39] + "…"
        text = f"【赤峰12319】{unit}：工单{number}（{category}）{ctx['action_label']}"
        text += f"，{note}。" if note else "。"
        return "", text, ctx

    # -- resolving --------------------------------------------------------------------------------

    def resolve_pending(self, sessions: sessionmaker[Session], *, now: datetime | None = None,
                        batch: int = 200, ticket_ids: Sequence[int] | None = None) -> ResolveReport:
        """Resolve every pending internal row (batches of ``batch``, one transaction each), or only
        those of ``ticket_ids`` (the immediate delivery after a ticket action). Console notices
        are handed to ``on_notices`` once their transaction has committed."""
        report = ResolveReport()
        conditions = [Notification.channel == INTERNAL, Notification.status == PENDING]
        if ticket_ids is not None:
            if not ticket_ids:
                return report
            conditions.append(Notification.ticket_id.in_(list(ticket_ids)))
        while True:
            delivered: list[NoticeOut] = []
            with sessions() as session, session.begin():
                rows = session.execute(
                    select(Notification).where(*conditions)
                    .order_by(Notification.id).limit(batch).with_for_update(skip_locked=True)
                ).scalars().all()
                for row in rows:
                    delivered += self._resolve(session, row, now or utcnow(), report)
            if delivered:
                report.notices += len(delivered)
                if self.on_notices is not None:
                    try:
                        self.on_notices(delivered)
                    except Exception:      # a live push must never undo or repeat a delivery
                        log.exception("pushing %d console notices failed", len(delivered))
            if len(rows) < batch:
                return report

    def _sms_numbers(self, session: Session, target: str, context: Mapping[str, Any]) -> list[str]:
        """Mobile numbers (E.164) of a target; landlines and missing numbers are left out."""
        try:
            numbers = self.recipients(session, target, context)
        except Unresolvable:
            return []
        out = []
        for number in numbers:
            try:
                out.append(normalise_phone(number))
            except InvalidPhoneNumber:
                log.info("notice for %s: %r cannot receive SMS, console only", target, number)
        return out

    def _resolve(self, session: Session, row: Notification, now: datetime, report: ResolveReport) -> list[NoticeOut]:
        def fail(message: str) -> list[NoticeOut]:
            done = session.execute(
                update(Notification).where(Notification.id == row.id, Notification.channel == INTERNAL,
                                           Notification.status == PENDING)
                .values(status=FAILED, last_error=message[:2000]).execution_options(synchronize_session=False))
            if done.rowcount:
                report.failed += 1
                report.errors.append(f"notification {row.id} ({row.to}): {message}")
                log.warning("internal notification %s to %s not resolvable: %s", row.id, row.to, message)
            return []

        try:
            context = json.loads(row.body or "{}")
            if not isinstance(context, dict):
                raise ValueError("body is not a JSON object")
        except ValueError as exc:
            return fail(f"通知内容无法解析(body is not JSON: {exc})")
        target = row.to
        if target == "responsible" and row.ticket_id is not None and "lead" not in context:
            routing = session.execute(select(Ticket.routing).where(Ticket.id == row.ticket_id)).scalar()
            context["lead"] = routing.get("lead") if isinstance(routing, dict) else None
        users = console.recipients(session, target, context)
        if not users:       # nobody in the console: the SMS is the only channel, and its faults show
            return self._resolve_sms_only(session, row, context, now, report, fail)
        try:
            template, text, _ctx = self.text(session, row, context)
        except (Unresolvable, RenderError) as exc:
            return fail(f"通知模板错误(render: {exc})")
        numbers = self._sms_numbers(session, target, context)
        if numbers:
            values = {"channel": "sms", "to": numbers[0], "body": text, "next_attempt_at": now, "last_error": ""}
        else:
            values = {"channel": CONSOLE, "body": text, "status": SENT, "sent_at": now,
                      "last_error": f"已送达通知中心 {len(users)} 人(no mobile: console only)"}
        if template:
            values["template"] = template[:60]
        if not _claim(session, row, values):
            return []  # resolved by someone else meanwhile
        report.resolved += 1
        action = str(context.get("action") or "")
        delivered = console.add_notices(
            session, user_ids=users, notification_id=row.id, ticket_id=row.ticket_id,
            ticket_number=str(context.get("number") or ""), title=console.title_for(action, context.get("action_label", "")),
            body=console.console_body(text), at=now)
        for i, number in enumerate(numbers):
            if i == 0:
                report.messages += 1
                continue
            key = f"{row.dedup_key}>{i}" if row.dedup_key else None
            extra = self._enqueue_text(session, number, text, template or row.template, row.ticket_id, key, now)
            if extra is not None:
                report.messages += 1
        return delivered

    def _resolve_sms_only(self, session: Session, row: Notification, context: dict, now: datetime,
                          report: ResolveReport, fail) -> list[NoticeOut]:
        target = row.to
        try:
            numbers = self.recipients(session, target, context)
            template, text, ctx = self.text(session, row, context)
        except Unresolvable as exc:
            return fail(f"通知中心无接收人，且无法确定短信接收人：{exc}")
        except RenderError as exc:
            return fail(f"短信模板错误(render: {exc})")

        first, rest = numbers[0], numbers[1:]
        try:
            values = {"channel": "sms", "to": normalise_phone(first), "body": text,
                      "next_attempt_at": now, "last_error": ""}
        except InvalidPhoneNumber as exc:
            values = {"channel": "sms", "to": first[:40], "body": text, "status": FAILED,
                      "last_error": f"通知中心无接收人，且无法发送短信到“{first}”(invalid number: {exc})"}
        if template:
            values["template"] = template[:60]
        if not _claim(session, row, values):
            return []  # resolved by someone else meanwhile
        report.resolved += 1
        if values.get("status") == FAILED:
            report.failed += 1
            report.errors.append(f"notification {row.id} ({target}): {values['last_error']}")
        else:
            report.messages += 1
        for i, number in enumerate(rest, start=1):
            key = f"{row.dedup_key}>{i}" if row.dedup_key else None
            extra = self._enqueue_text(session, number, text, template or row.template, row.ticket_id, key, now)
            if extra is not None and extra.status == FAILED:
                report.failed += 1
                report.errors.append(f"notification {extra.id} ({target}): {extra.last_error}")
            elif extra is not None:
                report.messages += 1
        return []

    def _enqueue_text(self, session: Session, number: str, text: str, template: str, ticket_id, key, now):
        """An extra SMS row with an already rendered text (the number checks of ``hotline.notify.service.enqueue``)."""
        if key is not None:
            existing = session.execute(select(Notification).where(Notification.dedup_key == key)).scalar_one_or_none()
            if existing is not None:
                return None
        try:
            to, status, error = normalise_phone(number), PENDING, ""
        except InvalidPhoneNumber as exc:
            to, status, error = number[:40], FAILED, f"无法发送短信到“{number}”(invalid number: {exc})"
        row = Notification(channel="sms", to=to, template=template[:60], body=text, ticket_id=ticket_id,
                           dedup_key=key, status=status, attempts=0, next_attempt_at=now, last_error=error,
                           created_at=now)
        session.add(row)
        session.flush()
        return row


class SmsOutboxSender(OutboxSender):
    """:class:`OutboxSender` that claims only ``sms`` rows, so an internal row is never handed
    to the carrier before it is resolved to a number (``OutboxSender`` claims every channel)."""

    def _claim(self, now: datetime):
        with self.sessions() as session, session.begin():
            rows = session.scalars(
                select(Notification)
                .where(Notification.status == PENDING, Notification.channel == "sms",
                       Notification.next_attempt_at <= now)
                .order_by(Notification.next_attempt_at, Notification.id)
                .limit(self.batch)
                .with_for_update(skip_locked=True)
            ).all()
            claims = []
            for row in rows:
                row.attempts += 1
                row.next_attempt_at = now + self.lease
                claims.append(_Claim(id=row.id, to=row.to, body=row.body, attempts=row.attempts))
            return claims


def _claim(session: Session, row: Notification, values: dict) -> bool:
    """Turn the pending internal row into what it resolved to; False when another process
    resolved it first (the row is no longer pending)."""
    done = session.execute(
        update(Notification).where(Notification.id == row.id, Notification.channel == INTERNAL,
                                   Notification.status == PENDING)
        .values(**values).execution_options(synchronize_session=False))
    return bool(done.rowcount)
