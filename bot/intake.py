"""Intake: a verdict from any source is recorded once, classified, and opens or joins its case."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy.orm import Session

from bot import cases, classification, metrics, outbox
from bot.classify_offline import Classification as ClassifierResult
from bot.classify_offline import OfflineClassifier
from bot.config import TeamConfig
from bot.masking import mask
from bot.verdict_parsing import MAX_VERBATIM_CHARS, CustomerRef, ParsedVerdict
from storage import queries
from storage.models import Case, Customer, Verdict

log = logging.getLogger(__name__)

SOURCES = ("slack_message", "shortcut", "webhook", "import")
ANONYMOUS_REF = "anonymous"  # verdicts without consent: counted, never tied to a person


@dataclass(frozen=True)
class VerdictInput:
    """A verdict as a source handed it over, before storage. None means unknown, never a guess."""

    source: str
    text: str
    source_key: str | None = None  # the source's own id (Slack ts, webhook id); None: by content
    refs: tuple[CustomerRef, ...] = ()
    status: str | None = None
    channel: str | None = None
    score: int | None = None
    scale: str | None = None
    consent: bool | None = None
    churned_on: str | None = None
    origin: str | None = None
    received_at: datetime | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None
    author_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The dedup key: the source's id, or the same source, customer and text (exact repeat)."""
        if self.source_key:
            return self.source_key
        who = self.refs[0].key if self.refs else ""
        digest = hashlib.sha256(
            f"{self.source}\x1f{who}\x1f{self.text.strip()}".encode()
        ).hexdigest()
        return f"{self.source}:sha256:{digest[:40]}"


