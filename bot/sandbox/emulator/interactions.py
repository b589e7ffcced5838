"""Interaction payloads: button clicks (block_actions), message shortcuts and view submissions."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .blocks import iter_elements, rich_text_block
from .events import Events, action_ts
from .protocol import JsonDict
from .responses import ResponseUrls
from .views import ViewMethods


class Interactions(Events, ViewMethods, ResponseUrls):
    """Simulated people clicking, running shortcuts and submitting modals; returns the payloads."""

    def _payload_user(self, user_id: str, *, with_username: bool = True) -> JsonDict:
        name = self._user_name(user_id)
        out: JsonDict = {"id": user_id}
        if with_username:
            out["username"] = name
        out.update({"name": name, "team_id": self.team_id})
        return out

    def _payload_team(self) -> JsonDict:
        return {"id": self.team_id, "domain": self.team_domain}

    def _find_button(self, blocks: Any, action_id: str, where: str) -> tuple[JsonDict, JsonDict]:
        for block in blocks or []:
            if not isinstance(block, dict):
                continue
            for _, element in iter_elements(block):
                if element.get("action_id") == action_id:
                    if element.get("type") not in ("button", "overflow", "static_select"):
                        raise LookupError(f"{action_id!r} in {where} is a {element.get('type')}")
                    return block, element
        raise LookupError(f"no button with action_id {action_id!r} in {where}")

    @staticmethod
    def _action(block: JsonDict, button: JsonDict, value: str | None) -> JsonDict:
        if button.get("type") in ("overflow", "static_select"):
            # A menu: `value` names the option picked, as Slack reports it in selected_option.
            option = next((o for o in button.get("options") or [] if o.get("value") == value), None)
            if option is None:
                raise LookupError(f"no option {value!r} in menu {button.get('action_id')!r}")
            return {
                "action_id": button["action_id"],
                "block_id": block.get("block_id", ""),
                "type": button["type"],
                "selected_option": copy.deepcopy(option),
                "action_ts": action_ts(),
            }
        action: JsonDict = {
            "action_id": button["action_id"],
            "block_id": block.get("block_id", ""),
            "text": copy.deepcopy(button.get("text")),
        }
        chosen = value if value is not None else button.get("value")
        if chosen is not None:
            action["value"] = chosen
        if button.get("style"):
            action["style"] = button["style"]
        action["type"] = "button"
        action["action_ts"] = action_ts()
        return action

    def click(
        self, channel: str, ts: str, action_id: str, user_id: str, *, value: str | None = None
    ) -> JsonDict:
        """A person clicks a button in a message; returns Slack's ``block_actions`` payload.

        Works for ephemerals too (by their ``message_ts``), where Slack omits ``message``.
        """
        with self._lock:
            try:
                channel_id, message = self._lookup(channel, ts)
                ephemeral = False
            except LookupError:
                found = next((e for e in self._ephemerals if e["ts"] == ts), None)
                if found is None:
                    raise
                channel_id, message, ephemeral = found["channel"], found, True
            block, button = self._find_button(
                message.get("blocks"), action_id, f"message {ts} in {channel_id}"
            )
            container: JsonDict = {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel_id,
                "is_ephemeral": ephemeral,
            }
            if not self._is_root(message):
                container["thread_ts"] = message["thread_ts"]
            payload: JsonDict = {
                "type": "block_actions",
                "user": self._payload_user(user_id),
                "api_app_id": self.app_id,
                "token": self.verification_token,
                "container": container,
                "trigger_id": self.new_trigger_id(),
                "team": self._payload_team(),
                "enterprise": None,
                "is_enterprise_install": False,
                "channel": {"id": channel_id, "name": self._channel_name(channel_id)},
            }
            if not ephemeral:
                payload["message"] = self._present(message)
            payload["state"] = {"values": {}}
            payload["response_url"] = self.new_response_url(channel_id, user_id, message_ts=ts)
            payload["actions"] = [self._action(block, button, value)]
            return payload

    def click_in_view(
        self, view_id: str, action_id: str, user_id: str, *, value: str | None = None
    ) -> JsonDict:
        """A person clicks a button in a modal or App Home; returns ``block_actions``."""
        with self._lock:
            view = self._views.get(view_id)
            if view is None:
                raise LookupError(f"no view {view_id!r}")
            block, button = self._find_button(view["blocks"], action_id, f"view {view_id}")
            return {
                "type": "block_actions",
                "user": self._payload_user(user_id),
                "api_app_id": self.app_id,
                "token": self.verification_token,
                "container": {"type": "view", "view_id": view_id},
                "trigger_id": self.new_trigger_id(view_id),
                "team": self._payload_team(),
                "enterprise": None,
                "is_enterprise_install": False,
                "view": copy.deepcopy(view),
                "actions": [self._action(block, button, value)],
            }

    def message_shortcut(self, channel: str, ts: str, user_id: str, callback_id: str) -> JsonDict:
        """A person runs a message shortcut; returns Slack's ``message_action`` payload."""
        with self._lock:
            channel_id, message = self._lookup(channel, ts)
            return {
                "type": "message_action",
                "token": self.verification_token,
                "action_ts": action_ts(),
                "team": self._payload_team(),
                "user": self._payload_user(user_id, with_username=False),
                "channel": {"id": channel_id, "name": self._channel_name(channel_id)},
                "is_enterprise_install": False,
                "enterprise": None,
                "callback_id": callback_id,
                "trigger_id": self.new_trigger_id(),
                "response_url": self.new_response_url(channel_id, user_id, message_ts=ts),
                "message_ts": ts,
                "message": self._present(message),
            }

    def view_submission(self, view_id: str, user_id: str, values: Mapping[str, Any]) -> JsonDict:
        """A person submits a modal; returns Slack's ``view_submission`` payload.

        ``values``: Slack-shaped state, or plain values by block_id/action_id or by action_id.
        """
        with self._lock:
            view = self._views.get(view_id)
            if view is None:
                raise LookupError(f"no view {view_id!r}")
            view["state"] = {"values": _state_values(view, values)}
            return {
                "type": "view_submission",
                "team": self._payload_team(),
                "user": self._payload_user(user_id),
                "api_app_id": self.app_id,
                "token": self.verification_token,
                "trigger_id": self.new_trigger_id(view_id),
                "view": copy.deepcopy(view),
                "response_urls": [],
                "is_enterprise_install": False,
                "enterprise": None,
            }


