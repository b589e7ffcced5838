"""Classifying verdicts and storing the results; the one place that decides which classifier runs.

Intake classifies offline at once (never waits on a network). With an LLM configured, that result
is stored as provisional and an `llm_classify` job is queued in the same transaction; the worker
calls the LLM outside any transaction, then stores its result, updates the case and refreshes the
card in one transaction. A failed call keeps the offline result and is retried with capped
backoff; a person's correction always wins over any classifier.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

import storage.cases
import storage.classifications
import storage.intake
import storage.stats
import storage.writes
from bot.cases import service as cases
from bot.classification import learning, model_fields
from bot.classification.field_reading import FieldRequest, FieldsRead
from bot.classification.llm import LLMClassifier, LLMError
from bot.classification.offline import Classification as ClassifierResult
from bot.classification.offline import OfflineClassifier
from bot.classification.taxonomy import Taxonomy
from bot.classification.wording import suggested_action
from bot.privacy.masking import text_hash
from bot.runtime import metrics
from bot.runtime.clock import Clock
from bot.runtime.settings import TeamConfig
from bot.slack import outbox
from bot.slack.blocks import text_message
from bot.slack.i18n import t
from storage.db import transaction
from storage.models import Classification, InboundEvent, Verdict

log = logging.getLogger(__name__)

JOB_KIND = "llm_classify"
HUMAN = "human"
# Backoff of a job whose LLM call failed (after the SDK's own retries): doubling, capped.
RETRY_BASE = timedelta(seconds=30)
RETRY_CAP = timedelta(hours=1)
# An answer the LLM cannot give for this verbatim (refusal, malformed) is tried this many times,
# then set aside: the offline result stays, and the case is flagged for a person to review.
MAX_BAD_ANSWERS = 3


class Classifier(Protocol):
    """Anything that classifies one verbatim (offline or LLM)."""

    def classify(
        self, text: str, *, score: int | None = None, scale: str | None = None
    ) -> ClassifierResult: ...


def classify_for_intake(
    classifier: OfflineClassifier, text: str, score: int | None
) -> ClassifierResult:
    """The result a new verdict opens its case with (never waits on a network).

    Provisional when the runtime has an LLM (the offline classifier was built with
    `provisional=True`): `after_intake` then queues the LLM pass.
    """
    return classifier.classify(text, score=score)


def store(
    session: Session,
    verdict: Verdict,
    result: ClassifierResult,
    now: datetime,
    actor: str | None = None,
) -> None:
    """Record a classifier's result for a verdict, with what produced it."""
    cached = result.backend == "llm" and not result.prompt_tokens and not result.completion_tokens
    metrics.CLASSIFICATIONS.labels(result.backend, "cached" if cached else "ok").inc()
    row = dict(
        verdict_id=verdict.id,
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
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        cost_usd=result.cost_usd,
        text_hash=result.text_hash,
        cues=list(result.cues),
        facts=list(result.facts),
        actor=actor,
        created_at=now,
    )
    storage.writes.add_classification(session, row)
    if verdict.reason != result.primary_reason:  # else counted already (intake counts new ones)
        storage.stats.count_reason_change(session, verdict, result.primary_reason)


def reclassify_edited(
    session: Session, classifier: OfflineClassifier, verdict: Verdict, now: datetime
) -> ClassifierResult:
    """A verdict whose text changed (an edited message, a survey response updated): classified
    again as at intake, its LLM pass queued again when there is one."""
    result = classify_for_intake(classifier, verdict.text, verdict.score)
    verdict.language = result.language
    store(session, verdict, result, now)
    after_intake(session, verdict, result, now)
    session.flush()
    return result


def after_intake(
    session: Session,
    verdict: Verdict,
    result: ClassifierResult,
    now: datetime,
    read: FieldRequest | None = None,
) -> None:
    """Queue the LLM pass for a provisional result, in the intake's own transaction; `read`:
    the fields the parser left unknown, for the model to read from the whole message."""
    if not result.provisional:
        return
    payload: dict[str, object] = {"verdict_id": verdict.id}
    if read is not None and read.fields:
        payload["read"] = read.to_payload()
    if not storage.intake.insert_inbound(
        session, f"{JOB_KIND}:{verdict.id}", JOB_KIND, payload, now
    ):
        # The verdict was classified before and its text changed (an edited message): one more
        # pass, keyed by the new text so a redelivered edit does not queue it twice.
        digest = text_hash(verdict.text)[:16]
        storage.intake.insert_inbound(
            session, f"{JOB_KIND}:{verdict.id}:{digest}", JOB_KIND, payload, now
        )


