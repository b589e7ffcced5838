"""Who may do what: managers are user ids or user groups (members looked up, cached)."""

from __future__ import annotations

import logging
import threading
import time

from bot.runtime.settings import TeamConfig
from bot.slack.gateway import SlackDeliveryError, SlackGateway

log = logging.getLogger(__name__)

CACHE_SECONDS = 300


def manager_mentions(team: TeamConfig) -> str:
    """The managers as Slack mentions (people and user groups), to say who can do something."""
    mentions = [f"<@{m}>" if m.startswith(("U", "W")) else f"<!subteam^{m}>" for m in team.managers]
    return ", ".join(mentions) or "-"


class Managers:
    """Answers "is this user a manager?" from the config, expanding user groups through Slack."""

    def __init__(self, team: TeamConfig, gateway: SlackGateway) -> None:
        self._ids = {m for m in team.managers if m.startswith(("U", "W"))}
        self._groups = [m for m in team.managers if m.startswith("S")]
        self._gateway = gateway
        self._members: set[str] = set()
        self._fetched = 0.0
        self._lock = threading.Lock()

    def __call__(self, user_id: str) -> bool:
        if user_id in self._ids:
            return True
        return user_id in self._group_members()

    def user_ids(self) -> set[str]:
        """Every manager's user id (for notifications)."""
        return self._ids | self._group_members()

    def _group_members(self) -> set[str]:
        if not self._groups:
            return set()
        with self._lock:
            if time.monotonic() - self._fetched < CACHE_SECONDS and self._fetched:
                return self._members
            members: set[str] = set()
            try:
                for group in self._groups:
                    members |= self._gateway.usergroup_members(group)
            except SlackDeliveryError as exc:
                # Keep the last known members rather than locking managers out during an outage.
                log.warning("could not refresh manager groups: %s", exc)
                return self._members
            self._members, self._fetched = members, time.monotonic()
            return members
