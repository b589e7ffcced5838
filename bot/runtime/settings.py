"""The one settings object: environment variables plus the team's YAML file, validated at start."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.cases.business_time import BusinessHours, HolidayCalendar
from bot.classification.brand import ClassifierTeamSettings
from bot.intake.connectors.config import Connectors, env_names
from bot.runtime.classification_settings import ClassificationConfig
from bot.runtime.classification_settings import ModelPrice as ModelPrice  # re-exported
from bot.runtime.cron import CronError, cron_trigger
from bot.runtime.durations import Duration, parse_duration
from bot.runtime.intake_settings import ConsentConfig, IntakeConfig

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
    managers: str | None = None  # optional: where escalations and expiries are announced

    @field_validator("intake", "triage", "managers")
    @classmethod
    def _channel_id(cls, value: str | None) -> str | None:
        if value is not None and not _CHANNEL_ID.match(value):
            raise ValueError(f"{value!r} is not a Slack channel id (like C0123ABCD)")
        return value


SEVERITIES = ("low", "medium", "high")
ESCALATION_TRIGGERS = ("unclaimed", "no_action")
NOTIFY_TARGETS = ("managers", "managers_channel")
Notify = Literal["managers", "managers_channel"]


def _fraction(value: float) -> float:
    if not 0 < value < 1:
        raise ValueError(f"{value} is not a fraction of the deadline between 0 and 1")
    return value


class EscalationRule(BaseModel):
    """One escalation: what fires it, when, and whom it tells."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    # unclaimed: nobody owns the case; no_action: nobody has tried to reach the customer yet.
    when: Literal["unclaimed", "no_action"]
    after: DurationField | None = None  # business time since the case opened (or was released)
    at: float | None = None  # or: this fraction of the time to the deadline
    notify: list[Notify] = Field(default_factory=lambda: list[Notify](["managers"]))

    @field_validator("notify", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("at")
    @classmethod
    def _at(cls, value: float | None) -> float | None:
        return None if value is None else _fraction(value)

    @model_validator(mode="after")
    def _either_after_or_at(self) -> EscalationRule:
        if (self.after is None) == (self.at is None):
            raise ValueError(
                "give either `after` (a duration, like PT2H) or `at` (a fraction of the deadline, like 0.5)"
            )
        if not self.notify:
            raise ValueError("`notify` must name managers, managers_channel or both")
        return self


def _default_escalations() -> list[EscalationRule]:
    return [
        EscalationRule(when="unclaimed", at=0.25),
        EscalationRule(when="no_action", at=0.5),
    ]


class SnoozePolicy(BaseModel):
    """How long an agent may snooze a case; managers may go further when allowed."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    max: DurationField = Field(default_factory=lambda: parse_duration("P2D"))
    managers_may_extend: bool = True


class Policy(BaseModel):
    """Deadlines, reminders, the final warning, escalations, snooze limits and auto-close."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    deadline: DurationField = Field(default_factory=lambda: parse_duration("P2D"))
    deadline_by_severity: dict[str, DurationField] = Field(default_factory=dict)
    deadline_by_reason: dict[str, DurationField] = Field(default_factory=dict)
    reminders: list[float] = Field(default_factory=lambda: [0.5, 0.8])
    final_warning: DurationField = Field(default_factory=lambda: parse_duration("PT1H"))
    # false: the final warning is counted in business time and waits for opening hours like
    # every reminder; true: it comes exactly `final_warning` before the deadline, even at night.
    final_warning_outside_hours: bool = False
    escalations: list[EscalationRule] = Field(default_factory=_default_escalations)
    overdue_every: DurationField = Field(default_factory=lambda: parse_duration("P1D"))
    snooze: SnoozePolicy = Field(default_factory=SnoozePolicy)
    auto_close: bool = True

    @field_validator("reminders")
    @classmethod
    def _fractions(cls, value: list[float]) -> list[float]:
        for fraction in value:
            _fraction(fraction)
        return sorted(set(value))

    @field_validator("deadline_by_severity")
    @classmethod
    def _severities(cls, value: dict[str, Duration]) -> dict[str, Duration]:
        for severity in value:
            if severity not in SEVERITIES:
                raise ValueError(f"{severity!r} is not a severity (use {', '.join(SEVERITIES)})")
        return value

    def deadline_duration(self, severity: str | None = None, reason: str | None = None) -> Duration:
        """The case's time to act: its reason's deadline if set, else its severity's, else `deadline`."""
        if reason is not None and reason in self.deadline_by_reason:
            return self.deadline_by_reason[reason]
        if severity is not None and severity in self.deadline_by_severity:
            return self.deadline_by_severity[severity]
        return self.deadline

    @property
    def snooze_max(self) -> Duration:
        """The longest snooze a non-manager may set."""
        return self.snooze.max

    def snooze_limit(self, is_manager: bool) -> Duration | None:
        """The longest snooze this person may set; None when there is no limit (managers)."""
        if is_manager and self.snooze.managers_may_extend:
            return None
        return self.snooze.max


class FatigueConfig(BaseModel):
    """When a customer has been surveyed or contacted too often."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    window: DurationField = Field(default_factory=lambda: parse_duration("P90D"))
    threshold: int = Field(default=2, ge=1)  # more surveys and contacts than this: flagged


class ContactConfig(BaseModel):
    """How the team reaches customers: reasonable hours, and when to stop calling."""

    model_config = ConfigDict(extra="forbid")
    reasonable_hours: str = "09:00-20:00"  # in the customer's time zone (else the team's)
    written_followup_after: int = Field(default=2, ge=1)  # unanswered calls before writing instead
    mask_reference: bool = False  # show the customer reference masked on cards

    @field_validator("reasonable_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"{value!r} is not a daily window like 09:00-20:00")
        return value


class HolidaysConfig(BaseModel):
    """Days the team does not work besides weekends: public holidays and extra dates."""

    model_config = ConfigDict(extra="forbid")
    country: str | None = None  # ISO code for the `holidays` package: FR, US, DE...
    subdivision: str | None = None  # a region when holidays differ (US: NY; FR: 57 for Moselle)
    extra: list[date] = Field(default_factory=list)  # company days off, bridges

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            HolidayCalendar(value)
        except NotImplementedError:
            raise ValueError(
                f"{value!r} is not a country the holidays package knows (an ISO code like FR or US)"
            ) from None
        return value.upper()

    @field_validator("subdivision")
    @classmethod
    def _known_subdivision(cls, value: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("country")
        if value is None:
            return None
        if not country:
            raise ValueError("a subdivision needs a country")
        try:
            HolidayCalendar(country, value)
        except NotImplementedError:
            raise ValueError(f"{country} has no subdivision {value!r}") from None
        return value

    def key(self) -> tuple[Any, ...]:
        return (self.country, self.subdivision, tuple(sorted(self.extra)))

    def calendar(self) -> HolidayCalendar | None:
        """The closed days, or None when none are configured."""
        if not self.country and not self.extra:
            return None
        return HolidayCalendar(self.country, self.subdivision, self.extra)


DigestSection = Literal["reasons", "verbatims", "cases", "speed", "fatigue", "review", "chart"]
DIGEST_SECTIONS: tuple[DigestSection, ...] = (
    "reasons",
    "verbatims",
    "cases",
    "speed",
    "fatigue",
    "review",
    "chart",
)
_DIGEST_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class DigestConfig(BaseModel):
    """One scheduled digest: where it goes, when (cron in a time zone), over which period, and
    what it shows. Expired-without-action cases are always shown, whatever the sections."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    name: str
    channel: str
    schedule: str  # 5-field cron: minute hour day-of-month month day-of-week (0 or 7: Sunday)
    timezone: str | None = None  # the schedule's time zone; default: the team's
    period: Literal["day", "week"] = "week"
    sections: list[DigestSection] = Field(default_factory=lambda: list(DIGEST_SECTIONS))
    # A run missed while no process was up is posted on restart if this recent, else skipped.
    grace: DurationField = Field(default_factory=lambda: parse_duration("PT6H"))
    chart_periods: int = Field(default=8, ge=2, le=26)  # how many periods the chart shows

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _DIGEST_NAME.match(value):
            raise ValueError(f"{value!r} is not a digest name (lowercase letters, digits, - and _)")
        return value

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if not _CHANNEL_ID.match(value):
            raise ValueError(f"{value!r} is not a Slack channel id (like C0123ABCD)")
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        try:
            cron_trigger(value, ZoneInfo("UTC"))
        except CronError as exc:
            raise ValueError(str(exc)) from None
        return " ".join(value.split())

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (like Europe/Paris)") from None
        return value

    @field_validator("sections")
    @classmethod
    def _sections(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"list at least one section ({', '.join(DIGEST_SECTIONS)})")
        return list(dict.fromkeys(value))

    @field_validator("grace")
    @classmethod
    def _grace(cls, value: Duration) -> Duration:
        if value.total.total_seconds() <= 0:
            raise ValueError("the grace period must be longer than zero")
        return value


class SlackPaceConfig(BaseModel):
    """How fast the bot posts into one channel (Slack allows about one message a second)."""

    model_config = ConfigDict(extra="forbid")
    messages_per_second: float = Field(default=1.0, gt=0, le=100)
    burst: int = Field(default=3, ge=1, le=50)  # messages a quiet channel may take at once


class RetentionConfig(BaseModel):
    """How long verbatims and customers' personal data are kept (unset: kept until erased)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    verbatims: DurationField | None = None  # e.g. P365D; counts and reasons are always kept


class TeamConfig(ClassifierTeamSettings):
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
    contact: ContactConfig = Field(default_factory=ContactConfig)
    holidays: HolidaysConfig = Field(default_factory=lambda: HolidaysConfig())
    slack: SlackPaceConfig = Field(default_factory=SlackPaceConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    consent: ConsentConfig = Field(default_factory=ConsentConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    connectors: Connectors = Field(default_factory=dict)  # survey tools' webhooks (issue 20)
    digests: list[DigestConfig] = Field(default_factory=list)  # optional: scheduled digests
    _hours_cache: tuple[tuple[Any, ...], BusinessHours] | None = PrivateAttr(default=None)

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

    @field_validator("holidays", mode="before")
    @classmethod
    def _country_only(cls, value: Any) -> Any:
        return {"country": value} if isinstance(value, str) else value

    @field_validator("digests")
    @classmethod
    def _unique_digest_names(cls, value: list[DigestConfig]) -> list[DigestConfig]:
        seen: set[str] = set()
        for digest in value:
            if digest.name in seen:
                raise ValueError(f"two digests are named {digest.name!r}: names must differ")
            seen.add(digest.name)
        return value

    @model_validator(mode="after")
    def _managers_channel_given(self) -> TeamConfig:
        # Checked here because the rule and the channel live in different sections.
        for i, rule in enumerate(self.policy.escalations):
            if "managers_channel" in rule.notify and self.channels.managers is None:
                raise ValueError(
                    f"policy.escalations[{i}].notify: managers_channel needs channels.managers "
                    "(the managers' channel id)"
                )
        return self

    @property
    def hours(self) -> BusinessHours:
        """Business hours with the holidays; built once (the holiday tables are not free)."""
        key = (self.business_hours, self.timezone, self.holidays.key())
        cached = self._hours_cache
        if cached is None or cached[0] != key:
            cached = (
                key,
                BusinessHours.parse(self.business_hours, self.tz, self.holidays.calendar()),
            )
            self._hours_cache = cached
        return cached[1]


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
    where = _loc(tuple(error["loc"]))
    return f"{where}: {msg}" if where else msg  # checks across sections name the field themselves


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
    secrets: dict[str, str] = field(default_factory=dict)  # connectors' secret_env values

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
        secrets={n: v for n in env_names(team.connectors) if (v := get(n))},
    )


def _escalation_text(rule: EscalationRule) -> str:
    when = f"after {rule.after}" if rule.after is not None else f"at {round((rule.at or 0) * 100)}%"
    return f"{rule.when} {when} -> {' and '.join(rule.notify)}"


def _holidays_text(holidays: HolidaysConfig) -> str:
    parts = []
    if holidays.country:
        parts.append(
            f"{holidays.country}{f' ({holidays.subdivision})' if holidays.subdivision else ''}"
            " public holidays"
        )
    if holidays.extra:
        parts.append(", ".join(day.isoformat() for day in holidays.extra))
    return " + ".join(parts) or "(none)"


def describe(team: TeamConfig, now: datetime) -> str:
    """The team config as a person reads it back (`triage config check`, `/triage config`)."""
    due = team.hours.add(now, team.policy.deadline).astimezone(team.tz)
    lines = [
        f"language:        {team.language}",
        f"time zone:       {team.timezone}",
        f"intake channel:  {team.channels.intake}",
        f"triage channel:  {team.channels.triage}",
        f"managers:        {', '.join(team.managers) or '(none)'}",
        f"subscriber-only: {', '.join(team.subscriber_only_channels) or '(none)'}",
        f"business hours:  {team.hours.text}",
        f"deadline:        {team.policy.deadline} (a case opened now is due {due:%a %d %b %Y %H:%M %Z})",
        f"reminders at:    {', '.join(f'{int(f * 100)}%' for f in team.policy.reminders) or '(none)'} of the deadline",
        f"final warning:   {team.policy.final_warning} before the deadline"
        + (" (even outside hours)" if team.policy.final_warning_outside_hours else ""),
        f"escalations:     {'; '.join(_escalation_text(r) for r in team.policy.escalations) or '(none)'}",
        f"auto close:      {'yes, loudly' if team.policy.auto_close else f'no: overdue cases stay open, managers told every {team.policy.overdue_every}'}",
        f"holidays:        {_holidays_text(team.holidays)}",
        f"snooze:          at most {team.policy.snooze.max}"
        + (" (managers may snooze longer)" if team.policy.snooze.managers_may_extend else ""),
        f"contact:         reasonable hours {team.contact.reasonable_hours}; write after "
        f"{team.contact.written_followup_after} unanswered calls",
        f"survey fatigue:  more than {team.fatigue.threshold} surveys or contacts in {team.fatigue.window}",
    ]
    return "\n".join(lines)
