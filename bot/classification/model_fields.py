"""Fields the model read, applied to a verdict, its customer and its case (issue 16, item 9).

They fill only what the parser left unknown and are recorded in a `fields_read_by_model` event,
so the card marks them "read by the model". A reference that belongs to another customer's open
case is never merged: the card shows it as a suggestion. Consent read by the model is only ever a
refusal, applied as any refusal of a stored verdict is (the survey tool's withdrawn consent):
the verdict is kept for statistics only, masked, and a case left with nobody who consented is
closed as "customer declined contact"; the thread says why.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

import storage.cases
import storage.intake
import storage.stats
import storage.writes
from bot.classification.field_reading import (
    CHURNED_ON,
    CONSENT,
    REFERENCE,
    STATUS,
    VERBATIM,
    FieldsRead,
)
from bot.privacy.masking import mask
from bot.runtime.settings import TeamConfig
from bot.slack import outbox
from bot.slack.blocks import text_message
from bot.slack.i18n import t
from storage.models import Case, Verdict

log = logging.getLogger(__name__)

EVENT = "fields_read_by_model"  # bot.cases.service.MODEL_READ_EVENT: the card reads it
DECLINED = "customer_declined_contact"


def apply(
    session: Session,
    case: Case,
    verdict: Verdict,
    fields: FieldsRead,
    team: TeamConfig,
    now: datetime,
) -> None:
    """Fill the unknown fields the model read; record them in one event, for the card."""
    read: dict[str, str] = {}
    suggestion: dict[str, Any] | None = None
    if fields.reference is not None and case.customer.ref_kind == "unidentified":
        suggestion = _attach_reference(session, case, verdict, fields, now, read)
    customer = case.customer
    if fields.status is not None and customer.status == "unknown":
        customer.status = read[STATUS] = fields.status
    if fields.churned_on is not None and not customer.churned_on:
        customer.churned_on = read[CHURNED_ON] = fields.churned_on
        if customer.status == "unknown":
            customer.status = read[STATUS] = "former"  # a churn date means the customer left
    if fields.verbatim is not None and verdict.text.strip() in ("", fields.verbatim):
        verdict.text = fields.verbatim  # the verdict's words are the model's reading: marked
        read[VERBATIM] = "yes"
    refused = fields.consent_refused and verdict.consent and not verdict.consent_stated
    if refused:
        read[CONSENT] = "no"
    if read or suggestion:
        storage.cases.add_event(
            session, case.id, EVENT, "system", now, verdict_id=verdict.id, fields=read,
            suggestion=suggestion,
        )  # fmt: skip
        log.info("verdict %s: fields read by the model: %s", verdict.id, ", ".join(sorted(read)))
    if refused:
        refuse(session, case, verdict, team, now)


def _attach_reference(
    session: Session,
    case: Case,
    verdict: Verdict,
    fields: FieldsRead,
    now: datetime,
    read: dict[str, str],
) -> dict[str, Any] | None:
    """Give the case's unidentified customer the reference, or move the case to the customer who
    has it, unless that customer has an open case (one case per customer): then a suggestion."""
    ref = fields.reference
    assert ref is not None
    owner = storage.intake.customers_by_ref_keys(session, {ref.key}).get(ref.key)
    if owner is None:
        customer = case.customer
        customer.ref, customer.ref_kind = ref.key, ref.kind
        storage.writes.add_customer_refs(
            session,
            [{"customer_id": customer.id, "ref": ref.key, "kind": ref.kind, "created_at": now}],
        )
        read[REFERENCE] = ref.value
        return None
    if owner.id == case.customer_id:
        return None
    open_case = storage.intake.open_cases_of(session, {owner.id}).get(owner.id)
    if open_case is not None and open_case.id != case.id:
        log.info("verdict %s: reference read by the model is another open case's", verdict.id)
        return {"reference": ref.value, "case_id": open_case.id}
    # The customer is known and has no open case: this case becomes theirs.
    for item in case.verdicts:
        if item.customer_id == case.customer_id:
            item.customer_id = owner.id
    case.customer_id = owner.id
    case.customer = owner
    read[REFERENCE] = ref.value
    return None


def refuse(session: Session, case: Case, verdict: Verdict, team: TeamConfig, now: datetime) -> None:
    """The customer refused: the verdict is kept for statistics only (masked, consent no), and a
    case nobody else consented to is closed as declined contact; the thread says why."""
    storage.stats.count_consent_change(session, verdict, False)
    verdict.consent_stated = True
    verdict.text = mask(verdict.text, team.default_country)
    others = [v for v in case.verdicts if v.id != verdict.id and v.consent and not v.deleted_at]
    lang = team.language
    key = "model_consent_refused"
    if not others and case.status in ("open", "claimed", "contacting"):
        case.status, case.outcome, case.closed_at = "resolved", DECLINED, now
        case.resolved_by, case.snoozed_until = "system", None
        case.resolution_summary = t(lang, "model_consent_refused_summary")
        storage.cases.add_event(session, case.id, "resolved", "system", now, outcome=DECLINED)
        key = "model_consent_refused_closed"
    storage.cases.add_event(
        session, case.id, "consent_refused_by_model", "system", now, verdict_id=verdict.id
    )
    outbox.enqueue_reply(session, case, text_message(t(lang, key)), now)


def read_on_card(session: Session, case_id: int) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The fields the model read for a case (merged, oldest first) and its suggestions."""
    fields: dict[str, str] = {}
    suggestions: list[dict[str, Any]] = []
    for event in storage.cases.events_of(session, case_id):
        if event.kind != EVENT:
            continue
        fields.update(event.data.get("fields") or {})
        if event.data.get("suggestion"):
            suggestions.append(event.data["suggestion"])
    return fields, suggestions
