"""What people do to a case from its thread: release, assign, log contacts, notes, snooze,
escalate, resolve, reopen. Each records an Event, posts a thread reply and refreshes the card;
anything refused is explained to the person, and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

import storage.cases
from bot.cases import guidance, reminders
from bot.cases import service as cases
from bot.cases.consent import CONSENT_CHECK_BLOCK, confirmation_required
from bot.cases.permissions import manager_mentions
from bot.cases.service import ActionResult
from bot.classification.taxonomy import Taxonomy
from bot.runtime.durations import Duration
from bot.runtime.settings import TeamConfig
from bot.slack import outbox
from bot.slack.blocks import escape, format_time, text_message
from bot.slack.i18n import t
from storage.models import OPEN_STATES, Case, ContactAttempt, Verdict

CONTACT_CHANNELS = ("phone", "email", "sms", "letter", "chat")
CONTACT_OUTCOMES = ("reached", "voicemail", "no_answer", "wrong_number", "do_not_contact")
# "The customer did not call back" is deliberately absent: the burden is on the team.
RESOLUTIONS = (
    "retained",
    "problem_fixed",
    "apology_given",
    "refund_or_credit",
    "customer_declined_contact",
    "not_reached_written_followup",
)
SNOOZE_CHOICES = ("PT1H", "PT4H", "P1D", "P2D", "P7D")


@dataclass(frozen=True)
class Actor:
    """Who acts, and what the team config and permissions say about them."""

    user_id: str
    team: TeamConfig
    is_manager: Callable[[str], bool]
    manager_ids: Callable[[], set[str]]
    now: datetime

    @property
    def lang(self) -> str:
        return self.team.language

    @property
    def manager(self) -> bool:
        return self.is_manager(self.user_id)


def _case(session: Session, case_id: int, actor: Actor) -> Case | ActionResult:
    case = storage.cases.case_for_update(session, case_id)
    if case is None:
        return ActionResult(False, t(actor.lang, "claim_missing"))
    return case


def _owner_or_manager(case: Case, actor: Actor, action: str) -> ActionResult | None:
    if actor.manager or (case.owner_id is not None and case.owner_id == actor.user_id):
        return None
    if case.owner_id is None:
        return _manager_only(actor, action)
    return ActionResult(
        False,
        t(
            actor.lang,
            "need_owner_or_manager",
            owner=case.owner_id,
            action=t(actor.lang, f"verb_{action}"),
        ),
    )


def _manager_only(actor: Actor, action: str) -> ActionResult | None:
    if actor.manager:
        return None
    managers = manager_mentions(actor.team)
    return ActionResult(
        False,
        t(
            actor.lang,
            "need_manager",
            action=t(actor.lang, f"verb_{action}"),
            managers=managers,
        ),
    )


def refuse_unless_manager(actor: Actor, action: str) -> ActionResult | None:
    """A polite refusal for people who are not managers (None for managers)."""
    return _manager_only(actor, action)


def _open_case(session: Session, case_id: int, actor: Actor) -> Case | ActionResult:
    """The case to act on, if it exists and is open; else why not."""
    case = _case(session, case_id, actor)
    if isinstance(case, ActionResult):
        return case
    return _open(case, actor) or case


def _open(case: Case, actor: Actor) -> ActionResult | None:
    return None if case.status in OPEN_STATES else ActionResult(False, t(actor.lang, "case_closed"))


def _record(
    session: Session, case: Case, actor: Actor, kind: str, reply: str, **data: object
) -> ActionResult:
    """The three things every action does: timeline, thread, card; and the schedule follows."""
    storage.cases.add_event(session, case.id, kind, actor.user_id, actor.now, **data)
    outbox.enqueue_reply(session, case, text_message(reply), actor.now)
    outbox.enqueue_card(session, case, actor.now)
    for person in {actor.user_id, case.owner_id, data.get("previous_owner")}:
        if isinstance(person, str):
            outbox.enqueue_home(session, person, actor.now)
    reminders.reschedule(session, case, actor.team, actor.now)
    return ActionResult(True)


def case_for_form(session: Session, case_id: int) -> Case | None:
    """The case a form is about (read only)."""
    return storage.cases.case_for_card(session, case_id)


def verdict_for_form(session: Session, verdict_id: int) -> Verdict | None:
    """A verdict whose whole text a person asked to see."""
    return session.get(Verdict, verdict_id)


def home_opened(session: Session, user_id: str, now: datetime) -> None:
    """Someone opened the bot's Home tab: publish it fresh."""
    outbox.enqueue_home(session, user_id, now)


def release(session: Session, case_id: int, actor: Actor) -> ActionResult:
    """The owner gives the case back (a manager may release anyone's)."""
    case = _open_case(session, case_id, actor)
    if isinstance(case, ActionResult):
        return case
    if case.owner_id is None or (case.owner_id != actor.user_id and not actor.manager):
        return ActionResult(False, t(actor.lang, "not_owner_release"))
    previous = case.owner_id
    case.status, case.owner_id, case.claimed_at = "open", None, None
    return _record(
        session,
        case,
        actor,
        "released",
        t(actor.lang, "released_by", user=actor.user_id),
        previous_owner=previous,
    )


