"""The ``hotline`` command line: settings, users, database errors."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from hotline.cli import main
from hotline.config import get_settings
from hotline.database import make_engine, session_factory
from hotline.users.models import User
from hotline.users.service import verify_password


@pytest.fixture
def cli_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for key in ("HOTLINE_DATABASE_URL", "HOTLINE_AMI_SECRET", "HOTLINE_SESSION_SECRET", "HOTLINE_AMI_HOST"):
        monkeypatch.delenv(key, raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def run(*args, input=None, env=None):
    get_settings.cache_clear()
    return CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)


def test_config_show_masks_secrets(cli_env):
    res = run("config", "show", env={
        "HOTLINE_AMI_SECRET": "very-secret-ami",
        "HOTLINE_DATABASE_URL": "postgresql://hot:dbpass123@db.example/hotline",
    })
    assert res.exit_code == 0
    assert "very-secret-ami" not in res.output and "dbpass123" not in res.output
    assert "ami_secret = ********" in res.output
    assert "database_url = postgresql://hot:***@db.example/hotline" in res.output
    assert "telephony_mode = simulator" in res.output


def test_session_secret_is_generated_once_and_kept_private(cli_env):
    s = get_settings()
    first = s.session_secret_value()
    path = cli_env / "var" / "session_secret"
    assert path.read_text() == first and len(first) >= 40
    assert path.stat().st_mode & 0o077 == 0
    get_settings.cache_clear()
    assert get_settings().session_secret_value() == first


def test_bad_setting_is_one_clear_line(cli_env):
    res = run("config", "show", env={"HOTLINE_TIMEZONE": "Mars/Olympus"})
    assert res.exit_code != 0
    assert res.output.startswith("error: invalid settings")


def test_unreachable_database_is_one_line_and_nonzero(cli_env):
    res = run("db", "upgrade", env={"HOTLINE_DATABASE_URL": "postgresql://u:pw@127.0.0.1:1/x"})
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach database") and "pw@" not in lines[0]


def test_db_upgrade_creates_sqlite_under_var(cli_env):
    res = run("db", "upgrade")
    assert res.exit_code == 0, res.output
    assert (cli_env / "var" / "hotline.sqlite3").exists()
    assert "database at revision" in res.output


def test_users_add_prompts_and_hashes_with_argon2(cli_env):
    res = run("users", "add", "zhangmin", "--role", "district_officer", "--district", "150402",
              "--name", "张敏", input="s3cret-pass\ns3cret-pass\n")
    assert res.exit_code == 0, res.output
    engine = make_engine(f"sqlite:///{cli_env / 'var' / 'hotline.sqlite3'}")
    with session_factory(engine)() as s:
        user = s.scalars(select(User)).one()
    assert user.display_name == "张敏" and user.district_code == "150402"
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, "s3cret-pass")
    assert not verify_password(user.password_hash, "wrong-pass")
    # a second user with the same name is refused and nothing changes
    res = run("users", "add", "zhangmin", "--role", "agent", input="another-pass\nanother-pass\n")
    assert res.exit_code == 1 and "already exists" in res.output


def test_users_add_refuses_scoped_role_without_scope(cli_env):
    res = run("users", "add", "li", "--role", "department_officer", input="password1\npassword1\n")
    assert res.exit_code == 1
    assert "needs --department" in res.output


def test_ami_replay_of_an_asterisk_11_capture_is_one_clear_line(cli_env, tmp_path):
    """AMI 1.x (no Linkedid) is refused by the tracker (ADR 0016); the CLI says so without a traceback."""
    capture = tmp_path / "old.ami"
    capture.write_bytes(b"Asterisk Call Manager/1.3\r\nEvent: Newchannel\r\nChannel: SIP/201-00000001\r\n"
                        b"Uniqueid: 1390000000.1\r\nCallerIDNum: 201\r\n\r\n")
    result = run("ami", "replay", str(capture))
    assert result.exit_code == 1
    assert "Error:" in result.output and "1.3" in result.output and "Traceback" not in result.output
