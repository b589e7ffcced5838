"""The whole workspace as text, as a person would read it: channels, threads, ephemerals, modals
and App Home tabs; or only what changed since the last reading."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .blocks import text_of
from .messages import MessageStore
from .protocol import JsonDict, ts_key
from .render import plain, render_blocks

BODY = " " * 10  # a message's lines start under its author's time


@dataclass
class TranscriptMark:
    """What a reader has seen: each message's or view's key and how it read then."""

    seen: dict[str, str] = field(default_factory=dict)


@dataclass
class _Entry:
    key: str  # channel and ts, or the view
    lines: list[str]
    signature: str  # what must change for the entry to be shown again
    thread: str = ""  # a reply: its root's key
    header: str = ""  # a root: its first line, to place a later reply under


@dataclass
class _Section:
    title: list[str]
    entries: list[_Entry]
    empty: str = ""  # shown in a full transcript when there are no entries


class Transcript(MessageStore):
    """Renders the stored workspace as text."""

    def transcript(self, since: TranscriptMark | None = None) -> str:
        """The whole workspace as a person would read it: channels, threads, ephemerals, views.

        With `since`, only the messages and views that are new or read differently from what
        that mark saw (a card edited, a Home republished), under their channel's title; the
        mark is then moved to now. "" when nothing changed."""
        with self._lock:
            sections = self._sections()
        if since is None:
            return self._full(sections)
        out: list[str] = []
        for section in sections:
            shown: set[str] = set()
            lines: list[str] = []
            roots = {e.key: e for e in section.entries}
            for entry in section.entries:
                if since.seen.get(entry.key) == entry.signature:
                    continue
                if entry.thread and entry.thread not in shown and entry.thread in roots:
                    lines.append(roots[entry.thread].header + "  (thread)")
                    shown.add(entry.thread)
                lines.extend(entry.lines)
                shown.add(entry.key)
            for entry in section.entries:
                since.seen[entry.key] = entry.signature
            if lines:
                out += [*section.title, *lines, ""]
        return "\n".join(out).rstrip() + "\n" if out else ""

    @staticmethod
    def _full(sections: list[_Section]) -> str:
        out: list[str] = []
        for section in sections:
            out += section.title
            if not section.entries and section.empty:
                out.append(section.empty)
            for entry in section.entries:
                out += entry.lines
            out.append("")
        return "\n".join(out).rstrip() + "\n"

    def _sections(self) -> list[_Section]:
        sections: list[_Section] = []
        for channel_id, info in self._channels.items():
            messages = self._messages.get(channel_id, [])
            ephemerals = [e for e in self._ephemerals if e["channel"] == channel_id]
            if info.get("is_im") and not messages and not ephemerals:
                continue
            sections.append(self._channel_section(channel_id, info, messages, ephemerals))
        sections.extend(self._view_sections())
        return sections

    def _channel_section(
        self,
        channel_id: str,
        info: Mapping[str, Any],
        messages: list[JsonDict],
        ephemerals: list[JsonDict],
    ) -> _Section:
        if info.get("is_im"):
            title = f"DM with @{self._user_name(str(info.get('user')))}  ({channel_id})"
        else:
            lock = " (private)" if info.get("is_private") else ""
            title = f"#{info.get('name')}{lock}  ({channel_id})"
        section = _Section([title, "═" * max(len(title), 60)], [], "  (no messages)")
        top = [m for m in messages if self._in_history(m)]
        top += [e for e in ephemerals if not e.get("thread_ts")]
        top.sort(key=lambda m: ts_key(m["ts"]))
        for item in top:
            root = self._message_entry(channel_id, item, indent="")
            section.entries.append(root)
            if item.get("is_ephemeral") or not self._is_root(item):
                continue
            thread = [
                *self._replies_of(channel_id, item["ts"]),
                *(e for e in ephemerals if e.get("thread_ts") == item["ts"]),
            ]
            thread.sort(key=lambda m: ts_key(m["ts"]))
            for reply in thread:
                entry = self._message_entry(channel_id, reply, indent="    ↳ ")
                entry.thread = root.key
                section.entries.append(entry)
        return section

    def _message_entry(self, channel_id: str, message: Mapping[str, Any], indent: str) -> _Entry:
        kind = "ephemeral" if message.get("is_ephemeral") else "message"
        header, body, replies = self._render_message(message, indent)
        pad = " " * len(indent) + BODY
        lines = [header, *(pad + line for line in body or [""])]
        if replies:
            lines.append(pad + replies)
        # The reply count is left out of the signature: a new reply shows on its own.
        signature = "\n".join([header, *body])
        return _Entry(f"{kind}:{channel_id}:{message['ts']}", lines, signature, header=header)

    def _stamp(self, ts: str) -> str:
        """The message's time in the workspace's zone, with the zone's abbreviation."""
        try:
            zone: Any = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = ZoneInfo("UTC")
        return datetime.fromtimestamp(ts_key(ts)[0], zone).strftime("%H:%M:%S %Z")

    def _author(self, message: Mapping[str, Any]) -> str:
        if message.get("is_ephemeral"):
            return f"{self.bot_name} [APP]  (only visible to @{self._user_name(message['user'])})"
        if message.get("subtype") == "bot_message":
            name = self._bot_name(str(message.get("bot_id") or ""), message.get("username") or "")
            return f"{name} [BOT]"
        if message.get("bot_id") == self.bot_id:
            return f"{self.bot_name} [APP]"
        return str(self._user_name(str(message.get("user", "?"))))

    def _render_message(
        self, message: Mapping[str, Any], indent: str
    ) -> tuple[str, list[str], str]:
        """The header line, the body's lines (unindented) and the reply count ("" if none)."""
        header = f"{indent}{self._stamp(message['ts'])}  {self._author(message)}"
        if message.get("subtype") == "thread_broadcast":
            header += "  (also sent to the channel)"
        body: list[str] = []
        blocks = message.get("blocks") or []
        if blocks and any(b.get("type") != "rich_text" for b in blocks if isinstance(b, dict)):
            body.extend(self._blocks(blocks))
        elif message.get("text"):
            body.extend(self._plain(str(message["text"])))
        elif blocks:
            body.extend(self._blocks(blocks))
        for attachment in message.get("attachments") or []:
            if not isinstance(attachment, dict):
                continue
            inner = self._blocks(attachment.get("blocks"))
            if not inner:
                inner = self._plain(str(attachment.get("text") or attachment.get("fallback") or ""))
            body.extend(f"▌ {line}" for line in inner)
        for item in message.get("files") or []:
            body.append(f"[file: {item.get('title') or item.get('name')}, {item.get('size')} B]")
        reactions = message.get("reactions") or []
        if reactions:
            body.append("  ".join(f":{r['name']}: {r['count']}" for r in reactions))
        if message.get("edited"):
            body.append("(edited)")
        replies = ""
        if message.get("reply_count") and self._is_root(message):
            count = message["reply_count"]
            replies = f"💬 {count} repl{'y' if count == 1 else 'ies'}"
        return header, body, replies

    def _plain(self, text: str) -> list[str]:
        return plain(text, self._user_name, self._channel_name).splitlines()

    def _blocks(self, blocks: Any) -> list[str]:
        return render_blocks(blocks, self._user_name, channels=self._channel_name)

    def _view_sections(self) -> list[_Section]:
        sections: list[_Section] = []
        if self._opened:
            modals = _Section(["Modals opened", "═" * 60], [])
            for view_id in self._opened:
                view = self._views[view_id]
                buttons = "  ".join(
                    f"[ {text_of(view.get(k))} ]" for k in ("close", "submit") if view.get(k)
                )
                lines = [
                    f"{text_of(view.get('title'))!r}  ({view_id}, "
                    f"callback_id={view.get('callback_id')!r})",
                    *(BODY + line for line in self._blocks(view["blocks"])),
                ]
                if buttons:
                    lines.append(BODY + buttons)
                modals.entries.append(_Entry(f"view:{view_id}", lines, "\n".join(lines)))
            sections.append(modals)
        if self._homes:
            homes = _Section(["App Home tabs", "═" * 60], [])
            for user_id, view_id in self._homes.items():
                lines = [
                    f"@{self._user_name(user_id)}  ({view_id})",
                    *(BODY + line for line in self._blocks(self._views[view_id]["blocks"])),
                ]
                homes.entries.append(_Entry(f"home:{user_id}", lines, "\n".join(lines)))
            sections.append(homes)
        return sections
