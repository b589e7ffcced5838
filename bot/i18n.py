"""The bot's own words, in the team's language (en, fr)."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "case_title": "Case #{id} · {reason}",
        "customer": "Customer",
        "status": "Status",
        "status_current": "current customer",
        "status_former": "former customer",
        "status_former_since": "former customer (since {date})",
        "status_unknown": "unknown",
        "no_reference": "no reference found in the verdict",
        "deadline": "Deadline",
        "deadline_in": "{when} ({relative})",
        "owner": "Owner",
        "unclaimed": "nobody yet",
        "reason": "Reason",
        "also": "also",
        "confidence": "confidence {pct}%",
        "provisional": "provisional",
        "needs_review": "needs review",
        "severity": "Severity",
        "severity_low": "low",
        "severity_medium": "medium",
        "severity_high": "high",
        "verdicts": "Verdicts ({count})",
        "verdict_meta": "{source} · {channel} · {date}",
        "score": "score {score}",
        "summary": "Summary",
        "next_step": "Suggested next step",
        "claim": "Claim",
        "state_open": "Open, waiting for an owner",
        "state_claimed": "Claimed by <@{owner}>",
        "state_contacting": "Contacting the customer (<@{owner}>)",
        "state_resolved": "Resolved",
        "state_expired": "Expired without action",
        "claimed_by": ":raising_hand: Claimed by <@{user}>.",
        "verdict_joined": ":inbox_tray: A new verdict joined this case ({source}, {channel}).",
        "intake_opened": ":white_check_mark: Case #{id} opened in <#{channel}>.",
        "intake_joined": ":link: Joined case #{id}, already open for this customer, in <#{channel}>.",
        "intake_no_consent": (
            ":no_entry_sign: Recorded, but no case opened: the customer did not consent to being"
            " contacted."
        ),
        "intake_empty": (
            ":grey_question: Nothing to triage here: I found no verdict text. Post the customer's"
            " answer as text."
        ),
        "claim_taken": "This case is already claimed by <@{owner}>. Ask them or a manager to reassign it.",
        "claim_yours": "You already own this case.",
        "claim_closed": "This case is closed, so it can't be claimed.",
        "claim_missing": "I can't find that case any more. It may have been erased.",
        "oops": (
            "Sorry, something went wrong on our side and nothing was changed."
            " Please try again in a minute."
        ),
        "relative_in": "in {span}",
        "relative_ago": "{span} ago",
        "span_min": "{n} min",
        "span_h": "{n} h",
        "span_d": "{n} d",
        "source_slack_message": "intake channel",
        "channel_web": "web",
        "channel_phone": "phone",
        "channel_email": "email",
        "channel_chat": "chat",
        "channel_unknown": "channel unknown",
    },
    "fr": {
        "case_title": "Dossier n°{id} · {reason}",
        "customer": "Client",
        "status": "Statut",
        "status_current": "client actuel",
        "status_former": "ancien client",
        "status_former_since": "ancien client (depuis le {date})",
        "status_unknown": "inconnu",
        "no_reference": "aucune référence trouvée dans le verbatim",
        "deadline": "Échéance",
        "deadline_in": "{when} ({relative})",
        "owner": "Responsable",
        "unclaimed": "personne pour l'instant",
        "reason": "Motif",
        "also": "aussi",
        "confidence": "confiance {pct} %",
        "provisional": "provisoire",
        "needs_review": "à vérifier",
        "severity": "Gravité",
        "severity_low": "faible",
        "severity_medium": "moyenne",
        "severity_high": "élevée",
        "verdicts": "Verbatims ({count})",
        "verdict_meta": "{source} · {channel} · {date}",
        "score": "note {score}",
        "summary": "Résumé",
        "next_step": "Prochaine étape suggérée",
        "claim": "Prendre",
        "state_open": "Ouvert, en attente d'un responsable",
        "state_claimed": "Pris par <@{owner}>",
        "state_contacting": "Contact client en cours (<@{owner}>)",
        "state_resolved": "Résolu",
        "state_expired": "Expiré sans action",
        "claimed_by": ":raising_hand: Pris en charge par <@{user}>.",
        "verdict_joined": ":inbox_tray: Un nouveau verbatim a rejoint ce dossier ({source}, {channel}).",
        "intake_opened": ":white_check_mark: Dossier n°{id} ouvert dans <#{channel}>.",
        "intake_joined": (
            ":link: Rattaché au dossier n°{id}, déjà ouvert pour ce client, dans <#{channel}>."
        ),
        "intake_no_consent": (
            ":no_entry_sign: Enregistré, mais aucun dossier ouvert : le client n'a pas accepté"
            " d'être recontacté."
        ),
        "intake_empty": (
            ":grey_question: Rien à trier ici : je n'ai trouvé aucun verbatim. Publiez la réponse"
            " du client en texte."
        ),
        "claim_taken": (
            "Ce dossier est déjà pris par <@{owner}>. Demandez-lui ou à un manager de le réattribuer."
        ),
        "claim_yours": "Ce dossier est déjà le vôtre.",
        "claim_closed": "Ce dossier est clos : il ne peut plus être pris.",
        "claim_missing": "Je ne trouve plus ce dossier. Il a peut-être été effacé.",
        "oops": (
            "Désolé, un problème de notre côté : rien n'a été modifié. Réessayez dans une minute."
        ),
        "relative_in": "dans {span}",
        "relative_ago": "il y a {span}",
        "span_min": "{n} min",
        "span_h": "{n} h",
        "span_d": "{n} j",
        "source_slack_message": "canal d'intake",
        "channel_web": "web",
        "channel_phone": "téléphone",
        "channel_email": "e-mail",
        "channel_chat": "chat",
        "channel_unknown": "canal inconnu",
    },
}


def t(lang: str, key: str, **values: object) -> str:
    """The message `key` in `lang` (English when missing), formatted with `values`."""
    table = MESSAGES.get(lang, MESSAGES["en"])
    template = table.get(key) or MESSAGES["en"].get(key) or key
    return template.format(**values)
