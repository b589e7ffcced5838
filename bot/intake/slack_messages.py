"""Verdicts from Slack messages: posts, shares and survey bots in the intake channel, their edits
and deletions, and CSV/JSONL files dropped there. Events are recorded before Slack's ack and
processed by the worker, once each."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

import storage.cases
import storage.intake
from bot.cases import service as cases
from bot.classification import service as classification
from bot.classification.field_reading import VERBATIM, FieldsRead
from bot.classification.offline import OfflineClassifier
from bot.intake import importer
from bot.intake.file_rows import RowError
from bot.intake.parsing import ParsedVerdict, load_vocabulary, message_text, parse_message
from bot.intake.service import IntakeResult, ingest
from bot.intake.verdict_input import VerdictInput, fields_to_read, from_parsed
from bot.privacy.masking import text_hash
from bot.runtime import logs
from bot.runtime.clock import Clock
from bot.runtime.settings import TeamConfig
from bot.slack import outbox
from bot.slack.blocks import escape, text_message
from bot.slack.gateway import BotIdentity, SlackDeliveryError, SlackGateway
from bot.slack.i18n import t
from storage.db import transaction
from storage.models import InboundEvent, Verdict

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)
MAX_ATTEMPTS = 5
KIND = "slack_message"
# A message with no verbatim the parser found, for the model to read (bot.intake.model_reading).
READ_JOB = "llm_read_message"
# Message subtypes that matter in the intake channel: people, survey bots, shares, files,
# and the edits and deletions of those.
NEW_SUBTYPES = (None, "bot_message", "file_share", "thread_broadcast")
CHANGE_SUBTYPES = ("message_changed", "message_deleted")
IMPORTABLE = (".csv", ".jsonl", ".ndjson", ".tsv")


def _author(message: dict[str, Any]) -> tuple[str | None, str | None]:
    return message.get("user"), message.get("bot_id")


def accepts(event: dict[str, Any], team: TeamConfig, bot: BotIdentity) -> bool:
    """True for a message event in the intake channel that may carry or change a verdict."""
    if event.get("type") != "message" or event.get("channel") != team.channels.intake:
        return False
    subtype = event.get("subtype")
    if subtype in CHANGE_SUBTYPES:
        message = event.get("message") or event.get("previous_message") or {}
    elif subtype in NEW_SUBTYPES:
        message = event
    else:
        return False
    if not isinstance(message, dict):  # a payload the inbound checks let through: not ours
        return False
    user, bot_id = _author(message)
    if user == bot.user_id or (bot.bot_id and bot_id == bot.bot_id):
        return False
    thread_ts = message.get("thread_ts")
    return not (thread_ts and thread_ts != message.get("ts") and subtype != "thread_broadcast")


def record_event(
    factory: sessionmaker[Session],
    body: dict[str, Any],
    team: TeamConfig,
    bot: BotIdentity,
    now: datetime,
) -> bool:
    """Record an intake event before Slack gets its ack; False when ignored or already recorded."""
    event = body.get("event") or {}
    if not accepts(event, team, bot):
        return False
    key = f"slack-event:{body.get('event_id') or event.get('channel')}:{event.get('event_ts') or event.get('ts')}"
    with transaction(factory) as session:
        return storage.intake.insert_inbound(session, key, KIND, body, now)


def to_input(
    message: dict[str, Any], channel: str, team: TeamConfig, source: str = "slack_message"
) -> VerdictInput:
    """Read a verdict out of a Slack message. Its Slack address is its dedup key, whatever the source."""
    vocabulary = load_vocabulary(team.intake.vocabulary)
    parsed = parse_message(message, team.default_country, vocabulary)
    read = fields_to_read(parsed, message_text(message))
    return from_parsed(
        parsed,
        source,
        source_key=f"slack:{channel}:{message.get('ts')}",
        slack_channel=channel,
        slack_ts=message.get("ts"),
        author_id=message.get("user") or message.get("bot_id"),
        extra=read_summary(parsed),
        read_fields=read,
        message=message_text(message) if read else "",
    )


def read_summary(parsed: ParsedVerdict) -> dict[str, str]:
    """What the parser read, kept with the input so the acknowledgement can say it."""
    out = {"unparsed": "\n".join(parsed.unparsed[:5])}
    if parsed.customer is not None:
        out["customer"] = parsed.customer.value
    for name in ("status", "churned_on", "channel"):
        value = getattr(parsed, name)
        if value:
            out[name] = str(value)
    if parsed.score is not None:
        out["score"] = str(parsed.score)
    return out


def _what_was_read(item: VerdictInput, lang: str) -> str:
    """`customer 12345678, consent yes, former`: so the person who forwarded it can correct it."""
    extra = item.extra
    consent = {True: "yes", False: "no", None: "unknown"}[item.consent]
    parts = [
        t(lang, "intake_read_customer", ref=extra["customer"])
        if "customer" in extra
        else t(lang, "intake_read_no_customer"),
        t(lang, f"intake_read_consent_{consent}"),
    ]
    if "status" in extra:
        status = t(lang, f"status_{extra['status']}")
        if "churned_on" in extra:
            status += f" ({extra['churned_on']})"
        parts.append(status)
    if "score" in extra:
        parts.append(t(lang, "score", score=extra["score"]))
    return t(lang, "intake_read", fields=", ".join(parts))


def _model_read(fields: FieldsRead, lang: str) -> str:
    """What the model read where the parser could not, the customer's words quoted."""
    parts = []
    if fields.verbatim is not None:
        quote = " ".join(fields.verbatim.split())
        quote = quote[:150] + ("…" if len(quote) > 150 else "")
        parts.append(t(lang, "intake_model_read_verbatim", quote=escape(quote)))
    if fields.reference is not None:
        parts.append(t(lang, "intake_read_customer", ref=fields.reference.value))
    if fields.consent_refused:
        parts.append(t(lang, "intake_read_consent_no"))
    if fields.status is not None:
        parts.append(t(lang, f"status_{fields.status}"))
    if fields.churned_on is not None:
        parts.append(fields.churned_on)
    return t(lang, "intake_model_read", fields=", ".join(parts))


