"""Events API listeners: messages in the intake channel."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot import slack_intake
from bot.app import Runtime


def register(app: App, rt: Runtime) -> None:
    """Attach the event listeners."""

    @app.event("message")
    def on_message(body: dict[str, Any]) -> None:
        # Recorded before the ack (process_before_response): Slack's retries and a crash lose nothing.
        if slack_intake.record_event(rt.factory, body, rt.settings.team, rt.bot, rt.clock.now()):
            rt.worker.kick()
