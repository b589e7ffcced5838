"""Offline classifier: keyword and example matching over the taxonomy, no network, stdlib only.

It is the first pass for every verdict and the fallback when no LLM is configured or the LLM
fails, so it must be deterministic, fast on any input, and never raise on odd text. The text
handling, matching, negation, sentiment, urgency cues and team-language wording it relies on
live in the sibling modules of this package.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace

from bot.classification.blend import blend
from bot.classification.brand import COMPETITOR_REASON, BrandConfig, competitor_terms, neutralise
from bot.classification.language import ALL_STOPWORDS, detect_language_tokens
from bot.classification.learned import LearnedModel, Scored
from bot.classification.matching import Doc, Hit, Term, compile_terms, find_hits, score_hits
from bot.classification.negation import clearing_starts, is_cleared
from bot.classification.sentiment import polarity, score_sentiment
from bot.classification.signals import CALLBACK_MISSED, CANCELLING, CHURNED, LEGAL, REPEATED
from bot.classification.taxonomy import OTHER_REASON_ID, Taxonomy
from bot.classification.text import MAX_CHARS, tokenize
from bot.classification.wording import (
    EMPTY_SUMMARY,
    FACTS,
    NOT_A_REASON,
    suggested_action,
    summarise,
    team_lang,
    telling_sentence,
)

__all__ = [
    "BACKEND",
    "MODEL",
    "PROMPT_VERSION",
    "Classification",
    "OfflineClassifier",
]

BACKEND = "offline"
MODEL = "offline-keywords"
PROMPT_VERSION = "offline-1"


# A reason needs at least one keyword hit to be chosen; example similarity only breaks ties.
_MIN_KEYWORD_SCORE = 1.0
_SECONDARY_FRACTION = 0.2
_MAX_SECONDARY = 3
_SIMILARITY_CAP = 1.0
_SIMILARITY_SCALE = 0.2
# `other` keywords ("no particular reason") are weak: any real reason should outrank them.
_OTHER_WEIGHT = 0.5
# Cues are read at a glance on the card: a handful says why, more is noise.
_MAX_CUES = 8


@dataclass(frozen=True)
class Classification:
    """One classification result; the LLM classifier produces the same type."""

    primary_reason: str
    secondary_reasons: tuple[str, ...]
    confidence: float
    sentiment: str
    severity: str
    language: str
    summary: str
    suggested_action: str
    backend: str
    model: str
    prompt_version: str
    taxonomy_version: str
    provisional: bool
    # Added with the LLM classifier; defaults keep older callers working.
    cues: tuple[str, ...] = ()  # the words or phrases that decided, so a person can see why
    facts: tuple[str, ...] = ()  # facts that matter for contact ("former customer", ...)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    text_hash: str | None = None  # LLM cache key: hash of the masked verbatim

    def to_dict(self) -> dict[str, object]:
        """The result as plain JSON-ready data (the CLI prints this)."""
        data = dataclasses.asdict(self)
        data["secondary_reasons"] = list(self.secondary_reasons)
        data["cues"] = list(self.cues)
        data["facts"] = list(self.facts)
        return data


def _model_name(learned: LearnedModel | None) -> str:
    return f"{MODEL}+learned-v{learned.version}" if learned is not None else MODEL


@dataclass(frozen=True)
class _ReasonModel:
    reason_id: str
    terms: tuple[Term, ...]
    example_stems: frozenset[str]


def _content_stems(tokens: Iterable[str]) -> set[str]:
    return {t[:6] for t in tokens if len(t) >= 4 and t not in ALL_STOPWORDS and not t.isdigit()}


class OfflineClassifier:
    """Deterministic keyword classifier over a taxonomy; works without any network."""

    backend = BACKEND
    prompt_version = PROMPT_VERSION

    def __init__(
        self,
        taxonomy: Taxonomy,
        *,
        team_language: str = "en",
        provisional: bool = False,
        brand: BrandConfig | None = None,
    ) -> None:
        self.taxonomy = taxonomy
        self.brand = brand
        # The newest learned model of this taxonomy version (set by bot.classification.learning:
        # one attribute swap, so a request never sees half a model); None: the rules alone.
        self.learned: LearnedModel | None = None
        self.unloadable: set[int] = set()  # stored versions that did not load (logged once)
        self.corrections_kept = False  # older corrections kept as examples by this process
        # True when an LLM pass follows: results are first answers, replaced when it answers.
        self.provisional = provisional
        self.team_language = team_lang(team_language)
        models: list[_ReasonModel] = []
        for reason in taxonomy.reasons:
            scale = _OTHER_WEIGHT if reason.id == OTHER_REASON_ID else 1.0
            raws = [kw for words in reason.keywords.values() for kw in words]
            if reason.id == COMPETITOR_REASON:
                raws += competitor_terms(brand)
            stems = _content_stems(t for ex in reason.examples for t in tokenize(ex))
            models.append(_ReasonModel(reason.id, compile_terms(raws, scale), frozenset(stems)))
        self._models = tuple(models)
        # Example words shared by many reasons ("client", "months") say nothing: weight by idf.
        df = Counter(stem for m in models for stem in m.example_stems)
        n = len(models)
        self._idf = {stem: math.log(n / count) for stem, count in df.items()}

    @property
    def model(self) -> str:
        """What classifies: the rules, and the learned model's version when there is one."""
        return _model_name(self.learned)

    def similar(self, text: str, k: int = 3) -> list[tuple[str, str]]:
        """The team's labelled examples most like `text` (the learned model's retrieval), for the
        LLM's prompt; [] without a model."""
        learned = self.learned
        return learned.similar(text, k) if learned is not None else []

    def classify_many(
        self, texts: list[str], scores: list[int | None] | None = None
    ) -> list[Classification]:
        """Classify many verbatims, running the learned model once over all of them (fast)."""
        learned = self.learned
        prepared = [neutralise((t or "")[:MAX_CHARS], self.brand) for t in texts]
        views = learned.score(prepared) if learned is not None else [None] * len(texts)
        scores = scores or [None] * len(texts)
        return [
            self._classify(text, score, None, learned, view)
            for text, score, view in zip(prepared, scores, views, strict=True)
        ]

    def classify(
        self, text: str, *, score: int | None = None, scale: str | None = None
    ) -> Classification:
        """Classify one verbatim; `score`/`scale` (NPS 0-10 or CSAT 1-5) steer the sentiment."""
        learned = self.learned
        text = neutralise((text or "")[:MAX_CHARS], self.brand)
        view = learned.score([text])[0] if learned is not None and text.strip() else None
        return self._classify(text, score, scale, learned, view)

    def _classify(
        self,
        text: str,
        score: int | None,
        scale: str | None,
        learned: LearnedModel | None,
        view: Scored | None,
    ) -> Classification:
        doc = Doc.build(text)
        lang = self.team_language
        name = _model_name(learned)
        if not doc.tokens:
            sentiment = score_sentiment(score, scale) or "neutral"
            return self._result(
                name,
                OTHER_REASON_ID,
                (),
                0.0,
                sentiment,
                "medium" if sentiment == "negative" else "low",
                "und",
                EMPTY_SUMMARY[lang],
                self._action(OTHER_REASON_ID, former=False),
            )

        doc_stems = _content_stems(doc.index)
        keyword_scores: dict[str, float] = {}
        totals: dict[str, float] = {}
        hits_by_reason: dict[str, list[Hit]] = {}
        cleared_from = clearing_starts(doc)
        cleared: list[Hit] = []
        for m in self._models:
            hits: list[Hit] = []
            # (Skipped when they cannot change anything: this loop is the per-verdict cost.)
            for hit in find_hits(doc, m.terms) if m.terms else ():
                (cleared if is_cleared(doc, hit, cleared_from) else hits).append(hit)
            kw = score_hits(hits) if hits else 0.0
            keyword_scores[m.reason_id] = kw
            totals[m.reason_id] = 0.0
            if kw > 0:
                shared = doc_stems & m.example_stems
                sim = min(_SIMILARITY_CAP, _SIMILARITY_SCALE * sum(self._idf[s] for s in shared))
                totals[m.reason_id] = kw + sim
            hits_by_reason[m.reason_id] = hits

        order = {rid: i for i, rid in enumerate(self.taxonomy.ids())}
        ranked = sorted(
            (rid for rid in totals if keyword_scores[rid] > 0),
            key=lambda rid: (-totals[rid], order[rid]),
        )
        real = [rid for rid in ranked if rid != OTHER_REASON_ID]
        strong = [rid for rid in real if keyword_scores[rid] >= _MIN_KEYWORD_SCORE]

        if strong and totals[strong[0]] >= totals.get(OTHER_REASON_ID, 0.0):
            primary = strong[0]
            best = totals[primary]
            secondary = tuple(
                rid for rid in strong[1:] if totals[rid] >= _SECONDARY_FRACTION * best
            )[:_MAX_SECONDARY]
            runner_up = totals[strong[1]] if len(strong) > 1 else 0.0
            margin = (best - runner_up) / best
            evidence = 1.0 - math.exp(-keyword_scores[primary] / 2.0)
            confidence = 0.2 + 0.75 * evidence * (0.4 + 0.6 * margin)
        elif keyword_scores.get(OTHER_REASON_ID, 0.0) > 0:
            # "No particular reason" is an answer, if a weak one.
            primary, secondary, confidence = OTHER_REASON_ID, (), 0.35
        else:
            primary, secondary, confidence = OTHER_REASON_ID, (), 0.1
        if view is not None:
            rule_primary = primary
            primary, confidence = blend(view, primary, confidence, totals, strong, self.taxonomy)
            if primary != rule_primary:
                secondary = tuple(r for r in (rule_primary, *secondary) if r != primary)
                secondary = tuple(r for r in secondary if r != OTHER_REASON_ID)[:_MAX_SECONDARY]
        confidence = round(min(0.95, max(0.0, confidence)), 2)

        language = detect_language_tokens(doc.tokens)
        positive_hits, negative_hits = polarity(doc)
        lexicon = len(positive_hits) - len(negative_hits)
        churned_hits = find_hits(doc, CHURNED)
        cancelling_hits = find_hits(doc, CANCELLING)
        legal_hits = find_hits(doc, LEGAL)
        repeated_hits = find_hits(doc, REPEATED)

        if lexicon > 0 and not churned_hits:
            text_sentiment = "positive"
        elif lexicon < 0 or churned_hits or cancelling_hits or primary != OTHER_REASON_ID:
            # Exit surveys and complaints rarely use angry words: a stated reason to leave is
            # itself negative.
            text_sentiment = "negative"
        else:
            text_sentiment = "neutral"
        # The customer's own rating is the better signal when there is one.
        sentiment = score_sentiment(score, scale) or text_sentiment

        if (
            churned_hits
            or cancelling_hits
            or legal_hits
            or (repeated_hits and sentiment == "negative")
        ):
            severity = "high"
        elif sentiment == "negative":
            severity = "medium"
        else:
            severity = "low"

        status = "former" if churned_hits else "cancelling" if cancelling_hits else sentiment
        telling = telling_sentence(
            doc,
            primary_hits=hits_by_reason.get(primary, []) if primary != OTHER_REASON_ID else [],
            other_hits=[h for rid in secondary for h in hits_by_reason[rid]]
            + churned_hits
            + cancelling_hits
            + legal_hits
            + negative_hits,
        )
        summary = summarise(self.taxonomy, lang, primary, secondary, status, telling)
        action = self._action(primary, former=bool(churned_hits))
        deciding = [h for rid in (primary, *secondary) for h in hits_by_reason.get(rid, [])]
        cues = [doc.surface(h.start, h.length) for h in deciding if primary != OTHER_REASON_ID]
        cues += [
            NOT_A_REASON[lang].format(cue=doc.surface(h.start, h.length))
            for h in cleared
            if h.term.weight >= 1.0  # `other`'s weak phrases are no reason to mention
        ]
        flags = {
            "former": churned_hits,
            "cancelling": cancelling_hits if not churned_hits else [],
            "legal": legal_hits,
            "repeated": repeated_hits if sentiment == "negative" else [],
            "callback": find_hits(doc, CALLBACK_MISSED),
        }
        facts = tuple(FACTS[lang][name] for name, found in flags.items() if found)
        return replace(
            self._result(
                name, primary, secondary, confidence, sentiment, severity, language, summary, action
            ),
            cues=tuple(dict.fromkeys(cues))[:_MAX_CUES],
            facts=facts,
        )

    # ----------------------------------------------------------------------- helpers

    def _result(
        self,
        model: str,
        primary: str,
        secondary: tuple[str, ...],
        confidence: float,
        sentiment: str,
        severity: str,
        language: str,
        summary: str,
        action: str,
    ) -> Classification:
        return Classification(
            primary_reason=primary,
            secondary_reasons=secondary,
            confidence=confidence,
            sentiment=sentiment,
            severity=severity,
            language=language,
            summary=summary,
            suggested_action=action,
            backend=BACKEND,
            model=model,
            prompt_version=PROMPT_VERSION,
            taxonomy_version=self.taxonomy.version,
            provisional=self.provisional,
        )

    def _action(self, primary: str, *, former: bool) -> str:
        return suggested_action(self.taxonomy, primary, self.team_language, former=former)
