"""Reading what the emulator recorded, for tests: calls, messages, threads, ephemerals, views,
files and response_url posts."""

from __future__ import annotations

import copy

from .messages import MessageStore
from .protocol import ApiError, JsonDict
from .records import ApiCall, ResponsePost


class Queries(MessageStore):
    """Copies of the recorded state, and waiting for calls an app makes after acking."""

    def calls_to(self, method: str) -> list[ApiCall]:
        """The recorded calls to one Web API method, oldest first."""
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for_calls(self, method: str, count: int = 1, *, timeout: float = 5.0) -> list[ApiCall]:
        """Block until ``count`` calls to ``method`` were recorded (for apps acking first)."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.calls_to(method)) >= count, timeout=timeout)
            found = self.calls_to(method)
        if len(found) < count:
            raise TimeoutError(f"{len(found)} of {count} calls to {method} after {timeout}s")
        return found

    def responses(self, id: str | None = None) -> list[ResponsePost]:
        """Bodies POSTed to response URLs (all, or those of one id or full URL)."""
        wanted = id.rstrip("/").rsplit("/", 1)[-1] if id else None
        with self._lock:
            return [copy.deepcopy(r) for r in self._responses if wanted is None or r.id == wanted]

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[JsonDict]:
        """Ephemeral messages shown so far, optionally only in a channel and/or to a user."""
        with self._lock:
            channel_id = self._resolve_channel_soft(channel) if channel else None
            return [
                copy.deepcopy(e)
                for e in self._ephemerals
                if (channel_id is None or e["channel"] == channel_id)
                and (user is None or e["user"] == user)
            ]

    @property
    def views(self) -> dict[str, JsonDict]:
        """Every view (modals and home tabs) by id, in its latest version."""
        with self._lock:
            return copy.deepcopy(self._views)

    def opened_views(self) -> list[JsonDict]:
        """Modals opened or pushed, in order, each in its latest version."""
        with self._lock:
            return [copy.deepcopy(self._views[v]) for v in self._opened]

    def home_view(self, user_id: str) -> JsonDict | None:
        """The App Home view published for a user, if any."""
        with self._lock:
            view_id = self._homes.get(user_id)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    def file_bytes(self, file_id: str) -> bytes | None:
        """The bytes uploaded for a file, if any."""
        with self._lock:
            record = self._files.get(file_id)
            content = record.get("content") if record else None
            return content if isinstance(content, bytes) else None

    def _resolve_channel_soft(self, channel: str) -> str:
        try:
            return self._resolve_channel(channel)
        except ApiError:
            raise LookupError(f"unknown channel {channel!r}") from None

    def channel_messages(self, channel: str) -> list[JsonDict]:
        """Messages shown in the channel itself (roots and broadcasts), oldest first."""
        with self._lock:
            channel_id = self._resolve_channel_soft(channel)
            return [
                copy.deepcopy(m) for m in self._messages.get(channel_id, []) if self._in_history(m)
            ]

    def thread(self, channel: str, ts: str) -> list[JsonDict]:
        """The replies of a thread, oldest first (without the parent)."""
        with self._lock:
            channel_id = self._resolve_channel_soft(channel)
            return [copy.deepcopy(m) for m in self._replies_of(channel_id, ts)]

    def message(self, channel: str, ts: str) -> JsonDict | None:
        """One message (root or reply) by ts, or None."""
        with self._lock:
            channel_id = self._resolve_channel_soft(channel)
            found = self._index.get((channel_id, ts))
            return copy.deepcopy(found) if found is not None else None

    def dm_messages(self, user_id: str) -> list[JsonDict]:
        """Messages in the bot's DM with a user, oldest first."""
        return self.channel_messages(self.dm_channel_id(user_id))
