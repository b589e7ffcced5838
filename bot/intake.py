"""Intake: a verdict arrives, is recorded once, classified, and opens or joins its case."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot import cases, classification, outbox
from bot.classify_offline import OfflineClassifier
from bot.clock import Clock
from bot.config import TeamConfig
from bot.i18n import t
from bot.render import text_message
from bot.slack_gateway import BotIdentity
from bot.verdict_parsing import parse_verdict
from storage import queries
from storage.db import transaction
from storage.models import Customer, InboundEvent, Verdict

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)
MAX_ATTEMPTS = 5
# Message subtypes that carry a verdict: people, and survey tools' bots.
ACCEPTED_SUBTYPES = (None, "bot_message")


@dataclass(frozen=True)
class VerdictInput:
    """A verdict as a source handed it over, before storage."""

    source: str
    source_key: str
    text: str
    customer_ref: str | None
    ref_kind: str | None
    status: str | None = None
    channel: str | None = None
    score: int | None = None
    consent: bool | None = None
    churned_on: str | None = None
    origin: str | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None
    author_id: str | None = None


@dataclass(frozen=True)
class IntakeResult:
    """What became of a verdict: opened, joined, duplicate, no_consent or empty."""

    outcome: str
    case_id: int | None = None
    verdict_id: int | None = None


def accepts_slack_message(event: dict[str, Any], team: TeamConfig, bot: BotIdentity) -> bool:
    """True for a new top-level message in the intake channel that is not the bot's own."""
    if event.get("type") != "message" or event.get("channel") != team.channels.intake:
        return False
    if event.get("subtype") not in ACCEPTED_SUBTYPES:
        return False
    if event.get("user") == bot.user_id or (bot.bot_id and event.get("bot_id") == bot.bot_id):
        return False
    thread_ts = event.get("thread_ts")
    return not (thread_ts and thread_ts != event.get("ts"))


def record_slack_event(
    factory: sessionmaker[Session],
    body: dict[str, Any],
    team: TeamConfig,
    bot: BotIdentity,
    now: datetime,
) -> bool:
    """Record an intake message before Slack gets its ack; False when ignored or already recorded."""
    event = body.get("event") or {}
    if not accepts_slack_message(event, team, bot):
        return False
    key = f"slack-event:{body.get('event_id') or event.get('channel')}:{event.get('ts')}"
    with transaction(factory) as session:
        return queries.insert_inbound(session, key, "slack_message", body, now)


def slack_message_text(event: dict[str, Any]) -> str:
    """The text of a message, including what survey tools put in attachments and blocks."""
    parts: list[str] = [str(event.get("text") or "")]
    if not parts[0].strip():
        for block in event.get("blocks") or []:
            text = (block.get("text") or {}).get("text")
            if text:
                parts.append(str(text))
            for item in block.get("fields") or []:
                parts.append(str(item.get("text", "")))
    for attachment in event.get("attachments") or []:
        for name in ("pretext", "title", "text"):
            if attachment.get(name):
                parts.append(str(attachment[name]))
        for item in attachment.get("fields") or []:
            parts.append(f"{item.get('title', '')}: {item.get('value', '')}")
    return "\n".join(part for part in parts if part.strip())


def from_slack_message(event: dict[str, Any], team: TeamConfig) -> VerdictInput:
    """Read a verdict out of an intake-channel message."""
    parsed = parse_verdict(slack_message_text(event), team.default_country)
    return VerdictInput(
        source="slack_message",
        source_key=f"slack:{event.get('channel')}:{event.get('ts')}",
        text=parsed.text,
        customer_ref=parsed.customer.key if parsed.customer else None,
        ref_kind=parsed.customer.kind if parsed.customer else None,
        status=parsed.status,
        channel=parsed.channel,
        score=parsed.score,
        consent=parsed.consent,
        churned_on=parsed.churned_on,
        origin=parsed.source,
        slack_channel=event.get("channel"),
        slack_ts=event.get("ts"),
        author_id=event.get("user") or event.get("bot_id"),
    )


