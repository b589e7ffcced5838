"""Keyword matching: terms compiled from the taxonomy's keywords, found in an indexed document."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.classification.text import TOKEN_RE, fold_map, quote_units, split_words, tokenize


@dataclass(frozen=True)
class Term:
    """A compiled keyword: one word or a phrase, each word exact(+plural) or prefix."""

    text: str
    words: tuple[str, ...]
    prefix: tuple[bool, ...]
    weight: float


def _compile_term(raw: str, weight_scale: float = 1.0) -> Term | None:
    raw = raw.strip()
    star = raw.endswith("*")
    whole = raw.endswith("!")  # "signal!" must not match "signaler" (to report, in French)
    words = tuple(tokenize(raw.rstrip("*!")))
    if not words:
        return None
    # Long words are stems ("rembours"); short ones ("sav", "fee") would match too much as
    # prefixes, so they match whole words plus a plural.
    last = len(words) - 1
    prefix = tuple(
        (len(w) >= 5 and not (whole and i == last)) or (star and i == last)
        for i, w in enumerate(words)
    )
    weight = min(2.0, 1.0 + 0.25 * (len(words) - 1)) * weight_scale
    return Term(text=raw, words=words, prefix=prefix, weight=weight)


def compile_terms(raws: Iterable[str], weight_scale: float = 1.0) -> tuple[Term, ...]:
    """Compiled keywords, without duplicates; `*` forces a prefix, `!` a whole last word."""
    seen: set[tuple[tuple[str, ...], tuple[bool, ...]]] = set()
    terms: list[Term] = []
    for raw in raws:
        term = _compile_term(raw, weight_scale)
        if term is not None and (term.words, term.prefix) not in seen:
            seen.add((term.words, term.prefix))
            terms.append(term)
    return tuple(terms)


def _word_ok(pattern: str, is_prefix: bool, token: str) -> bool:
    if is_prefix:
        return token.startswith(pattern)
    return token == pattern or token in (pattern + "s", pattern + "x", pattern + "es")


# Clause breaks inside a sentence: a negation or a "no problem with" never reaches past them.
_CLAUSE_BREAK_RE = re.compile(r"[,:()\[\]–—\"«»“”]")
_CONTRAST = frozenset(
    split_words("mais but however cependant pourtant sauf except although though whereas contre")
)


@dataclass
class Doc:
    """The text as folded tokens, with an index for fast keyword lookup, sentence and clause
    ids, and where each token came from (so a cue can be quoted as the customer wrote it)."""

    tokens: list[str]
    sentence_of: list[int]
    sentences: list[str]
    index: dict[str, list[int]] = field(default_factory=dict)
    vocab: list[str] = field(default_factory=list)
    clause_of: list[int] = field(default_factory=list)
    spans: list[tuple[int, int]] = field(default_factory=list)
    _keys: tuple[set[str], set[str]] | None = None  # lookup_keys(), computed once

    @classmethod
    def build(cls, text: str) -> Doc:
        """Tokenise and index `text`, sentence by sentence and clause by clause."""
        tokens: list[str] = []
        sentence_of: list[int] = []
        sentences: list[str] = []
        clause_of: list[int] = []
        spans: list[tuple[int, int]] = []
        clause = 0
        for sentence in quote_units(text):
            folded, where = fold_map(sentence)
            matches = list(TOKEN_RE.finditer(folded))
            if not matches:
                continue
            sid = len(sentences)
            sentences.append(sentence)
            clause += 1
            previous_end = 0
            for match in matches:
                word = match.group(0)
                if _CLAUSE_BREAK_RE.search(folded, previous_end, match.start()) or (
                    word in _CONTRAST
                ):
                    clause += 1
                previous_end = match.end()
                tokens.append(word)
                sentence_of.append(sid)
                clause_of.append(clause)
                spans.append((where[match.start()], where[match.end() - 1] + 1))
        index: dict[str, list[int]] = {}
        for pos, tok in enumerate(tokens):
            index.setdefault(tok, []).append(pos)
        return cls(tokens, sentence_of, sentences, index, sorted(index), clause_of, spans)

    def lookup_keys(self) -> tuple[set[str], set[str]]:
        """What a term's first word may be to match here: each word, also without a plural's
        "s", "x" or "es" (the rule of _word_ok, reversed), and each word's every prefix."""
        if self._keys is None:
            exact: set[str] = set()
            prefixes: set[str] = set()
            for token in self.index:
                exact.add(token)
                if token.endswith(("s", "x")):
                    exact.add(token[:-1])
                if token.endswith("es"):
                    exact.add(token[:-2])
                prefixes.update(token[:k] for k in range(1, len(token) + 1))
            self._keys = (exact, prefixes)
        return self._keys

    def surface(self, start: int, length: int) -> str:
        """The words at token positions [start, start+length) as the customer wrote them."""
        sentence = self.sentences[self.sentence_of[start]]
        return sentence[self.spans[start][0] : self.spans[start + length - 1][1]]

    def _positions(self, word: str, is_prefix: bool) -> list[int]:
        if not is_prefix:
            out: list[int] = []
            for variant in (word, word + "s", word + "x", word + "es"):
                out.extend(self.index.get(variant, ()))
            return out
        out = []
        i = bisect_left(self.vocab, word)
        while i < len(self.vocab) and self.vocab[i].startswith(word):
            out.extend(self.index[self.vocab[i]])
            i += 1
        return out

    def find(self, term: Term) -> list[int]:
        """Start positions where the term occurs."""
        starts = self._positions(term.words[0], term.prefix[0])
        if len(term.words) == 1:
            return sorted(starts)
        n = len(self.tokens)
        found = []
        for start in starts:
            end = start + len(term.words)
            # A phrase never spans two sentences: "…the bill. Went up…" is no "went up".
            if (
                end <= n
                and self.sentence_of[end - 1] == self.sentence_of[start]
                and all(
                    _word_ok(w, p, self.tokens[start + k])
                    for k, (w, p) in enumerate(zip(term.words[1:], term.prefix[1:], strict=True), 1)
                )
            ):
                found.append(start)
        return sorted(found)


