"""Assemble the single-process server: database, rules, telephony, scheduler."""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

from hotline.bootstrap import open_database, seed_if_empty
from hotline.config import Settings
from hotline.database import session_factory
from hotline.web.app import AppState
from hotline.times import set_zone

log = logging.getLogger(__name__)


class StartupError(RuntimeError):
    pass


def load_rules_or_fail(settings: Settings):
    from hotline.rules.catalog import known_codes
    from hotline.rules.loader import RulesError, load_rules

    categories, units = known_codes()
    try:
        return load_rules(settings.rules_file, categories=categories, units=units)
    except RulesError as exc:
        first = exc.issues[0].format() if getattr(exc, "issues", None) else str(exc)
        raise StartupError(f"routing rules invalid ({len(getattr(exc, 'issues', []) or [1])} problem(s)); first: {first}") from None
    except FileNotFoundError:
        raise StartupError(f"routing rules file not found: {settings.rules_file}") from None


def sms_gateway(settings: Settings):
    """The configured SMS gateway; Twilio needs its HOTLINE_TWILIO_* variables."""
    if settings.sms_gateway == "twilio":
        from hotline.notify.twilio_gateway import TwilioGateway, TwilioNotConfigured

        try:
            return TwilioGateway()
        except TwilioNotConfigured as exc:
            raise StartupError(str(exc)) from None
    from hotline.notify.gateways import LogGateway

    return LogGateway()


def build_state(settings: Settings) -> AppState:
    engine = open_database(settings)
    if settings.sample_data:
        report = seed_if_empty(engine)
        if report:
            log.info("sample data loaded: %s", report)
    rules = load_rules_or_fail(settings)
    set_zone(ZoneInfo(rules.calendar.timezone))   # the hotline's zone: deadlines, pages, every time written out
    sessions = session_factory(engine)
    from hotline.rules.sync import sync_rules

    with sessions() as s, s.begin():
        log.info("routing rules applied: %s", sync_rules(s, rules))
    from hotline.users.service import ensure_first_admin

    with sessions() as s, s.begin():
        created = ensure_first_admin(s, settings.ensure_var_dir())
    if created:
        log.warning("首次启动：已创建管理员账号 admin，初始密码保存在 %s（登录后请用 hotline users 管理账号）"
                    " (first start: admin account created, password in that file)", created)
        if settings.telephony_mode == "simulator":
            from hotline.users.service import ensure_demo_agent

            with sessions() as s, s.begin():
                demo = ensure_demo_agent(s, settings.ensure_var_dir())
            if demo:
                log.warning("演示模式：已创建坐席账号 demo-agent（座席为模拟话机），密码保存在 %s"
                            " (demo mode: agent account demo-agent, password in that file)", demo)
    from hotline.cases.callbacks import callback_stage_policy
    from hotline.directory import work_calendar
    from hotline.notify.flows import role_numbers_from_env
    from hotline.routing.factory import router_from_db
    from hotline.sla.policy import stage_policy_from_rules
    from hotline.sla.scheduled import SchedulerService
    from ivr.bus import EventBus

    from hotline.web.names import NameBook

    with sessions() as s:
        ticket_router = router_from_db(s, rules)
        names = NameBook.build(s, rules)
    calendar = work_calendar(rules)
    state = AppState(settings=settings, engine=engine, sessions=sessions, rules=rules, ticket_router=ticket_router,
                     calendar=calendar, stage_policy=callback_stage_policy(stage_policy_from_rules(rules), rules),
                     bus=EventBus(queue_size=settings.bus_queue_size), names=names)
    log.info("%s", calendar.coverage(state.now()).describe())
    warning = state.calendar_warning()
    if warning:
        log.warning("%s", warning)
    try:
        role_numbers = role_numbers_from_env(settings.notify_role_numbers)
    except ValueError as exc:
        raise StartupError(f"HOTLINE_NOTIFY_ROLE_NUMBERS: {exc}") from None
    from hotline.notify.delivery import NoticeDelivery, publish_notices
    from hotline.notify.flows import NotificationFlows

    def push_notices(notices) -> None:
        publish_notices(state.live, state.read_sessions, notices)

    state.notices = NoticeDelivery(sessions, NotificationFlows(rules, role_numbers=role_numbers, tz=calendar.tz,
                                                               on_notices=push_notices))
    state.services.append(SchedulerService(sessions, engine, rules, calendar, sms_gateway(settings),
                                           interval=settings.scheduler_interval, role_numbers=role_numbers,
                                           on_notices=push_notices))
    from hotline.telephony import TelephonyService

    from hotline.cluster import TelephonyLeadership

    state.leadership = TelephonyLeadership(engine, settings.effective_node_url)
    telephony = TelephonyService(settings, sessions, state.bus, leadership=state.leadership)
    if engine.url.get_backend_name() == "postgresql":       # several processes may share the database
        from hotline.web.live_bridge import PgLiveBridge

        state.live.bridge = PgLiveBridge(engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False), state.live)
        state.services.append(_BridgeService(state.live.bridge))
    state.services.append(telephony)
    state.telephony = telephony.mode
    from hotline.calls.flows import AgentConsoleFeed
    from hotline.rules.reload import RulesReloader, rules_digest

    state.agent_feed = AgentConsoleFeed(state.bus, state.read_sessions, state.live, telephony, state.names)
    from hotline.calls.wallboard import WallboardFeed

    state.wallboard = WallboardFeed(state, state.bus)
    state.services.append(state.wallboard)
    state.rules_digest = rules_digest(settings.rules_file)
    state.reloader = RulesReloader(state)
    state.services.append(state.reloader)
    return state


class _BridgeService:
    """Starts and stops the live-event bridge with the app."""

    def __init__(self, bridge) -> None:
        self.bridge = bridge

    async def start(self) -> None:
        self.bridge.start()

    async def stop(self) -> None:
        import asyncio

        await asyncio.to_thread(self.bridge.stop)
