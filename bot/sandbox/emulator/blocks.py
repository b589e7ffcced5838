"""Block Kit: the limits Slack enforces, block validation, and the rich_text blocks clients send."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from typing import Any

from .protocol import JsonDict

# Limits Slack enforces on messages and Block Kit (docs.slack.dev/reference/block-kit).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT_LENGTH = 40_000
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000


MARKUP_RE = re.compile(r"<([@#!][^>]*|(?:https?|mailto):[^>]*)>")
BLOCK_ID_ALPHABET = string.ascii_letters + string.digits


def text_of(obj: Any) -> str:
    """The text of a text object (or of a plain string); "" otherwise."""
    if isinstance(obj, dict):
        text = obj.get("text", "")
        return text if isinstance(text, str) else ""
    return obj if isinstance(obj, str) else ""


def iter_elements(block: Mapping[str, Any]) -> Iterator[tuple[str, JsonDict]]:
    """Yield (json-pointer suffix, element) for the interactive elements of one block."""
    btype = block.get("type")
    if btype == "actions":
        for i, element in enumerate(block.get("elements") or []):
            if isinstance(element, dict):
                yield f"/elements/{i}", element
    elif btype == "section":
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            yield "/accessory", accessory
    elif btype == "input":
        element = block.get("element")
        if isinstance(element, dict):
            yield "/element", element


def check_text_object(obj: Any, pointer: str, *, max_len: int, plain_only: bool) -> list[str]:
    """Errors for one text object: its type and its length."""
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return [f"must be a text object [json-pointer:{pointer}]"]
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in allowed:
        return [f"must be one of {', '.join(allowed)} [json-pointer:{pointer}/type]"]
    if len(obj["text"]) > max_len:
        return [f"must be less than {max_len + 1} characters [json-pointer:{pointer}/text]"]
    return []


def _check_element(element: JsonDict, pointer: str) -> list[str]:
    errors: list[str] = []
    etype = element.get("type")
    if not isinstance(etype, str) or not etype:
        return [f"missing required field: type [json-pointer:{pointer}]"]
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > MAX_ACTION_ID):
        errors.append(
            f"must be less than {MAX_ACTION_ID + 1} characters [json-pointer:{pointer}/action_id]"
        )
    if etype == "button":
        errors += check_text_object(
            element.get("text"), f"{pointer}/text", max_len=MAX_BUTTON_TEXT, plain_only=True
        )
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE):
            errors.append(
                f"must be less than {MAX_BUTTON_VALUE + 1} characters "
                f"[json-pointer:{pointer}/value]"
            )
        style = element.get("style")
        if style is not None and style not in ("primary", "danger"):
            errors.append(f"must be one of primary, danger [json-pointer:{pointer}/style]")
    return errors


def _check_block(block: JsonDict, pointer: str) -> list[str]:
    btype = block["type"]
    errors: list[str] = []
    if btype == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            errors.append(f"must provide either text or fields [json-pointer:{pointer}]")
        if text is not None:
            errors += check_text_object(
                text, f"{pointer}/text", max_len=MAX_SECTION_TEXT, plain_only=False
            )
        if fields is not None:
            if not isinstance(fields, list):
                errors.append(f"must be an array [json-pointer:{pointer}/fields]")
            else:
                if len(fields) > MAX_FIELDS:
                    errors.append(
                        f"no more than {MAX_FIELDS} items allowed [json-pointer:{pointer}/fields]"
                    )
                for i, item in enumerate(fields):
                    errors += check_text_object(
                        item, f"{pointer}/fields/{i}", max_len=MAX_FIELD_TEXT, plain_only=False
                    )
    elif btype == "header":
        errors += check_text_object(
            block.get("text"), f"{pointer}/text", max_len=MAX_HEADER_TEXT, plain_only=True
        )
    elif btype == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            errors.append(f"missing required field: elements [json-pointer:{pointer}]")
        elif len(elements) > MAX_CONTEXT_ELEMENTS:
            errors.append(
                f"no more than {MAX_CONTEXT_ELEMENTS} items allowed "
                f"[json-pointer:{pointer}/elements]"
            )
    elif btype == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            errors.append(f"missing required field: elements [json-pointer:{pointer}]")
        elif len(elements) > MAX_ACTIONS_ELEMENTS:
            errors.append(
                f"no more than {MAX_ACTIONS_ELEMENTS} items allowed "
                f"[json-pointer:{pointer}/elements]"
            )
    elif btype == "input":
        errors += check_text_object(
            block.get("label"), f"{pointer}/label", max_len=2000, plain_only=True
        )
        if not isinstance(block.get("element"), dict):
            errors.append(f"missing required field: element [json-pointer:{pointer}]")
    elif btype == "image":
        if not block.get("image_url") and not block.get("slack_file"):
            errors.append(f"missing required field: image_url [json-pointer:{pointer}]")
        if not isinstance(block.get("alt_text"), str):
            errors.append(f"missing required field: alt_text [json-pointer:{pointer}]")

    seen_actions: set[str] = set()
    for suffix, element in iter_elements(block):
        errors += _check_element(element, pointer + suffix)
        action_id = element.get("action_id")
        if isinstance(action_id, str):
            if action_id in seen_actions:
                errors.append(
                    f"duplicate action_id {action_id!r} [json-pointer:{pointer}{suffix}/action_id]"
                )
            seen_actions.add(action_id)
    return errors


def validate_blocks(
    blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS, pointer: str = "/blocks"
) -> list[str]:
    """Check blocks against the Block Kit limits Slack enforces; returns Slack-style errors."""
    if not isinstance(blocks, list):
        return [f"must be an array [json-pointer:{pointer}]"]
    errors: list[str] = []
    if len(blocks) > max_blocks:
        errors.append(f"no more than {max_blocks} items allowed [json-pointer:{pointer}]")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"{pointer}/{i}"
        if not isinstance(block, dict):
            errors.append(f"must be an object [json-pointer:{where}]")
            continue
        if not isinstance(block.get("type"), str) or not block["type"]:
            errors.append(f"missing required field: type [json-pointer:{where}]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id or len(block_id) > MAX_BLOCK_ID:
                errors.append(
                    f"must be less than {MAX_BLOCK_ID + 1} characters "
                    f"[json-pointer:{where}/block_id]"
                )
            elif block_id in block_ids:
                errors.append(f"duplicate block_id {block_id!r} [json-pointer:{where}/block_id]")
            else:
                block_ids.add(block_id)
        errors += _check_block(block, where)
    return errors


def rich_text_block(text: str, block_id: str) -> JsonDict:
    """The rich_text block Slack's clients attach to what a person types."""
    elements: list[JsonDict] = []
    pos = 0
    for match in MARKUP_RE.finditer(text):
        if match.start() > pos:
            elements.append({"type": "text", "text": text[pos : match.start()]})
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            elements.append({"type": "user", "user_id": target[1:]})
        elif target.startswith("#"):
            elements.append({"type": "channel", "channel_id": target[1:]})
        elif target.startswith("!"):
            elements.append({"type": "broadcast", "range": target[1:]})
        else:
            link: JsonDict = {"type": "link", "url": target}
            if label:
                link["text"] = label
            elements.append(link)
        pos = match.end()
    if pos < len(text):
        elements.append({"type": "text", "text": text[pos:]})
    return {
        "type": "rich_text",
        "block_id": block_id,
        "elements": [{"type": "rich_text_section", "elements": elements}],
    }
