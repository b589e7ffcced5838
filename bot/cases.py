"""Case rules: one open case per customer, deadlines from the policy, claiming."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot import outbox
from bot.classify_offline import Classification as ClassifierResult
from bot.clock import Clock
from bot.config import TeamConfig
from bot.i18n import t
from bot.render import CardContext, Message, case_card, text_message
from bot.taxonomy import Taxonomy
from storage import queries
from storage.models import Case, Customer, Verdict

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}


def deadline_for(team: TeamConfig, opened_at: datetime) -> datetime:
    """When a case opened at `opened_at` must be acted on, counted in business time."""
    return team.hours.add(opened_at, team.policy.deadline)


def open_or_join(
    session: Session,
    customer: Customer,
    verdict: Verdict,
    result: ClassifierResult,
    team: TeamConfig,
    now: datetime,
) -> tuple[Case, bool]:
    """Attach the verdict to the customer's open case, or open one; returns (case, opened)."""
    case = queries.open_case_for(session, customer.id)
    lang = team.language
    if case is None:
        case = Case(
            customer_id=customer.id,
            status="open",
            severity=result.severity,
            primary_reason=result.primary_reason,
            needs_review=result.confidence < team.classification.review_threshold,
            opened_at=now,
            deadline_at=deadline_for(team, now),
            slack_channel=team.channels.triage,
        )
        session.add(case)
        session.flush()
        verdict.case_id = case.id
        queries.add_event(session, case.id, "opened", "system", now, verdict_id=verdict.id)
        queries.add_event(
            session,
            case.id,
            "classified",
            "system",
            now,
            verdict_id=verdict.id,
            reason=result.primary_reason,
            backend=result.backend,
            confidence=result.confidence,
        )
        session.flush()
        outbox.enqueue_card(session, case, now)
        return case, True
    verdict.case_id = case.id
    if SEVERITY_RANK.get(result.severity, 1) > SEVERITY_RANK.get(case.severity, 1):
        case.severity = result.severity
    queries.add_event(session, case.id, "verdict_joined", "system", now, verdict_id=verdict.id)
    session.flush()
    reply = t(
        lang,
        "verdict_joined",
        source=verdict.origin or t(lang, f"source_{verdict.source}"),
        channel=t(lang, f"channel_{verdict.channel}"),
    )
    outbox.enqueue_reply(session, case, text_message(reply), now)
    outbox.enqueue_card(session, case, now)
    return case, False


@dataclass(frozen=True)
class ClaimResult:
    """What happened when someone clicked Claim: `ok`, or why not in words for them."""

    ok: bool
    message: str | None = None


def claim(
    session: Session, case_id: int, user_id: str, team: TeamConfig, now: datetime
) -> ClaimResult:
    """Make `user_id` the owner of an open, unclaimed case; tell the thread and refresh the card."""
    lang = team.language
    case = queries.case_for_update(session, case_id)
    if case is None:
        return ClaimResult(False, t(lang, "claim_missing"))
    if case.owner_id == user_id and case.status in ("claimed", "contacting"):
        return ClaimResult(False, t(lang, "claim_yours"))
    if case.status in ("claimed", "contacting"):
        return ClaimResult(False, t(lang, "claim_taken", owner=case.owner_id))
    if case.status != "open":
        return ClaimResult(False, t(lang, "claim_closed"))
    case.status, case.owner_id, case.claimed_at = "claimed", user_id, now
    queries.add_event(session, case.id, "claimed", user_id, now)
    outbox.enqueue_reply(session, case, text_message(t(lang, "claimed_by", user=user_id)), now)
    outbox.enqueue_card(session, case, now)
    return ClaimResult(True)


def claim_by_click(
    session: Session, case_id: int, user_id: str, channel: str, team: TeamConfig, now: datetime
) -> ClaimResult:
    """Claim from the card's button; when it can't be done, the person is told why, privately."""
    result = claim(session, case_id, user_id, team, now)
    if not result.ok and result.message:
        outbox.enqueue_ephemeral(session, channel, user_id, result.message, now)
    return result


def card_renderer(team: TeamConfig, taxonomy: Taxonomy, clock: Clock) -> outbox.CardRenderer:
    """A function that renders a case's current card, for the outbox to send."""

    def render(session: Session, case_id: int) -> Message | None:
        case = queries.case_for_card(session, case_id)
        if case is None:
            return None
        ctx = CardContext(lang=team.language, tz=team.tz, taxonomy=taxonomy, now=clock.now())
        return case_card(case, ctx)

    return render
