"""The words of a result in the team's language: summary, quote, facts and suggested action."""

from __future__ import annotations

from collections import Counter

from bot.classification.matching import Doc, Hit
from bot.classification.taxonomy import OTHER_REASON_ID, Taxonomy
from bot.classification.text import shorten

_STATUS_WORDS = {
    "en": {
        "former": "Former customer",
        "cancelling": "Customer cancelling",
        "negative": "Unhappy customer",
        "neutral": "Customer feedback",
        "positive": "Positive feedback",
    },
    "fr": {
        "former": "Client parti",
        "cancelling": "Client qui résilie",
        "negative": "Client mécontent",
        "neutral": "Retour client",
        "positive": "Retour positif",
    },
}
# Complaints "cite" a reason; neutral or positive feedback is only "about" it.
_REASON_PHRASE = {
    "en": {
        "complaint": " citing {reason}",
        "feedback": " about {reason}",
        "unclear": ", reason unclear",
    },
    "fr": {
        "complaint": ", motif : {reason}",
        "feedback": ", sujet : {reason}",
        "unclear": ", motif non identifié",
    },
}
_ALSO = {"en": "; also {reasons}.", "fr": " ; aussi : {reasons}."}
_QUOTE = {"en": "“{quote}”", "fr": "« {quote} »"}
EMPTY_SUMMARY = {
    "en": "No words to classify in this verdict.",
    "fr": "Aucun mot à classer dans ce verdict.",
}

_ACTIONS: dict[str, dict[str, str]] = {
    "en": {
        "after_sales_repairs": (
            "Check the device's repair history, then contact the customer yourself with one "
            "concrete fix (replacement or loan device) and a date."
        ),
        "customer_service": (
            "Read every earlier contact, then have one named owner contact the customer with an "
            "answer and a follow-up date."
        ),
        "price_billing": (
            "Check the recent invoices for errors or increases and contact the customer with a "
            "correction or a refund where one is due."
        ),
        "network_quality": (
            "Check coverage and incidents at the customer's address and tell them what was "
            "found and what will be fixed, with a date."
        ),
        "competitor_offer": (
            "Compare the competitor's offer with ours and decide whether a matching offer is "
            "worth making before contacting the customer."
        ),
        "contract_commitment": (
            "Review the contract terms, fees and recent plan changes, then explain them to the "
            "customer clearly or waive what was not agreed."
        ),
        "moving_personal": (
            "Acknowledge the situation and handle the termination and any fees with care; no "
            "retention pitch."
        ),
        OTHER_REASON_ID: (
            "Read the verbatim, set the reason by hand, and contact the customer if a follow-up "
            "is needed."
        ),
    },
    "fr": {
        "after_sales_repairs": (
            "Consulter l'historique des réparations, puis contacter vous-même le client avec une "
            "solution concrète (échange ou appareil de prêt) et une date."
        ),
        "customer_service": (
            "Relire tous les contacts précédents, puis qu'un responsable nommé contacte le client "
            "avec une réponse et une date de suivi."
        ),
        "price_billing": (
            "Vérifier les dernières factures (erreurs, hausses) et contacter le client avec une "
            "correction ou un remboursement s'il est dû."
        ),
        "network_quality": (
            "Vérifier la couverture et les incidents à l'adresse du client et lui dire ce qui a "
            "été trouvé et ce qui sera corrigé, avec une date."
        ),
        "competitor_offer": (
            "Comparer l'offre concurrente à la nôtre et décider si une contre-offre se justifie "
            "avant de contacter le client."
        ),
        "contract_commitment": (
            "Revoir le contrat, les frais et les changements d'offre récents, puis les expliquer "
            "clairement au client ou annuler ce qui n'a pas été accepté."
        ),
        "moving_personal": (
            "Prendre acte de la situation et traiter la résiliation et les frais avec égard, sans "
            "argumentaire de fidélisation."
        ),
        OTHER_REASON_ID: (
            "Lire le verbatim, fixer le motif à la main et contacter le client si un suivi est "
            "nécessaire."
        ),
    },
}
_GENERIC_ACTION = {
    "en": "Read the verbatim and contact the customer yourself about: {reason}.",
    "fr": "Lire le verbatim et contacter vous-même le client au sujet de : {reason}.",
}
# A former customer may no longer reach subscriber-only lines: the team makes the contact.
_FORMER_NOTE = {
    "en": " They are a former customer: reach out yourself, by phone or in writing.",
    "fr": " Client parti : le contacter vous-même, par téléphone ou par écrit.",
}


FACTS = {
    "en": {
        "former": "Former customer: they say they have already left.",
        "cancelling": "Says they are leaving or cancelling.",
        "legal": "Mentions legal action or a regulator.",
        "repeated": "The problem keeps coming back.",
        "callback": "A promised call-back never came.",
    },
    "fr": {
        "former": "Client parti : il dit avoir déjà résilié.",
        "cancelling": "Dit qu'il part ou qu'il résilie.",
        "legal": "Évoque une action en justice ou un régulateur.",
        "repeated": "Le problème revient sans cesse.",
        "callback": "Un rappel promis n'est jamais venu.",
    },
}
NOT_A_REASON = {"en": "not a complaint: {cue}", "fr": "pas un grief : {cue}"}


def team_lang(lang: str) -> str:
    """The team's language as one this module has words for ("fr-CA" -> "fr"), else "en"."""
    base = (lang or "en").strip().lower().replace("_", "-").split("-")[0]
    return base if base in _STATUS_WORDS else "en"


def _label_in_sentence(label: str) -> str:
    # "Service client" -> "service client", but keep acronyms such as "SAV et réparations".
    if len(label) > 1 and label[0].isupper() and not label[1].isupper():
        return label[0].lower() + label[1:]
    return label


def telling_sentence(doc: Doc, primary_hits: list[Hit], other_hits: list[Hit]) -> str:
    """The sentence to quote: the one with most cues, the primary reason's counting double."""
    weights: Counter[int] = Counter()
    for hit in primary_hits:
        weights[doc.sentence_of[hit.start]] += 2
    for hit in other_hits:
        weights[doc.sentence_of[hit.start]] += 1
    if not weights:
        return doc.sentences[0]
    best = min(weights, key=lambda sid: (-weights[sid], sid))
    return doc.sentences[best]


def summarise(
    taxonomy: Taxonomy,
    lang: str,
    primary: str,
    secondary: tuple[str, ...],
    status: str,
    telling: str,
) -> str:
    """One line on who the customer is and why, then the telling sentence quoted."""
    head = _STATUS_WORDS[lang][status]
    phrases = _REASON_PHRASE[lang]
    if primary == OTHER_REASON_ID:
        line = head + phrases["unclear"]
    else:
        reason = _label_in_sentence(taxonomy.label(primary, lang))
        kind = "feedback" if status in ("neutral", "positive") else "complaint"
        line = head + phrases[kind].format(reason=reason)
    if secondary:
        others = ", ".join(_label_in_sentence(taxonomy.label(r, lang)) for r in secondary)
        line += _ALSO[lang].format(reasons=others)
    else:
        line += "."
    return line + "\n" + _QUOTE[lang].format(quote=shorten(telling))


def suggested_action(taxonomy: Taxonomy, reason_id: str, lang: str, *, former: bool = False) -> str:
    """The next step suggested for a reason, in the team's language (also after a correction)."""
    lang = team_lang(lang)
    action = _ACTIONS[lang].get(reason_id) or _GENERIC_ACTION[lang].format(
        reason=_label_in_sentence(taxonomy.label(reason_id, lang))
    )
    return action + (_FORMER_NOTE[lang] if former else "")
