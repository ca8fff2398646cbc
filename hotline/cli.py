"""The ``hotline`` command line. Errors are one clear line and a non-zero exit code."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import click

from hotline.config import Settings, get_settings


class CliError(click.ClickException):
    """One-line error shown as ``错误: …`` / ``error: …``."""

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def _settings() -> Settings:
    try:
        return get_settings()
    except Exception as exc:  # pydantic validation of HOTLINE_* variables
        first = str(exc).splitlines()
        raise CliError(f"invalid settings: {' '.join(first[:3])}") from None


def _engine(settings: Settings, migrate: bool = True):
    from hotline.bootstrap import open_database
    from hotline.database import DatabaseUnavailable

    try:
        return open_database(settings, migrate=migrate)
    except DatabaseUnavailable as exc:
        raise CliError(str(exc)) from None


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="debug logging")
def main(verbose: bool) -> None:
    """12319 城建服务热线 — hotline backend."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


# -- config -------------------------------------------------------------------
@main.group()
def config() -> None:
    """Settings."""


@config.command("show")
def config_show() -> None:
    """Print the effective settings (secrets masked)."""
    for key, value in _settings().masked().items():
        click.echo(f"{key} = {value}")


# -- db -----------------------------------------------------------------------
@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (creates the database file for SQLite)."""
    from hotline.migrate import current_revision

    engine = _engine(_settings())
    click.echo(f"database at revision {current_revision(engine)}")


# -- seed ---------------------------------------------------------------------
@main.command()
@click.option("--sample", is_flag=True, required=True, help="load the sample data (categories, Chifeng grid)")
def seed(sample: bool) -> None:
    """Load sample data idempotently (a second run changes nothing)."""
    from hotline.database import session_factory
    from hotline.seed import seed_sample

    settings = _settings()
    engine = _engine(settings)
    try:
        with session_factory(engine)() as session, session.begin():
            report = seed_sample(session)
    except Exception as exc:
        raise CliError(f"seed failed, nothing was written: {exc}") from None
    click.echo(str(report))
    from hotline.rules.sync import sync_rules
    from hotline.server import StartupError, load_rules_or_fail

    try:
        rules = load_rules_or_fail(settings)
    except StartupError as exc:
        raise CliError(f"sample data loaded, but {exc}") from None
    with session_factory(engine)() as session, session.begin():
        click.echo(str(sync_rules(session, rules)))


# -- rules --------------------------------------------------------------------
@main.group()
def rules() -> None:
    """Routing rules (routing_rules.yaml)."""


@rules.command("check")
@click.argument("file", required=False, type=click.Path(path_type=Path))
def rules_check(file: Path | None) -> None:
    """Validate FILE (default: the configured rules file); report errors with line numbers."""
    from hotline.rules.catalog import known_codes
    from hotline.rules.loader import check_rules_file

    path = file or _settings().rules_file
    if not path.exists():
        raise CliError(f"{path}: no such file")
    categories, units = known_codes()
    issues = check_rules_file(path, categories=categories, units=units)
    for issue in issues:
        click.echo(issue.format(), err=True)
    if issues:
        raise CliError(f"{path}: {len(issues)} problem(s), rules not loaded")
    click.echo(f"{path}: ok")


PID_FILE = "hotline.pid"


@rules.command("reload")
def rules_reload() -> None:
    """Check the configured rules file, then ask the running server to apply it (SIGHUP).

    The server validates again, renders the dialplan, has the PBX reload it and swaps its rules;
    an invalid file keeps the rules in force. /readyz shows the outcome (checks.rules_reload).
    """
    import os
    import signal

    from hotline.rules.catalog import known_codes
    from hotline.rules.loader import check_rules_file

    settings = _settings()
    path = settings.rules_file
    if not path.exists():
        raise CliError(f"{path}: no such file")
    categories, units = known_codes()
    issues = check_rules_file(path, categories=categories, units=units)
    for issue in issues:
        click.echo(issue.format(), err=True)
    if issues:
        raise CliError(f"{path}: {len(issues)} problem(s); the server keeps the rules in force")
    pid_file = settings.var_dir / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (OSError, ValueError) as exc:
        raise CliError(f"no running server found ({pid_file}: {exc}); start it with hotline serve") from None
    click.echo(f"{path}: ok; reload requested from the server (pid {pid}); /readyz shows the result")


# -- route --------------------------------------------------------------------
@main.command()
@click.option("--category", "category_code", required=True, help="category code, e.g. 06010")
@click.option("--kind", type=click.Choice(["component", "matter"]), help="when a code is both")
@click.option("--lat", type=float, help="WGS-84 latitude")
@click.option("--lon", type=float, help="WGS-84 longitude")
@click.option("--address", help="address text, e.g. 红山区永巨街道")
@click.option("--district", "district_code", help="district code, e.g. 150402")
@click.option("--description", default="", help="problem description (keywords)")
def route(category_code, kind, lat, lon, address, district_code, description) -> None:
    """Print the routing decision and its explanation as JSON."""
    from hotline.database import session_factory
    from hotline.routing.decision import RoutingError
    from hotline.routing.factory import router_from_db
    from hotline.server import StartupError, load_rules_or_fail

    if (lat is None) != (lon is None):
        raise CliError("--lat and --lon go together")
    settings = _settings()
    engine = _engine(settings)
    try:
        rules = load_rules_or_fail(settings)
    except StartupError as exc:
        raise CliError(str(exc)) from None
    with session_factory(engine)() as session:
        try:
            router = router_from_db(session, rules)
            decision = router.route(category_code, kind=kind, lon=lon, lat=lat, address=address,
                                    district_code=district_code, description=description)
        except RoutingError as exc:
            raise CliError(str(exc)) from None
    click.echo(decision.to_json())


# -- dialplan / prompts -----------------------------------------------------------
@main.group()
def dialplan() -> None:
    """Asterisk dialplan generated from the routing rules."""


@dialplan.command("render")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False, path_type=Path), help="default: settings")
@click.option("--agi-host", help="FastAGI host as Asterisk reaches it (default: settings)")
@click.option("--agi-port", type=int, help="FastAGI port (default: settings)")
@click.option("--trunk", help="dial every district line over this endpoint instead of the rules' trunk")
@click.option("--prefix", "context_prefix", default="hl12319", show_default=True, help="context name prefix")
@click.option("--prompts-dir", default="hl12319", show_default=True, help="sound path prefix as Asterisk sees it")
@click.option("--speech", is_flag=True, help="menus also listen for spoken keywords (speech_menu AGI, a Vosk model)")
def dialplan_render(out_dir, rules_file, agi_host, agi_port, trunk, context_prefix, prompts_dir, speech) -> None:
    """Write extensions.conf, queues.conf and manager.conf.example into OUT."""
    from hotline.ivrconfig import render_dialplan_from_rules_file
    from hotline.rules import RulesError
    from ivr.api import FlowError

    settings = _settings()
    try:
        paths = render_dialplan_from_rules_file(rules_file or settings.rules_file, out_dir,
                                                agi_host=agi_host or settings.agi_host,
                                                agi_port=agi_port or settings.agi_port, trunk=trunk,
                                                context_prefix=context_prefix, prompts_dir=prompts_dir,
                                                speech=speech)
    except RulesError as exc:
        first = exc.issues[0].format() if exc.issues else str(exc)
        raise CliError(f"routing rules invalid: {first}") from None
    except (FlowError, ValueError, OSError) as exc:
        raise CliError(str(exc).splitlines()[0]) from None
    for path in paths:
        click.echo(str(path))


@main.group()
def prompts() -> None:
    """Voice prompts."""


@prompts.command("build")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--rules", "rules_file", type=click.Path(dir_okay=False, path_type=Path), help="default: settings")
@click.option("--recordings", "recordings_dir", type=click.Path(file_okay=False, path_type=Path),
              help="folder of recorded prompts named in the rules (default: next to the rules)")
@click.option("--gsm", is_flag=True, help="also write .gsm files")
@click.option("--speech", is_flag=True, help="also the prompts of speech navigation (dialplan render --speech)")
def prompts_build(out_dir, rules_file, recordings_dir, gsm, speech) -> None:
    """Turn every prompt text into 8 kHz mono audio for Asterisk (espeak-ng Mandarin voice)."""
    from hotline.ivrconfig import build_prompts_from_rules_file
    from hotline.rules import RulesError
    from ivr.api import PromptError

    settings = _settings()
    try:
        paths = build_prompts_from_rules_file(rules_file or settings.rules_file, out_dir,
                                              recordings_dir=recordings_dir,
                                              formats=("wav", "gsm") if gsm else ("wav",), speech=speech)
    except RulesError as exc:
        first = exc.issues[0].format() if exc.issues else str(exc)
        raise CliError(f"routing rules invalid: {first}") from None
    except (PromptError, OSError) as exc:
        raise CliError(str(exc).splitlines()[0]) from None
    click.echo(f"{len(paths)} prompt file(s) in {out_dir}")


# -- users --------------------------------------------------------------------
@main.group()
def users() -> None:
    """Console users."""


def _rules(settings: Settings):
    from hotline.server import StartupError, load_rules_or_fail

    try:
        return load_rules_or_fail(settings)
    except StartupError as exc:
        raise CliError(str(exc)) from None


def _user_error(exc) -> CliError:
    from hotline.users.service import UserFieldErrors

    if isinstance(exc, UserFieldErrors):
        options = {"role": "--role", "district_code": "--district", "department_code": "--department",
                   "seat": "--seat", "username": "USERNAME", "display_name": "--name", "password": "password"}
        return CliError("; ".join(f"{options.get(k, k)}: {v}" for k, v in exc.errors.items()))
    return CliError(str(exc))


def _prompt_password() -> str:
    return click.prompt("密码 / password", hide_input=True, confirmation_prompt="再次输入 / repeat")


@users.command("add")
@click.argument("username")
@click.option("--role", required=True,
              type=click.Choice(["agent", "dispatcher", "district_officer", "department_officer",
                                 "supervisor", "admin"]))
@click.option("--name", "display_name", default="", help="display name (Chinese), e.g. 张敏")
@click.option("--district", "district_code", help="district code for district officers, e.g. 150402")
@click.option("--department", "department_code", help="department code for department officers")
@click.option("--seat", help="agents and supervisors: queue member interface, e.g. PJSIP/agent-1101")
def users_add(username, role, display_name, district_code, department_code, seat) -> None:
    """Add a user. Every option is checked (districts and departments against routing_rules.yaml)
    before the password is prompted; it is stored as an argon2 hash."""
    from hotline.database import session_factory
    from hotline.users.service import UserError, create_user, validate_user_fields

    settings = _settings()
    rules = _rules(settings)
    sessions = session_factory(_engine(settings))
    try:
        with sessions() as session:
            validate_user_fields(session, rules, role=role, district_code=district_code,
                                 department_code=department_code, seat=seat, username=username,
                                 display_name=display_name)
    except UserError as exc:
        raise _user_error(exc) from None
    password = _prompt_password()
    try:
        with sessions() as session, session.begin():
            user = create_user(session, username=username, password=password, role=role, display_name=display_name,
                               district_code=district_code, department_code=department_code, seat=seat,
                               rules=rules)
    except UserError as exc:
        raise _user_error(exc) from None
    click.echo(f"user {user.username} ({user.role}) created")


@users.command("list")
@click.option("--role", help="only this role")
@click.option("--all", "show_all", is_flag=True, help="include disabled users")
def users_list(role, show_all) -> None:
    """List users: username, role, name, scope, seat, state."""
    from hotline.database import session_factory
    from hotline.users.service import list_users

    with session_factory(_engine(_settings()))() as session:
        rows = list_users(session, role=role, active=None if show_all else True)
        for u in rows:
            scope = u.district_code or u.department_code or "-"
            click.echo("\t".join([u.username, u.role, u.display_name, scope, u.seat or "-",
                                   "active" if u.active else "disabled"]))
    if not rows:
        click.echo("no users", err=True)


def _change(username: str, change) -> None:
    """Run ``change(session, user)`` in one transaction; one clear line on refusal."""
    from hotline.database import session_factory
    from hotline.users.service import UserError, get_user

    try:
        with session_factory(_engine(_settings()))() as session, session.begin():
            change(session, get_user(session, username))
    except UserError as exc:
        raise _user_error(exc) from None


@users.command("disable")
@click.argument("username")
def users_disable(username) -> None:
    """Disable a user: every login session of the user ends at once."""
    from hotline.users.service import set_active

    _change(username, lambda s, u: set_active(s, u.id, False))
    click.echo(f"user {username} disabled")


@users.command("enable")
@click.argument("username")
def users_enable(username) -> None:
    from hotline.users.service import set_active

    _change(username, lambda s, u: set_active(s, u.id, True))
    click.echo(f"user {username} enabled")


@users.command("passwd")
@click.argument("username")
def users_passwd(username) -> None:
    """Set a new password (prompted); the user's sessions end."""
    from hotline.database import session_factory
    from hotline.users.service import UserError, get_user, set_password

    sessions = session_factory(_engine(_settings()))
    try:
        with sessions() as session:
            get_user(session, username)
    except UserError as exc:
        raise _user_error(exc) from None
    password = _prompt_password()
    _change(username, lambda s, u: set_password(s, u.id, password))
    click.echo(f"password of {username} changed")


