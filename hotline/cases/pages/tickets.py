"""工单查询 (``/tickets``) and the ticket page (``/tickets/{number}``) with its action forms,
photos (处置前后照片) and the call recording.

Every role may search; district and department officers find only the tickets their unit is
responsible for (decision 0009). Action forms post to ``/tickets/{number}/actions/{action}``:
field errors re-render the page with the typed values (422), a stale version or a second submit
gets a conflict message and writes nothing (409), success redirects back with a confirmation
(POST/redirect/GET).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from hotline.cases.attachments import (
    LABELS, MAX_PHOTO_BYTES, MAX_PHOTOS, AttachmentError, PhotosNotAllowed, add_photos, checked_photos,
    may_add_photos, photo_file, ticket_attachments,
)
from hotline.cases.duplicates import duplicates_of
from hotline.cases.errors import (
    IllegalTransition, IncompleteTicket, MissingField, NotFound, PermissionDenied, StaleTicket, WorkflowError,
)
from hotline.cases.intake import IntakeError
from hotline.cases.lights import deadline_light
from hotline.cases.pages.common import (
    CHANNEL_LABELS, PRIORITY_LABELS, UNIT_LABELS, action_payload, calendar_of, error_for, flash, lights_for,
    page_number, parse_list_filters, perform_action, photo_store, plain_message, pop_flash, publish_ticket,
    safe_next, warning_percent,
)
from hotline.cases.queues import running_deadlines
from hotline.cases.recordings import RECORDING_ROLES, recording_file, ticket_recordings
from hotline.cases.schemas import ticket_detail
from hotline.cases.service import get_ticket, has_content, list_tickets, ticket_record
from hotline.cases.workflow import Action, Satisfaction, TicketState
from hotline.privacy import FULL_NUMBER_ROLES
from hotline.sla.calendar import CalendarNotCovered
from hotline.users.roles import Role
from hotline.web.api import actor_of, calendar_message
from hotline.web.pages import Crumb, page_user, render
from hotline.web.security import CurrentUser

__all__ = ["router", "ACTION_FIELDS"]

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
COUNT_LIMIT = 10_000        # "超过 10000 条": exact totals of a million rows are the reports' job
LIST_PARAMS = ("q", "state", "category", "district", "street", "department", "from", "to")
DUPLICATE_ROLES = frozenset({Role.AGENT, Role.DISPATCHER, Role.SUPERVISOR, Role.ADMIN})


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str            # text, textarea, category, kind, district, coord, parent, responsible, duration,
    #                      satisfaction, photos
    required: bool = False
    hint: str = ""


_NOTE = Field("note", "备注", "text")
ACTION_FIELDS: dict[Action, tuple[Field, ...]] = {
    Action.COMPLETE: (
        Field("category_code", "分类", "category", True, "输入编码或名称查找，如 01001 或 井盖"),
        Field("kind", "分类类型", "kind", False, "编码同时为部件和事项时须选择"),
        Field("description", "诉求内容", "textarea", True, "听取录音后填写来电人反映的问题"),
        Field("address", "地址", "text", False, "街道门牌或地标，用于定位责任网格"),
        Field("district_code", "所属区县", "district", False, "地址无法定位时按此区县派遣"),
        Field("lat", "纬度", "coord"), Field("lon", "经度", "coord")),
    Action.REGISTER: (_NOTE,),
    Action.REJECT: (Field("reason", "不予立案理由", "textarea", True),),
    Action.ANSWER_DIRECTLY: (Field("result", "答复内容", "textarea", True),),
    Action.MERGE: (Field("parent", "主工单编号", "parent", True, "并入的未办结工单，如 12319-20261207-00001"),),
    Action.DISPATCH: (Field("responsible", "责任单位", "responsible", True), Field("note", "派遣说明", "text")),
    Action.REDISPATCH: (Field("responsible", "责任单位", "responsible", True), Field("note", "派遣说明", "text")),
    Action.ACCEPT: (_NOTE,),
    Action.RETURN: (Field("reason", "退回理由", "textarea", True, "说明不属于本单位的依据"),),
    Action.REQUEST_EXTENSION: (Field("duration", "延期时长", "duration", True),
                               Field("reason", "延期理由", "textarea", True)),
    Action.APPROVE_EXTENSION: (Field("note", "审批意见", "text"),),
    Action.DENY_EXTENSION: (Field("reason", "驳回理由", "textarea"),),
    Action.FEEDBACK: (Field("result", "办理结果", "textarea", True),
                      Field("photos", "处置后照片", "photos", False,
                            f"JPEG、PNG 或 WebP，每张不超过 {MAX_PHOTO_BYTES // (1024 * 1024)} MB，最多 {MAX_PHOTOS} 张")),
    Action.VERIFY_PASS: (Field("note", "核查意见", "text"),),
    Action.VERIFY_FAIL: (Field("reason", "返工理由", "textarea", True),),
    Action.CALLBACK: (Field("satisfaction", "满意度", "satisfaction", True), Field("note", "回访记录", "textarea")),
    Action.REOPEN: (Field("reason", "重办理由", "textarea", True),),
    Action.VOID: (Field("reason", "作废理由", "textarea", True),),
}
# Actions shown as a warning (red) button: they end or send back the work.
DANGER_ACTIONS = frozenset({Action.REJECT, Action.VOID, Action.RETURN, Action.VERIFY_FAIL, Action.DENY_EXTENSION})


def _state(request: Request) -> Any:
    return request.app.state.hotline


def _tz(state: Any):
    return calendar_of(state).tz


def _choices(state: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Districts and departments of the rules (code → name), for selects and their checks."""
    rules = state.rules
    districts = {d.code: d.name for d in rules.districts} if rules else {}
    departments = {d.code: d.name for d in rules.departments} if rules else {}
    return districts, departments


