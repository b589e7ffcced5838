"""The one settings object: environment variables plus the team's YAML file, validated at start."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from bot.business_time import BusinessHours
from bot.durations import Duration, parse_duration

SUPPORTED_LANGUAGES = ("en", "fr")
DEFAULT_DATABASE_URL = "sqlite:///triage.db"
DEFAULT_CONFIG_PATH = "triage.yaml"


class ConfigError(Exception):
    """A setting is missing or wrong; the message names it and says what to do."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems[0] if problems else "invalid configuration")
        self.problems = problems


def _duration(value: object) -> Duration:
    if isinstance(value, Duration):
        return value
    return parse_duration(value)


DurationField = Annotated[Duration, BeforeValidator(_duration)]
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_PRINCIPAL_ID = re.compile(r"^[USW][A-Z0-9]{2,}$")


class Channels(BaseModel):
    """Slack channel ids the bot works in."""

    model_config = ConfigDict(extra="forbid")
    intake: str
    triage: str

    @field_validator("intake", "triage")
    @classmethod
    def _channel_id(cls, value: str) -> str:
        if not _CHANNEL_ID.match(value):
            raise ValueError(f"{value!r} is not a Slack channel id (like C0123ABCD)")
        return value


class Policy(BaseModel):
    """Deadlines and reminders."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    deadline: DurationField = Field(default_factory=lambda: parse_duration("P2D"))
    reminders: list[float] = Field(default_factory=lambda: [0.5, 0.8])
    final_warning: DurationField = Field(default_factory=lambda: parse_duration("PT1H"))
    auto_close: bool = True

    @field_validator("reminders")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        for fraction in value:
            if not 0 < fraction < 1:
                raise ValueError(f"{fraction} is not a fraction of the deadline between 0 and 1")
        return sorted(set(value))


class ModelPrice(BaseModel):
    """What one model costs, in US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid")
    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)


class ClassificationConfig(BaseModel):
    """How verdicts are classified."""

    model_config = ConfigDict(extra="forbid")
    review_threshold: float = Field(default=0.45, ge=0, le=1)
    llm_timeout_seconds: float = Field(default=20, gt=0)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    max_concurrency: int = Field(default=4, ge=1, le=64)
    prices: dict[str, ModelPrice] = Field(default_factory=dict)