@users.command("set-seat")
@click.argument("username")
@click.argument("seat", required=False)
@click.option("--clear", is_flag=True, help="remove the seat")
def users_set_seat(username, seat, clear) -> None:
    """Bind an agent or supervisor to a phone: SEAT is the queue member interface (PJSIP/agent-1101)."""
    from hotline.users.service import set_seat

    if not seat and not clear:
        raise CliError("give SEAT (e.g. PJSIP/agent-1101) or --clear")
    _change(username, lambda s, u: set_seat(s, u.id, None if clear else seat))
    click.echo(f"seat of {username}: {'(none)' if clear else seat}")


# -- ami ----------------------------------------------------------------------
@main.group()
def ami() -> None:
    """AMI tools."""


@ami.command("replay")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="one JSON object per call")
def ami_replay(file: Path, as_json: bool) -> None:
    """Print the calls the tracker derives from a raw captured AMI stream."""
    from ivr.api import UnsupportedAmi, replay_bytes, snapshot_to_json

    try:
        calls = replay_bytes(file.read_bytes())
    except UnsupportedAmi as exc:
        raise click.ClickException(str(exc)) from None
    for snap in calls:
        obj = snapshot_to_json(snap)
        if as_json:
            click.echo(json.dumps(obj, ensure_ascii=False))
        else:
            path = " > ".join(f"{s['menu']}:{s['kind']}{'=' + s['value'] if s['value'] else ''}"
                              for s in obj.get("ivr_path", []))
            click.echo(f"{obj['call_id']}  {obj.get('caller') or '-'} → {obj.get('dialed') or '-'}  "
                       f"{obj.get('disposition') or 'live'}  cause={obj.get('hangup_cause')}  {path}")
    if not calls:
        click.echo("no calls found in the capture", err=True)


