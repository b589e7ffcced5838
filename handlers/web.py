"""The HTTP surface: Slack's endpoint and the health check, as one WSGI application."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

MAX_BODY_BYTES = 1_000_000  # Slack's payloads are far smaller; refuse floods before parsing

StartResponse = Callable[..., Any]


def _json(start_response: StartResponse, status: str, body: dict[str, Any]) -> Iterable[bytes]:
    data = json.dumps(body).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
    )
    return [data]


def create_wsgi_app(bolt_app: App) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """Route `POST /slack/events` to Bolt (which verifies signatures) and answer `GET /healthz`."""
    slack = SlackRequestHandler(bolt_app, path="/slack/events")

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _json(start_response, "200 OK", {"status": "ok"})
        if path == "/slack/events":
            if method != "POST":
                return _json(start_response, "405 Method Not Allowed", {"error": "use POST"})
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length > MAX_BODY_BYTES:
                return _json(
                    start_response, "413 Content Too Large", {"error": "payload too large"}
                )
            return slack(environ, start_response)
        return _json(start_response, "404 Not Found", {"error": "not found"})

    return application