def result_from_row(row: Classification) -> ClassifierResult:
    """A stored classification as the classifiers' result type."""
    return ClassifierResult(
        primary_reason=row.primary_reason,
        secondary_reasons=tuple(row.secondary_reasons or ()),
        confidence=row.confidence,
        sentiment=row.sentiment,
        severity=row.severity,
        language=row.language,
        summary=row.summary,
        suggested_action=row.suggested_action or "",
        backend=row.backend,
        model=row.model,
        prompt_version=row.prompt_version,
        taxonomy_version=row.taxonomy_version,
        provisional=row.provisional,
        cues=tuple(row.cues or ()),
        facts=tuple(row.facts or ()),
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        cost_usd=row.cost_usd,
        text_hash=row.text_hash,
    )


# --------------------------------------------------------------------------- the LLM jobs


@dataclass(frozen=True)
class _Job:
    job_id: int
    verdict_id: int | None
    text: str
    score: int | None
    read: FieldRequest | None = None


def process_llm_jobs(
    factory: sessionmaker[Session],
    llm: LLMClassifier,
    team: TeamConfig,
    clock: Clock,
    limit: int | None = None,
) -> int:
    """One pass over due `llm_classify` jobs, up to max_concurrency calls at once; returns done."""
    concurrency = team.classification.max_concurrency
    now = clock.now()
    lease = timedelta(seconds=llm.worst_case_seconds)
    with factory() as session:
        ids = storage.intake.claimable_inbound_ids(session, JOB_KIND, now, limit or concurrency)
    jobs: list[_Job] = []
    for job_id in ids:
        with transaction(factory) as session:
            if not storage.intake.lease_inbound(session, job_id, now, now + lease):
                continue  # another worker took it
            row = session.get(InboundEvent, job_id)
            assert row is not None
            verdict = session.get(Verdict, int(row.payload.get("verdict_id") or 0))
            if verdict is None:
                jobs.append(_Job(job_id, None, "", None))
            else:
                read = FieldRequest.from_payload(row.payload.get("read"))
                jobs.append(_Job(job_id, verdict.id, verdict.text, verdict.score, read))
    if not jobs:
        return 0

    # One call per distinct masked verbatim: identical texts in this batch share the answer,
    # and texts answered before are read back from the database (the cache) at no cost.
    # A job that also reads fields asks about its own message: never shared, never cached.
    groups: dict[str, list[_Job]] = {}
    for job in jobs:
        if job.verdict_id is not None:
            key = f"read:{job.job_id}" if job.read else llm.prepare(job.text)[1]
            groups.setdefault(key, []).append(job)
    outcomes: dict[int, ClassifierResult | Exception] = {}
    fields_read: dict[int, FieldsRead] = {}

    def run(key: str) -> None:
        first = groups[key][0]
        if first.read is not None:
            try:
                result, fields_read[first.job_id] = llm.classify_and_read(
                    first.text, first.read, score=first.score
                )
                outcomes[first.job_id] = result
            except Exception as exc:
                outcomes[first.job_id] = exc
            return
        try:
            # Read back only an answer given to the prompt this call would use now (with the
            # team's similar examples or without).
            version = llm.prompt_version_for(llm.prepare(first.text)[0])
            result = _cached(factory, llm, key, version) or llm.classify(first.text)
        except Exception as exc:  # every job of the group is retried later; the cause is kept
            for job in groups[key]:
                outcomes[job.job_id] = exc
            return
        for n, job in enumerate(groups[key]):
            shared = result if n == 0 else _free(result)
            outcomes[job.job_id] = LLMClassifier.with_score(shared, job.score, None)

    # The calls happen here, outside any transaction: no row is locked while the LLM thinks.
    with ThreadPoolExecutor(max_workers=min(concurrency, max(1, len(groups)))) as pool:
        list(pool.map(run, groups))

    done = 0
    for job in jobs:
        outcome = outcomes.get(job.job_id)
        if job.verdict_id is None:  # the verdict was erased meanwhile: nothing left to do
            with transaction(factory) as session:
                storage.intake.finish_inbound(session, job.job_id, clock.now())
            done += 1
        elif isinstance(outcome, ClassifierResult):
            try:
                _apply(factory, job, outcome, team, clock.now(), fields_read.get(job.job_id))
                done += 1
            except Exception as exc:  # a database blip: the LLM answer is cached, retry cheaply
                _failed(factory, job, exc, team, clock.now())
        else:
            _failed(factory, job, outcome or RuntimeError("no outcome"), team, clock.now())
    return done


