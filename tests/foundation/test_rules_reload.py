"""Rules reload without a restart (issue 14 §2): validate, re-render the dialplan, have the PBX
reload it, swap the app's rules; an invalid file keeps the rules in force and says why."""

from __future__ import annotations

import shutil
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from hotline.config import PROJECT_ROOT, Settings
from hotline.server import build_state
from hotline.web.app import create_app
from tests.e2e.serve_support import running_serve

OLD_LINE, NEW_LINE = 'line: "0476-8312319"', 'line: "0476-8312399"'


@pytest.fixture
def rules_file(tmp_path):
    path = tmp_path / "rules.yaml"
    shutil.copy(PROJECT_ROOT / "routing_rules.yaml", path)
    assert OLD_LINE in path.read_text(encoding="utf-8")
    return path


def test_a_valid_change_is_applied_everywhere_and_an_invalid_one_keeps_the_rules(tmp_path, rules_file):
    state = build_state(Settings(var_dir=tmp_path / "var", rules_file=rules_file, demo_call_rate=0,
                                 session_secret="r" * 40))
    with TestClient(create_app(state)) as client:
        telephony = state.telephony_service()
        before = client.get("/readyz").json()["checks"]["rules"]
        old_rules, old_router = state.rules, state.ticket_router
        assert "04768312319" in (telephony.dialplan_dir / "extensions.conf").read_text()

        text = rules_file.read_text(encoding="utf-8").replace(OLD_LINE, NEW_LINE)
        rules_file.write_text(text.replace("name: 红山区, ", "name: 红山区城区, ", 1), encoding="utf-8")
        result = client.portal.call(state.reloader.reload)
        assert result.ok, result.problems
        assert "simulator: dialplan reloaded" in result.pbx
        assert state.rules is not old_rules and state.ticket_router is not old_router
        assert state.rules.district("150402").line == "0476-8312399"
        assert state.names.unit("150402") == "红山区城区"                 # pages show the new name
        assert telephony.flow.district("150402").number == "04768312399"
        assert telephony.directory.rules is state.rules                     # the IVR answers from them
        assert "04768312399" in (telephony.dialplan_dir / "extensions.conf").read_text()
        assert "04768312399" in "".join(str(s.args) for ctx in telephony.simulator.dialplan.contexts.values()
                                        for e in ctx.extensions.values() for s in e.steps)
        readyz = client.get("/readyz").json()
        assert readyz["checks"]["rules"] != before and readyz["checks"]["rules_reload"].startswith("rules ")

        rules_file.write_text(text.replace("districts:", "districtz:", 1), encoding="utf-8")
        bad = client.portal.call(state.reloader.reload)
        assert not bad.ok and any("district" in p for p in bad.problems)
        assert state.rules.district("150402").line == "0476-8312399"         # still the last good rules
        readyz = client.get("/readyz").json()
        assert readyz["status"] == "ready" and "not applied" in readyz["checks"]["rules_reload"]
    state.close()


@pytest.mark.slow
def test_hotline_rules_reload_signals_the_running_server(tmp_path, rules_file):
    import subprocess
    import sys

    from tests.e2e.serve_support import ROOT

    var = tmp_path / "var"
    var.mkdir()
    env = {"HOTLINE_RULES_FILE": str(rules_file)}
    with running_serve(var, **env) as serve:
        before = httpx.get(serve.base + "/readyz").json()["checks"]["rules"]
        rules_file.write_text(rules_file.read_text(encoding="utf-8").replace(OLD_LINE, NEW_LINE), encoding="utf-8")
        import os

        cli_env = dict(os.environ, HOTLINE_VAR_DIR=str(var), HOTLINE_RULES_FILE=str(rules_file))
        out = subprocess.run([sys.executable, "-m", "hotline.cli", "rules", "reload"], cwd=ROOT, env=cli_env,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert "reload requested" in out.stdout
        for _ in range(100):
            checks = httpx.get(serve.base + "/readyz").json()["checks"]
            if checks["rules"] != before:
                break
            time.sleep(0.1)
        assert checks["rules"] != before and checks["rules_reload"].startswith("rules ")
        serve.stop()
    assert not (var / "hotline.pid").exists()
