"""Erasure and retention of customers' personal data: `forget_customer` (a person's request) and
`purge_older_than` (the retention period). Counts and reasons are kept, so stats do not change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from bot.config import TeamConfig


@dataclass
class ForgetReport:
    """What `forget_customer` erased, for the person who asked (and the audit trail)."""

    customer_id: int
    already_forgotten: bool = False
    case_ids: list[int] = field(default_factory=list)
    references_removed: int = 0
    verdicts_erased: int = 0
    notes_erased: int = 0  # contact notes, case notes, resolution summaries, free-text reasons
    cards_refreshed: int = 0
    messages_edited: int = 0  # sent thread replies queued for a chat.update without the text
    # Messages people posted in Slack that held the verbatims (the intake post, a shared
    # message): a bot token cannot delete them; whoever asked should delete them by hand.
    source_messages: list[tuple[str, str]] = field(default_factory=list)


def forget_customer(
    session: Session, customer_id: int, actor: str, now: datetime, team: TeamConfig
) -> ForgetReport:
    """Erase a customer's personal data everywhere (database and the bot's Slack messages) in
    the caller's transaction; counts and reasons stay. Idempotent; raises LookupError if unknown."""
    raise NotImplementedError


def purge_older_than(session: Session, cutoff: datetime, now: datetime, team: TeamConfig) -> int:
    """Erase verbatims and personal data older than `cutoff` (counts kept); returns verdicts erased."""
    raise NotImplementedError
