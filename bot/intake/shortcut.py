"""The "Send to triage" message shortcut: a prefilled form, then the case opens or is joined."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

import storage.cases
import storage.intake
from bot.classification.offline import OfflineClassifier
from bot.intake import slack_messages as slack_intake
from bot.intake.parsing import normalise_ref
from bot.intake.service import ingest
from bot.intake.shortcut_view import send_to_triage_modal
from bot.runtime.clock import Clock
from bot.runtime.settings import TeamConfig
from bot.slack import outbox
from bot.slack.forms import form_values
from bot.slack.i18n import t
from storage.db import transaction
from storage.models import InboundEvent

KIND = "shortcut"


@dataclass(frozen=True)
class Opened:
    """The form to show, or a message for the person when there is nothing to triage."""

    view: dict[str, Any] | None = None
    message: str | None = None


def open_form(
    factory: sessionmaker[Session], body: dict[str, Any], team: TeamConfig, clock: Clock
) -> Opened:
    """Read the message, keep it until the form is submitted, and build the prefilled form."""
    message = body.get("message") or {}
    channel = str((body.get("channel") or {}).get("id") or "")
    item = slack_intake.to_input(message, channel, team, source=KIND)
    if not item.text.strip():
        return Opened(message=t(team.language, "shortcut_empty"))
    payload = {"message": message, "channel": channel, "user": (body.get("user") or {}).get("id")}
    key = f"shortcut:{body.get('trigger_id') or channel + ':' + str(message.get('ts'))}"
    with transaction(factory) as session:
        held = storage.intake.hold_inbound(session, key, KIND, payload, clock.now())
    view = send_to_triage_modal(
        team.language,
        item.text,
        json.dumps({"held": held}),
        ref=item.refs[0].value if item.refs else None,
        status=item.status,
        churned_on=item.churned_on,
        source=item.origin,
        channel=item.channel,
        score=item.score,
        consent=item.consent,
    )
    return Opened(view=view)


def submit(
    factory: sessionmaker[Session],
    classifier: OfflineClassifier,
    team: TeamConfig,
    clock: Clock,
    view: dict[str, Any],
    user_id: str,
) -> dict[str, str]:
    """Validate the form; on success ingest the verdict and queue the person's link to the case.

    Returns Slack's `errors` (block id -> message) to show in the form, empty when accepted.
    """
    lang = team.language
    values = form_values(view)
    errors: dict[str, str] = {}
    ref_text = values.get("ref")
    ref = normalise_ref(ref_text, team.default_country) if ref_text else None
    if ref_text and ref is None:
        errors["ref"] = t(lang, "modal_bad_ref")
    score_text = values.get("score")
    if score_text and not (score_text.isdigit() and int(score_text) <= 10):
        errors["score"] = t(lang, "modal_bad_score")
    consent = values.get("consent")
    if consent not in ("yes", "no"):
        errors["consent"] = t(lang, "modal_need_consent")
    churned = values.get("churned_on")
    if churned:
        try:
            date.fromisoformat(churned)
        except ValueError:
            errors["churned_on"] = t(lang, "modal_bad_date")
    if errors:
        return errors
    try:
        held_id = int(json.loads(view.get("private_metadata") or "{}").get("held"))
    except (TypeError, ValueError):
        return {"ref": t(lang, "shortcut_expired")}
    with transaction(factory) as session:
        held = session.get(InboundEvent, held_id)
        if held is None or held.kind != KIND:
            return {"ref": t(lang, "shortcut_expired")}
        payload = held.payload
        channel = str(payload["channel"])
        base = slack_intake.to_input(payload["message"], channel, team, source=KIND)
        status = values.get("status")
        channel_choice = values.get("channel")
        # What the person confirmed in the form wins over what was read from the message.
        item = replace(
            base,
            refs=(ref,) if ref else (),
            status=status if status in ("current", "former") else None,
            channel=channel_choice if channel_choice != "unknown" else None,
            score=int(score_text) if score_text else None,
            scale="nps" if score_text else None,
            consent=consent == "yes" and base.consent is not False,  # a refusal wins
            churned_on=churned,
            origin=values.get("source"),
        )
        now = clock.now()
        result = ingest(session, item, classifier, team, now)
        held.status, held.processed_at = "done", now
        _tell(session, result.outcome, result.case_id, channel, user_id, team, now)
    return {}


def _tell(
    session: Session,
    outcome: str,
    case_id: int | None,
    channel: str,
    user: str,
    team: TeamConfig,
    now: datetime,
) -> None:
    lang = team.language
    case = storage.cases.case_for_update(session, case_id) if case_id else None
    if case is not None:
        key = "shortcut_duplicate" if outcome == "duplicate" else "case_link"
        # `{link}` stays a placeholder: the permalink exists once the card is posted.
        outbox.enqueue_case_link(
            session, case, channel, user, t(lang, key, id=case.id, link="{link}"), now
        )
    elif outcome == "no_consent":
        outbox.enqueue_ephemeral(session, channel, user, t(lang, "shortcut_no_consent"), now)
