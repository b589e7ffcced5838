"""Connectors: callbacks recorded at the ack whose response the background pass fetches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.cases import savepoint
from storage.models import ConnectorFetch


def record_fetch(
    session: Session, dedupe_key: str, connector: str, payload: dict[str, Any], at: datetime
) -> bool:
    """Insert-or-skip a fetch to do; False when that response was already recorded."""
    try:
        with savepoint(session):
            session.add(
                ConnectorFetch(
                    dedupe_key=dedupe_key,
                    connector=connector,
                    payload=payload,
                    status="pending",
                    attempts=0,
                    next_at=at,
                    received_at=at,
                )
            )
    except IntegrityError:
        return False
    return True


def due_fetch_ids(session: Session, now: datetime, limit: int) -> list[int]:
    """Pending fetches whose time has come, oldest first."""
    query = (
        select(ConnectorFetch.id)
        .where(ConnectorFetch.status == "pending", ConnectorFetch.next_at <= now)
        .order_by(ConnectorFetch.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def lease_fetch(session: Session, fetch_id: int, now: datetime, until: datetime) -> bool:
    """Take one fetch (conditional update, safe across processes); False when another did."""
    result = session.execute(
        update(ConnectorFetch)
        .where(
            ConnectorFetch.id == fetch_id,
            ConnectorFetch.status == "pending",
            ConnectorFetch.next_at <= now,
        )
        .values(next_at=until, attempts=ConnectorFetch.attempts + 1)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def get_fetch(session: Session, fetch_id: int) -> ConnectorFetch | None:
    """One recorded fetch."""
    return session.get(ConnectorFetch, fetch_id)


def finish_fetch(
    session: Session, fetch_id: int, status: str, now: datetime, error: str | None
) -> None:
    """Mark a fetch done or failed (set aside)."""
    session.execute(
        update(ConnectorFetch)
        .where(ConnectorFetch.id == fetch_id)
        .values(status=status, processed_at=now, last_error=error)
    )


def retry_fetch(session: Session, fetch_id: int, at: datetime, error: str) -> None:
    """Try a fetch again at `at`."""
    session.execute(
        update(ConnectorFetch)
        .where(ConnectorFetch.id == fetch_id)
        .values(next_at=at, last_error=error[:2000])
    )


def fetch_counts(session: Session) -> dict[str, int]:
    """Fetches by status (for tests and the operator)."""
    rows = session.execute(select(ConnectorFetch.status, ConnectorFetch.id))
    counts: dict[str, int] = {}
    for status, _ in rows:
        counts[status] = counts.get(status, 0) + 1
    return counts


def cached_document(session: Session, key: str) -> dict[str, Any] | None:
    """A tool's document kept for reuse (a SurveyMonkey survey's questions), or None."""
    query = select(ConnectorFetch.payload).where(
        ConnectorFetch.dedupe_key == key, ConnectorFetch.status == "cached"
    )
    found = session.scalars(query).first()
    return dict(found) if found is not None else None


def cache_document(
    session: Session, key: str, connector: str, document: dict[str, Any], at: datetime
) -> None:
    """Keep (or replace) a document under `key`, shared by every process. It lives in the fetch
    table with status `cached`, which the fetch queue never leases."""
    try:
        with savepoint(session):
            session.add(
                ConnectorFetch(
                    dedupe_key=key,
                    connector=connector,
                    payload=document,
                    status="cached",
                    attempts=0,
                    next_at=at,
                    received_at=at,
                    processed_at=at,
                )
            )
    except IntegrityError:  # another process cached it first, or it is being refreshed
        session.execute(
            update(ConnectorFetch)
            .where(ConnectorFetch.dedupe_key == key, ConnectorFetch.status == "cached")
            .values(payload=document, processed_at=at)
        )


def set_aside_count(session: Session) -> int:
    """Fetches given up on (401/403/404, or out of attempts): an operator looks at these."""
    query = select(func.count()).where(ConnectorFetch.status == "failed")
    return int(session.scalar(query) or 0)
