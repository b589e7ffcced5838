"""A Slack message in which the parser found no verbatim, read by the model (issue 16, item 9).

With an LLM configured, intake queues such a message as a job instead of answering "Nothing to
triage" at once (bot.intake.slack_messages). The worker asks the model outside any transaction
(one call: the fields and the classification), then, in one transaction that also closes the job:
a verbatim the model read (checked to be text of the message) is ingested as if the parser had
found it, with the usual consent rules, and marked "read by the model" on the card; without one,
the person gets the usual "Nothing to triage". A failed call waits with the LLM jobs' backoff;
past MAX_ATTEMPTS the message gets "Nothing to triage" too. Either way the thread hears once.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

import storage.cases
import storage.intake
from bot.classification import model_fields
from bot.classification import service as classification
from bot.classification.field_reading import VERBATIM, FieldRequest, FieldsRead
from bot.classification.llm import LLMClassifier, LLMError
from bot.classification.offline import Classification as ClassifierResult
from bot.classification.offline import OfflineClassifier
from bot.intake import slack_messages
from bot.intake.service import ingest, ingest_many
from bot.intake.verdict_input import VerdictInput
from bot.runtime import metrics
from bot.runtime.clock import Clock
from bot.runtime.settings import TeamConfig
from storage.db import transaction
from storage.models import InboundEvent, Verdict

log = logging.getLogger(__name__)

JOB_KIND = slack_messages.READ_JOB
# An LLM that stays down: retried with the LLM jobs' doubling backoff (30 s, 1 min, ... capped at
# an hour), about an hour in all before the person is told "Nothing to triage".
MAX_ATTEMPTS = 8

Answer = tuple[ClassifierResult, FieldsRead]


def process_read_jobs(
    factory: sessionmaker[Session],
    llm: LLMClassifier,
    classifier: OfflineClassifier,
    team: TeamConfig,
    clock: Clock,
    limit: int | None = None,
) -> int:
    """One pass over due reading jobs; returns how many were settled (a case, or the answer)."""
    now = clock.now()
    lease = timedelta(seconds=llm.worst_case_seconds)
    with factory() as session:
        ids = storage.intake.claimable_inbound_ids(
            session, JOB_KIND, now, limit or team.classification.max_concurrency
        )
    done = 0
    for job_id in ids:
        now = clock.now()
        with transaction(factory) as session:
            if not storage.intake.lease_inbound(session, job_id, now, now + lease):
                continue  # another worker took it
            row = session.get(InboundEvent, job_id)
            assert row is not None
            item = _input(row.payload, team)
            attempt = row.attempts
            # An edit may have made it a verdict meanwhile: then there is nothing left to read.
            known = storage.cases.verdict_by_source_key(session, item.key) is not None
        answer: Answer | None = None
        gave_up: str | None = None
        if not known and not item.text.strip() and VERBATIM in item.read_fields:
            try:
                # The call happens here, outside any transaction: no row waits on the model.
                answer = llm.classify_and_read(
                    "", FieldRequest(item.read_fields, item.message), score=item.score
                )
            except Exception as exc:
                gave_up = _failed(factory, job_id, attempt, exc, clock.now())
                if gave_up is None:
                    continue  # retried later
        try:
            with transaction(factory) as session:
                outcome = _settle(session, job_id, item, answer, gave_up, classifier, team, now)
            log.info("intake %s read by the model: %s", item.key, outcome)
            done += 1
        except Exception as exc:  # a database blip: tried again after the backoff
            _failed(factory, job_id, 0, exc, clock.now())
    return done


def _input(payload: dict[str, Any], team: TeamConfig) -> VerdictInput:
    """The message read again, as intake read it (a newer parser may read more of it)."""
    message = dict(payload.get("message") or {})
    source = str(payload.get("source") or slack_messages.KIND)
    return slack_messages.to_input(message, str(payload.get("channel") or ""), team, source)


def _settle(
    session: Session,
    job_id: int,
    item: VerdictInput,
    answer: Answer | None,
    gave_up: str | None,
    classifier: OfflineClassifier,
    team: TeamConfig,
    now: datetime,
) -> str:
    """Close the job and act on the reading, together: a case and its acknowledgement, or the
    "Nothing to triage" acknowledgement, once."""
    if gave_up is not None:
        closed = storage.intake.set_aside_inbound(session, job_id, now, gave_up)
    else:
        closed = storage.intake.finish_inbound(session, job_id, now)
    if not closed:
        return "already settled"  # a worker whose lease ran out did it: nothing twice
    fields = answer[1] if answer is not None else None
    if answer is None or fields is None or fields.verbatim is None:
        # No verbatim read: intake as without a model (empty, or what a newer parser reads).
        result = ingest(session, item, classifier, team, now)
        slack_messages.acknowledge(session, item, result, team, now)
        return result.outcome
    consent = item.consent
    if consent is None and fields.consent_refused:
        consent = False  # a refusal the model read: no contactable case (never a yes)
    taken = replace(item, text=fields.verbatim, consent=consent, read_fields=(), message="")
    # The model's classification of this message is the verdict's: no second call.
    [result] = ingest_many(session, [taken], classifier, team, now, prepared=[answer[0]])
    if result.outcome in ("opened", "joined") and result.case_id and result.verdict_id:
        session.flush()
        case = storage.cases.case_for_update(session, result.case_id)
        verdict = session.get(Verdict, result.verdict_id)
        assert case is not None and verdict is not None
        session.refresh(case)
        model_fields.apply(
            session, case, verdict, replace(fields, consent_refused=False), team, now
        )
    slack_messages.acknowledge(session, taken, result, team, now, model_read=fields)
    return f"{result.outcome} (case {result.case_id})"


def _failed(
    factory: sessionmaker[Session], job_id: int, attempt: int, exc: Exception, now: datetime
) -> str | None:
    """Wait and try again with the LLM jobs' backoff; or, past the limit, the error to give up
    with (the person is then told "Nothing to triage")."""
    kind = getattr(exc, "kind", type(exc).__name__)
    error = f"attempt {attempt}: {type(exc).__name__}: {kind}"
    if attempt:  # the model's call failed (0: the database did)
        metrics.CLASSIFICATIONS.labels("llm", kind).inc()
        hopeless = isinstance(exc, LLMError) and not exc.transient
        if attempt >= (classification.MAX_BAD_ANSWERS if hopeless else MAX_ATTEMPTS):
            log.error("LLM reading job %s given up after %s attempts: %s", job_id, attempt, kind)
            return error
    with transaction(factory) as session:
        row = session.get(InboundEvent, job_id)
        if row is None or row.status != "pending":
            return None
        delay = min(
            classification.RETRY_CAP,
            classification.RETRY_BASE * 2 ** max(0, row.attempts - 1),
        )
        if isinstance(exc, LLMError) and exc.retry_after:
            delay = max(delay, timedelta(seconds=exc.retry_after))
        # The lease doubles as "not before": the job is claimable again once it has passed.
        row.lease_until = now + delay
        row.last_error = error  # the kind only: an answer may quote the message
    seconds = int(delay.total_seconds())
    log.warning("LLM reading job %s failed (%s), retry in %ss: %s", job_id, error, seconds, kind)
    return None
