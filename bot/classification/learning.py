"""The classifier learns: the team's examples are kept, the model is retrained in the background
when they change, stored in the database, and every process loads its newest version.

Training happens in the background pass (the web process's or the worker's), never in a request,
outside any transaction. Two processes that notice the same new examples both try to insert the
new version's row keyed by what it is trained from: one wins and trains, the other loads its result.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

import storage.learning
from bot.classification.learned import LearnedModel, ModelLoadError, checksum, train
from bot.classification.offline import OfflineClassifier
from bot.classification.taxonomy import Taxonomy
from bot.privacy.masking import mask
from bot.runtime.clock import Clock
from storage.db import transaction

__all__ = [
    "base_examples",
    "example_hash",
    "keep_example",
    "load_newest",
    "refresh",
    "train_now",
]

log = logging.getLogger(__name__)

DEVSET_PATH = Path(__file__).resolve().parents[2] / "prompts" / "devset.jsonl"
# A training claimed longer ago than this was lost with its process: another may take it over.
STALE_CLAIM = timedelta(minutes=10)
SOURCES = ("reclassification", "file")


def base_examples(taxonomy: Taxonomy, devset: Path = DEVSET_PATH) -> list[tuple[str, str]]:
    """The shipped examples: the taxonomy's own, and the dev set's training split when its
    reasons are this taxonomy's (a team's own taxonomy starts from its examples alone)."""
    out = [(example, reason.id) for reason in taxonomy.reasons for example in reason.examples]
    try:
        rows = [
            json.loads(line) for line in devset.read_text(encoding="utf-8").splitlines() if line
        ]
    except (OSError, ValueError):
        return out
    if rows and all(row.get("reason") in taxonomy for row in rows):
        out += [(row["text"], row["reason"]) for row in rows if row.get("split", "dev") == "dev"]
    return out


def example_hash(text: str, reason: str) -> str:
    """The dedupe key of an example: the same words with the same reason are kept once."""
    normal = " ".join(text.lower().split())
    return hashlib.sha256(f"{reason}\n{normal}".encode()).hexdigest()


def keep_example(
    session: Session,
    text: str,
    reason: str,
    taxonomy: Taxonomy,
    source: str,
    *,
    now: object,
    verdict_id: int | None = None,
    default_country: str = "FR",
) -> bool:
    """Keep a labelled verbatim (masked: no email or phone) as an example; False if kept already."""
    masked = mask(text, default_country).strip()
    if not masked or reason not in taxonomy:
        return False
    return storage.learning.add_example(
        session,
        text_hash=example_hash(masked, reason),
        text=masked,
        reason=reason,
        taxonomy_version=taxonomy.version,
        source=source,
        now=now,  # type: ignore[arg-type]
        verdict_id=verdict_id,
    )


def load_newest(factory: sessionmaker[Session], taxonomy: Taxonomy) -> LearnedModel | None:
    """The newest stored model of this taxonomy version, or None (then the rules alone classify).
    A model that does not load is logged and skipped."""
    with factory() as session:
        version = storage.learning.newest_model_version(session, taxonomy.version)
        if version is None:
            return None
        row = storage.learning.model_row(session, version)
        data, digest = (row.model, row.checksum) if row is not None else (None, None)
    return _load(version, data, digest)


def _load(version: int, data: bytes | None, digest: str | None) -> LearnedModel | None:
    if data is None:
        log.error("learned model v%s has no stored bytes; classifying with the rules", version)
        return None
    try:
        return LearnedModel.from_bytes(data, digest, version)
    except ModelLoadError as exc:
        log.error(
            "learned model v%s cannot be loaded (%s); classifying with the rules", version, exc
        )
        return None


def train_now(
    factory: sessionmaker[Session],
    taxonomy: Taxonomy,
    clock: Clock,
    *,
    keep_corrections: bool = True,
) -> int | None:
    """Train a new version when the examples changed since the last one; returns the version
    trained, or None (nothing new, no examples, or another process is training them)."""
    version_of_taxonomy = taxonomy.version
    with transaction(factory) as session:
        if keep_corrections:  # corrections made before this process (or before this feature)
            for verdict_id, text, reason in storage.learning.corrections_not_kept(
                session, version_of_taxonomy
            ):
                keep_example(
                    session, text, reason, taxonomy, "reclassification",
                    now=clock.now(), verdict_id=verdict_id,
                )  # fmt: skip
        count, newest_id = storage.learning.examples_fingerprint(session, version_of_taxonomy)
        trained_from = f"{version_of_taxonomy}:{count}:{newest_id}"
        if count == 0 or storage.learning.last_trained_from(session, version_of_taxonomy) == (
            trained_from
        ):
            return None
        storage.learning.release_stale_claims(session, clock.now(), STALE_CLAIM)
        version = storage.learning.claim_training(
            session, version_of_taxonomy, trained_from, count, clock.now()
        )
        if version is None:
            return None
        team = storage.learning.examples(session, version_of_taxonomy)
    # Outside any transaction: training takes seconds and holds no row.
    started = time.perf_counter()
    base = base_examples(taxonomy)
    try:
        model = train(base, team, version_of_taxonomy)
        data: bytes | None = model.to_bytes()
    except Exception as exc:  # e.g. every example has the same reason: keep the rules
        log.warning("learned model v%s not trained: %s", version, exc)
        data = None
    seconds = round(time.perf_counter() - started, 3)
    metrics = {"team_examples": len(team), "base_examples": len(base), "train_seconds": seconds}
    with transaction(factory) as session:
        storage.learning.finish_training(
            session,
            version,
            model=data,
            checksum=checksum(data) if data is not None else None,
            metrics=metrics,
            now=clock.now(),
        )
    if data is not None:
        log.info(
            "learned model v%s trained on %s team examples in %ss", version, len(team), seconds
        )
    return version if data is not None else None


def refresh(factory: sessionmaker[Session], classifier: OfflineClassifier, clock: Clock) -> int:
    """One background step: train when examples changed, then use the newest stored version.
    Returns 1 when a model was trained or loaded, else 0 (cheap when nothing changed)."""
    taxonomy = classifier.taxonomy
    first = not classifier.corrections_kept
    trained = train_now(factory, taxonomy, clock, keep_corrections=first) is not None
    classifier.corrections_kept = True
    with factory() as session:
        newest = storage.learning.newest_model_version(session, taxonomy.version)
    current = classifier.learned.version if classifier.learned is not None else None
    if newest is None or newest == current or newest in classifier.unloadable:
        return int(trained)
    model = load_newest(factory, taxonomy)
    if model is None or model.version != newest:
        classifier.unloadable.add(newest)  # logged once, not retried every pass
        return int(trained)
    classifier.learned = model  # one attribute swap: requests see the old or the new model
    log.info("using learned model v%s", model.version)
    return 1
