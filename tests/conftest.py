"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``HOTLINE_TEST_POSTGRES_URL`` (``.ci/run`` and ``scripts/test``
set it). When the variable is set and the server cannot be reached, the PostgreSQL
tests fail — they are never silently skipped. When it is unset (a quick local run),
they are skipped with a clear reason.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text
from sqlalchemy.engine import make_url

import hotline.models  # noqa: F401
from hotline.database import Base, make_engine, session_factory
from hotline.migrate import upgrade

# Tests are imported by path (--import-mode=importlib), so two test files may share a
# basename; each directory's helper modules (fake servers, fixture loaders) stay
# importable by plain name.
for _sub in sorted(Path(__file__).parent.iterdir()):
    if _sub.is_dir() and not _sub.name.startswith((".", "_")) and str(_sub) not in sys.path:
        sys.path.append(str(_sub))

# Property tests: random locally (they find new cases), the same examples in CI (`.ci/run` sets
# CI=true), so CI never fails at random; failures print the example to add with @example.
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("dev", print_blob=True)
hypothesis_settings.load_profile("ci" if os.environ.get("CI") else "dev")

@pytest.fixture(autouse=True)
def _fresh_log_allowance():
    """Rate-limited loggers (ivr.log_limit) start every test with a fresh allowance: a test that
    checks a warning must not depend on how many earlier tests logged the same line."""
    import logging

    from ivr.log_limit import RepeatLimit

    for logger in list(logging.Logger.manager.loggerDict.values()):
        for f in getattr(logger, "filters", ()):
            if isinstance(f, RepeatLimit):
                f.reset()
    yield


PG_ENV = "HOTLINE_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


def _pg_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite file, copied for every test (fast and isolated)."""
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def _pg_database() -> str:
    """A fresh PostgreSQL database for this test session, migrated once, dropped at the end."""
    admin = _pg_admin_url()
    if not admin:
        pytest.skip(f"{PG_ENV} is not set: PostgreSQL tests skipped (scripts/test and .ci/run set it)")
    name = f"hotline_test_{uuid.uuid4().hex[:10]}"
    admin_engine = make_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the variable is set: a missing server is a failure
        pytest.fail(f"{PG_ENV} is set but PostgreSQL is unreachable: {exc}", pytrace=False)
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin_engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin_engine.dispose()


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path) -> str:
    """URL of an empty, migrated database; parametrised over SQLite and PostgreSQL."""
    if request.param == "sqlite":
        template = request.getfixturevalue("_sqlite_template")
        path = tmp_path / "test.sqlite3"
        shutil.copy(template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("_pg_database")
    yield url
    engine = make_engine(url)
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def db_factory(engine):
    return session_factory(engine)


@pytest.fixture
def db_session(db_factory):
    with db_factory() as session:
        yield session
