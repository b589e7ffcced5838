"""Row leases shortened for tests. A process holds the intake events, outbox rows and reminders
it claimed for a lease (each domain's own constant: a minute or two, far beyond one pass), then
another process may take them over. TRIAGE_LEASE_SECONDS, for tests only, replaces them all, so
a test that kills a process sees its rows taken over in seconds, not minutes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta

from bot.runtime.durations import parse_duration
from bot.runtime.settings import ConfigError

VARIABLE = "TRIAGE_LEASE_SECONDS"


def lease_override(env: Mapping[str, str] | None = None) -> timedelta | None:
    """The lease TRIAGE_LEASE_SECONDS asks for, or None (each domain's own); ConfigError if bad."""
    text = (os.environ if env is None else env).get(VARIABLE, "").strip()
    if not text:
        return None
    try:
        return parse_duration(text).total
    except ValueError as exc:
        raise ConfigError([f"{VARIABLE}: {exc}"]) from None
