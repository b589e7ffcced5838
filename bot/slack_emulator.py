"""A local Slack Web API emulator for tests and the sandbox demo.

It answers the Web API methods the bot uses with Slack's response shapes and error codes, so the
real ``slack_sdk.WebClient(token=..., base_url=emulator.api_url)`` works against it unchanged. It
also builds the payloads Slack would send the app (message events, button clicks, shortcuts, view
submissions) and renders the workspace as text, the way a person would see it.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import mimetypes
import random
import re
import socketserver
import string
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "ApiCall",
    "ResponsePost",
    "SlackEmulator",
    "render_blocks",
    "validate_blocks",
]

JsonDict = dict[str, Any]

# Limits Slack enforces on messages and Block Kit (docs.slack.dev/reference/block-kit).
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT_LENGTH = 40_000
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000
# Slack lets a response_url be used five times (within 30 minutes).
MAX_RESPONSE_URL_USES = 5
# A trigger_id is only valid for three seconds.
TRIGGER_TTL_SECONDS = 3.0

# Fields slack_sdk form-encodes as JSON strings but sends as objects in JSON bodies; the value is
# the error Slack answers when the string does not parse.
_JSON_FIELDS = {
    "blocks": "invalid_blocks_format",
    "attachments": "invalid_attachments",
    "view": "invalid_arguments",
    "metadata": "invalid_metadata_format",
    "files": "invalid_arguments",
}

_FAULT_ERRORS = {
    429: "ratelimited",
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "request_timeout",
}

_TZ_LABELS = {
    "Europe/Paris": ("Central European Time", "Central European Summer Time"),
    "Europe/Berlin": ("Central European Time", "Central European Summer Time"),
    "Europe/Madrid": ("Central European Time", "Central European Summer Time"),
    "Europe/London": ("Greenwich Mean Time", "British Summer Time"),
    "America/New_York": ("Eastern Standard Time", "Eastern Daylight Time"),
    "America/Chicago": ("Central Standard Time", "Central Daylight Time"),
    "America/Denver": ("Mountain Standard Time", "Mountain Daylight Time"),
    "America/Los_Angeles": ("Pacific Standard Time", "Pacific Daylight Time"),
    "Asia/Tokyo": ("Japan Standard Time", "Japan Standard Time"),
    "Asia/Kolkata": ("India Standard Time", "India Standard Time"),
    "Australia/Sydney": ("Australian Eastern Standard Time", "Australian Eastern Daylight Time"),
    "UTC": ("Coordinated Universal Time", "Coordinated Universal Time"),
}
# Standard offsets, used only when the system has no tz database.
_TZ_FALLBACK_OFFSETS = {
    "Europe/Paris": 3600,
    "Europe/Berlin": 3600,
    "Europe/Madrid": 3600,
    "Europe/London": 0,
    "America/New_York": -18000,
    "America/Chicago": -21600,
    "America/Denver": -25200,
    "America/Los_Angeles": -28800,
    "Asia/Tokyo": 32400,
    "Asia/Kolkata": 19800,
    "Australia/Sydney": 36000,
    "UTC": 0,
}

_FILE_TYPES = {
    "txt": ("text", "Plain Text"),
    "csv": ("csv", "CSV"),
    "json": ("json", "JSON"),
    "md": ("markdown", "Markdown (raw)"),
    "py": ("python", "Python"),
    "pdf": ("pdf", "PDF"),
    "png": ("png", "PNG"),
    "jpg": ("jpg", "JPEG"),
    "jpeg": ("jpg", "JPEG"),
    "gif": ("gif", "GIF"),
    "zip": ("zip", "Zip"),
    "log": ("text", "Plain Text"),
    "yaml": ("yaml", "YAML"),
    "yml": ("yaml", "YAML"),
    "html": ("html", "HTML"),
}

_MARKUP_RE = re.compile(r"<([@#!][^>]*|(?:https?|mailto):[^>]*)>")
_ID_ALPHABET = string.ascii_uppercase + string.digits
_BLOCK_ID_ALPHABET = string.ascii_letters + string.digits


class _ApiError(Exception):
    """An API-level failure, answered as HTTP 200 ``{"ok": false, "error": ...}`` as Slack does."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def payload(self) -> JsonDict:
        return {"ok": False, "error": self.error, **self.extra}


@dataclass
class ApiCall:
    """One Web API request the emulator received (the token is not kept in params)."""

    method: str
    params: JsonDict
    time: float
    faulted: bool = False
    status: int = 200
    response: JsonDict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether Slack would have answered ``ok: true``."""
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        """The ``error`` field of the answer, if any."""
        value = self.response.get("error")
        return str(value) if value is not None else None


@dataclass
class ResponsePost:
    """One JSON body POSTed to a response_url (as Bolt's ``respond()`` sends)."""

    id: str
    url: str
    channel: str | None
    user: str | None
    payload: JsonDict
    time: float


@dataclass
class _Fault:
    method: str | None
    status: int
    retry_after: int
    error: str | None
    remaining: int
    after_effect: bool = False


@dataclass
class _Trigger:
    created: float
    view_id: str | None = None
    used: bool = False


# --------------------------------------------------------------------------------------------
# Block Kit helpers
# --------------------------------------------------------------------------------------------


def _text_of(obj: Any) -> str:
    if isinstance(obj, dict):
        text = obj.get("text", "")
        return text if isinstance(text, str) else ""
    return obj if isinstance(obj, str) else ""


def _iter_elements(block: Mapping[str, Any]) -> Iterator[tuple[str, JsonDict]]:
    """Yield (json-pointer suffix, element) for the interactive elements of one block."""
    btype = block.get("type")
    if btype == "actions":
        for i, element in enumerate(block.get("elements") or []):
            if isinstance(element, dict):
                yield f"/elements/{i}", element
    elif btype == "section":
        accessory = block.get("accessory")
        if isinstance(accessory, dict):
            yield "/accessory", accessory
    elif btype == "input":
        element = block.get("element")
        if isinstance(element, dict):
            yield "/element", element


def _check_text_object(obj: Any, pointer: str, *, max_len: int, plain_only: bool) -> list[str]:
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return [f"must be a text object [json-pointer:{pointer}]"]
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in allowed:
        return [f"must be one of {', '.join(allowed)} [json-pointer:{pointer}/type]"]
    if len(obj["text"]) > max_len:
        return [f"must be less than {max_len + 1} characters [json-pointer:{pointer}/text]"]
    return []


def _check_element(element: JsonDict, pointer: str) -> list[str]:
    errors: list[str] = []
    etype = element.get("type")
    if not isinstance(etype, str) or not etype:
        return [f"missing required field: type [json-pointer:{pointer}]"]
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or len(action_id) > MAX_ACTION_ID):
        errors.append(
            f"must be less than {MAX_ACTION_ID + 1} characters [json-pointer:{pointer}/action_id]"
        )
    if etype == "button":
        errors += _check_text_object(
            element.get("text"), f"{pointer}/text", max_len=MAX_BUTTON_TEXT, plain_only=True
        )
        value = element.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > MAX_BUTTON_VALUE):
            errors.append(
                f"must be less than {MAX_BUTTON_VALUE + 1} characters "
                f"[json-pointer:{pointer}/value]"
            )
        style = element.get("style")
        if style is not None and style not in ("primary", "danger"):
            errors.append(f"must be one of primary, danger [json-pointer:{pointer}/style]")
    return errors