class FatigueConfig(BaseModel):
    """When a customer has been surveyed or contacted too often."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    window: DurationField = Field(default_factory=lambda: parse_duration("P90D"))
    threshold: int = Field(default=2, ge=1)  # more surveys and contacts than this: flagged


class TeamConfig(BaseModel):
    """The team's YAML file (`TRIAGE_CONFIG`)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    language: str = "en"
    timezone: str = "UTC"
    channels: Channels
    managers: list[str] = Field(default_factory=list)
    subscriber_only_channels: list[str] = Field(default_factory=list)
    business_hours: str = "always"
    default_country: str = "FR"
    policy: Policy = Field(default_factory=Policy)
    classification: ClassificationConfig = Field(default_factory=ClassificationConfig)
    fatigue: FatigueConfig = Field(default_factory=FatigueConfig)

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in SUPPORTED_LANGUAGES:
            raise ValueError(
                f"{value!r} is not supported; use one of {', '.join(SUPPORTED_LANGUAGES)}"
            )
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (like Europe/Paris)") from None
        return value

    @field_validator("managers")
    @classmethod
    def _managers(cls, value: list[str]) -> list[str]:
        for item in value:
            if not _PRINCIPAL_ID.match(item):
                raise ValueError(f"{item!r} is not a Slack user id (U...) or user group id (S...)")
        return value

    @field_validator("subscriber_only_channels", mode="before")
    @classmethod
    def _as_strings(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [str(item) for item in value]
        return value

    @field_validator("default_country")
    @classmethod
    def _country(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{2}", value):
            raise ValueError(f"{value!r} is not a two-letter country code (like FR)")
        return value

    @field_validator("business_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        BusinessHours.parse(value, ZoneInfo("UTC"))
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def hours(self) -> BusinessHours:
        return BusinessHours.parse(self.business_hours, self.tz)


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _pretty(error: dict[str, Any]) -> str:
    msg = str(error["msg"])
    msg = msg.removeprefix("Value error, ")
    if error["type"] == "missing":
        msg = "is required"
    elif error["type"] == "extra_forbidden":
        msg = "is not a known setting (check the spelling)"
    return f"{_loc(tuple(error['loc']))}: {msg}"


def load_team_config(path: str | Path) -> TeamConfig:
    """Read and validate the YAML file; raise ConfigError whose lines name each bad field."""
    file = Path(path)
    label = str(path)
    if not file.is_file():
        raise ConfigError([f"TRIAGE_CONFIG: file {label} not found (copy triage.example.yaml)"])
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError([f"{label}: invalid YAML{where}: {problem}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError([f"{label}: expected a mapping of settings at the top level"])
    try:
        return TeamConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([f"{label}: {_pretty(dict(e))}" for e in exc.errors()]) from None


@dataclass(frozen=True)
class Settings:
    """Everything the process needs: environment variables and the team config."""

    slack_bot_token: str | None
    slack_signing_secret: str | None
    slack_app_token: str | None
    slack_api_url: str | None
    database_url: str
    openai_api_key: str | None
    openai_base_url: str | None
    openai_model: str
    config_path: str
    webhook_secret: str | None
    port: int
    team: TeamConfig

    def require_slack(self) -> None:
        """Check the Slack settings `serve` needs; raise ConfigError naming the first bad one."""
        problems: list[str] = []
        if not self.slack_bot_token:
            problems.append(
                "SLACK_BOT_TOKEN: not set (the bot token, xoxb-..., from the app's OAuth page)"
            )
        elif not self.slack_bot_token.startswith("xoxb-"):
            problems.append(
                "SLACK_BOT_TOKEN: must start with xoxb- (a bot token, not a user token)"
            )
        if not self.slack_signing_secret and not self.slack_app_token:
            problems.append("SLACK_SIGNING_SECRET: not set (Basic Information > Signing Secret)")
        if problems:
            raise ConfigError(problems)


def normalise_database_url(url: str) -> str:
    """Use the psycopg 3 driver for PostgreSQL URLs written the usual way."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Read the environment and the team config; raise ConfigError naming what is wrong."""
    source = dict(os.environ if env is None else env)

    def get(name: str) -> str | None:
        value = source.get(name, "").strip()
        return value or None

    problems: list[str] = []
    app_token = get("SLACK_APP_TOKEN")
    if app_token and not app_token.startswith("xapp-"):
        problems.append(
            "SLACK_APP_TOKEN: must start with xapp- (an app-level token with connections:write)"
        )
    api_url = get("SLACK_API_URL")
    if api_url:
        if not re.match(r"^https?://[^/\s]+", api_url):
            problems.append(f"SLACK_API_URL: {api_url!r} is not an http(s) URL")
        elif not api_url.endswith("/"):
            api_url += "/"
    database_url = normalise_database_url(get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", database_url):
        problems.append("DATABASE_URL: use sqlite:///path.db or postgresql://user@host/db")
    port_text = get("PORT") or "3000"
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else 0
    if not port:
        problems.append(f"PORT: {port_text!r} is not a TCP port number")
    base_url = get("OPENAI_BASE_URL")
    if base_url and not re.match(r"^https?://", base_url):
        problems.append(f"OPENAI_BASE_URL: {base_url!r} is not an http(s) URL")
    config_path = get("TRIAGE_CONFIG") or DEFAULT_CONFIG_PATH
    team: TeamConfig | None = None
    try:
        team = load_team_config(config_path)
    except ConfigError as exc:
        problems.extend(exc.problems)
    if problems or team is None:
        raise ConfigError(problems)
    return Settings(
        slack_bot_token=get("SLACK_BOT_TOKEN"),
        slack_signing_secret=get("SLACK_SIGNING_SECRET"),
        slack_app_token=app_token,
        slack_api_url=api_url,
        database_url=database_url,
        openai_api_key=get("OPENAI_API_KEY"),
        openai_base_url=base_url,
        openai_model=get("OPENAI_MODEL") or "gpt-4o-mini",
        config_path=config_path,
        webhook_secret=get("WEBHOOK_SECRET"),
        port=port,
        team=team,
    )
