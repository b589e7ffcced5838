"""Erasure and retention of customers' personal data, and maintenance runs."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Text,
    cast,
    delete,
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
    ContactAttempt,
    Customer,
    CustomerRef,
    Event,
    IdempotencyKey,
    InboundEvent,
    MaintenanceRun,
    OutboxMessage,
    Verdict,
)


def _like_json(fragment: str) -> str:
    """A LIKE pattern finding `fragment` inside JSON as SQLAlchemy stores it (ASCII-escaped)."""
    encoded = json.dumps(fragment)[1:-1]
    return "%" + encoded.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def outbox_rows_mentioning(session: Session, fragments: list[str]) -> list[OutboxMessage]:
    """Outbox rows (any status) whose payload holds one of these strings."""
    if not fragments:
        return []
    payload = cast(OutboxMessage.payload, Text)
    query = select(OutboxMessage).where(
        or_(*(payload.like(_like_json(f), escape="!") for f in fragments))
    )
    return list(session.scalars(query.order_by(OutboxMessage.id)))


def outbox_rows_of_cases(session: Session, case_ids: list[int]) -> list[OutboxMessage]:
    """Every outbox row of these cases, oldest first."""
    if not case_ids:
        return []
    query = select(OutboxMessage).where(OutboxMessage.case_id.in_(case_ids))
    return list(session.scalars(query.order_by(OutboxMessage.id)))


def inbound_mentioning(session: Session, fragments: list[str]) -> list[InboundEvent]:
    """Processed inbound events (Slack payloads) whose payload holds one of these strings."""
    if not fragments:
        return []
    payload = cast(InboundEvent.payload, Text)
    query = select(InboundEvent).where(
        InboundEvent.status != "pending",
        or_(*(payload.like(_like_json(f), escape="!") for f in fragments)),
    )
    return list(session.scalars(query))


def customer_for_update(session: Session, customer_id: int) -> Customer | None:
    """A customer locked for erasure (row lock on PostgreSQL)."""
    query = select(Customer).where(Customer.id == customer_id).with_for_update()
    return session.scalars(query).first()


def cases_of_customer(session: Session, customer_id: int) -> list[int]:
    """Ids of every case of a customer, oldest first."""
    query = select(Case.id).where(Case.customer_id == customer_id).order_by(Case.id)
    return list(session.scalars(query))


def verdicts_to_erase(
    session: Session,
    *,
    customer_id: int | None = None,
    before: datetime | None = None,
    limit: int | None = None,
) -> list[Verdict]:
    """Verdicts whose text is still there: a customer's, or those received before `before`."""
    query = select(Verdict).where(Verdict.erased_at.is_(None))
    if customer_id is not None:
        query = query.where(Verdict.customer_id == customer_id)
    if before is not None:
        query = query.where(Verdict.received_at < before)
    query = query.order_by(Verdict.id)
    if limit is not None:
        query = query.limit(limit)
    return list(session.scalars(query))


def classifications_of(session: Session, verdict_ids: list[int]) -> list[Classification]:
    """Every classification of these verdicts."""
    if not verdict_ids:
        return []
    query = select(Classification).where(Classification.verdict_id.in_(verdict_ids))
    return list(session.scalars(query))


def contact_notes_to_erase(
    session: Session, *, customer_id: int | None = None, before: datetime | None = None
) -> list[ContactAttempt]:
    """Contact attempts that still carry a note: a customer's, or those older than `before`."""
    query = select(ContactAttempt).where(ContactAttempt.note.is_not(None))
    if customer_id is not None:
        query = query.where(ContactAttempt.customer_id == customer_id)
    if before is not None:
        query = query.where(ContactAttempt.attempted_at < before)
    return list(session.scalars(query))


def summaries_to_erase(session: Session, before: datetime) -> list[Case]:
    """Closed cases whose resolution summary is older than `before`."""
    query = select(Case).where(Case.resolution_summary.is_not(None), Case.closed_at < before)
    return list(session.scalars(query))


FREE_TEXT_EVENTS = ("note", "snoozed", "escalated", "classification_failed")


def free_text_events(
    session: Session, *, case_ids: list[int] | None = None, before: datetime | None = None
) -> list[Event]:
    """Events whose data may hold free text people typed (notes, reasons, errors)."""
    query = select(Event).where(
        Event.kind.in_(FREE_TEXT_EVENTS),
        cast(Event.data, Text).not_like('%"erased": true%'),
    )
    if case_ids is not None:
        query = query.where(Event.case_id.in_(case_ids))
    if before is not None:
        query = query.where(Event.created_at < before)
    return list(session.scalars(query))


def delete_customer_refs(session: Session, customer_id: int) -> int:
    """Remove every reference a customer is known by; returns how many."""
    result = session.execute(
        delete(CustomerRef).where(CustomerRef.customer_id == customer_id),
        execution_options={"synchronize_session": False},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def idle_customers(session: Session, before: datetime, limit: int) -> list[int]:
    """Customers still identified, with no open case and nothing received or done since `before`."""
    recent_verdict = (
        select(Verdict.id)
        .where(Verdict.customer_id == Customer.id, Verdict.received_at >= before)
        .exists()
    )
    recent_contact = (
        select(ContactAttempt.id)
        .where(ContactAttempt.customer_id == Customer.id, ContactAttempt.attempted_at >= before)
        .exists()
    )
    open_case = (
        select(Case.id)
        .where(Case.customer_id == Customer.id, Case.status.in_(OPEN_STATES))
        .exists()
    )
    query = (
        select(Customer.id)
        .where(
            Customer.erased_at.is_(None),
            Customer.ref_kind != "anonymous",
            Customer.created_at < before,
            ~recent_verdict,
            ~recent_contact,
            ~open_case,
        )
        .order_by(Customer.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def delete_delivered_before(session: Session, before: datetime) -> int:
    """Drop delivered (or set aside) outbox rows, processed inbound events and webhook answers
    older than `before`: delivery records whose payloads repeat what was said."""
    removed = 0
    for statement in (
        delete(OutboxMessage).where(
            OutboxMessage.status.in_(("sent", "dead")), OutboxMessage.created_at < before
        ),
        delete(InboundEvent).where(
            InboundEvent.status.in_(("done", "failed")), InboundEvent.received_at < before
        ),
        delete(IdempotencyKey).where(IdempotencyKey.created_at < before),
    ):
        result = session.execute(statement, execution_options={"synchronize_session": False})
        removed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return removed


def start_maintenance(
    session: Session, job: str, period: str, now: datetime, stale_before: datetime
) -> bool:
    """Claim this period's run of a job: True for the one process that should run it (a run
    started before `stale_before` and never finished is taken over: its process died)."""
    try:
        with savepoint(session):
            session.add(MaintenanceRun(job=job, period=period, started_at=now))
        return True
    except IntegrityError:
        pass
    result = session.execute(
        update(MaintenanceRun)
        .where(
            MaintenanceRun.job == job,
            MaintenanceRun.period == period,
            MaintenanceRun.finished_at.is_(None),
            MaintenanceRun.started_at < stale_before,
        )
        .values(started_at=now),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def finish_maintenance(
    session: Session, job: str, period: str, now: datetime, result: dict[str, Any]
) -> None:
    """Record that this period's run of a job is done, with what it did."""
    session.execute(
        update(MaintenanceRun)
        .where(MaintenanceRun.job == job, MaintenanceRun.period == period)
        .values(finished_at=now, result=result),
        execution_options={"synchronize_session": False},
    )