def _check_block(block: JsonDict, pointer: str) -> list[str]:
    btype = block["type"]
    errors: list[str] = []
    if btype == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            errors.append(f"must provide either text or fields [json-pointer:{pointer}]")
        if text is not None:
            errors += _check_text_object(
                text, f"{pointer}/text", max_len=MAX_SECTION_TEXT, plain_only=False
            )
        if fields is not None:
            if not isinstance(fields, list):
                errors.append(f"must be an array [json-pointer:{pointer}/fields]")
            else:
                if len(fields) > MAX_FIELDS:
                    errors.append(
                        f"no more than {MAX_FIELDS} items allowed [json-pointer:{pointer}/fields]"
                    )
                for i, item in enumerate(fields):
                    errors += _check_text_object(
                        item, f"{pointer}/fields/{i}", max_len=MAX_FIELD_TEXT, plain_only=False
                    )
    elif btype == "header":
        errors += _check_text_object(
            block.get("text"), f"{pointer}/text", max_len=MAX_HEADER_TEXT, plain_only=True
        )
    elif btype == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            errors.append(f"missing required field: elements [json-pointer:{pointer}]")
        elif len(elements) > MAX_CONTEXT_ELEMENTS:
            errors.append(
                f"no more than {MAX_CONTEXT_ELEMENTS} items allowed "
                f"[json-pointer:{pointer}/elements]"
            )
    elif btype == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            errors.append(f"missing required field: elements [json-pointer:{pointer}]")
        elif len(elements) > MAX_ACTIONS_ELEMENTS:
            errors.append(
                f"no more than {MAX_ACTIONS_ELEMENTS} items allowed "
                f"[json-pointer:{pointer}/elements]"
            )
    elif btype == "input":
        errors += _check_text_object(
            block.get("label"), f"{pointer}/label", max_len=2000, plain_only=True
        )
        if not isinstance(block.get("element"), dict):
            errors.append(f"missing required field: element [json-pointer:{pointer}]")
    elif btype == "image":
        if not block.get("image_url") and not block.get("slack_file"):
            errors.append(f"missing required field: image_url [json-pointer:{pointer}]")
        if not isinstance(block.get("alt_text"), str):
            errors.append(f"missing required field: alt_text [json-pointer:{pointer}]")

    seen_actions: set[str] = set()
    for suffix, element in _iter_elements(block):
        errors += _check_element(element, pointer + suffix)
        action_id = element.get("action_id")
        if isinstance(action_id, str):
            if action_id in seen_actions:
                errors.append(
                    f"duplicate action_id {action_id!r} [json-pointer:{pointer}{suffix}/action_id]"
                )
            seen_actions.add(action_id)
    return errors


