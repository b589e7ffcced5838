"""Erasure and retention of customers' personal data: `forget_customer` (a person's request) and
`purge_older_than` (the retention period). Counts and reasons are kept, so stats do not change.

What goes: verbatims, customer references (the customer row becomes `erased:<id>`), the
classifications' summaries, cues and facts, contact notes, resolution summaries, the free text
of events (notes, snooze and escalation reasons), the raw Slack payloads recorded at intake,
and the words in the bot's own Slack messages: case cards are re-rendered and sent thread
replies that quoted a note or a verbatim are edited (outbox kind `edit`). What stays: every row
that counts (verdicts, cases, classifications' reasons, contact attempts, events), so stats by
reason, source, channel and outcome are the same before and after.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

import storage.cases
import storage.classifications
import storage.retention
import storage.schedule
from bot.intake.parsing import normalise_ref
from bot.runtime import metrics
from bot.runtime.clock import Clock
from bot.runtime.settings import TeamConfig
from bot.slack import outbox
from bot.slack.blocks import Message
from storage.db import transaction
from storage.models import Customer, OutboxMessage

log = logging.getLogger(__name__)

ERASED = "[erased]"  # what an erased text reads as in the bot's Slack messages
ERASED_REF_KIND = "erased"
FREE_TEXT_KEYS = ("text", "reason", "note", "summary", "error")
MIN_FRAGMENT = 6  # shorter lines of a text are not searched for alone (too many false hits)
PREFIX_MIN = 24  # a quote cut short ("…") is found by a prefix of at least this length
RETENTION_JOB = "retention"
RETENTION_BATCH = 500


@dataclass
class ForgetReport:
    """What `forget_customer` erased, for the person who asked (and the audit trail)."""

    customer_id: int
    already_forgotten: bool = False
    case_ids: list[int] = field(default_factory=list)
    references_removed: int = 0
    verdicts_erased: int = 0
    notes_erased: int = 0  # contact notes, case notes, resolution summaries, free-text reasons
    cards_refreshed: int = 0
    messages_edited: int = 0  # sent thread replies queued for a chat.update without the text
    # Messages people posted in Slack that held the verbatims (the intake post, a shared
    # message): a bot token cannot delete them; whoever asked should delete them by hand.
    source_messages: list[tuple[str, str]] = field(default_factory=list)


def find_customer(session: Session, reference: str, team: TeamConfig) -> int | None:
    """The id of the customer known by a reference as a person types it (email, phone, account),
    or None. For `/triage forget CUSTOMER`."""
    ref = normalise_ref(reference.strip(), team.default_country)
    if ref is None:
        return None
    customer = storage.cases.customer_by_refs(session, [ref.key]) or storage.cases.customer_by_ref(
        session, ref.key
    )
    return customer.id if customer is not None else None


def forget_customer(
    session: Session, customer_id: int, actor: str, now: datetime, team: TeamConfig
) -> ForgetReport:
    """Erase a customer's personal data everywhere (database and the bot's Slack messages) in
    the caller's transaction; counts and reasons stay. Idempotent; raises LookupError if unknown."""
    customer = storage.retention.customer_for_update(session, customer_id)
    if customer is None or customer.ref_kind == "anonymous":
        raise LookupError(f"no customer {customer_id}")
    report = ForgetReport(customer_id, already_forgotten=customer.erased_at is not None)
    report.case_ids = storage.retention.cases_of_customer(session, customer_id)
    cases = storage.schedule.lock_cases(
        session, report.case_ids
    )  # in id order, as every action locks
    secrets = _Secrets()
    for ref in storage.cases.refs_of(session, customer_id) | {customer.ref}:
        secrets.add_ref(ref)

    verdicts = storage.retention.verdicts_to_erase(session, customer_id=customer_id)
    report.verdicts_erased = _erase_verdicts(session, verdicts, secrets, now)
    report.source_messages = [
        (v.slack_channel, v.slack_ts) for v in verdicts if v.slack_channel and v.slack_ts
    ]
    for attempt in storage.retention.contact_notes_to_erase(session, customer_id=customer_id):
        secrets.add(attempt.note)
        attempt.note = None
        report.notes_erased += 1
    for case in cases.values():
        if case.resolution_summary:
            secrets.add(case.resolution_summary)
            case.resolution_summary = None
            report.notes_erased += 1
    report.notes_erased += _erase_events(
        storage.retention.free_text_events(session, case_ids=report.case_ids), secrets
    )
    report.references_removed = _anonymise(session, customer, now)

    edits = _scrub_outbox(
        session,
        storage.retention.outbox_rows_of_cases(session, report.case_ids)
        + storage.retention.outbox_rows_mentioning(session, secrets.needles()),
        secrets,
        now,
    )
    report.messages_edited = edits
    for case in cases.values():
        outbox.enqueue_card(session, case, now)  # re-rendered without the words
        storage.cases.add_event(
            session, case.id, "customer_forgotten", actor, now, verdicts=report.verdicts_erased
        )
        report.cards_refreshed += 1
    metrics.ERASURES.labels("customer").inc()
    log.info(
        "customer %s forgotten by %s: %s cases, %s verdicts, %s notes, %s messages edited",
        customer_id,
        actor,
        len(report.case_ids),
        report.verdicts_erased,
        report.notes_erased,
        report.messages_edited,
    )
    return report


