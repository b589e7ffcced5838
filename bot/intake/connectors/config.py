"""The team config's `connectors:` section: which survey tools push verdicts, with what secret,
which source name their cards show, and how a question maps to a verdict field when its title
is not enough. Secrets never sit in the YAML: each connector names environment variables."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

TOOLS = ("typeform", "surveymonkey", "delighted")
# What a question, a hidden field or a mapped path can feed.
FieldName = Literal[
    "text",
    "customer",
    "email",
    "phone",
    "status",
    "churned_on",
    "consent",
    "score",
    "channel",
    "received_at",
    "id",
    "ignore",
]
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")


def _env_name(value: str | None) -> str | None:
    if value is not None and not _ENV_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not an environment variable name (e.g. TYPEFORM_SECRET)")
    return value


EnvName = Annotated[str | None, AfterValidator(_env_name)]


class MappedField(BaseModel):
    """One verdict field read from a mapped body: a dotted path, a default, a value map."""

    model_config = ConfigDict(extra="forbid")
    path: str | list[str] | None = None  # several paths (text): their values joined
    default: Any = None
    map: dict[str, Any] = Field(default_factory=dict)  # e.g. {"1": "yes", "2": "no"}


class ConnectorConfig(BaseModel):
    """One connector. `type` defaults to the key (`typeform`, `surveymonkey`, `delighted`)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["typeform", "surveymonkey", "delighted", "mapped"] | None = None
    secret_env: EnvName = None  # the signing secret (SurveyMonkey: the app's API secret)
    source: str | None = Field(default=None, max_length=255)  # shown on the card
    # question id, ref or title -> field, when the title alone is ambiguous
    pins: dict[str, FieldName] = Field(default_factory=dict)
    # SurveyMonkey: the first half of the signing key (client id or API key), the API's base
    # URL, and the variable holding the access token the bot fetches responses with.
    api_key: str | None = None
    api_url: str = "https://api.surveymonkey.com/v3"
    token_env: EnvName = None
    # Mapped: how the tool authenticates, and where each field is in its body.
    auth: Literal["hmac", "bearer"] = "hmac"
    signature_header: str = "X-Signature"
    fields: dict[FieldName, str | MappedField] = Field(default_factory=dict)
    by_title: bool = True  # other top-level keys are read as question titles

    @field_validator("api_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/")

    @property
    def kind(self) -> str:
        """The connector's tool (set by the team config's validator)."""
        return self.type or "mapped"

    def mapped(self, name: str) -> MappedField | None:
        """The mapping of one field, or None."""
        spec = self.fields.get(name)  # type: ignore[call-overload]
        if spec is None:
            return None
        return MappedField(path=spec) if isinstance(spec, str) else spec


def _check(connectors: dict[str, ConnectorConfig]) -> dict[str, ConnectorConfig]:
    for name, config in connectors.items():
        if not _NAME.fullmatch(name):
            raise ValueError(f"{name!r}: use lowercase letters, digits, - and _ (it is in the URL)")
        if config.type is None:
            if name not in TOOLS:
                raise ValueError(f"{name}: set `type: mapped` (or name it {', '.join(TOOLS)})")
            config.type = name  # type: ignore[assignment]
        if config.type != "mapped" and config.type != name:
            raise ValueError(f"{name}: a {config.type} connector must be named {config.type}")
        if config.type == "mapped" and name in TOOLS:
            raise ValueError(f"{name}: that name is the {name} connector's; choose another")
        if config.type == "mapped" and not (config.fields or config.by_title):
            raise ValueError(f"{name}: give `fields` or leave `by_title` on")
        if config.type == "surveymonkey" and not config.api_key:
            raise ValueError(f"{name}: api_key (the app's client id or API key) is required")
    return connectors


Connectors = Annotated[dict[str, ConnectorConfig], AfterValidator(_check)]


def env_names(connectors: dict[str, ConnectorConfig]) -> set[str]:
    """Every environment variable the connectors read their secrets from."""
    return {n for c in connectors.values() for n in (c.secret_env, c.token_env) if n}


def url_path(name: str, config: ConnectorConfig) -> str:
    """The path a tool posts to."""
    return f"/webhooks/mapped/{name}" if config.kind == "mapped" else f"/webhooks/{name}"


def describe(connectors: dict[str, ConnectorConfig], secrets: dict[str, str]) -> list[str]:
    """One line per connector for `triage config check`: its URL, source and secret."""
    lines = []
    for name, config in sorted(connectors.items()):
        wanted = [n for n in (config.secret_env, config.token_env) if n]
        missing = [n for n in wanted if n not in secrets]
        state = (
            "secret not configured (set secret_env)"
            if not config.secret_env
            else (f"{', '.join(missing)} not set" if missing else "secret set")
        )
        lines.append(
            f"  {name:<14} POST {url_path(name, config):<32} source {config.source or name!r}; {state}"
        )
    return lines