# --- 工单查询 ------------------------------------------------------------------------------------

@router.get("/tickets", response_class=HTMLResponse)
def tickets_page(request: Request, user: CurrentUser = Depends(page_user)):
    state = _state(request)
    names = state.names
    districts, departments = _choices(state)
    streets = {code: name for code, name in names.units.items() if names.unit_levels.get(code) == 2}
    filters = parse_list_filters(request.query_params, LIST_PARAMS, _tz(state), choices={
        "state": TicketState._value2member_map_, "district": districts, "department": departments,
        "street": streets})
    page = page_number(request.query_params.get("page"))
    full = user.role in FULL_NUMBER_ROLES
    items, total, lights = [], 0, {}
    now = state.now()
    if not filters.errors:
        with state.read_sessions() as s:
            items, total = list_tickets(
                s, actor_of(user), state=filters.get("state"), category_code=filters.get("category"),
                district_code=filters.get("district"), street_code=filters.get("street"),
                department_code=filters.get("department"), created_from=filters.created_from,
                created_before=filters.created_before, q=filters.get("q"), page=page, page_size=PAGE_SIZE,
                search_callers=full, count_limit=max(COUNT_LIMIT, page * PAGE_SIZE))
            lights = lights_for(state, running_deadlines(s, [t.id for t in items]), now)
    return render(request, "cases/tickets.html", {
        "filters": filters, "items": items, "total": total, "page": page, "pages": max(1, -(-total // PAGE_SIZE)),
        "more": total > max(COUNT_LIMIT, page * PAGE_SIZE),
        "lights": lights, "states": list(TicketState), "districts": districts, "departments": departments,
        "streets": sorted(streets.items()), "search_callers": full, "scoped": user.role.scoped,
        "flash": pop_flash(request),
    }, user=user, active="tickets", crumbs=[Crumb("工单查询")],
        status_code=422 if filters.errors else 200)


# --- the ticket page -----------------------------------------------------------------------------

def _ticket_context(state: Any, user: CurrentUser, number: str) -> dict[str, Any]:
    """Everything the ticket page shows, read in one read-only session."""
    now = state.now()
    calendar, percent = calendar_of(state), warning_percent(state)
    actor = actor_of(user)
    with state.read_sessions() as s:
        try:
            ticket = get_ticket(s, actor, number)
        except NotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=plain_message(str(exc))) from None
        record = ticket_record(s, ticket)
        detail = ticket_detail(record, user, now)
        actions = [Action(a["value"]) for a in detail["available_actions"]]
        attachments = ticket_attachments(s, ticket)
        recordings = (ticket_recordings(s, ticket, state.settings.recordings_dir)
                      if user.role in RECORDING_ROLES else [])
        duplicates = (duplicates_of(s, ticket, rules=state.rules, at=now)
                      if Action.MERGE in actions and user.role in DUPLICATE_ROLES and ticket.category_code else [])
        photos_allowed = may_add_photos(actor, ticket)
        content = has_content(ticket)
    # the form open when the page loads: the first action, but not 补录 once there is content
    default_open = next((a.value for a in actions if not (a is Action.COMPLETE and content)), None)
    lights = [deadline_light(d, now, calendar, percent) for d in record.deadlines]
    by_event: dict[int, list[Any]] = {}
    for a in attachments:
        by_event.setdefault(a.event_seq or 0, []).append(a)
    return {
        "t": ticket, "detail": detail, "record": record, "actions": actions, "lights": lights,
        "running": next((lt for lt in reversed(lights) if lt.running), None),
        "attachments": attachments, "photos_by_event": by_event, "recordings": recordings,
        "recordings_allowed": user.role in RECORDING_ROLES, "duplicates": duplicates,
        "photos_allowed": photos_allowed, "default_open": default_open,
        "suggestion_usable": Action.COMPLETE in actions and not content and bool(ticket.transcript_suggestion),
    }


def _render_ticket(request: Request, user: CurrentUser, number: str, *, status_code: int = 200,
                   errors: dict[str, str] | None = None, values: dict[str, Any] | None = None,
                   open_action: str | None = None, message: str | None = None, conflict: bool = False):
    state = _state(request)
    ctx = _ticket_context(state, user, number)
    districts, departments = _choices(state)
    ctx.update({
        "fields": ACTION_FIELDS, "danger": DANGER_ACTIONS, "errors": errors or {}, "values": values or {},
        "open_action": open_action, "message": message, "conflict": conflict, "flash": pop_flash(request),
        "priority_labels": PRIORITY_LABELS, "channel_labels": CHANNEL_LABELS, "unit_labels": UNIT_LABELS,
        "satisfactions": list(Satisfaction), "photo_labels": LABELS, "districts": districts,
        "departments": departments, "telephony_mode": state.telephony, "max_photos": MAX_PHOTOS,
        "max_photo_mb": MAX_PHOTO_BYTES // (1024 * 1024), "state_labels": {s.value: s.label for s in TicketState},
    })
    return render(request, "cases/ticket.html", ctx, user=user, active="tickets",
                  crumbs=[Crumb("工单查询", "/tickets"), Crumb(ctx["t"].number)], status_code=status_code)


@router.get("/tickets/{number}", response_class=HTMLResponse)
def ticket_page(request: Request, number: str, user: CurrentUser = Depends(page_user), use_suggestion: bool = False):
    """``?use_suggestion=1`` opens 补录 filled with the transcript's suggested category and district:
    the suggestion is applied only when the agent submits that form (issue 12: never automatically)."""
    if not use_suggestion:
        return _render_ticket(request, user, number)
    state = _state(request)
    with state.read_sessions() as s:
        try:
            ticket = get_ticket(s, actor_of(user), number)
        except NotFound as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=plain_message(str(exc))) from None
        suggestion = ticket.transcript_suggestion or {}
        values = {"category_code": suggestion.get("category_code") or ticket.category_code or "",
                  "district_code": suggestion.get("district_code") or ticket.district_code or "",
                  "description": ticket.description or ticket.transcript or "", "address": ticket.address or ""}
    return _render_ticket(request, user, number, values=values, open_action=Action.COMPLETE.value)


