"""Helpers shared by the tests (conftest.py holds the fixtures): polling that wakes quickly, the
bot's processes started as an operator starts them, and the signed verdict webhook."""

from __future__ import annotations

import os
import socket
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bot.sandbox.signing import send_webhook

ROOT = Path(__file__).resolve().parent.parent
# A subprocess of the bot reads only what the test gives it, not the developer's own settings.
OWN_SETTINGS = ("SLACK_", "TRIAGE_", "DATABASE_", "OPENAI_", "WEBHOOK_")
# Leases of rows a killed process claimed run out this fast in tests (production: minutes).
TEST_LEASE_SECONDS = "5"

T = TypeVar("T")


def wait_until(probe: Callable[[], T], timeout: float = 30.0) -> T:
    """Call `probe` until it returns something truthy and return that (its last, falsy, answer
    after `timeout` seconds). Polls every few milliseconds at first, then every 50 ms."""
    deadline = time.monotonic() + timeout
    step = 0.005
    while True:
        found = probe()
        if found or time.monotonic() >= deadline:
            return found
        time.sleep(step)
        step = min(step * 2, 0.05)


def bot_env(**variables: str) -> dict[str, str]:
    """The environment of a `python -m bot` process: this one's, without the bot's settings,
    plus `variables`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_SETTINGS)}
    env.update(variables)
    return env


def bot_command(*args: str) -> list[str]:
    """`triage ARGS`, run with this interpreter."""
    return [sys.executable, "-m", "bot", *args]


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(url: str) -> bool:
    """Whether the bot served at `url` answers its liveness probe."""
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def post_webhook(
    base_url: str,
    data: Any,
    secret: str,
    *,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """POST a body to the bot's verdict webhook, signed; (status, JSON answer, headers)."""
    response = send_webhook(
        base_url + "/webhooks/verdicts", data, secret, timestamp=timestamp, headers=headers
    )
    return response.status, response.json() or {}, response.headers
