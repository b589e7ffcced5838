"""The SQL the services need, in one place; services never write queries themselves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from storage.models import (
    OPEN_STATES,
    Case,
    Customer,
    Event,
    InboundEvent,
    OutboxMessage,
    Verdict,
)


def customer_by_ref(session: Session, ref: str) -> Customer | None:
    """The customer with this normalised reference."""
    return session.scalars(select(Customer).where(Customer.ref == ref)).first()


def open_case_for(session: Session, customer_id: int) -> Case | None:
    """The customer's open case (there is at most one)."""
    query = select(Case).where(Case.customer_id == customer_id, Case.status.in_(OPEN_STATES))
    return session.scalars(query).first()


def verdict_by_source_key(session: Session, source_key: str) -> Verdict | None:
    """The verdict already stored for this source key (dedup of redeliveries)."""
    return session.scalars(select(Verdict).where(Verdict.source_key == source_key)).first()


def case_for_card(session: Session, case_id: int) -> Case | None:
    """A case with everything its card shows, loaded in a few queries."""
    query = (
        select(Case)
        .where(Case.id == case_id)
        .options(
            selectinload(Case.customer),
            selectinload(Case.verdicts).selectinload(Verdict.classifications),
        )
    )
    return session.scalars(query).first()


def case_for_update(session: Session, case_id: int) -> Case | None:
    """A case locked for a change (row lock on PostgreSQL; SQLite serialises writers anyway)."""
    return session.scalars(select(Case).where(Case.id == case_id).with_for_update()).first()


def add_event(
    session: Session, case_id: int, kind: str, actor: str, at: datetime, **data: Any
) -> Event:
    """Append one event to a case's timeline."""
    event = Event(case_id=case_id, kind=kind, actor=actor, data=data, created_at=at)
    session.add(event)
    return event


def events_of(session: Session, case_id: int) -> list[Event]:
    """A case's timeline, oldest first."""
    return list(session.scalars(select(Event).where(Event.case_id == case_id).order_by(Event.id)))


# --- inbound events: recorded before the ack, processed after -------------------------------


def insert_inbound(
    session: Session, dedupe_key: str, kind: str, payload: dict[str, Any], at: datetime
) -> bool:
    """Insert-or-skip an inbound event; False when that key was already recorded."""
    try:
        with session.begin_nested():
            session.add(
                InboundEvent(dedupe_key=dedupe_key, kind=kind, payload=payload, received_at=at)
            )
    except IntegrityError:
        return False
    return True


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


# --- outbox: Slack writes that must not be lost ------------------------------------------------


def pending_outbox(session: Session, limit: int) -> list[OutboxMessage]:
    """The oldest undelivered outbox rows, due or not (order per case matters)."""
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending")
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def lease_outbox(session: Session, message_id: int, now: datetime, until: datetime) -> bool:
    """Take the lease on one due outbox row; False when another process holds it."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
        )
        .values(lease_until=until, attempts=OutboxMessage.attempts + 1)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def outbox_depth(session: Session) -> int:
    """How many Slack writes wait to be delivered."""
    query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
    return int(session.scalar(query) or 0)


def pending_work(session: Session) -> int:
    """Recorded intake not yet processed plus Slack writes not yet delivered."""
    inbound = select(func.count()).select_from(InboundEvent).where(InboundEvent.status == "pending")
    return int(session.scalar(inbound) or 0) + outbox_depth(session)
