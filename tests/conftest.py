"""Shared fixtures: a fresh migrated database (SQLite, or PostgreSQL with TEST_DATABASE_URL),
the local Slack emulator, and the bot served over real HTTP on loopback."""

from __future__ import annotations

import os
import secrets
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from bot.runtime.app import build_runtime
from bot.runtime.runtime import Runtime
from bot.runtime.server import LocalServer, start_local
from bot.runtime.settings import Settings, load_settings, normalise_database_url
from bot.sandbox import demo as sandbox
from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.signing import SlackRequestSender
from storage.db import make_engine
from storage.migrate import upgrade
from tests.support import post_webhook

BOT_TOKEN = "xoxb-test-token"
INTAKE, TRIAGE = "C0INTAKE", "C0TRIAGE"
AGENT, AGENT2, MANAGER, ANALYST = "U0AGENT", "U0AGENT2", "U0MANAGER", "U0ANALYST"


def _postgres_base() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    return normalise_database_url(url) if url else None


@pytest.fixture(scope="session")
def _sqlite_at_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head per test session; each test gets a copy of it."""
    path = tmp_path_factory.mktemp("template") / "triage.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # closes the last connection: the WAL is folded into the file
    return path


@pytest.fixture
def database_url(tmp_path: Path, _sqlite_at_head: Path) -> Iterator[str]:
    """A fresh database migrated to head: a SQLite file, or a new PostgreSQL schema."""
    base = _postgres_base()
    if base is None:
        shutil.copyfile(_sqlite_at_head, tmp_path / "triage.db")
        yield f"sqlite:///{tmp_path}/triage.db"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in base else "?"
    url = f"{base}{separator}options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    """The Slack Web API emulator with the test workspace's channels and people."""
    # strict_mentions: a test fails if the bot sends a special mention, an unknown person or a
    # foreign link (text from outside that was not escaped).
    with SlackEmulator(token=BOT_TOKEN, strict_mentions=True) as emu:
        emu.add_channel(INTAKE, "survey-intake")
        emu.add_channel(TRIAGE, "churn-triage")
        emu.add_user(AGENT, "camille", real_name="Camille")
        emu.add_user(AGENT2, "dominique", real_name="Dominique")
        emu.add_user(MANAGER, "sam", real_name="Sam")
        emu.add_user(ANALYST, "nadia", real_name="Nadia")
        yield emu
        assert not emu.mention_violations, f"sent unescaped: {emu.mention_violations[:5]}"


def team_config(**overrides: Any) -> dict[str, Any]:
    """The DESIGN.md example config, with overrides."""
    config: dict[str, Any] = {
        "language": "en",
        "timezone": "Europe/Paris",
        "channels": {"intake": INTAKE, "triage": TRIAGE},
        "managers": [MANAGER],
        "subscriber_only_channels": ["614"],
        "business_hours": "Mon-Fri 09:00-18:00",
        "policy": {
            "deadline": "P2D",
            "reminders": [0.5, 0.8],
            "final_warning": "PT1H",
            "auto_close": True,
        },
        # Slack's real pace (1 a second per channel) is tested in test_production.py; other
        # tests post faster so that they stay quick.
        "slack": {"messages_per_second": 50, "burst": 10},
    }
    config.update(overrides)
    return config


WEBHOOK_SECRET = "webhook-test-secret"


def make_settings(
    tmp_path: Path,
    database_url: str,
    api_url: str,
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Settings as `triage serve` would read them from the environment (plus `env`) and the YAML file."""
    path = tmp_path / "triage.yaml"
    path.write_text(yaml.safe_dump(team_config(**overrides)), encoding="utf-8")
    variables = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": secrets.token_hex(16),
        "SLACK_API_URL": api_url,
        "DATABASE_URL": database_url,
        "TRIAGE_CONFIG": str(path),
        "WEBHOOK_SECRET": WEBHOOK_SECRET,
        **(env or {}),
    }
    return load_settings(variables)


@dataclass
class Harness:
    """The bot over real HTTP, its emulator and a sender signing like Slack."""

    rt: Runtime
    server: LocalServer
    emulator: SlackEmulator
    sender: SlackRequestSender

    def wait_idle(self, timeout: float = 15.0) -> None:
        """Wait until recorded intake is processed and queued Slack writes are delivered."""
        if not sandbox.wait_idle(self.rt, timeout):
            raise AssertionError("the bot did not finish its work in time")

    def post_intake(self, text: str, user: str = ANALYST, **kwargs: Any) -> dict[str, Any]:
        """A person posts in the intake channel; Slack delivers the event to the bot."""
        event = self.emulator.post_as_user(INTAKE, user, text)
        response = self.sender.send_event(event, **kwargs)
        assert response.status == 200, response.body
        return event

    def post_webhook(
        self,
        data: Any,
        *,
        secret: str = WEBHOOK_SECRET,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """POST a body to the verdict webhook, signed as the README says; (status, json, headers)."""
        return post_webhook(self.server.url, data, secret, timestamp=timestamp, headers=headers)

    def cards(self) -> list[dict[str, Any]]:
        """The bot's root messages in the triage channel."""
        return [m for m in self.emulator.channel_messages(TRIAGE) if m.get("user") == "U0BOT"]

    def click(self, ts: str, action_id: str, user: str) -> int:
        """A person clicks a button on a message in the triage channel."""
        payload = self.emulator.click(TRIAGE, ts, action_id, user)
        return self.sender.send_interactivity(payload).status


@pytest.fixture
def make_bot(
    tmp_path: Path, database_url: str, emulator: SlackEmulator
) -> Iterator[Callable[..., Harness]]:
    """Start the bot (config overrides as keyword arguments); stopped after the test."""
    started: list[Harness] = []

    def start(env: dict[str, str] | None = None, **overrides: Any) -> Harness:
        settings = make_settings(tmp_path, database_url, emulator.api_url, env, **overrides)
        rt = build_runtime(settings)
        server = start_local(rt)
        sender = SlackRequestSender(
            server.url + "/slack/events", settings.slack_signing_secret or ""
        )
        harness = Harness(rt, server, emulator, sender)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        harness.server.stop()
        harness.rt.close()


@pytest.fixture
def bot(make_bot: Callable[..., Harness]) -> Harness:
    """The bot with the default test config."""
    return make_bot()


def block_text(message: dict[str, Any]) -> str:
    """Everything a person reads in a message's blocks, as one string."""
    parts: list[str] = [str(message.get("text", ""))]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text"):
                parts.append(str(node.get("text", "")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.get("blocks") or [])
    return "\n".join(parts)


def buttons(message: dict[str, Any]) -> list[str]:
    """The action ids of the buttons on a message."""
    found: list[str] = []
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if element.get("type") == "button":
                found.append(str(element.get("action_id")))
    return found
