"""A digest period's figures, computed in SQL, and which process posts each run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import (
    func,
    literal,
    select,
    union_all,
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
    DigestRun,
    Event,
    Verdict,
)
from storage.stats import median, seconds

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
        select(seconds(session, Case.opened_at, Case.claimed_at).label("value"))
        .where(Case.claimed_at >= start, Case.claimed_at < end)
        .subquery()
    )
    return median(session, values)


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
        select(seconds(session, Case.opened_at, first.c.first_at).label("value"))
        .join(first, first.c.case_id == Case.id)
        .where(first.c.first_at >= start, first.c.first_at < end)
        .subquery()
    )
    return median(session, values)


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
