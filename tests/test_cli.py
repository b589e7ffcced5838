"""The `triage` command as an operator runs it: clear one-line errors, helpful --help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import team_config

ROOT = Path(__file__).resolve().parent.parent


def triage(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TRIAGE_", "DATABASE_", "OPENAI_"))
    }
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=clean,
        cwd=cwd or ROOT,
        timeout=60,
    )


def test_help_lists_the_commands() -> None:
    result = triage("--help")
    assert result.returncode == 0
    for command in ("serve", "worker", "db", "config", "sandbox"):
        assert command in result.stdout
    for command in ("serve", "worker", "sandbox"):
        sub = triage(command, "--help")
        assert sub.returncode == 0 and "usage: triage " + command in sub.stdout


def test_serve_without_token_stops_with_one_clear_line(tmp_path: Path) -> None:
    config = tmp_path / "triage.yaml"
    config.write_text(yaml.safe_dump(team_config()), encoding="utf-8")
    result = triage("serve", env={"TRIAGE_CONFIG": str(config), "SLACK_SIGNING_SECRET": "s"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "triage: SLACK_BOT_TOKEN: not set (the bot token, xoxb-..., from the app's OAuth page)"
    ]
    assert "Traceback" not in result.stderr


def test_serve_with_a_bad_config_names_the_field(tmp_path: Path) -> None:
    config = tmp_path / "triage.yaml"
    config.write_text(yaml.safe_dump(team_config(timezone="Paris")), encoding="utf-8")
    env = {"TRIAGE_CONFIG": str(config), "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    result = triage("serve", env=env)
    assert result.returncode == 2
    assert "timezone: 'Paris' is not an IANA time zone" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_on_an_unmigrated_database_says_to_upgrade(tmp_path: Path) -> None:
    config = tmp_path / "triage.yaml"
    config.write_text(yaml.safe_dump(team_config()), encoding="utf-8")
    env = {
        "TRIAGE_CONFIG": str(config),
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "DATABASE_URL": f"sqlite:///{tmp_path}/fresh.db",
    }
    result = triage("serve", env=env)
    assert result.returncode == 2
    assert "run `triage db upgrade` first" in result.stderr
    assert "Traceback" not in result.stderr
    upgraded = triage("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "empty -> " in upgraded.stdout


def test_config_check_prints_what_it_understood(tmp_path: Path) -> None:
    result = triage("config", "check", str(ROOT / "triage.example.yaml"))
    assert result.returncode == 0, result.stderr
    assert "triage channel:  C0TRIAGE" in result.stdout
    assert "business hours:  Mon-Fri 09:00-18:00" in result.stdout
    assert "deadline:        P2D" in result.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(team_config(language="de", managers=["bob"])), encoding="utf-8")
    result = triage("config", "check", str(bad))
    assert result.returncode == 2
    assert "2 problem(s)" in result.stderr
    assert "language: 'de' is not supported" in result.stderr
    assert "managers: 'bob' is not a Slack user id" in result.stderr


def test_sandbox_shows_the_product_working() -> None:
    result = triage("sandbox")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "churn-triage" in out and "survey-intake" in out
    assert "Case #1" in out and "Case #2" in out and "Case #3" in out
    assert "Case #4" not in out  # the two surveys of the same churn share one case
    assert "Claimed by @camille" in out
