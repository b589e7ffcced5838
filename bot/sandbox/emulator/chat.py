"""chat.* and reactions.*: how the emulator answers chat.postMessage, chat.update, ..."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .messages import MessageStore
from .protocol import ApiError, JsonDict, opt_bool, opt_str


class ChatMethods(MessageStore):
    """The chat.* and reactions.* Web API methods."""

    def _chat_post_message(self, params: JsonDict) -> JsonDict:
        channel = self._resolve_channel(params.get("channel"))
        text, blocks, attachments = self._message_inputs(params, required=True)
        metadata = self._checked_metadata(params.get("metadata"))
        thread_ts = opt_str(params, "thread_ts")
        root = self._thread_root(channel, thread_ts) if thread_ts else None
        message = self._bot_message(text, blocks, attachments, metadata)
        broadcast = root is not None and opt_bool(params, "reply_broadcast")
        self._store(channel, message, root=root, broadcast=broadcast)
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "message": self._present(message),
        }

    def _chat_update(self, params: JsonDict) -> JsonDict:
        channel = self._resolve_channel(params.get("channel"))
        message = self._find_message(channel, opt_str(params, "ts"))
        if message.get("user") != self.bot_user_id or message.get("bot_id") != self.bot_id:
            raise ApiError("cant_update_message")
        provided = [k for k in ("text", "blocks", "attachments") if params.get(k) is not None]
        if not provided and params.get("metadata") is None:
            raise ApiError("no_text")
        text, blocks, attachments = self._message_inputs(params, required=False)
        metadata = self._checked_metadata(params.get("metadata"))
        if "text" in provided:
            message["text"] = text
        for key, value in (("blocks", blocks), ("attachments", attachments)):
            if key in provided:
                if value:
                    message[key] = value
                else:
                    message.pop(key, None)
        if metadata is not None:
            message["metadata"] = metadata
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        self._changed.notify_all()
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "text": message.get("text", ""),
            "message": self._present(message),
        }

    def _chat_delete(self, params: JsonDict) -> JsonDict:
        channel = self._resolve_channel(params.get("channel"))
        message = self._find_message(channel, opt_str(params, "ts"))
        if message.get("user") != self.bot_user_id:
            raise ApiError("cant_delete_message")
        self._delete_message(channel, message)
        self._changed.notify_all()
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    def _chat_post_ephemeral(self, params: JsonDict) -> JsonDict:
        channel = self._resolve_channel(params.get("channel"))
        user = opt_str(params, "user")
        if not user:
            raise ApiError("user_not_found")
        text, blocks, attachments = self._message_inputs(params, required=True)
        ephemeral = self._ephemeral(channel, user, text, blocks, attachments)
        thread_ts = opt_str(params, "thread_ts")
        if thread_ts:
            ephemeral["thread_ts"] = thread_ts
        self._ephemerals.append(ephemeral)
        self._changed.notify_all()
        return {"ok": True, "message_ts": ephemeral["ts"]}

    def _permalink(self, channel: str, message: Mapping[str, Any]) -> str:
        link = f"{self.web_url}archives/{channel}/p{str(message['ts']).replace('.', '')}"
        if not self._is_root(message):
            link += f"?thread_ts={message['thread_ts']}&cid={channel}"
        return link

    def _chat_get_permalink(self, params: JsonDict) -> JsonDict:
        channel = self._resolve_channel(params.get("channel"))
        message = self._find_message(channel, opt_str(params, "message_ts"))
        return {"ok": True, "channel": channel, "permalink": self._permalink(channel, message)}

    # ---------------------------------------------------------------- reactions

    def _reaction_target(self, params: JsonDict) -> tuple[JsonDict, str]:
        channel = self._resolve_channel(params.get("channel"))
        message = self._find_message(channel, opt_str(params, "timestamp"))
        name = opt_str(params, "name").strip(":")
        if not name:
            raise ApiError("invalid_name")
        return message, name

    def _reactions_add(self, params: JsonDict) -> JsonDict:
        message, name = self._reaction_target(params)
        if not self._add_reaction(message, name, self.bot_user_id):
            raise ApiError("already_reacted")
        self._changed.notify_all()
        return {"ok": True}

    def _reactions_remove(self, params: JsonDict) -> JsonDict:
        message, name = self._reaction_target(params)
        for reaction in message.get("reactions", []):
            if reaction["name"] == name and self.bot_user_id in reaction["users"]:
                reaction["users"].remove(self.bot_user_id)
                reaction["count"] = len(reaction["users"])
                if not reaction["users"]:
                    message["reactions"].remove(reaction)
                if not message["reactions"]:
                    message.pop("reactions")
                return {"ok": True}
        raise ApiError("no_reaction")
