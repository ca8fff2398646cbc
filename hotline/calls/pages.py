"""坐席工作台 (``/agent``): the agent bar (签入/签出, 示忙 with a reason, 话后整理), the call panel
that pops when a call rings at the agent's seat (来电号码, IVR 路径, 所选旗区, 等待时长, 来电历史,
未办结工单), the 受理登记 form (ticket from this call, with the category picker, address
suggestions, the map, duplicates and the routing preview), transfers, my tickets today, and in
simulator mode the desk phone that rings in the page and a button for a demo call.

Pages call the seat functions (:mod:`hotline.calls.seats`), the ticket intake and the
telephony facade; live changes arrive as ``agent`` / ``call`` / ``phone`` / ``transfer`` events
(:mod:`hotline.calls.flows`) and the page fetches the fragments below.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from hotline.calls import seats
from hotline.calls.schemas import call_panel
from hotline.calls.seats import PAUSE_REASONS, SeatError, seat_of, seat_view
from hotline.calls.service import get_call
from hotline.calls.views import phase_of
from hotline.cases.intake import IntakeError, intake_ticket, propose_duplicates_before, route_report
from hotline.cases.schemas import duplicate_out, state_label
from hotline.cases.errors import NotFound
from hotline.cases.service import caller_history, get_ticket, tickets_created_by
from hotline.cases.workflow import OPEN_STATES
from hotline.categories.models import Category
from hotline.routing.decision import RoutingError
from hotline.users.roles import Role
from hotline.web.api import actor_of, now_for
from hotline.web.pages import Crumb, page_roles, render
from hotline.web.security import CurrentUser
from ivr.api import CommandFailed, FacadeError, UnknownCall, UnknownTarget

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
AGENTS = page_roles(Role.AGENT, Role.SUPERVISOR)
_OPEN = {s.value for s in OPEN_STATES}
_PHONE = re.compile(r"\+?[0-9]{3,20}")


# --- helpers ---------------------------------------------------------------------------------

def _state(request: Request) -> Any:
    return request.app.state.hotline


def _telephony(request: Request) -> Any:
    return _state(request).telephony_service()


def _seat(request: Request, user: CurrentUser) -> str | None:
    with _state(request).read_sessions() as s:
        return seat_of(s, user.id)


def _flow(request: Request) -> Any:
    svc = _telephony(request)
    return getattr(svc, "flow", None)


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _back(request: Request, message: str = "", error: str = "") -> Response:
    """After a command: the agent bar fragment for htmx, a redirect for a plain form."""
    if _is_htmx(request):
        return RedirectResponse("/agent/bar" + (f"?error={error}" if error else ""), status_code=303)
    target = "/agent" + (f"?error={error}" if error else (f"?done={message}" if message else ""))
    return RedirectResponse(target, status_code=status.HTTP_303_SEE_OTHER)


def _bar_context(request: Request, user: CurrentUser, seat: str | None, error: str = "") -> dict[str, Any]:
    svc = _telephony(request)
    flow = getattr(svc, "flow", None)
    return {
        "seat": seat,
        "view": seat_view(svc, seat) if seat and svc is not None else None,
        "queues": [(q.id, q.name) for q in flow.queues] if flow is not None else [],
        "pause_reasons": PAUSE_REASONS,
        "simulator": getattr(svc, "simulator", None) is not None,
        "telephony_up": svc is not None,
        "error": error,
    }


# --- the page ----------------------------------------------------------------------------------

@router.get("/agent", response_class=HTMLResponse)
def workspace(request: Request, user: CurrentUser = Depends(AGENTS), done: str = "", error: str = "",
              created: str = "", callback: str = Query("", max_length=30)):
    """``?callback=<ticket number>`` (from 回访任务) fills the 外呼 box with that ticket's caller."""
    state = _state(request)
    seat = _seat(request, user)
    flow = _flow(request)
    now = now_for(state)
    start_of_day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    callback_ticket = None
    with state.read_sessions() as s:
        mine = tickets_created_by(s, user.id, start_of_day)
        if callback:
            try:
                ticket = get_ticket(s, actor_of(user), callback)
                callback_ticket = {"number": ticket.number, "caller_name": ticket.caller_name,
                                   "caller_number": ticket.caller_number, "has_number": bool(ticket.caller_number)}
            except NotFound:
                callback_ticket = {"number": callback, "missing": True}
    ctx = _bar_context(request, user, seat, error)
    ctx.update({
        "done": done[:200], "created": created[:30], "mine": mine, "state_label": state_label,
        "districts": [(d.code, d.name) for d in flow.districts] if flow is not None else [],
        "agent_queue": flow.agent_queue if flow is not None else "",
        "tile_url": state.settings.map_tile_url, "callback": callback_ticket,
    })
    return render(request, "calls/agent.html", ctx, user=user, active="agent", crumbs=[Crumb("坐席工作台")])


