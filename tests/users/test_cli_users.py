"""``hotline users …``: every option checked before the password is asked; list, disable,
enable, passwd, set-seat."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from hotline.cli import main
from hotline.config import get_settings
from hotline.database import make_engine, session_factory
from hotline.users.models import User


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("HOTLINE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("HOTLINE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def run(*args, input=None):
    return CliRunner().invoke(main, list(args), input=input)


def users(cli_path):
    engine = make_engine(f"sqlite:///{cli_path / 'var' / 'hotline.sqlite3'}")
    with session_factory(engine)() as s:
        out = {u.username: (u.role, u.active, u.seat) for u in s.scalars(select(User))}
    engine.dispose()
    return out


@pytest.mark.parametrize("args, message", [
    (["--role", "district_officer", "--district", "999999"], "未知区县“999999”"),
    (["--role", "department_officer", "--department", "no-such-dept"], "未知部门“no-such-dept”"),
    (["--role", "district_officer"], "--district"),
    (["--role", "dispatcher", "--seat", "PJSIP/agent-1"], "只有坐席和值班长"),
    (["--role", "agent", "--seat", "agent 1"], "座席格式"),
])
def test_users_add_refuses_bad_options_before_asking_for_the_password(cli, args, message):
    res = run("users", "add", "liuyang", *args, input="")
    assert res.exit_code == 1 and message in res.output
    assert "密码" not in res.output            # never prompted
    assert "liuyang" not in users(cli)


def test_users_lifecycle(cli):
    res = run("users", "add", "liuyang", "--role", "agent", "--name", "刘洋", "--seat", "PJSIP/agent-1201",
              input="long-pass-1\nlong-pass-1\n")
    assert res.exit_code == 0, res.output
    res = run("users", "add", "zhaolei", "--role", "agent", "--seat", "PJSIP/agent-1201")
    assert res.exit_code == 1 and "已绑定给用户 liuyang" in res.output and "密码" not in res.output
    res = run("users", "list")
    assert res.exit_code == 0 and "liuyang\tagent\t刘洋\t-\tPJSIP/agent-1201\tactive" in res.output
    assert run("users", "disable", "liuyang").exit_code == 0
    assert users(cli)["liuyang"][1] is False
    assert "liuyang" not in run("users", "list").output and "disabled" in run("users", "list", "--all").output
    assert run("users", "enable", "liuyang").exit_code == 0
    assert run("users", "set-seat", "liuyang", "PJSIP/agent-1202").exit_code == 0
    assert users(cli)["liuyang"][2] == "PJSIP/agent-1202"
    assert run("users", "set-seat", "liuyang", "--clear").exit_code == 0
    assert users(cli)["liuyang"][2] is None
    res = run("users", "passwd", "liuyang", input="newer-pass-2\nnewer-pass-2\n")
    assert res.exit_code == 0, res.output
    res = run("users", "passwd", "nobody", input="")
    assert res.exit_code == 1 and "不存在" in res.output and "密码" not in res.output
