"""The learned classifier beside the keyword rules: TF-IDF word 1-2-grams and character 2-5-grams
over accent-folded text, with a multinomial logistic regression (calibrated probabilities).

Chosen on figures (bench/bench_learning.py): as good as a calibrated linear SVM or SGD on the dev
set and on banking77, trains 10,000 examples in well under 30 s on 2 cores (saga solver, a capped
number of epochs), and is a plain matrix, so it is stored without pickle: numpy arrays and a JSON
vocabulary in one compressed .npz, loaded with `allow_pickle=False` after its checksum is checked.
Character n-grams make it multilingual by construction (French and English stems, typos, loanwords).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from bot.classification.text import MAX_CHARS, fold

if TYPE_CHECKING:  # imported when a model is trained or loaded: a process without one starts fast
    from scipy.sparse import csr_matrix
    from sklearn.feature_extraction.text import TfidfVectorizer

__all__ = ["FORMAT", "LearnedModel", "ModelLoadError", "Scored", "checksum", "train"]

FORMAT = 1
# Enough epochs of saga for the dev set and banking77 to reach lbfgs' macro-F1 (bench), in bounded
# time: training never holds a background pass for long.
_MAX_EPOCHS = 30
_C = 10.0
_WORD = {"ngram_range": (1, 2), "sublinear_tf": True}
_CHAR = {"analyzer": "char_wb", "ngram_range": (2, 5), "sublinear_tf": True}
# Past this many examples, rare character n-grams only cost memory and storage.
_MIN_DF_FROM = 3000


class ModelLoadError(ValueError):
    """Stored bytes that are not a model this version of the bot can use."""


def checksum(data: bytes) -> str:
    """The sha256 of a serialised model, stored beside it and checked before loading."""
    return hashlib.sha256(data).hexdigest()


def _prepare(text: str) -> str:
    return fold((text or "")[:MAX_CHARS])


def _same(text: str) -> str:
    return text


def _vectorizer(params: dict[str, Any], vocab: list[str] | None = None) -> TfidfVectorizer:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(
        preprocessor=_prepare,
        vocabulary={term: i for i, term in enumerate(vocab)} if vocab is not None else None,
        **params,
    )


@dataclass(frozen=True)
class Scored:
    """The model's view of one text."""

    probs: dict[str, float]
    neighbour: str | None  # the reason of the most similar team example
    similarity: float  # its cosine similarity, 0 to 1