def assign(
    session: Session, case_id: int, new_owner: str, actor: Actor, taxonomy: Taxonomy
) -> ActionResult:
    """A manager gives the case to someone, who is told by DM."""
    case = _case(session, case_id, actor)
    if isinstance(case, ActionResult):
        return case
    refused = _manager_only(actor, "assign") or _open(case, actor)
    if refused:
        return refused
    if case.owner_id == new_owner:
        return ActionResult(False, t(actor.lang, "assign_same", owner=new_owner))
    previous = case.owner_id
    case.owner_id = new_owner
    case.claimed_at = actor.now
    if case.status == "open":
        case.status = "claimed"
    dm = t(
        actor.lang,
        "assigned_dm",
        id=case.id,
        user=actor.user_id,
        reason=taxonomy.label(case.primary_reason, actor.lang),
        deadline=format_time(case.deadline_at, actor.team.tz),
    )
    outbox.enqueue_message(session, new_owner, text_message(dm), actor.now)
    reply = t(actor.lang, "assigned_to", user=actor.user_id, owner=new_owner)
    return _record(
        session, case, actor, "assigned", reply, owner=new_owner, previous_owner=previous
    )


def log_contact(
    session: Session,
    case_id: int,
    actor: Actor,
    channel: str,
    outcome: str,
    note: str | None,
    attempted_at: datetime | None,
    override: bool = False,
    consent_checked: bool = False,
) -> ActionResult:
    """Record a try to reach the customer (anyone may); unclaimed, the person who tried owns it.
    When the customer's consent was never stated, the person must confirm they checked it."""
    case = _open_case(session, case_id, actor)
    if isinstance(case, ActionResult):
        return case
    errors: dict[str, str] = {}
    must_confirm = confirmation_required(case, actor.team.consent.when_unknown, session)
    if must_confirm and not consent_checked:
        errors[CONSENT_CHECK_BLOCK] = t(actor.lang, "consent_check_needed")
    when = attempted_at or actor.now
    if when > actor.now + timedelta(minutes=5):
        errors["when"] = t(actor.lang, "when_future")
    warning = guidance.former_customer_warning(case.customer, note or "", actor.team)
    if warning and not override:
        errors["note"] = warning
    if channel not in CONTACT_CHANNELS or outcome not in CONTACT_OUTCOMES:
        errors["outcome"] = t(actor.lang, "need_reason")
    if errors:
        return ActionResult(False, errors=errors)
    outside = guidance.outside_reasonable_hours(when, case.customer, actor.team)
    session.add(
        ContactAttempt(
            case_id=case.id,
            customer_id=case.customer_id,
            actor=actor.user_id,
            channel=channel,
            outcome=outcome,
            note=note,
            attempted_at=when,
            outside_hours=outside,
            created_at=actor.now,
        )
    )
    if case.owner_id is None:
        case.owner_id, case.claimed_at = actor.user_id, actor.now
    if case.first_contact_at is None or when < case.first_contact_at:
        case.first_contact_at = when
    case.status = "contacting"
    lang = actor.lang
    when_text = "" if attempted_at is None else f" ({format_time(when, actor.team.tz)})"
    reply = t(
        lang,
        "contact_logged",
        user=actor.user_id,
        channel=t(lang, f"contact_channel_{channel}"),
        outcome=t(lang, f"outcome_{outcome}"),
        when=when_text,
    )
    if outside:
        reply += t(lang, "contact_logged_outside")
    if note:
        reply += f"\n> {escape(note)}"
    if warning:
        reply += t(lang, "override_recorded")
    if must_confirm:
        reply += t(lang, "contact_consent_confirmed", user=actor.user_id)
    return _record(
        session,
        case,
        actor,
        "contact_attempt",
        reply,
        channel=channel,
        outcome=outcome,
        outside_hours=outside,
        override=bool(warning),
        consent_confirmed=must_confirm,
    )


def add_note(
    session: Session, case_id: int, actor: Actor, text: str, override: bool = False
) -> ActionResult:
    """A note on the case (anyone may); a former customer sent to a subscriber-only line is caught."""
    case = _case(session, case_id, actor)
    if isinstance(case, ActionResult):
        return case
    text = text.strip()
    if not text:
        return ActionResult(False, errors={"note": t(actor.lang, "need_text")})
    warning = guidance.former_customer_warning(case.customer, text, actor.team)
    if warning and not override:
        return ActionResult(False, errors={"note": warning})
    reply = t(actor.lang, "note_added", user=actor.user_id, text=escape(text))
    if warning:
        reply += t(actor.lang, "override_recorded")
    return _record(session, case, actor, "note", reply, text=text, override=bool(warning))


