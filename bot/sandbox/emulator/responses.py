"""response_url: the URLs put in interaction payloads, and what a POST to one does."""

from __future__ import annotations

import copy
import json
import time
import uuid

from .messages import MessageStore
from .protocol import ApiError, JsonDict, Reply, json_reply, opt_bool, opt_str
from .records import ResponsePost

# Slack lets a response_url be used five times (within 30 minutes).
MAX_RESPONSE_URL_USES = 5


class ResponseUrls(MessageStore):
    """Issuing response_urls and answering the POSTs Bolt's ``respond()`` sends to them."""

    def new_response_url(
        self,
        channel_id: str | None = None,
        user_id: str | None = None,
        *,
        message_ts: str | None = None,
    ) -> str:
        """A response_url on the emulator; ``message_ts`` is the message replace_original edits."""
        with self._lock:
            response_id = uuid.uuid4().hex[:16]
            self._response_urls[response_id] = {
                "channel": channel_id,
                "user": user_id,
                "message_ts": message_ts,
                "uses": 0,
            }
            return f"{self.base_url}/response/{response_id}"

    def _handle_response_url(self, response_id: str, body: bytes) -> Reply:
        text_reply = {"Content-Type": "text/plain; charset=utf-8"}
        with self._changed:
            if self._down:
                return 503, text_reply, b"service_unavailable"
            entry = self._response_urls.get(response_id.strip("/"))
            if entry is None:
                return 404, text_reply, b"expired_url"
            try:
                payload = json.loads(body.decode("utf-8") or "null")
            except (UnicodeDecodeError, json.JSONDecodeError):
                payload = None
            if not isinstance(payload, dict):
                return 400, text_reply, b"invalid_payload"
            if entry["uses"] >= MAX_RESPONSE_URL_USES:
                return 404, text_reply, b"used_url"
            entry["uses"] += 1
            self._check_mentions("response_url", payload)
            self._responses.append(
                ResponsePost(
                    id=response_id.strip("/"),
                    url=f"{self.base_url}/response/{response_id.strip('/')}",
                    channel=entry["channel"],
                    user=entry["user"],
                    payload=copy.deepcopy(payload),
                    time=time.time(),
                )
            )
            try:
                self._apply_response(entry, payload)
            except ApiError as exc:
                return 400, text_reply, exc.error.encode()
            finally:
                self._changed.notify_all()
        return json_reply(200, {"ok": True})

    def _apply_response(self, entry: JsonDict, payload: JsonDict) -> None:
        channel, user, original_ts = entry["channel"], entry["user"], entry["message_ts"]
        original = self._index.get((channel, original_ts)) if channel and original_ts else None
        original_ephemeral = next(
            (
                e
                for e in self._ephemerals
                if channel and e["channel"] == channel and e["ts"] == original_ts
            ),
            None,
        )
        if opt_bool(payload, "delete_original"):
            if original is not None:
                self._delete_message(channel, original)
            elif original_ephemeral is not None:
                self._ephemerals.remove(original_ephemeral)
            return
        text, blocks, attachments = self._message_inputs(payload, required=True)
        if opt_bool(payload, "replace_original"):
            target = original if original is not None else original_ephemeral
            if target is not None:
                target["text"] = text
                for key, value in (("blocks", blocks), ("attachments", attachments)):
                    if value:
                        target[key] = value
                    else:
                        target.pop(key, None)
                if original is not None:
                    target["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
                return
        if not channel:
            return
        thread_ts = opt_str(payload, "thread_ts")
        if payload.get("response_type") == "in_channel":
            root = self._thread_root(channel, thread_ts) if thread_ts else None
            self._store(channel, self._bot_message(text, blocks, attachments), root=root)
        elif user:
            ephemeral = self._ephemeral(channel, user, text, blocks, attachments, "response_url")
            if not thread_ts and original is not None and not self._is_root(original):
                # Clicked in a thread: the person sees the answer in that thread.
                thread_ts = original["thread_ts"]
            if thread_ts:
                ephemeral["thread_ts"] = thread_ts
            self._ephemerals.append(ephemeral)