@dataclass
class LearnedModel:
    """A trained model: vectorisers, weights, and the team's examples for retrieval."""

    classes: list[str]
    word: TfidfVectorizer
    char: TfidfVectorizer
    coef: np.ndarray
    intercept: np.ndarray
    taxonomy_version: str
    examples: list[tuple[str, str]] = field(default_factory=list)  # the team's, masked
    version: int = 0  # the database's version; 0 until stored
    _example_matrix: Any = None
    _fast: Any = None  # the one-text path's analysers, vocabularies and weights (built once)

    # ------------------------------------------------------------------- predicting

    def _features(self, texts: Sequence[str]) -> csr_matrix:
        from scipy.sparse import hstack

        return hstack([self.word.transform(texts), self.char.transform(texts)]).tocsr()

    def probabilities(self, texts: Sequence[str]) -> list[dict[str, float]]:
        """P(reason | text) for each text, over the model's classes."""
        if not texts:
            return []
        scores = np.asarray(self._features(texts) @ self.coef.T) + self.intercept
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        probs = exp / exp.sum(axis=1, keepdims=True)
        return [dict(zip(self.classes, row.tolist(), strict=True)) for row in probs]

    def score(self, texts: Sequence[str]) -> list[Scored]:
        """Probabilities and the nearest team example (label, cosine) of each text."""
        if not texts:
            return []
        # Text by text without scikit-learn's per-call overhead: as fast one at a time (Slack
        # intake) as in a batch, and faster than a sparse product with every team example.
        return [self._score_one(text) for text in texts]

    def _score_one(self, text: str) -> Scored:
        """`score` of one text, computed as TfidfVectorizer.transform would (same analysers,
        vocabulary, sublinear tf, idf, l2 norm), then a dot product with the weights' rows."""
        fast = self._fast or self._build_fast()
        prepared = _prepare(text)  # folded once for both analysers
        word = _tfidf(fast.word_analyse(prepared), fast.word_vocab, fast.word_idf)
        char = _tfidf(fast.char_analyse(prepared), fast.char_vocab, fast.char_idf)
        scores = fast.intercept
        if word[0].size:
            scores = scores + word[1] @ fast.coef_t[word[0]]
        if char[0].size:
            scores = scores + char[1] @ fast.coef_t[char[0] + fast.char_offset]
        exp = np.exp(scores - scores.max())
        probs = exp / exp.sum()
        label, sim = None, 0.0
        if self.examples and word[0].size:
            sims = self._example_sims(word[0], word[1])
            best = int(sims.argmax())
            if sims[best] > 0:
                label, sim = self.examples[best][1], float(sims[best])
        return Scored(dict(zip(self.classes, probs.tolist(), strict=True)), label, sim)

    def _build_fast(self) -> Any:
        from types import SimpleNamespace

        from sklearn.feature_extraction.text import TfidfVectorizer

        # The vectorisers' own analysers, minus the preprocessor (the text comes prepared).
        self._fast = SimpleNamespace(
            word_analyse=TfidfVectorizer(preprocessor=_same, **_WORD).build_analyzer(),
            char_analyse=TfidfVectorizer(preprocessor=_same, **_CHAR).build_analyzer(),
            word_vocab=_vocabulary(self.word),
            char_vocab=_vocabulary(self.char),
            word_idf=np.asarray(self.word.idf_, dtype=np.float64),
            char_idf=np.asarray(self.char.idf_, dtype=np.float64),
            coef_t=np.ascontiguousarray(self.coef.T, dtype=np.float64),  # a row per feature
            intercept=np.asarray(self.intercept, dtype=np.float64),
            char_offset=len(_vocabulary(self.word)),
        )
        return self._fast

    def _example_sims(self, idx: np.ndarray, vals: np.ndarray) -> np.ndarray:
        """Cosine of one l2-normalised word vector with every team example (rows of the
        transposed example matrix: for each of the text's terms, the examples that have it)."""
        matrix = self._examples_t()
        starts, ends = matrix.indptr[idx], matrix.indptr[idx + 1]
        lengths = ends - starts
        # The positions of every (term, example) pair in one array: no Python loop per term.
        positions = np.repeat(ends - lengths.cumsum(), lengths) + np.arange(lengths.sum())
        weights = matrix.data[positions] * np.repeat(vals, lengths)
        return np.bincount(matrix.indices[positions], weights=weights, minlength=len(self.examples))

    def _examples_t(self) -> csr_matrix:
        if self._example_matrix is None:  # rows come l2-normalised from the vectoriser
            matrix = self.word.transform([t for t, _ in self.examples])
            self._example_matrix = matrix.T.tocsr()
        return self._example_matrix

    def similar(self, text: str, k: int = 3, min_score: float = 0.1) -> list[tuple[str, str]]:
        """Up to `k` of the team's examples most like `text` (cosine over its word n-grams)."""
        if not self.examples or k <= 0:
            return []
        fast = self._fast or self._build_fast()
        idx, vals = _tfidf(fast.word_analyse(_prepare(text)), fast.word_vocab, fast.word_idf)
        if not idx.size:
            return []
        sims = self._example_sims(idx, vals)
        order = np.argsort(-sims)[:k]
        return [self.examples[i] for i in order if sims[i] >= min_score]

    # ------------------------------------------------------------------- storing

    def to_bytes(self) -> bytes:
        """The model as a compressed .npz: arrays and a JSON header, no pickle."""
        meta = {
            "format": FORMAT,
            "classes": self.classes,
            "taxonomy_version": self.taxonomy_version,
            "word_vocab": _vocab_list(self.word),
            "char_vocab": _vocab_list(self.char),
            "examples": [list(e) for e in self.examples],
        }
        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            meta=np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), np.uint8),
            coef=self.coef.astype(np.float32),
            intercept=self.intercept.astype(np.float32),
            word_idf=self.word.idf_.astype(np.float64),
            char_idf=self.char.idf_.astype(np.float64),
        )
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, expected_checksum: str | None, version: int) -> LearnedModel:
        """Load stored bytes; raise ModelLoadError when they are not what was stored or usable."""
        if expected_checksum is not None and checksum(data) != expected_checksum:
            raise ModelLoadError("checksum mismatch: the stored model is not the one trained")
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                meta = json.loads(bytes(npz["meta"]).decode("utf-8"))
                coef, intercept = npz["coef"], npz["intercept"]
                word_idf, char_idf = npz["word_idf"], npz["char_idf"]
        except Exception as exc:  # a truncated zip, a missing array, bad JSON...
            raise ModelLoadError(f"unreadable model ({type(exc).__name__})") from None
        if meta.get("format") != FORMAT:
            raise ModelLoadError(f"model format {meta.get('format')!r}, expected {FORMAT}")
        word = _vectorizer(_WORD, meta["word_vocab"])
        char = _vectorizer(_CHAR, meta["char_vocab"])
        word.idf_, char.idf_ = word_idf, char_idf
        classes = list(meta["classes"])
        width = len(meta["word_vocab"]) + len(meta["char_vocab"])
        if coef.shape != (len(classes), width) or intercept.shape != (len(classes),):
            raise ModelLoadError("model weights do not match its vocabulary")
        return cls(
            classes=classes,
            word=word,
            char=char,
            coef=coef,
            intercept=intercept,
            taxonomy_version=str(meta["taxonomy_version"]),
            examples=[(str(t), str(r)) for t, r in meta.get("examples", [])],
            version=version,
        )