@router.get("/agent/bar", response_class=HTMLResponse)
def agent_bar(request: Request, user: CurrentUser = Depends(AGENTS), error: str = ""):
    return render(request, "calls/_agent_bar.html", _bar_context(request, user, _seat(request, user), error),
                  user=user)


# --- seat commands ------------------------------------------------------------------------------

async def _command(request: Request, user: CurrentUser, action, *args) -> Response:
    seat = _seat(request, user)
    if not seat:
        return _back(request, error="尚未绑定座席分机，请联系系统管理员")
    try:
        await action(_telephony(request), seat, *args)
    except SeatError as exc:
        return _back(request, error=str(exc))
    return _back(request, message="ok")


@router.post("/agent/signin")
async def sign_in(request: Request, user: CurrentUser = Depends(AGENTS)):
    form = await request.form()
    queues = [q for q in form.getlist("queue") if isinstance(q, str)]
    svc = _telephony(request)
    if svc is not None and svc.simulator is not None and (seat := _seat(request, user)):
        svc.softphone(seat)                   # the desk phone rings in this page
    return await _command(request, user, seats.sign_in, user.display_name or user.username, queues)


@router.post("/agent/signout")
async def sign_out(request: Request, user: CurrentUser = Depends(AGENTS)):
    return await _command(request, user, seats.sign_out)


@router.post("/agent/pause")
async def pause(request: Request, user: CurrentUser = Depends(AGENTS), reason: str = Form("", max_length=40)):
    return await _command(request, user, seats.pause, reason)


@router.post("/agent/resume")
async def resume(request: Request, user: CurrentUser = Depends(AGENTS)):
    return await _command(request, user, seats.resume)


@router.post("/agent/wrapup")
async def extend_wrap_up(request: Request, user: CurrentUser = Depends(AGENTS)):
    return await _command(request, user, seats.extend_wrap_up)


# --- the simulated desk phone and demo calls -------------------------------------------------------

def _softphone(request: Request, user: CurrentUser):
    svc, seat = _telephony(request), _seat(request, user)
    if svc is None or svc.simulator is None or not seat:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="模拟话机只在内置模拟交换机模式下可用")
    return svc.softphone(seat)


@router.post("/agent/phone/answer")
def phone_answer(request: Request, user: CurrentUser = Depends(AGENTS)):
    if not _softphone(request, user).answer():
        return _back(request, error="没有正在振铃的来电")
    return _back(request, message="已接听")


@router.post("/agent/phone/hangup")
def phone_hangup(request: Request, user: CurrentUser = Depends(AGENTS)):
    if not _softphone(request, user).hangup():
        return _back(request, error="当前没有通话")
    return _back(request, message="已挂断")


@router.post("/agent/demo-call")
async def demo_call(request: Request, user: CurrentUser = Depends(AGENTS)):
    """模拟来电 (simulator only): a citizen who asks for an agent."""
    svc = _telephony(request)
    if svc is None or svc.simulator is None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="模拟来电只在内置模拟交换机模式下可用")
    await svc.place_demo_call()
    return _back(request, message="已发起模拟来电，请稍候振铃")


# --- the call panel ------------------------------------------------------------------------------

def _history(request: Request, phone: str) -> tuple[list[Any], list[Any]]:
    with _state(request).read_sessions() as s:
        tickets = caller_history(s, phone, limit=10) if phone else []
    return [t for t in tickets if t.state in _OPEN], tickets


