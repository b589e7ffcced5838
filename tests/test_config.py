"""Config errors name the field and say what is wrong; the minimal example works as written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import ConfigError, load_settings, load_team_config
from tests.conftest import team_config

EXAMPLE = Path(__file__).resolve().parent.parent / "triage.example.yaml"


def _write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "triage.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def test_the_design_example_works_as_written() -> None:
    team = load_team_config(EXAMPLE)
    assert team.language == "en"
    assert team.channels.intake == "C0INTAKE" and team.channels.triage == "C0TRIAGE"
    assert team.subscriber_only_channels == ["614"]
    assert team.policy.deadline.days == 2
    assert team.policy.final_warning.seconds == 3600
    assert team.policy.reminders == [0.5, 0.8]
    assert team.hours.text == "Mon-Fri 09:00-18:00"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"language": "de"}, "language: 'de' is not supported"),
        ({"timezone": "Mars/Olympus"}, "timezone: 'Mars/Olympus' is not an IANA time zone"),
        (
            {"channels": {"intake": "intake", "triage": "C0TRIAGE"}},
            "channels.intake: 'intake' is not a Slack channel id",
        ),
        ({"channels": {"intake": "C0INTAKE"}}, "channels.triage: is required"),
        ({"managers": ["sam"]}, "managers: 'sam' is not a Slack user id"),
        ({"business_hours": "weekdays"}, "business_hours: invalid business hours 'weekdays'"),
        (
            {"business_hours": "Mon-Fri 18:00-09:00"},
            "business_hours: business hours 'Mon-Fri 18:00-09:00' close before they open",
        ),
        ({"policy": {"deadline": "two days"}}, "policy.deadline: invalid duration 'two days'"),
        ({"policy": {"deadline": "PT0S"}}, "policy.deadline: duration must be positive"),
        (
            {"policy": {"reminders": [0.5, 1.5]}},
            "policy.reminders: 1.5 is not a fraction of the deadline",
        ),
        ({"policy": {"auto_close": "maybe"}}, "policy.auto_close: Input should be a valid boolean"),
        ({"polcy": {}}, "polcy: is not a known setting"),
    ],
)
def test_each_invalid_field_is_named(tmp_path: Path, change: dict[str, Any], expected: str) -> None:
    path = _write(tmp_path, team_config(**change))
    with pytest.raises(ConfigError) as caught:
        load_team_config(path)
    assert any(expected in p for p in caught.value.problems), caught.value.problems
    assert all("\n" not in p for p in caught.value.problems)
    assert str(path) in caught.value.problems[0]


def test_yaml_syntax_error_gives_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "language: en\nchannels: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML at line"):
        load_team_config(path)


def test_missing_file_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"TRIAGE_CONFIG: file .* not found"):
        load_team_config(tmp_path / "nope.yaml")


def test_durations_accept_iso_and_seconds(tmp_path: Path) -> None:
    path = _write(tmp_path, team_config(policy={"deadline": 90, "final_warning": "PT30S"}))
    team = load_team_config(path)
    assert team.policy.deadline.total.total_seconds() == 90
    assert team.policy.final_warning.total.total_seconds() == 30


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SLACK_APP_TOKEN": "xoxb-wrong"}, "SLACK_APP_TOKEN: must start with xapp-"),
        (
            {"SLACK_API_URL": "localhost:9000"},
            "SLACK_API_URL: 'localhost:9000' is not an http(s) URL",
        ),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL: use sqlite:///path.db or postgresql://"),
        ({"PORT": "eighty"}, "PORT: 'eighty' is not a TCP port number"),
        ({"OPENAI_BASE_URL": "ftp://x"}, "OPENAI_BASE_URL: 'ftp://x' is not an http(s) URL"),
    ],
)
def test_environment_errors_are_named(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    path = _write(tmp_path, team_config())
    with pytest.raises(ConfigError) as caught:
        load_settings({"TRIAGE_CONFIG": str(path), **env})
    assert any(expected in p for p in caught.value.problems), caught.value.problems


def test_serve_needs_slack_credentials(tmp_path: Path) -> None:
    path = _write(tmp_path, team_config())
    settings = load_settings({"TRIAGE_CONFIG": str(path)})
    with pytest.raises(ConfigError, match="SLACK_BOT_TOKEN: not set"):
        settings.require_slack()
    settings = load_settings({"TRIAGE_CONFIG": str(path), "SLACK_BOT_TOKEN": "xoxp-user"})
    with pytest.raises(ConfigError, match="must start with xoxb-"):
        settings.require_slack()


def test_postgres_urls_use_psycopg(tmp_path: Path) -> None:
    path = _write(tmp_path, team_config())
    settings = load_settings({"TRIAGE_CONFIG": str(path), "DATABASE_URL": "postgres://u@h/db"})
    assert settings.database_url == "postgresql+psycopg://u@h/db"
