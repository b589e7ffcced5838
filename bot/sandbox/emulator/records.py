"""What the emulator records: Web API calls, response_url posts, armed faults, trigger_ids."""

from __future__ import annotations

from dataclasses import dataclass, field

from .protocol import JsonDict


@dataclass
class ApiCall:
    """One Web API request the emulator received (the token is not kept in params)."""

    method: str
    params: JsonDict
    time: float
    faulted: bool = False
    status: int = 200
    response: JsonDict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether Slack would have answered ``ok: true``."""
        return bool(self.response.get("ok"))

    @property
    def error(self) -> str | None:
        """The ``error`` field of the answer, if any."""
        value = self.response.get("error")
        return str(value) if value is not None else None


@dataclass
class ResponsePost:
    """One JSON body POSTed to a response_url (as Bolt's ``respond()`` sends)."""

    id: str
    url: str
    channel: str | None
    user: str | None
    payload: JsonDict
    time: float


@dataclass
class Fault:
    """A failure inject_fault armed for the next ``remaining`` matching calls."""

    method: str | None
    status: int
    retry_after: int
    error: str | None
    remaining: int
    after_effect: bool = False


@dataclass
class Trigger:
    """A trigger_id the emulator issued: when, for which view, and whether it was used."""

    created: float
    view_id: str | None = None
    used: bool = False
