"""Bulk writes: ids allocated up front, complete rows inserted in one statement each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    func,
    insert,
    select,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from storage import appends
from storage.models import (
    Base,
    CaseSchedule,
    Classification,
    CustomerRef,
    OutboxMessage,
)


def allocate_ids(session: Session, model: type[Base], count: int) -> list[int]:
    """`count` new primary keys for `model`, ascending. A batch of new rows with their ids set
    goes in one executemany; the ORM inserts rows whose ids it must learn one statement each
    on SQLite. PostgreSQL takes them from the id's sequence; SQLite after the highest id,
    which no other writer can take meanwhile: transaction() holds the database's write lock."""
    if count <= 0:
        return []
    table = model.__table__
    if session.get_bind().dialect.name == "postgresql":
        sequence = func.pg_get_serial_sequence(model.__tablename__, "id")
        series = func.generate_series(1, count).table_valued("n")
        return sorted(session.scalars(select(func.nextval(sequence)).select_from(series)))
    highest = session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0
    return list(range(highest + 1, highest + count + 1))


def insert_new(session: Session, objects: Sequence[Base]) -> None:
    """Insert new objects, their ids set, one executemany per model in the order given, at once
    and outside the unit of work (bulk intake's customers, cases and verdicts: the unit of work
    costs more than the rows). Unset attributes take their column's default. The objects stay
    out of the session: change them before this call, not after."""
    rows: dict[type[Base], list[dict[str, Any]]] = {}
    for obj in objects:
        rows.setdefault(type(obj), []).append(obj.__dict__)
    connection = session.connection()  # not session.execute: queued appends may refer to these
    for model, states in rows.items():
        columns = [(attr.key, attr.columns[0]) for attr in sa_inspect(model).column_attrs]
        values = []
        for state in states:
            row: dict[str, Any] = {}
            for key, column in columns:
                value = state.get(key)
                if value is None and column.default is not None:
                    if not column.default.is_scalar:
                        raise TypeError(
                            f"insert_new: set {model.__name__}.{key} (no plain default)"
                        )
                    value = column.default.arg
                row[column.key] = value
            values.append(row)
        connection.execute(insert(model), values)


def add_outbox(session: Session, row: dict[str, Any]) -> None:
    """Queue one Slack write (kind, case_id, channel, thread_ts, payload, next_attempt_at,
    created_at); written with the session's next query or commit, in the order queued."""
    appends.append(session, OutboxMessage, row)


def add_classification(session: Session, row: dict[str, Any]) -> None:
    """Record one classifier result (every column of `classifications` but its id)."""
    appends.append(session, Classification, row)


def add_schedule_item(session: Session, row: dict[str, Any]) -> None:
    """Add one pending reminder, escalation or deadline of a case."""
    appends.append(session, CaseSchedule, row)


def add_customer_refs(session: Session, rows: list[dict[str, Any]]) -> None:
    """Record references of customers known to be new (no other customer has them)."""
    for row in rows:
        appends.append(session, CustomerRef, row)
