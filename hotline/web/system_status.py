"""系统管理 (``/admin``): the state of the running system at a glance — telephony (AMI mode,
FastAGI), the scheduler leader and its last tick, the holiday calendar's coverage, vendored
browser assets, the database (revision, dialect), the SMS outbox, the audit writer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from hotline.config import mask_url
from hotline.migrate import current_revision, head_revision
from hotline.notify.service import summary as outbox_summary
from hotline.web.assets import missing_assets
from hotline.web.pages import Crumb, page_roles, render
from hotline.web.security import CurrentUser

__all__ = ["router", "Check", "system_checks"]

router = APIRouter(include_in_schema=False)

_TELEPHONY = {"asterisk": "Asterisk（AMI 已配置）", "simulator": "内置模拟交换机（演示/测试）", "off": "未启用"}


@dataclass
class Check:
    title: str
    state: str           # ok, warning, error
    lines: list[tuple[str, str]]


def _scheduler(state: Any) -> Any:
    for svc in state.services:
        if hasattr(svc, "run_once") and hasattr(svc, "lock"):
            return svc
    return None


def system_checks(state: Any) -> list[Check]:
    now = state.now()
    checks: list[Check] = []

    telephony = state.telephony_service()
    lines = [("模式", _TELEPHONY.get(state.telephony, state.telephony))]
    tel_state = "ok" if state.telephony in ("asterisk", "simulator") else "warning"
    if telephony is not None:
        if state.telephony == "asterisk":
            lines.append(("AMI 地址", f"{state.settings.ami_host}:{state.settings.ami_port}"))
        agi = getattr(telephony, "agi", None)
        port = getattr(telephony, "agi_port", None)
        lines.append(("FastAGI", f"监听 {state.settings.agi_host}:{port}" if agi is not None and port else "未启动"))
        if agi is None:
            tel_state = "warning"
    else:
        lines.append(("FastAGI", "未启动"))
    checks.append(Check("电话系统", tel_state, lines))

    scheduler = _scheduler(state)
    if scheduler is None:
        checks.append(Check("定时任务", "warning", [("状态", "本进程未运行定时任务")]))
    else:
        last = scheduler.last
        lines = [("本进程", "主节点（负责时限扫描、短信发送）" if scheduler.is_leader else "备用节点（主节点在其他进程）"),
                 ("周期", f"{scheduler.interval:g} 秒"),
                 ("上次执行", last.at.astimezone(now.tzinfo).strftime("%Y-%m-%d %H:%M:%S") if last else "尚未执行")]
        sched_state = "ok"
        if last is not None and last.errors:
            lines.append(("上次错误", "；".join(last.errors)[:300]))
            sched_state = "error"
        elif last is not None and (now - last.at).total_seconds() > 3 * scheduler.interval + 30:
            lines.append(("提示", "已超过三个周期未执行"))
            sched_state = "warning"
        checks.append(Check("定时任务", sched_state, lines))

    if state.calendar is not None:
        coverage = state.calendar.coverage(now)
        warning = state.calendar_warning()
        checks.append(Check("节假日日历", "warning" if warning else "ok",
                            [("覆盖", coverage.describe())] + ([("提示", warning)] if warning else [])))
    else:
        checks.append(Check("节假日日历", "error", [("状态", "未加载")]))

    missing = missing_assets()
    checks.append(Check("浏览器组件", "error" if missing else "ok",
                        [("缺失文件", "、".join(missing))] if missing else [("状态", "htmx、Leaflet、ECharts、Swagger UI 齐全")]))

    try:
        current, head = current_revision(state.engine), head_revision()
        db_state = "ok" if current == head else "error"
        db_lines = [("数据库", mask_url(str(state.engine.url.render_as_string(hide_password=False)))),
                    ("类型", state.engine.dialect.name), ("结构版本", f"{current}（最新 {head}）")]
        with state.read_sessions() as s:
            outbox = outbox_summary(s, now=now, failures=0)
        db_lines.append(("短信队列", f"待发 {outbox.pending}，已发 {outbox.sent}，失败 {outbox.failed}"))
    except Exception as exc:      # the page must show a database fault, not fail with it
        db_state, db_lines = "error", [("错误", f"{type(exc).__name__}: {str(exc)[:200]}")]
    checks.append(Check("数据库", db_state, db_lines))

    if state.rules is None:
        checks.append(Check("路由规则", "error", [("错误", state.rules_error or "未加载")]))
    audit = state.audit
    checks.append(Check("审计日志", "error" if audit.dropped else "ok",
                        [("已写入（本进程）", str(audit.written)), ("丢弃", str(audit.dropped))]))
    return checks


@router.get("/admin", response_class=HTMLResponse)
def status_page(request: Request, user: CurrentUser = Depends(page_roles())):
    state = request.app.state.hotline
    return render(request, "admin/status.html", {"checks": system_checks(state)}, user=user, active="admin",
                  crumbs=[Crumb("系统管理")])
