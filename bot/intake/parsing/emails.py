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
_DISPLAY_NAME = re.compile(r"^\s*\"?([^<\"@]+?)\"?\s*<[^>]+>")


def forward_marker(line: str) -> bool:
    """True for a line that opens a forwarded or quoted original message."""
    return _FORWARD_MARKER.match(fold(line)) is not None


def header(line: str) -> tuple[str, str] | None:
    """(key, value) for an email header line such as `From: Typeform <x@y.com>` or `Objet : ...`."""
    match = _HEADER.match(fold(line))
    if match is None:
        return None
    start = len(line) - len(line.lstrip(" \t>*_"))
    raw_value = line.split(":", 1)[1].strip() if ":" in line[start:] else ""
    return match.group(1), raw_value


def mark_metadata(lines: list[str]) -> tuple[list[bool], int | None, str | None]:
    """Which lines are email metadata; the index of the first forwarded-message marker; and the
    sender's display name when a `From:` header gives one (a possible source)."""
    meta = [False] * len(lines)
    marker: int | None = None
    sender: str | None = None
    in_headers = True  # a pasted email starts with its headers
    signature = False
    for i, line in enumerate(lines):
        folded = fold(line)
        if signature:
            meta[i] = True
            continue
        if not folded:
            in_headers = False
            continue
        if forward_marker(line):
            meta[i] = True
            marker = i if marker is None else marker
            in_headers = True
            continue
        found = header(line)
        if found and (in_headers or found[0] in ("from", "de", "subject", "objet", "sent")):
            key, value = found
            if key in ("le", "a", "de", "date") and not in_headers:
                continue  # "De: ..." outside a header block may be a sentence
            meta[i] = True
            if key in ("from", "de", "expediteur") and sender is None:
                name = _DISPLAY_NAME.match(value)
                sender = name.group(1).strip() if name else None
            continue
        in_headers = False
        if _WROTE.match(folded) or _SENT_FROM.match(folded):
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
