"""The learned classifier's data: the team's labelled examples and the trained model versions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.cases import savepoint
from storage.models import Classification, LearnedModel, TrainingExample, Verdict


def add_example(
    session: Session,
    *,
    text_hash: str,
    text: str,
    reason: str,
    taxonomy_version: str,
    source: str,
    now: datetime,
    verdict_id: int | None = None,
) -> bool:
    """Insert-or-skip one example; False when the same text with the same reason is kept."""
    try:
        with savepoint(session):
            session.add(
                TrainingExample(
                    text_hash=text_hash,
                    text=text,
                    reason=reason,
                    taxonomy_version=taxonomy_version,
                    source=source,
                    verdict_id=verdict_id,
                    created_at=now,
                )
            )
    except IntegrityError:
        return False
    return True


def examples_fingerprint(session: Session, taxonomy_version: str) -> tuple[int, int]:
    """(count, newest id) of a taxonomy version's examples: changes whenever examples do."""
    count, newest = session.execute(
        select(func.count(TrainingExample.id), func.max(TrainingExample.id)).where(
            TrainingExample.taxonomy_version == taxonomy_version
        )
    ).one()
    return int(count or 0), int(newest or 0)


def examples(session: Session, taxonomy_version: str) -> list[tuple[str, str]]:
    """(text, reason) of every example of a taxonomy version, oldest first."""
    query = (
        select(TrainingExample.text, TrainingExample.reason)
        .where(TrainingExample.taxonomy_version == taxonomy_version)
        .order_by(TrainingExample.id)
    )
    return [(text, reason) for text, reason in session.execute(query).all()]


def corrections_not_kept(session: Session, taxonomy_version: str) -> list[tuple[int, str, str]]:
    """(verdict id, verbatim, reason) of people's corrections not yet kept as examples."""
    kept = select(TrainingExample.verdict_id).where(TrainingExample.verdict_id.is_not(None))
    query = (
        select(Verdict.id, Verdict.text, Classification.primary_reason)
        .join(Verdict, Verdict.id == Classification.verdict_id)
        .where(
            Classification.backend == "human",
            Classification.taxonomy_version == taxonomy_version,
            Verdict.id.not_in(kept),
            Verdict.text != "",
        )
        .order_by(Classification.id)
    )
    return [(vid, text, reason) for vid, text, reason in session.execute(query).all()]


def claim_training(
    session: Session, taxonomy_version: str, trained_from: str, count: int, now: datetime
) -> int | None:
    """Insert the row of a new version as the claim of its training; None when another process
    claimed the same examples (then it trains them, and this one loads its result)."""
    row = LearnedModel(
        taxonomy_version=taxonomy_version,
        trained_from=trained_from,
        status="training",
        claimed_at=now,
        example_count=count,
    )
    try:
        with savepoint(session):
            session.add(row)
    except IntegrityError:
        return None
    return row.id


def release_stale_claims(session: Session, now: datetime, after: timedelta) -> int:
    """Forget trainings claimed long ago and never finished (their process died)."""
    result = session.execute(
        delete(LearnedModel).where(
            LearnedModel.status == "training", LearnedModel.claimed_at < now - after
        ),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0) or 0)


def finish_training(
    session: Session,
    version: int,
    *,
    model: bytes | None,
    checksum: str | None,
    metrics: dict[str, Any],
    now: datetime,
) -> None:
    """Store a trained model (or mark its training failed when `model` is None)."""
    row = session.get(LearnedModel, version)
    if row is None:
        return
    row.status = "ready" if model is not None else "failed"
    row.model, row.checksum, row.metrics, row.trained_at = model, checksum, metrics, now


def newest_model_version(session: Session, taxonomy_version: str) -> int | None:
    """The newest ready version of a taxonomy version's model (a cheap check each pass)."""
    query = select(func.max(LearnedModel.id)).where(
        LearnedModel.taxonomy_version == taxonomy_version, LearnedModel.status == "ready"
    )
    return session.scalar(query)


def model_row(session: Session, version: int) -> LearnedModel | None:
    """One stored model version."""
    return session.get(LearnedModel, version)


def last_trained_from(session: Session, taxonomy_version: str) -> str | None:
    """What the newest claimed or finished version was trained from."""
    query = (
        select(LearnedModel.trained_from)
        .where(LearnedModel.taxonomy_version == taxonomy_version)
        .order_by(LearnedModel.id.desc())
    )
    return session.scalars(query).first()


def reasons_in_use(session: Session) -> dict[str, tuple[int, int]]:
    """Every reason stored data uses: verdicts classified with it now, and examples of it."""
    used: dict[str, list[int]] = {}
    query = select(Verdict.reason, func.count()).where(Verdict.reason.is_not(None))
    for reason, n in session.execute(query.group_by(Verdict.reason)):
        used.setdefault(str(reason), [0, 0])[0] = int(n)
    query = select(TrainingExample.reason, func.count()).group_by(TrainingExample.reason)
    for reason, n in session.execute(query):
        used.setdefault(str(reason), [0, 0])[1] = int(n)
    return {reason: (v, e) for reason, (v, e) in used.items()}
