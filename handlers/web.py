"""The HTTP surface as one WSGI application: Slack's endpoint, the verdict webhook, health."""

from __future__ import annotations

import io
import json
import logging
import re
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.intake import webhook
from bot.intake.connectors import service as connectors
from bot.runtime import logs, metrics
from bot.runtime.health import readiness_problem
from bot.runtime.runtime import Runtime
from handlers import inbound
from handlers.inbound import Refusal

log = logging.getLogger("handlers.web")

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
    415: "Unsupported Media Type",
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


def _length(environ: dict[str, Any]) -> int:
    """Content-Length as a value: digits only, else a refusal (never a ValueError)."""
    raw = str(environ.get("CONTENT_LENGTH") or "0").strip()
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise Refusal(400, "Content-Length is not a number")
    return int(raw)


def _body(environ: dict[str, Any], limit: int) -> bytes | None:
    """The request body, or None when it is larger than `limit`."""
    length = _length(environ)
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
        if settings.webhook_secret:
            inbound.webhook_headers(_headers(environ))
        result = webhook.handle(
            rt.factory,
            rt.classifier,
            settings.team,
            rt.clock,
            settings.webhook_secret,
            _headers(environ),
            body,
            loads=lambda raw: inbound.parse_json(raw, "webhook", unique_keys=True),
        )
        if result.status == 202:
            rt.worker.kick()
        metrics.ACK_SECONDS.labels("webhook").observe(time.perf_counter() - started)
        return _json(start_response, _status(result.status), result.body, result.headers)

    def receive_connector(
        environ: dict[str, Any], start_response: StartResponse, name: str, mapped: bool
    ) -> Iterable[bytes]:
        started = time.perf_counter()
        body = _body(environ, connectors.MAX_BODY_BYTES)
        if body is None:
            return _json(start_response, _status(413), {"error": "body too large"})
        result = connectors.handle(
            rt.factory,
            rt.classifier,
            rt.settings,
            rt.clock,
            name,
            _headers(environ),
            body,
            lambda raw: inbound.parse_json(raw, f"connector {name}"),
            mapped_route=mapped,
        )
        if result.status in (200, 202):
            rt.worker.kick()
        metrics.ACK_SECONDS.labels("connector").observe(time.perf_counter() - started)
        return _json(start_response, _status(result.status), result.body)

    def slack_events(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        # Bolt reads the body from wsgi.input; read it first to check it (the inbound guard)
        # and to label the ack's latency.
        length = _length(environ)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        headers = _headers(environ)
        secret = rt.settings.slack_signing_secret
        if secret:
            inbound.verify_slack(secret, headers, body)
        inbound.slack_body(body, headers.get("content-type", ""))
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
        connector = _CONNECTOR_PATH.fullmatch(path)
        if connector:
            name, mapped = connector.group(2) or connector.group(1), bool(connector.group(2))
            if method == "HEAD" and name == "surveymonkey" and not mapped:
                return _json(start_response, "200 OK", {"status": "ok"})  # SurveyMonkey's check
            if method != "POST":
                return _json(start_response, _status(405), {"error": "use POST"})
            with rt.activity.serving():
                return receive_connector(environ, start_response, name, mapped)
        if path == "/slack/events":
            if method != "POST":
                return _json(start_response, _status(405), {"error": "use POST"})
            if _length(environ) > MAX_SLACK_BODY_BYTES:
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
            try:
                return route(environ, respond)
            except Refusal as refusal:
                return _json(respond, _status(refusal.status), {"error": refusal.reason})
            except Exception as exc:
                # A bug: the operator gets the error's kind and where (no request data: an
                # exception's message may quote the input), the client a bare 500.
                log.error(
                    "unexpected %s answering %s %s; where:\n%s",
                    type(exc).__name__,
                    environ.get("REQUEST_METHOD", "?"),
                    str(environ.get("PATH_INFO", "?"))[:100],
                    "".join(traceback.format_tb(exc.__traceback__)),
                )
                return _json(respond, "500 Internal Server Error", {"error": "internal error"})

    return application


_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# The survey tools' endpoints (docs/connectors.md): /webhooks/TOOL and /webhooks/mapped/NAME.
_CONNECTOR_PATH = re.compile(
    r"/webhooks/(?:(typeform|surveymonkey|delighted)|mapped/([a-z0-9][a-z0-9_-]{0,39}))/?"
)


def _slack_kind(body: bytes) -> str:
    """What a Slack request is, for the ack latency's label: event, command or interaction."""
    if body.startswith(b"payload="):
        return "interaction"
    if b"command=" in body[:2000] and not body.startswith(b"{"):
        return "command"
    return "event"