def _version(form: Any) -> int | None:
    try:
        value = int(str(form.get("expected_version") or ""))
    except ValueError:
        return None
    return value if value >= 1 else None


async def _uploads(form: Any) -> list[tuple[str, bytes]]:
    """The chosen files, each read up to one byte past the size limit (enough to refuse it)."""
    out = []
    for item in form.getlist("photos"):
        if hasattr(item, "read"):
            out.append((item.filename or "", await item.read(MAX_PHOTO_BYTES + 1)))
    return out


@router.post("/tickets/{number}/actions/{action}", response_class=HTMLResponse)
async def ticket_action(request: Request, number: str, action: str, user: CurrentUser = Depends(page_user)):
    state = _state(request)
    try:
        act = Action(action)
    except ValueError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"未知操作“{action}”") from None
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}

    def again(code: int, errors: dict[str, str] | None = None, message: str | None = None, conflict=False):
        return _render_ticket(request, user, number, status_code=code, errors=errors, values=values,
                              open_action=act.value, message=message, conflict=conflict)

    version = _version(form)
    if version is None:
        return again(422, message="页面缺少工单版本号，请刷新页面后重试")
    districts, departments = _choices(state)
    payload, errors = action_payload(act, form, districts=districts, departments=departments)
    photos = []
    if act is Action.FEEDBACK:
        try:
            photos = checked_photos(await _uploads(form))
        except AttachmentError as exc:
            errors["photos"] = str(exc)
    if errors:
        return again(422, errors)
    try:
        done = await state.write_lane.run(perform_action, state, user, number, act, payload, photos, version)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=plain_message(str(exc))) from None
    except PermissionDenied as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=plain_message(str(exc))) from None
    except StaleTicket:
        return again(409, conflict=True, message=(
            f"工单 {number} 在您打开页面后已被他人办理或修改，本次“{act.label}”未执行。"
            "请查看下方最新内容，如仍需办理请重新提交。"))
    except IllegalTransition as exc:
        return again(409, conflict=True, message=plain_message(str(exc)) + "，本次操作未执行。")
    except CalendarNotCovered as exc:
        return again(409, message=calendar_message(exc))
    except (MissingField, IntakeError, AttachmentError) as exc:
        field_name, text = error_for(exc)
        if field_name == "routing":
            return again(422, message=text)
        return again(422, {field_name or "form": text})
    except (IncompleteTicket, WorkflowError) as exc:
        return again(422, message=plain_message(str(exc)))
    flash(request, f"已{act.label}：{done.number}（{TicketState(done.state).label}）")
    publish_ticket(state, done, act)
    return RedirectResponse(safe_next(form.get("next"), f"/tickets/{quote(done.number)}"),
                            status_code=status.HTTP_303_SEE_OTHER)


