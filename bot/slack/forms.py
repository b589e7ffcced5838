"""Reading what a person entered in a Slack form (a modal's state), whatever the input type."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

# Dates a form may carry; beyond them a value was not picked by a person (or a probe).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
MAX_INPUT_CHARS = 12_000  # Slack's plain_text_input max_length is 3000; room for the rest


class FormValueError(ValueError):
    """A form's state that Slack's inputs cannot produce; the message says which block."""


def _date(block_id: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise FormValueError(f"{block_id}: not a date")
    try:
        picked = date.fromisoformat(value)
    except ValueError:
        raise FormValueError(f"{block_id}: not a date") from None
    if not EARLIEST.date() <= picked <= LATEST.date():
        raise FormValueError(f"{block_id}: date out of range")
    return value


def _stamp(block_id: str, value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise FormValueError(f"{block_id}: not a time")
    text = str(value)
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise FormValueError(f"{block_id}: not a time")
    stamp = int(text)
    if not EARLIEST.timestamp() <= stamp <= LATEST.timestamp():
        raise FormValueError(f"{block_id}: time out of range")
    return datetime.fromtimestamp(stamp, UTC)


def _text(block_id: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_INPUT_CHARS:
        raise FormValueError(f"{block_id}: not a text input's value")
    if "\x00" in value:
        raise FormValueError(f"{block_id}: contains a NUL character")
    return value


def _option(block_id: str, option: Any) -> str | None:
    if option is None:
        return None
    value = option.get("value") if isinstance(option, dict) else None
    return _text(block_id, value)


def form_values(view: dict[str, Any]) -> dict[str, Any]:
    """Block id -> the value entered or picked; inputs use the action id `value`. Empty is None.
    A state no Slack input produces (a date far out of range, an object where a text belongs)
    raises FormValueError."""
    state = view.get("state") if isinstance(view, dict) else None
    values = state.get("values") if isinstance(state, dict) else None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise FormValueError("state.values is not an object")
    out: dict[str, Any] = {}
    for block_id, actions in values.items():
        element = actions.get("value") if isinstance(actions, dict) else None
        if element is None:
            out[block_id] = None
            continue
        if not isinstance(element, dict):
            raise FormValueError(f"{block_id}: not an input's state")
        if "selected_option" in element:
            out[block_id] = _option(block_id, element.get("selected_option"))
        elif "selected_options" in element:
            options = element.get("selected_options") or []
            if not isinstance(options, list):
                raise FormValueError(f"{block_id}: not a list of options")
            out[block_id] = [_option(block_id, o) for o in options]
        elif "selected_user" in element:
            out[block_id] = _text(block_id, element.get("selected_user"))
        elif "selected_date" in element:
            out[block_id] = _date(block_id, element.get("selected_date"))
        elif "selected_date_time" in element:
            out[block_id] = _stamp(block_id, element.get("selected_date_time"))
        else:
            value = _text(block_id, element.get("value"))
            out[block_id] = value.strip() if value and value.strip() else None
    return out
