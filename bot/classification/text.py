"""Text handling: accent folding, tokens, and the short pieces of text a quote is made of."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

# Beyond this the head of the text is enough to classify, and latency stays bounded.
MAX_CHARS = 200_000
QUOTE_MAX = 160

_FOLD_TABLE = str.maketrans(
    {
        "œ": "oe",
        "æ": "ae",
        "ø": "o",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "’": "'",
        "‘": "'",
        "ʼ": "'",
        # Currency signs become words, so "£50" or "20 €" counts as talk of money.
        "€": " euro ",
        "£": " pound ",
        "$": " dollar ",
    }
)
TOKEN_RE = re.compile(r"[a-z0-9]+")
# Sentence ends, plus line breaks and semicolons, so that quotes stay short and to the point.
_SENTENCE_RE = re.compile(r"[^.!?;…\n]+[.!?;…]*")
_CLAUSE_RE = re.compile(r"(?<=[,:])\s+")


def fold(text: str) -> str:
    """Lowercase and strip accents ("Réparé" -> "repare") so matching ignores both."""
    text = text.casefold().translate(_FOLD_TABLE)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def split_words(text: str) -> list[str]:
    """The words of a list written as one string (stopwords, lexicons)."""
    return text.split()


def tokenize(text: str) -> list[str]:
    """The folded words and numbers of `text`: what keywords and stopwords are matched against."""
    return TOKEN_RE.findall(fold(text))


def quote_units(text: str) -> Iterator[str]:
    """Sentences, with long ones cut at commas into pieces that fit in a quote."""
    for match in _SENTENCE_RE.finditer(text):
        sentence = " ".join(match.group(0).split())
        if len(sentence) <= QUOTE_MAX:
            yield sentence
            continue
        chunk = ""
        for piece in _CLAUSE_RE.split(sentence):
            if chunk and len(chunk) + 1 + len(piece) > QUOTE_MAX:
                yield chunk
                chunk = piece
            else:
                chunk = f"{chunk} {piece}" if chunk else piece
        if chunk:
            yield chunk


def fold_map(text: str) -> tuple[str, list[int]]:
    """The folded text and, for each folded character, its index in `text` (for quoting cues)."""
    folded = fold(text)
    if len(folded) == len(text):
        return folded, list(range(len(text)))  # the usual case: accents dropped one for one
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        piece = fold(ch)
        out.append(piece)
        where.extend([i] * len(piece))
    return "".join(out), where


def shorten(text: str, limit: int = QUOTE_MAX) -> str:
    """`text` on one line, cut at a word and ended with "…" when longer than `limit`."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-") + "…"
