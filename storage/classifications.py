"""Classification results, the LLM cache and jobs, and people's corrections."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from storage.models import (
    Classification,
    InboundEvent,
    Verdict,
)


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


def human_corrections(session: Session) -> list[tuple[Classification, Verdict]]:
    """Every reason a person set, with its verdict, oldest first (evaluation examples)."""
    query = (
        select(Classification, Verdict)
        .join(Verdict, Verdict.id == Classification.verdict_id)
        .where(Classification.backend == "human")
        .order_by(Classification.id)
    )
    return [(row, verdict) for row, verdict in session.execute(query).tuples()]


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
