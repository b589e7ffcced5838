"""Case rules: one open case per customer, deadlines from the policy, claiming."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

import storage.cases
import storage.intake
from bot.cases import guidance, reminders
from bot.cases.card import CardContext, CaseHistory, ContactLine, case_card
from bot.cases.views import span_text
from bot.classification.offline import Classification as ClassifierResult
from bot.classification.taxonomy import Taxonomy
from bot.runtime import logs
from bot.runtime.clock import Clock
from bot.runtime.settings import TeamConfig
from bot.slack import outbox
from bot.slack.blocks import Message, escape, text_message
from bot.slack.i18n import t
from storage.db import reading, transaction, writing_once
from storage.models import Case, Verdict

MODEL_READ_EVENT = "fields_read_by_model"

SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}


def deadline_for(
    team: TeamConfig, opened_at: datetime, severity: str | None = None, reason: str | None = None
) -> datetime:
    """When a case opened at `opened_at` must be acted on, counted in business time (the
    policy's deadline for its reason, else for its severity, else the default)."""
    return team.hours.add(opened_at, team.policy.deadline_duration(severity, reason))


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
        deadline_at=deadline_for(team, now, result.severity, result.primary_reason),
        slack_channel=team.channels.triage,
    )


def record_opened(
    session: Session,
    case: Case,
    verdict: Verdict,
    result: ClassifierResult,
    now: datetime,
    *,
    team: TeamConfig,
) -> None:
    """The timeline and Slack side of a new case: events, its card, its reminders."""
    storage.cases.add_event(session, case.id, "opened", "system", now, verdict_id=verdict.id)
    storage.cases.add_event(
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
    reminders.reschedule(session, case, team, now, new=True)


def record_joined(
    session: Session,
    case: Case,
    verdict: Verdict,
    before: list[storage.intake.VerdictFacts],
    lang: str,
    now: datetime,
) -> None:
    """The timeline and thread side of a verdict joining an open case (the card is refreshed by
    the caller, once per batch)."""
    storage.cases.add_event(
        session, case.id, "verdict_joined", "system", now, verdict_id=verdict.id
    )
    outbox.enqueue_reply(session, case, text_message(joined_text(verdict, before, lang)), now)


def joined_text(verdict: Verdict, before: list[storage.intake.VerdictFacts], lang: str) -> str:
    """What the thread says when a verdict joins: which one, from whom, how long after the last."""
    what = t(lang, f"channel_{verdict.channel}")
    if verdict.origin:
        what += " · " + escape(verdict.origin)
    text = t(lang, "verdict_joined", n=len(before) + 1, what=what)
    if before:
        last = max(before, key=lambda f: f.received_at)
        gap = abs((verdict.received_at - last.received_at).total_seconds())
        text += " " + t(
            lang,
            "joined_after",
            span=span_text(gap, lang),
            channel=t(lang, f"channel_{last.channel}"),
        )
    return text


def apply_rules(case: Case, facts: list[storage.intake.VerdictFacts], team: TeamConfig) -> None:
    """A case's reason is the one a person set, else its verdicts' most frequent one (ties: the
    earliest); its severity the highest; it needs review when any classification is unsure."""
    if not facts:
        return
    by_people = [f for f in facts if f.backend == "human"]
    counts: dict[str, int] = {}
    for fact in facts:  # oldest first, so ties go to the reason the case opened with
        counts[fact.reason] = counts.get(fact.reason, 0) + 1
    case.primary_reason = (
        by_people[-1].reason if by_people else max(counts, key=lambda r: counts[r])
    )
    case.severity = max((f.severity for f in facts), key=lambda s: SEVERITY_RANK.get(s, 1))
    case.needs_review = any(f.confidence < team.classification.review_threshold for f in facts)


def refresh_from_verdicts(session: Session, case: Case, team: TeamConfig) -> None:
    """Recompute the case's reason, severity and review flag from what is stored."""
    session.flush()
    apply_rules(
        case, storage.intake.verdict_facts_of_cases(session, {case.id}).get(case.id, []), team
    )


@dataclass(frozen=True)
class ActionResult:
    """What happened to an action on a case: `ok`, or why not, in words for the person.

    `errors` are field-level problems to show in the action's form (block id -> message).
    """

    ok: bool
    message: str | None = None
    errors: dict[str, str] | None = None


def claim(
    session: Session, case_id: int, user_id: str, team: TeamConfig, now: datetime
) -> ActionResult:
    """Make `user_id` the owner of an open, unclaimed case; tell the thread and refresh the card."""
    lang = team.language
    case = storage.cases.case_for_update(session, case_id)
    refusal = _claim_refusal(None if case is None else (case.status, case.owner_id), user_id, lang)
    if refusal is not None:
        return ActionResult(False, refusal)
    assert case is not None
    case.status, case.owner_id, case.claimed_at = "claimed", user_id, now
    storage.cases.add_event(session, case.id, "claimed", user_id, now)
    reminders.reschedule(session, case, team, now)
    outbox.enqueue_reply(session, case, text_message(t(lang, "claimed_by", user=user_id)), now)
    outbox.enqueue_card(session, case, now)
    outbox.enqueue_home(session, user_id, now)
    return ActionResult(True)


def _claim_refusal(state: tuple[str, str | None] | None, user_id: str, lang: str) -> str | None:
    """Why `user_id` cannot claim a case in this (status, owner) state; None when they can."""
    if state is None:
        return t(lang, "claim_missing")
    status, owner = state
    if owner == user_id and status in ("claimed", "contacting"):
        return t(lang, "claim_yours")
    if status in ("claimed", "contacting"):
        return t(lang, "claim_taken", owner=owner)
    if status != "open":
        return t(lang, "claim_closed")
    return None


def claim_by_click(
    factory: sessionmaker[Session],
    case_id: int,
    user_id: str,
    channel: str,
    team: TeamConfig,
    now: datetime,
) -> ActionResult:
    """A click on the card's Claim button, decided before the ack. A click that cannot succeed
    (the case is owned, closed, or someone clicked first) is refused and writes nothing: the
    caller tells the person why. One that may is recorded, one small write, and the worker
    applies it (`apply_claims`): the ack never waits on a claim's thread reply and reminders."""
    lang = team.language
    with reading(factory) as connection:
        state = storage.cases.claim_state(connection, case_id)
    refusal = _claim_refusal(_as_claimed(state), user_id, lang)
    if refusal is not None:
        return ActionResult(False, refusal)
    with writing_once(factory) as connection:
        first = storage.cases.record_claim(connection, case_id, user_id, channel, now)
    if first != user_id:  # another click was recorded between the read and the write
        return ActionResult(False, _claim_refusal(("claimed", first), user_id, lang))
    return ActionResult(True)


def _as_claimed(state: storage.cases.ClaimState | None) -> tuple[str, str | None] | None:
    """(status, owner) as the click will find them: an open case someone clicked first is theirs."""
    if state is None:
        return None
    if state.status == "open" and state.waiting is not None:
        return "claimed", state.waiting
    return state.status, state.owner


def apply_claims(
    factory: sessionmaker[Session],
    team: TeamConfig,
    pause: Callable[[], None] | None = None,
    limit: int = 50,
) -> int:
    """Apply the recorded clicks on Claim, the first clicked first, each in one transaction with
    its removal (a crash applies it again, never twice). A click the case changed under since
    gets its private answer through the outbox. Returns how many were applied."""
    with factory() as session:
        case_ids = storage.cases.pending_claim_cases(session, limit)
    done = 0
    for case_id in case_ids:
        if pause is not None:
            pause()
        with logs.context(case=case_id), transaction(factory) as session:
            click = storage.cases.take_pending_claim(session, case_id)
            if click is None:
                continue  # another process has it
            result = claim(session, case_id, click.user_id, team, click.clicked_at)
            if not result.ok and result.message:
                outbox.enqueue_ephemeral(
                    session, click.channel, click.user_id, result.message, click.clicked_at
                )
        done += 1
    return done


def card_context(
    session: Session, case: Case, team: TeamConfig, taxonomy: Taxonomy, now: datetime
) -> CardContext:
    """Everything the card shows beyond the case row: history, contacts, guidance."""
    window = team.fatigue.window.total
    attempts = storage.cases.contact_attempts_of(session, case.id)
    history = CaseHistory(
        surveys_in_window=storage.cases.surveys_since(session, case.customer_id, now - window),
        contacts_in_window=storage.cases.contacts_since(session, case.customer_id, now - window),
        window_days=max(1, round(window.total_seconds() / 86400)),
        fatigue_threshold=team.fatigue.threshold,
        earlier=tuple(
            (c.id, c.status)
            for c in storage.cases.earlier_cases(session, case.customer_id, case.id)
        ),
        contacts=tuple(
            ContactLine(a.attempted_at, a.actor, a.channel, a.outcome, a.outside_hours, a.note)
            for a in attempts
        ),
        told=tuple(storage.cases.told_before(session, case.customer_id, case.id)),
    )
    model_read: dict[str, str] = {}
    suggestions: list[tuple[str, int]] = []
    for event in storage.cases.events_of(session, case.id):
        if event.kind == MODEL_READ_EVENT:  # bot.classification.model_fields records them
            model_read.update(event.data.get("fields") or {})
            found = event.data.get("suggestion")
            if isinstance(found, dict) and found.get("reference") and found.get("case_id"):
                suggestions.append((str(found["reference"]), int(found["case_id"])))
    return CardContext(
        lang=team.language,
        tz=team.tz,
        taxonomy=taxonomy,
        now=now,
        history=history,
        opening=guidance.opening_line(case, attempts, team, taxonomy),
        mask_reference=team.contact.mask_reference,
        model_read=tuple(model_read.items()),
        model_suggestions=tuple(dict.fromkeys(suggestions)),
    )


def card_renderer(team: TeamConfig, taxonomy: Taxonomy, clock: Clock) -> outbox.CardRenderer:
    """A function that renders a case's current card, for the outbox to send."""

    def render(session: Session, case_id: int) -> Message | None:
        case = storage.cases.case_for_card(session, case_id)
        if case is None:
            return None
        return case_card(case, card_context(session, case, team, taxonomy, clock.now()))

    return render