def from_parsed(parsed: ParsedVerdict, source: str, **fields: object) -> VerdictInput:
    """A VerdictInput from what the parser read, plus the source's own fields."""
    base = VerdictInput(
        source=source,
        text=parsed.text,
        refs=parsed.refs,
        status=parsed.status,
        channel=parsed.channel,
        score=parsed.score,
        scale=parsed.scale,
        consent=parsed.consent,
        churned_on=parsed.churned_on,
        origin=parsed.source,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


@dataclass(frozen=True)
class IntakeResult:
    """What became of a verdict: opened, joined, duplicate, no_consent or empty."""

    outcome: str
    case_id: int | None = None
    verdict_id: int | None = None


@dataclass
class _Pending:
    """One verdict of a batch on its way to storage."""

    index: int
    item: VerdictInput
    text: str
    consent: bool
    customer: Customer | None = None
    verdict: Verdict | None = None
    result: ClassifierResult | None = None
    opened: bool = False


def ingest(
    session: Session,
    item: VerdictInput,
    classifier: OfflineClassifier,
    team: TeamConfig,
    now: datetime,
) -> IntakeResult:
    """Store one verdict, classify it, and open or join its customer's case."""
    return ingest_many(session, [item], classifier, team, now)[0]


def ingest_many(
    session: Session,
    items: list[VerdictInput],
    classifier: OfflineClassifier,
    team: TeamConfig,
    now: datetime,
) -> list[IntakeResult]:
    """Store verdicts in order, each classified and opening or joining its customer's case.

    The same rules as one by one (a later verdict of a customer joins the case an earlier one
    opened), with one query per kind of fact and batched inserts, so bulk imports are fast.
    """
    with session.no_autoflush:
        stored = queries.verdicts_by_keys(session, {item.key for item in items})
    first_of_key: dict[str, _Pending] = {}
    pending: list[_Pending] = []
    outcome: list[str] = []
    for index, item in enumerate(items):
        text = item.text.strip()[:MAX_VERBATIM_CHARS]
        if item.key in stored or item.key in first_of_key:
            outcome.append("duplicate")
        elif not text:
            outcome.append("empty")
        else:
            consent = item.consent is not False
            if not consent:
                # Kept for statistics only: no reference, and the verbatim without personal data.
                text = mask(text, team.default_country)
            entry = _Pending(index, item, text, consent)
            first_of_key[item.key] = entry
            pending.append(entry)
            outcome.append("new")
    if pending:
        _store(session, pending, classifier, team, now)
    results: list[IntakeResult] = []
    for index, item in enumerate(items):
        if outcome[index] == "empty":
            results.append(IntakeResult("empty"))
        elif outcome[index] == "duplicate":
            if item.key in stored:
                verdict_id, case_id = stored[item.key]
            else:
                verdict = first_of_key[item.key].verdict
                assert verdict is not None
                verdict_id, case_id = verdict.id, verdict.case_id
            results.append(IntakeResult("duplicate", case_id, verdict_id))
        else:
            entry = first_of_key[item.key]
            assert entry.verdict is not None
            name = "no_consent" if not entry.consent else ("opened" if entry.opened else "joined")
            results.append(IntakeResult(name, entry.verdict.case_id, entry.verdict.id))
    for item, result in zip(items, results, strict=True):
        metrics.VERDICTS.labels(item.source, result.outcome).inc()
    return results


def _store(
    session: Session,
    pending: list[_Pending],
    classifier: OfflineClassifier,
    team: TeamConfig,
    now: datetime,
) -> None:
    """Customers, verdicts, classifications, then cases: a few flushes for the whole batch."""
    for entry in pending:
        entry.result = classification.classify_for_intake(classifier, entry.text, entry.item.score)
    _resolve_customers(session, pending, now)
    for entry in pending:
        assert entry.customer is not None and entry.result is not None
        item = entry.item
        entry.verdict = Verdict(
            source_key=item.key,
            source=item.source,
            origin=(item.origin or "")[:255] or None,
            customer_id=entry.customer.id,
            channel=item.channel or "unknown",
            score=item.score,
            scale=item.scale,
            text=entry.text,
            language=entry.result.language,
            consent=entry.consent,
            received_at=item.received_at or now,
            slack_channel=item.slack_channel,
            slack_ts=item.slack_ts,
            author_id=item.author_id,
        )
    new_verdicts = [entry.verdict for entry in pending if entry.verdict is not None]
    for verdict, verdict_id in zip(
        new_verdicts, queries.allocate_ids(session, Verdict, len(new_verdicts)), strict=True
    ):
        verdict.id = verdict_id
    session.add_all(new_verdicts)
    session.flush()
    for entry in pending:
        assert entry.verdict is not None and entry.result is not None
        classification.store(session, entry.verdict.id, entry.result, now)
        classification.after_intake(session, entry.verdict, entry.result, now)
    _open_or_join(session, [e for e in pending if e.consent], team, now)


def _resolve_customers(session: Session, pending: list[_Pending], now: datetime) -> None:
    """Find or create each verdict's customer; every reference a verdict gives is recorded."""
    wanted: set[str] = {ANONYMOUS_REF}
    for entry in pending:
        if entry.consent:
            wanted |= {ref.key for ref in entry.item.refs} or {f"unidentified:{entry.item.key}"}
    with session.no_autoflush:
        by_ref = queries.customers_by_ref_keys(session, wanted)
        known_refs = queries.refs_of_customers(session, {c.id for c in by_ref.values()})
    created: list[Customer] = []
    for entry in pending:
        item = entry.item
        if not entry.consent:
            keys = [ANONYMOUS_REF]
        else:
            keys = [ref.key for ref in item.refs] or [f"unidentified:{item.key}"]
        customer = next((by_ref[k] for k in keys if k in by_ref), None)
        if customer is None:
            kind = (
                "anonymous"
                if not entry.consent
                else (item.refs[0].kind if item.refs else "unidentified")
            )
            customer = Customer(ref=keys[0], ref_kind=kind, created_at=now)
            created.append(customer)
        for key in keys:
            by_ref.setdefault(key, customer)
        if entry.consent:
            if item.status:
                customer.status = item.status
            if item.churned_on:
                customer.churned_on = item.churned_on
        entry.customer = customer
    for customer, customer_id in zip(
        created, queries.allocate_ids(session, Customer, len(created)), strict=True
    ):
        customer.id = customer_id
    session.add_all(created)
    session.flush()
    new_refs: list[dict[str, object]] = []
    for entry in pending:
        assert entry.customer is not None
        for ref in entry.item.refs if entry.consent else ():
            if ref.key not in known_refs:
                known_refs.add(ref.key)
                new_refs.append(
                    {
                        "customer_id": entry.customer.id,
                        "ref": ref.key,
                        "kind": ref.kind,
                        "created_at": now,
                    }
                )
    queries.add_customer_refs(session, new_refs)


def _open_or_join(
    session: Session, consenting: list[_Pending], team: TeamConfig, now: datetime
) -> None:
    """Each consented verdict joins its customer's open case, or opens one (one per customer)."""
    customer_ids = {e.customer.id for e in consenting if e.customer is not None}
    with session.no_autoflush:
        open_cases = queries.open_cases_of(session, customer_ids)
        previous = queries.latest_closed_cases_of(session, customer_ids - set(open_cases))
        facts = queries.verdict_facts_of_cases(session, {c.id for c in open_cases.values()})
    opened: list[tuple[Case, _Pending]] = []
    for entry in consenting:
        assert entry.customer is not None and entry.result is not None
        if entry.customer.id not in open_cases:
            case = cases.new_case(
                entry.customer.id, entry.result, team, now, previous.get(entry.customer.id)
            )
            open_cases[entry.customer.id] = case
            opened.append((case, entry))
            entry.opened = True
    for (case, _), case_id in zip(
        opened, queries.allocate_ids(session, Case, len(opened)), strict=True
    ):
        case.id = case_id
    session.add_all([case for case, _ in opened])
    session.flush()
    for case, entry in opened:
        assert entry.verdict is not None and entry.result is not None
        entry.verdict.case_id = case.id
        cases.record_opened(session, case, entry.verdict, entry.result, now, team=team)
        facts[case.id] = [_facts(case.id, entry)]
    touched: dict[int, Case] = {}
    for entry in consenting:
        if entry.opened:
            continue
        assert entry.customer is not None and entry.verdict is not None
        case = open_cases[entry.customer.id]
        entry.verdict.case_id = case.id
        before = facts.setdefault(case.id, [])
        cases.record_joined(session, case, entry.verdict, list(before), team.language, now)
        before.append(_facts(case.id, entry))
        touched[case.id] = case
    for case in touched.values():
        cases.apply_rules(case, facts[case.id], team)
        outbox.enqueue_card(session, case, now)  # one refresh per case, however many joined


def _facts(case_id: int, entry: _Pending) -> queries.VerdictFacts:
    assert entry.verdict is not None and entry.result is not None
    return queries.VerdictFacts(
        case_id,
        entry.verdict.received_at,
        entry.verdict.channel,
        entry.result.primary_reason,
        entry.result.severity,
        entry.result.confidence,
        entry.result.backend,
    )
