"""Negation and context rules: when a keyword the customer wrote is not their complaint."""

from __future__ import annotations

from bot.classification.matching import Doc, Hit, compile_terms, find_hits
from bot.classification.text import split_words

# Words that turn the next few around: "pas satisfait", "not happy", "don't like".
NEGATORS = frozenset(
    split_words(
        "pas not no never jamais aucun aucune ni sans without nicht kein keine nunca non nessun "
        "don didn doesn isn wasn won aren weren t nao niet geen"
    )
)


# A reason the customer clears is no reason: "pas de problème de réseau", "no issues with the
# price", "happy with the network". Each phrase clears the keywords after it in its clause.
_CLEARING = compile_terms(
    [
        "pas de probleme",
        "pas de souci",
        "pas un probleme",
        "aucun probleme",
        "aucun souci",
        "sans probleme",
        "sans souci",
        "jamais eu de probleme",
        "jamais eu de souci",
        "rien a redire",
        "rien a dire",
        "rien a reprocher",
        "aucun reproche",
        "pas de reproche",
        "rien a voir",
        "pas une question",
        "pas a cause",
        "pas pour",
        "ce n est pas",
        "c est pas",
        "ni",
        "satisfait",
        "satisfaite",
        "content de",
        "contente de",
        "content du",
        "contente du",
        "no problem",
        "not a problem",
        "no issue",
        "not an issue",
        "no complaint",
        "nothing wrong",
        "never had a problem",
        "never had any problem",
        "never had an issue",
        "never had any issue",
        "not about",
        "not because",
        "not due to",
        "nothing to do with",
        "it s not",
        "it is not",
        "it wasn t",
        "it was not",
        "nor",
        "happy with",
        "satisfied with",
        "pleased with",
    ]
)
# A keyword followed in its clause by praise is cleared too: "le réseau est très bien",
# "customer service were friendly", "the price was fine".
_PRAISE = frozenset(
    split_words(
        "fine good great excellent perfect ok okay fair reasonable friendly polite helpful "
        "reliable fast correct correcte corrects bien bon bonne bons parfait parfaite impeccable "
        "top nickel irreprochable aimable aimables agreable agreables sympa convenait convient "
        "rapide fiable satisfaisant"
    )
)
# "pas cher", "not expensive", "pas trop lent": a negation right before an adjective clears it.
_ADJ_NEGATORS = frozenset(split_words("pas not never jamais t"))
_INTENSIFIERS = frozenset(
    split_words("trop si tres vraiment super du tout too that so very really all")
)
# ... but a remedy that did not happen is the complaint itself: "pas réparé", "not refunded".
_REMEDIES = (
    "fix",
    "repar",
    "repai",
    "resol",
    "rembours",
    "refund",
    "rappel",
    "answer",
    "replac",
    "remplac",
    "call",
    "solv",
    "work",
    "fonction",
    "march",
    "deliver",
    "livr",
    "recu",
    "receiv",
)


def clearing_starts(doc: Doc) -> dict[int, int]:
    """Clause -> token position after which keywords are cleared ("pas de problème de ...")."""
    starts: dict[int, int] = {}
    for hit in find_hits(doc, _CLEARING):
        before = doc.tokens[max(0, hit.start - 2) : hit.start]
        same_clause = [
            t
            for i, t in enumerate(before, max(0, hit.start - 2))
            if doc.clause_of[i] == doc.clause_of[hit.start]
        ]
        if any(t in NEGATORS for t in same_clause):
            continue  # "pas satisfait du réseau", "not happy with the price": a complaint
        clause = doc.clause_of[hit.start]
        end = hit.start + hit.length
        starts[clause] = min(starts.get(clause, end), end)
    return starts


def is_cleared(doc: Doc, hit: Hit, clearing: dict[int, int]) -> bool:
    """Whether the customer said this keyword is NOT their problem (see _CLEARING, _PRAISE)."""
    clause = doc.clause_of[hit.start]
    if clause in clearing and clearing[clause] <= hit.start:
        return True
    # Praise after the keyword in its clause, with no negation in between: "X est très bien".
    end = hit.start + hit.length
    for i in range(end, min(len(doc.tokens), end + 4)):
        if doc.clause_of[i] != clause or doc.tokens[i] in NEGATORS:
            break
        if doc.tokens[i] in _PRAISE:
            return True
    # A negation right before (allowing "trop", "very"...): "pas cher", "not too slow".
    i = hit.start - 1
    if i >= 0 and doc.tokens[i] in _INTENSIFIERS and doc.clause_of[i] == clause:
        i -= 1
    if i < 0 or doc.clause_of[i] != clause or doc.tokens[i] not in _ADJ_NEGATORS:
        return False
    return not doc.tokens[hit.start].startswith(_REMEDIES)
