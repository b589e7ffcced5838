"""People acting in the workspace: posting, editing, deleting, reacting, opening App Home; each
returns the event Slack would send the app."""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Mapping
from typing import Any

from .blocks import BLOCK_ID_ALPHABET, rich_text_block
from .files import FileMethods
from .protocol import ApiError, JsonDict


def action_ts() -> str:
    """An ``action_ts``/``event_ts`` as Slack stamps them: now, in seconds with six decimals."""
    return f"{time.time():.6f}"


class Events(FileMethods):
    """Simulated people changing the workspace, and the events Slack sends about it."""

    def _lookup(self, channel: str, ts: str) -> tuple[str, JsonDict]:
        try:
            channel_id = self._resolve_channel(channel)
        except ApiError:
            raise LookupError(f"unknown channel {channel!r}") from None
        message = self._index.get((channel_id, ts))
        if message is None:
            raise LookupError(f"no message {ts} in {channel_id}")
        return channel_id, message

    def post_as_user(
        self,
        channel: str,
        user: str,
        text: str,
        *,
        thread_ts: str | None = None,
        blocks: list[JsonDict] | None = None,
        attachments: list[JsonDict] | None = None,
        subtype: str | None = None,
        bot_id: str | None = None,
        files: list[JsonDict] | None = None,
    ) -> JsonDict:
        """Store a message by a person (or a bot, given ``bot_id``); returns its message event.

        ``files``: dicts with ``name`` and optional ``content``/``title``; a user id means the DM.
        """
        with self._changed:
            try:
                channel_id = self._resolve_channel(channel)
                root = self._thread_root(channel_id, thread_ts) if thread_ts else None
            except ApiError as exc:
                raise LookupError(f"{exc.error}: {channel!r} {thread_ts or ''}".strip()) from None
            ts = self._next_ts()
            message: JsonDict
            if bot_id:
                message = {"type": "message", "subtype": "bot_message", "text": text, "ts": ts}
                message.update({"username": user, "bot_id": bot_id})
            else:
                message = {
                    "client_msg_id": str(uuid.uuid4()),
                    "type": "message",
                    "text": text,
                    "user": user,
                    "ts": ts,
                }
                if subtype:
                    message["subtype"] = subtype
            if blocks is not None:
                message["blocks"] = copy.deepcopy(blocks)
            elif not bot_id and text:
                message["blocks"] = [rich_text_block(text, self._random(BLOCK_ID_ALPHABET, 5))]
            message["team"] = self.team_id
            if attachments:
                message["attachments"] = copy.deepcopy(attachments)
            if files:
                message["files"] = [
                    self._file_object(self._user_file(f, user, channel_id, ts)) for f in files
                ]
                message.update({"upload": False, "display_as_bot": False})
                if not bot_id and not subtype:
                    message["subtype"] = "file_share"
            self._store(channel_id, message, root=root)
            event = copy.deepcopy(message)
            event.update(
                {
                    "channel": channel_id,
                    "event_ts": ts,
                    "channel_type": self._channel_type(channel_id),
                }
            )
            return event

    def edit_as_user(self, channel: str, ts: str, text: str) -> JsonDict:
        """A person edits their message; returns the ``message_changed`` event Slack sends."""
        with self._changed:
            channel_id = self._resolve_channel(channel)
            message = self._index.get((channel_id, ts))
            if message is None:
                raise LookupError(f"message_not_found: {channel!r} {ts}")
            previous = copy.deepcopy(message)
            event_ts = self._next_ts()
            message["text"] = text
            if "client_msg_id" in message:
                message["blocks"] = [rich_text_block(text, self._random(BLOCK_ID_ALPHABET, 5))]
            message["edited"] = {"user": message.get("user", ""), "ts": event_ts}
            self._changed.notify_all()
            return {
                "type": "message",
                "subtype": "message_changed",
                "hidden": True,
                "channel": channel_id,
                "message": copy.deepcopy(message),
                "previous_message": previous,
                "event_ts": event_ts,
                "ts": event_ts,
                "channel_type": self._channel_type(channel_id),
            }

    def delete_as_user(self, channel: str, ts: str) -> JsonDict:
        """A person deletes their message; returns the ``message_deleted`` event Slack sends."""
        with self._changed:
            channel_id = self._resolve_channel(channel)
            message = self._index.get((channel_id, ts))
            if message is None:
                raise LookupError(f"message_not_found: {channel!r} {ts}")
            previous = copy.deepcopy(message)
            self._delete_message(channel_id, message)
            event_ts = self._next_ts()
            self._changed.notify_all()
            return {
                "type": "message",
                "subtype": "message_deleted",
                "hidden": True,
                "deleted_ts": ts,
                "channel": channel_id,
                "previous_message": previous,
                "event_ts": event_ts,
                "ts": event_ts,
                "channel_type": self._channel_type(channel_id),
            }

    def to_app_mention(self, message_event: Mapping[str, Any]) -> JsonDict:
        """The ``app_mention`` event Slack sends alongside a message that mentions the bot."""
        keys = ("client_msg_id", "type", "text", "user", "ts", "blocks", "team", "thread_ts")
        event = {k: copy.deepcopy(message_event[k]) for k in keys if k in message_event}
        event.update(
            {
                "type": "app_mention",
                "channel": message_event.get("channel"),
                "event_ts": message_event.get("event_ts", message_event.get("ts")),
            }
        )
        return event

    def app_home_opened(self, user_id: str, *, tab: str = "home") -> JsonDict:
        """The ``app_home_opened`` event for a person opening the bot's App Home."""
        with self._lock:
            event: JsonDict = {
                "type": "app_home_opened",
                "user": user_id,
                "channel": self._dm_channel(user_id),
                "tab": tab,
                "event_ts": action_ts(),
            }
            home_id = self._homes.get(user_id)
            if tab == "home" and home_id is not None:
                event["view"] = copy.deepcopy(self._views[home_id])
            return event

    def react(self, channel: str, ts: str, user_id: str, name: str) -> JsonDict:
        """A person adds a reaction; returns the ``reaction_added`` event."""
        with self._changed:
            channel_id, message = self._lookup(channel, ts)
            self._add_reaction(message, name.strip(":"), user_id)
            self._changed.notify_all()
            return {
                "type": "reaction_added",
                "user": user_id,
                "reaction": name.strip(":"),
                "item": {"type": "message", "channel": channel_id, "ts": ts},
                "item_user": message.get("user", ""),
                "event_ts": action_ts(),
            }
