"""Append-only rows (timeline events, outbox messages) written in batches.

A sweep, an import or a burst of clicks appends many rows that nothing reads back at once.
Added one by one through the ORM they cost a statement each on SQLite and, on PostgreSQL, a
large multi-row statement the driver parses per page. Here they wait in the session and go in
one executemany per run of rows of a table, in the order they were appended: before any query
the session runs (so the query sees them) and before the transaction commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, event, insert
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker

from storage.models import Base

_KEY = "pending_appends"


def append(session: Session, model: type[Base], row: dict[str, Any]) -> None:
    """Queue one row of `model` for the session's next write (its transaction's, never lost
    on commit); `row` names every column the callers of that table set."""
    session.info.setdefault(_KEY, []).append((model.__table__, row))


def write_pending(session: Session) -> None:
    """Insert the queued rows now, one executemany per run of the same table and columns."""
    pending: list[tuple[Table, dict[str, Any]]] = session.info.pop(_KEY, [])
    if not pending:
        return
    connection = session.connection()
    run: list[dict[str, Any]] = []
    for index, (table, row) in enumerate(pending):
        run.append(row)
        following = pending[index + 1] if index + 1 < len(pending) else None
        if following is None or following[0] is not table or following[1].keys() != row.keys():
            connection.execute(insert(table), run)
            run = []


def discard_pending(session: Session) -> None:
    """Forget queued rows (the transaction rolled back)."""
    session.info.pop(_KEY, None)


def install(factory: sessionmaker[Session]) -> None:
    """Write queued rows before each query of a session and before its commit."""

    @event.listens_for(factory, "do_orm_execute")
    def _before_query(state: ORMExecuteState) -> None:
        write_pending(state.session)

    @event.listens_for(factory, "after_rollback")
    def _rolled_back(session: Session) -> None:
        discard_pending(session)
