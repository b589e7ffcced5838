"""The SQL the services need, in one place; services never write queries themselves."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Text,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy import case as sql_case
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from storage import appends
from storage.models import (
    OPEN_STATES,
    Base,
    Case,
    CaseSchedule,
    Classification,
    ContactAttempt,
    Customer,
    CustomerRef,
    DigestRun,
    Event,
    IdempotencyKey,
    InboundEvent,
    MaintenanceRun,
    OutboxMessage,
    PendingClaim,
    SlackPace,
    Verdict,
    VerdictCount,
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


# --- batch lookups for intake: one query per kind of fact, whatever the batch size ------------


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


def events_of(session: Session, case_id: int) -> list[Event]:
    """A case's timeline, oldest first."""
    return list(session.scalars(select(Event).where(Event.case_id == case_id).order_by(Event.id)))


# --- inbound events: recorded before the ack, processed after -------------------------------


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
    """Recorded intake and clicks on Claim not yet processed, plus Slack writes not yet
    delivered."""
    inbound = select(func.count()).select_from(InboundEvent).where(InboundEvent.status == "pending")
    claims = select(func.count()).select_from(PendingClaim)
    return (
        int(session.scalar(inbound) or 0) + int(session.scalar(claims) or 0) + outbox_depth(session)
    )


# --- classification: results, the LLM cache, LLM jobs, human corrections --------------------


def latest_classification(session: Session, verdict_id: int) -> Classification | None:
    """A verdict's newest classification."""
    query = (
        select(Classification)
        .where(Classification.verdict_id == verdict_id)
        .order_by(Classification.id.desc())
    )
    return session.scalars(query).first()


def cached_llm_classification(
    session: Session, text_hash: str, model: str, prompt_version: str, taxonomy_version: str
) -> Classification | None:
    """An earlier LLM result for the same masked verbatim, model, prompt and taxonomy."""
    query = (
        select(Classification)
        .where(
            Classification.text_hash == text_hash,
            Classification.backend == "llm",
            Classification.model == model,
            Classification.prompt_version == prompt_version,
            Classification.taxonomy_version == taxonomy_version,
        )
        .order_by(Classification.id.desc())
    )
    return session.scalars(query).first()


def first_verdict_id(session: Session, case_id: int) -> int | None:
    """The verdict that opened a case (its reason is the case's reason until a person says)."""
    query = select(func.min(Verdict.id)).where(Verdict.case_id == case_id)
    return session.scalar(query)


def newest_verdict(session: Session, case_id: int) -> Verdict | None:
    """A case's most recent verdict."""
    query = (
        select(Verdict)
        .where(Verdict.case_id == case_id)
        .order_by(Verdict.received_at.desc(), Verdict.id.desc())
    )
    return session.scalars(query).first()


def case_corrected_by_person(session: Session, case_id: int) -> bool:
    """Whether a person set a case's reason (then no classifier may override it)."""
    query = (
        select(Classification.id)
        .join(Verdict, Verdict.id == Classification.verdict_id)
        .where(Verdict.case_id == case_id, Classification.backend == "human")
        .limit(1)
    )
    return session.scalar(query) is not None


def latest_severities(session: Session, case_id: int) -> list[str]:
    """The severity of each of a case's verdicts, from its newest classification."""
    newest = (
        select(func.max(Classification.id))
        .join(Verdict, Verdict.id == Classification.verdict_id)
        .where(Verdict.case_id == case_id)
        .group_by(Classification.verdict_id)
    )
    query = select(Classification.severity).where(Classification.id.in_(newest))
    return list(session.scalars(query))


