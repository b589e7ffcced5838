"""Rules for reaching the customer well: status-aware channels, reasonable hours, when to write
instead of calling again, and an opening line that says why we call."""

from __future__ import annotations

import re
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.classification.taxonomy import Taxonomy
from bot.runtime.settings import TeamConfig
from bot.slack.i18n import t
from storage.models import Case, ContactAttempt, Customer

UNANSWERED = ("voicemail", "no_answer")
WRITTEN = ("email", "letter")


def subscriber_only_mentions(text: str, team: TeamConfig) -> list[str]:
    """The subscriber-only channels (e.g. "614") a text directs someone to."""
    found = []
    for channel in team.subscriber_only_channels:
        if re.search(rf"(?<![\w]){re.escape(channel)}(?![\w])", text, re.IGNORECASE):
            found.append(channel)
    return found


def former_customer_warning(customer: Customer, text: str, team: TeamConfig) -> str | None:
    """A warning when text sends a former customer to a channel reserved for subscribers."""
    if customer.status != "former":
        return None
    mentions = subscriber_only_mentions(text, team)
    if not mentions:
        return None
    return t(team.language, "warn_subscriber_only", channels=", ".join(mentions))


def customer_tz(customer: Customer, team: TeamConfig) -> ZoneInfo:
    """The customer's time zone when known, else the team's."""
    if customer.timezone:
        try:
            return ZoneInfo(customer.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return team.tz


def outside_reasonable_hours(at: datetime, customer: Customer, team: TeamConfig) -> bool:
    """True when `at` is outside the customer's contact hours (or the team's reasonable hours),
    or on a Sunday, in the customer's time zone."""
    window = customer.contact_hours or team.contact.reasonable_hours
    match = re.fullmatch(r"(\d\d):(\d\d)-(\d\d):(\d\d)", window)
    if not match:
        return False
    opens = time(int(match[1]), int(match[2]))
    closes = time(int(match[3]), int(match[4]))
    local = at.astimezone(customer_tz(customer, team))
    return local.weekday() == 6 or not (opens <= local.time() < closes)


def unanswered_in_a_row(attempts: list[ContactAttempt]) -> int:
    """Unanswered calls since the customer was last reached (attempts oldest first)."""
    count = 0
    for attempt in attempts:
        if attempt.outcome == "reached":
            count = 0
        elif attempt.outcome in UNANSWERED:
            count += 1
    return count


def written_followup_due(attempts: list[ContactAttempt], team: TeamConfig) -> bool:
    """After enough unanswered calls, the next step is a written follow-up, not another call."""
    return unanswered_in_a_row(attempts) >= team.contact.written_followup_after


def opening_line(
    case: Case, attempts: list[ContactAttempt], team: TeamConfig, taxonomy: Taxonomy
) -> str:
    """What to say first, so the customer hears we know why we call; never a subscriber-only line
    for a former customer, never "call us back"."""
    lang = team.language
    reason = taxonomy.label(case.primary_reason, lang).lower()
    if any(a.outcome == "do_not_contact" for a in attempts):
        return t(lang, "opening_do_not_contact")
    if written_followup_due(attempts, team):
        return t(lang, "opening_written", reason=reason, count=unanswered_in_a_row(attempts))
    if case.customer.status == "former":
        return t(lang, "opening_former", reason=reason)
    return t(lang, "opening_current", reason=reason)
