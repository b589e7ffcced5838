"""The Web API wire format: request parameters, API errors and JSON replies, as Slack sends them."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

JsonDict = dict[str, Any]
# One Web API method: the request's parameters in, the JSON answer out.
ApiHandler = Callable[[JsonDict], JsonDict]
# An HTTP answer: status, headers, body.
Reply = tuple[int, dict[str, str], bytes]


# Fields slack_sdk form-encodes as JSON strings but sends as objects in JSON bodies; the value is
# the error Slack answers when the string does not parse.
_JSON_FIELDS = {
    "blocks": "invalid_blocks_format",
    "attachments": "invalid_attachments",
    "view": "invalid_arguments",
    "metadata": "invalid_metadata_format",
    "files": "invalid_arguments",
}


class ApiError(Exception):
    """An API-level failure, answered as HTTP 200 ``{"ok": false, "error": ...}`` as Slack does."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra

    def payload(self) -> JsonDict:
        return {"ok": False, "error": self.error, **self.extra}


def ts_key(ts: Any, error: str = "invalid_ts") -> tuple[int, int]:
    """Order Slack timestamps numerically ("123.000100" < "123.000200" < "124.000000")."""
    raw = str(ts).strip()
    seconds, _, fraction = raw.partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()):
        raise ApiError(error)
    return int(seconds), int((fraction + "000000")[:6])


def opt_str(params: Mapping[str, Any], key: str) -> str:
    """A parameter as a string ("" when absent, booleans as "true"/"false")."""
    value = params.get(key)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def opt_bool(params: Mapping[str, Any], key: str, default: bool = False) -> bool:
    """A boolean parameter, given as a JSON bool or as "1"/"true"/"yes"/"on"."""
    value = params.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def opt_int(params: Mapping[str, Any], key: str, default: int) -> int:
    """An integer parameter; anything else is ``invalid_arguments``."""
    value = params.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError("invalid_arguments") from None


def id_list(value: Any) -> list[str]:
    """Ids given as a JSON array or a comma-separated string."""
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return []


def _parse_multipart(content_type: str, body: bytes) -> JsonDict:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise ApiError("invalid_form_data")
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


def parse_params(query: str, headers: Mapping[str, str], body: bytes) -> JsonDict:
    """The request's parameters: query string, then a form, multipart or JSON body."""
    params: JsonDict = dict(parse_qsl(query, keep_blank_values=True))
    content_type = headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    if not body:
        return params
    if media == "application/json":
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ApiError("invalid_json") from None
        if not isinstance(data, dict):
            raise ApiError("invalid_json")
        params.update(data)
    elif media == "multipart/form-data":
        params.update(_parse_multipart(content_type, body))
    else:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def json_reply(status: int, payload: JsonDict, headers: dict[str, str] | None = None) -> Reply:
    """A JSON answer with the ``X-Slack-Req-Id`` header Slack sends."""
    out = {"Content-Type": "application/json; charset=utf-8"}
    out["X-Slack-Req-Id"] = uuid.uuid4().hex
    out.update(headers or {})
    return status, out, _json_bytes(payload)


def decode_json_fields(params: JsonDict) -> None:
    """Parse, in place, the fields sent as JSON strings (blocks, view, ...) or raise ApiError."""
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
                raise ApiError(error) from None
