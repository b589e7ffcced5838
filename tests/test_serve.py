"""`triage serve` as production runs it: gunicorn, several worker processes, one database."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.signing import SlackRequestSender
from tests.conftest import BOT_TOKEN, INTAKE, TRIAGE, team_config
from tests.support import ROOT, bot_command, bot_env, free_port, healthy, wait_until

pytestmark = pytest.mark.slow  # gunicorn processes


def _env(tmp_path: Path, database_url: str, emulator: SlackEmulator, secret: str) -> dict[str, str]:
    config = tmp_path / "triage.yaml"
    config.write_text(yaml.safe_dump(team_config()), encoding="utf-8")
    return bot_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=secret,
        SLACK_API_URL=emulator.api_url,
        DATABASE_URL=database_url,
        TRIAGE_CONFIG=str(config),
    )


def _start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        bot_command(*args),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(process: subprocess.Popen[str]) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output


def _cards(emulator: SlackEmulator) -> list[dict[str, object]]:
    return [m for m in emulator.channel_messages(TRIAGE) if m.get("user") == "U0BOT"]


def test_serve_without_background_pass_leaves_the_work_to_triage_worker(
    tmp_path: Path, database_url: str, emulator: SlackEmulator
) -> None:
    secret = "serve-test-secret"
    env = _env(tmp_path, database_url, emulator, secret)
    port = free_port()
    web = _start(env, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                 "--no-background")  # fmt: skip
    worker: subprocess.Popen[str] | None = None
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: healthy(url)), "triage serve did not come up"
        sender = SlackRequestSender(url + "/slack/events", secret)
        event = emulator.post_as_user(
            INTAKE, "U0ANALYST", "Customer: c1@example.com\nConsent: yes\nThe 4G drops."
        )
        assert sender.send_event(event).status == 200  # acked: recorded
        # With its own pass the web process posts the card within a fraction of a second.
        time.sleep(1.5)
        assert _cards(emulator) == []
        worker = _start(env, "worker", "--interval", "0.2")
        assert wait_until(lambda: len(_cards(emulator)) == 1)
        time.sleep(1.0)  # a second post would show within the worker's next passes
        assert len(_cards(emulator)) == 1
    finally:
        outputs = [_stop(p) for p in (web, worker) if p is not None]
    for output in outputs:
        assert "Traceback" not in output, output


def test_gunicorn_workers_turn_verdicts_into_cards_once_each(
    tmp_path: Path, database_url: str, emulator: SlackEmulator
) -> None:
    port = free_port()
    secret = "serve-test-secret"
    env = _env(tmp_path, database_url, emulator, secret)
    process = _start(env, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2")
    url = f"http://127.0.0.1:{port}"
    try:
        assert wait_until(lambda: healthy(url)), "triage serve did not come up"
        sender = SlackRequestSender(url + "/slack/events", secret)
        for n in range(10):
            event = emulator.post_as_user(
                INTAKE,
                "U0ANALYST",
                f"Customer: c{n}@example.com\nConsent: yes\nThe 4G drops every night.",
            )
            assert sender.send_event(event, event_id=f"EvSERVE{n}").status == 200
            # Slack's retry of the same event may reach the other worker process.
            assert sender.send_event(event, event_id=f"EvSERVE{n}", retry_num=1).status == 200

        def cards() -> list[dict[str, object]]:
            return _cards(emulator)

        assert wait_until(lambda: len(cards()) >= 10)
        time.sleep(1.5)  # a duplicate would show up within the workers' next passes
        case_ids = sorted(c["metadata"]["event_payload"]["case_id"] for c in cards())  # type: ignore[index]
        assert case_ids == list(range(1, 11))
        replies = [
            r
            for root in emulator.channel_messages(INTAKE)
            for r in emulator.thread(INTAKE, root["ts"])
        ]
        assert len(replies) == 10
    finally:
        output = _stop(process)
    assert "Traceback" not in output, output
    assert "will be unused" not in output, output  # Bolt's warning, once per worker