# -- sla ----------------------------------------------------------------------
@main.group()
def sla() -> None:
    """Deadlines and the holiday calendar."""


@sla.command("calendar")
def sla_calendar() -> None:
    """Which years' holiday schedules are official and which are estimated (预计)."""
    from hotline.directory import work_calendar
    from hotline.server import StartupError, load_rules_or_fail

    settings = _settings()
    try:
        calendar = work_calendar(load_rules_or_fail(settings))
    except StartupError as exc:
        raise CliError(str(exc)) from None
    from datetime import datetime

    now = datetime.now(calendar.tz)
    click.echo(calendar.coverage(now).describe())
    warning = calendar.coverage_warning(now)
    if warning:
        click.echo(warning)


@sla.command("recompute")
@click.option("--dry-run", is_flag=True, help="show what would change, write nothing")
def sla_recompute(dry_run: bool) -> None:
    """Recompute provisional (预计) deadlines on the current holiday calendar.

    Run it after upgrading the holidays package or entering a year's official schedule in
    routing_rules.yaml (the scheduler's leader also does it on its first sweep after a start).
    Deadlines that have passed never move; each change is logged on the ticket.
    """
    from datetime import datetime

    from hotline.cases.deadlines import provisional_summary, recompute_provisional
    from hotline.database import session_factory
    from hotline.directory import work_calendar
    from hotline.server import StartupError, load_rules_or_fail

    settings = _settings()
    try:
        calendar = work_calendar(load_rules_or_fail(settings))
    except StartupError as exc:
        raise CliError(str(exc)) from None
    engine = _engine(settings)
    now = datetime.now(calendar.tz)
    with session_factory(engine)() as session:
        results = recompute_provisional(session, calendar, now)
        if dry_run:
            session.rollback()
        else:
            session.commit()
    for r in results:
        if r.why == "moved":
            click.echo(f"{r.ticket_number} {r.stage}: {r.previous_due_at.astimezone(calendar.tz):%Y-%m-%d %H:%M} → "
                       f"{r.due_at.astimezone(calendar.tz):%Y-%m-%d %H:%M}" + ("（仍为预计）" if r.provisional else ""))
    summary = provisional_summary(results)
    click.echo(("dry run, nothing written: " if dry_run else "") + json.dumps(summary, ensure_ascii=False))