def acknowledge(
    session: Session,
    item: VerdictInput,
    result: IntakeResult,
    team: TeamConfig,
    now: datetime,
    model_read: FieldsRead | None = None,
) -> None:
    """Tell the intake thread what became of the message, so nobody wonders; `model_read`: what
    the model read where the parser could not (bot.intake.model_reading)."""
    if item.slack_channel is None or result.outcome == "duplicate":
        return
    lang, triage = team.language, team.channels.triage
    texts = {
        "opened": t(lang, "intake_opened", id=result.case_id, channel=triage),
        "joined": t(lang, "intake_joined", id=result.case_id, channel=triage),
        "no_consent": t(lang, "intake_no_consent"),
        "empty": t(lang, "intake_empty"),
    }
    text = texts[result.outcome]
    if item.extra:
        text += "\n" + _what_was_read(item, lang)
        if model_read is not None and model_read.names():
            text += "\n" + _model_read(model_read, lang)
        if item.consent is None and result.outcome in ("opened", "joined"):
            text += "\n" + t(lang, "intake_consent_not_stated")
    if result.outcome == "empty" and item.extra.get("unparsed"):
        seen = "\n".join(f"> {line[:150]}" for line in item.extra["unparsed"].splitlines())
        text += "\n" + t(lang, "intake_empty_seen", lines=seen)
    outbox.enqueue_message(session, item.slack_channel, text_message(text), now, item.slack_ts)


