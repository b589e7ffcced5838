"""Reading one answer: yes or no, a customer status, a channel, a score, a date."""

from __future__ import annotations

import re

from bot.intake.parsing.model import fold
from bot.intake.parsing.vocabulary import Vocabulary, value_key

_FIRST_WORD = re.compile(r"^[\s*_\"'“”«»(\[]*([^\s,.;:!?()]+)")
NEGATION = re.compile(
    r"\b(not|never|no|non|pas|jamais|refus\w*|declin\w*|denied|without|sans|aucun\w*|don't|doesn't)\b"
)


def yes_no(value: str, vocabulary: Vocabulary) -> bool | None:
    """A yes/no answer: `Yes`, `N`, `true`, `✅`, `Non merci`, `No, I cancelled`; None if unclear."""
    key = value_key(value)
    if key in vocabulary.no:
        return False
    if key in vocabulary.yes:
        return True
    head = fold(value).split("\n", 1)[0]
    if head != fold(value) and value_key(head) in vocabulary.no:
        return False  # "Absolutely not" then more lines: the first line is the answer
    first = _FIRST_WORD.match(head)
    word = first.group(1).strip("'") if first else key
    if word in vocabulary.no:
        return False
    if word in vocabulary.yes:
        # "Sure not", "Absolutely not": a yes word negated straight after is no yes
        rest = head[first.end() :] if first else ""
        return None if re.match(r"^\W*(not|pas|non|never|jamais)\b", rest) else True
    for symbol in ("❌", "👎", "✖", "🚫", "❎"):
        if symbol in value:
            return False
    for symbol in ("✅", "👍", "✔", "☑"):
        if symbol in value:
            return True
    return None


def whole_yes_no(value: str, vocabulary: Vocabulary) -> bool | None:
    """A line that is nothing but a yes/no answer (`Non`, `No.`, `Non merci`, `👎`); None for a
    line that only starts with one (`No signal.`, `Non-stop coupures`)."""
    key = value_key(value)
    if key in vocabulary.no:
        return False
    if key in vocabulary.yes:
        return True
    if not re.sub(r"[\W_]+", "", value):  # symbols only: ❌, 👎, ✅
        return yes_no(value, vocabulary)
    return None


_LAST_PART = re.compile(r"(?:\s[-–—→>|/]|[:=])\s*([^-–—→>|/:=]+)$")


def last_says_no(value: str, vocabulary: Vocabulary) -> bool:
    """Whether an answer ends with a plain no after a separator (`autorisé - non`,
    `ok → ❌`): whatever came first, the last word given is a refusal."""
    found = _LAST_PART.search(value)
    return found is not None and yes_no(found.group(1), vocabulary) is False


def status(value: str, vocabulary: Vocabulary) -> str | None:
    """`former`, `current` or None, from a status answer: `Former`, `Ancien client`, `Résilié`."""
    key = value_key(value)
    if key in vocabulary.former:
        return "former"
    if key in vocabulary.current:
        return "current"
    words = key.replace("-", " ").split()
    if any(w in vocabulary.former for w in words) or _prose(key, vocabulary, "former"):
        return "former"
    if any(w in vocabulary.current for w in words[:2]) and not NEGATION.search(key):
        return "current"
    if _prose(key, vocabulary, "current"):
        return "current"
    return None


def _prose(folded: str, vocabulary: Vocabulary, key: str) -> bool:
    return vocabulary.cue(key, folded)


def channel(value: str, vocabulary: Vocabulary) -> str | None:
    """`web`, `phone`, `email`, `chat` or None."""
    key = value_key(value)
    if key in vocabulary.channels:
        return vocabulary.channels[key]
    found = {
        vocabulary.channels[w] for w in re.split(r"[\s/,()-]+", key) if w in vocabulary.channels
    }
    return found.pop() if len(found) == 1 else None


_SCORE = re.compile(r"^\s*[*_\"'(\[«“]*\s*(\d{1,2})(?:[.,]0)?\s*(?:(?:/|out of|sur)\s*(\d{1,2}))?")
_STARS = re.compile(r"^\s*([★⭐]{1,5})")


def score(value: str) -> tuple[int, str] | None:
    """A score and its scale: `3`, `3/10`, `4/5` (csat), `9 - Extremely likely`, `★★★★`."""
    stars = _STARS.match(value)
    if stars:
        return len(stars.group(1).replace("\ufe0f", "")), "csat"
    match = _SCORE.match(value)
    if not match:
        return None
    number = int(match.group(1))
    out_of = int(match.group(2)) if match.group(2) else None
    if number > 10 or (out_of is not None and number > out_of):
        return None
    return number, "csat" if out_of == 5 else "nps"


_MONTHS = {
    "jan": 1, "janv": 1, "january": 1, "janvier": 1,
    "feb": 2, "fev": 2, "fevr": 2, "february": 2, "fevrier": 2,
    "mar": 3, "march": 3, "mars": 3,
    "apr": 4, "avr": 4, "april": 4, "avril": 4,
    "may": 5, "mai": 5,
    "jun": 6, "june": 6, "juin": 6,
    "jul": 7, "july": 7, "juil": 7, "juillet": 7,
    "aug": 8, "august": 8, "aou": 8, "aout": 8,
    "sep": 9, "sept": 9, "september": 9, "septembre": 9,
    "oct": 10, "october": 10, "octobre": 10,
    "nov": 11, "november": 11, "novembre": 11,
    "dec": 12, "december": 12, "decembre": 12,
}  # fmt: skip
_MONTH_WORDS = "|".join(sorted(_MONTHS, key=len, reverse=True))
# Month and weekday names, and "at"/"à" between a date and a time: words of a date, not said.
DATE_WORDS = re.compile(
    rf"\b(?:{_MONTH_WORDS}|mon|tue|wed|thu|fri|sat|sun|monday|tuesday|wednesday|thursday|friday"
    r"|saturday|sunday|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|at|a|le|on|am|pm|h)\b"
)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_DMY = re.compile(r"\b(\d{1,2})[/.](\d{1,2})[/.](\d{4})\b")
_D_MONTH_Y = re.compile(rf"\b(\d{{1,2}})(?:er|st|nd|rd|th)?\s+({_MONTH_WORDS})\.?,?\s+(\d{{4}})\b")
_MONTH_D_Y = re.compile(rf"\b({_MONTH_WORDS})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b")


def _iso(year: int, month: int, day: int) -> str | None:
    if 1 <= month <= 12 and 1 <= day <= 31 and 1900 < year < 2200:
        return f"{year:04d}-{month:02d}-{day:02d}"
    return None


def find_date(text: str) -> str | None:
    """The first full date in a text, as ISO: `2026-07-02`, `02/07/2026` (day first, as in
    French), `2 July 2026`, `le 3 mars 2026`, `July 2, 2026`. A month alone is not a date."""
    folded = fold(text)
    found: list[tuple[int, str]] = []
    for match in _ISO.finditer(folded):
        iso = _iso(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        if iso:
            found.append((match.start(), iso))
    for match in _DMY.finditer(folded):
        iso = _iso(int(match.group(3)), int(match.group(2)), int(match.group(1)))
        if iso:
            found.append((match.start(), iso))
    for match in _D_MONTH_Y.finditer(folded):
        iso = _iso(int(match.group(3)), _MONTHS[match.group(2)], int(match.group(1)))
        if iso:
            found.append((match.start(), iso))
    for match in _MONTH_D_Y.finditer(folded):
        iso = _iso(int(match.group(3)), _MONTHS[match.group(1)], int(match.group(2)))
        if iso:
            found.append((match.start(), iso))
    return min(found)[1] if found else None
