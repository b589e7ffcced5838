"""Email metadata in a message: forwarded-message headers, `From:`/`Subject:` lines, reply
quotes, signatures. They say where a verdict came from, never what the customer said."""

from __future__ import annotations

import re

from bot.intake.parsing.model import fold

# "---------- Forwarded message ---------", "Début du message réfléchi :", "-----Original Message-----"
_FORWARD_MARKER = re.compile(
    r"^[\s>*_-]*(?:-{2,}\s*)?(forwarded message|message transfere|begin forwarded message"
    r"|debut du message (reexpedie|reflechi|transfere)|original message|message d'origine"
    r"|message original|courriel transfere|e-mail transfere|fw|fwd|tr)\s*:?\s*(?:-{2,}.*)?$"
)
_HEADER_KEYS = (
    "from|de|to|a|sent|envoye|envoye le|date|subject|objet|sujet|cc|bcc|cci|reply-to"
    "|repondre a|expediteur|destinataire|destinataires|received|recu le"
)
_HEADER = re.compile(rf"^[\s>*_]*({_HEADER_KEYS})[*_]*\s*:\s*(.*)$")
_WROTE = re.compile(r"^[\s>]*(on .{6,120} wrote|le .{6,160} a ecrit)\s*:?\s*$")
_SENT_FROM = re.compile(
    r"^\s*(sent from my|envoye de mon|envoye depuis|get outlook for|telecharger outlook)\b"
)
_SIGNATURE = re.compile(r"^\s*--\s*$")
_FOOTER_WORDS = 3  # a footer is a sentence ("Copyright © 2026 Formstack"), never a lone "©"
# A notification's footer starts here; everything below it is the tool's, never the customer's.
_FOOTER = re.compile(
    r"^\s*(?:you(?:'re| are) receiving this (?:e-?mail|message|notification)|vous recevez cet"
    r" (?:e-?mail|email|courriel|message)|copyright\b|©|all rights reserved|tous droits reserves"
    r"|this (?:e-?mail|message) was (?:sent|generated) automatically|cet e-?mail a ete envoye"
    r" automatiquement|(?:to )?unsubscribe\b|se desinscrire|pour vous desinscrire"
    r"|manage (?:your )?notification|gerer (?:vos|les) notifications|create your own google form"
    r"|creer votre propre formulaire|this form was created|ce formulaire a ete cree)"
)
_RULE = re.compile(r"^\s*_{10,}\s*$")  # Outlook's line above a quoted message's headers
_DISPLAY_NAME = re.compile(r"^\s*\"?([^<\"@]+?)\"?\s*<[^>]+>")


def forward_marker(line: str, folded: str | None = None) -> bool:
    """True for a line that opens a forwarded or quoted original message (`folded`: the line
    already folded, when the caller has it)."""
    return _FORWARD_MARKER.match(fold(line) if folded is None else folded) is not None


def header(line: str, folded: str | None = None) -> tuple[str, str] | None:
    """(key, value) for an email header line such as `From: Typeform <x@y.com>` or `Objet : ...`."""
    folded = fold(line) if folded is None else folded
    match = _HEADER.match(folded) if ":" in folded else None
    if match is None:
        return None
    start = len(line) - len(line.lstrip(" \t>*_"))
    raw_value = line.split(":", 1)[1].strip() if ":" in line[start:] else ""
    return match.group(1), raw_value


_FROM_KEYS = frozenset({"from", "de", "expediteur", "reply-to", "repondre a"})
_TO_KEYS = frozenset({"to", "a", "cc", "bcc", "cci", "destinataire", "destinataires"})
_SUBJECT_KEYS = frozenset({"subject", "objet", "sujet"})
_ADDRESS = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def header_scan(line: str, forwarder: bool, staff: set[str]) -> str:
    """The part of a metadata line read for customer references: a Subject, the original
    sender, a link's text. Recipients' and the forwarder's addresses go into `staff`."""
    found = header(line)
    if found is None:
        return "" if forward_marker(line) else line
    key, value = found
    if key in _TO_KEYS or (key in _FROM_KEYS and forwarder):
        staff.update(a.lower() for a in _ADDRESS.findall(value))
        return ""
    if key in _FROM_KEYS:
        return " ".join(_ADDRESS.findall(value))
    return value if key in _SUBJECT_KEYS else ""


