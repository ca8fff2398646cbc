"""The console's page toolkit: templates, the menu of each role, breadcrumbs, and the filters
every page uses (local times, durations, masked numbers, names instead of codes).

Pages are server-rendered Jinja2 with progressive enhancement (htmx, ``static/app.js``): every
form also works as a plain form post. A page handler depends on :func:`page_user` (or
:func:`page_roles`), calls services, and returns :func:`render`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Request, status
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from hotline.notify.console import unread_count
from hotline.privacy import caller_number_for
from hotline.rules.schema import TimeUnit
from hotline.users.roles import Role
from hotline.web.assets import vendor_url
from hotline.web.csrf import csrf_token
from hotline.web.security import CurrentUser, current_user
from hotline.times import iso, zone

__all__ = ["NavItem", "Crumb", "templates", "render", "page_user", "page_roles", "nav_for", "landing_page",
           "local_time", "duration_text"]

TEMPLATES = Path(__file__).parent / "templates"
templates = Jinja2Templates(directory=str(TEMPLATES))


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    href: str


@dataclass(frozen=True)
class Crumb:
    label: str
    href: str | None = None


# The menu of each role (console.md "Pages by role"); the first entry is where the role lands.
_COMMON = (NavItem("tickets", "工单查询", "/tickets"), NavItem("notices", "通知中心", "/notices"))
NAV: dict[Role, tuple[NavItem, ...]] = {
    Role.AGENT: (NavItem("agent", "坐席工作台", "/agent"), NavItem("callbacks", "回访任务", "/callbacks"),
                 *_COMMON),
    Role.DISPATCHER: (NavItem("dispatch", "派遣待办", "/dispatch"), *_COMMON),
    Role.DISTRICT_OFFICER: (NavItem("inbox", "我的待办", "/inbox"), *_COMMON),
    Role.DEPARTMENT_OFFICER: (NavItem("inbox", "我的待办", "/inbox"), *_COMMON),
    Role.SUPERVISOR: (NavItem("wallboard", "实时监控", "/wallboard"), NavItem("review", "核查结案", "/review"),
                      NavItem("callbacks", "回访任务", "/callbacks"), NavItem("supervise", "督办", "/supervise"),
                      NavItem("reports", "报表", "/reports"), *_COMMON),
    Role.ADMIN: (NavItem("admin", "系统管理", "/admin"), NavItem("users", "用户与座席", "/admin/users"),
                 NavItem("audit", "审计日志", "/admin/audit"), NavItem("wallboard", "实时监控", "/wallboard"),
                 NavItem("dispatch", "派遣待办", "/dispatch"), NavItem("review", "核查结案", "/review"),
                 NavItem("reports", "报表", "/reports"), *_COMMON),
}


def nav_for(role: Role) -> tuple[NavItem, ...]:
    return NAV[role]


def landing_page(role: Role) -> str:
    return NAV[role][0].href


# --- filters ----------------------------------------------------------------------------------

def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M", tz: ZoneInfo | None = None) -> str:
    """``2026-12-07 14:30`` in the hotline's zone; naive values are taken as UTC."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(tz or zone()).strftime(fmt)


def iso_time(value: datetime | None) -> str:
    """ISO 8601 with the hotline's offset (for ``<time datetime>`` and countdowns in the browser)."""
    return iso(value, timespec="seconds") if value is not None else ""


def duration_text(seconds: float | timedelta | None) -> str:
    """``1时02分03秒`` / ``2分05秒`` / ``45秒`` (console convention: durations in 时/分/秒)."""
    if seconds is None:
        return ""
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    total = int(round(max(seconds, 0)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}时{minutes:02d}分{secs:02d}秒"
    if minutes:
        return f"{minutes}分{secs:02d}秒"
    return f"{secs}秒"


def _phone(number: str | None, user: CurrentUser | None) -> str:
    if user is None:
        return ""
    return caller_number_for(user.role, number)


def _mono(value: str) -> Markup:
    """A ticket number as staff copy it: monospace."""
    from markupsafe import escape

    return Markup(f'<span class="mono">{escape(value)}</span>')


def _time_limit(amount: float, unit: str) -> str:
    """A time limit as staff read it: 5个工作日, 4工作小时, 24小时."""
    return TimeUnit(unit).amount_text(float(amount))


templates.env.filters.update(local_time=local_time, iso_time=iso_time, duration=duration_text, mono=_mono,
                             time_limit=_time_limit)
templates.env.globals.update(vendor=vendor_url)


# --- dependencies -------------------------------------------------------------------------------

page_user = current_user
"""The logged-in user of a page (anonymous visitors are sent to the login page)."""


def page_roles(*roles: Role) -> Callable[..., Any]:
    """A page only these roles (and admins) may open; others get the 403 page."""
    allowed = frozenset(roles) | {Role.ADMIN}

    async def dependency(user: CurrentUser = Depends(current_user)) -> CurrentUser:
        if user.role not in allowed:
            raise HTTPException(status.HTTP_403_FORBIDDEN,
                                detail=f"角色“{user.role.label}”无权打开此页面")
        return user

    return dependency


# --- rendering ----------------------------------------------------------------------------------

def _unread(state: Any, user: CurrentUser | None) -> int:
    """The header badge's first value: the user's unread notices (live events update it)."""
    if user is None:
        return 0
    try:
        with state.read_sessions() as s:
            return unread_count(s, user.id)
    except Exception:           # an error page must render even when the database is down
        return 0


def render(request: Request, template: str, context: dict[str, Any] | None = None, *,
           user: CurrentUser | None = None, active: str = "", crumbs: Iterable[Crumb] = (),
           status_code: int = 200, headers: dict[str, str] | None = None):
    """Render a console page: the template gets ``user``, the role's ``nav`` with ``active``,
    ``crumbs``, the CSRF token for forms, ``names`` (codes → names), ``now``, ``phone()`` and
    ``unread`` (the user's unread notices, for the header badge)."""
    state = request.app.state.hotline
    ctx: dict[str, Any] = {
        "user": user,
        "nav": nav_for(user.role) if user is not None else (),
        "active": active,
        "crumbs": list(crumbs),
        "csrf_token": csrf_token(request),
        "names": state.names,
        "now": state.now(),
        "phone": lambda number: _phone(number, user),
        "telephony": state.telephony,
        "unread": _unread(state, user),
    }
    ctx.update(context or {})
    return templates.TemplateResponse(request, template, ctx, status_code=status_code, headers=headers)