# --- photos and recordings -----------------------------------------------------------------------

def _add_photos(state: Any, user: CurrentUser, number: str, photos: list[Any], label: str) -> int:
    batch = photo_store(state).batch()
    try:
        with state.sessions() as s, s.begin():
            rows = add_photos(s, batch, actor_of(user), number, photos, at=state.now(), label=label,
                              actor_name=user.display_name or user.username)
            return len(rows)
    except BaseException:
        batch.discard()
        raise


@router.post("/tickets/{number}/photos", response_class=HTMLResponse)
async def upload_photos(request: Request, number: str, user: CurrentUser = Depends(page_user)):
    state = _state(request)
    form = await request.form()
    label = str(form.get("label") or "")
    values = {"label": label}

    def again(code: int, errors: dict[str, str]):
        return _render_ticket(request, user, number, status_code=code, errors=errors, values=values,
                              open_action="photos")

    if label not in LABELS:
        return again(422, {"label": "请选择处置前或处置后"})
    try:
        photos = checked_photos(await _uploads(form))
    except AttachmentError as exc:
        return again(422, {"photos": str(exc)})
    try:
        count = await state.write_lane.run(_add_photos, state, user, number, photos, label)
    except NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=plain_message(str(exc))) from None
    except PhotosNotAllowed as exc:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=plain_message(str(exc))) from None
    except AttachmentError as exc:
        return again(422, {"photos": str(exc)})
    flash(request, f"已上传{LABELS[label]}照片 {count} 张")
    return RedirectResponse(f"/tickets/{quote(number)}#photos", status_code=status.HTTP_303_SEE_OTHER)


_PRIVATE_FILE_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600",
                         "Content-Security-Policy": "default-src 'none'; sandbox"}


@router.get("/tickets/{number}/photos/{attachment_id}")
def photo(request: Request, number: str, attachment_id: int, user: CurrentUser = Depends(page_user)):
    state = _state(request)
    with state.read_sessions() as s:
        try:
            row, path = photo_file(s, photo_store(state), actor_of(user), number, attachment_id)
        except NotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="照片不存在或无权查看") from None
    headers = dict(_PRIVATE_FILE_HEADERS)
    headers["Content-Disposition"] = f"inline; filename*=UTF-8''{quote(row.original_name)}"
    return FileResponse(path, media_type=row.content_type, headers=headers)


@router.get("/tickets/{number}/recordings/{index}")
def recording(request: Request, number: str, index: int, user: CurrentUser = Depends(page_user)):
    state = _state(request)
    with state.read_sessions() as s:
        try:
            ticket = get_ticket(s, actor_of(user), number)
            found = recording_file(s, ticket, user.role, index, state.settings.recordings_dir)
        except NotFound:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="录音不存在或无权收听") from None
    return FileResponse(found.file, media_type=found.content_type, headers=dict(_PRIVATE_FILE_HEADERS))
