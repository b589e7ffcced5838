"""The inbound guard: every HTTP request is checked here before anything parses it.

Headers are read as values (a timestamp that is not a number, a signature with non-ASCII
characters), Slack's signature is verified before Bolt sees the body (so Bolt never parses nor
logs a forged or stale request), bodies are bounded in size and nesting, and JSON is parsed
safely (duplicate keys refused where the bot reads them). Each refusal is a `Refusal`: a 4xx
status and a short reason, logged as one line with no body, verbatim or customer data."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
import urllib.parse
from typing import Any

log = logging.getLogger("handlers.inbound")

MAX_DEPTH = 32  # the bot's own payloads nest about 10 deep; Slack's views about 12
MAX_AGE_SECONDS = 300  # Slack's and the webhook's replay window
SLACK_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
WEBHOOK_SIGNATURE = re.compile(r"v1=[0-9a-f]{64}")
TIMESTAMP = re.compile(r"[0-9]{1,12}")


class Refusal(Exception):
    """A request refused before it reached the bot: HTTP status and a short reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status, self.reason = status, reason


def refuse(status: int, reason: str, surface: str) -> Refusal:
    """A refusal, logged once for the operator (reason only: never the body)."""
    log.warning("refused a %s request: %s (HTTP %d)", surface, reason, status)
    return Refusal(status, reason)


def timestamp_header(value: str | None, surface: str, *, check_age: bool = True) -> int:
    """A request timestamp header: ASCII digits, within the replay window of now."""
    if not value:
        raise refuse(401, "missing timestamp header", surface)
    if not TIMESTAMP.fullmatch(value):
        raise refuse(401, "timestamp header is not a number of seconds", surface)
    stamp = int(value)
    if check_age and abs(time.time() - stamp) > MAX_AGE_SECONDS:
        raise refuse(401, "timestamp older than 5 minutes (replay or clock skew)", surface)
    return stamp


def signature_header(value: str | None, pattern: re.Pattern[str], surface: str) -> str:
    """A signature header in its documented form (`v0=` + 64 hex digits), or a refusal."""
    if not value:
        raise refuse(401, "missing signature header", surface)
    if not value.isascii() or not pattern.fullmatch(value):
        raise refuse(401, "malformed signature header", surface)
    return value


def verify_slack(secret: str, headers: dict[str, str], body: bytes) -> None:
    """Slack's request signing (v0), checked before Bolt parses (or logs) anything."""
    stamp = timestamp_header(headers.get("x-slack-request-timestamp"), "Slack")
    signature = signature_header(headers.get("x-slack-signature"), SLACK_SIGNATURE, "Slack")
    base = b"v0:" + str(stamp).encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise refuse(401, "signature does not match", "Slack")


def webhook_headers(headers: dict[str, str]) -> None:
    """The webhook's signing headers as values; the webhook then checks the HMAC itself."""
    # The age is checked by the webhook against the runtime's clock.
    timestamp_header(headers.get("x-triage-timestamp"), "webhook", check_age=False)
    signature_header(headers.get("x-triage-signature"), WEBHOOK_SIGNATURE, "webhook")


def nesting_depth(data: bytes) -> int:
    """The deepest `[`/`{` nesting of a JSON text, counted without parsing (strings skipped)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    return deepest
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key[:40]!r}")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(data: bytes | str, surface: str, *, unique_keys: bool = False) -> Any:
    """JSON parsed safely: UTF-8, bounded nesting, no NaN/Infinity, optionally unique keys."""
    raw = data.encode() if isinstance(data, str) else data
    if nesting_depth(raw) > MAX_DEPTH:
        raise refuse(400, f"JSON nested deeper than {MAX_DEPTH} levels", surface)
    try:
        text = raw.decode("utf-8")
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates if unique_keys else None,
            parse_constant=_no_constants,
        )
    except UnicodeDecodeError:
        raise refuse(400, "body is not UTF-8", surface) from None
    except (ValueError, RecursionError) as exc:
        # The decoder's message names a position, never the body's content.
        reason = str(exc).split(":")[0] if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise refuse(400, f"invalid JSON: {reason[:80]}", surface) from None


def slack_body(body: bytes, content_type: str) -> dict[str, Any]:
    """What Bolt will parse, checked first: a JSON object (events), or a form whose `payload`
    is a JSON object (interactivity), or a plain form (slash commands)."""
    if content_type.startswith("application/json") or body.lstrip()[:1] in (b"{", b"["):
        data = parse_json(body, "Slack")
        if not isinstance(data, dict):
            raise refuse(400, "event body is not a JSON object", "Slack")
        if not isinstance(data.get("type"), str):
            raise refuse(400, "event body has no type", "Slack")
        return data
    try:
        text = body.decode("utf-8")
        form = urllib.parse.parse_qs(text, keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise refuse(400, "form body is not UTF-8 or has too many fields", "Slack") from None
    if any(len(values) > 1 for values in form.values()):
        raise refuse(400, "form body repeats a field", "Slack")
    if "payload" in form:
        payload = parse_json(form["payload"][0], "Slack")
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            raise refuse(400, "interaction payload is not a JSON object with a type", "Slack")
        return payload
    if "command" in form or "ssl_check" in form:
        return {k: v[0] for k, v in form.items()}
    raise refuse(400, "neither an event, an interaction nor a command", "Slack")
