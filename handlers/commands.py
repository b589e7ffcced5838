"""The /triage slash command."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.app import Runtime
from bot.commands import usage


def register(app: App, rt: Runtime) -> None:
    """Attach the slash command listener."""

    @app.command("/triage")
    def on_triage(ack: Ack, command: dict[str, Any]) -> None:
        # Slack shows the ack's text to the caller only (an ephemeral answer).
        ack(text=usage(rt.settings.team.language, command.get("text", "")))
