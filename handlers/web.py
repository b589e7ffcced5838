"""The HTTP surface as one WSGI application: Slack's endpoint, the verdict webhook, health."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.intake import webhook
from bot.runtime import logs, metrics
from bot.runtime.health import readiness_problem
from bot.runtime.runtime import Runtime

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
    """Route `POST /slack/events` to Bolt (which verifies Slack's signatures), the webhook,
    `GET /healthz`, `GET /readyz` and `GET /metrics`; every request gets a request id, logged
    on each of its lines and echoed as `X-Request-Id`."""
    slack = SlackRequestHandler(bolt_app, path="/slack/events")

    def receive_verdicts(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
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
        metrics.ACK_SECONDS.labels("webhook").observe(time.perf_counter() - started)
        return _json(start_response, _status(result.status), result.body, result.headers)

    def slack_events(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        # Bolt reads the body from wsgi.input; peek at it first to label the ack's latency.
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        kind = _slack_kind(body)
        with metrics.Timer() as timer:
            answer = slack(environ, start_response)
        metrics.ACK_SECONDS.labels(kind).observe(timer.seconds)
        return answer

    def route(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method in ("GET", "HEAD"):
            return _json(start_response, "200 OK", {"status": "ok"})
        if path == "/readyz" and method in ("GET", "HEAD"):
            problem = readiness_problem(rt.engine)
            if problem:
                return _json(start_response, _status(503), {"status": "unready", "reason": problem})
            return _json(start_response, "200 OK", {"status": "ready"})
        if path == "/metrics" and method in ("GET", "HEAD"):
            data, content_type = metrics.exposition(rt.factory)
            start_response(
                "200 OK", [("Content-Type", content_type), ("Content-Length", str(len(data)))]
            )
            return [data]
        if path == "/webhooks/verdicts/schema" and method in ("GET", "HEAD"):
            return _json(start_response, "200 OK", webhook.json_schema())
        if path == "/webhooks/verdicts":
            if method != "POST":
                return _json(start_response, _status(405), {"error": "use POST"})
            with rt.activity.serving():
                return receive_verdicts(environ, start_response)
        if path == "/slack/events":
            if method != "POST":
                return _json(start_response, _status(405), {"error": "use POST"})
            if int(environ.get("CONTENT_LENGTH") or 0) > MAX_SLACK_BODY_BYTES:
                return _json(start_response, _status(413), {"error": "payload too large"})
            with rt.activity.serving():
                return slack_events(environ, start_response)
        return _json(start_response, _status(404), {"error": "not found"})

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        given = str(environ.get("HTTP_X_REQUEST_ID") or "")
        request = given if _REQUEST_ID.fullmatch(given) else logs.new_request_id()

        def respond(status: str, headers: list[tuple[str, str]], *args: Any) -> Any:
            return start_response(status, [*headers, ("X-Request-Id", request)], *args)

        # The body is produced before returning (no streaming), so every line of the request's
        # work, the Bolt listeners' included, carries its id.
        with logs.context(request=request):
            return route(environ, respond)

    return application


_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


def _slack_kind(body: bytes) -> str:
    """What a Slack request is, for the ack latency's label: event, command or interaction."""
    if body.startswith(b"payload="):
        return "interaction"
    if b"command=" in body[:2000] and not body.startswith(b"{"):
        return "command"
    return "event"