@dataclass(frozen=True)
class Hit:
    """Where a term occurs: its first token position and its length in tokens."""

    start: int
    length: int
    term: Term


@dataclass(frozen=True)
class _FirstWords:
    """Term positions by first word, exact and prefix, with those words as sets (set & set
    walks the smaller one; a dict's keys & a set copies the keys first)."""

    terms: Sequence[Term]
    exact: dict[str, list[int]]
    prefix: dict[str, list[int]]
    exact_words: frozenset[str]
    prefix_words: frozenset[str]


_FIRST_WORD_INDEX: dict[int, _FirstWords] = {}


def _first_word_index(terms: Sequence[Term]) -> _FirstWords:
    """The first-word index of a term list, built once per list."""
    cached = _FIRST_WORD_INDEX.get(id(terms))
    if cached is not None and cached.terms is terms:
        return cached
    exact: dict[str, list[int]] = {}
    prefix: dict[str, list[int]] = {}
    for i, term in enumerate(terms):
        (prefix if term.prefix[0] else exact).setdefault(term.words[0], []).append(i)
    index = _FirstWords(terms, exact, prefix, frozenset(exact), frozenset(prefix))
    _FIRST_WORD_INDEX[id(terms)] = index
    return index


def _candidates(doc: Doc, terms: Sequence[Term]) -> list[Term]:
    """The terms whose first word occurs in the document: looking up the document's words in an
    index of terms costs far less than trying every term of every reason."""
    index = _first_word_index(terms)
    exact_keys, prefix_keys = doc.lookup_keys()
    found: set[int] = set()
    for key in index.exact_words & exact_keys:
        found.update(index.exact[key])
    for key in index.prefix_words & prefix_keys:
        found.update(index.prefix[key])
    return [terms[i] for i in sorted(found)]


def find_hits(doc: Doc, terms: Sequence[Term]) -> list[Hit]:
    """All non-overlapping hits; longer and heavier terms win a contested word."""
    candidates = [
        Hit(start, len(term.words), term)
        for term in _candidates(doc, terms)
        for start in doc.find(term)
    ]
    candidates.sort(key=lambda h: (-h.length, -h.term.weight, h.start, h.term.text))
    taken: set[int] = set()
    kept: list[Hit] = []
    for hit in candidates:
        span = range(hit.start, hit.start + hit.length)
        if any(p in taken for p in span):
            continue
        taken.update(span)
        kept.append(hit)
    kept.sort(key=lambda h: h.start)
    return kept


def score_hits(hits: Sequence[Hit]) -> float:
    """A reason's keyword score from its hits."""
    # Distinct keywords are the evidence; repeating one word adds a little, up to 3 times.
    counts = Counter(h.term for h in hits)
    return sum(t.weight * (1.0 + 0.25 * (min(n, 3) - 1)) for t, n in counts.items())
