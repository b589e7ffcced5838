"""Classifying verdicts and storing the results; the one place that decides which classifier runs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.classify_offline import Classification as ClassifierResult
from bot.classify_offline import OfflineClassifier
from storage.models import Classification


def classify_for_intake(
    classifier: OfflineClassifier, text: str, score: int | None
) -> ClassifierResult:
    """The result a new verdict opens its case with (never waits on a network)."""
    return classifier.classify(text, score=score)


def store(
    session: Session, verdict_id: int, result: ClassifierResult, now: datetime
) -> Classification:
    """Record a classifier's result for a verdict, with what produced it."""
    row = Classification(
        verdict_id=verdict_id,
        backend=result.backend,
        model=result.model,
        prompt_version=result.prompt_version,
        taxonomy_version=result.taxonomy_version,
        primary_reason=result.primary_reason,
        secondary_reasons=list(result.secondary_reasons),
        confidence=result.confidence,
        sentiment=result.sentiment,
        severity=result.severity,
        language=result.language,
        summary=result.summary,
        suggested_action=result.suggested_action,
        provisional=result.provisional,
        created_at=now,
    )
    session.add(row)
    return row
