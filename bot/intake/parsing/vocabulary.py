"""The field vocabularies (`prompts/fields.yaml`): which label means which field, which answer
means yes or no, and the prose cues, loaded and checked once.

A label is matched by its words, not its spelling: normalised (case, accents, markup, bullets,
emoji, numbering, punctuation), stop words dropped, then compared with each field's phrases.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.intake.parsing.model import fold
from bot.intake.parsing.prefilter import required_words, text_words

DEFAULT_VOCABULARY_PATH = Path(__file__).resolve().parents[3] / "prompts" / "fields.yaml"
# Fields in priority order: on a tie, the first wins (a consent question is never a comment).
FIELDS = ("consent", "churned_on", "status", "ref", "channel", "score", "source", "text", "meta")
CHANNELS = ("web", "phone", "email", "chat", "sms", "store")
PROSE_KEYS = (
    "consent_no",
    "consent_yes",
    "former",
    "current",
    "channel_phone",
    "channel_web",
    "channel_email",
    "channel_chat",
    "channel_sms",
    "channel_store",
    "consent_question",
)


class VocabularyError(ValueError):
    """The vocabulary file is missing or wrong; the message is one line naming the place."""


Phrases = dict[str, list[str]]  # language -> phrases


class FieldWords(BaseModel):
    model_config = ConfigDict(extra="forbid")
    labels: Phrases
    negated_labels: Phrases = Field(default_factory=dict)
    yes_means_current: Phrases = Field(default_factory=dict)
    yes_means_former: Phrases = Field(default_factory=dict)


class Values(BaseModel):
    model_config = ConfigDict(extra="forbid")
    yes: list[str]
    no: list[str]
    former: list[str]
    current: list[str]
    channels: dict[str, list[str]]
    ratings: list[str] = Field(default_factory=list)

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = sorted(set(value) - set(CHANNELS))
        if unknown:
            raise ValueError(f"unknown channel {unknown[0]!r}; use {', '.join(CHANNELS)}")
        return value


class VocabularyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | str
    stop_words: list[str] = Field(default_factory=list)
    fields: dict[str, FieldWords]
    values: Values
    prose: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, FieldWords]) -> dict[str, FieldWords]:
        unknown = sorted(set(value) - set(FIELDS))
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}; use {', '.join(FIELDS)}")
        missing = [name for name in FIELDS if name not in value and name != "meta"]
        if missing:
            raise ValueError(f"field {missing[0]!r} is missing")
        return value

    @field_validator("prose")
    @classmethod
    def _patterns(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for key, patterns in value.items():
            if key not in PROSE_KEYS:
                raise ValueError(f"unknown prose cue {key!r}; use {', '.join(PROSE_KEYS)}")
            for n, pattern in enumerate(patterns):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise ValueError(f"{key}[{n}]: not a regular expression: {exc}") from None
        return value


_MARKUP = re.compile(r"[*_~`>]+")
_NUMBERING = re.compile(
    r"^\s*(?:q(?:uestion)?\s*\d+[a-z]?|\d{1,2}[a-z]?)\s*(?:[.):/-]|\s)\s*", re.I
)
_NON_WORD = re.compile(r"[^a-z0-9]+")


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")


def words(label: str) -> list[str]:
    """A label's words: folded, without markup, emoji, numbering or punctuation; `NumClient`
    and `customer_id` are two words each."""
    text = _NUMBERING.sub("", _MARKUP.sub(" ", label).strip(" \t•·-–—:"))
    if not text.isupper():
        text = _CAMEL.sub(" ", text)
    return [w.strip("'") for w in _NON_WORD.split(fold(text)) if w.strip("'")]


@dataclass(frozen=True)
class LabelMatch:
    """What a label means: its field, and how a yes/no answer to it reads."""

    field: str
    negated: bool = False  # "Do not contact": a yes is a refusal
    yes_means: str | None = None  # status questions: "current" or "former"


class Vocabulary:
    """Matchers built from one vocabulary file."""

    def __init__(self, data: VocabularyFile) -> None:
        self.version = str(data.version)
        self.stop = frozenset(w for s in data.stop_words for w in words(s)) | {"'"}
        # (field, tokens, negated, yes_means) for every phrase, indexed by each of its words.
        self._phrases: list[tuple[str, tuple[str, ...], bool, str | None]] = []
        for name in FIELDS:
            if name not in data.fields:
                continue  # `meta` is optional
            spec = data.fields[name]
            groups: list[tuple[Phrases, bool, str | None]] = [
                (spec.negated_labels, True, None),
                (spec.yes_means_current, False, "current"),
                (spec.yes_means_former, False, "former"),
                (spec.labels, False, None),
            ]
            for phrases, negated, yes_means in groups:
                for phrase in (p for ps in phrases.values() for p in ps):
                    tokens = tuple(stem(w) for w in self._content(words(phrase)))
                    if tokens:
                        self._phrases.append((name, tokens, negated, yes_means))
        self._by_field: dict[str, list[tuple[str, ...]]] = {name: [] for name in FIELDS}
        for name, tokens, _, _ in self._phrases:
            self._by_field[name].append(tokens)
        self.exact: dict[str, set[int]] = {}
        self.prefix: dict[str, set[int]] = {}
        for index, (_, tokens, _, _) in enumerate(self._phrases):
            for token in tokens:
                table = self.prefix if len(token) >= 4 else self.exact
                table.setdefault(token, set()).add(index)
        self.yes = frozenset(_value_key(v) for v in data.values.yes)
        self.no = frozenset(_value_key(v) for v in data.values.no)
        self.former = frozenset(_value_key(v) for v in data.values.former)
        self.current = frozenset(_value_key(v) for v in data.values.current)
        self.ratings = frozenset(w for v in data.values.ratings for w in words(v))
        self.channels = {
            _value_key(v): name for name, values in data.values.channels.items() for v in values
        }
        self.prose = {
            key: re.compile("|".join(f"(?:{p})" for p in data.prose.get(key) or ["(?!x)x"]))
            for key in PROSE_KEYS
        }
        self._prose_cues = {key: tuple(data.prose.get(key) or ()) for key in PROSE_KEYS}
        # Each cue indexed by the words it cannot match without (`required_words`): a set
        # lookup (fast, in C) decides which expressions are worth running at all.
        self._cues = {key: [re.compile(p) for p in cues] for key, cues in self._prose_cues.items()}
        self._always: dict[str, set[int]] = {key: set() for key in PROSE_KEYS}
        self._by_word: dict[str, list[tuple[str, int]]] = {}  # word -> (key, cue number)
        for key, cues in self._prose_cues.items():
            for n, cue in enumerate(cues):
                required = required_words(cue)
                if required is None:
                    self._always[key].add(n)
                for word in required or ():
                    self._by_word.setdefault(word, []).append((key, n))
        self._cue_words = frozenset(self._by_word)
        # One text is asked about for several keys in a row (consent, then status, channels):
        # its candidates for every key are worked out at once, for the last few texts.
        self._all_candidates = lru_cache(maxsize=16)(self._candidates_of)
        self.match = lru_cache(maxsize=4096)(self._match)
        self.names = lru_cache(maxsize=4096)(self._names)

    def _candidates(self, key: str, folded: str) -> list[int]:
        """The cues of `key` (their numbers, in file order) whose required words are in the
        text: the others cannot match it."""
        found = self._all_candidates(folded).get(key)
        return sorted(self._always[key] | found) if found else sorted(self._always[key])

    def _candidates_of(self, folded: str) -> dict[str, set[int]]:
        found: dict[str, set[int]] = {}
        by_word = self._by_word
        for word in text_words(folded) & self._cue_words:
            for key, n in by_word[word]:
                found.setdefault(key, set()).add(n)
        return found

    def cue(self, key: str, folded: str) -> bool:
        """Whether any prose cue of `key` is in the folded text (`self.prose[key]` found), run
        with only the cues whose required words are there."""
        cues = self._cues[key]
        return any(cues[n].search(folded) for n in self._candidates(key, folded))

    def prose_finditer(self, key: str, folded: str) -> Iterator[re.Match[str]]:
        """The matches of `self.prose[key].finditer(folded)`, found with only the cues that can
        match: at each step the leftmost match, on a tie the cue listed first (as an alternation
        of them all would)."""
        patterns = [self._cues[key][n] for n in self._candidates(key, folded)]
        pos, given = 0, 0
        while patterns:
            found = [m for m in (p.search(folded, pos) for p in patterns) if m is not None]
            if not found:
                return
            first = min(found, key=lambda m: m.start())  # the first of the leftmost
            if first.end() == first.start():
                # an empty match: let the whole alternation step over it, as finditer does
                yield from itertools.islice(self.prose[key].finditer(folded), given, None)
                return
            yield first
            pos, given = first.end(), given + 1

    def _names(self, label: str, field: str) -> bool:
        """Whether some phrase of `field` is in the label (not only the best-ranked one):
        `Customer Comments` names the customer and a comment."""
        tokens = self._content(words(label))
        return any(all(_has(tokens, w) for w in phrase) for phrase in self._by_field[field])

    def _content(self, tokens: list[str]) -> list[str]:
        return [t for t in tokens if t not in self.stop]

    def _match(self, label: str) -> LabelMatch | None:
        """The field a label names, or None. The phrase matching the most words wins."""
        tokens = self._content(words(label))
        if not tokens or len(tokens) > 30:
            return None
        if self.prose["consent_question"].search(fold(label)):
            return LabelMatch("consent")  # "Can we email you about this?": asks for consent
        candidates: set[int] = set()
        for token in tokens:
            candidates |= self.exact.get(token, set())
            for end in range(4, len(token) + 1):
                candidates |= self.prefix.get(token[:end], set())
        best: tuple[tuple[int, int, int, int, int], int] | None = None
        for index in candidates:
            name, phrase, negated, yes_means = self._phrases[index]
            if all(_has(tokens, word) for word in phrase):
                # More words matched first; then a negated phrase ("do not contact" over
                # "contact"), a yes/no question ("still a customer?"); then the field
                # listed first; then the first phrase (the order of the file, not of a set).
                rank = (
                    len(phrase),
                    int(negated),
                    int(yes_means is not None),
                    -FIELDS.index(name),
                    -index,
                )
                if best is None or rank > best[0]:
                    best = (rank, index)
        if best is None:
            return None
        name, _, negated, yes_means = self._phrases[best[1]]
        return LabelMatch(name, negated, yes_means)


WORD = re.compile(r"[a-z0-9]+")


def _has(tokens: list[str], word: str) -> bool:
    if len(word) < 4:
        return word in tokens
    return any(t.startswith(word) for t in tokens)


def stem(word: str) -> str:
    """A phrase word as a prefix: `share` also matches `sharing`, `rappele` `rappeler`."""
    return word[:-1] if len(word) >= 5 and word.endswith("e") else word


_VALUE_TRIM = " \t.!;,*_\"'“”«»()[]"


def _value_key(value: str) -> str:
    folded = fold(value)
    trimmed = folded.strip(_VALUE_TRIM)
    return trimmed or folded  # "[ ]" and "[x]" stay themselves


def value_key(value: str) -> str:
    """An answer as the vocabulary's value lists hold it: folded and trimmed."""
    return _value_key(value)


def load_vocabulary_file(path: str | Path) -> Vocabulary:
    """Read and check a vocabulary file; VocabularyError (one line) when it is wrong."""
    file = Path(path)
    if not file.is_file():
        raise VocabularyError(f"{path}: vocabulary file not found")
    try:
        raw: Any = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise VocabularyError(f"{path}: invalid YAML{where}") from None
    if not isinstance(raw, dict):
        raise VocabularyError(f"{path}: expected a mapping with version, fields and values")
    try:
        return Vocabulary(VocabularyFile.model_validate(raw))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "is not a known key"
        elif error["type"] == "missing":
            message = "is required"
        raise VocabularyError(f"{path}: {where}: {message}") from None


@lru_cache(maxsize=8)
def load_vocabulary(path: str | None = None) -> Vocabulary:
    """The vocabulary at `path` (the bundled `prompts/fields.yaml` when None), loaded once."""
    return load_vocabulary_file(path or DEFAULT_VOCABULARY_PATH)