def validate_blocks(
    blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS, pointer: str = "/blocks"
) -> list[str]:
    """Check blocks against the Block Kit limits Slack enforces; returns Slack-style errors."""
    if not isinstance(blocks, list):
        return [f"must be an array [json-pointer:{pointer}]"]
    errors: list[str] = []
    if len(blocks) > max_blocks:
        errors.append(f"no more than {max_blocks} items allowed [json-pointer:{pointer}]")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"{pointer}/{i}"
        if not isinstance(block, dict):
            errors.append(f"must be an object [json-pointer:{where}]")
            continue
        if not isinstance(block.get("type"), str) or not block["type"]:
            errors.append(f"missing required field: type [json-pointer:{where}]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not block_id or len(block_id) > MAX_BLOCK_ID:
                errors.append(
                    f"must be less than {MAX_BLOCK_ID + 1} characters "
                    f"[json-pointer:{where}/block_id]"
                )
            elif block_id in block_ids:
                errors.append(f"duplicate block_id {block_id!r} [json-pointer:{where}/block_id]")
            else:
                block_ids.add(block_id)
        errors += _check_block(block, where)
    return errors


def _plain(text: str, names: Callable[[str], str] | None = None) -> str:
    """Slack markup (``<@U1>``, ``<#C1|x>``, ``<url|label>``) as a person reads it."""

    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            return "@" + (label or (names(target[1:]) if names else target[1:]))
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        return f"{label} ({target})" if label else target

    text = _MARKUP_RE.sub(replace, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _element_label(element: Mapping[str, Any]) -> str:
    etype = element.get("type", "")
    if etype == "button":
        return f"[ {_text_of(element.get('text'))} ]"
    if etype == "overflow":
        return "[ ⋯ ]"
    if etype in ("datepicker", "timepicker", "datetimepicker"):
        initial = element.get("initial_date") or element.get("initial_time") or ""
        return f"[ {initial or _text_of(element.get('placeholder')) or etype} ]"
    if etype == "image":
        return f"[image: {element.get('alt_text', '')}]"
    if etype in ("checkboxes", "radio_buttons"):
        options = element.get("options") or []
        return "  ".join(f"( ) {_text_of(o.get('text'))}" for o in options if isinstance(o, dict))
    placeholder = _text_of(element.get("placeholder"))
    if "select" in etype:
        return f"[ {placeholder or 'Select'} ▾ ]"
    if "input" in etype:
        return f"[ {placeholder or '…'} ]"
    return f"[{etype}]"


def _rich_text_plain(element: Any, names: Callable[[str], str] | None) -> str:
    if not isinstance(element, dict):
        return ""
    etype = element.get("type")
    if etype == "text":
        return str(element.get("text", ""))
    if etype == "user":
        uid = str(element.get("user_id", ""))
        return "@" + (names(uid) if names else uid)
    if etype == "channel":
        return "#" + str(element.get("channel_id", ""))
    if etype == "link":
        return str(element.get("text") or element.get("url", ""))
    if etype == "emoji":
        return f":{element.get('name', '')}:"
    if etype == "broadcast":
        return "@" + str(element.get("range", ""))
    children = element.get("elements") or []
    joiner = "\n" if etype in ("rich_text", "rich_text_list") else ""
    prefix = "• " if etype == "rich_text_list" else ""
    parts = [_rich_text_plain(child, names) for child in children]
    if prefix:
        parts = [prefix + p for p in parts]
    return joiner.join(parts)


def render_blocks(
    blocks: Any, names: Callable[[str], str] | None = None, *, width: int = 48
) -> list[str]:
    """Render Block Kit blocks as plain-text lines (headers in caps, buttons as ``[ Claim ]``)."""
    lines: list[str] = []
    if not isinstance(blocks, list):
        return lines
    for block in blocks:
        if not isinstance(block, dict):
            continue
        btype = block.get("type")
        if btype == "header":
            lines.append(f"== {_plain(_text_of(block.get('text')), names).upper()} ==")
        elif btype == "section":
            text = _plain(_text_of(block.get("text")), names)
            accessory = block.get("accessory")
            extra = f"  {_element_label(accessory)}" if isinstance(accessory, dict) else ""
            text_lines = text.splitlines() or [""]
            if text or extra:
                text_lines[-1] += extra
                lines.extend(text_lines if text else [extra.strip()])
            for item in block.get("fields") or []:
                for j, line in enumerate(_plain(_text_of(item), names).splitlines() or [""]):
                    lines.append(("• " if j == 0 else "  ") + line)
        elif btype == "divider":
            lines.append("─" * width)
        elif btype == "context":
            parts = []
            for element in block.get("elements") or []:
                if isinstance(element, dict) and element.get("type") == "image":
                    parts.append(f"[{element.get('alt_text', 'img')}]")
                else:
                    parts.append(_plain(_text_of(element), names))
            lines.append("  ·  ".join(p for p in parts if p))
        elif btype == "actions":
            labels = [_element_label(e) for e in block.get("elements") or [] if isinstance(e, dict)]
            lines.append("  ".join(labels))
        elif btype == "input":
            element = block.get("element")
            label = _text_of(block.get("label"))
            widget = _element_label(element) if isinstance(element, dict) else ""
            optional = " (optional)" if block.get("optional") else ""
            lines.append(f"{label}{optional}: {widget}")
        elif btype == "image":
            title = _text_of(block.get("title"))
            lines.append(f"[image: {title or block.get('alt_text', '')}]")
        elif btype == "rich_text":
            lines.extend(_rich_text_plain(block, names).splitlines())
        elif btype == "markdown":
            lines.extend(_plain(str(block.get("text", "")), names).splitlines())
        elif btype == "file":
            lines.append(f"[file {block.get('external_id', '')}]")
        else:
            lines.append(f"[{btype} block]")
    return lines


def _rich_text_block(text: str, block_id: str) -> JsonDict:
    """The rich_text block Slack's clients attach to what a person types."""
    elements: list[JsonDict] = []
    pos = 0
    for match in _MARKUP_RE.finditer(text):
        if match.start() > pos:
            elements.append({"type": "text", "text": text[pos : match.start()]})
        target, _, label = match.group(1).partition("|")
        if target.startswith("@"):
            elements.append({"type": "user", "user_id": target[1:]})
        elif target.startswith("#"):
            elements.append({"type": "channel", "channel_id": target[1:]})
        elif target.startswith("!"):
            elements.append({"type": "broadcast", "range": target[1:]})
        else:
            link: JsonDict = {"type": "link", "url": target}
            if label:
                link["text"] = label
            elements.append(link)
        pos = match.end()
    if pos < len(text):
        elements.append({"type": "text", "text": text[pos:]})
    return {
        "type": "rich_text",
        "block_id": block_id,
        "elements": [{"type": "rich_text_section", "elements": elements}],
    }


# --------------------------------------------------------------------------------------------
# Parameter helpers
# --------------------------------------------------------------------------------------------


def _ts_key(ts: Any, error: str = "invalid_ts") -> tuple[int, int]:
    """Order Slack timestamps numerically ("123.000100" < "123.000200" < "124.000000")."""
    raw = str(ts).strip()
    seconds, _, fraction = raw.partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()):
        raise _ApiError(error)
    return int(seconds), int((fraction + "000000")[:6])


def _opt_str(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _bool(params: Mapping[str, Any], key: str, default: bool = False) -> bool:
    value = params.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _int(params: Mapping[str, Any], key: str, default: int) -> int:
    value = params.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _ApiError("invalid_arguments") from None


def _id_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return []


def _encode_cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts.replace('.', '')}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.b64decode(cursor.encode(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        raise _ApiError("invalid_cursor") from None
    prefix, _, digits = raw.partition(":")
    if prefix != "next_ts" or not digits.isdigit() or len(digits) <= 6:
        raise _ApiError("invalid_cursor")
    return int(digits[:-6]), int(digits[-6:])


def _parse_multipart(content_type: str, body: bytes) -> JsonDict:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise _ApiError("invalid_form_data")
    fields: JsonDict = {}
    for chunk in body.split(b"--" + match.group(1).encode())[1:]:
        if chunk.startswith(b"--"):
            break
        head, _, value = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
        value = value.removesuffix(b"\r\n")
        disposition = head.decode("utf-8", "replace")
        name = re.search(r'(?<!file)name="([^"]*)"', disposition)
        if name is None:
            continue
        is_file = 'filename="' in disposition
        fields[name.group(1)] = value if is_file else value.decode("utf-8", "replace")
    return fields


def _parse_params(query: str, headers: Mapping[str, str], body: bytes) -> JsonDict:
    params: JsonDict = dict(parse_qsl(query, keep_blank_values=True))
    content_type = headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    if not body:
        return params
    if media == "application/json":
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _ApiError("invalid_json") from None
        if not isinstance(data, dict):
            raise _ApiError("invalid_json")
        params.update(data)
    elif media == "multipart/form-data":
        params.update(_parse_multipart(content_type, body))
    else:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _tz_fields(tz: str) -> tuple[str, int]:
    label_pair = _TZ_LABELS.get(tz)
    try:
        now = datetime.now(ZoneInfo(tz))
    except (ZoneInfoNotFoundError, ValueError):
        label = label_pair[0] if label_pair else tz
        return label, _TZ_FALLBACK_OFFSETS.get(tz, 0)
    offset = now.utcoffset()
    is_dst = bool(now.dst())
    label = label_pair[1 if is_dst else 0] if label_pair else (now.tzname() or tz)
    return label, int(offset.total_seconds()) if offset is not None else 0


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------

_Reply = tuple[int, dict[str, str], bytes]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], emulator: SlackEmulator) -> None:
        self.emulator = emulator
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall for seconds where
        # there is no DNS; the name is never used.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class _Handler(BaseHTTPRequestHandler):
    server_version = "SlackEmulator/1.0"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:
        # Tests and the demo print their own output; request logs would drown it.
        return

    def _serve(self, verb: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        emulator = cast(_Server, self.server).emulator
        status, out_headers, payload = emulator._handle_http(verb, self.path, headers, body)
        self.send_response(status)
        for key, value in out_headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


# --------------------------------------------------------------------------------------------
# The emulator
# --------------------------------------------------------------------------------------------


class SlackEmulator:
    """An in-process Slack workspace served over HTTP for the real slack_sdk WebClient."""

    def __init__(
        self,
        token: str = "xoxb-emulator",
        *,
        team_id: str = "T0TEAM",
        team: str = "Sandbox",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        app_id: str = "A0APP",
        host: str = "127.0.0.1",
        port: int = 0,
        bot_name: str = "sandbox-bot",
        verification_token: str = "verification-token",
        strict_triggers: bool = False,
    ) -> None:
        self.token = token
        self.team_id = team_id
        self.team = team
        self.team_domain = re.sub(r"[^a-z0-9-]", "", team.lower()) or "sandbox"
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.bot_name = bot_name
        self.verification_token = verification_token
        # When True, views.open/push only accept trigger_ids the emulator issued, once, within
        # three seconds, as Slack does; by default any non-empty trigger_id is accepted.
        self.strict_triggers = strict_triggers
        self.web_url = f"https://{self.team_domain}.slack.test/"
        self.calls: list[ApiCall] = []

        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        # A fixed seed keeps generated ids identical from run to run.
        self._rng = random.Random(0x51ACC)
        self._last_us = 0

        self._users: dict[str, JsonDict] = {}
        self._channels: dict[str, JsonDict] = {}
        self._messages: dict[str, list[JsonDict]] = {}
        self._index: dict[tuple[str, str], JsonDict] = {}
        self._ephemerals: list[JsonDict] = []
        self._views: dict[str, JsonDict] = {}
        self._opened: list[str] = []
        self._stacks: dict[str, list[str]] = {}
        self._homes: dict[str, str] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._files: dict[str, JsonDict] = {}
        self._response_urls: dict[str, JsonDict] = {}
        self._responses: list[ResponsePost] = []
        self._faults: list[_Fault] = []
        self._usergroups: dict[str, list[str]] = {}
        self._down = False
        self._mpims: dict[frozenset[str], str] = {}

        self.add_user(bot_user_id, bot_name, real_name=bot_name, is_bot=True)
        self._methods: dict[str, Callable[[JsonDict], JsonDict]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "users.lookupByEmail": self._users_lookup_by_email,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "files.info": self._files_info,
            "files.upload": self._files_upload_v1,
            "reactions.add": self._reactions_add,
            "reactions.remove": self._reactions_remove,
        }

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> SlackEmulator:
        """Start serving in a daemon thread (idempotent); returns self."""
        with self._lock:
            if self._server is not None:
                return self
            server = _Server((self._host, self._port), self)
            self._server = server
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="slack-emulator",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> SlackEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        if self._server is None:
            raise RuntimeError("SlackEmulator is not started; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        """The Web API base URL (with the trailing slash slack_sdk's ``base_url`` wants)."""
        return f"{self.base_url}/api/"

    # ---------------------------------------------------------------- workspace state

    def add_channel(self, channel_id: str, name: str, *, is_private: bool = False) -> JsonDict:
        """Create (or replace) a channel; returns its conversations.info object."""
        name = name.lstrip("#")
        now = int(time.time())
        channel: JsonDict = {
            "id": channel_id,
            "name": name,
            "is_channel": not is_private,
            "is_group": is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": is_private,
            "created": now,
            "is_archived": False,
            "is_general": name == "general",
            "unlinked": 0,
            "name_normalized": name,
            "is_shared": False,
            "is_org_shared": False,
            "is_ext_shared": False,
            "is_pending_ext_shared": False,
            "is_member": True,
            "creator": self.bot_user_id,
            "context_team_id": self.team_id,
            "updated": now * 1000,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
            "previous_names": [],
        }
        with self._lock:
            self._channels[channel_id] = channel
            self._messages.setdefault(channel_id, [])
            return copy.deepcopy(channel)

    def add_user(
        self,
        user_id: str,
        name: str,
        *,
        real_name: str = "",
        tz: str = "Europe/Paris",
        is_bot: bool = False,
        email: str = "",
    ) -> JsonDict:
        """Create (or replace) a user; returns its users.info object."""
        real_name = real_name or name
        first, _, last = real_name.partition(" ")
        tz_label, tz_offset = _tz_fields(tz)
        avatar = f"https://avatars.slack.test/{user_id.lower()}"
        profile: JsonDict = {
            "title": "",
            "phone": "",
            "skype": "",
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": "" if is_bot else name,
            "display_name_normalized": "" if is_bot else name,
            "fields": None,
            "status_text": "",
            "status_emoji": "",
            "status_emoji_display_info": [],
            "status_expiration": 0,
            "avatar_hash": f"g{abs(hash(user_id)) % 16**11:011x}",
            "first_name": first,
            "last_name": last,
            "image_24": f"{avatar}_24.png",
            "image_32": f"{avatar}_32.png",
            "image_48": f"{avatar}_48.png",
            "image_72": f"{avatar}_72.png",
            "image_192": f"{avatar}_192.png",
            "image_512": f"{avatar}_512.png",
            "status_text_canonical": "",
            "team": self.team_id,
        }
        if is_bot:
            profile.update(
                {
                    "api_app_id": self.app_id if user_id == self.bot_user_id else "",
                    "always_active": True,
                    "bot_id": self.bot_id if user_id == self.bot_user_id else "",
                }
            )
        else:
            profile["email"] = email
        user: JsonDict = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "color": "9f69e7",
            "real_name": real_name,
            "tz": tz,
            "tz_label": tz_label,
            "tz_offset": tz_offset,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
            "is_email_confirmed": bool(email),
            "who_can_share_contact_card": "EVERYONE",
        }
        with self._lock:
            self._users[user_id] = user
            return copy.deepcopy(user)

    def dm_channel_id(self, user_id: str) -> str:
        """The id of the bot's DM with this user (stable, created on demand)."""
        with self._lock:
            return self._dm_channel(user_id)

    def _dm_channel(self, user_id: str) -> str:
        channel_id = "D" + user_id[1:]
        if channel_id not in self._channels:
            self._channels[channel_id] = {
                "id": channel_id,
                "created": int(time.time()),
                "is_archived": False,
                "is_im": True,
                "is_org_shared": False,
                "context_team_id": self.team_id,
                "updated": int(time.time() * 1000),
                "user": user_id,
                "is_user_deleted": False,
                "priority": 0,
                "is_open": True,
            }
            self._messages.setdefault(channel_id, [])
        return channel_id

    def _mpim_channel(self, users: list[str]) -> str:
        key = frozenset(users)
        existing = self._mpims.get(key)
        if existing is not None:
            return existing
        channel_id = self._new_id("G", 10)
        names = sorted(self._user_name(u) for u in users)
        name = "mpdm-" + "--".join(names) + "-1"
        self.add_channel(channel_id, name, is_private=True)
        self._channels[channel_id].update({"is_mpim": True, "is_group": False})
        self._mpims[key] = channel_id
        return channel_id

    def _resolve_channel(self, value: Any) -> str:
        channel = str(value or "").strip()
        if not channel:
            raise _ApiError("channel_not_found")
        if channel in self._channels:
            return channel
        if channel[0] in "UW" and channel[1:].isalnum():
            # Slack opens the DM when a message is addressed to a user id.
            return self._dm_channel(channel)
        name = channel.lstrip("#")
        for channel_id, info in self._channels.items():
            if info.get("name") == name:
                return channel_id
        raise _ApiError("channel_not_found")

    def _channel_type(self, channel_id: str) -> str:
        info = self._channels.get(channel_id, {})
        if info.get("is_im"):
            return "im"
        if info.get("is_mpim"):
            return "mpim"
        return "group" if info.get("is_private") else "channel"

    def _channel_name(self, channel_id: str) -> str:
        info = self._channels.get(channel_id, {})
        if info.get("is_im"):
            return "directmessage"
        return str(info.get("name", channel_id))

    def _user_name(self, user_id: str) -> str:
        user = self._users.get(user_id)
        return str(user["name"]) if user else user_id

    # ---------------------------------------------------------------- ids & time

    def _next_ts(self) -> str:
        now_us = time.time_ns() // 1000
        self._last_us = max(now_us, self._last_us + 1)
        return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def _random(self, alphabet: str, length: int) -> str:
        return "".join(self._rng.choice(alphabet) for _ in range(length))

    def _new_id(self, prefix: str, length: int) -> str:
        taken = set(self._views) | set(self._files) | set(self._channels)
        while True:
            candidate = prefix + self._random(_ID_ALPHABET, length)
            if candidate not in taken:
                return candidate

    def _new_hash(self) -> str:
        return f"{int(time.time())}.{self._random(_BLOCK_ID_ALPHABET, 8)}"

    def new_trigger_id(self, view_id: str | None = None) -> str:
        """Issue a trigger_id views.open/push will accept (tied to a view for views.push)."""
        with self._lock:
            trigger = (
                f"{int(time.time() * 1000) % 10**13}."
                f"{self._random(string.digits, 11)}.{uuid.uuid4().hex}"
            )
            self._triggers[trigger] = _Trigger(created=time.monotonic(), view_id=view_id)
            return trigger

    def _consume_trigger(self, trigger_id: str) -> str | None:
        if not trigger_id:
            raise _ApiError("invalid_trigger_id")
        entry = self._triggers.get(trigger_id)
        if self.strict_triggers:
            if entry is None:
                raise _ApiError("invalid_trigger_id")
            if entry.used:
                raise _ApiError("exchanged_trigger_id")
            if time.monotonic() - entry.created > TRIGGER_TTL_SECONDS:
                raise _ApiError("expired_trigger_id")
        if entry is None:
            return None
        entry.used = True
        return entry.view_id

    # ---------------------------------------------------------------- faults

    def inject_fault(
        self,
        method: str | None = None,
        *,
        status: int = 429,
        retry_after: int = 1,
        error: str | None = None,
        times: int = 1,
        apply_then_fail: bool = False,
    ) -> None:
        """Fail the next ``times`` calls to ``method`` (None: any) without side effects.

        HTTP ``status`` (429 with ``Retry-After``), or HTTP 200 ``{"ok": false}`` with ``error``.
        With ``apply_then_fail`` the call takes effect and only its answer is an error: a
        response lost on the way back, as after a timeout.
        """
        with self._lock:
            self._faults.append(
                _Fault(method, status, retry_after, error, max(1, times), apply_then_fail)
            )

    def clear_faults(self) -> None:
        """Drop every pending injected fault."""
        with self._lock:
            self._faults.clear()

    def set_down(self, down: bool = True) -> None:
        """Simulate an outage: every request answers HTTP 503 until set_down(False)."""
        with self._lock:
            self._down = down

    def _take_fault(self, method: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method is None or fault.method == method:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    # ---------------------------------------------------------------- request handling

    def _handle_http(
        self, verb: str, raw_path: str, headers: Mapping[str, str], body: bytes
    ) -> _Reply:
        parts = urlsplit(raw_path)
        path = parts.path
        try:
            if path.startswith("/api/"):
                return self._handle_api(path[len("/api/") :], parts.query, headers, body)
            if path.startswith("/upload/"):
                return self._handle_upload(path[len("/upload/") :], body)
            if path.startswith("/response/"):
                return self._handle_response_url(path[len("/response/") :], body)
            if path.startswith("/files/"):
                return self._handle_file_download(path[len("/files/") :], headers)
        except Exception as exc:
            # Report emulator bugs to the client instead of dropping the connection.
            return self._reply(500, {"ok": False, "error": "fatal_error", "detail": repr(exc)})
        return self._reply(404, {"ok": False, "error": "not_found"})

    @staticmethod
    def _reply(status: int, payload: JsonDict, headers: dict[str, str] | None = None) -> _Reply:
        out = {"Content-Type": "application/json; charset=utf-8"}
        out["X-Slack-Req-Id"] = uuid.uuid4().hex
        out.update(headers or {})
        return status, out, _json_bytes(payload)

    def _fault_reply(self, fault: _Fault | None) -> tuple[_Reply, JsonDict]:
        if fault is None:  # the whole service is down
            payload = {"ok": False, "error": "service_unavailable"}
            return self._reply(503, payload), payload
        if fault.error is not None:
            payload = {"ok": False, "error": fault.error}
            return self._reply(200, payload), payload
        payload = {"ok": False, "error": _FAULT_ERRORS.get(fault.status, "fatal_error")}
        headers = {"Retry-After": str(fault.retry_after)} if fault.status == 429 else {}
        return self._reply(fault.status, payload, headers), payload

    def _handle_api(
        self, method: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> _Reply:
        parse_error: _ApiError | None = None
        try:
            params = _parse_params(query, headers, body)
        except _ApiError as exc:
            params, parse_error = {}, exc
        authorization = headers.get("authorization", "")
        token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
        param_token = params.pop("token", None)
        token = token or str(param_token or "")

        with self._changed:
            fault = None if self._down else self._take_fault(method)
            if fault is not None and fault.after_effect:
                handler = self._methods.get(method)
                if handler is not None and token == self.token and parse_error is None:
                    self._decode_json_fields(params)
                    # The answer is replaced by the fault below, whatever the handler says.
                    with contextlib.suppress(_ApiError):
                        handler(params)
            if self._down or fault is not None:
                reply, payload = self._fault_reply(fault)
                self._record(method, params, reply[0], payload, faulted=True)
                return reply
            handler = self._methods.get(method)
            try:
                if parse_error is not None:
                    raise parse_error
                if handler is None:
                    raise _ApiError("unknown_method")
                if method != "api.test":
                    if not token:
                        raise _ApiError("not_authed")
                    if token != self.token:
                        raise _ApiError("invalid_auth")
                self._decode_json_fields(params)
                result = handler(params)
            except _ApiError as exc:
                result = exc.payload()
            self._record(method, params, 200, result)
            return self._reply(200, result)

    def _record(
        self,
        method: str,
        params: JsonDict,
        status: int,
        response: JsonDict,
        *,
        faulted: bool = False,
    ) -> None:
        self.calls.append(
            ApiCall(
                method=method,
                params=copy.deepcopy(params),
                time=time.time(),
                faulted=faulted,
                status=status,
                response=copy.deepcopy(response),
            )
        )
        self._changed.notify_all()

    @staticmethod
    def _decode_json_fields(params: JsonDict) -> None:
        for key, error in _JSON_FIELDS.items():
            value = params.get(key)
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str):
                if not value.strip():
                    params[key] = None
                    continue
                try:
                    params[key] = json.loads(value)
                except json.JSONDecodeError:
                    raise _ApiError(error) from None

    # ---------------------------------------------------------------- message helpers

    def _check_text(self, text: str) -> None:
        if len(text) > MAX_TEXT_LENGTH:
            raise _ApiError("msg_too_long")

    def _checked_blocks(self, blocks: Any, *, max_blocks: int, pointer: str) -> list[JsonDict]:
        errors = validate_blocks(blocks, max_blocks=max_blocks, pointer=pointer)
        if errors:
            raise _ApiError(
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
                block_id = self._random(_BLOCK_ID_ALPHABET, 5)
                while block_id in used:
                    block_id = self._random(_BLOCK_ID_ALPHABET, 5)
                used.add(block_id)
                block["block_id"] = block_id
            for _, element in _iter_elements(block):
                if element.get("type") != "image" and not element.get("action_id"):
                    element["action_id"] = self._random(_BLOCK_ID_ALPHABET, 5)
        return out

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

    def _thread_root(self, channel: str, thread_ts: str) -> JsonDict:
        message = self._index.get((channel, thread_ts))
        if message is None:
            raise _ApiError("thread_not_found")
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

    def _message_inputs(self, params: JsonDict, *, required: bool) -> tuple[str, Any, Any]:
        text = _opt_str(params, "text")
        blocks = params.get("blocks")
        attachments = params.get("attachments")
        if required and not text and not blocks and not attachments:
            raise _ApiError("no_text")
        self._check_text(text)
        if attachments is not None and not isinstance(attachments, list):
            raise _ApiError("invalid_attachments")
        if blocks is not None:
            blocks = self._checked_blocks(blocks, max_blocks=MAX_MESSAGE_BLOCKS, pointer="/blocks")
        return text, blocks, attachments

    @staticmethod
    def _checked_metadata(metadata: Any) -> Any:
        if metadata is None:
            return None
        if not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str):
            raise _ApiError("invalid_metadata_format")
        if not isinstance(metadata.get("event_payload", {}), dict):
            raise _ApiError("invalid_metadata_format")
        return metadata

    def _find_message(self, channel: str, ts: str) -> JsonDict:
        message = self._index.get((channel, ts)) if ts else None
        if message is None:
            raise _ApiError("message_not_found")
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

    # ---------------------------------------------------------------- Web API methods

    def _api_test(self, params: JsonDict) -> JsonDict:
        if params.get("error"):
            raise _ApiError(str(params["error"]), args=params)
        return {"ok": True, "args": params}

    def _auth_test(self, params: JsonDict) -> JsonDict:
        return {
            "ok": True,
            "url": self.web_url,
            "team": self.team,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: JsonDict) -> JsonDict:
        channel = self._resolve_channel(params.get("channel"))
        text, blocks, attachments = self._message_inputs(params, required=True)
        metadata = self._checked_metadata(params.get("metadata"))
        thread_ts = _opt_str(params, "thread_ts")
        root = self._thread_root(channel, thread_ts) if thread_ts else None
        message = self._bot_message(text, blocks, attachments, metadata)
        broadcast = root is not None and _bool(params, "reply_broadcast")
        self._store(channel, message, root=root, broadcast=broadcast)
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "message": self._present(message),
        }

    def _chat_update(self, params: JsonDict) -> JsonDict:
        channel = self._resolve_channel(params.get("channel"))
        message = self._find_message(channel, _opt_str(params, "ts"))
        if message.get("user") != self.bot_user_id or message.get("bot_id") != self.bot_id:
            raise _ApiError("cant_update_message")
        provided = [k for k in ("text", "blocks", "attachments") if params.get(k) is not None]
        if not provided and params.get("metadata") is None:
            raise _ApiError("no_text")
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
        message = self._find_message(channel, _opt_str(params, "ts"))
        if message.get("user") != self.bot_user_id:
            raise _ApiError("cant_delete_message")
        self._delete_message(channel, message)
        self._changed.notify_all()
        return {"ok": True, "channel": channel, "ts": message["ts"]}

    def _chat_post_ephemeral(self, params: JsonDict) -> JsonDict:
        channel = self._resolve_channel(params.get("channel"))
        user = _opt_str(params, "user")
        if not user:
            raise _ApiError("user_not_found")
        text, blocks, attachments = self._message_inputs(params, required=True)
        ephemeral = self._ephemeral(channel, user, text, blocks, attachments)
        thread_ts = _opt_str(params, "thread_ts")
        if thread_ts:
            ephemeral["thread_ts"] = thread_ts
        self._ephemerals.append(ephemeral)
        self._changed.notify_all()
        return {"ok": True, "message_ts": ephemeral["ts"]}

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

    def _permalink(self, channel: str, message: Mapping[str, Any]) -> str:
        link = f"{self.web_url}archives/{channel}/p{str(message['ts']).replace('.', '')}"
        if not self._is_root(message):
            link += f"?thread_ts={message['thread_ts']}&cid={channel}"
        return link

    def _chat_get_permalink(self, params: JsonDict) -> JsonDict:
        channel = self._resolve_channel(params.get("channel"))
        message = self._find_message(channel, _opt_str(params, "message_ts"))
        return {"ok": True, "channel": channel, "permalink": self._permalink(channel, message)}

    def _conversations_history(self, params: JsonDict) -> JsonDict:
        channel = self._resolve_channel(params.get("channel"))
        limit = _int(params, "limit", 100)
        limit = 100 if limit <= 0 else min(limit, 999)
        oldest = _ts_key(params.get("oldest") or "0", "invalid_ts_oldest")
        latest_raw = params.get("latest")
        latest = _ts_key(latest_raw, "invalid_ts_latest") if latest_raw else None
        inclusive = _bool(params, "inclusive")
        cursor = _opt_str(params, "cursor")
        start = _decode_cursor(cursor) if cursor else None

        def wanted(message: JsonDict) -> bool:
            key = _ts_key(message["ts"])
            if key < oldest or (key == oldest and not inclusive):
                return False
            if latest is not None and (key > latest or (key == latest and not inclusive)):
                return False
            return start is None or key <= start

        found = [m for m in self._messages.get(channel, []) if self._in_history(m) and wanted(m)]
        found.sort(key=lambda m: _ts_key(m["ts"]), reverse=True)
        page, more = found[:limit], found[limit:]
        include_all = _bool(params, "include_all_metadata")
        return {
            "ok": True,
            "messages": [self._present(m, include_all) for m in page],
            "has_more": bool(more),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
            "response_metadata": {"next_cursor": _encode_cursor(more[0]["ts"]) if more else ""},
        }

    def _conversations_replies(self, params: JsonDict) -> JsonDict:
        channel = self._resolve_channel(params.get("channel"))
        ts = _opt_str(params, "ts")
        if not ts:
            raise _ApiError("thread_not_found")
        root = self._thread_root(channel, ts)
        limit = _int(params, "limit", 1000)
        limit = 1000 if limit <= 0 else min(limit, 1000)
        cursor = _opt_str(params, "cursor")
        start = _decode_cursor(cursor) if cursor else None
        replies = [
            r
            for r in self._replies_of(channel, root["ts"])
            if start is None or _ts_key(r["ts"]) >= start
        ]
        page, more = replies[:limit], replies[limit:]
        include_all = _bool(params, "include_all_metadata")
        return {
            "ok": True,
            "messages": [self._present(m, include_all) for m in [root, *page]],
            "has_more": bool(more),
            "response_metadata": {"next_cursor": _encode_cursor(more[0]["ts"]) if more else ""},
        }

    def _conversations_open(self, params: JsonDict) -> JsonDict:
        users = _id_list(params.get("users"))
        channel_param = _opt_str(params, "channel")
        if channel_param:
            channel = self._resolve_channel(channel_param)
            existed = True
        elif not users:
            raise _ApiError("users_list_not_supplied")
        else:
            for user in users:
                if user[0] not in "UW" or not user[1:].isalnum():
                    raise _ApiError("user_not_found")
            others = [u for u in users if u != self.bot_user_id] or users
            if len(others) > 8:
                raise _ApiError("too_many_users")
            if len(others) == 1:
                existed = ("D" + others[0][1:]) in self._channels
                channel = self._dm_channel(others[0])
            else:
                existed = frozenset(others) in self._mpims
                channel = self._mpim_channel(others)
        info = self._channels[channel]
        result: JsonDict = {"ok": True}
        if existed:
            result.update({"no_op": True, "already_open": True})
        if _bool(params, "return_im"):
            result["channel"] = copy.deepcopy(info)
        else:
            result["channel"] = {"id": channel}
        return result

    def _conversations_info(self, params: JsonDict) -> JsonDict:
        channel = self._resolve_channel(params.get("channel"))
        info = copy.deepcopy(self._channels[channel])
        if _bool(params, "include_num_members") and not info.get("is_im"):
            info["num_members"] = len(self._users)
        return {"ok": True, "channel": info}

    def add_usergroup(self, group_id: str, user_ids: list[str]) -> None:
        """A user group (S...) and its members, for usergroups.users.list."""
        with self._lock:
            self._usergroups[group_id] = list(user_ids)

    def _usergroups_users_list(self, params: JsonDict) -> JsonDict:
        group = _opt_str(params, "usergroup")
        if group not in self._usergroups:
            raise _ApiError("no_such_subteam")
        return {"ok": True, "users": list(self._usergroups[group])}

    def _users_info(self, params: JsonDict) -> JsonDict:
        user = self._users.get(_opt_str(params, "user"))
        if user is None:
            raise _ApiError("user_not_found")
        out = copy.deepcopy(user)
        if _bool(params, "include_locale"):
            out["locale"] = "en-US"
        return {"ok": True, "user": out}

    def _users_lookup_by_email(self, params: JsonDict) -> JsonDict:
        email = _opt_str(params, "email").lower()
        for user in self._users.values():
            if email and str(user["profile"].get("email", "")).lower() == email:
                return {"ok": True, "user": copy.deepcopy(user)}
        raise _ApiError("users_not_found")

    # ---------------------------------------------------------------- views

    def _build_view(self, raw: Any, expected_type: str) -> JsonDict:
        def invalid(message: str) -> _ApiError:
            return _ApiError(
                "invalid_arguments", response_metadata={"messages": [f"[ERROR] {message}"]}
            )

        if not isinstance(raw, dict):
            raise invalid("missing required field: view")
        if raw.get("type") != expected_type:
            raise invalid(f"must be '{expected_type}' [json-pointer:/view/type]")
        if expected_type == "modal":
            for key, required in (("title", True), ("submit", False), ("close", False)):
                value = raw.get(key)
                if value is None and not required:
                    continue
                errors = _check_text_object(
                    value, f"/view/{key}", max_len=MAX_VIEW_TITLE, plain_only=True
                )
                if errors:
                    raise invalid(errors[0])
        private_metadata = raw.get("private_metadata", "")
        if not isinstance(private_metadata, str) or len(private_metadata) > MAX_PRIVATE_METADATA:
            raise invalid(
                f"must be less than {MAX_PRIVATE_METADATA + 1} characters "
                "[json-pointer:/view/private_metadata]"
            )
        callback_id = raw.get("callback_id", "")
        if not isinstance(callback_id, str) or len(callback_id) > 255:
            raise invalid("must be less than 256 characters [json-pointer:/view/callback_id]")
        if "blocks" not in raw:
            raise invalid("missing required field: blocks [json-pointer:/view]")
        blocks = self._checked_blocks(
            raw["blocks"], max_blocks=MAX_VIEW_BLOCKS, pointer="/view/blocks"
        )
        view_id = self._new_id("V", 10)
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": expected_type,
            "blocks": blocks,
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": {}},
            "hash": self._new_hash(),
            "title": copy.deepcopy(raw.get("title")),
            "clear_on_close": bool(raw.get("clear_on_close", False)),
            "notify_on_close": bool(raw.get("notify_on_close", False)),
            "close": copy.deepcopy(raw.get("close")),
            "submit": copy.deepcopy(raw.get("submit")),
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self.app_id,
            "external_id": str(raw.get("external_id", "") or ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }

    def _check_external_id(self, view: JsonDict, replacing: str | None = None) -> None:
        external_id = view.get("external_id")
        if not external_id:
            return
        for other in self._views.values():
            if other["id"] != replacing and other.get("external_id") == external_id:
                raise _ApiError("duplicate_external_id")

    def _views_open(self, params: JsonDict) -> JsonDict:
        self._consume_trigger(_opt_str(params, "trigger_id"))
        view = self._build_view(params.get("view"), "modal")
        self._check_external_id(view)
        self._views[view["id"]] = view
        self._opened.append(view["id"])
        self._stacks[view["id"]] = [view["id"]]
        self._changed.notify_all()
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_push(self, params: JsonDict) -> JsonDict:
        origin = self._consume_trigger(_opt_str(params, "trigger_id"))
        view = self._build_view(params.get("view"), "modal")
        self._check_external_id(view)
        root_id: str | None = None
        if origin is not None and origin in self._views:
            root_id = self._views[origin]["root_view_id"]
        elif self._stacks:
            root_id = next(reversed(self._stacks))
        stack = self._stacks.get(root_id or "")
        if stack is None:
            # No modal is open: Slack would refuse; treating it as views.open keeps tests simple.
            self._stacks[view["id"]] = [view["id"]]
        else:
            if len(stack) >= 3:
                raise _ApiError("push_limit_reached")
            view["root_view_id"] = stack[0]
            view["previous_view_id"] = stack[-1]
            stack.append(view["id"])
        self._views[view["id"]] = view
        self._opened.append(view["id"])
        self._changed.notify_all()
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_update(self, params: JsonDict) -> JsonDict:
        view_id = _opt_str(params, "view_id")
        external_id = _opt_str(params, "external_id")
        if not view_id and not external_id:
            raise _ApiError("invalid_arguments")
        current = self._views.get(view_id) if view_id else None
        if current is None and external_id:
            current = next(
                (v for v in self._views.values() if v.get("external_id") == external_id), None
            )
        if current is None:
            raise _ApiError("not_found")
        wanted_hash = _opt_str(params, "hash")
        if wanted_hash and wanted_hash != current["hash"]:
            raise _ApiError("hash_conflict")
        view = self._build_view(params.get("view"), current["type"])
        view["external_id"] = view["external_id"] or current.get("external_id", "")
        self._check_external_id(view, replacing=current["id"])
        for key in ("id", "root_view_id", "previous_view_id"):
            view[key] = current[key]
        self._views[current["id"]] = view
        self._changed.notify_all()
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_publish(self, params: JsonDict) -> JsonDict:
        user_id = _opt_str(params, "user_id")
        if not user_id:
            raise _ApiError("invalid_arguments")
        if user_id[0] not in "UW":
            raise _ApiError("user_not_found")
        view = self._build_view(params.get("view"), "home")
        existing_id = self._homes.get(user_id)
        if existing_id is not None:
            current = self._views[existing_id]
            wanted_hash = _opt_str(params, "hash")
            if wanted_hash and wanted_hash != current["hash"]:
                raise _ApiError("hash_conflict")
            view["id"] = view["root_view_id"] = existing_id
        self._check_external_id(view, replacing=existing_id)
        self._views[view["id"]] = view
        self._homes[user_id] = view["id"]
        self._changed.notify_all()
        return {"ok": True, "view": copy.deepcopy(view)}

    # ---------------------------------------------------------------- files

    def _file_object(self, record: JsonDict) -> JsonDict:
        name = str(record["name"])
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        filetype, pretty = _FILE_TYPES.get(extension, (extension or "binary", "Binary"))
        base = self.base_url if self._server is not None else "http://127.0.0.1"
        url = f"{base}/files/{record['id']}/{name}"
        shares: JsonDict = {}
        for share in record.get("shares", []):
            kind = "private" if self._channel_type(share["channel"]) != "channel" else "public"
            entry: JsonDict = {
                "reply_users": [],
                "reply_users_count": 0,
                "reply_count": 0,
                "ts": share["ts"],
                "channel_name": self._channel_name(share["channel"]),
                "team_id": self.team_id,
                "share_user_id": record["user"],
                "source": "UNKNOWN",
                "is_silent_share": False,
            }
            if share.get("thread_ts"):
                entry["thread_ts"] = share["thread_ts"]
            shares.setdefault(kind, {}).setdefault(share["channel"], []).append(entry)
        channels = [s["channel"] for s in record.get("shares", [])]
        content = record.get("content")
        return {
            "id": record["id"],
            "created": record["created"],
            "timestamp": record["created"],
            "name": name,
            "title": record.get("title") or name,
            "mimetype": mimetypes.guess_type(name)[0] or "application/octet-stream",
            "filetype": filetype,
            "pretty_type": pretty,
            "user": record["user"],
            "user_team": self.team_id,
            "editable": False,
            "size": len(content) if isinstance(content, bytes) else int(record.get("length", 0)),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": any(self._channel_type(c) == "channel" for c in channels),
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": url,
            "url_private_download": f"{url}?download=1",
            "permalink": f"{self.web_url}files/{record['user']}/{record['id']}/{name}",
            "permalink_public": f"https://slack-files.slack.test/{self.team_id}-{record['id']}",
            "comments_count": 0,
            "is_starred": False,
            "shares": shares,
            "channels": [c for c in channels if self._channel_type(c) == "channel"],
            "groups": [c for c in channels if self._channel_type(c) in ("group", "mpim")],
            "ims": [c for c in channels if self._channel_type(c) == "im"],
            "has_more_shares": False,
            "has_rich_preview": False,
            "file_access": "visible",
            "alt_txt": record.get("alt_txt", ""),
        }

    def _files_get_upload_url(self, params: JsonDict) -> JsonDict:
        filename = _opt_str(params, "filename")
        if not filename or params.get("length") in (None, ""):
            raise _ApiError("invalid_arguments")
        length = _int(params, "length", 0)
        file_id = self._new_id("F", 10)
        self._files[file_id] = {
            "id": file_id,
            "name": filename,
            "length": length,
            "alt_txt": _opt_str(params, "alt_txt"),
            "content": None,
            "user": self.bot_user_id,
            "created": int(time.time()),
            "shares": [],
        }
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, params: JsonDict) -> JsonDict:
        entries = params.get("files")
        if not isinstance(entries, list) or not entries:
            raise _ApiError("invalid_arguments")
        records: list[JsonDict] = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise _ApiError("invalid_arguments")
            record = self._files.get(str(entry.get("id", "")))
            if record is None or record.get("content") is None:
                raise _ApiError("file_not_found")
            records.append(record)
        channel_ids = _id_list(params.get("channels"))
        if params.get("channel_id"):
            channel_ids.insert(0, _opt_str(params, "channel_id"))
        channels = [self._resolve_channel(c) for c in channel_ids]
        thread_ts = _opt_str(params, "thread_ts")
        roots = {c: self._thread_root(c, thread_ts) for c in channels} if thread_ts else {}
        for record, entry in zip(records, entries, strict=True):
            if entry.get("title"):
                record["title"] = str(entry["title"])
        comment = _opt_str(params, "initial_comment")
        self._check_text(comment)
        for channel in channels:
            message = self._bot_message(comment, None)
            for record in records:
                share: JsonDict = {"channel": channel, "ts": message["ts"]}
                if thread_ts:
                    share["thread_ts"] = roots[channel]["ts"]
                record["shares"].append(share)
            message["files"] = [self._file_object(r) for r in records]
            message["upload"] = True
            message["display_as_bot"] = False
            self._store(channel, message, root=roots.get(channel))
        return {"ok": True, "files": [self._file_object(r) for r in records]}

    def _files_info(self, params: JsonDict) -> JsonDict:
        record = self._files.get(_opt_str(params, "file"))
        if record is None:
            raise _ApiError("file_not_found")
        return {
            "ok": True,
            "file": self._file_object(record),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    def _files_upload_v1(self, params: JsonDict) -> JsonDict:
        # Slack retired files.upload; files_upload_v2 is the supported path.
        raise _ApiError("method_deprecated")

    def _handle_upload(self, file_id: str, body: bytes) -> _Reply:
        with self._changed:
            if self._down:
                return 503, {"Content-Type": "text/plain"}, b"service unavailable"
            record = self._files.get(file_id.strip("/"))
            if record is None:
                return 404, {"Content-Type": "text/plain"}, b"not found"
            record["content"] = bytes(body)
            self._changed.notify_all()
        return 200, {"Content-Type": "text/plain; charset=utf-8"}, f"OK - {len(body)}".encode()

    def _handle_file_download(self, path: str, headers: Mapping[str, str]) -> _Reply:
        authorization = headers.get("authorization", "")
        if authorization != f"Bearer {self.token}":
            return 403, {"Content-Type": "text/plain"}, b"forbidden"
        with self._lock:
            record = self._files.get(path.split("/", 1)[0])
            content = record.get("content") if record else None
        if not isinstance(content, bytes):
            return 404, {"Content-Type": "text/plain"}, b"not found"
        return 200, {"Content-Type": "application/octet-stream"}, content

    # ---------------------------------------------------------------- reactions

    def _reaction_target(self, params: JsonDict) -> tuple[JsonDict, str]:
        channel = self._resolve_channel(params.get("channel"))
        message = self._find_message(channel, _opt_str(params, "timestamp"))
        name = _opt_str(params, "name").strip(":")
        if not name:
            raise _ApiError("invalid_name")
        return message, name

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

    def _reactions_add(self, params: JsonDict) -> JsonDict:
        message, name = self._reaction_target(params)
        if not self._add_reaction(message, name, self.bot_user_id):
            raise _ApiError("already_reacted")
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
        raise _ApiError("no_reaction")

    # ---------------------------------------------------------------- response_url

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

    def _handle_response_url(self, response_id: str, body: bytes) -> _Reply:
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
            except _ApiError as exc:
                return 400, text_reply, exc.error.encode()
            finally:
                self._changed.notify_all()
        return self._reply(200, {"ok": True})

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
        if _bool(payload, "delete_original"):
            if original is not None:
                self._delete_message(channel, original)
            elif original_ephemeral is not None:
                self._ephemerals.remove(original_ephemeral)
            return
        text, blocks, attachments = self._message_inputs(payload, required=True)
        if _bool(payload, "replace_original"):
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
        thread_ts = _opt_str(payload, "thread_ts")
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

    def responses(self, id: str | None = None) -> list[ResponsePost]:
        """Bodies POSTed to response URLs (all, or those of one id or full URL)."""
        wanted = id.rstrip("/").rsplit("/", 1)[-1] if id else None
        with self._lock:
            return [copy.deepcopy(r) for r in self._responses if wanted is None or r.id == wanted]

    # ---------------------------------------------------------------- simulating people

    def _payload_user(self, user_id: str, *, with_username: bool = True) -> JsonDict:
        name = self._user_name(user_id)
        out: JsonDict = {"id": user_id}
        if with_username:
            out["username"] = name
        out.update({"name": name, "team_id": self.team_id})
        return out

    def _payload_team(self) -> JsonDict:
        return {"id": self.team_id, "domain": self.team_domain}

    @staticmethod
    def _action_ts() -> str:
        return f"{time.time():.6f}"

    def _lookup(self, channel: str, ts: str) -> tuple[str, JsonDict]:
        try:
            channel_id = self._resolve_channel(channel)
        except _ApiError:
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
            except _ApiError as exc:
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
                message["blocks"] = [_rich_text_block(text, self._random(_BLOCK_ID_ALPHABET, 5))]
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
                message["blocks"] = [_rich_text_block(text, self._random(_BLOCK_ID_ALPHABET, 5))]
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

    def _user_file(self, spec: Mapping[str, Any], user: str, channel: str, ts: str) -> JsonDict:
        content = spec.get("content")
        if isinstance(content, str):
            content = content.encode("utf-8")
        file_id = str(spec.get("id") or self._new_id("F", 10))
        record: JsonDict = {
            "id": file_id,
            "name": str(spec.get("name", "file")),
            "title": str(spec.get("title", "") or spec.get("name", "file")),
            "length": len(content) if isinstance(content, bytes) else int(spec.get("size", 0)),
            "content": content if isinstance(content, bytes) else None,
            "user": user,
            "created": int(time.time()),
            "shares": [{"channel": channel, "ts": ts}],
        }
        self._files[file_id] = record
        return record

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
                "event_ts": self._action_ts(),
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
                "event_ts": self._action_ts(),
            }

    def _find_button(self, blocks: Any, action_id: str, where: str) -> tuple[JsonDict, JsonDict]:
        for block in blocks or []:
            if not isinstance(block, dict):
                continue
            for _, element in _iter_elements(block):
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
                "action_ts": SlackEmulator._action_ts(),
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
        action["action_ts"] = SlackEmulator._action_ts()
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
                "action_ts": self._action_ts(),
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

    # ---------------------------------------------------------------- reading state

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
        except _ApiError:
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

    # ---------------------------------------------------------------- transcript

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
        top.sort(key=lambda m: _ts_key(m["ts"]))
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
            thread.sort(key=lambda m: _ts_key(m["ts"]))
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
        stamp = time.strftime("%H:%M:%S", time.localtime(_ts_key(message["ts"])[0]))
        header = f"{indent}{stamp}  {self._author(message)}"
        if message.get("subtype") == "thread_broadcast":
            header += "  (also sent to the channel)"
        pad = " " * (len(indent) + 10)
        body: list[str] = []
        blocks = message.get("blocks") or []
        if blocks and any(b.get("type") != "rich_text" for b in blocks if isinstance(b, dict)):
            body.extend(render_blocks(blocks, self._user_name))
        elif message.get("text"):
            body.extend(_plain(str(message["text"]), self._user_name).splitlines())
        elif blocks:
            body.extend(render_blocks(blocks, self._user_name))
        for attachment in message.get("attachments") or []:
            if not isinstance(attachment, dict):
                continue
            inner = render_blocks(attachment.get("blocks"), self._user_name)
            if not inner:
                text = attachment.get("text") or attachment.get("fallback") or ""
                inner = _plain(str(text), self._user_name).splitlines()
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
                    f"[ {_text_of(view.get(k))} ]" for k in ("close", "submit") if view.get(k)
                )
                lines.append(
                    f"{_text_of(view.get('title'))!r}  ({view_id}, "
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
        return {"type": etype, "rich_text_value": _rich_text_block(str(value or ""), "rt")}
    return {"type": etype, "value": None if value is None else str(value)}


def _state_values(view: Mapping[str, Any], values: Mapping[str, Any]) -> JsonDict:
    by_block: dict[str, dict[str, JsonDict]] = {}
    by_action: dict[str, tuple[str, JsonDict]] = {}
    for block in view.get("blocks") or []:
        block_id = str(block.get("block_id", ""))
        for _, element in _iter_elements(block):
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
