"""Customers and cases: lookups, claims, the timeline, what a card and the App Home show."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from storage import appends
from storage.models import (
    OPEN_STATES,
    Case,
    ContactAttempt,
    Customer,
    CustomerRef,
    Event,
    OutboxMessage,
    PendingClaim,
    Verdict,
)


def customer_by_ref(session: Session, ref: str) -> Customer | None:
    """The customer with this normalised reference."""
    return session.scalars(select(Customer).where(Customer.ref == ref)).first()


def customer_by_refs(session: Session, refs: list[str]) -> Customer | None:
    """The customer known by any of these references (the oldest, if several match)."""
    if not refs:
        return None
    query = (
        select(Customer)
        .join(CustomerRef, CustomerRef.customer_id == Customer.id)
        .where(CustomerRef.ref.in_(refs))
        .order_by(Customer.id)
    )
    return session.scalars(query).first()


def refs_of(session: Session, customer_id: int) -> set[str]:
    """The references a customer is known by."""
    query = select(CustomerRef.ref).where(CustomerRef.customer_id == customer_id)
    return set(session.scalars(query))


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A savepoint for an insert that may collide; the rows appended before it are written
    first, so rolling it back drops only what was done inside."""
    appends.write_pending(session)
    with session.begin_nested():
        yield


def add_customer_ref(session: Session, customer_id: int, ref: str, kind: str, at: datetime) -> None:
    """Record one more reference for a customer, unless some customer already has it."""
    try:
        with savepoint(session):
            session.add(CustomerRef(customer_id=customer_id, ref=ref, kind=kind, created_at=at))
    except IntegrityError:
        pass  # another verdict recorded it first; the reference stays with that customer


def latest_closed_case(session: Session, customer_id: int) -> Case | None:
    """The customer's most recent closed case, to link a new case to."""
    query = (
        select(Case)
        .where(Case.customer_id == customer_id, Case.status.not_in(OPEN_STATES))
        .order_by(Case.id.desc())
    )
    return session.scalars(query).first()


def earlier_cases(session: Session, customer_id: int, before_id: int) -> list[Case]:
    """The customer's cases older than this one, newest first."""
    query = (
        select(Case)
        .where(Case.customer_id == customer_id, Case.id < before_id)
        .order_by(Case.id.desc())
    )
    return list(session.scalars(query))


def surveys_since(session: Session, customer_id: int, since: datetime) -> int:
    """How many verdicts (surveys, complaints) about a customer arrived since `since`."""
    query = (
        select(func.count())
        .select_from(Verdict)
        .where(Verdict.customer_id == customer_id, Verdict.received_at >= since)
    )
    return int(session.scalar(query) or 0)


def verdicts_of_case(session: Session, case_id: int) -> list[Verdict]:
    """A case's verdicts, newest first."""
    query = (
        select(Verdict)
        .where(Verdict.case_id == case_id)
        .order_by(Verdict.received_at.desc(), Verdict.id.desc())
    )
    return list(session.scalars(query))


def human_events(session: Session, case_id: int) -> int:
    """How many events on a case were caused by people (a case nobody touched has none)."""
    query = (
        select(func.count())
        .select_from(Event)
        .where(Event.case_id == case_id, Event.actor != "system")
    )
    return int(session.scalar(query) or 0)


def contact_attempts_of(session: Session, case_id: int) -> list[ContactAttempt]:
    """A case's contact attempts, oldest first."""
    query = (
        select(ContactAttempt)
        .where(ContactAttempt.case_id == case_id)
        .order_by(ContactAttempt.attempted_at, ContactAttempt.id)
    )
    return list(session.scalars(query))


def contacts_since(session: Session, customer_id: int, since: datetime) -> int:
    """How many contact attempts a customer received since `since` (all cases)."""
    query = (
        select(func.count())
        .select_from(ContactAttempt)
        .where(ContactAttempt.customer_id == customer_id, ContactAttempt.attempted_at >= since)
    )
    return int(session.scalar(query) or 0)


def told_before(session: Session, customer_id: int, before_case_id: int) -> list[tuple[int, str]]:
    """What earlier cases' owners told the customer: (case id, summary), newest first."""
    query = (
        select(Case.id, Case.resolution_summary)
        .where(
            Case.customer_id == customer_id,
            Case.id < before_case_id,
            Case.resolution_summary.is_not(None),
        )
        .order_by(Case.id.desc())
    )
    return [(case_id, str(summary)) for case_id, summary in session.execute(query)]