def purge_older_than(session: Session, cutoff: datetime, now: datetime, team: TeamConfig) -> int:
    """Erase verbatims and personal data older than `cutoff` (counts kept); returns verdicts erased.

    Verdicts received before the cutoff lose their text (their cards are re-rendered), notes,
    summaries and free-text reasons written before it are erased (sent replies quoting them are
    edited), customers with nothing since are anonymised, and delivery records older than it
    (sent outbox rows, processed Slack payloads, webhook answers) are deleted. Idempotent; one
    batch of RETENTION_BATCH verdicts a call, so callers loop until it returns 0.
    """
    secrets = _Secrets()
    verdicts = storage.retention.verdicts_to_erase(session, before=cutoff, limit=RETENTION_BATCH)
    erased = _erase_verdicts(session, verdicts, secrets, now)
    touched_cases = {v.case_id for v in verdicts if v.case_id is not None}
    for attempt in storage.retention.contact_notes_to_erase(session, before=cutoff):
        secrets.add(attempt.note)
        attempt.note = None
        touched_cases.add(attempt.case_id)
    for case in storage.retention.summaries_to_erase(session, cutoff):
        secrets.add(case.resolution_summary)
        case.resolution_summary = None
        touched_cases.add(case.id)
    events = storage.retention.free_text_events(session, before=cutoff)
    _erase_events(events, secrets)
    touched_cases |= {e.case_id for e in events}
    for customer_id in storage.retention.idle_customers(session, cutoff, RETENTION_BATCH):
        customer = storage.retention.customer_for_update(session, customer_id)
        if customer is not None:
            for ref in storage.cases.refs_of(session, customer_id) | {customer.ref}:
                secrets.add_ref(ref)
            _anonymise(session, customer, now)
    if secrets.texts:
        _scrub_outbox(
            session,
            storage.retention.outbox_rows_of_cases(session, sorted(touched_cases))
            + storage.retention.outbox_rows_mentioning(session, secrets.needles()),
            secrets,
            now,
        )
    for case in storage.schedule.lock_cases(session, sorted(touched_cases)).values():
        if case.root_ts:
            outbox.enqueue_card(session, case, now)
    storage.retention.delete_delivered_before(session, cutoff)
    if erased:
        metrics.ERASURES.labels("verdict").inc(erased)
    return erased


def run_retention(
    factory: sessionmaker[Session], team: TeamConfig, clock: Clock
) -> dict[str, Any] | None:
    """Today's retention run, by whichever process claims it first (None: not configured, or
    another process has it); safe to call from every worker as often as wanted."""
    keep = team.retention.verbatims
    if keep is None:
        return None
    now = clock.now()
    period = now.date().isoformat()
    with transaction(factory) as session:
        # A run that started over an hour ago and never finished belongs to a dead process.
        if not storage.retention.start_maintenance(
            session, RETENTION_JOB, period, now, now - timedelta(hours=1)
        ):
            return None
    cutoff = now - keep.total
    total = 0
    while True:  # in batches, one transaction each: a long first run never holds locks long
        with transaction(factory) as session:
            erased = purge_older_than(session, cutoff, clock.now(), team)
        total += erased
        if erased < RETENTION_BATCH:
            break
    result = {"cutoff": cutoff.isoformat(), "verdicts_erased": total}
    with transaction(factory) as session:
        storage.retention.finish_maintenance(session, RETENTION_JOB, period, clock.now(), result)
    log.info("retention: %s verdicts older than %s erased", total, cutoff.date())
    return result


# --- the pieces ------------------------------------------------------------------------------


