"""Events API listeners: messages in the intake channel, and the App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.cases import actions as case_actions
from bot.intake import slack_messages as slack_intake
from bot.runtime.runtime import Runtime
from storage.db import transaction


def register(app: App, rt: Runtime) -> None:
    """Attach the event listeners."""

    @app.event("message")
    def on_message(body: dict[str, Any]) -> None:
        # Recorded before the ack (process_before_response): Slack's retries and a crash lose nothing.
        if slack_intake.record_event(rt.factory, body, rt.settings.team, rt.bot, rt.clock.now()):
            rt.worker.kick()

    @app.event("app_home_opened")
    def on_home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        with transaction(rt.factory) as session:
            case_actions.home_opened(session, str(event.get("user")), rt.clock.now())
        rt.worker.kick()
