"""Structured logs: one JSON object a line in production, readable lines on a terminal, each with
the request id and case id of the work it belongs to (carried by contextvars).

`LOG_FORMAT=json` or `text` chooses; unset, it is JSON unless stderr is a terminal, so a
process under gunicorn, systemd, Docker or a platform logs JSON and a person at a shell reads
text. Log calls name ids, counts and error kinds, never a verbatim, a note or a customer
reference: the database holds those, the logs point at them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

request_id: ContextVar[str | None] = ContextVar("triage_request_id", default=None)
case_id: ContextVar[int | None] = ContextVar("triage_case_id", default=None)

NOISY = ("slack_bolt", "slack_sdk", "apscheduler", "alembic", "urllib3", "httpx", "openai")


def new_request_id() -> str:
    """A short random id for one unit of work (an HTTP request, a queued row's delivery)."""
    # It ties log lines together and guards nothing: no need for the OS's random source, a
    # system call on every request (uuid4).
    return f"{random.getrandbits(64):016x}"


@contextlib.contextmanager
def context(*, request: str | None = None, case: int | None = None) -> Iterator[None]:
    """Tag every log line inside the block with this request id and/or case id."""
    request_token = request_id.set(request) if request is not None else None
    case_token = case_id.set(case) if case is not None else None
    try:
        yield
    finally:
        if case_token is not None:
            case_id.reset(case_token)
        if request_token is not None:
            request_id.reset(request_token)


def bind_case(value: int | None) -> None:
    """Tag the rest of the current request's lines with a case id (once it is known)."""
    if value is not None:
        case_id.set(value)


class ContextFilter(logging.Filter):
    """Copies the current request and case ids onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.case_id = case_id.get()
        return True


_EMAIL = re.compile(r"[^\s<>()\[\]\"',;:|]+@[^\s<>()\[\]\"',;:|]+\.\w+")
_PHONE = re.compile(r"\+\d[\d .()-]{7,}\d|\b0\d(?:[ .-]?\d{2}){4}\b")
_BODY = re.compile(r"\b(body|payload|text)\b\s*[:=].*", re.IGNORECASE | re.DOTALL)
LIBRARIES = ("slack_bolt", "slack_sdk")


def redact(message: str) -> str:
    """A log message with emails and phone numbers replaced: a safety net under the rule that
    log calls never name them."""
    return _PHONE.sub("<phone>", _EMAIL.sub("<email>", message))


class PrivacyFilter(logging.Filter):
    """Keeps personal data out of log lines above DEBUG: Slack libraries' lines lose any request
    body they quote (Bolt's "Invalid request signature detected (... body: ...)"), and every
    line has its emails and phone numbers masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a library's malformed format string: keep the template only
            message = str(record.msg)
        if record.name.startswith(LIBRARIES):
            message = _BODY.sub(r"\1: [omitted]", message)
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


def library_logger(name: str) -> logging.Logger:
    """A Slack library's base logger with an explicit level (WARNING, DEBUG when the process
    is verbose) and the privacy filter, which Bolt copies onto each logger it derives."""
    logger = logging.getLogger(name)
    verbose = logging.getLogger().level == logging.DEBUG
    logger.setLevel(logging.DEBUG if verbose else logging.WARNING)
    if not any(isinstance(f, PrivacyFilter) for f in logger.filters):
        logger.addFilter(PrivacyFilter())
    return logger


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, case_id, error."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "case_id"):
            value = getattr(record, name, None)
            if value is not None:
                out[name] = value
        if record.exc_info and record.exc_info[1] is not None:
            out["error"] = type(record.exc_info[1]).__name__
            out["traceback"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [req=… case=…]: message`, for people at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(tags)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        tags = []
        request, case = getattr(record, "request_id", None), getattr(record, "case_id", None)
        if request:
            tags.append(f"req={request}")
        if case is not None:
            tags.append(f"case={case}")
        record.tags = f" [{' '.join(tags)}]" if tags else ""
        return super().format(record)


def wants_json(env: dict[str, str] | None = None, stream: Any = None) -> bool:
    """JSON when LOG_FORMAT=json, text when LOG_FORMAT=text, else JSON unless on a terminal."""
    value = (env if env is not None else os.environ).get("LOG_FORMAT", "").strip().lower()
    if value in ("json", "text"):
        return value == "json"
    stream = stream if stream is not None else sys.stderr
    return not (hasattr(stream, "isatty") and stream.isatty())


def handler(json_lines: bool, stream: Any = None) -> logging.Handler:
    """A stream handler with the chosen format and the context filter."""
    out = logging.StreamHandler(stream if stream is not None else sys.stderr)
    out.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    out.addFilter(ContextFilter())
    out.addFilter(PrivacyFilter())
    return out


def gunicorn_config(verbose: bool = False) -> dict[str, Any]:
    """Gunicorn's `logconfig_dict`: its own lines (start, worker exits) in the same format."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "DEBUG" if verbose else "INFO", "handlers": ["triage"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
        },
        "handlers": {"triage": {"()": "bot.runtime.logs.default_handler"}},
        "formatters": {},
    }


def default_handler() -> logging.Handler:
    """The handler `setup` installs: JSON or text as `wants_json` decides, on stderr."""
    return handler(wants_json())


def setup(verbose: bool = False) -> None:
    """Configure the root logger once for the process (the CLI calls it)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler(wants_json()))
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for library in LIBRARIES:
        library_logger(library)
