"""Block Kit building blocks within Slack's limits (fold, don't fail), shared by every view."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    Block,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.slack.i18n import t

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
HEADER_LIMIT = 150


@dataclass(frozen=True)
class Message:
    """A Slack message: fallback text (notifications, screen readers) and blocks."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def fold(text: str, limit: int) -> str:
    """Cut `text` to `limit` characters with an ellipsis, so Slack never rejects it."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def escape(text: str) -> str:
    """Outside text (customers, people, the LLM, integrations) made inert for Slack mrkdwn: the
    three characters Slack's docs say to escape, so `<!channel>`, `<@U…>` and `<https://…|…>`
    show as typed instead of pinging or linking. Every outside text goes through here."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_ESCAPED = re.compile(r"<([^<>]*)>")


def unescape_command(text: str) -> str:
    """A slash command's text as typed: Slack (`should_escape: true`) sends
    `<mailto:a@b.fr|a@b.fr>`, `<tel:…|…>`, `<https://…|…>`, `<#C…|name>` and `<@U…|name>`;
    each becomes its plain value (`a@b.fr`, the number, the URL, `C…`), a person stays
    `<@U…>`, and `&amp;`, `&lt;`, `&gt;` become the characters."""

    def plain(match: re.Match[str]) -> str:
        target = match.group(1).split("|", 1)[0]
        if target.startswith("@"):
            return f"<{target}>"
        if target.startswith("#"):
            return target[1:]
        if target.startswith("!"):
            return ""
        for scheme in ("mailto:", "tel:"):
            if target.lower().startswith(scheme):
                return target[len(scheme) :]
        return target

    plain_text = _ESCAPED.sub(plain, text)
    return plain_text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def quote(text: str) -> str:
    """Quote a verbatim in mrkdwn, neutralising mentions and formatting from customer text."""
    safe = escape(text)
    return "\n".join("> " + line if line.strip() else ">" for line in safe.splitlines())


def italic(text: str) -> str:
    # mrkdwn italics stop at a line break, so each line gets its own underscores.
    return "\n".join(f"_{line.strip()}_" for line in text.splitlines() if line.strip())


def section_block(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=fold(text, SECTION_LIMIT)))


def fields_block(pairs: list[tuple[str, str]]) -> SectionBlock:
    return SectionBlock(
        fields=[MarkdownTextObject(text=fold(f"*{k}*\n{v}", FIELD_LIMIT)) for k, v in pairs[:10]]
    )


def relative_time(lang: str, when: datetime, now: datetime) -> str:
    seconds = (when - now).total_seconds()
    span = abs(seconds)
    if span < 3600:
        text = t(lang, "span_min", n=max(1, round(span / 60)))
    elif span < 48 * 3600:
        text = t(lang, "span_h", n=round(span / 3600))
    else:
        text = t(lang, "span_d", n=round(span / 86400))
    return t(lang, "relative_in" if seconds >= 0 else "relative_ago", span=text)


def format_time(when: datetime, tz: ZoneInfo) -> str:
    """An absolute time in the team's time zone."""
    return when.astimezone(tz).strftime("%a %d %b %Y %H:%M %Z")


def text_message(text: str) -> Message:
    """A short plain message, for thread replies and ephemerals."""
    return Message(text=text, blocks=[section_block(text).to_dict()])


def option_list(lang: str, prefix: str, values: tuple[str, ...]) -> list[Option]:
    return [Option(value=v, text=PlainTextObject(text=t(lang, f"{prefix}_{v}"))) for v in values]


def modal_view(
    callback_id: str, lang: str, title: str, case_id: int, blocks: list[Block], submit: bool = True
) -> dict[str, Any]:
    view = View(
        type="modal",
        callback_id=callback_id,
        title=PlainTextObject(text=fold(title, 24)),
        submit=PlainTextObject(text=fold(t(lang, "modal_save"), 24)) if submit else None,
        close=PlainTextObject(text=fold(t(lang, "modal_cancel"), 24)),
        private_metadata=json.dumps({"case": case_id}),
        blocks=blocks,
    )
    return view.to_dict()


def select_block(
    lang: str,
    block_id: str,
    label: str,
    prefix: str,
    values: tuple[str, ...],
    optional: bool = False,
) -> InputBlock:
    options = [
        Option(value=v, text=PlainTextObject(text=fold(t(lang, f"{prefix}{v}"), 75)))
        for v in values
    ]
    return InputBlock(
        block_id=block_id,
        label=label,
        optional=optional,
        element=StaticSelectElement(action_id="value", options=options),
    )


def text_input_block(
    block_id: str,
    label: str,
    *,
    multiline: bool = True,
    optional: bool = False,
    max_length: int = 2000,
) -> InputBlock:
    return InputBlock(
        block_id=block_id,
        label=label,
        optional=optional,
        element=PlainTextInputElement(
            action_id="value", multiline=multiline, max_length=max_length
        ),
    )


_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>")
_MENTION = re.compile(r"<([@#!])([A-Z0-9^]+)>")


def plain_text(message: Message) -> str:
    """A message's blocks as terminal text: links shown by their label, mentions as @U… / #C…,
    bold marks dropped."""
    parts: list[str] = []
    for block in message.blocks or [{"type": "section", "text": {"text": message.text}}]:
        kind = block.get("type")
        if kind == "divider":
            parts.append("-" * 40)
        elif kind == "header":
            title = str(block["text"]["text"])
            parts.append(f"{title}\n{'=' * len(title)}")
        elif kind == "context":
            parts.append("  ".join(str(e.get("text", "")) for e in block.get("elements", [])))
        elif kind == "section":
            texts = [str((block.get("text") or {}).get("text", ""))]
            texts += [str(f.get("text", "")) for f in block.get("fields") or []]
            parts.append("\n".join(x for x in texts if x))
    text = "\n".join(parts)
    text = _LINK.sub(r"\2", text)
    text = _MENTION.sub(lambda m: f"{m.group(1)}{m.group(2)}".replace("!", "@"), text)
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
