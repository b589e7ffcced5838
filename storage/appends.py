"""Append-only rows (timeline events, outbox messages) written in batches.

A sweep, an import or a burst of clicks appends many rows that nothing reads back at once.
Added one by one through the ORM they cost a statement each on SQLite and, on PostgreSQL, a
large multi-row statement the driver parses per page. Here they wait in the session and go in
one executemany per table, in the order they were appended within each table: before any query
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
    """Insert the queued rows now: table by table (no appended table refers to another), in
    the order queued within a table, one executemany per run of rows with the same columns."""
    pending: list[tuple[Table, dict[str, Any]]] = session.info.pop(_KEY, [])
    if not pending:
        return
    by_table: dict[Table, list[dict[str, Any]]] = {}
    for table, row in pending:
        by_table.setdefault(table, []).append(row)
    connection = session.connection()
    for table, rows in by_table.items():
        start = 0
        for index in range(1, len(rows) + 1):
            if index == len(rows) or rows[index].keys() != rows[start].keys():
                connection.execute(insert(table), rows[start:index])
                start = index


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
