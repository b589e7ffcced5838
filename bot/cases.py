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
from bot.render import CardContext, CaseHistory, Message, case_card, text_message
from bot.taxonomy import Taxonomy
from storage import queries
from storage.models import Case, Verdict

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}


def deadline_for(team: TeamConfig, opened_at: datetime) -> datetime:
    """When a case opened at `opened_at` must be acted on, counted in business time."""
    return team.hours.add(opened_at, team.policy.deadline)


def new_case(
    customer_id: int,
    result: ClassifierResult,
    team: TeamConfig,
    now: datetime,
    previous_case_id: int | None,
) -> Case:
    """A case for a customer's first verdict (not yet added to a session)."""
    return Case(
        customer_id=customer_id,
        previous_case_id=previous_case_id,
        status="open",
        severity=result.severity,
        primary_reason=result.primary_reason,
        needs_review=result.confidence < team.classification.review_threshold,
        opened_at=now,
        deadline_at=deadline_for(team, now),
        slack_channel=team.channels.triage,
    )


def record_opened(
    session: Session, case: Case, verdict: Verdict, result: ClassifierResult, now: datetime
) -> None:
    """The timeline and Slack side of a new case: events, then its card."""
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
    outbox.enqueue_card(session, case, now)


def record_joined(
    session: Session,
    case: Case,
    verdict: Verdict,
    before: list[queries.VerdictFacts],
    lang: str,
    now: datetime,
) -> None:
    """The timeline and thread side of a verdict joining an open case (the card is refreshed by
    the caller, once per batch)."""
    queries.add_event(session, case.id, "verdict_joined", "system", now, verdict_id=verdict.id)
    outbox.enqueue_reply(session, case, text_message(joined_text(verdict, before, lang)), now)


def joined_text(verdict: Verdict, before: list[queries.VerdictFacts], lang: str) -> str:
    """What the thread says when a verdict joins: which one, from whom, how long after the last."""
    what = t(lang, f"channel_{verdict.channel}")
    if verdict.origin:
        what += " · " + verdict.origin
    text = t(lang, "verdict_joined", n=len(before) + 1, what=what)
    if before:
        last = max(before, key=lambda f: f.received_at)
        days = round(abs((verdict.received_at - last.received_at).total_seconds()) / 86400)
        text += " " + t(lang, "joined_after", days=days, channel=t(lang, f"channel_{last.channel}"))
    return text


def apply_rules(case: Case, facts: list[queries.VerdictFacts], team: TeamConfig) -> None:
    """A case's reason is its verdicts' most frequent one (ties: the earliest), its severity the
    highest, and it needs review when any verdict's classification is unsure."""
    if not facts:
        return
    counts: dict[str, int] = {}
    for fact in facts:  # oldest first, so ties go to the reason the case opened with
        counts[fact.reason] = counts.get(fact.reason, 0) + 1
    case.primary_reason = max(counts, key=lambda reason: counts[reason])
    case.severity = max((f.severity for f in facts), key=lambda s: SEVERITY_RANK.get(s, 1))
    case.needs_review = any(f.confidence < team.classification.review_threshold for f in facts)


def refresh_from_verdicts(session: Session, case: Case, team: TeamConfig) -> None:
    """Recompute the case's reason, severity and review flag from what is stored."""
    session.flush()
    apply_rules(case, queries.verdict_facts_of_cases(session, {case.id}).get(case.id, []), team)


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
        now = clock.now()
        window = team.fatigue.window.total
        history = CaseHistory(
            surveys_in_window=queries.surveys_since(session, case.customer_id, now - window),
            window_days=max(1, round(window.total_seconds() / 86400)),
            fatigue_threshold=team.fatigue.threshold,
            earlier=tuple(
                (c.id, c.status) for c in queries.earlier_cases(session, case.customer_id, case.id)
            ),
        )
        ctx = CardContext(
            lang=team.language, tz=team.tz, taxonomy=taxonomy, now=now, history=history
        )
        return case_card(case, ctx)

    return render
