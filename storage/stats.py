"""`/triage list` and `/triage stats`, computed in SQL, and verdict counts kept per day."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased, selectinload

from storage.models import (
    OPEN_STATES,
    Case,
    Classification,
    ContactAttempt,
    Verdict,
    VerdictCount,
)


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


def seconds(session: Session, start: Any, end: Any) -> Any:
    """SQL for the seconds between two timestamp columns, on SQLite or PostgreSQL."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(end) - func.julianday(start)) * 86400.0
    return func.extract("epoch", end - start)


def median(session: Session, values: Any) -> float | None:
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
        select(seconds(session, Case.opened_at, Case.claimed_at).label("value"))
        .where(Case.claimed_at >= start, Case.claimed_at < end)
        .subquery()
    )
    return median(session, values)


def median_time_to_first_contact(session: Session, start: datetime, end: datetime) -> float | None:
    """Median seconds from opening to the first contact attempt, for cases opened in [start, end)."""
    values = (
        select(seconds(session, Case.opened_at, Case.first_contact_at).label("value"))
        .where(Case.opened_at >= start, Case.opened_at < end, Case.first_contact_at.is_not(None))
        .subquery()
    )
    return median(session, values)


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


_COUNT_DELTAS = "verdict_count_deltas"
_HUMAN = "human"  # the backend of a person's correction (bot.classification.service)


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


def classifier_corrections(
    session: Session, start: datetime, end: datetime
) -> dict[str, tuple[int, int]]:
    """Per reason the classifier gave (its latest answer for each verdict classified in
    [start, end)): how many verdicts, and how many a person then moved to another reason."""
    human = Classification.backend == _HUMAN
    machine = (
        select(
            Classification.verdict_id.label("verdict_id"), func.max(Classification.id).label("id")
        )
        .where(~human)
        .group_by(Classification.verdict_id)
        .subquery()
    )
    person = (
        select(
            Classification.verdict_id.label("verdict_id"), func.max(Classification.id).label("id")
        )
        .where(human)
        .group_by(Classification.verdict_id)
        .subquery()
    )
    given = aliased(Classification)
    fixed = aliased(Classification)
    corrected = sql_case(
        (fixed.primary_reason.is_not(None) & (fixed.primary_reason != given.primary_reason), 1),
        else_=0,
    )
    query = (
        select(given.primary_reason, func.count(), func.sum(corrected))
        .select_from(machine)
        .join(given, given.id == machine.c.id)
        .outerjoin(person, person.c.verdict_id == machine.c.verdict_id)
        .outerjoin(fixed, fixed.id == person.c.id)
        .where(given.created_at >= start, given.created_at < end)
        .group_by(given.primary_reason)
    )
    return {str(r): (int(n), int(c or 0)) for r, n, c in session.execute(query)}


def count_consent_change(session: Session, verdict: Verdict, consent: bool) -> None:
    """Set a verdict's consent and move it to that side of the daily counts (a survey tool's
    update that states consent or refuses it), written at commit."""
    if verdict.reason is not None and bool(verdict.consent) != consent:
        deltas: dict[tuple[date, str, bool], int] = session.info.setdefault(_COUNT_DELTAS, {})
        day = verdict.received_at.astimezone(UTC).date()
        before, after = (day, verdict.reason, bool(verdict.consent)), (day, verdict.reason, consent)
        deltas[before] = deltas.get(before, 0) - 1
        deltas[after] = deltas.get(after, 0) + 1
    verdict.consent = consent