def _customer(session: Session, item: VerdictInput, now: datetime) -> Customer:
    ref = item.customer_ref or f"unidentified:{item.source_key}"
    customer = queries.customer_by_ref(session, ref)
    if customer is None:
        customer = Customer(ref=ref, ref_kind=item.ref_kind or "unidentified", created_at=now)
        session.add(customer)
    if item.status:
        customer.status = item.status
    if item.churned_on:
        customer.churned_on = item.churned_on
    session.flush()
    return customer


def ingest(
    session: Session,
    item: VerdictInput,
    classifier: OfflineClassifier,
    team: TeamConfig,
    now: datetime,
) -> IntakeResult:
    """Store one verdict, classify it, and open or join its customer's case."""
    existing = queries.verdict_by_source_key(session, item.source_key)
    if existing is not None:
        return IntakeResult("duplicate", existing.case_id, existing.id)
    if not item.text.strip():
        return IntakeResult("empty")
    customer = _customer(session, item, now)
    result = classification.classify_for_intake(classifier, item.text, item.score)
    verdict = Verdict(
        source_key=item.source_key,
        source=item.source,
        origin=(item.origin or "")[:255] or None,
        customer_id=customer.id,
        channel=item.channel or "unknown",
        score=item.score,
        text=item.text,
        language=result.language,
        consent=item.consent is not False,
        received_at=now,
        slack_channel=item.slack_channel,
        slack_ts=item.slack_ts,
        author_id=item.author_id,
    )
    session.add(verdict)
    session.flush()
    classification.store(session, verdict.id, result, now)
    if not verdict.consent:
        return IntakeResult("no_consent", None, verdict.id)
    case, opened = cases.open_or_join(session, customer, verdict, result, team, now)
    return IntakeResult("opened" if opened else "joined", case.id, verdict.id)


def _acknowledge(
    session: Session, item: VerdictInput, result: IntakeResult, team: TeamConfig, now: datetime
) -> None:
    """Tell the intake thread what became of the message, so nobody wonders."""
    if item.slack_channel is None or result.outcome == "duplicate":
        return
    lang, triage = team.language, team.channels.triage
    texts = {
        "opened": t(lang, "intake_opened", id=result.case_id, channel=triage),
        "joined": t(lang, "intake_joined", id=result.case_id, channel=triage),
        "no_consent": t(lang, "intake_no_consent"),
        "empty": t(lang, "intake_empty"),
    }
    outbox.enqueue_message(
        session, item.slack_channel, text_message(texts[result.outcome]), now, item.slack_ts
    )


def process_inbound(
    factory: sessionmaker[Session],
    classifier: OfflineClassifier,
    team: TeamConfig,
    clock: Clock,
    limit: int = 50,
) -> int:
    """Turn recorded intake messages into verdicts and cases; returns how many were done."""
    with factory() as session:
        ids = queries.claimable_inbound_ids(session, "slack_message", clock.now(), limit)
    done = 0
    for inbound_id in ids:
        now = clock.now()
        with transaction(factory) as session:
            if not queries.lease_inbound(session, inbound_id, now, now + LEASE):
                continue
        try:
            with transaction(factory) as session:
                row = session.get(InboundEvent, inbound_id)
                assert row is not None
                item = from_slack_message(row.payload.get("event") or {}, team)
                result = ingest(session, item, classifier, team, now)
                _acknowledge(session, item, result, team, now)
                row.status, row.processed_at, row.lease_until = "done", now, None
                log.info("intake %s: %s (case %s)", row.dedupe_key, result.outcome, result.case_id)
            done += 1
        except Exception as exc:  # one bad message must not stop the others; it is retried
            _failed(factory, inbound_id, exc)
    return done


def _failed(factory: sessionmaker[Session], inbound_id: int, exc: Exception) -> None:
    with transaction(factory) as session:
        row = session.get(InboundEvent, inbound_id)
        if row is None:
            return
        row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        row.lease_until = None
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
            log.error(
                "intake %s failed %s times, set aside: %s",
                row.dedupe_key,
                row.attempts,
                row.last_error,
                exc_info=exc,
            )
        else:
            log.warning(
                "intake %s failed (attempt %s), will retry: %s",
                row.dedupe_key,
                row.attempts,
                row.last_error,
            )
