"""A connector's verdict into the same intake as every other source, or, when the tool sends a
newer version of a response it sent before (Delighted's `.updated`), an update of that verdict:
the comment added, reclassified, the case card refreshed; never a second verdict."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

import storage.cases
import storage.stats
from bot.cases import service as cases
from bot.classification import service as classification
from bot.classification.offline import OfflineClassifier
from bot.intake.service import attach, ingest
from bot.intake.verdict_input import VerdictInput, resolved_consent, stored_text
from bot.runtime.settings import TeamConfig
from bot.slack import outbox
from bot.slack.blocks import text_message
from bot.slack.i18n import t
from storage.db import transaction
from storage.models import Verdict

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    """What became of a delivery: opened, joined, no_consent, duplicate, updated or empty."""

    outcome: str
    verdict_id: int | None = None
    case_id: int | None = None

    def body(self) -> dict[str, object]:
        return {"outcome": self.outcome, "verdict_id": self.verdict_id, "case_id": self.case_id}


def store(
    factory: sessionmaker[Session],
    classifier: OfflineClassifier,
    team: TeamConfig,
    now: datetime,
    item: VerdictInput,
    version: datetime | None = None,
) -> Stored:
    """Ingest the verdict once; a later `version` of the same response updates it."""
    for attempt in range(2):  # two deliveries of one response at once: the second sees the first
        try:
            with transaction(factory) as session:
                return _store(session, classifier, team, now, item, version)
        except IntegrityError:
            if attempt:
                raise
            log.info("connector: concurrent delivery of %s; answering from the first", item.source)
    raise AssertionError("unreachable")


def _store(
    session: Session,
    classifier: OfflineClassifier,
    team: TeamConfig,
    now: datetime,
    item: VerdictInput,
    version: datetime | None,
) -> Stored:
    verdict = storage.cases.verdict_by_source_key(session, item.key) if item.source_key else None
    if verdict is None:
        result = ingest(session, item, classifier, team, now)
        created = session.get(Verdict, result.verdict_id) if result.verdict_id else None
        if created is not None and version is not None and version > created.received_at:
            # Made from a later version (Delighted's `.updated` with no `.created` before):
            # remember it, so that a redelivery of that same event changes nothing.
            created.edited_at = version
        return Stored(result.outcome, result.verdict_id, result.case_id)
    if version is None or version <= (verdict.edited_at or verdict.received_at):
        return Stored("duplicate", verdict.id, verdict.case_id)  # a redelivery, or out of order
    _update(session, verdict, item, classifier, team, now, version)
    return Stored("updated", verdict.id, verdict.case_id)


def _update(
    session: Session,
    verdict: Verdict,
    item: VerdictInput,
    classifier: OfflineClassifier,
    team: TeamConfig,
    now: datetime,
    version: datetime,
) -> None:
    when_unknown = team.consent.when_unknown
    refused_before = verdict.consent_stated and not verdict.consent
    if refused_before and item.consent is not False:
        item = replace(item, consent=False)  # a refusal is never undone
    elif verdict.consent_stated and item.consent is None:
        item = replace(item, consent=verdict.consent)  # an answer given stays given
    consent, stated = resolved_consent(item, when_unknown)
    withdrawn = verdict.consent and not consent
    # Kept for statistics only until now (consent not stated, `statistics_only`): the update
    # says yes, so the verdict gets its customer and its case, as a new one would.
    granted = consent and not verdict.consent and verdict.case_id is None
    verdict.text = stored_text(item, team.default_country, when_unknown)
    storage.stats.count_consent_change(session, verdict, consent)
    verdict.consent_stated = stated
    verdict.edited_at = version
    for name in ("score", "scale", "channel"):
        value = getattr(item, name)
        if value is not None:
            setattr(verdict, name, value)
    result = classification.reclassify_edited(session, classifier, verdict, now)
    if granted:
        attached = attach(session, verdict, item, result, team, now)
        log.info(
            "connector: consent granted by an update; verdict %s %s", verdict.id, attached.outcome
        )
        return
    if verdict.case_id is None:
        return
    case = storage.cases.case_for_update(session, verdict.case_id)
    assert case is not None
    storage.cases.add_event(
        session, case.id, "verdict_edited", "system", now, verdict_id=verdict.id
    )
    cases.refresh_from_verdicts(session, case, team)
    key = "connector_consent_withdrawn" if withdrawn else "connector_updated"
    outbox.enqueue_reply(session, case, text_message(t(team.language, key)), now)
    outbox.enqueue_card(session, case, now)


def version_of(unix: float | None) -> datetime | None:
    """A tool's Unix `updated_at` as a UTC datetime (None when absent or absurd)."""
    if unix is None:
        return None
    try:
        return datetime.fromtimestamp(unix, UTC)
    except (OverflowError, OSError, ValueError):
        return None
