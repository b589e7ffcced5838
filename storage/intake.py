"""Intake: batch lookups for new verdicts, and inbound events recorded before the ack."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.cases import savepoint
from storage.models import (
    OPEN_STATES,
    Case,
    Classification,
    Customer,
    CustomerRef,
    IdempotencyKey,
    InboundEvent,
    Verdict,
)


def verdicts_by_keys(session: Session, keys: set[str]) -> dict[str, tuple[int, int | None]]:
    """Source key -> (verdict id, case id) for the keys already stored."""
    if not keys:
        return {}
    query = select(Verdict.source_key, Verdict.id, Verdict.case_id).where(
        Verdict.source_key.in_(keys)
    )
    return {key: (vid, cid) for key, vid, cid in session.execute(query)}


def customers_by_ref_keys(session: Session, refs: set[str]) -> dict[str, Customer]:
    """Reference -> customer, through every reference a customer is known by (and its main one)."""
    if not refs:
        return {}
    found: dict[str, Customer] = {}
    query = (
        select(CustomerRef.ref, Customer)
        .join(Customer, CustomerRef.customer_id == Customer.id)
        .where(CustomerRef.ref.in_(refs))
    )
    for ref, customer in session.execute(query):
        found[ref] = customer
    for customer in session.scalars(select(Customer).where(Customer.ref.in_(refs - set(found)))):
        found[customer.ref] = customer
    return found


def refs_of_customers(session: Session, customer_ids: set[int]) -> set[str]:
    """Every reference held by these customers."""
    if not customer_ids:
        return set()
    query = select(CustomerRef.ref).where(CustomerRef.customer_id.in_(customer_ids))
    return set(session.scalars(query))


def open_cases_of(session: Session, customer_ids: set[int]) -> dict[int, Case]:
    """Customer id -> open case."""
    if not customer_ids:
        return {}
    query = select(Case).where(Case.customer_id.in_(customer_ids), Case.status.in_(OPEN_STATES))
    return {case.customer_id: case for case in session.scalars(query)}


def latest_closed_cases_of(session: Session, customer_ids: set[int]) -> dict[int, int]:
    """Customer id -> id of the customer's most recent closed case."""
    if not customer_ids:
        return {}
    query = (
        select(Case.customer_id, func.max(Case.id))
        .where(Case.customer_id.in_(customer_ids), Case.status.not_in(OPEN_STATES))
        .group_by(Case.customer_id)
    )
    return {customer_id: case_id for customer_id, case_id in session.execute(query)}


@dataclass(frozen=True)
class VerdictFacts:
    """What case rules need of one verdict: when, how, and its latest classification."""

    case_id: int
    received_at: datetime
    channel: str
    reason: str
    severity: str
    confidence: float
    backend: str = ""


def verdict_facts_of_cases(session: Session, case_ids: set[int]) -> dict[int, list[VerdictFacts]]:
    """Case id -> its verdicts' facts, oldest first (latest classification of each)."""
    if not case_ids:
        return {}
    latest = (
        select(Classification.verdict_id, func.max(Classification.id).label("cid"))
        .join(Verdict, Verdict.id == Classification.verdict_id)
        .where(Verdict.case_id.in_(case_ids))
        .group_by(Classification.verdict_id)
        .subquery()
    )
    query = (
        select(
            Verdict.case_id,
            Verdict.received_at,
            Verdict.channel,
            Classification.primary_reason,
            Classification.severity,
            Classification.confidence,
            Classification.backend,
        )
        .join(latest, latest.c.verdict_id == Verdict.id)
        .join(Classification, Classification.id == latest.c.cid)
        .order_by(Verdict.received_at, Verdict.id)
    )
    out: dict[int, list[VerdictFacts]] = {}
    for case_id, received_at, channel, reason, severity, confidence, backend in session.execute(
        query
    ):
        assert case_id is not None  # selected through the case ids
        out.setdefault(case_id, []).append(
            VerdictFacts(case_id, received_at, channel, reason, severity, confidence, backend)
        )
    return out


def insert_inbound(
    session: Session, dedupe_key: str, kind: str, payload: dict[str, Any], at: datetime
) -> bool:
    """Insert-or-skip an inbound event; False when that key was already recorded."""
    try:
        with savepoint(session):
            session.add(
                InboundEvent(dedupe_key=dedupe_key, kind=kind, payload=payload, received_at=at)
            )
    except IntegrityError:
        return False
    return True


def idempotent_response(session: Session, key: str) -> IdempotencyKey | None:
    """The answer already given for this idempotency key."""
    return session.scalars(select(IdempotencyKey).where(IdempotencyKey.key == key)).first()


def save_idempotent_response(
    session: Session,
    key: str,
    request_hash: str,
    status: int,
    response: dict[str, Any],
    at: datetime,
) -> None:
    """Remember the answer for an idempotency key (in the transaction of the work it answers)."""
    session.add(
        IdempotencyKey(
            key=key, request_hash=request_hash, status_code=status, response=response, created_at=at
        )
    )


def hold_inbound(
    session: Session, dedupe_key: str, kind: str, payload: dict[str, Any], at: datetime
) -> int:
    """Keep a payload a person is still completing (status `held`: no worker picks it up)."""
    existing = session.scalars(
        select(InboundEvent).where(InboundEvent.dedupe_key == dedupe_key)
    ).first()
    if existing is not None:
        return existing.id
    row = InboundEvent(
        dedupe_key=dedupe_key, kind=kind, payload=payload, status="held", received_at=at
    )
    session.add(row)
    session.flush()
    return row.id


def claimable_inbound_ids(session: Session, kind: str, now: datetime, limit: int) -> list[int]:
    """Pending inbound events of one kind that nobody holds a live lease on, oldest first."""
    query = (
        select(InboundEvent.id)
        .where(
            InboundEvent.kind == kind,
            InboundEvent.status == "pending",
            or_(InboundEvent.lease_until.is_(None), InboundEvent.lease_until < now),
        )
        .order_by(InboundEvent.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def lease_inbound(session: Session, event_id: int, now: datetime, until: datetime) -> bool:
    """Take the lease on one inbound event; False when another process got it first."""
    result = session.execute(
        update(InboundEvent)
        .where(
            InboundEvent.id == event_id,
            InboundEvent.status == "pending",
            or_(InboundEvent.lease_until.is_(None), InboundEvent.lease_until < now),
        )
        .values(lease_until=until, attempts=InboundEvent.attempts + 1)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def finish_inbound(session: Session, event_id: int, now: datetime) -> bool:
    """Mark an inbound event done, once: False when it was already done by someone else."""
    result = session.execute(
        update(InboundEvent)
        .where(InboundEvent.id == event_id, InboundEvent.status == "pending")
        .values(status="done", processed_at=now, lease_until=None)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def set_aside_inbound(session: Session, event_id: int, now: datetime, error: str) -> bool:
    """Mark an inbound event failed (given up), once: False when it is not pending any more."""
    result = session.execute(
        update(InboundEvent)
        .where(InboundEvent.id == event_id, InboundEvent.status == "pending")
        .values(status="failed", processed_at=now, lease_until=None, last_error=error[:2000])
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def finish_pending_like(session: Session, kind: str, key_prefix: str, now: datetime) -> int:
    """Mark done the pending inbound events of a kind whose key starts with `key_prefix`."""
    escaped = key_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    result = session.execute(
        update(InboundEvent)
        .where(
            InboundEvent.kind == kind,
            InboundEvent.status == "pending",
            InboundEvent.dedupe_key.like(escaped + "%", escape="\\"),
        )
        .values(status="done", processed_at=now, lease_until=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