def _free(result: ClassifierResult) -> ClassifierResult:
    return replace(result, prompt_tokens=0, completion_tokens=0, cost_usd=0.0)


def _cached(
    factory: sessionmaker[Session], llm: LLMClassifier, key: str, version: str
) -> ClassifierResult | None:
    with factory() as session:
        row = storage.classifications.cached_llm_classification(
            session, key, llm.model, version, llm.taxonomy.version
        )
        return _free(result_from_row(row)) if row is not None else None


def _apply(
    factory: sessionmaker[Session],
    job: _Job,
    result: ClassifierResult,
    team: TeamConfig,
    now: datetime,
    fields: FieldsRead | None = None,
) -> None:
    """Store the LLM's result, update the case and its card, and close the job: all or nothing.
    Fields the model read fill only what the parser left unknown (model_fields.apply)."""
    assert job.verdict_id is not None
    with transaction(factory) as session:
        if not storage.intake.finish_inbound(session, job.job_id, now):
            return  # a worker whose lease ran out already did it: nothing twice
        verdict = session.get(Verdict, job.verdict_id)
        if verdict is None:
            return
        case = storage.cases.case_for_update(session, verdict.case_id) if verdict.case_id else None
        if case is not None and storage.classifications.case_corrected_by_person(session, case.id):
            log.info("verdict %s: a person set the reason; LLM result not applied", verdict.id)
            if fields is not None and fields.names():  # the fields still count (a refusal!)
                model_fields.apply(session, case, verdict, fields, team, now)
                outbox.enqueue_card(session, case, now)
            return
        previous = storage.classifications.latest_classification(session, verdict.id)
        store(session, verdict, result, now)
        verdict.language = result.language
        session.flush()
        if case is None:
            return
        session.expire(verdict, ["classifications"])
        if fields is not None and fields.names():
            model_fields.apply(session, case, verdict, fields, team, now)
        cases.refresh_from_verdicts(session, case, team)
        storage.cases.add_event(
            session,
            case.id,
            "reclassified",
            "system",
            now,
            verdict_id=verdict.id,
            backend=result.backend,
            model=result.model,
            confidence=result.confidence,
            **{"from": previous.primary_reason if previous else None, "to": result.primary_reason},
        )
        outbox.enqueue_card(session, case, now)


def _failed(
    factory: sessionmaker[Session], job: _Job, exc: Exception, team: TeamConfig, now: datetime
) -> None:
    """Keep the provisional result and try again later; set a hopeless job aside, loudly."""
    kind = getattr(exc, "kind", type(exc).__name__)
    metrics.CLASSIFICATIONS.labels("llm", kind).inc()
    with transaction(factory) as session:
        row = session.get(InboundEvent, job.job_id)
        if row is None or row.status != "pending":
            return
        row.last_error = f"attempt {row.attempts}: {type(exc).__name__}: {exc}"[:2000]
        hopeless = isinstance(exc, LLMError) and not exc.transient
        if hopeless and row.attempts >= MAX_BAD_ANSWERS:
            row.status, row.lease_until, row.processed_at = "failed", None, now
            log.error("LLM job %s set aside after %s attempts: %s", row.id, row.attempts, kind)
            _flag_for_review(session, job, row.last_error, now)
            return
        delay = min(RETRY_CAP, RETRY_BASE * 2 ** max(0, row.attempts - 1))
        if isinstance(exc, LLMError) and exc.retry_after:
            delay = max(delay, timedelta(seconds=exc.retry_after))
        # The lease doubles as "not before": the job is claimable again once it has passed.
        row.lease_until = now + delay
        log.warning(
            "LLM job %s failed (attempt %s), offline result kept, retry in %ss: %s",
            row.id,
            row.attempts,
            int(delay.total_seconds()),
            kind,  # the kind only: an answer quoted in the message may repeat the verbatim
        )


