"""The per-process cache in front of the session → user look-up (hotline.web.user_cache):
changes to users and login sessions take effect on the next request, whichever way this process
writes them."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from hotline.config import Settings
from hotline.database import make_engine, session_factory
from hotline.users.models import User, UserSession
from hotline.users.roles import Role
from hotline.users.service import create_user
from hotline.web.app import AppState, create_app
from hotline.web.security import CurrentUser, require_roles
from hotline.web.user_cache import UserCache, user_cache


@pytest.fixture
def env(db_url, tmp_path):
    engine = make_engine(db_url)
    factory = session_factory(engine)
    with factory() as s, s.begin():
        create_user(s, username="agent1", password="agent-pass-1", role="agent", display_name="王芳")
    state = AppState(settings=Settings(var_dir=tmp_path, session_secret="x" * 40), engine=engine,
                     sessions=factory, rules=object())
    probe = APIRouter()

    @probe.get("/api/agents-only")
    def agents_only(_user: CurrentUser = Depends(require_roles(Role.AGENT))) -> dict:
        return {"ok": True}

    state.extra_routers.append(probe)
    with TestClient(create_app(state), base_url="http://testserver") as c:
        assert c.post("/api/session", json={"username": "agent1", "password": "agent-pass-1"}).status_code == 200
        yield c, engine, factory
    engine.dispose()


def test_repeated_requests_are_served_from_the_cache(env):
    client, engine, factory = env
    assert client.get("/api/me").json()["role"] == "agent"
    with factory() as s:
        uid = s.scalar(select(User.id).where(User.username == "agent1"))
        sid = s.scalar(select(UserSession.id).where(UserSession.user_id == uid))
    assert user_cache(engine).get((uid, sid)).username == "agent1"      # keyed by the login session
    statements = []

    def count(*_args):
        statements.append(1)

    from sqlalchemy import event

    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(3):
            assert client.get("/api/me").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert statements == []


def test_disabling_a_user_through_the_orm_takes_effect_on_the_next_request(env):
    client, engine, factory = env
    assert client.get("/api/me").status_code == 200
    with factory() as s, s.begin():
        s.scalar(select(User).where(User.username == "agent1")).active = False
    assert client.get("/api/me").status_code == 401
    with factory() as s, s.begin():
        s.scalar(select(User).where(User.username == "agent1")).active = True
    assert client.get("/api/me").status_code == 200


def test_a_role_change_by_bulk_update_takes_effect_on_the_next_request(env):
    client, engine, factory = env
    assert client.get("/api/me").json()["role"] == "agent"
    with factory() as s, s.begin():
        s.execute(update(User).where(User.username == "agent1").values(role="supervisor"))
    me = client.get("/api/me").json()
    assert me["role"] == "supervisor" and me["role_label"] == "值班长"
    assert client.get("/api/agents-only").status_code == 403        # role checks follow at once


def test_role_checks_use_the_current_role(env):
    client, engine, factory = env
    assert client.get("/api/agents-only").status_code == 200
    with factory() as s, s.begin():
        s.scalar(select(User).where(User.username == "agent1")).role = "supervisor"
    assert client.get("/api/agents-only").status_code == 403


def test_textual_sql_on_the_users_table_invalidates_too(env):
    client, engine, _ = env
    assert client.get("/api/me").status_code == 200
    with engine.begin() as conn:
        conn.execute(text("update users set display_name = '李四' where username = 'agent1'"))
    assert client.get("/api/me").json()["display_name"] == "李四"
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM users WHERE username = 'agent1'")
    assert client.get("/api/me").status_code == 401


def test_writes_to_other_tables_keep_the_cache():
    engine = make_engine("sqlite://")
    cache = user_cache(engine)
    generation = cache.generation
    cache.put(1, "someone", generation)
    with engine.begin() as conn:
        conn.exec_driver_sql("create table users_archive (id integer)")
        conn.exec_driver_sql("insert into users_archive values (1)")
    assert cache.get(1) == "someone"
    with engine.begin() as conn:
        conn.exec_driver_sql("create table users (id integer)")
        conn.exec_driver_sql("insert into users values (1)")
    assert cache.get(1) is None
    engine.dispose()


def test_a_read_that_overlaps_an_invalidation_is_not_stored():
    cache = UserCache()
    generation = cache.generation        # a reader starts its look-up
    cache.invalidate()                   # a writer changes users meanwhile
    cache.put(7, "stale", generation)    # what the reader saw must not be kept
    assert cache.get(7) is None
    cache.put(7, "fresh", cache.generation)
    assert cache.get(7) == "fresh"


def test_entries_expire_after_the_ttl():
    now = [100.0]
    cache = UserCache(ttl=1.0, clock=lambda: now[0])
    cache.put(1, "u", cache.generation)
    now[0] += 0.5
    assert cache.get(1) == "u"
    now[0] += 0.6                        # changes made by other processes are seen after the TTL
    assert cache.get(1) is None


def test_option_engines_share_their_parents_cache():
    engine = make_engine("sqlite://")
    assert user_cache(engine.execution_options(isolation_level="AUTOCOMMIT")) is user_cache(engine)
    other = make_engine("sqlite://")
    assert user_cache(other) is not user_cache(engine)     # user ids are per database
    engine.dispose()
    other.dispose()


def test_ending_the_login_session_takes_effect_on_the_next_request(env):
    client, engine, factory = env
    assert client.get("/api/me").status_code == 200
    with engine.begin() as conn:
        conn.execute(text("update user_sessions set ended_at = created_at, end_reason = 'logout'"))
    assert client.get("/api/me").status_code == 401
