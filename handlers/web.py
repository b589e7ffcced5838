"""The HTTP surface as one WSGI application: Slack's endpoint, the verdict webhook, health."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot import webhook
from bot.app import Runtime

MAX_SLACK_BODY_BYTES = 1_000_000  # Slack's payloads are far smaller; refuse floods before parsing

StartResponse = Callable[..., Any]


def _json(
    start_response: StartResponse,
    status: str,
    body: dict[str, Any],
    headers: tuple[tuple[str, str], ...] = (),
) -> Iterable[bytes]:
    data = json.dumps(body, ensure_ascii=False).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers]
    )
    return [data]


_REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Content Too Large",
    422: "Unprocessable Content",
    503: "Service Unavailable",
}


def _status(code: int) -> str:
    return f"{code} {_REASONS.get(code, '')}".strip()


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    out = {
        k[5:].replace("_", "-").lower(): str(v) for k, v in environ.items() if k.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        out["content-type"] = str(environ["CONTENT_TYPE"])
    return out


DRAIN_LIMIT = 16 * 1024 * 1024


def _body(environ: dict[str, Any], limit: int) -> bytes | None:
    """The request body, or None when it is larger than `limit`."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > limit:
        # Read (and drop) a moderately oversized body so the client gets its 413 instead of a
        # broken pipe; beyond DRAIN_LIMIT the connection is simply closed.
        if length <= DRAIN_LIMIT:
            stream, left = environ["wsgi.input"], length
            while left > 0:
                chunk = stream.read(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        return None
    return environ["wsgi.input"].read(length) if length else b""


def create_wsgi_app(
    bolt_app: App, rt: Runtime
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """Route `POST /slack/events` to Bolt (which verifies Slack's signatures), the webhook, and
    `GET /healthz`."""
    slack = SlackRequestHandler(bolt_app, path="/slack/events")

    def receive_verdicts(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = _body(environ, webhook.MAX_BODY_BYTES)
        if body is None:
            return _json(
                start_response,
                _status(413),
                {"error": f"body larger than {webhook.MAX_BODY_BYTES} bytes; send smaller batches"},
            )
        settings = rt.settings
        result = webhook.handle(
            rt.factory,
            rt.classifier,
            settings.team,
            rt.clock,
            settings.webhook_secret,
            _headers(environ),
            body,
        )
        if result.status == 202:
            rt.worker.kick()
        return _json(start_response, _status(result.status), result.body, result.headers)

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _json(start_response, "200 OK", {"status": "ok"})
        if path == "/webhooks/verdicts/schema" and method in ("GET", "HEAD"):
            return _json(start_response, "200 OK", webhook.json_schema())
        if path == "/webhooks/verdicts":
            if method != "POST":
                return _json(start_response, _status(405), {"error": "use POST"})
            return receive_verdicts(environ, start_response)
        if path == "/slack/events":
            if method != "POST":
                return _json(start_response, _status(405), {"error": "use POST"})
            if int(environ.get("CONTENT_LENGTH") or 0) > MAX_SLACK_BODY_BYTES:
                return _json(start_response, _status(413), {"error": "payload too large"})
            return slack(environ, start_response)
        return _json(start_response, _status(404), {"error": "not found"})

    return application