def _flag_for_review(session: Session, job: _Job, error: str, now: datetime) -> None:
    verdict = session.get(Verdict, job.verdict_id) if job.verdict_id else None
    if verdict is None or verdict.case_id is None:
        return
    case = storage.cases.case_for_update(session, verdict.case_id)
    if case is None:
        return
    case.needs_review = True
    storage.cases.add_event(
        session, case.id, "classification_failed", "system", now, verdict_id=verdict.id, error=error
    )
    outbox.enqueue_card(session, case, now)


# --------------------------------------------------------------------------- human correction


def reclassify_by_person(
    session: Session,
    case_id: int,
    reason_id: str,
    user_id: str,
    now: datetime,
    *,
    team: TeamConfig,
    taxonomy: Taxonomy,
) -> str | None:
    """A person sets a case's reason; returns what to tell them when it cannot be done, else None.

    The correction is stored on the case's newest verdict (backend "human", confidence 1), wins
    over any classifier from then on, and becomes an example for `triage eval`.
    """
    lang = team.language
    case = storage.cases.case_for_update(session, case_id)
    verdict = storage.classifications.newest_verdict(session, case_id) if case is not None else None
    if case is None or verdict is None:
        return t(lang, "reclassify_missing")
    if reason_id not in taxonomy:
        return t(lang, "reclassify_unknown", reason=reason_id)
    previous = storage.classifications.latest_classification(session, verdict.id)
    settled = previous is not None and not previous.provisional and not case.needs_review
    if case.primary_reason == reason_id and settled:
        return t(lang, "reclassify_same", reason=taxonomy.label(reason_id, lang))
    former = case.customer.status == "former"
    result = ClassifierResult(
        primary_reason=reason_id,
        secondary_reasons=tuple(
            r for r in (previous.secondary_reasons if previous else []) if r != reason_id
        ),
        confidence=1.0,
        sentiment=previous.sentiment if previous else "neutral",
        severity=previous.severity if previous else case.severity,
        language=previous.language if previous else (verdict.language or "und"),
        summary=previous.summary if previous else "",
        suggested_action=suggested_action(taxonomy, reason_id, lang, former=former),
        backend=HUMAN,
        model=HUMAN,
        prompt_version=HUMAN,
        taxonomy_version=taxonomy.version,
        provisional=False,
        facts=tuple(previous.facts or ()) if previous else (),
    )
    store(session, verdict, result, now, actor=user_id)
    old = case.primary_reason
    case.primary_reason = reason_id
    case.needs_review = False
    storage.cases.add_event(
        session,
        case.id,
        "reclassified",
        user_id,
        now,
        verdict_id=verdict.id,
        backend=HUMAN,
        **{"from": old, "to": reason_id},
    )
    reply = t(
        lang,
        "reclassified_by",
        user=user_id,
        old=taxonomy.label(old, lang),
        new=taxonomy.label(reason_id, lang),
    )
    # The correction teaches the classifier: kept (masked) as an example for its next training.
    if learning.keep_example(
        session, verdict.text, reason_id, taxonomy, "reclassification",
        now=now, verdict_id=verdict.id, default_country=team.default_country,
    ):  # fmt: skip
        reply += t(lang, "reclassified_kept")
    outbox.enqueue_reply(session, case, text_message(reply), now)
    outbox.enqueue_card(session, case, now)
    return None


# --------------------------------------------------------------------------- bulk


def classify_batch(
    classifier: Classifier,
    texts: Sequence[str],
    *,
    scores: Sequence[int | None] | None = None,
    max_concurrency: int = 4,
    fallback: Classifier | None = None,
    on_done: Callable[[int], None] | None = None,
) -> list[ClassifierResult | Exception]:
    """Classify many verbatims in order, at most `max_concurrency` at once (LLM calls wait on I/O).

    A failed item falls back to `fallback` when given, else its exception takes its place.
    """
    scores = list(scores) if scores is not None else [None] * len(texts)

    def one(i: int) -> ClassifierResult | Exception:
        try:
            return classifier.classify(texts[i], score=scores[i])
        except LLMError as exc:
            if fallback is None:
                return exc
            log.warning("item %s: LLM failed (%s), offline result used", i, exc)
            return fallback.classify(texts[i], score=scores[i])
        finally:
            if on_done is not None:
                on_done(i)

    with ThreadPoolExecutor(max_workers=max(1, max_concurrency)) as pool:
        return list(pool.map(one, range(len(texts))))
