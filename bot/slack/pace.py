"""Slack's posting pace per channel, shared by every process through the database.

Slack allows about one chat.postMessage a second per channel, with short bursts, and answers
429 beyond. Each process asks `ChannelPace.take(channel)` before a post; the slot is claimed in
the channel's `slack_pace` row with a compare-and-set (GCRA), so two web and two worker
processes together keep the pace, not each on its own. A 429's Retry-After holds the channel
for everyone. Wall-clock time is used, as Slack counts it; the bot's own clock may be a test's.
"""

from __future__ import annotations

import time

from sqlalchemy.orm import Session, sessionmaker

import storage.outbox
from bot.runtime.settings import SlackPaceConfig
from bot.slack.gateway import SlackPaced
from storage.db import transaction


class ChannelPace:
    """Claims posting slots per channel (raising SlackPaced when the channel must wait)."""

    def __init__(self, factory: sessionmaker[Session], config: SlackPaceConfig) -> None:
        self.factory = factory
        self.interval = 1.0 / config.messages_per_second
        self.burst = config.burst

    def take(self, channel: str) -> None:
        """Claim a slot to post in `channel` now, or raise SlackPaced with the wait."""
        with transaction(self.factory) as session:
            wait = storage.outbox.take_pace(
                session, channel, time.time(), self.interval, self.burst
            )
        if wait > 0:
            raise SlackPaced(channel, wait)

    def hold(self, channel: str, seconds: float) -> None:
        """Nobody posts in `channel` for `seconds` (Slack answered 429 with Retry-After)."""
        with transaction(self.factory) as session:
            storage.outbox.hold_pace(
                session, channel, time.time() + seconds, self.interval, self.burst
            )