def _take(
    session: Session,
    message: dict[str, Any],
    item: VerdictInput,
    classifier: OfflineClassifier,
    team: TeamConfig,
    now: datetime,
) -> str:
    """Ingest a new message and acknowledge it; or, when the parser found no verbatim where the
    model may find one (an LLM is configured), queue the model's reading (bot.intake.model_reading):
    that job ingests and acknowledges, once."""
    if classifier.provisional and not item.text.strip() and VERBATIM in item.read_fields:
        payload = {"message": message, "channel": item.slack_channel, "source": item.source}
        # Keyed by the message's text too: an edit that still has no verbatim is read again.
        key = f"{READ_JOB}:{item.key}:{text_hash(item.message)[:16]}"
        storage.intake.insert_inbound(session, key, READ_JOB, payload, now)
        return "queued for the model to read"
    result = ingest(session, item, classifier, team, now)
    acknowledge(session, item, result, team, now)
    return f"{result.outcome} (case {result.case_id})"


def _edited(
    session: Session,
    event: dict[str, Any],
    classifier: OfflineClassifier,
    team: TeamConfig,
    now: datetime,
) -> str:
    message = event.get("message") or {}
    previous = event.get("previous_message") or {}
    channel = str(event.get("channel"))
    if message_text(message) == message_text(previous):
        return "unchanged"  # Slack also sends message_changed for unfurls and thread counts
    item = to_input(message, channel, team)
    verdict = storage.cases.verdict_by_source_key(session, item.key)
    if verdict is None:  # an empty post that now has text
        return _take(session, message, item, classifier, team, now)
    if verdict.case_id is None:
        return "no_case"
    case = storage.cases.case_for_update(session, verdict.case_id)
    assert case is not None
    lang = team.language
    if case.status != "open" or storage.cases.human_events(session, case.id) > 0:
        storage.cases.add_event(
            session, case.id, "edit_ignored", "system", now, verdict_id=verdict.id
        )
        outbox.enqueue_reply(session, case, text_message(t(lang, "verdict_edit_ignored")), now)
        return "edit_ignored"
    _apply_edit(session, verdict, item, classifier, team, now)
    storage.cases.add_event(
        session, case.id, "verdict_edited", "system", now, verdict_id=verdict.id
    )
    cases.refresh_from_verdicts(session, case, team)
    outbox.enqueue_reply(session, case, text_message(t(lang, "verdict_edited")), now)
    outbox.enqueue_card(session, case, now)
    return "edited"


def _apply_edit(
    session: Session,
    verdict: Verdict,
    item: VerdictInput,
    classifier: OfflineClassifier,
    team: TeamConfig,
    now: datetime,
) -> None:
    verdict.text = item.text
    verdict.edited_at = now
    for name in ("channel", "score", "scale", "origin"):
        value = getattr(item, name)
        if value is not None:
            setattr(verdict, name, value)
    classification.reclassify_edited(session, classifier, verdict, now)


def _deleted(session: Session, event: dict[str, Any], team: TeamConfig, now: datetime) -> str:
    channel = str(event.get("channel"))
    verdict = storage.cases.verdict_by_source_key(
        session, f"slack:{channel}:{event.get('deleted_ts')}"
    )
    if verdict is None:
        # A message still waiting for the model to read it: never turned into a case now.
        key = f"{READ_JOB}:slack:{channel}:{event.get('deleted_ts')}:"
        if storage.intake.finish_pending_like(session, READ_JOB, key, now):
            return "deleted before the model read it"
        return "unknown"
    if verdict.deleted_at is not None:
        return "unknown"
    verdict.deleted_at = now
    if verdict.case_id is None:
        return "deleted"
    case = storage.cases.case_for_update(session, verdict.case_id)
    assert case is not None
    storage.cases.add_event(
        session, case.id, "verdict_deleted", "system", now, verdict_id=verdict.id
    )
    outbox.enqueue_reply(session, case, text_message(t(team.language, "verdict_deleted")), now)
    outbox.enqueue_card(session, case, now)
    return "deleted"


