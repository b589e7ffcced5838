"""What the intake parser produces, and the text folding every part of it shares."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.intake.parsing.vocabulary import LabelMatch

MAX_VERBATIM_CHARS = 20_000
# Marks a line that says where a message came from (a block's context line, an attachment's
# author or footer, a header block): read for references and fields, never the verbatim.
META_MARK = "\ue000"


def _fold_char(code: int) -> str:
    decomposed = unicodedata.normalize("NFKD", chr(code))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Latin letters with accents, typographic apostrophes and spaces, folded once (fast path).
_TABLE = {code: _fold_char(code) for code in range(0xC0, 0x250)}
_TABLE.update({0x2019: "'", 0x2018: "'", 0xA0: " ", 0x202F: " ", 0x2009: " "})
# Characters kept as they are, listed too: `translate` pays for a missing key (an exception
# inside) on every character the table does not hold.
for _code in (*range(0x250), *range(0x2000, 0x2070), 0x20AC, 0xE000, *range(0x2600, 0x27C0)):
    _TABLE.setdefault(_code, chr(_code))


# Combining marks left by NFKD (accents on letters outside the table above).
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fold(value: str) -> str:
    """Lowercase ASCII fold, so `Téléphone` and `telephone` match (apostrophes become ')."""
    if value.isascii():
        return value.lower().strip()
    value = value.translate(_TABLE)
    if value.isascii():
        return value.lower().strip()
    return _COMBINING.sub("", unicodedata.normalize("NFKD", value)).lower().strip()


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
    `answers` keeps each free-text answer with its question, in order; `text` holds the answers.
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
    answers: tuple[tuple[str, str], ...] = ()  # (question, answer) per free-text answer


@dataclass
class Item:
    """One piece of a message: a labelled answer, a line of prose, or metadata."""

    kind: (
        str  # "field" (a label the vocabulary knows), "answer" (an unknown label), "prose", "meta"
    )
    value: str
    label: str = ""
    match: LabelMatch | None = None
    line: str = ""  # the original line, for prose and for the lines it did not understand
    block: int = 0  # items of one paragraph share a block number
    own_line: bool = False  # the label stood on its own line, the answer below it
    context: bool = False  # from a context/header/footer line: fields read, never the verbatim
    scan: str = ""  # for metadata: the part read for references (a Subject, the sender)
    quoted: bool = False  # a `> ` line: someone sharing another person's words
    numbered: bool = False  # a numbered survey question ("Q2"): a label even when unanswered
    title: bool = False  # the message's title line: the verbatim only when nothing else is
