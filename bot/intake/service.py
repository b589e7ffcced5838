"""Intake: a verdict from any source is recorded once, classified, and opens or joins its case."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

import storage.intake
import storage.stats
import storage.writes
from bot.cases import service as cases
from bot.classification import service as classification
from bot.classification.field_reading import FieldRequest
from bot.classification.offline import Classification as ClassifierResult
from bot.classification.offline import OfflineClassifier
from bot.intake.verdict_input import VerdictInput, resolved_consent, stored_text
from bot.runtime import metrics
from bot.runtime.settings import TeamConfig
from bot.slack import outbox
from storage.models import Case, Customer, Verdict

log = logging.getLogger(__name__)

SOURCES = ("slack_message", "shortcut", "webhook", "import")
ANONYMOUS_REF = "anonymous"  # verdicts without consent: counted, never tied to a person


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
    consent_stated: bool = True  # False: the message did not say; the team's policy decided
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
    prepared: Sequence[ClassifierResult | None] | None = None,
) -> list[IntakeResult]:
    """Store verdicts in order, each classified and opening or joining its customer's case.

    The same rules as one by one (a later verdict of a customer joins the case an earlier one
    opened), with one query per kind of fact and batched inserts, so bulk imports are fast.
    `prepared` holds, item by item, results the caller classified already (an import does it
    in other processes), each for the text this function stores (`stored_text`).
    """
    with session.no_autoflush:
        stored = storage.intake.verdicts_by_keys(session, {item.key for item in items})
    first_of_key: dict[str, _Pending] = {}
    pending: list[_Pending] = []
    outcome: list[str] = []
    for index, item in enumerate(items):
        when_unknown = team.consent.when_unknown
        text = stored_text(item, team.default_country, when_unknown)
        if item.key in stored or item.key in first_of_key:
            outcome.append("duplicate")
        elif not text:
            outcome.append("empty")
        else:
            consent, stated = resolved_consent(item, when_unknown)
            entry = _Pending(index, item, text, consent, stated)
            first_of_key[item.key] = entry
            pending.append(entry)
            outcome.append("new")
    if pending:
        _store(session, pending, classifier, team, now, prepared)
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
    counted = Counter(
        (item.source, result.outcome) for item, result in zip(items, results, strict=True)
    )
    for (source, name), n in counted.items():
        metrics.VERDICTS.labels(source, name).inc(n)
    return results


def _store(
    session: Session,
    pending: list[_Pending],
    classifier: OfflineClassifier,
    team: TeamConfig,
    now: datetime,
    prepared: Sequence[ClassifierResult | None] | None,
) -> None:
    """Every query first; then new customers, cases and verdicts, complete with their ids, case
    and reason, in one insert per table; then the rows that refer to them."""
    for entry in pending:
        done = prepared[entry.index] if prepared is not None else None
        entry.result = done or classification.classify_for_intake(
            classifier, entry.text, entry.item.score
        )
    created, new_refs = _resolve_customers(session, pending, now)
    consenting = [e for e in pending if e.consent]
    customer_ids = {e.customer.id for e in consenting if e.customer is not None}
    with session.no_autoflush:
        open_cases = storage.intake.open_cases_of(session, customer_ids)
        previous = storage.intake.latest_closed_cases_of(session, customer_ids - set(open_cases))
        facts = storage.intake.verdict_facts_of_cases(session, {c.id for c in open_cases.values()})
        verdict_ids = storage.writes.allocate_ids(session, Verdict, len(pending))
    for entry, verdict_id in zip(pending, verdict_ids, strict=True):
        entry.verdict = _new_verdict(verdict_id, entry, now)
        assert entry.result is not None
        storage.stats.count_reason_change(session, entry.verdict, entry.result.primary_reason)
    opened: list[Case] = []
    for entry in consenting:
        assert entry.customer is not None and entry.result is not None
        if entry.customer.id not in open_cases:
            case = cases.new_case(
                entry.customer.id, entry.result, team, now, previous.get(entry.customer.id)
            )
            open_cases[entry.customer.id] = case
            opened.append(case)
            entry.opened = True
    with session.no_autoflush:
        case_ids = storage.writes.allocate_ids(session, Case, len(opened))
    for case, case_id in zip(opened, case_ids, strict=True):
        case.id = case_id
    joins = _join(consenting, open_cases, facts, team)
    verdicts = [entry.verdict for entry in pending if entry.verdict is not None]
    storage.writes.insert_new(session, [*created, *opened, *verdicts])
    # The rows below refer to the customers, cases and verdicts just inserted.
    storage.writes.add_customer_refs(session, new_refs)
    for entry in pending:
        assert entry.verdict is not None and entry.result is not None
        # The verdict's reason was set and counted before its insert: store() adds the row.
        classification.store(session, entry.verdict, entry.result, now)
        classification.after_intake(session, entry.verdict, entry.result, now, _to_read(entry))
    for entry in consenting:
        if entry.opened:
            assert entry.customer is not None and entry.verdict is not None
            assert entry.result is not None
            case = open_cases[entry.customer.id]
            cases.record_opened(session, case, entry.verdict, entry.result, now, team=team)
    for entry, case, before in joins:
        assert entry.verdict is not None
        cases.record_joined(session, case, entry.verdict, before, team.language, now)
    for case in {id(case): case for _, case, _ in joins}.values():
        outbox.enqueue_card(session, case, now)  # one refresh per case, however many joined


def _to_read(entry: _Pending) -> FieldRequest | None:
    """What the model may read for this verdict: only for a case that may be contacted, and
    never consent once the message stated it."""
    item = entry.item
    if not entry.consent or not item.read_fields or not item.message.strip():
        return None
    return FieldRequest(item.read_fields, item.message)


def attach(
    session: Session,
    verdict: Verdict,
    item: VerdictInput,
    result: ClassifierResult,
    team: TeamConfig,
    now: datetime,
) -> IntakeResult:
    """A stored verdict that was kept for statistics only, now consented to (a survey tool's
    update): tie it to its customer and open or join the case, as a new verdict would."""
    entry = _Pending(0, item, verdict.text, True, verdict.consent_stated, verdict=verdict)
    entry.result = result
    with session.no_autoflush:  # the verdict's new links wait for the rows they point to
        created, new_refs = _resolve_customers(session, [entry], now)
        assert entry.customer is not None
        customer_id = entry.customer.id
        open_cases = storage.intake.open_cases_of(session, {customer_id})
        previous = storage.intake.latest_closed_cases_of(session, {customer_id} - set(open_cases))
        facts = storage.intake.verdict_facts_of_cases(session, {c.id for c in open_cases.values()})
        opened: list[Case] = []
        if customer_id not in open_cases:
            case = cases.new_case(customer_id, result, team, now, previous.get(customer_id))
            [case.id] = storage.writes.allocate_ids(session, Case, 1)
            open_cases[customer_id] = case
            opened.append(case)
            entry.opened = True
        storage.writes.insert_new(session, [*created, *opened])
        storage.writes.add_customer_refs(session, new_refs)
        verdict.customer_id = customer_id
        joins = _join([entry], open_cases, facts, team)
    session.flush()
    case = open_cases[customer_id]
    if entry.opened:
        cases.record_opened(session, case, verdict, result, now, team=team)
    for _, joined, before in joins:
        cases.record_joined(session, joined, verdict, before, team.language, now)
        outbox.enqueue_card(session, joined, now)
    return IntakeResult("opened" if entry.opened else "joined", case.id, verdict.id)


def _join(
    consenting: list[_Pending],
    open_cases: dict[int, Case],
    facts: dict[int, list[storage.intake.VerdictFacts]],
    team: TeamConfig,
) -> list[tuple[_Pending, Case, list[storage.intake.VerdictFacts]]]:
    """Link each verdict to its case, and recompute the rules of the cases joined; return each
    joining verdict with its case and the verdicts the case had before it."""
    joins: list[tuple[_Pending, Case, list[storage.intake.VerdictFacts]]] = []
    touched: dict[int, Case] = {}
    for entry in consenting:
        assert entry.customer is not None and entry.verdict is not None
        case = open_cases[entry.customer.id]
        entry.verdict.case_id = case.id
        before = facts.setdefault(case.id, [])
        if entry.opened:
            before.append(_facts(case.id, entry))
            continue
        joins.append((entry, case, list(before)))
        before.append(_facts(case.id, entry))
        touched[case.id] = case
    for case in touched.values():
        cases.apply_rules(case, facts[case.id], team)
    return joins


def _new_verdict(verdict_id: int, entry: _Pending, now: datetime) -> Verdict:
    assert entry.customer is not None and entry.result is not None
    item = entry.item
    return Verdict(
        id=verdict_id,
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
        consent_stated=entry.consent_stated,
        received_at=item.received_at or now,
        slack_channel=item.slack_channel,
        slack_ts=item.slack_ts,
        author_id=item.author_id,
    )


def _resolve_customers(
    session: Session, pending: list[_Pending], now: datetime
) -> tuple[list[Customer], list[dict[str, object]]]:
    """Find or create each verdict's customer; return the new customers (ids set, not inserted)
    and the rows of the references not recorded yet, to append once the customers are in."""
    wanted: set[str] = {ANONYMOUS_REF}
    for entry in pending:
        if entry.consent:
            wanted |= {ref.key for ref in entry.item.refs} or {f"unidentified:{entry.item.key}"}
    with session.no_autoflush:
        by_ref = storage.intake.customers_by_ref_keys(session, wanted)
        known_refs = storage.intake.refs_of_customers(session, {c.id for c in by_ref.values()})
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
    with session.no_autoflush:
        customer_ids = storage.writes.allocate_ids(session, Customer, len(created))
    for customer, customer_id in zip(created, customer_ids, strict=True):
        customer.id = customer_id
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
    return created, new_refs


def _facts(case_id: int, entry: _Pending) -> storage.intake.VerdictFacts:
    assert entry.verdict is not None and entry.result is not None
    return storage.intake.VerdictFacts(
        case_id,
        entry.verdict.received_at,
        entry.verdict.channel,
        entry.result.primary_reason,
        entry.result.severity,
        entry.result.confidence,
        entry.result.backend,
    )