def _import_files(
    factory: sessionmaker[Session],
    gateway: SlackGateway,
    event: dict[str, Any],
    classifier: OfflineClassifier,
    team: TeamConfig,
    clock: Clock,
) -> list[str]:
    """Import each CSV/JSONL file of a message; returns the summary lines to post in its thread."""
    lines: list[str] = []
    for file in event.get("files") or []:
        name = str(file.get("name") or "file")
        if not name.lower().endswith(IMPORTABLE):
            continue
        try:
            name, data = gateway.download_file(str(file.get("id")), importer.MAX_FILE_BYTES)
            summary = importer.import_rows(factory, name, data, classifier, team, clock)
        except RowError as exc:
            lines.append(t(team.language, "import_failed", name=name, reason=str(exc)))
            continue
        except SlackDeliveryError as exc:
            if not exc.permanent:
                raise  # Slack will answer later: the whole event is retried, the import is idempotent
            lines.append(t(team.language, "import_failed", name=name, reason=exc.error))
            continue
        lines.append(
            t(team.language, "import_done", name=name)
            + "\n```\n"
            + "\n".join(summary.lines(team.language))
            + "\n```"
        )
    return lines


def process_pending(
    factory: sessionmaker[Session],
    gateway: SlackGateway,
    classifier: OfflineClassifier,
    team: TeamConfig,
    clock: Clock,
    limit: int = 50,
    lease: timedelta = LEASE,
) -> int:
    """Turn recorded intake events into verdicts, edits, deletions and imports; returns how many."""
    with factory() as session:
        ids = storage.intake.claimable_inbound_ids(session, KIND, clock.now(), limit)
    done = 0
    for inbound_id in ids:
        now = clock.now()
        with transaction(factory) as session:
            if not storage.intake.lease_inbound(session, inbound_id, now, now + lease):
                continue
        try:
            with factory() as session:
                row = session.get(InboundEvent, inbound_id)
                assert row is not None
                event = dict(row.payload.get("event") or {})
                key = row.dedupe_key
            with logs.context(request=f"inbound-{inbound_id}"):
                outcome = _process(factory, gateway, event, classifier, team, clock, inbound_id)
                log.info("intake %s: %s", key, outcome)
            done += 1
        except Exception as exc:  # one bad message must not stop the others; it is retried
            _failed(factory, inbound_id, exc, clock.now())
    return done


def _process(
    factory: sessionmaker[Session],
    gateway: SlackGateway,
    event: dict[str, Any],
    classifier: OfflineClassifier,
    team: TeamConfig,
    clock: Clock,
    inbound_id: int,
) -> str:
    subtype = event.get("subtype")
    if subtype == "file_share" and any(
        str(f.get("name", "")).lower().endswith(IMPORTABLE) for f in event.get("files") or []
    ):
        lines = _import_files(factory, gateway, event, classifier, team, clock)
        with transaction(factory) as session:
            for line in lines:
                outbox.enqueue_message(
                    session, str(event["channel"]), text_message(line), clock.now(), event.get("ts")
                )
            _done(session, inbound_id, clock.now())
        return "imported"
    with transaction(factory) as session:
        now = clock.now()
        if subtype == "message_changed":
            outcome = _edited(session, event, classifier, team, now)
        elif subtype == "message_deleted":
            outcome = _deleted(session, event, team, now)
        else:
            item = to_input(event, str(event.get("channel")), team)
            outcome = _take(session, event, item, classifier, team, now)
        _done(session, inbound_id, now)
    return outcome


def _done(session: Session, inbound_id: int, now: datetime) -> None:
    row = session.get(InboundEvent, inbound_id)
    assert row is not None
    row.status, row.processed_at, row.lease_until = "done", now, None


def _failed(factory: sessionmaker[Session], inbound_id: int, exc: Exception, now: datetime) -> None:
    # Slack being unreachable is no fault of the message: it waits as long as it takes.
    transient = isinstance(exc, SlackDeliveryError) and not exc.permanent
    with transaction(factory) as session:
        row = session.get(InboundEvent, inbound_id)
        if row is None:
            return
        row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        # The lease doubles as the next attempt's time: back off instead of spinning.
        row.lease_until = now + timedelta(seconds=min(300, 2 ** min(row.attempts, 9)))
        if row.attempts >= MAX_ATTEMPTS and not transient:
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
