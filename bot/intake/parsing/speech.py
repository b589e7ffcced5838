"""Reported speech: in a colleague's or an interviewer's note (`Mr Patel ... says "the bill is
impossible to understand"`, `Elle dit : « j'ai résilié parce que... »`), the customer's words
are the quoted ones, not the note around them."""

from __future__ import annotations

import re

from bot.intake.parsing.model import fold
from bot.intake.parsing.vocabulary import words

_QUOTED = re.compile(
    r"«\s*([^«»]+?)\s*»|“([^“”]+)”|\"([^\"\n]+)\"|„([^„“]+)“"
    # dictated: "quote the router you sent me is worse end quote", "je cite ... fin de citation"
    r"|\b(?:[Qq]uote|[Jj]e cite|[Cc]itation)\b[:,]?\s+(.+?)\s*\b(?:end (?:of )?quote|unquote"
    r"|fin de (?:la )?citation)\b"
)
_MIN_QUOTE_WORDS = 3
_TOKEN = re.compile(r"[a-z]+'?")  # `j'` and `m'` keep their apostrophe: `M-90233` is no `m'`
# The customer speaking: then the text is theirs and a quote in it is a quote. (A note may
# well say "you": "plus cliente chez vous".)
_FIRST_PERSON = frozenset(
    {
        "i", "i'", "me", "my", "mine", "myself", "je", "j'", "moi", "mon", "ma", "mes", "m'",
    }
)  # fmt: skip
# The customer spoken of: a note about them, by someone else.
_THIRD_PERSON = frozenset(
    {
        "he", "she", "him", "her", "his", "hers", "il", "elle", "lui", "customer", "client",
        "cliente", "member", "caller", "subscriber", "abonne", "abonnee", "mr", "mrs", "ms",
        "mme", "mlle", "monsieur", "madame", "quote", "citation", "verbatim", "says", "said",
        "dit", "explique", "raconte", "ajoute", "precise",
    }
)  # fmt: skip


def reported_words(text: str, context: str = "") -> str | None:
    """The quoted words of a note that speaks of the customer in the third person, one quote
    a line; None when the text is the customer's own (or quotes nothing of length)."""
    quotes: list[str] = []
    outside: list[str] = []
    last = 0
    for found in _QUOTED.finditer(text):
        quote = next(g for g in found.groups() if g is not None).strip()
        if len(words(quote)) < _MIN_QUOTE_WORDS:
            continue
        quotes.append(quote)
        outside.append(text[last : found.start()])
        last = found.end()
    if not quotes:
        return None
    outside.append(text[last:])
    around = _TOKEN.findall(fold(" ".join(outside)))
    if _FIRST_PERSON.intersection(around):
        return None
    if not _THIRD_PERSON.intersection(around) and not _THIRD_PERSON.intersection(
        _TOKEN.findall(fold(context))
    ):
        return None
    return "\n".join(quotes)