def _tfidf(
    terms: list[str], vocab: dict[str, int], idf: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One text's l2-normalised sublinear TF-IDF as (feature indices, values)."""
    counts = Counter(terms)
    idx = np.array([vocab.get(term, -1) for term in counts], dtype=np.intp)
    known = idx >= 0
    idx = idx[known]
    if not idx.size:
        return idx, np.zeros(0)
    vals = 1.0 + np.log(np.array(list(counts.values()), dtype=np.float64)[known])
    vals *= idf[idx]
    norm = float(np.sqrt(vals @ vals))
    return idx, vals / norm if norm else vals


def _vocabulary(vec: TfidfVectorizer) -> dict[str, int]:
    # Fitted: `vocabulary_`; loaded from the database: the vocabulary it was built with.
    vocab: dict[str, int] | None = getattr(vec, "vocabulary_", None) or vec.vocabulary
    assert vocab is not None
    return vocab


def _vocab_list(vec: TfidfVectorizer) -> list[str]:
    vocab: dict[str, int] = vec.vocabulary_
    out = [""] * len(vocab)
    for term, i in vocab.items():
        out[i] = term
    return out


def train(
    base: Sequence[tuple[str, str]],
    team: Sequence[tuple[str, str]],
    taxonomy_version: str,
    *,
    team_weight: float = 3.0,
) -> LearnedModel:
    """Fit a model on shipped examples (`base`) and the team's own (weighted `team_weight`:
    the team's words are what its customers write). Raises ValueError with fewer than 2 reasons."""
    from scipy.sparse import hstack
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    texts = [t for t, _ in base] + [t for t, _ in team]
    labels = [r for _, r in base] + [r for _, r in team]
    if len(set(labels)) < 2:
        raise ValueError("a model needs examples of at least 2 reasons")
    min_df = 2 if len(texts) >= _MIN_DF_FROM else 1
    word = _vectorizer({**_WORD, "min_df": min_df})
    char = _vectorizer({**_CHAR, "min_df": min_df})
    features = hstack([word.fit_transform(texts), char.fit_transform(texts)]).tocsr()
    weights = np.array([1.0] * len(base) + [team_weight] * len(team))
    clf = LogisticRegression(
        C=_C, solver="saga", max_iter=_MAX_EPOCHS, tol=1e-3, class_weight="balanced", random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # capped epochs, on purpose
        clf.fit(features, labels, sample_weight=weights)
    classes = [str(c) for c in clf.classes_]
    coef, intercept = np.asarray(clf.coef_), np.asarray(clf.intercept_)
    if len(classes) == 2:  # sklearn keeps one row for two classes: make it a softmax pair
        coef = np.vstack([-coef[0] / 2, coef[0] / 2])
        intercept = np.array([-intercept[0] / 2, intercept[0] / 2])
    return LearnedModel(
        classes=classes,
        word=word,
        char=char,
        coef=coef,
        intercept=intercept,
        taxonomy_version=taxonomy_version,
        examples=list(team),
    )


def entropy_confidence(probs: dict[str, float]) -> float:
    """How sure a distribution is, 0 (uniform) to 1 (one reason)."""
    n = len(probs)
    if n < 2:
        return 1.0
    h = -sum(p * math.log(p) for p in probs.values() if p > 0)
    return max(0.0, 1.0 - h / math.log(n))
