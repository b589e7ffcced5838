"""PostgreSQL connections: one left idle is checked before use and silently replaced when the
server dropped it; one in steady use is not checked, and a dropped one fails one statement,
after which the pool is renewed."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from storage.db import make_engine

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"), reason="server connections: PostgreSQL only"
)


def _drop_backend(url: str, pid: int) -> None:
    """What a database restart or a firewall does to a pooled connection."""
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


def _pid(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT pg_backend_pid()")))


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(database_url: str) -> None:
    engine = make_engine(database_url, ping_after=0, pool_size=1, max_overflow=0)
    try:
        dropped = _pid(engine)
        _drop_backend(database_url, dropped)
        assert _pid(engine) != dropped  # checked at checkout, replaced: no error for anyone
    finally:
        engine.dispose()


def test_a_busy_connection_is_not_checked_and_one_statement_fails(database_url: str) -> None:
    engine = make_engine(database_url, ping_after=3600, pool_size=1, max_overflow=0)
    try:
        dropped = _pid(engine)
        _drop_backend(database_url, dropped)
        with pytest.raises(OperationalError) as failed:
            _pid(engine)
        assert failed.value.connection_invalidated
        assert _pid(engine) != dropped  # the pool was renewed: the retry works
    finally:
        engine.dispose()