@router.get("/agent/panel", response_class=HTMLResponse)
def panel(request: Request, user: CurrentUser = Depends(AGENTS),
          call_id: str = Query("", max_length=80, pattern=r"^[A-Za-z0-9._:-]*$")):
    """The screen pop: the call at the agent's seat (or ``call_id``), live or just ended."""
    svc = _telephony(request)
    state = _state(request)
    seat = _seat(request, user)
    if not call_id and seat and svc is not None:
        call_id = svc.facade.agent(seat).call_id
    data = None
    if call_id and svc is not None:
        snap = svc.tracker.snapshot(call_id) or svc.tracker.ended_snapshot(call_id)
        if snap is not None:
            data = call_panel(snap, svc.flow, state.names, now=now_for(state),
                              phase="ended" if snap.ended_at else phase_of(snap))
    if data is None and call_id:
        with state.read_sessions() as s:
            row = get_call(s, call_id)
        if row is not None:
            data = {"call_id": row.call_id, "caller": row.caller, "caller_name": row.caller_name,
                    "started_at": row.started_at, "ivr_path": [], "district_code": "", "district_name": "",
                    "queue": row.queue, "wait_seconds": row.queue_wait_s, "agent_answered_at": row.agent_answered_at,
                    "phase": "ended" if row.ended_at else "", "phase_label": "已结束" if row.ended_at else "",
                    "repeat_caller": False}
    open_tickets, history = _history(request, data["caller"]) if data else ([], [])
    return render(request, "calls/_panel.html", {"call": data, "open_tickets": open_tickets, "history": history,
                                                 "state_label": state_label,
                                                 "districts": [(d.code, d.name) for d in svc.flow.districts]
                                                 if svc is not None and svc.flow is not None else [],
                                                 "queues": [(q.id, q.name) for q in svc.flow.queues]
                                                 if svc is not None and svc.flow is not None else []},
                  user=user)


@router.post("/agent/transfer", response_class=HTMLResponse)
async def transfer(request: Request, user: CurrentUser = Depends(AGENTS),
                   call_id: str = Form(..., max_length=80, pattern=r"^[A-Za-z0-9._:-]+$"),
                   target: str = Form(..., max_length=60)):
    """转接: the caller to a district's receiving line (``district:<code>``) or back to a queue."""
    from hotline.calls.transfer_log import log_transfer_request
    from hotline.database import transaction, utcnow

    svc = _telephony(request)
    state = _state(request)
    if svc is None:
        return _note(request, user, "电话系统未连接，无法转接", error=True)
    try:
        done = await svc.facade.transfer(call_id, target)
    except UnknownCall:
        return _note(request, user, "通话已结束，无法转接", error=True)
    except (UnknownTarget, FacadeError, CommandFailed) as exc:
        return _note(request, user, f"转接失败：{exc}", error=True)
    if state.agent_feed is not None:
        state.agent_feed.transfer_requested(call_id, user.id)
    names = {d.code: d.name for d in svc.flow.districts}
    at = utcnow()

    def log() -> int:
        with transaction(svc.sessions) as session:
            return len(log_transfer_request(session, call_id, str(done), actor=user.display_name or user.username,
                                            actor_id=user.id, at=at, district_names=names))

    await state.write_lane.run(log)
    label = names.get(done.value, "") if done.kind == "district" else "人工队列"
    return _note(request, user, f"已发起转接：{label}，结果将在此显示")


def _note(request: Request, user: CurrentUser, text: str, *, error: bool = False) -> Response:
    return render(request, "calls/_note.html", {"text": text, "error": error}, user=user,
                  status_code=200 if not error else 409)


# --- intake from the call --------------------------------------------------------------------------

_FIELDS = ("call_id", "caller_number", "caller_name", "category_code", "kind", "description", "address", "lat", "lon",
           "district_code", "street_code", "priority")


async def _intake_form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: (form.get(k) or "").strip() if isinstance(form.get(k), str) else "" for k in _FIELDS}