# Role mailboxes (a survey tool's sender, a team's inbox) are never a customer.
_ROLE = re.compile(
    r"^(?:no-?reply|do-?not-?reply|notifications?|notify|alerts?|alertes?|surveys?|feedback|support"
    r"|hello|info|contact|service[._-]?clients?|customer[._-]?(?:care|service|relations)"
    r"|complaints?|reclamations?|relations?|qualite|quality|team|equipe|admin|mailer-daemon"
    r"|bounces?|postmaster|sav|retention|fidelisation|boutique|shop|store|sales|ventes?"
    r"|billing|facturation|accounts?|care|help|helpdesk|service)(?:[._+-].*)?$"
)


def is_staff_address(address: str, staff: set[str]) -> bool:
    """True for the company's or a tool's address: a recipient's or the forwarder's, one on
    their domains, a role mailbox, or a Slack channel's email address."""
    local, _, domain = address.lower().partition("@")
    if address.lower() in staff or domain.endswith("slack.com"):
        return True
    if any(domain == s.partition("@")[2] for s in staff):
        return True
    return _ROLE.match(local) is not None or _TOOL_DOMAIN.search(domain) is not None


# Survey and feedback tools' own mail domains: their sender is never the customer.
_TOOL_DOMAIN = re.compile(
    r"(?:^|\.)(?:surveymonkey|typeform|qualtrics|jotform|hotjar|delighted|wootric|customergauge"
    r"|retently|satismeter|asknicely|tally|medallia|alchemer|surveygizmo|zendesk|intercom|evalandgo"
    r"|zoho|formstack|surveysparrow|survicate|refiner|trustpilot|gorgias|freshdesk|aircall"
    r"|helpscout|freshdesk|hubspot|google|forms)\."
)


def mark_metadata(lines: list[str]) -> tuple[list[bool], int | None, str | None]:
    """Which lines are email metadata; the index of the first forwarded-message marker; and the
    sender's display name when a `From:` header gives one (a possible source)."""
    meta = [False] * len(lines)
    marker: int | None = None
    sender: str | None = None
    in_headers = True  # a pasted email starts with its headers
    after_marker = False
    signature = False
    said = False  # a line of prose came before: a header block below starts a pasted email
    for i, line in enumerate(lines):
        folded = fold(line)
        if signature:
            meta[i] = True
            continue
        if not folded.strip("> "):
            in_headers = after_marker  # a blank line may follow "Begin forwarded message:"
            continue
        after_marker = False
        if forward_marker(line, folded) or _RULE.match(line):
            meta[i] = True
            marker = i if marker is None else marker
            in_headers = after_marker = True
            continue
        found = header(line, folded)
        if found and (in_headers or found[0] in ("from", "de", "subject", "objet", "sent")):
            key, value = found
            if key in ("le", "a", "de", "date") and not in_headers and "@" not in value:
                continue  # "De: ..." outside a header block may be a sentence
            if key in ("from", "de", "expediteur") and said and marker is None:
                marker = i  # "cf. mail du client ci-dessous" then its headers: forwarded
            in_headers = True
            meta[i] = True
            if key in ("from", "de", "expediteur") and sender is None:
                name = _DISPLAY_NAME.match(value)
                sender = name.group(1).strip() if name else None
            continue
        in_headers = False
        said = True
        if _WROTE.match(folded):
            meta[i] = signature = True  # the quoted message below it is the company's own
        elif _FOOTER.match(folded) and len(folded.split()) >= _FOOTER_WORDS:
            meta[i] = signature = True
        elif _SENT_FROM.match(folded):
            meta[i] = True
        elif _SIGNATURE.match(line):
            meta[i] = signature = True
    return meta, marker, sender


def email_file_text(file: dict[str, object]) -> str:
    """The text of a Slack email file (`filetype: "email"`): its body, headers kept apart."""
    body = str(
        file.get("plain_text") or file.get("preview_plain_text") or file.get("preview") or ""
    )
    return body
