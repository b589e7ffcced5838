"""A Slack message as the parser reads it: its text, what survey tools put in blocks and
attachments (title/value fields), and the body of an email forwarded to Slack."""

from __future__ import annotations

from typing import Any

from bot.intake.parsing.emails import email_file_text


def _list(value: object) -> list[Any]:
    """A list from a payload field, or nothing (a payload is outside input: never trusted)."""
    return value if isinstance(value, list) else []


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _email_files(message: dict[str, Any]) -> list[dict[str, Any]]:
    files = _list(message.get("files"))
    return [f for f in files if isinstance(f, dict) and f.get("filetype") == "email"]


def _block_texts(block: dict[str, Any]) -> list[str]:
    parts: list[str] = []
    text = block["text"].get("text") if isinstance(block.get("text"), dict) else None
    if text:
        parts.append(_text(text))
    for item in _list(block.get("fields")):
        if isinstance(item, dict) and item.get("text"):
            parts.append(_text(item["text"]))
    if block.get("type") == "context":
        for element in _list(block.get("elements")):
            if isinstance(element, dict) and element.get("type") in ("mrkdwn", "plain_text"):
                parts.append(_text(element.get("text")))
    return parts


def message_text(message: dict[str, Any]) -> str:
    """A message's text, with what shares and survey tools put in attachments and blocks, and
    the body of a Slack email file (`filetype: "email"`)."""
    parts: list[str] = [_text(message.get("text"))]
    if message.get("bot_id") or not parts[0].strip() or _email_files(message):
        # Survey tools often put a one-line summary in `text` and the answers in blocks.
        for block in _list(message.get("blocks")):
            if not isinstance(block, dict) or block.get("type") == "rich_text":
                continue  # a person's own text, already in `text`
            for text in _block_texts(block):
                if text.strip() and text not in parts:
                    parts.append(text)
    for attachment in _list(message.get("attachments")):
        if not isinstance(attachment, dict):
            continue
        # A shared or forwarded message arrives as an attachment holding the original.
        for name in ("pretext", "title", "text", "fallback"):
            value = attachment.get(name)
            if value and value not in parts and not (name == "fallback" and attachment.get("text")):
                if name == "fallback" and attachment.get("fields"):
                    continue  # the fallback repeats the fields below
                parts.append(str(value))
        for item in _list(attachment.get("fields")):
            if isinstance(item, dict):
                parts.append(f"*{item.get('title', '')}*\n{item.get('value', '')}\n")
    for file in _email_files(message):
        subject = _text(file.get("subject")) or _text(file.get("title"))
        senders = _list(file.get("from"))
        sender = senders[0] if senders and isinstance(senders[0], dict) else {}
        name = sender.get("name") or sender.get("original") or ""
        headers = [f"From: {name} <{sender.get('address', '')}>"] if name else []
        if subject:
            headers.append(f"Subject: {subject}")
        parts.append("\n".join(headers) + "\n\n" + email_file_text(file))
    return "\n\n".join(part for part in parts if part.strip())
