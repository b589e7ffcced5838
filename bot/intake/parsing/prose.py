"""What prose says, in English and French: a refusal or agreement to be contacted, a customer
who left or stays (and when they left), the survey's channel, a score, the institute."""

from __future__ import annotations

import re

from bot.intake.parsing.values import find_date
from bot.intake.parsing.vocabulary import Vocabulary

_INLINE_SCORE = re.compile(
    r"\b(NPS|CSAT|score|note)\s*(?:score)?\s*(?:of|de|:|=)?\s*(\d{1,2})(?:\s*/\s*(\d{1,2}))?\b",
    re.IGNORECASE,
)
_SOURCE = re.compile(
    r"\b((?:Institut|Institute|Cabinet|Agence|Agency)\s+[A-Z][\w'-]+(?:\s+[A-Z][\w'-]+)?)"
)


def consent(folded: str, vocabulary: Vocabulary) -> bool | None:
    """False when the prose refuses contact or forwarding anywhere; True when it agrees; None."""
    if vocabulary.cue("consent_no", folded):
        return False
    if vocabulary.cue("consent_yes", folded):
        return True
    return None


def status(folded: str, vocabulary: Vocabulary) -> tuple[str | None, str | None]:
    """(`former`/`current`/None, churn date or None). A clear statement only: "I am cancelling
    at the end of my commitment" is not yet a former customer."""
    current = vocabulary.cue("current", folded)
    former = None
    for found in vocabulary.prose_finditer("former", folded):
        former = former or found
        window = folded[found.start() : found.end() + 60].split("\n", 1)[0]
        date = find_date(window)
        if date:
            return "former", date
    if former and current:
        return None, None  # both said: leave it to a person
    if former:
        return "former", None
    return ("current", None) if current else (None, None)


def channel(folded: str, vocabulary: Vocabulary) -> str | None:
    """The survey's channel when the prose names exactly one."""
    found = {
        name
        for name in ("phone", "web", "email", "chat", "sms", "store")
        if vocabulary.cue(f"channel_{name}", folded)
    }
    return found.pop() if len(found) == 1 else None  # two different cues: leave it unknown


def score(text: str) -> tuple[int, str] | None:
    """`NPS 3`, `NPS: 3`, `score 7/10`, `CSAT 2/5` written in a sentence."""
    for found in _INLINE_SCORE.finditer(text):
        number = int(found.group(2))
        out_of = int(found.group(3)) if found.group(3) else None
        if number > 10 or (out_of is not None and number > out_of):
            continue
        kind = found.group(1).upper()
        if kind == "NOTE" and out_of is None:
            continue  # "note 3" may be anything
        return number, "csat" if kind == "CSAT" or out_of == 5 else "nps"
    return None


def source(text: str) -> str | None:
    """An institute named in the prose: `Institut Opinia`."""
    found = _SOURCE.search(text)
    return found.group(1) if found else None
