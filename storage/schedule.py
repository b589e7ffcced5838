"""The case schedule: reminders, escalations, final warnings, deadlines, claimed per row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Session

from storage.models import (
    Case,
    CaseSchedule,
    ContactAttempt,
    Event,
)


@dataclass(frozen=True)
class DueItem:
    """A schedule row as a sweep holds it: what is due, for which case."""

    id: int
    case_id: int
    kind: str
    key: str
    due_at: datetime
    data: dict[str, Any]


_DUE_COLUMNS = (
    CaseSchedule.id,
    CaseSchedule.case_id,
    CaseSchedule.kind,
    CaseSchedule.key,
    CaseSchedule.due_at,
    CaseSchedule.data,
)


def _due(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Pending, due, and nobody holds a live lease (a crashed claimer's lease runs out)."""
    return (
        CaseSchedule.status == "pending",
        CaseSchedule.due_at <= now,
        or_(CaseSchedule.lease_until.is_(None), CaseSchedule.lease_until < now),
    )


def schedule_of_case(session: Session, case_id: int) -> list[CaseSchedule]:
    """Every schedule row of a case (pending, sent and cancelled), oldest first."""
    query = select(CaseSchedule).where(CaseSchedule.case_id == case_id).order_by(CaseSchedule.id)
    return list(session.scalars(query))


def last_touch(session: Session, case_id: int) -> datetime | None:
    """When a person last did something on a case (claim, contact, note...), from its timeline."""
    query = select(func.max(Event.created_at)).where(
        Event.case_id == case_id, Event.actor != "system"
    )
    return session.scalar(query)


def contact_counts(session: Session, case_ids: set[int]) -> dict[int, tuple[int, int]]:
    """Case id -> (contact attempts, attempts that reached the customer); absent: none."""
    if not case_ids:
        return {}
    reached = func.sum(sql_case((ContactAttempt.outcome == "reached", 1), else_=0))
    query = (
        select(ContactAttempt.case_id, func.count(), reached)
        .where(ContactAttempt.case_id.in_(case_ids))
        .group_by(ContactAttempt.case_id)
    )
    return {case_id: (int(n), int(r or 0)) for case_id, n, r in session.execute(query)}


def due_schedule_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """The due rows nobody holds, earliest first: the sweep's query, on (status, due_at)."""
    query = (
        select(CaseSchedule.id)
        .where(*_due(now))
        .order_by(CaseSchedule.due_at, CaseSchedule.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def _lease(
    session: Session, ids: list[int], now: datetime, until: datetime, owner: str
) -> list[DueItem]:
    # Conditional: only rows still pending with no live lease are taken; RETURNING says which,
    # which is the row count check done for the whole batch at once.
    statement = (
        update(CaseSchedule)
        .where(CaseSchedule.id.in_(ids), *_due(now))
        .values(lease_until=until, lease_owner=owner, attempts=CaseSchedule.attempts + 1)
        .returning(*_DUE_COLUMNS)
    )
    rows = session.execute(statement, execution_options={"synchronize_session": False})
    return [DueItem(*row) for row in rows]


def claim_due_schedule(
    session: Session, now: datetime, until: datetime, owner: str, limit: int
) -> list[DueItem]:
    """Lease up to `limit` due rows to `owner`, plus the other due rows of the same cases.

    On PostgreSQL the rows are picked FOR UPDATE SKIP LOCKED, so concurrent sweeps split the
    work without waiting on each other; on both databases the conditional UPDATE decides, so two
    sweeps never hold one row. Taking a case's other due rows lets missed items collapse.
    """
    picked = (
        select(CaseSchedule.id)
        .where(*_due(now))
        .order_by(CaseSchedule.due_at, CaseSchedule.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(session.scalars(picked))
    if not ids:
        return []
    claimed = _lease(session, ids, now, until, owner)
    case_ids = {item.case_id for item in claimed}
    if len(ids) < limit or not case_ids:
        return claimed  # every free due row was picked: no sibling left behind
    siblings = (
        select(CaseSchedule.id)
        .where(CaseSchedule.case_id.in_(case_ids), CaseSchedule.id.not_in(ids), *_due(now))
        .with_for_update(skip_locked=True)
    )
    more = list(session.scalars(siblings))
    if more:
        claimed += _lease(session, more, now, until, owner)
    return claimed


def take_claimed(session: Session, ids: list[int], owner: str, now: datetime) -> list[DueItem]:
    """Mark rows sent, only those `owner` still holds (a replan meanwhile took them back)."""
    if not ids:
        return []
    statement = (
        update(CaseSchedule)
        .where(
            CaseSchedule.id.in_(ids),
            CaseSchedule.status == "pending",
            CaseSchedule.lease_owner == owner,
        )
        .values(status="sent", done_at=now, lease_until=None)
        .returning(*_DUE_COLUMNS)
    )
    rows = session.execute(statement, execution_options={"synchronize_session": False})
    return [DueItem(*row) for row in rows]


def defer_claimed(session: Session, ids: list[int], owner: str, until: datetime) -> int:
    """Give held rows back, due again at `until` (outside business hours, or snoozed)."""
    if not ids:
        return 0
    result = session.execute(
        update(CaseSchedule)
        .where(
            CaseSchedule.id.in_(ids),
            CaseSchedule.status == "pending",
            CaseSchedule.lease_owner == owner,
        )
        .values(due_at=until, lease_until=None, lease_owner=None),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def cancel_schedule(session: Session, ids: list[int], now: datetime) -> None:
    """Mark rows cancelled (their case closed before they could go out)."""
    if ids:
        session.execute(
            update(CaseSchedule)
            .where(CaseSchedule.id.in_(ids))
            .values(status="cancelled", done_at=now, lease_until=None, lease_owner=None),
            execution_options={"synchronize_session": False},
        )


def add_events(session: Session, events: list[dict[str, Any]]) -> None:
    """Append many events at once (case_id, kind, actor, data, created_at), without ORM objects."""
    if events:
        session.execute(insert(Event), events)


def lock_cases(session: Session, case_ids: list[int]) -> dict[int, Case]:
    """Cases locked for a change, in id order, fresh from the database (row locks on PostgreSQL;
    SQLite's transaction already holds the write lock)."""
    if not case_ids:
        return {}
    query = (
        select(Case)
        .where(Case.id.in_(case_ids))
        .order_by(Case.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {case.id: case for case in session.scalars(query)}
