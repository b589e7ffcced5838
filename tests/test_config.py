"""Config errors name the field and say what is wrong; the minimal example works as written."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.runtime.leases import lease_override
from bot.runtime.settings import ConfigError, load_settings, load_team_config
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


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"holidays": "XX"}, "holidays.country: 'XX' is not a country the holidays package knows"),
        (
            {"holidays": {"country": "FR", "subdivision": "ZZ"}},
            "holidays.subdivision: FR has no subdivision 'ZZ'",
        ),
        ({"holidays": {"extra": ["someday"]}}, "holidays.extra[0]: Input should be a valid date"),
        (
            {"policy": {"deadline_by_severity": {"urgent": "P1D"}}},
            "policy.deadline_by_severity: 'urgent' is not a severity (use low, medium, high)",
        ),
        (
            {"policy": {"escalations": [{"when": "unclaimed"}]}},
            "policy.escalations[0]: give either `after` (a duration, like PT2H) or `at`",
        ),
        (
            {"policy": {"escalations": [{"when": "late", "at": 0.5}]}},
            "policy.escalations[0].when: Input should be 'unclaimed' or 'no_action'",
        ),
        (
            {"policy": {"escalations": [{"when": "no_action", "at": 0.5, "notify": "ceo"}]}},
            "policy.escalations[0].notify[0]: Input should be 'managers' or 'managers_channel'",
        ),
        (
            {"policy": {"escalations": [{"when": "no_action", "at": 2}]}},
            "policy.escalations[0].at: 2.0 is not a fraction of the deadline",
        ),
        (
            {
                "policy": {
                    "escalations": [{"when": "no_action", "at": 0.5, "notify": "managers_channel"}]
                }
            },
            "policy.escalations[0].notify: managers_channel needs channels.managers",
        ),
        ({"policy": {"snooze": {"max": "soon"}}}, "policy.snooze.max: invalid duration 'soon'"),
        ({"policy": {"overdue_every": 0}}, "policy.overdue_every: duration must be positive"),
    ],
)
def test_each_invalid_policy_field_is_named(
    tmp_path: Path, change: dict[str, Any], expected: str
) -> None:
    path = _write(tmp_path, team_config(**change))
    with pytest.raises(ConfigError) as caught:
        load_team_config(path)
    assert any(expected in p for p in caught.value.problems), caught.value.problems
    assert all("\n" not in p for p in caught.value.problems)


def test_the_full_policy_is_understood(tmp_path: Path) -> None:
    config = team_config(
        channels={"intake": "C0INTAKE", "triage": "C0TRIAGE", "managers": "C0MANAGERS"},
        holidays={"country": "us", "subdivision": "NY", "extra": ["2026-12-24"]},
        policy={
            "deadline": "P2D",
            "deadline_by_severity": {"high": "PT8H"},
            "deadline_by_reason": {"billing": "P1D"},
            "reminders": [0.8, 0.5],
            "final_warning": "PT1H",
            "final_warning_outside_hours": True,
            "escalations": [
                {"when": "unclaimed", "after": "PT2H", "notify": "managers"},
                {"when": "no_action", "at": 0.5, "notify": ["managers", "managers_channel"]},
            ],
            "overdue_every": "P1D",
            "snooze": {"max": "PT4H", "managers_may_extend": False},
            "auto_close": False,
        },
    )
    team = load_team_config(_write(tmp_path, config))
    policy = team.policy
    assert team.holidays.country == "US" and team.hours.holidays is not None
    assert policy.reminders == [0.5, 0.8]
    assert str(policy.deadline_duration("high")) == "PT8H"
    assert str(policy.deadline_duration("high", "billing")) == "P1D"
    assert str(policy.deadline_duration("low")) == "P2D"
    assert policy.escalations[1].notify == ["managers", "managers_channel"]
    assert policy.snooze_limit(is_manager=True) == policy.snooze.max  # may not extend
    assert policy.snooze_max.seconds == 4 * 3600


def test_the_lease_for_tests_is_off_unless_set_and_a_bad_one_is_named() -> None:
    assert lease_override({}) is None  # production: each domain's own lease
    assert lease_override({"TRIAGE_LEASE_SECONDS": "5"}) == timedelta(seconds=5)
    with pytest.raises(ConfigError, match=r"^TRIAGE_LEASE_SECONDS: invalid duration 'soon'"):
        lease_override({"TRIAGE_LEASE_SECONDS": "soon"})