def _report(values: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The intake fields from a form, and field-level Chinese errors."""
    errors: dict[str, str] = {}
    report: dict[str, Any] = {"category_code": values["category_code"], "kind": values["kind"] or None,
                              "description": values["description"], "address": values["address"] or None,
                              "district_code": values["district_code"] or None,
                              "street_code": values["street_code"] or None, "priority": values["priority"] or None,
                              "lat": None, "lon": None, "override": None}
    if not values["category_code"]:
        errors["category_code"] = "请选择问题分类"
    if not values["description"]:
        errors["description"] = "请填写诉求内容"
    elif len(values["description"]) > 4000:
        errors["description"] = "诉求内容最多 4000 字"
    if len(values["address"]) > 300:
        errors["address"] = "地址最多 300 字"
    if values["kind"] not in ("", "component", "matter"):
        errors["kind"] = "分类类型无效"
    if values["priority"] not in ("", "normal", "high", "urgent"):
        errors["priority"] = "紧急程度无效"
    if values["caller_number"] and not _PHONE.fullmatch(values["caller_number"].replace("-", "")):
        errors["caller_number"] = "来电号码应为 3–20 位数字"
    for name in ("district_code", "street_code"):
        if values[name] and not values[name].isdigit():
            errors[name] = "区划代码应为数字"
    if values["lat"] or values["lon"]:
        try:
            lat, lon = float(values["lat"]), float(values["lon"])
            if not (-90 <= lat <= 90 and -180 <= lon <= 180):
                raise ValueError
            report["lat"], report["lon"] = lat, lon
        except ValueError:
            errors["lat"] = "地图位置无效，请重新选点"
    return report, errors


@router.post("/agent/preview", response_class=HTMLResponse)
async def preview(request: Request, user: CurrentUser = Depends(AGENTS)):
    """路由预览 and 疑似重复: what the router decides for the form as typed so far (nothing stored)."""
    state = _state(request)
    values = await _intake_form(request)
    report, errors = _report(values)
    errors.pop("description", None)          # the preview works before the description is written
    if errors:
        return render(request, "calls/_preview.html", {"errors": errors}, user=user)
    report["description"] = report["description"] or ""
    try:
        decision = route_report(state, at=now_for(state), **report)
    except IntakeError as exc:
        return render(request, "calls/_preview.html", {"errors": {exc.field: str(exc)}}, user=user)
    with state.read_sessions() as s:
        duplicates = propose_duplicates_before(s.connection(), state, decision, report["lat"], report["lon"],
                                               now_for(state))
    return render(request, "calls/_preview.html", {"decision": decision.to_dict(),
                                                   "duplicates": [duplicate_out(c) for c in duplicates]}, user=user)


@router.post("/agent/tickets", response_class=HTMLResponse)
async def create_ticket(request: Request, user: CurrentUser = Depends(AGENTS)):
    """受理登记: register the report as a ticket linked to the call; errors keep what was typed."""
    state = _state(request)
    values = await _intake_form(request)
    report, errors = _report(values)
    if errors:
        return _form_again(request, user, values, errors)
    at = now_for(state)
    call_id = values["call_id"] or None

    def register():
        with state.sessions() as s, s.begin():
            return intake_ticket(s, state, channel="phone", caller_number=values["caller_number"],
                                 caller_name=values["caller_name"], call_id=call_id, actor=actor_of(user), at=at,
                                 actor_name=user.display_name or None, with_duplicates=False, **report)

    try:
        result = await state.write_lane.run(register)
    except IntakeError as exc:
        return _form_again(request, user, values, {exc.field: str(exc)})
    except RoutingError as exc:
        return _form_again(request, user, values, {"address": str(exc)})
    number = result.ticket.number
    if _is_htmx(request):
        return render(request, "calls/_created.html", {"number": number}, user=user)
    return RedirectResponse(f"/agent?created={number}", status_code=status.HTTP_303_SEE_OTHER)


def _form_again(request: Request, user: CurrentUser, values: dict[str, str], errors: dict[str, str]) -> Response:
    return render(request, "calls/_intake_errors.html", {"errors": errors, "values": values}, user=user,
                  status_code=422)


# --- look-ups for the form --------------------------------------------------------------------------

@router.get("/agent/categories.json")
def categories(request: Request, user: CurrentUser = Depends(AGENTS)) -> dict:
    """Every active category for the picker (部件/事件 by big class, local 12319 codes marked)."""
    with _state(request).read_sessions() as s:
        rows = s.execute(select(Category).where(Category.active.is_(True))
                         .order_by(Category.kind, Category.big_class_code, Category.code)).scalars().all()
        items = [{"code": c.code, "kind": c.kind, "name": c.name, "big_class": c.big_class,
                  "big_class_code": c.big_class_code, "local": c.is_local_extension} for c in rows]
    return {"categories": items}


@router.get("/agent/suggest", response_class=HTMLResponse)
def suggest_address(request: Request, user: CurrentUser = Depends(AGENTS),
                    address: str = Query("", max_length=300)):
    """Streets and communities the typed address names, or whose name contains it (西屯 → 西屯街道)."""
    state = _state(request)
    text = "".join(address.split())
    units = []
    if len(text) >= 2:
        for code, name, level in state.names.search(text, levels=(2, 3), limit=12):
            district = state.names.unit(code[:6])
            street = state.names.unit(code[:9]) if level == 3 else ""
            units.append({"code": code, "name": name, "level": level,
                          "label": " › ".join(x for x in (district, street, name) if x)})
    return render(request, "calls/_suggest.html", {"units": units, "q": text}, user=user)


# --- click-to-dial ------------------------------------------------------------------------------------

@router.post("/agent/dial", response_class=HTMLResponse)
async def dial(request: Request, user: CurrentUser = Depends(AGENTS),
               number: str = Form("", max_length=30), ticket: str = Form("", max_length=30)):
    """外呼 (回访, calling a caller back): the agent's phone rings first, then the citizen's.
    ``ticket`` dials that ticket's caller, whose number the page never needs to show in full."""
    svc, seat = _telephony(request), _seat(request, user)
    if ticket:
        try:
            with _state(request).read_sessions() as s:
                number = get_ticket(s, actor_of(user), ticket).caller_number or ""
        except NotFound:
            return _note(request, user, f"工单 {ticket} 不存在或无权查看", error=True)
        if not number:
            return _note(request, user, f"工单 {ticket} 没有来电号码，无法外呼", error=True)
    digits = number.replace("-", "").replace(" ", "").strip()
    if not digits:
        return _note(request, user, "请输入要呼叫的号码", error=True)
    if not _PHONE.fullmatch(digits):
        return _note(request, user, "号码应为 3–20 位数字", error=True)
    if svc is None or not seat:
        return _note(request, user, "未绑定座席分机或电话系统未连接，无法外呼", error=True)
    if svc.simulator is not None:
        svc.softphone(seat)
    try:
        result = await svc.facade.dial(seat, digits)
    except (FacadeError, CommandFailed, ValueError) as exc:
        return _note(request, user, f"外呼失败：{exc}", error=True)
    if not result.success:
        return _note(request, user, "您的话机未接听，外呼已取消", error=True)
    return _note(request, user, "已接通您的话机，正在呼叫对方")


# --- the wallboard ----------------------------------------------------------------------------------

WALLBOARD_ROLES = page_roles(Role.SUPERVISOR)


@router.get("/wallboard", response_class=HTMLResponse)
def wallboard(request: Request, user: CurrentUser = Depends(WALLBOARD_ROLES), wall: bool = False):
    """实时监控 (大屏): ``?wall=1`` for the 1920×1080 wall screen (large type, no menu)."""
    state = _state(request)
    feed = state.wallboard
    snapshot = feed.snapshot() if feed is not None else None
    return render(request, "calls/wallboard.html", {"board": snapshot, "wall": wall,
                                                    "tile_url": state.settings.map_tile_url},
                  user=user, active="wallboard", crumbs=[Crumb("实时监控")])


@router.get("/wallboard/snapshot.json")
def wallboard_snapshot(request: Request, user: CurrentUser = Depends(WALLBOARD_ROLES)) -> Response:
    """The same snapshot the live events carry (first paint, and after a resync)."""
    import json

    feed = _state(request).wallboard
    data = feed.snapshot() if feed is not None else {}
    return Response(json.dumps(data, ensure_ascii=False, default=str), media_type="application/json")


@router.get("/wallboard/tickets.json")
def wallboard_tickets(request: Request, user: CurrentUser = Depends(WALLBOARD_ROLES)) -> dict:
    """Open tickets with a location for the map (一张图): overdue ones first."""
    from hotline.cases.service import open_tickets_on_map

    state = _state(request)
    with state.read_sessions() as s:
        items = open_tickets_on_map(s, now_for(state))
    for item in items:
        item["district_name"] = state.names.unit(item.pop("district"))
        item["state_label"] = state_label(item["state"])
    return {"tickets": items}
