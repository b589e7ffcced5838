"""A verdict as a source hands it over, before storage: what every intake path builds."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.classification.field_reading import VERBATIM, requested_fields
from bot.intake.parsing import MAX_VERBATIM_CHARS, CustomerRef, ParsedVerdict, fold
from bot.privacy.masking import mask


@dataclass(frozen=True)
class VerdictInput:
    """A verdict as a source handed it over, before storage. None means unknown, never a guess."""

    source: str
    text: str
    source_key: str | None = None  # the source's own id (Slack ts, webhook id); None: by content
    refs: tuple[CustomerRef, ...] = ()
    status: str | None = None
    channel: str | None = None
    score: int | None = None
    scale: str | None = None
    consent: bool | None = None
    churned_on: str | None = None
    origin: str | None = None
    received_at: datetime | None = None
    slack_channel: str | None = None
    slack_ts: str | None = None
    author_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
    # Fields the parser left unknown in a message with no reference or no verbatim, and the whole
    # message: with an LLM, the model reads them (bot.classification.field_reading).
    read_fields: tuple[str, ...] = ()
    message: str = ""

    @property
    def key(self) -> str:
        """The dedup key: the source's id, or the same source, customer and text (exact repeat)."""
        if self.source_key:
            return self.source_key
        who = self.refs[0].key if self.refs else ""
        digest = hashlib.sha256(
            f"{self.source}\x1f{who}\x1f{self.text.strip()}".encode()
        ).hexdigest()
        return f"{self.source}:sha256:{digest[:40]}"


def from_parsed(parsed: ParsedVerdict, source: str, **fields: object) -> VerdictInput:
    """A VerdictInput from what the parser read, plus the source's own fields."""
    base = VerdictInput(
        source=source,
        text=parsed.text,
        refs=parsed.refs,
        status=parsed.status,
        channel=parsed.channel,
        score=parsed.score,
        scale=parsed.scale,
        consent=parsed.consent,
        churned_on=parsed.churned_on,
        origin=parsed.source,
    )
    return replace(base, **fields)  # type: ignore[arg-type]


def fields_to_read(parsed: ParsedVerdict, message: str = "") -> tuple[str, ...]:
    """The fields the model may read for this message (none when the parser found both a
    customer reference and a verbatim, or found no verbatim in a `message` with nothing that
    could hold one)."""
    read = requested_fields(
        has_reference=bool(parsed.refs),
        has_verbatim=bool(parsed.text.strip()),
        status=parsed.status,
        churned_on=parsed.churned_on,
        consent=parsed.consent,
    )
    if VERBATIM in read and not could_hold_verbatim(parsed, message):
        return ()  # no verbatim, nothing to look for it in: "Nothing to triage" at once
    return read


# What may stand before a label on its line: quote marks, bullets, markup.
_LEAD = re.compile(r"^[\s>•*_~`\-–—·]+")


def could_hold_verbatim(parsed: ParsedVerdict, message: str) -> bool:
    """True when a message with no verbatim the parser found still has text the customer's words
    may be in: lines the parser did not understand, or any line that is not a label it read."""
    if parsed.unparsed:
        return True
    labels = tuple(fold(label) for label, _ in parsed.labels if label.strip())
    for line in message.splitlines():
        bare = fold(_LEAD.sub("", line))
        if any(ch.isalpha() for ch in bare) and not bare.startswith(labels or ("\x00",)):
            return True
    return False


def resolved_consent(item: VerdictInput, when_unknown: str = "ask") -> tuple[bool, bool]:
    """(consent, stated): what the message said, or, when it did not say, the team's
    `consent.when_unknown` (`ask` and `open` open a case, `statistics_only` does not)."""
    if item.consent is not None:
        return item.consent, True
    return when_unknown != "statistics_only", False


def stored_text(item: VerdictInput, country: str, when_unknown: str = "ask") -> str:
    """The verbatim as stored and classified: trimmed, and masked when the customer did not
    consent (kept for statistics only, without personal data)."""
    text = item.text.strip()[:MAX_VERBATIM_CHARS]
    consent, _ = resolved_consent(item, when_unknown)
    return mask(text, country) if text and not consent else text
