"""Open the database the way every entry point needs it: reachable, migrated, seeded."""

from __future__ import annotations

import logging

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from hotline.config import Settings
from hotline.database import check_connection, make_engine, session_factory
from hotline.migrate import upgrade

log = logging.getLogger(__name__)


def open_database(settings: Settings, *, migrate: bool = True) -> Engine:
    """Engine for the configured URL; raises ``DatabaseUnavailable`` with one clear line."""
    if not settings.database_url:
        settings.ensure_var_dir()
    engine = make_engine(settings.effective_database_url)
    check_connection(engine)
    if migrate:
        upgrade(engine)
    return engine


def seed_if_empty(engine: Engine) -> str | None:
    """Load the sample data on first start (no categories yet). Returns the report text."""
    from hotline.categories.models import Category
    from hotline.seed import seed_sample

    factory = session_factory(engine)
    with factory() as session:
        if session.scalar(select(func.count()).select_from(Category)):
            return None
    with factory() as session, session.begin():
        report = seed_sample(session)
    return str(report)