# --------------------------------------------------------------------------------------------
# view_submission state values
# --------------------------------------------------------------------------------------------


def _option_for(element: Mapping[str, Any], value: Any) -> JsonDict:
    if isinstance(value, dict):
        return copy.deepcopy(value)
    options: list[Any] = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    for option in options:
        if isinstance(option, dict) and option.get("value") == value:
            return copy.deepcopy(option)
    return {"text": {"type": "plain_text", "text": str(value), "emoji": True}, "value": str(value)}


def _state_value(element: Mapping[str, Any], value: Any) -> JsonDict:
    """One entry of ``view.state.values`` as Slack shapes it for the element's type."""
    if isinstance(value, dict) and "type" in value:
        return copy.deepcopy(value)
    etype = str(element.get("type") or "plain_text_input")
    many = isinstance(value, (list, tuple))
    if etype in ("static_select", "external_select", "radio_buttons"):
        option = None if value is None else _option_for(element, value)
        return {"type": etype, "selected_option": option}
    if etype in ("multi_static_select", "multi_external_select", "checkboxes"):
        chosen = value if many else ([] if value is None else [value])
        return {"type": etype, "selected_options": [_option_for(element, v) for v in chosen]}
    single = {
        "users_select": "selected_user",
        "conversations_select": "selected_conversation",
        "channels_select": "selected_channel",
        "datepicker": "selected_date",
        "timepicker": "selected_time",
        "datetimepicker": "selected_date_time",
    }
    if etype in single:
        return {"type": etype, single[etype]: value}
    multiple = {
        "multi_users_select": "selected_users",
        "multi_conversations_select": "selected_conversations",
        "multi_channels_select": "selected_channels",
    }
    if etype in multiple:
        return {"type": etype, multiple[etype]: list(value) if many else [value]}
    if etype == "rich_text_input":
        return {"type": etype, "rich_text_value": rich_text_block(str(value or ""), "rt")}
    return {"type": etype, "value": None if value is None else str(value)}


def _state_values(view: Mapping[str, Any], values: Mapping[str, Any]) -> JsonDict:
    by_block: dict[str, dict[str, JsonDict]] = {}
    by_action: dict[str, tuple[str, JsonDict]] = {}
    for block in view.get("blocks") or []:
        block_id = str(block.get("block_id", ""))
        for _, element in iter_elements(block):
            action_id = element.get("action_id")
            if isinstance(action_id, str):
                by_block.setdefault(block_id, {})[action_id] = element
                by_action[action_id] = (block_id, element)
    out: JsonDict = {}
    for key, value in values.items():
        if key in by_block and isinstance(value, Mapping):
            for action_id, inner in value.items():
                element = by_block[key].get(action_id, {})
                out.setdefault(key, {})[action_id] = _state_value(element, inner)
        elif key in by_action:
            block_id, element = by_action[key]
            out.setdefault(block_id, {})[key] = _state_value(element, value)
        elif isinstance(value, Mapping):
            out[key] = {action_id: _state_value({}, inner) for action_id, inner in value.items()}
        else:
            raise LookupError(f"{key!r} is neither a block_id nor an action_id of the view")
    return out
