"""The intake parser: a message as a person or a survey tool wrote it, into the parts of a
verdict. Two entry points: `parse_message` for a Slack message dict (text, blocks,
attachments, email files) and `parse_verdict` for plain text."""

from __future__ import annotations

from typing import Any

from bot.intake.parsing import values
from bot.intake.parsing.model import MAX_VERBATIM_CHARS, CustomerRef, ParsedVerdict, fold
from bot.intake.parsing.prose import status as _prose_status
from bot.intake.parsing.reader import parse_text
from bot.intake.parsing.references import (
    ACCOUNT_PATTERN,
    EMAIL_PATTERN,
    find_ref,
    find_refs,
    normalise_ref,
)
from bot.intake.parsing.shapes import slack_to_plain
from bot.intake.parsing.slack import message_text
from bot.intake.parsing.vocabulary import Vocabulary, VocabularyError, load_vocabulary

__all__ = [
    "ACCOUNT_PATTERN",
    "EMAIL_PATTERN",
    "MAX_VERBATIM_CHARS",
    "CustomerRef",
    "ParsedVerdict",
    "Vocabulary",
    "VocabularyError",
    "find_ref",
    "find_refs",
    "fold",
    "load_vocabulary",
    "message_text",
    "normalise_ref",
    "parse_message",
    "parse_verdict",
    "read_channel",
    "read_churn_date",
    "read_status",
    "slack_to_plain",
]


def parse_verdict(
    raw: str, default_country: str = "FR", vocabulary: Vocabulary | None = None
) -> ParsedVerdict:
    """Parse plain text (Slack mrkdwn accepted) into the parts of a verdict."""
    return parse_text(raw, default_country, vocabulary)


def parse_message(
    message: dict[str, Any], default_country: str = "FR", vocabulary: Vocabulary | None = None
) -> ParsedVerdict:
    """Parse a Slack message dict: text, blocks, attachments' fields and email files."""
    return parse_text(message_text(message), default_country, vocabulary)


def read_status(value: str) -> str | None:
    """A customer status given on its own (a file's column): "former", "current" or None."""
    vocabulary = load_vocabulary()
    return values.status(value.strip(), vocabulary) or _prose_status(fold(value), vocabulary)[0]


def read_channel(value: str) -> str | None:
    """A survey channel given on its own: "web", "phone", "email", "chat" or None."""
    return values.channel(value.strip(), load_vocabulary())


def read_churn_date(value: str) -> str | None:
    """A churn date given on its own, as an ISO date, or None."""
    return values.find_date(value.strip().strip('*_"“”«» '))
