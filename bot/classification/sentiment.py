"""Sentiment: the customer's own rating when there is one, else their words of praise or anger."""

from __future__ import annotations

from bot.classification.matching import Doc, Hit, compile_terms, find_hits
from bot.classification.negation import NEGATORS
from bot.classification.text import split_words

_POSITIVE = compile_terms(
    [
        *split_words(
            "great excellent thank perfect happy satisfied helpful love amazing recommend good "
            "fantastic friendly pleased smooth wonderful merci bravo parfait satisfait superbe "
            "genial efficace agreable content recommande ravi aimable impeccable sympa "
            "zufrieden danke toll gracias excelente bueno contento grazie ottimo"
        ),
        "well done",
        "keep it up",
        "au top",
        "tres bien",
        "very good",
        "muy bien",
    ]
)
_NEGATIVE = compile_terms(
    [
        *split_words(
            "terrible awful worst disappoint unacceptable frustrat angry furious useless "
            "horrible scam ridiculous poor bad hate nightmare rude incompetent shameful disgrace "
            "appalling pathetic waste annoy upset problem lied joke nul nulle honte honteu "
            "inadmissible scandal decu decevant deception mecontent catastroph lamentable pire "
            "inacceptable arnaque furieux marre colere probleme galere mepris ridicule desastre "
            "insupportable mauvais rancune degoute enerve schlecht enttauscht katastrophe "
            "argerlich malo pesimo decepcion pessimo deluso vergogna"
        ),
        "fed up",
        "never again",
        "waste of time",
        "perdre mon temps",
        "perte de temps",
        "n importe quoi",
        "plus jamais",
        "ras le bol",
    ]
)


def score_sentiment(score: int | None, scale: str | None) -> str | None:
    """Sentiment from the customer's own rating (NPS 0-10 or CSAT 1-5), or None without one."""
    if score is None or isinstance(score, bool):
        return None
    kind = (scale or "nps").strip().lower()
    if kind in {"csat", "1-5", "stars", "5", "/5"}:
        if not 1 <= score <= 5:
            return None
        return "negative" if score <= 2 else "neutral" if score == 3 else "positive"
    if kind in {"nps", "0-10", "10", "/10", "ltr"}:
        if not 0 <= score <= 10:
            return None
        return "negative" if score <= 6 else "neutral" if score <= 8 else "positive"
    return None


def polarity(doc: Doc) -> tuple[list[Hit], list[Hit]]:
    """The praising and the angry words of the text, a negated praise counting as angry."""

    def negated(hit: Hit) -> bool:
        return any(t in NEGATORS for t in doc.tokens[max(0, hit.start - 3) : hit.start])

    positive: list[Hit] = []
    # "not bad" is no complaint; "pas satisfait", "not happy" are.
    negative = [h for h in find_hits(doc, _NEGATIVE) if not negated(h)]
    for hit in find_hits(doc, _POSITIVE):
        (negative if negated(hit) else positive).append(hit)
    return positive, negative