def finish_inbound(session: Session, event_id: int, now: datetime) -> bool:
    """Mark an inbound event done, once: False when it was already done by someone else."""
    result = session.execute(
        update(InboundEvent)
        .where(InboundEvent.id == event_id, InboundEvent.status == "pending")
        .values(status="done", processed_at=now, lease_until=None)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def human_corrections(session: Session) -> list[tuple[Classification, Verdict]]:
    """Every reason a person set, with its verdict, oldest first (evaluation examples)."""
    query = (
        select(Classification, Verdict)
        .join(Verdict, Verdict.id == Classification.verdict_id)
        .where(Classification.backend == "human")
        .order_by(Classification.id)
    )
    return [(row, verdict) for row, verdict in session.execute(query).tuples()]


# --- case schedule: reminders, escalations, final warnings, deadlines (issue 6) ---------------


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


# --- /triage list and stats: computed in SQL -------------------------------------------------


def list_cases(
    session: Session,
    *,
    view: str,
    user_id: str,
    now: datetime,
    reason: str | None,
    owner: str | None,
    since: datetime | None,
    offset: int,
    limit: int,
) -> tuple[list[Case], int]:
    """One page of cases for `/triage list`, nearest deadline first, and how many match in all."""
    query = select(Case)
    if view == "open":
        query = query.where(Case.status.in_(OPEN_STATES))
    elif view == "overdue":
        query = query.where(Case.status.in_(OPEN_STATES), Case.deadline_at < now)
    elif view == "mine":
        query = query.where(Case.status.in_(OPEN_STATES), Case.owner_id == user_id)
    elif view == "unassigned":
        query = query.where(Case.status == "open")
    elif view == "review":
        query = query.where(Case.status.in_(OPEN_STATES), Case.needs_review.is_(True))
    if reason:
        query = query.where(Case.primary_reason == reason)
    if owner:
        query = query.where(Case.owner_id == owner)
    if since:
        query = query.where(Case.opened_at >= since)
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    page = query.order_by(Case.deadline_at, Case.id).offset(offset).limit(limit)
    return list(session.scalars(page)), total


def _seconds(session: Session, start: Any, end: Any) -> Any:
    """SQL for the seconds between two timestamp columns, on SQLite or PostgreSQL."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)


def _median(session: Session, values: Any) -> float | None:
    """The median of a one-column subquery, in SQL on both databases (no percentile on SQLite)."""
    column = values.c.value
    if session.get_bind().dialect.name == "postgresql":
        found = session.scalar(select(func.percentile_cont(0.5).within_group(column)))
        return None if found is None else float(found)
    n = int(
        session.scalar(select(func.count()).select_from(values).where(column.is_not(None))) or 0
    )
    if n == 0:
        return None
    ordered = select(column).where(column.is_not(None)).order_by(column)
    if n % 2:
        return float(session.scalar(ordered.offset(n // 2).limit(1)) or 0)
    pair = list(session.scalars(ordered.offset(n // 2 - 1).limit(2)))
    return float(sum(pair) / 2)


def case_figures(session: Session, start: datetime, end: datetime, now: datetime) -> dict[str, int]:
    """Cases opened, resolved, resolved before the deadline and expired without action in
    [start, end), and open cases overdue now: one pass over the cases table."""
    closed_in = Case.closed_at.is_not(None) & (Case.closed_at >= start) & (Case.closed_at < end)
    resolved = closed_in & (Case.status == "resolved")
    query = select(
        func.sum(sql_case(((Case.opened_at >= start) & (Case.opened_at < end), 1), else_=0)),
        func.sum(sql_case((resolved, 1), else_=0)),
        func.sum(sql_case((resolved & (Case.closed_at <= Case.deadline_at), 1), else_=0)),
        func.sum(sql_case((closed_in & (Case.outcome == "expired_without_action"), 1), else_=0)),
        func.sum(sql_case((closed_in & (Case.status == "expired"), 1), else_=0)),
        func.sum(sql_case((Case.status.in_(OPEN_STATES) & (Case.deadline_at < now), 1), else_=0)),
    )
    row = session.execute(query).one()
    names = (
        "opened",
        "resolved",
        "resolved_before_deadline",
        "expired_without_action",
        "expired",
        "overdue",
    )
    return {name: int(value or 0) for name, value in zip(names, row, strict=True)}


def median_time_to_claim(session: Session, start: datetime, end: datetime) -> float | None:
    """Median seconds from opening to claim, over the claims made in [start, end) (as the digest
    counts it: cases opened late in the period are not favoured)."""
    values = (
        select(_seconds(session, Case.opened_at, Case.claimed_at).label("value"))
        .where(Case.claimed_at >= start, Case.claimed_at < end)
        .subquery()
    )
    return _median(session, values)


def median_time_to_first_contact(session: Session, start: datetime, end: datetime) -> float | None:
    """Median seconds from opening to the first contact attempt, for cases opened in [start, end)."""
    values = (
        select(_seconds(session, Case.opened_at, Case.first_contact_at).label("value"))
        .where(Case.opened_at >= start, Case.opened_at < end, Case.first_contact_at.is_not(None))
        .subquery()
    )
    return _median(session, values)


def fatigued_customers(session: Session, since: datetime, threshold: int) -> int:
    """Customers surveyed or contacted more than `threshold` times since `since`."""
    # Customers over the threshold on surveys alone, plus those whom contact attempts push over
    # it: the big grouping (verdicts) is done once, and only the few contacted customers are
    # joined to it.
    surveyed = (
        select(Verdict.customer_id.label("customer_id"), func.count().label("n"))
        .where(Verdict.received_at >= since, Verdict.consent.is_(True))
        .group_by(Verdict.customer_id)
        .cte("surveyed")
    )
    contacted = (
        select(ContactAttempt.customer_id.label("customer_id"), func.count().label("k"))
        .where(ContactAttempt.attempted_at >= since)
        .group_by(ContactAttempt.customer_id)
        .subquery()
    )
    surveys = func.coalesce(surveyed.c.n, 0)
    on_surveys = select(func.count()).select_from(surveyed).where(surveyed.c.n > threshold)
    pushed_over = (
        select(func.count())
        .select_from(
            contacted.outerjoin(surveyed, surveyed.c.customer_id == contacted.c.customer_id)
        )
        .where(surveys <= threshold, surveys + contacted.c.k > threshold)
    )
    return int(
        session.scalar(select(on_surveys.scalar_subquery() + pushed_over.scalar_subquery())) or 0
    )


def load_per_owner(session: Session) -> list[tuple[str, int]]:
    """Open cases per owner, busiest first."""
    query = (
        select(Case.owner_id, func.count())
        .where(Case.status.in_(OPEN_STATES), Case.owner_id.is_not(None))
        .group_by(Case.owner_id)
        .order_by(func.count().desc())
    )
    return [(str(owner), int(n)) for owner, n in session.execute(query)]


def export_rows(session: Session, since: datetime | None) -> Iterator[tuple[Case, Verdict]]:
    """Every (case, verdict) pair opened since `since`, for the CSV export, streamed."""
    query = (
        select(Case, Verdict)
        .join(Verdict, Verdict.case_id == Case.id)
        .options(selectinload(Case.customer))
        .order_by(Case.id, Verdict.received_at)
    )
    if since is not None:
        query = query.where(Case.opened_at >= since)
    for row in session.execute(query.execution_options(yield_per=500)):
        yield row[0], row[1]


# --- digests (issue 8): a period's figures, computed in SQL ---------------------------------
# Verdict.reason is the reason of each verdict's newest classification (kept by
# classification.store), so counting by reason is one GROUP BY over an index.


def reasons_by_bucket(session: Session, bounds: list[datetime]) -> dict[tuple[int, str], int]:
    """(bucket, reason) -> verdicts received in [bounds[i], bounds[i + 1]), with or without
    consent; the buckets are consecutive periods, so one query feeds the figures and the chart."""
    if len(bounds) < 2:
        return {}
    bucket = sql_case(
        *((Verdict.received_at < edge, i) for i, edge in enumerate(bounds[1:])),
        else_=len(bounds) - 1,
    ).label("bucket")
    query = (
        select(bucket, Verdict.reason, func.count())
        .where(Verdict.received_at >= bounds[0], Verdict.received_at < bounds[-1])
        .group_by(bucket, Verdict.reason)
    )
    return {(int(b), str(reason or "other")): int(n) for b, reason, n in session.execute(query)}


def verdict_totals(session: Session, start: datetime, end: datetime) -> tuple[int, int]:
    """Verdicts received in [start, end): (all, without consent)."""
    query = select(
        func.count(), func.sum(sql_case((Verdict.consent.is_(False), 1), else_=0))
    ).where(Verdict.received_at >= start, Verdict.received_at < end)
    total, without = session.execute(query).one()
    return int(total or 0), int(without or 0)


@dataclass(frozen=True)
class TellingVerbatim:
    """The verbatim that best shows a reason in a period (consented; masked when shown)."""

    verdict_id: int
    reason: str
    text: str
    channel: str
    score: int | None
    case_id: int | None
    confidence: float


def telling_verbatims(
    session: Session, start: datetime, end: datetime, reasons: list[str]
) -> dict[str, TellingVerbatim]:
    """Reason -> its most telling consented verdict of [start, end): the surest classification,
    then the lowest score, then the longest text (most said); one windowed query for all."""
    if not reasons:
        return {}
    newest = (
        select(Classification.verdict_id, func.max(Classification.id).label("cid"))
        .join(Verdict, Verdict.id == Classification.verdict_id)
        .where(Verdict.received_at >= start, Verdict.received_at < end)
        .group_by(Classification.verdict_id)
        .subquery()
    )
    rank = (
        func.row_number()
        .over(
            partition_by=Verdict.reason,
            order_by=(
                Classification.confidence.desc(),
                sql_case((Verdict.score.is_(None), 1), else_=0),  # NULLS LAST on both databases
                Verdict.score,
                func.length(Verdict.text).desc(),
                Verdict.id,
            ),
        )
        .label("rank")
    )
    ranked = (
        select(
            Verdict.id.label("verdict_id"),
            Verdict.reason.label("reason"),
            Verdict.text.label("text"),
            Verdict.channel.label("channel"),
            Verdict.score.label("score"),
            Verdict.case_id.label("case_id"),
            Classification.confidence.label("confidence"),
            rank,
        )
        .join(newest, newest.c.verdict_id == Verdict.id)
        .join(Classification, Classification.id == newest.c.cid)
        .where(
            Verdict.received_at >= start,
            Verdict.received_at < end,
            Verdict.consent.is_(True),
            Verdict.deleted_at.is_(None),
            Verdict.reason.in_(reasons),
        )
        .subquery()
    )
    query = select(
        ranked.c.verdict_id,
        ranked.c.reason,
        ranked.c.text,
        ranked.c.channel,
        ranked.c.score,
        ranked.c.case_id,
        ranked.c.confidence,
    ).where(ranked.c.rank == 1)
    return {row.reason: TellingVerbatim(*row) for row in session.execute(query)}


@dataclass(frozen=True)
class CaseFlow:
    """What happened to cases in a period: opened, and closed by status and outcome."""

    opened: int
    closed: dict[tuple[str, str], int]  # (resolved|expired, outcome) -> cases
    resolved_in_time: int  # resolved at or before their deadline


def case_flow(session: Session, start: datetime, end: datetime) -> CaseFlow:
    """Cases opened in [start, end), and those closed in it by status and outcome."""
    opened = session.scalar(
        select(func.count()).where(Case.opened_at >= start, Case.opened_at < end)
    )
    in_time = func.sum(
        sql_case(((Case.status == "resolved") & (Case.closed_at <= Case.deadline_at), 1), else_=0)
    )
    query = (
        select(Case.status, Case.outcome, func.count(), in_time)
        .where(
            Case.status.not_in(OPEN_STATES),
            Case.closed_at >= start,
            Case.closed_at < end,
        )
        .group_by(Case.status, Case.outcome)
    )
    closed: dict[tuple[str, str], int] = {}
    resolved_in_time = 0
    for status, outcome, n, ok in session.execute(query):
        closed[(str(status), str(outcome or "unknown"))] = int(n)
        resolved_in_time += int(ok or 0)
    return CaseFlow(int(opened or 0), closed, resolved_in_time)


def expired_without_action(
    session: Session, start: datetime, end: datetime, limit: int
) -> tuple[list[Case], int]:
    """Cases that expired without action in [start, end), oldest first (up to `limit`), and how
    many in all."""
    where = (
        Case.status == "expired",
        Case.outcome == "expired_without_action",
        Case.closed_at >= start,
        Case.closed_at < end,
    )
    total = session.scalar(select(func.count()).select_from(Case).where(*where))
    cases = session.scalars(
        select(Case).where(*where).order_by(Case.closed_at, Case.id).limit(limit)
    )
    return list(cases), int(total or 0)


def reminded(session: Session, case_ids: list[int]) -> dict[int, list[str]]:
    """Case id -> who its reminders went to (owners' user ids, or the channel), sorted."""
    if not case_ids:
        return {}
    to = Event.data["to"].as_string()
    query = (
        select(Event.case_id, to)
        .where(Event.case_id.in_(case_ids), Event.kind == "reminder_sent", to.is_not(None))
        .group_by(Event.case_id, to)
        .order_by(Event.case_id, to)
    )
    out: dict[int, list[str]] = {}
    for case_id, target in session.execute(query):
        out.setdefault(case_id, []).append(str(target))
    return out


def escalation_counts(session: Session, case_ids: list[int]) -> dict[int, int]:
    """Case id -> how many times managers were told about it (escalations, overdue notices)."""
    if not case_ids:
        return {}
    query = (
        select(Event.case_id, func.count())
        .where(Event.case_id.in_(case_ids), Event.kind == "escalated")
        .group_by(Event.case_id)
    )
    return {case_id: int(n) for case_id, n in session.execute(query)}


def overdue_count(session: Session, now: datetime) -> int:
    """Open cases past their deadline."""
    query = (
        select(func.count())
        .select_from(Case)
        .where(Case.status.in_(OPEN_STATES), Case.deadline_at < now)
    )
    return int(session.scalar(query) or 0)


def median_seconds_to_claim(session: Session, start: datetime, end: datetime) -> float | None:
    """Median seconds from opening to claim, over the claims made in [start, end)."""
    values = (
        select(_seconds(session, Case.opened_at, Case.claimed_at).label("value"))
        .where(Case.claimed_at >= start, Case.claimed_at < end)
        .subquery()
    )
    return _median(session, values)


def median_seconds_to_first_contact(
    session: Session, start: datetime, end: datetime
) -> float | None:
    """Median seconds from opening to the first contact attempt, over the cases whose first
    attempt was made in [start, end)."""
    first = (
        select(ContactAttempt.case_id, func.min(ContactAttempt.attempted_at).label("first_at"))
        .group_by(ContactAttempt.case_id)
        .subquery()
    )
    values = (
        select(_seconds(session, Case.opened_at, first.c.first_at).label("value"))
        .join(first, first.c.case_id == Case.id)
        .where(first.c.first_at >= start, first.c.first_at < end)
        .subquery()
    )
    return _median(session, values)


@dataclass(frozen=True)
class FatiguedCustomer:
    """A customer solicited too often: their latest case, surveys and contacts in the window."""

    customer_id: int
    case_id: int | None
    surveys: int
    contacts: int


def fatigued_in_period(
    session: Session,
    window_start: datetime,
    start: datetime,
    end: datetime,
    threshold: int,
    limit: int,
) -> tuple[list[FatiguedCustomer], int]:
    """Customers with more than `threshold` surveys and contacts in [window_start, end), among
    those surveyed or contacted in [start, end); most solicited first (up to `limit`), and how
    many in all. Without consent a verdict has no customer, so it never counts here."""
    touches = union_all(
        select(
            Verdict.customer_id.label("customer_id"),
            Verdict.received_at.label("at"),
            literal(1).label("survey"),
        ).where(
            Verdict.received_at >= window_start,
            Verdict.received_at < end,
            Verdict.consent.is_(True),
        ),
        select(
            ContactAttempt.customer_id.label("customer_id"),
            ContactAttempt.attempted_at.label("at"),
            literal(0).label("survey"),
        ).where(ContactAttempt.attempted_at >= window_start, ContactAttempt.attempted_at < end),
    ).subquery()
    surveys = func.sum(touches.c.survey)
    per_customer = (
        select(
            touches.c.customer_id.label("customer_id"),
            surveys.label("surveys"),
            (func.count() - surveys).label("contacts"),
        )
        .group_by(touches.c.customer_id)
        .having(func.count() > threshold, func.max(touches.c.at) >= start)
        .subquery()
    )
    total = session.scalar(select(func.count()).select_from(per_customer))
    latest_case = (
        select(func.max(Case.id))
        .where(Case.customer_id == per_customer.c.customer_id)
        .scalar_subquery()
    )
    query = (
        select(
            per_customer.c.customer_id,
            latest_case,
            per_customer.c.surveys,
            per_customer.c.contacts,
        )
        .order_by(
            (per_customer.c.surveys + per_customer.c.contacts).desc(), per_customer.c.customer_id
        )
        .limit(limit)
    )
    rows = [
        FatiguedCustomer(int(cid), case_id, int(s or 0), int(c or 0))
        for cid, case_id, s, c in session.execute(query)
    ]
    return rows, int(total or 0)


@dataclass(frozen=True)
class ReviewBacklog:
    """Open cases flagged "needs review", and their verdicts' unsure classifications."""

    case_ids: list[int]  # the first few, nearest deadline first
    cases: int
    provisional: int  # newest classification is the provisional offline one
    low_confidence: int  # newest classification is under the review threshold (not a person's)


def review_backlog(session: Session, threshold: float, limit: int) -> ReviewBacklog:
    """What waits for a human: open cases needing review, provisional and low-confidence results."""
    flagged = (Case.status.in_(OPEN_STATES), Case.needs_review.is_(True))
    cases = int(session.scalar(select(func.count()).select_from(Case).where(*flagged)) or 0)
    ids = list(
        session.scalars(
            select(Case.id).where(*flagged).order_by(Case.deadline_at, Case.id).limit(limit)
        )
    )
    newest = (
        select(func.max(Classification.id))
        .join(Verdict, Verdict.id == Classification.verdict_id)
        .join(Case, Case.id == Verdict.case_id)
        .where(Case.status.in_(OPEN_STATES))
        .group_by(Classification.verdict_id)
    )
    unsure = (Classification.backend != "human") & (Classification.confidence < threshold)
    query = select(
        func.sum(sql_case((Classification.provisional.is_(True), 1), else_=0)),
        func.sum(sql_case((unsure, 1), else_=0)),
    ).where(Classification.id.in_(newest))
    provisional, low = session.execute(query).one()
    return ReviewBacklog(ids, cases, int(provisional or 0), int(low or 0))


def digest_run_exists(session: Session, digest: str, period_start: datetime) -> bool:
    """Whether this digest's run for this period was already recorded (by any process)."""
    query = select(DigestRun.id).where(
        DigestRun.digest == digest, DigestRun.period_start == period_start
    )
    return session.scalar(query.limit(1)) is not None


def insert_digest_run(session: Session, run: DigestRun) -> bool:
    """Insert-or-skip a digest run; False when another process recorded this period first."""
    try:
        with savepoint(session):
            session.add(run)
    except IntegrityError:
        return False
    return True


def record_digest_progress(session: Session, run_id: int, **values: Any) -> None:
    """Record a delivery step of a digest run (its summary's ts, the chart's file id, details)."""
    session.execute(
        update(DigestRun).where(DigestRun.id == run_id).values(**values),
        execution_options={"synchronize_session": False},
    )


# --- issue 9: Slack pace, queue metrics, erasure and retention --------------------------------


def outbox_depth_and_oldest(session: Session) -> tuple[int, datetime | None]:
    """How many Slack writes wait, and when the oldest of them was queued."""
    query = select(func.count(), func.min(OutboxMessage.created_at)).where(
        OutboxMessage.status == "pending"
    )
    return _count_and_oldest(session, query)


def claims_waiting_and_oldest(session: Session) -> tuple[int, datetime | None]:
    """How many recorded clicks on Claim wait to be applied, and when the oldest was clicked."""
    return _count_and_oldest(session, select(func.count(), func.min(PendingClaim.clicked_at)))


def _count_and_oldest(session: Session, query: Any) -> tuple[int, datetime | None]:
    count, oldest = session.execute(query).one()
    if isinstance(oldest, str):  # SQLite's MIN() hands back the stored text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(count or 0), oldest


def take_pace(session: Session, channel: str, now: float, interval: float, burst: int) -> float:
    """Claim a slot to post in `channel` (GCRA); 0 when granted, else seconds until one frees.

    A compare-and-set on the channel's row: two processes reading the same `tat` cannot both
    move it, so the pace holds across every process sharing the database.
    """
    tolerance = interval * (burst - 1)
    for _ in range(5):
        tat = session.scalar(select(SlackPace.tat).where(SlackPace.channel == channel))
        if tat is None:
            try:
                with savepoint(session):
                    session.add(SlackPace(channel=channel, tat=now + interval))
                return 0.0
            except IntegrityError:
                continue  # another process created it first: read it again
        start = max(tat, now)
        wait = start - now - tolerance
        if wait > 0:
            return wait
        result = session.execute(
            update(SlackPace)
            .where(SlackPace.channel == channel, SlackPace.tat == tat)
            .values(tat=start + interval),
            execution_options={"synchronize_session": False},
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return 0.0
    return interval  # heavily contended: try again in a moment


def hold_pace(session: Session, channel: str, until: float, interval: float, burst: int) -> None:
    """Keep every process from posting in `channel` before `until` (Slack said Retry-After)."""
    tat = until + interval * (burst - 1)
    result = session.execute(
        update(SlackPace).where(SlackPace.channel == channel, SlackPace.tat < tat).values(tat=tat),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount == 0 and session.get(SlackPace, channel) is None:  # type: ignore[attr-defined]
        try:
            with savepoint(session):
                session.add(SlackPace(channel=channel, tat=tat))
        except IntegrityError:
            pass


def release_outbox(session: Session, message_id: int) -> None:
    """Give a leased row back untried (its channel's pace said wait): no attempt is counted."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending")
        .values(lease_until=None, attempts=OutboxMessage.attempts - 1),
        execution_options={"synchronize_session": False},
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


def finish_llm_jobs(session: Session, verdict_ids: list[int], now: datetime) -> None:
    """Close the pending LLM passes of these verdicts (their text is gone)."""
    if not verdict_ids:
        return
    keys = [f"llm_classify:{v}" for v in verdict_ids]
    session.execute(
        update(InboundEvent)
        .where(
            InboundEvent.status == "pending",
            InboundEvent.kind == "llm_classify",
            or_(
                InboundEvent.dedupe_key.in_(keys),
                *(InboundEvent.dedupe_key.like(f"{k}:%") for k in keys),
            ),
        )
        .values(status="done", processed_at=now, lease_until=None),
        execution_options={"synchronize_session": False},
    )


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


# --- verdict counts per day: kept in step with verdicts.reason ---------------------------------

_COUNT_DELTAS = "verdict_count_deltas"


def count_reason_change(session: Session, verdict: Verdict, new_reason: str) -> None:
    """Set a verdict's reason and note the change to the daily counts, written at commit."""
    deltas: dict[tuple[date, str, bool], int] = session.info.setdefault(_COUNT_DELTAS, {})
    day = verdict.received_at.astimezone(UTC).date()
    if verdict.reason is not None:
        key = (day, verdict.reason, bool(verdict.consent))
        deltas[key] = deltas.get(key, 0) - 1
    key = (day, new_reason, bool(verdict.consent))
    deltas[key] = deltas.get(key, 0) + 1
    verdict.reason = new_reason


def flush_count_deltas(session: Session) -> None:
    """Write the noted count changes (an upsert per day and reason touched)."""
    deltas: dict[tuple[date, str, bool], int] = session.info.pop(_COUNT_DELTAS, {})
    rows = [
        {"day": day, "reason": reason, "consent": consent, "n": n}
        for (day, reason, consent), n in sorted(deltas.items())
        if n
    ]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert_fn = sqlite_insert if dialect == "sqlite" else postgresql_insert
    statement = insert_fn(VerdictCount)
    statement = statement.on_conflict_do_update(
        index_elements=["day", "reason", "consent"],
        set_={"n": VerdictCount.n + statement.excluded.n},
    )
    session.execute(statement, rows)


def verdict_counts_by_reason(session: Session, first_day: date, last_day: date) -> dict[str, int]:
    """Verdicts by reason over whole UTC days [first_day, last_day], from the daily counts."""
    query = (
        select(VerdictCount.reason, func.sum(VerdictCount.n))
        .where(VerdictCount.day >= first_day, VerdictCount.day <= last_day)
        .group_by(VerdictCount.reason)
    )
    return {str(reason): int(n or 0) for reason, n in session.execute(query) if n}
