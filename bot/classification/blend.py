"""How the keyword rules and the learned model decide together.

The rules are precise when a keyword is there; the model knows the team's words when none is.
So: a weighted blend of the rules' distribution and the model's probabilities, the rules weighing
more when they found a real reason, nothing when they found none; and a verbatim very like one the
team labelled takes the team's label (its own words, its own decision). Weights from the bench
(bench/bench_learning.py) on the dev set's held-out split.
"""

from __future__ import annotations

from bot.classification.learned import Scored
from bot.classification.taxonomy import OTHER_REASON_ID, Taxonomy

__all__ = ["NEIGHBOUR_MIN", "RULE_WEIGHT", "blend"]

RULE_WEIGHT = 0.6  # the rules' share when they found a real reason
OTHER_RULE_WEIGHT = 0.3  # their share when they only found "no particular reason"
# Cosine similarity (same TF-IDF features) above which a team example is "the same message".
NEIGHBOUR_MIN = 0.5


def blend(
    view: Scored,
    primary: str,
    confidence: float,
    totals: dict[str, float],
    strong: list[str],
    taxonomy: Taxonomy,
) -> tuple[str, float]:
    """The primary reason and confidence from the rules' verdict and the model's view."""
    ids = taxonomy.ids()
    probs = {r: view.probs.get(r, 0.0) for r in ids}
    if strong:
        total = sum(totals[r] for r in strong) or 1.0
        rules = {r: totals[r] / total for r in strong}
        weight = RULE_WEIGHT
    elif primary == OTHER_REASON_ID and confidence >= 0.35:
        rules, weight = {OTHER_REASON_ID: 1.0}, OTHER_RULE_WEIGHT
    else:
        rules, weight = {}, 0.0
    combined = {r: weight * rules.get(r, 0.0) + (1 - weight) * probs[r] for r in ids}
    if view.neighbour in combined and view.similarity >= NEIGHBOUR_MIN:
        combined[view.neighbour] += view.similarity
    order = {r: i for i, r in enumerate(ids)}
    best = min(ids, key=lambda r: (-combined[r], order[r]))
    share = combined[best] / (sum(combined.values()) or 1.0)
    blended = 0.2 + 0.75 * share
    return best, max(confidence, blended) if best == primary else blended
