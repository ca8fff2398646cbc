"""CLI commands over the shipped data: rules check, seed, route."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from hotline.cli import main
from hotline.config import PROJECT_ROOT, get_settings


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HOTLINE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def run(*args):
    get_settings.cache_clear()
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_rules_check_passes_on_the_shipped_file(env):
    res = run("rules", "check", str(PROJECT_ROOT / "routing_rules.yaml"))
    assert res.exit_code == 0 and res.output.strip().endswith(": ok")


def test_rules_check_reports_line_and_field_of_each_problem(env):
    broken = env / "rules.yaml"
    text = (PROJECT_ROOT / "routing_rules.yaml").read_text(encoding="utf-8")
    text = text.replace('line: "0476-8312319", ', "", 1)  # 红山区 loses its receiving line
    broken.write_text(text, encoding="utf-8")
    res = run("rules", "check", str(broken))
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    line_no = next(i for i, l in enumerate(text.splitlines(), 1) if "红山区" in l and "code:" in l)
    assert any(l.startswith(f"{broken}:{line_no}:") and "districts[0]" in l and "line" in l for l in lines), lines
    assert lines[-1].startswith("error:") and "rules not loaded" in lines[-1]


def test_rules_check_malformed_yaml_and_missing_file(env):
    bad = env / "bad.yaml"
    bad.write_text("version: 1\ndistricts: [\n", encoding="utf-8")
    res = run("rules", "check", str(bad))
    assert res.exit_code == 1 and f"{bad}:" in res.output
    res = run("rules", "check", str(env / "nope.yaml"))
    assert res.exit_code == 1 and "no such file" in res.output


def test_seed_twice_changes_nothing_the_second_time(env):
    first = run("seed", "--sample")
    assert first.exit_code == 0, first.output
    assert "新增 427" in first.output and "新增 276" in first.output
    second = run("seed", "--sample")
    assert second.exit_code == 0 and "0 个变更" in second.output and "部门: 新增 0, 更新 0" in second.output


def test_route_prints_decision_with_explanation(env):
    assert run("seed", "--sample").exit_code == 0
    res = run("route", "--category", "06010", "--address", "永巨街道")
    assert res.exit_code == 0, res.output
    decision = json.loads(res.output)
    assert decision["street"]["name"] == "永巨街道" and decision["district"]["code"] == "150402"
    assert decision["lead"] == "territory" and decision["explanation"]
    bad = run("route", "--category", "99999")
    assert bad.exit_code == 1 and bad.output.startswith("error:")
    half = run("route", "--category", "06010", "--lat", "42.2")
    assert half.exit_code == 1 and "--lat and --lon" in half.output


def test_dialplan_render_and_prompts_build(env):
    out = env / "dialplan"
    res = run("dialplan", "render", "--out", str(out), "--agi-host", "10.0.0.5", "--agi-port", "4574")
    assert res.exit_code == 0, res.output
    ext = (out / "extensions.conf").read_text(encoding="utf-8")
    assert "agi://10.0.0.5:4574/business_hours" in ext and "[hl12319-entry]" in ext
    assert (out / "queues.conf").exists() and (out / "manager.conf.example").exists()
    bad = env / "bad.yaml"
    bad.write_text("version: 2\n", encoding="utf-8")
    res = run("dialplan", "render", "--out", str(out), "--rules", str(bad))
    assert res.exit_code == 1 and res.output.startswith("error: routing rules invalid")


def test_prompts_build_writes_telephone_audio(env):
    import wave

    if shutil.which("espeak-ng") is None or shutil.which("sox") is None:
        pytest.skip("espeak-ng/sox not installed (scripts/test installs them)")
    out = env / "prompts"
    res = run("prompts", "build", "--out", str(out))
    assert res.exit_code == 0, res.output
    wavs = sorted(out.glob("*.wav"))
    assert wavs and f"{len(wavs)} prompt file(s)" in res.output
    with wave.open(str(wavs[0])) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2) and w.getnframes() > 800


def test_sla_calendar_and_recompute(env):
    """``hotline sla calendar`` names the official years; ``hotline sla recompute`` moves a
    provisional deadline that the current calendar computes differently, logs it on the ticket,
    and ``--dry-run`` writes nothing."""
    from datetime import datetime, timedelta

    from sqlalchemy import select

    from hotline.cases.models import Ticket, TicketDeadline, TicketEvent
    from hotline.database import make_engine, session_factory
    from hotline.directory import work_calendar
    from hotline.rules.loader import load_rules
    from hotline.sla import Stage, compute_deadline, official_package_years

    res = run("sla", "calendar")
    assert res.exit_code == 0, res.output
    assert f"正式安排年份 2001–{max(official_package_years())}" in res.output

    assert run("db", "upgrade").exit_code == 0
    settings = get_settings()
    calendar = work_calendar(load_rules(settings.rules_file))
    start = datetime.now(calendar.tz) - timedelta(hours=1)
    expected = compute_deadline(start, Stage("处置", 5, "working_days"), calendar)
    engine = make_engine(settings.effective_database_url)
    with session_factory(engine)() as s, s.begin():
        t = Ticket(number="12319-20261207-00001", state="in_progress", description="路灯不亮", created_at=start)
        s.add(t)
        s.flush()
        s.add(TicketEvent(ticket_id=t.id, seq=1, at=start, action="create", to_state="received"))
        # as computed on an estimate with one more rest day than the current calendar
        s.add(TicketDeadline(ticket_id=t.id, stage="处置", amount=5, unit="working_days", started_at=start,
                             due_at=expected + timedelta(days=1), provisional=True))

    dry = run("sla", "recompute", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "12319-20261207-00001 处置" in dry.output and '"moved": 1' in dry.output and "nothing written" in dry.output
    with session_factory(engine)() as s:
        assert s.scalar(select(TicketDeadline.due_at)) == expected + timedelta(days=1)
    res = run("sla", "recompute")
    assert res.exit_code == 0 and '"moved": 1' in res.output
    with session_factory(engine)() as s:
        row = s.scalar(select(TicketDeadline))
        assert row.due_at == expected and row.provisional is calendar.depends_on_estimate(start, expected)
        assert s.scalar(select(TicketEvent.action).order_by(TicketEvent.seq.desc())) == "deadline_recomputed"
    again = run("sla", "recompute")              # nothing left to move
    assert again.exit_code == 0 and '"moved"' not in again.output
    engine.dispose()
