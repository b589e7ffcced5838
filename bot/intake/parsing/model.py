"""What the intake parser produces, and the text folding every part of it shares."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

MAX_VERBATIM_CHARS = 20_000


def _fold_char(code: int) -> str:
    decomposed = unicodedata.normalize("NFKD", chr(code))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Latin letters with accents, typographic apostrophes and spaces, folded once (fast path).
_TABLE = {code: _fold_char(code) for code in range(0xC0, 0x250)}
_TABLE.update({0x2019: "'", 0x2018: "'", 0xA0: " ", 0x202F: " ", 0x2009: " "})


def fold(value: str) -> str:
    """Lowercase ASCII fold, so `Téléphone` and `telephone` match (apostrophes become ')."""
    if value.isascii():
        return value.lower().strip()
    value = value.translate(_TABLE)
    if value.isascii():
        return value.lower().strip()
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower().strip()


@dataclass(frozen=True)
class CustomerRef:
    """A normalised customer reference: `kind` is account, phone or email."""

    kind: str
    value: str

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.value}"


@dataclass(frozen=True)
class ParsedVerdict:
    """What a message says about a verdict; None where it says nothing (never a guess).

    `consent` is three-valued: True (stated yes), False (a refusal somewhere), None (not said).
    `unparsed` holds the label lines the parser saw but could not read, `labels` the label lines
    it read, as (label, field) pairs: both are shown to the person who forwarded the message.
    """

    text: str
    customer: CustomerRef | None
    status: str | None
    channel: str | None
    score: int | None
    consent: bool | None
    source: str | None
    churned_on: str | None
    scale: str | None = None
    refs: tuple[CustomerRef, ...] = ()
    unparsed: tuple[str, ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
