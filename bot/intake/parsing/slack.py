"""A Slack message as the parser reads it: its text, what survey tools put in blocks and
attachments (title/value fields), and the body of an email forwarded to Slack."""

from __future__ import annotations

from typing import Any

from bot.intake.parsing.emails import email_file_text
from bot.intake.parsing.model import META_MARK


def _list(value: object) -> list[Any]:
    """A list from a payload field, or nothing (a payload is outside input: never trusted)."""
    return value if isinstance(value, list) else []


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _email_files(message: dict[str, Any]) -> list[dict[str, Any]]:
    files = _list(message.get("files"))
    return [f for f in files if isinstance(f, dict) and f.get("filetype") == "email"]


def _meta(text: str) -> str:
    return "\n".join(META_MARK + line for line in text.splitlines() if line.strip())


def _block_texts(block: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    text = block["text"].get("text") if isinstance(block.get("text"), dict) else None
    if text:
        parts.append(_meta(_text(text)) if block.get("type") == "header" else _text(text))
    for item in _list(block.get("fields")):
        if isinstance(item, dict) and item.get("text"):
            parts.append(_text(item["text"]))
    if block.get("type") == "context":
        for element in _list(block.get("elements")):
            if isinstance(element, dict) and element.get("type") in ("mrkdwn", "plain_text"):
                parts.append(_meta(_text(element.get("text"))))
    return parts


def _has_block_content(message: dict[str, Any]) -> bool:
    return any(
        isinstance(b, dict) and b.get("type") in ("section", "header")
        for b in _list(message.get("blocks"))
    )


def message_text(message: dict[str, Any]) -> str:
    """A message's text, with what shares and survey tools put in attachments and blocks, and
    the body of a Slack email file (`filetype: "email"`)."""
    text = _text(message.get("text"))
    # A tool's blocks hold the content and `text` only its short fallback; a person's own
    # message (rich_text blocks) has it all in `text`.
    blocks = _has_block_content(message)
    parts: list[str] = [_meta(text) if blocks else text]
    for block in _list(message.get("blocks")):
        if not isinstance(block, dict) or block.get("type") == "rich_text":
            continue
        for part in _block_texts(block):
            if part.strip() and part not in parts:
                parts.append(part)
    for attachment in _list(message.get("attachments")):
        if not isinstance(attachment, dict):
            continue
        # A shared or forwarded message arrives as an attachment holding the original.
        if attachment.get("author_name"):
            parts.append(_meta(_text(attachment.get("author_name"))))
        for name in ("pretext", "title", "text", "fallback"):
            value = attachment.get(name)
            if value and value not in parts and not (name == "fallback" and attachment.get("text")):
                if name == "fallback" and attachment.get("fields"):
                    continue  # the fallback repeats the fields below
                # A pretext or a title heads the content ("Detractor · Score 2"): read for
                # its fields, never the customer's words.
                titled = name in ("pretext", "title")
                parts.append(_meta(str(value)) if titled else str(value))
        for item in _list(attachment.get("fields")):
            if isinstance(item, dict):
                parts.append(f"*{item.get('title', '')}*\n{item.get('value', '')}\n")
        if attachment.get("footer"):
            parts.append(_meta(_text(attachment.get("footer"))))
    for file in _email_files(message):
        subject = _text(file.get("subject")) or _text(file.get("title"))
        senders = _list(file.get("from"))
        sender = senders[0] if senders and isinstance(senders[0], dict) else {}
        name = sender.get("name") or sender.get("original") or ""
        address = sender.get("address", "")
        headers = (
            [f"From: {name} <{address}>" if address else f"From: {name}"] if name or address else []
        )
        if subject:
            headers.append(f"Subject: {subject}")
        parts.append("\n".join(headers) + "\n\n" + email_file_text(file))
    return "\n\n".join(part for part in parts if part.strip())