class _Secrets:
    """The texts to erase, and how to find and blank them in messages already written."""

    def __init__(self) -> None:
        self.texts: set[str] = set()

    def add(self, text: str | None) -> None:
        if text and text.strip():
            self.texts.add(text.strip())

    def add_ref(self, ref: str) -> None:
        self.add(ref)
        self.add(ref.split(":", 1)[-1])  # the bare value, as a card showed it

    def fragments(self) -> list[str]:
        """Each text, its HTML-escaped form (as quoted in mrkdwn) and its longer lines."""
        out: set[str] = set()
        for text in self.texts:
            if len(text) < 4:
                continue  # "ok", "n/a": blanking such short words everywhere would maim text
            for form in (text, html.escape(text, quote=False)):
                out.add(form)
                out.update(
                    line.strip() for line in form.splitlines() if len(line.strip()) >= MIN_FRAGMENT
                )
        return sorted(out, key=len, reverse=True)

    def needles(self) -> list[str]:
        """Short search keys for the database: each text's first line, at most 40 characters."""
        keys = {t.splitlines()[0].strip()[:40] for t in self.texts if t.strip()}
        return sorted(k for k in keys if len(k) >= MIN_FRAGMENT)

    def redact(self, text: str) -> str:
        """`text` with every secret (whole, line by line, or cut short by a fold) blanked."""
        for fragment in self.fragments():
            if fragment in text:
                text = text.replace(fragment, ERASED)
        for secret in self.texts:  # quotes cut at a length limit keep only a prefix
            if len(secret) >= PREFIX_MIN:
                text = _redact_prefix(text, secret)
        return text


def _redact_prefix(text: str, secret: str) -> str:
    """Blank the longest prefix (>= PREFIX_MIN characters) of `secret` found in `text`."""
    low, high = PREFIX_MIN, len(secret)
    if secret[:low] not in text:
        return text
    while low < high:  # a longer prefix is found only if every shorter one is: bisect
        middle = (low + high + 1) // 2
        if secret[:middle] in text:
            low = middle
        else:
            high = middle - 1
    return text.replace(secret[:low], ERASED)


def _erase_verdicts(session: Session, verdicts: list[Any], secrets: _Secrets, now: datetime) -> int:
    """Blank the verdicts' texts and their classifications' words; reasons and counts stay."""
    for verdict in verdicts:
        secrets.add(verdict.text)
        verdict.text = ""
        verdict.erased_at = now
    ids = [v.id for v in verdicts]
    for row in storage.retention.classifications_of(session, ids):
        secrets.add(row.summary)
        for item in (row.cues or []) + (row.facts or []):
            if isinstance(item, str) and len(item) >= MIN_FRAGMENT:
                secrets.add(item)
        row.summary, row.suggested_action, row.cues, row.facts = "", "", [], []
        row.text_hash = None  # a hash of the words is still the words, for a dictionary attack
    storage.classifications.finish_llm_jobs(session, ids, now)
    slack_ts = [v.slack_ts for v in verdicts if v.slack_ts]
    for inbound in storage.retention.inbound_mentioning(session, slack_ts):
        inbound.payload = {"erased": True}  # the raw Slack message, as recorded before the ack
    return len(verdicts)


def _erase_events(events: Iterable[Any], secrets: _Secrets) -> int:
    """Blank free text people typed into events (notes, reasons); returns how many."""
    count = 0
    for event in events:
        data = dict(event.data or {})
        found = [k for k in FREE_TEXT_KEYS if isinstance(data.get(k), str) and data[k]]
        for key in found:
            secrets.add(data[key])
            data[key] = ERASED
        data["erased"] = True
        event.data = data  # a new dict: the JSON column sees the change
        count += bool(found)
    return count


def _anonymise(session: Session, customer: Customer, now: datetime) -> int:
    """The customer row keeps its id (cases and counts point at it) but nothing that names it."""
    removed = storage.retention.delete_customer_refs(session, customer.id)
    customer.ref, customer.ref_kind = f"erased:{customer.id}", ERASED_REF_KIND
    customer.churned_on = customer.timezone = None
    customer.preferred_channel = customer.contact_hours = None
    customer.erased_at = customer.erased_at or now
    return removed


def _scrub_outbox(
    session: Session, rows: list[OutboxMessage], secrets: _Secrets, now: datetime
) -> int:
    """Blank the secrets in queued payloads; queue an edit of each sent post that showed them."""
    edits = 0
    seen: set[int] = set()
    for row in rows:
        if row.id in seen or row.kind == "card":
            continue  # a card's words are rendered at delivery: it is re-rendered instead
        seen.add(row.id)
        payload = _map_strings(row.payload or {}, secrets.redact)
        if payload == row.payload:
            continue
        row.payload = payload
        if row.status == "sent" and row.slack_ts and row.kind in ("reply", "message", "edit"):
            ts = str(payload.get("ts") or row.slack_ts)
            message = Message(str(payload.get("text") or ERASED), list(payload.get("blocks") or []))
            outbox.enqueue_edit(session, row.channel, ts, message, now, case_id=row.case_id)
            edits += 1
    return edits


def _map_strings(value: Any, change: Callable[[str], str]) -> Any:
    """`value` (JSON) with `change` applied to every string in it."""
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [_map_strings(item, change) for item in value]
    if isinstance(value, dict):
        return {key: _map_strings(item, change) for key, item in value.items()}
    return value
