"""Stored messages: bot messages, threads, deletes, reactions, and how API answers show them."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from typing import Any, cast

from .blocks import (
    BLOCK_ID_ALPHABET,
    MAX_MESSAGE_BLOCKS,
    MAX_TEXT_LENGTH,
    iter_elements,
    validate_blocks,
)
from .mentions import MentionCheck
from .protocol import ApiError, JsonDict, opt_str


class MessageStore(MentionCheck):
    """Checking, storing and changing messages; shared by chat, files, response_url and events."""

    def _check_text(self, text: str) -> None:
        if len(text) > MAX_TEXT_LENGTH:
            raise ApiError("msg_too_long")

    def _checked_blocks(self, blocks: Any, *, max_blocks: int, pointer: str) -> list[JsonDict]:
        errors = validate_blocks(blocks, max_blocks=max_blocks, pointer=pointer)
        if errors:
            raise ApiError(
                "invalid_blocks",
                errors=errors,
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
        return self._with_ids(cast(list[JsonDict], blocks))

    def _with_ids(self, blocks: list[JsonDict]) -> list[JsonDict]:
        """Give blocks and interactive elements the random ids Slack adds when they lack one."""
        out = copy.deepcopy(blocks)
        used = {str(b["block_id"]) for b in out if b.get("block_id")}
        for block in out:
            if not block.get("block_id"):
                block_id = self._random(BLOCK_ID_ALPHABET, 5)
                while block_id in used:
                    block_id = self._random(BLOCK_ID_ALPHABET, 5)
                used.add(block_id)
                block["block_id"] = block_id
            for _, element in iter_elements(block):
                if element.get("type") != "image" and not element.get("action_id"):
                    element["action_id"] = self._random(BLOCK_ID_ALPHABET, 5)
        return out

    def _message_inputs(self, params: JsonDict, *, required: bool) -> tuple[str, Any, Any]:
        text = opt_str(params, "text")
        blocks = params.get("blocks")
        attachments = params.get("attachments")
        if required and not text and not blocks and not attachments:
            raise ApiError("no_text")
        self._check_text(text)
        if attachments is not None and not isinstance(attachments, list):
            raise ApiError("invalid_attachments")
        if blocks is not None:
            blocks = self._checked_blocks(blocks, max_blocks=MAX_MESSAGE_BLOCKS, pointer="/blocks")
        return text, blocks, attachments

    @staticmethod
    def _checked_metadata(metadata: Any) -> Any:
        if metadata is None:
            return None
        if not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str):
            raise ApiError("invalid_metadata_format")
        if not isinstance(metadata.get("event_payload", {}), dict):
            raise ApiError("invalid_metadata_format")
        return metadata

    def _bot_profile(self) -> JsonDict:
        return {
            "id": self.bot_id,
            "deleted": False,
            "name": self.bot_name,
            "updated": int(time.time()),
            "app_id": self.app_id,
            "icons": {
                "image_36": "https://avatars.slack.test/bot_36.png",
                "image_48": "https://avatars.slack.test/bot_48.png",
                "image_72": "https://avatars.slack.test/bot_72.png",
            },
            "team_id": self.team_id,
        }

    def _bot_message(
        self,
        text: str,
        blocks: list[JsonDict] | None,
        attachments: Any = None,
        metadata: Any = None,
    ) -> JsonDict:
        message: JsonDict = {
            "user": self.bot_user_id,
            "type": "message",
            "ts": self._next_ts(),
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": text,
            "team": self.team_id,
            "bot_profile": self._bot_profile(),
        }
        if blocks:
            message["blocks"] = blocks
        if attachments:
            message["attachments"] = attachments
        if metadata:
            message["metadata"] = metadata
        return message

    def _ephemeral(
        self,
        channel: str,
        user: str,
        text: str,
        blocks: Any,
        attachments: Any = None,
        source: str = "chat.postEphemeral",
    ) -> JsonDict:
        ephemeral: JsonDict = {
            "type": "message",
            "ts": self._next_ts(),
            "channel": channel,
            "user": user,
            "author": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": text,
            "is_ephemeral": True,
            "source": source,
        }
        if blocks:
            ephemeral["blocks"] = blocks
        if attachments:
            ephemeral["attachments"] = attachments
        return ephemeral

    def _thread_root(self, channel: str, thread_ts: str) -> JsonDict:
        message = self._index.get((channel, thread_ts))
        if message is None:
            raise ApiError("thread_not_found")
        root_ts = message.get("thread_ts")
        if root_ts and root_ts != message["ts"]:
            # A reply's ts names its thread, as in Slack's clients.
            return self._index[(channel, root_ts)]
        return message

    def _store(
        self,
        channel: str,
        message: JsonDict,
        *,
        root: JsonDict | None = None,
        broadcast: bool = False,
    ) -> JsonDict:
        if root is not None:
            message["thread_ts"] = root["ts"]
            message["parent_user_id"] = root.get("user") or root.get("bot_id", "")
            if broadcast:
                message["subtype"] = "thread_broadcast"
        self._messages.setdefault(channel, []).append(message)
        self._index[(channel, message["ts"])] = message
        if root is not None:
            self._recount_thread(channel, root)
        self._changed.notify_all()
        return message

    def _replies_of(self, channel: str, root_ts: str) -> list[JsonDict]:
        return [
            m
            for m in self._messages.get(channel, [])
            if m.get("thread_ts") == root_ts and m["ts"] != root_ts
        ]

    def _recount_thread(self, channel: str, root: JsonDict) -> None:
        replies = self._replies_of(channel, root["ts"])
        if not replies:
            for key in ("thread_ts", "reply_count", "reply_users_count", "reply_users"):
                root.pop(key, None)
            for key in ("latest_reply", "is_locked", "subscribed"):
                root.pop(key, None)
            return
        users: list[str] = []
        for reply in replies:
            author = reply.get("user") or reply.get("bot_id") or ""
            if author and author not in users:
                users.append(author)
        root.update(
            {
                "thread_ts": root["ts"],
                "reply_count": len(replies),
                "reply_users_count": len(users),
                "latest_reply": replies[-1]["ts"],
                "reply_users": users,
                "is_locked": False,
                "subscribed": False,
            }
        )

    @staticmethod
    def _is_root(message: Mapping[str, Any]) -> bool:
        thread_ts = message.get("thread_ts")
        return not thread_ts or thread_ts == message.get("ts")

    def _in_history(self, message: Mapping[str, Any]) -> bool:
        return self._is_root(message) or message.get("subtype") == "thread_broadcast"

    def _present(self, message: JsonDict, include_all_metadata: bool = True) -> JsonDict:
        out = copy.deepcopy(message)
        # Slack only returns other apps' metadata when include_all_metadata is set.
        if not include_all_metadata and out.get("app_id") != self.app_id:
            out.pop("metadata", None)
        return out

    def _find_message(self, channel: str, ts: str) -> JsonDict:
        message = self._index.get((channel, ts)) if ts else None
        if message is None:
            raise ApiError("message_not_found")
        return message

    def _delete_message(self, channel: str, message: JsonDict) -> None:
        root_ts = message.get("thread_ts")
        if self._is_root(message) and message.get("reply_count"):
            # A parent with replies stays behind as a tombstone, as in Slack.
            for key in ("blocks", "attachments", "metadata", "files", "edited", "reactions"):
                message.pop(key, None)
            message.update(
                {"subtype": "tombstone", "text": "This message was deleted.", "hidden": True}
            )
            return
        self._messages[channel].remove(message)
        del self._index[(channel, message["ts"])]
        if root_ts and root_ts != message["ts"]:
            root = self._index.get((channel, root_ts))
            if root is not None:
                self._recount_thread(channel, root)

    def _add_reaction(self, message: JsonDict, name: str, user: str) -> bool:
        reactions: list[JsonDict] = message.setdefault("reactions", [])
        for reaction in reactions:
            if reaction["name"] == name:
                if user in reaction["users"]:
                    return False
                reaction["users"].append(user)
                reaction["count"] = len(reaction["users"])
                return True
        reactions.append({"name": name, "users": [user], "count": 1})
        return True
