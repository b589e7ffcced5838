"""The whole workspace as text, as a person would read it: channels, threads, ephemerals, modals
and App Home tabs."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .blocks import text_of
from .messages import MessageStore
from .protocol import JsonDict, ts_key
from .render import plain, render_blocks


class Transcript(MessageStore):
    """Renders the stored workspace as text."""

    def transcript(self) -> str:
        """The whole workspace as a person would read it: channels, threads, ephemerals, views."""
        with self._lock:
            out: list[str] = []
            for channel_id, info in self._channels.items():
                messages = self._messages.get(channel_id, [])
                ephemerals = [e for e in self._ephemerals if e["channel"] == channel_id]
                if info.get("is_im") and not messages and not ephemerals:
                    continue
                out.extend(self._render_channel(channel_id, info, messages, ephemerals))
                out.append("")
            out.extend(self._render_views())
            return "\n".join(out).rstrip() + "\n"

    def _render_channel(
        self,
        channel_id: str,
        info: Mapping[str, Any],
        messages: list[JsonDict],
        ephemerals: list[JsonDict],
    ) -> list[str]:
        if info.get("is_im"):
            title = f"DM with @{self._user_name(str(info.get('user')))}  ({channel_id})"
        else:
            lock = " (private)" if info.get("is_private") else ""
            title = f"#{info.get('name')}{lock}  ({channel_id})"
        lines = [title, "═" * max(len(title), 60)]
        top = [m for m in messages if self._in_history(m)]
        top += [e for e in ephemerals if not e.get("thread_ts")]
        top.sort(key=lambda m: ts_key(m["ts"]))
        if not top:
            lines.append("  (no messages)")
        for item in top:
            lines.extend(self._render_message(item, indent=""))
            if item.get("is_ephemeral") or not self._is_root(item):
                continue
            thread = [
                *self._replies_of(channel_id, item["ts"]),
                *(e for e in ephemerals if e.get("thread_ts") == item["ts"]),
            ]
            thread.sort(key=lambda m: ts_key(m["ts"]))
            for reply in thread:
                lines.extend(self._render_message(reply, indent="    ↳ "))
        return lines

    def _author(self, message: Mapping[str, Any]) -> str:
        if message.get("is_ephemeral"):
            return f"{self.bot_name} [APP]  (only visible to @{self._user_name(message['user'])})"
        if message.get("subtype") == "bot_message":
            return f"{message.get('username') or message.get('bot_id')} [BOT]"
        if message.get("bot_id") == self.bot_id:
            return f"{self.bot_name} [APP]"
        return str(self._user_name(str(message.get("user", "?"))))

    def _render_message(self, message: Mapping[str, Any], indent: str) -> list[str]:
        stamp = time.strftime("%H:%M:%S", time.localtime(ts_key(message["ts"])[0]))
        header = f"{indent}{stamp}  {self._author(message)}"
        if message.get("subtype") == "thread_broadcast":
            header += "  (also sent to the channel)"
        pad = " " * (len(indent) + 10)
        body: list[str] = []
        blocks = message.get("blocks") or []
        if blocks and any(b.get("type") != "rich_text" for b in blocks if isinstance(b, dict)):
            body.extend(render_blocks(blocks, self._user_name))
        elif message.get("text"):
            body.extend(plain(str(message["text"]), self._user_name).splitlines())
        elif blocks:
            body.extend(render_blocks(blocks, self._user_name))
        for attachment in message.get("attachments") or []:
            if not isinstance(attachment, dict):
                continue
            inner = render_blocks(attachment.get("blocks"), self._user_name)
            if not inner:
                text = attachment.get("text") or attachment.get("fallback") or ""
                inner = plain(str(text), self._user_name).splitlines()
            body.extend(f"▌ {line}" for line in inner)
        for item in message.get("files") or []:
            body.append(f"[file: {item.get('title') or item.get('name')}, {item.get('size')} B]")
        reactions = message.get("reactions") or []
        if reactions:
            body.append("  ".join(f":{r['name']}: {r['count']}" for r in reactions))
        if message.get("edited"):
            body.append("(edited)")
        if message.get("reply_count") and self._is_root(message):
            count = message["reply_count"]
            body.append(f"💬 {count} repl{'y' if count == 1 else 'ies'}")
        return [header, *(pad + line for line in body or [""])]

    def _render_views(self) -> list[str]:
        lines: list[str] = []
        if self._opened:
            lines += ["Modals opened", "═" * 60]
            for view_id in self._opened:
                view = self._views[view_id]
                buttons = "  ".join(
                    f"[ {text_of(view.get(k))} ]" for k in ("close", "submit") if view.get(k)
                )
                lines.append(
                    f"{text_of(view.get('title'))!r}  ({view_id}, "
                    f"callback_id={view.get('callback_id')!r})"
                )
                lines += [
                    "          " + line for line in render_blocks(view["blocks"], self._user_name)
                ]
                if buttons:
                    lines.append("          " + buttons)
            lines.append("")
        if self._homes:
            lines += ["App Home tabs", "═" * 60]
            for user_id, view_id in self._homes.items():
                lines.append(f"@{self._user_name(user_id)}  ({view_id})")
                lines += [
                    "          " + line
                    for line in render_blocks(self._views[view_id]["blocks"], self._user_name)
                ]
            lines.append("")
        return lines
