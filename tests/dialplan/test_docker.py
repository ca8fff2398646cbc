"""docker/: what can be checked without Docker (compose file, Dockerfile, Asterisk snippets)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hotline.ivrconfig import render_dialplan_from_rules_file as render_from_rules_file

from .conftest import ROOT, RULES_FILE
from .test_dialplan import lint

DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "compose.yaml"
_REF = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)(?::?[-?][^}]*)?\}")
_SECRET_KEY = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|API_KEY")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: str(v) for k, v in env.items()}


def test_compose_parses_with_the_three_services(compose):
    services = compose["services"]
    assert {"asterisk", "app", "postgres"} <= set(services)
    assert re.search(r"asterisk:20\b", services["asterisk"]["image"])
    assert services["postgres"]["image"] == "postgres:15"
    assert services["app"]["build"]["dockerfile"] == "docker/app.Dockerfile"
    assert services["app"]["command"] == ["hotline", "serve"]
    assert _env(services["app"])["HOTLINE_AMI_HOST"] == "asterisk"
    # Asterisk needs the rendered dialplan and prompts before it starts
    assert services["asterisk"]["depends_on"]["configure"]["condition"] == "service_completed_successfully"


def test_every_bind_mount_and_build_path_exists(compose):
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for vol in service.get("volumes", []):
            source = vol.split(":")[0]
            if source.startswith((".", "/")):
                assert (DOCKER / source).resolve().exists(), f"{name}: {source} does not exist"
                assert (DOCKER / source).resolve().is_relative_to(ROOT), f"{name}: {source} is outside the repo"
            else:
                assert source in declared, f"{name}: named volume {source} is not declared"
        build = service.get("build")
        if build:
            context = (DOCKER / build["context"]).resolve()
            assert context == ROOT
            assert (context / build["dockerfile"]).is_file()
        entry = service.get("entrypoint")
        if entry and name == "asterisk":
            script = entry[-1]
            mount = next(v for v in service["volumes"] if v.split(":")[1] == "/hotline")
            assert (DOCKER / mount.split(":")[0] / Path(script).name).is_file()


def test_every_copied_path_exists():
    text = (DOCKER / "app.Dockerfile").read_text(encoding="utf-8")
    copies = re.findall(r"^COPY\s+(?!--from)(.+)$", text, re.M)
    assert copies
    for line in copies:
        *sources, _dest = line.split()
        for src in sources:
            assert (ROOT / src).exists(), f"COPY {src}: not in the repository"
    ignored = (DOCKER / "app.Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    for line in copies:
        for src in line.split()[:-1]:
            assert src.rstrip("/") not in ignored


def test_no_secrets_inline(compose):
    for name, service in compose["services"].items():
        for key, value in _env(service).items():
            if _SECRET_KEY.search(key):
                # required (${X:?why}) or optional with an empty default (${X:-}); never a literal
                assert re.fullmatch(r"\$\{[A-Z_]+(:\?[^}]+|:-)\}", value), f"{name}.{key} must come from the environment"
        url = _env(service).get("HOTLINE_DATABASE_URL")
        if url:
            assert "${POSTGRES_PASSWORD:?" in url
    for path in DOCKER.rglob("*"):
        if path.is_file() and path.name != ".env":
            text = path.read_text(encoding="utf-8")
            assert "hotline-secret" not in text, path
            for m in re.finditer(r"^\s*(secret|password)\s*=\s*(.*)$", text, re.M | re.I):
                assert m.group(2).startswith("${"), f"{path}: {m.group(0)!r}"
            for m in re.finditer(r"^([A-Z_]*(?:SECRET|PASSWORD)[A-Z_]*)=(.*)$", text, re.M):
                assert m.group(2) == "" or m.group(2).startswith("${"), f"{path}: {m.group(1)} has a value"


def test_env_vars_are_documented_and_known(compose):
    referenced = set(_REF.findall(COMPOSE.read_text(encoding="utf-8")))
    example = {line.split("=", 1)[0] for line in (DOCKER / ".env.example").read_text(encoding="utf-8").splitlines()
               if line and not line.startswith("#")}
    readme = (DOCKER / "README.md").read_text(encoding="utf-8")
    assert referenced <= example, referenced - example
    for var in referenced:
        assert var in readme, f"{var} is not explained in docker/README.md"
    # HOTLINE_* given to the app are real settings of hotline.config.Settings
    from hotline.config import Settings

    fields = {f"HOTLINE_{f.upper()}" for f in Settings.model_fields}
    app_vars = set(_env(compose["services"]["app"]))
    assert {v for v in app_vars if v.startswith("HOTLINE_")} <= fields
    # the Asterisk templates only use variables the asterisk service receives
    asterisk_env = set(_env(compose["services"]["asterisk"]))
    for tmpl in (DOCKER / "asterisk").glob("*.in"):
        used = set(re.findall(r"\$\{([A-Z_]+)\}", tmpl.read_text(encoding="utf-8")))
        assert used and used <= asterisk_env, (tmpl.name, used - asterisk_env)


def test_trunk_endpoint_matches_the_rules(compose, shipped_rules):
    default = re.search(r":-([^}]+)\}", _env(compose["services"]["asterisk"])["SIP_TRUNK_NAME"]).group(1)
    assert {d.trunk for d in shipped_rules.districts} == {default}


@pytest.mark.skipif(shutil.which("sh") is None or shutil.which("sed") is None, reason="needs sh and sed")
def test_render_config_fills_placeholders(tmp_path):
    env = dict(os.environ, HOTLINE_AMI_SECRET="s3&cr|et/\\x", HOTLINE_NET="172.31.123.0/24",
               SIP_TRUNK_NAME="district-trunk", SIP_TRUNK_HOST="sip.example.net", SIP_TRUNK_PORT="5060",
               SIP_TRUNK_MATCH="203.0.113.0/24", SIP_PUBLIC_ADDRESS="198.51.100.7", SIP_LOCAL_NET="10.0.0.0/8",
               SIP_TRUNK_USER="", SIP_TRUNK_PASSWORD="")
    script = DOCKER / "asterisk" / "render-config.sh"
    subprocess.run(["sh", str(script), str(DOCKER / "asterisk"), str(tmp_path / "ip")], env=env, check=True)
    manager = (tmp_path / "ip" / "manager.conf").read_text()
    assert "secret = s3&cr|et/\\x" in manager and "permit = 172.31.123.0/24" in manager
    pjsip = (tmp_path / "ip" / "pjsip.conf").read_text()
    trunk = pjsip.split("; Agent phones.")[0]      # the agent templates authenticate, the IP trunk does not
    assert "${" not in pjsip and "auth" not in trunk.replace("force_rport", "")
    assert "[district-trunk]" in pjsip and "match = 203.0.113.0/24" in pjsip
    # defaults of the optional variables: SIP on 5060, RTP 10000-10099, a vanished caller ends after 60 s
    assert "bind = 0.0.0.0:5060" in pjsip and "rtp_timeout = 60" in trunk and "rtp_timeout_hold = 600" in trunk
    assert "rtpstart = 10000" in (tmp_path / "ip" / "rtp.conf").read_text()
    assert "port = 5038" in manager
    assert "[agent-" not in (tmp_path / "ip" / "pjsip_seats.conf").read_text().replace("[agent-endpoint]", "")
    env.update(SIP_TRUNK_USER="cf12319", SIP_TRUNK_PASSWORD="pw")
    subprocess.run(["sh", str(script), str(DOCKER / "asterisk"), str(tmp_path / "reg")], env=env, check=True)
    pjsip = (tmp_path / "reg" / "pjsip.conf").read_text()
    assert "username = cf12319" in pjsip and "type = registration" in pjsip and "${" not in pjsip
    # agent seats: one endpoint, aor and auth per NUMBER:PASSWORD, from the templates
    env.update(HOTLINE_AGENT_SEATS="1101:pw-1101-long, 1102:pw-1102-long", SIP_RTP_TIMEOUT="30")
    subprocess.run(["sh", str(script), str(DOCKER / "asterisk"), str(tmp_path / "seats")], env=env, check=True)
    seats = (tmp_path / "seats" / "pjsip_seats.conf").read_text()
    assert "[agent-1101](agent-endpoint)\nauth = agent-1101\naors = agent-1101" in seats
    assert "[agent-1102](agent-auth)\nusername = agent-1102\npassword = pw-1102-long" in seats
    assert "#include pjsip_seats.conf" in (tmp_path / "seats" / "pjsip.conf").read_text()
    assert "rtp_timeout = 30" in (tmp_path / "seats" / "pjsip.conf").read_text()
    for bad in ("1101", "1101:short", "abc:long-enough-pw"):
        proc = subprocess.run(["sh", str(script), str(DOCKER / "asterisk"), str(tmp_path / "bad")],
                              env=dict(env, HOTLINE_AGENT_SEATS=bad), capture_output=True, text=True)
        assert proc.returncode != 0 and "seat" in proc.stderr, bad
    env["HOTLINE_AGENT_SEATS"] = ""
    # a missing variable stops the container instead of starting with a blank secret
    del env["HOTLINE_AMI_SECRET"]
    proc = subprocess.run(["sh", str(script), str(DOCKER / "asterisk"), str(tmp_path / "x")], env=env,
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "HOTLINE_AMI_SECRET" in proc.stderr


def test_configure_script_and_host_dialplan_pass_asterisklint(tmp_path):
    """configure.py renders into the folder the host extensions.conf #includes; lint the whole."""
    etc = tmp_path / "etc"
    etc.mkdir()
    shutil.copy(DOCKER / "asterisk" / "extensions.conf", etc / "extensions.conf")
    subprocess.run([sys.executable, str(DOCKER / "configure.py"), "--rules", str(RULES_FILE),
                    "--dialplan-out", str(etc / "hl12319"), "--prompts-out", str(tmp_path / "p"),
                    "--agi-host", "app", "--no-prompts"], check=True, cwd=ROOT, capture_output=True)
    rendered = (etc / "hl12319" / "extensions.conf").read_text(encoding="utf-8")
    assert "AGI(agi://app:4573/business_hours)" in rendered
    assert "#include hl12319/extensions.conf" in (etc / "extensions.conf").read_text(encoding="utf-8")
    assert lint(etc / "extensions.conf") == []  # complete file: no whitelist needed


def test_configure_reports_bad_rules(tmp_path):
    bad = tmp_path / "rules.yaml"
    bad.write_text(RULES_FILE.read_text(encoding="utf-8").replace("entry: main", "entry: nowhere"), encoding="utf-8")
    proc = subprocess.run([sys.executable, str(DOCKER / "configure.py"), "--rules", str(bad),
                           "--dialplan-out", str(tmp_path / "d"), "--prompts-out", str(tmp_path / "p"),
                           "--no-prompts"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1 and "nowhere" in proc.stderr
    assert not (tmp_path / "d" / "extensions.conf").exists()


def test_host_dialplan_routes_the_trunk_to_the_ivr():
    text = (DOCKER / "asterisk" / "extensions.conf").read_text(encoding="utf-8")
    pjsip = (DOCKER / "asterisk" / "pjsip.conf.in").read_text(encoding="utf-8")
    assert re.search(r"^context = from-trunk$", pjsip, re.M) and "[from-trunk]" in text
    assert "Goto(hl12319-entry,s,1)" in text
    assert render_from_rules_file  # the renderer the configure service uses
