"""Typed reads of the values the bot takes from Slack's payloads, checked at the edge.

Button values, menu choices and a modal's `private_metadata` are strings the bot wrote itself;
a request that carries anything else (a forged or stale payload, another app's button) raises
`PayloadError`, which the listeners answer with a polite private note and a log line, never a
traceback."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

# Row ids the bot writes are positive and fit the database's integer column.
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Field(gt=0, le=MAX_ROW_ID, strict=False)]
_ROW_ID: TypeAdapter[int] = TypeAdapter(RowId)
MAX_VALUE_CHARS = 2000  # Slack's own limit on a button's value


class PayloadError(ValueError):
    """A payload value the bot did not write; the message says which, for the operator's log."""


class CaseMetadata(BaseModel):
    """What a case form keeps in `private_metadata`: the case it is about."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    case: RowId


class CustomerMetadata(BaseModel):
    """What the erasure form keeps in `private_metadata`: the customer to forget."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    customer: RowId


def row_id(value: object, what: str) -> int:
    """A row id written as a button's value (`"42"`), or PayloadError."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise PayloadError(f"{what}: expected a row id, got {type(value).__name__}")
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or len(text) > 10:
        raise PayloadError(f"{what}: expected a row id, got {text[:40]!r}")
    try:
        return _ROW_ID.validate_python(int(text))
    except ValidationError:
        raise PayloadError(f"{what}: row id out of range") from None


def action_of(body: dict[str, Any]) -> dict[str, Any]:
    """The block action a click carries (Slack sends one per request)."""
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise PayloadError("block_actions: no action in the payload")
    return actions[0]


def button_row_id(body: dict[str, Any], what: str = "button value") -> int:
    """The row id a card's button carries as its value."""
    return row_id(action_of(body).get("value"), what)


def menu_choice(body: dict[str, Any], names: frozenset[str]) -> tuple[str, int]:
    """An overflow menu's `name:case_id` choice, the name one of `names`."""
    option = action_of(body).get("selected_option")
    value = option.get("value") if isinstance(option, dict) else None
    if not isinstance(value, str) or len(value) > MAX_VALUE_CHARS:
        raise PayloadError("overflow menu: no selected option")
    name, _, case = value.partition(":")
    if name not in names:
        raise PayloadError(f"overflow menu: unknown choice {name[:40]!r}")
    return name, row_id(case, "overflow menu case")


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    raw = view.get("private_metadata") if isinstance(view, dict) else None
    if not isinstance(raw, str) or not raw or len(raw) > 3000:
        raise PayloadError("view: private_metadata missing or too long")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise PayloadError("view: private_metadata is not the bot's JSON") from None
    if not isinstance(data, dict):
        raise PayloadError("view: private_metadata is not an object")
    return data


def view_case_id(view: dict[str, Any]) -> int:
    """The case a submitted case form is about."""
    try:
        return CaseMetadata.model_validate(_metadata(view)).case
    except ValidationError:
        raise PayloadError("view: private_metadata names no case") from None


def view_customer_id(view: dict[str, Any]) -> int:
    """The customer a submitted erasure form is about."""
    try:
        return CustomerMetadata.model_validate(_metadata(view)).customer
    except ValidationError:
        raise PayloadError("view: private_metadata names no customer") from None


def user_id(body: dict[str, Any]) -> str | None:
    """The person acting: `user.id` in interactivity, `user_id` in slash commands."""
    user = body.get("user")
    candidate = user.get("id") if isinstance(user, dict) else body.get("user_id")
    return candidate if isinstance(candidate, str) and candidate else None


def channel_id(body: dict[str, Any]) -> str | None:
    """The channel of the message a click was on, when the payload says."""
    for key, field in (("channel", "id"), ("container", "channel_id")):
        holder = body.get(key)
        value = holder.get(field) if isinstance(holder, dict) else None
        if isinstance(value, str) and value:
            return value
    return None
