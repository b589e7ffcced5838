"""Typed reads of the values the bot takes from Slack's payloads, checked at the edge.

Button values, menu choices and a modal's `private_metadata` are strings the bot wrote itself;
a request that carries anything else (a forged or stale payload, another app's button) raises
`PayloadError`, which the listeners answer with a polite private note and a log line, never a
traceback."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from bot.slack.forms import FormValueError, form_values

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


def _id_of(holder: object, key: str = "id") -> str | None:
    value = holder.get(key) if isinstance(holder, dict) else None
    return value if isinstance(value, str) and value else None


def installation_ids(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """The workspace and Enterprise org a request says it comes from (envelope, not people:
    in a shared channel a person may belong to another workspace)."""
    team = body.get("team_id") if isinstance(body.get("team_id"), str) else None
    team = team or _id_of(body.get("team"))
    enterprise = body.get("enterprise_id") if isinstance(body.get("enterprise_id"), str) else None
    enterprise = enterprise or _id_of(body.get("enterprise"))
    return team or None, enterprise or None


def foreign_installation(body: dict[str, Any], team: str, enterprise: str) -> str | None:
    """Why a request is not from the installation's workspace (and org), or None when it is.
    An empty `team` (the identity was not checked at start) checks nothing."""
    if not team:
        return None
    got_team, got_enterprise = installation_ids(body)
    if got_enterprise and got_enterprise != enterprise:
        return f"enterprise {got_enterprise[:24]!r} is not the installation's"
    if got_team and got_team != team:
        return f"team {got_team[:24]!r} is not the installation's"
    if not got_team and not (enterprise and got_enterprise == enterprise):
        return "names no team"
    return None


_EVENT_STRINGS = ("type", "subtype", "user", "bot_id", "channel", "ts", "thread_ts", "text")
_EVENT_OBJECTS = ("message", "previous_message", "edited", "bot_profile")
_EVENT_LISTS = ("files", "blocks", "attachments")


def check_event(body: dict[str, Any]) -> None:
    """An Events API envelope whose event has the shapes Slack documents: strings, objects and
    lists where the bot reads them (a `text` that is an object, a `message_changed` whose
    `message` is a string are refused)."""
    if body.get("type") != "event_callback":
        return
    event = body.get("event")
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise PayloadError("event_callback: no event object with a type")
    _check_shapes(event, "event")
    for key in ("message", "previous_message"):
        if isinstance(event.get(key), dict):
            _check_shapes(event[key], f"event.{key}")


def _check_shapes(event: dict[str, Any], where: str) -> None:
    for key in _EVENT_STRINGS:
        if key in event and event[key] is not None and not isinstance(event[key], str):
            raise PayloadError(f"{where}.{key}: expected a string")
        if isinstance(event.get(key), str) and "\x00" in event[key]:
            raise PayloadError(f"{where}.{key}: contains a NUL character")
    for key in _EVENT_OBJECTS:
        if key in event and event[key] is not None and not isinstance(event[key], dict):
            raise PayloadError(f"{where}.{key}: expected an object")
    for key in _EVENT_LISTS:
        if key in event and event[key] is not None and not isinstance(event[key], list):
            raise PayloadError(f"{where}.{key}: expected a list")


def check_view_state(body: dict[str, Any]) -> None:
    """A submitted form's state as Slack's inputs produce it (dates in range, texts as texts)."""
    if body.get("type") != "view_submission":
        return
    view = body.get("view")
    if not isinstance(view, dict):
        raise PayloadError("view_submission: no view")
    try:
        form_values(view)
    except FormValueError as exc:
        raise PayloadError(f"view state: {exc}") from None
