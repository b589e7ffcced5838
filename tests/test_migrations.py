"""Migrations run from empty to head on both databases; the app refuses an un-migrated one."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect

from bot.runtime.app import build_runtime
from bot.runtime.settings import ConfigError
from storage.db import make_engine
from storage.migrate import current_revision, downgrade, head_revision, schema_problem, upgrade
from tests.conftest import make_settings

TABLES = {"customers", "verdicts", "cases", "events", "classifications", "inbound_events", "outbox"}


def test_from_empty_to_head_and_idempotent(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) == head_revision()
        assert set(inspect(engine).get_table_names()) >= TABLES
        upgrade(engine)  # a second run changes nothing
        assert schema_problem(engine) is None
        downgrade(engine, "base")
        assert current_revision(engine) is None
        assert not TABLES & set(inspect(engine).get_table_names())
        upgrade(engine)
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()


def test_app_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    settings = make_settings(tmp_path, url, "http://127.0.0.1:9/api/")
    with pytest.raises(ConfigError, match="run `triage db upgrade` first"):
        build_runtime(settings, check_slack=False)


def test_unreachable_database_is_named(tmp_path: Path) -> None:
    url = "postgresql+psycopg://nobody@127.0.0.1:9/none"
    settings = make_settings(tmp_path, url, "http://127.0.0.1:9/api/")
    with pytest.raises(
        ConfigError, match=r"DATABASE_URL: cannot connect to PostgreSQL at 127\.0\.0\.1:9 "
    ):
        build_runtime(settings, check_slack=False)