def snooze(
    session: Session, case_id: int, actor: Actor, length: Duration, reason: str
) -> ActionResult:
    """Pause reminders until a time, with a reason; beyond the policy's limit only managers may."""
    case = _case(session, case_id, actor)
    if isinstance(case, ActionResult):
        return case
    refused = _open(case, actor) or _owner_or_manager(case, actor, "snooze")
    if refused:
        return refused
    if not reason.strip():
        return ActionResult(False, errors={"reason": t(actor.lang, "need_reason")})
    limit = actor.team.policy.snooze_limit(actor.manager)
    if limit is not None and length.total > limit.total:
        hours = round(limit.total.total_seconds() / 3600)
        return ActionResult(
            False, errors={"length": t(actor.lang, "snooze_too_long", limit=f"{hours} h")}
        )
    case.snoozed_until = actor.team.hours.add(actor.now, length)
    reply = t(
        actor.lang,
        "snoozed",
        user=actor.user_id,
        until=format_time(case.snoozed_until, actor.team.tz),
        reason=escape(reason),
    )
    return _record(
        session, case, actor, "snoozed", reply, until=case.snoozed_until.isoformat(), reason=reason
    )


def escalate(
    session: Session, case_id: int, actor: Actor, taxonomy: Taxonomy, reason: str = ""
) -> ActionResult:
    """Tell the managers now (anyone may), by DM, and say so in the thread."""
    case = _open_case(session, case_id, actor)
    if isinstance(case, ActionResult):
        return case
    dm = t(
        actor.lang,
        "escalated_dm",
        id=case.id,
        user=actor.user_id,
        reason=taxonomy.label(case.primary_reason, actor.lang),
        deadline=format_time(case.deadline_at, actor.team.tz),
    )
    for manager in sorted(actor.manager_ids()):
        outbox.enqueue_message(session, manager, text_message(dm), actor.now)
    reply = t(
        actor.lang, "escalated", user=actor.user_id, reason=f": {escape(reason)}" if reason else ""
    )
    return _record(session, case, actor, "escalated", reply, reason=reason)


def resolve(
    session: Session, case_id: int, actor: Actor, outcome: str, summary: str, override: bool = False
) -> ActionResult:
    """Close the case with an honest outcome and what the customer was told (owner or manager)."""
    case = _case(session, case_id, actor)
    if isinstance(case, ActionResult):
        return case
    refused = _open(case, actor) or _owner_or_manager(case, actor, "resolve")
    if refused:
        return refused
    errors: dict[str, str] = {}
    summary = summary.strip()
    if outcome not in RESOLUTIONS:
        errors["outcome"] = t(actor.lang, "need_reason")
    if not summary:
        errors["summary"] = t(actor.lang, "resolve_need_summary")
    if outcome == "not_reached_written_followup":
        attempts = storage.cases.contact_attempts_of(session, case.id)
        written = any(a.channel in guidance.WRITTEN for a in attempts)
        if (
            guidance.unanswered_in_a_row(attempts) < actor.team.contact.written_followup_after
            or not written
        ):
            errors["outcome"] = t(
                actor.lang, "resolve_need_attempts", count=actor.team.contact.written_followup_after
            )
    warning = guidance.former_customer_warning(case.customer, summary, actor.team)
    if warning and not override:
        errors["summary"] = warning
    if errors:
        return ActionResult(False, errors=errors)
    case.status, case.outcome, case.closed_at = "resolved", outcome, actor.now
    case.resolution_summary, case.resolved_by, case.snoozed_until = summary, actor.user_id, None
    reply = t(
        actor.lang,
        "resolved",
        user=actor.user_id,
        outcome=t(actor.lang, f"resolution_{outcome}"),
        summary=escape(summary),
    )
    if warning:
        reply += t(actor.lang, "override_recorded")
    return _record(session, case, actor, "resolved", reply, outcome=outcome, override=bool(warning))


def reopen(session: Session, case_id: int, actor: Actor) -> ActionResult:
    """Open a closed case again (its owner or a manager), unless the customer has another open."""
    case = _case(session, case_id, actor)
    if isinstance(case, ActionResult):
        return case
    if case.status in OPEN_STATES:
        return ActionResult(False, t(actor.lang, "case_open_already"))
    refused = _owner_or_manager(case, actor, "reopen")
    if refused:
        return refused
    other = storage.cases.open_case_for(session, case.customer_id)
    if other is not None:
        return ActionResult(False, t(actor.lang, "case_other_open", id=other.id))
    case.status = "claimed" if case.owner_id else "open"
    case.closed_at, case.outcome = None, None
    # A fresh deadline: the old one has passed or fired, and the team needs the time again.
    case.deadline_at = cases.deadline_for(actor.team, actor.now, case.severity, case.primary_reason)
    return _record(session, case, actor, "reopened", t(actor.lang, "reopened", user=actor.user_id))