def cases_owned(session: Session, user_id: str, limit: int) -> list[Case]:
    """A person's open cases, nearest deadline first."""
    query = (
        select(Case)
        .where(Case.owner_id == user_id, Case.status.in_(OPEN_STATES))
        .order_by(Case.deadline_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def unassigned_cases(session: Session, limit: int) -> list[Case]:
    """Open cases nobody owns, nearest deadline first."""
    query = select(Case).where(Case.status == "open").order_by(Case.deadline_at).limit(limit)
    return list(session.scalars(query))


def overdue_cases(session: Session, now: datetime, limit: int) -> list[Case]:
    """Open cases past their deadline, most overdue first."""
    query = (
        select(Case)
        .where(Case.status.in_(OPEN_STATES), Case.deadline_at < now)
        .order_by(Case.deadline_at)
        .limit(limit)
    )
    return list(session.scalars(query))


def home_refresh_pending(session: Session, user_id: str) -> bool:
    """True when a refresh of this person's App Home already waits in the outbox."""
    query = select(OutboxMessage.id).where(
        OutboxMessage.kind == "home",
        OutboxMessage.channel == user_id,
        OutboxMessage.status == "pending",
        OutboxMessage.lease_until.is_(None),
    )
    return session.scalars(query.limit(1)).first() is not None


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


@dataclass(frozen=True)
class ClaimState:
    """What decides a click on Claim: the case's status and owner, and whose earlier click on
    Claim waits to be applied (None: nobody's)."""

    status: str
    owner: str | None
    waiting: str | None


_CLAIM_STATE = (
    select(Case.status, Case.owner_id, PendingClaim.user_id)
    .outerjoin(PendingClaim, PendingClaim.case_id == Case.id)
    .where(Case.id == bindparam("case_id"))
)


def claim_state(connection: Connection, case_id: int) -> ClaimState | None:
    """A case's claim state, read in one query without loading or locking anything."""
    row = connection.execute(_CLAIM_STATE, {"case_id": case_id}).first()
    return None if row is None else ClaimState(row[0], row[1], row[2])


_RECORD_CLAIM = {
    name: insert_fn(PendingClaim)
    .on_conflict_do_nothing(index_elements=["case_id"])
    .returning(PendingClaim.user_id)
    for name, insert_fn in (("sqlite", sqlite_insert), ("postgresql", postgresql_insert))
}
_WAITING_CLAIM = select(PendingClaim.user_id).where(PendingClaim.case_id == bindparam("case_id"))


def record_claim(
    connection: Connection, case_id: int, user_id: str, channel: str, at: datetime
) -> str:
    """Record a click on Claim unless one already waits for the case (one statement, which the
    key decides); returns whose click waits (`user_id` when this one was recorded)."""
    row = {"case_id": case_id, "user_id": user_id, "channel": channel, "clicked_at": at}
    if connection.execute(_RECORD_CLAIM[connection.dialect.name], row).first() is not None:
        return user_id
    return str(connection.scalar(_WAITING_CLAIM, {"case_id": case_id}))


def pending_claim_cases(session: Session, limit: int) -> list[int]:
    """Cases with a click on Claim waiting, the first clicked first."""
    query = (
        select(PendingClaim.case_id)
        .order_by(PendingClaim.clicked_at, PendingClaim.case_id)
        .limit(limit)
    )
    return list(session.scalars(query))


def take_pending_claim(session: Session, case_id: int) -> PendingClaim | None:
    """Remove a case's waiting click and return it, for applying it in the same transaction;
    None when another process is applying it or already did (skipped, not waited for)."""
    query = (
        select(PendingClaim)
        .where(PendingClaim.case_id == case_id)
        .with_for_update(skip_locked=True)
    )
    click = session.scalars(query).first()
    if click is not None:
        session.delete(click)
    return click


def case_for_update(session: Session, case_id: int) -> Case | None:
    """A case locked for a change (row lock on PostgreSQL; SQLite serialises writers anyway)."""
    return session.scalars(select(Case).where(Case.id == case_id).with_for_update()).first()


def add_event(
    session: Session, case_id: int, kind: str, actor: str, at: datetime, **data: Any
) -> None:
    """Append one event to a case's timeline (written with the session's next query or commit)."""
    appends.append(
        session,
        Event,
        {"case_id": case_id, "kind": kind, "actor": actor, "data": data, "created_at": at},
    )


def events_of(session: Session, case_id: int) -> list[Event]:
    """A case's timeline, oldest first."""
    return list(session.scalars(select(Event).where(Event.case_id == case_id).order_by(Event.id)))


def consent_confirmed(session: Session, case_id: int) -> bool:
    """True when someone already confirmed, on a logged contact, that they checked the
    customer's consent for this case (its `contact_attempt` events say so)."""
    rows = session.scalars(
        select(Event.data).where(Event.case_id == case_id, Event.kind == "contact_attempt")
    )
    return any(isinstance(data, dict) and data.get("consent_confirmed") for data in rows)
