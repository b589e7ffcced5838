"""Block Kit and Slack markup as plain text, the way a person reads them in the client."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .blocks import MARKUP_RE, text_of

Names = Callable[[str], str]


def plain(text: str, names: Names | None = None, channels: Names | None = None) -> str:
    """Slack markup (``<@U1>``, ``<#C1|x>``, ``<url|label>``) as a person reads it: `names`
    and `channels` turn a user's or a channel's id into its name."""

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + (label or (names(target[1:]) if names else target[1:]))
        if target.startswith("#"):
            return "#" + (label or (channels(target[1:]) if channels else target[1:]))
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        return f"{label} ({target})" if label else target

    text = MARKUP_RE.sub(replace, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _element_label(element: Mapping[str, Any]) -> str:
    etype = element.get("type", "")
    if etype == "button":
        return f"[ {text_of(element.get('text'))} ]"
    if etype == "overflow":
        return "[ ⋯ ]"
    if etype in ("datepicker", "timepicker", "datetimepicker"):
        initial = element.get("initial_date") or element.get("initial_time") or ""
        return f"[ {initial or text_of(element.get('placeholder')) or etype} ]"
    if etype == "image":
        return f"[image: {element.get('alt_text', '')}]"
    if etype in ("checkboxes", "radio_buttons"):
        options = element.get("options") or []
        return "  ".join(f"( ) {text_of(o.get('text'))}" for o in options if isinstance(o, dict))
    placeholder = text_of(element.get("placeholder"))
    if "select" in etype:
        return f"[ {placeholder or 'Select'} ▾ ]"
    if "input" in etype:
        return f"[ {placeholder or '…'} ]"
    return f"[{etype}]"


def _rich_text_plain(element: Any, names: Names | None, channels: Names | None) -> str:
    if not isinstance(element, dict):
        return ""
    etype = element.get("type")
    if etype == "text":
        return str(element.get("text", ""))
    if etype == "user":
        uid = str(element.get("user_id", ""))
        return "@" + (names(uid) if names else uid)
    if etype == "channel":
        channel = str(element.get("channel_id", ""))
        return "#" + (channels(channel) if channels else channel)
    if etype == "link":
        return str(element.get("text") or element.get("url", ""))
    if etype == "emoji":
        return f":{element.get('name', '')}:"
    if etype == "broadcast":
        return "@" + str(element.get("range", ""))
    children = element.get("elements") or []
    joiner = "\n" if etype in ("rich_text", "rich_text_list") else ""
    prefix = "• " if etype == "rich_text_list" else ""
    parts = [_rich_text_plain(child, names, channels) for child in children]
    if prefix:
        parts = [prefix + p for p in parts]
    return joiner.join(parts)


def render_blocks(
    blocks: Any,
    names: Names | None = None,
    *,
    width: int = 48,
    channels: Names | None = None,
) -> list[str]:
    """Render Block Kit blocks as plain-text lines (headers in caps, buttons as ``[ Claim ]``);
    each line is one line of text, so a caller can indent every one of them."""
    if not isinstance(blocks, list):
        return []
    lines = _block_lines(blocks, width, lambda text: plain(text, names, channels), names, channels)
    # A context element or a field may hold several lines of its own: split them all here.
    return [part for line in lines for part in line.split("\n")]


def _block_lines(
    blocks: list[Any],
    width: int,
    markup: Callable[[str], str],
    names: Names | None,
    channels: Names | None,
) -> list[str]:
    lines: list[str] = []
    for block in blocks:
        if not isinstance(block, dict):
            continue
        btype = block.get("type")
        if btype == "header":
            lines.append(f"== {markup(text_of(block.get('text'))).upper()} ==")
        elif btype == "section":
            text = markup(text_of(block.get("text")))
            accessory = block.get("accessory")
            extra = f"  {_element_label(accessory)}" if isinstance(accessory, dict) else ""
            text_lines = text.splitlines() or [""]
            if text or extra:
                text_lines[-1] += extra
                lines.extend(text_lines if text else [extra.strip()])
            for item in block.get("fields") or []:
                for j, line in enumerate(markup(text_of(item)).splitlines() or [""]):
                    lines.append(("• " if j == 0 else "  ") + line)
        elif btype == "divider":
            lines.append("─" * width)
        elif btype == "context":
            parts = []
            for element in block.get("elements") or []:
                if isinstance(element, dict) and element.get("type") == "image":
                    parts.append(f"[{element.get('alt_text', 'img')}]")
                else:
                    parts.append(markup(text_of(element)))
            lines.append("  ·  ".join(p for p in parts if p))
        elif btype == "actions":
            labels = [_element_label(e) for e in block.get("elements") or [] if isinstance(e, dict)]
            lines.append("  ".join(labels))
        elif btype == "input":
            element = block.get("element")
            label = text_of(block.get("label"))
            widget = _element_label(element) if isinstance(element, dict) else ""
            optional = " (optional)" if block.get("optional") else ""
            lines.append(f"{label}{optional}: {widget}")
        elif btype == "image":
            title = text_of(block.get("title"))
            lines.append(f"[image: {title or block.get('alt_text', '')}]")
        elif btype == "rich_text":
            lines.extend(_rich_text_plain(block, names, channels).splitlines())
        elif btype == "markdown":
            lines.extend(markup(str(block.get("text", ""))).splitlines())
        elif btype == "file":
            lines.append(f"[file {block.get('external_id', '')}]")
        else:
            lines.append(f"[{btype} block]")
    return lines