# -- serve --------------------------------------------------------------------
@main.command()
@click.option("--host", default=None, help="web bind address (default from settings)")
@click.option("--port", default=None, type=int, help="web port (default from settings)")
def serve(host: str | None, port: int | None) -> None:
    """Run everything in one process: web, telephony (Asterisk or the built-in simulator), scheduler."""
    import uvicorn

    from hotline.server import build_state
    from hotline.web.app import create_app

    settings = _settings()
    for name in ("hotline", "ivr"):
        if logging.getLogger(name).getEffectiveLevel() > logging.INFO:
            logging.getLogger(name).setLevel(logging.INFO)
    try:
        state = build_state(settings)
    except click.ClickException:
        raise
    except Exception as exc:
        raise CliError(str(exc)) from None
    app = create_app(state)
    from hotline.runtime import tune_gc

    tune_gc()  # after start-up: see hotline/runtime.py
    host = host or settings.web_host
    port = port or settings.web_port
    from hotline.runtime import PidFile

    state.services.append(PidFile(settings.ensure_var_dir() / PID_FILE))   # hotline rules reload signals it
    click.echo(f"12319 热线后台: http://{host}:{port}/  (database: {state.engine.url.render_as_string(hide_password=True)}, "
               f"telephony: {state.telephony})")
    from hotline.web.access_log import uvicorn_log_config

    uvicorn.run(app, host=host, port=port, log_level="info", log_config=uvicorn_log_config())


def run() -> None:  # pragma: no cover
    main(prog_name="hotline")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
