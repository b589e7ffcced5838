"""Engine and sessions: SQLite (WAL, foreign keys) by default, PostgreSQL through DATABASE_URL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; on SQLite, turn on WAL, foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1] if "///" in url else ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            hide_parameters=True,  # errors must not carry verbatims into the logs
            **kwargs,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # hide_parameters: an error's message must not carry a verbatim into the logs; the connect
    # timeout makes an unreachable database an error in seconds (readiness, Slack's acks).
    kwargs.setdefault("connect_args", {"connect_timeout": 5})
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects readable after commit, and write the daily verdict
    counts noted during the transaction just before it commits."""
    from storage.queries import flush_count_deltas

    factory = sessionmaker(engine, expire_on_commit=False)

    @event.listens_for(factory, "before_commit")
    def _counts(session: Session) -> None:
        flush_count_deltas(session)

    return factory


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error.

    On SQLite the transaction takes the write lock at once (BEGIN IMMEDIATE): SQLite renders no
    SELECT ... FOR UPDATE, and the driver would otherwise start the transaction only at the first
    write, after the reads that decided it, so two clicks could both see a case unclaimed.
    """
    with factory() as session, session.begin():
        if session.get_bind().dialect.name == "sqlite":
            session.execute(text("BEGIN IMMEDIATE"))
        yield session
