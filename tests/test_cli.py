"""The `triage` command as an operator runs it: clear one-line errors, helpful --help."""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from apscheduler.schedulers.background import BackgroundScheduler

from bot.runtime.app import create_bolt_app
from bot.runtime.jobs import add_recurring
from tests.conftest import BOT_TOKEN, Harness, team_config
from tests.support import ROOT, bot_command, bot_env, free_port, wait_until


def triage(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        bot_command(*args),
        capture_output=True,
        text=True,
        env=bot_env(**(env or {})),
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


def test_unreachable_postgresql_is_named_in_one_line_without_the_password(
    tmp_path: Path,
) -> None:
    config = tmp_path / "triage.yaml"
    config.write_text(yaml.safe_dump(team_config()), encoding="utf-8")
    port = free_port()  # nothing listens there
    env = {
        "TRIAGE_CONFIG": str(config),
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "DATABASE_URL": f"postgresql://triage:s3cret-pw@127.0.0.1:{port}/triage",
    }
    expected = (
        f"triage: DATABASE_URL: cannot connect to PostgreSQL at 127.0.0.1:{port} "
        "(connection refused). Is the server running, and does DATABASE_URL point to it?"
    )
    for command in (["serve"], ["worker"], ["db", "upgrade"]):
        result = triage(*command, env=env)
        assert result.returncode == 2, command
        assert result.stderr.strip().splitlines() == [expected], command
        assert "s3cret-pw" not in result.stderr + result.stdout


def test_a_sqlite_path_in_a_missing_folder_is_refused_and_nothing_created(
    tmp_path: Path,
) -> None:
    config = tmp_path / "triage.yaml"
    config.write_text(yaml.safe_dump(team_config()), encoding="utf-8")
    verdicts = tmp_path / "verdicts.csv"
    verdicts.write_text("text\nThe bill doubled\n", encoding="utf-8")
    env = {
        "TRIAGE_CONFIG": str(config),
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "DATABASE_URL": f"sqlite:///{tmp_path}/data/triage.db",
    }
    expected = (
        f"triage: DATABASE_URL: the folder {tmp_path}/data/ of the SQLite database does not "
        f"exist (nothing was created): create it (mkdir -p {tmp_path}/data) or fix the path in "
        "DATABASE_URL"
    )
    for command in (["serve"], ["worker"], ["import", str(verdicts)], ["db", "upgrade"]):
        result = triage(*command, env=env)
        assert result.returncode == 2, command
        assert result.stderr.strip().splitlines() == [expected], command
        assert not (tmp_path / "data").exists(), command
    assert "creates the database file when there is none, but not a missing folder" in " ".join(
        triage("db", "upgrade", "--help").stdout.split()
    )
    # The folder made, serve still creates nothing: the database is `db upgrade`'s to create.
    (tmp_path / "data").mkdir()
    result = triage("serve", env=env)
    assert result.returncode == 2
    assert "no SQLite database at" in result.stderr and "run `triage db upgrade` first" in (
        result.stderr
    )
    assert list((tmp_path / "data").iterdir()) == []
    upgraded = triage("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (tmp_path / "data" / "triage.db").is_file()


def test_building_the_web_app_logs_no_unused_token_warning(
    bot: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As in production: the token is in the environment, where Bolt also looks for it.
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    with caplog.at_level(logging.DEBUG):
        create_bolt_app(bot.rt)
        logging.getLogger("slack_bolt.App").warning("any other warning")  # still shown
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("slack_bolt")]
    assert messages == ["any other warning"]


def test_a_sweep_longer_than_the_interval_is_not_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    running, overlaps, runs = threading.Lock(), [], []

    def slow_sweep() -> None:
        if not running.acquire(blocking=False):
            overlaps.append(1)
            return
        runs.append(1)
        time.sleep(0.35)
        running.release()

    scheduler = BackgroundScheduler(timezone="UTC")
    add_recurring(scheduler, "sweep", slow_sweep, seconds=0.1, first=datetime.now(UTC))
    with caplog.at_level(logging.DEBUG):
        scheduler.start()
        try:
            assert wait_until(lambda: len(runs) >= 3, timeout=10)
        finally:
            scheduler.shutdown(wait=True)
    assert overlaps == []  # one run at a time
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert loud == [], [r.getMessage() for r in loud]
    skipped = [r for r in caplog.records if "previous run is still going" in r.getMessage()]
    assert skipped and all(r.levelno == logging.DEBUG for r in skipped)
