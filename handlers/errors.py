"""What people and operators see when a listener fails."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App

from bot.runtime.runtime import Runtime
from bot.slack.i18n import t

log = logging.getLogger("handlers")


def register(app: App, rt: Runtime) -> None:
    """Log the cause for operators; tell the person politely, never with a stack trace."""

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        kind = body.get("type") or body.get("command") or "request"
        log.error(
            "listener failed on %s: %s: %s", kind, type(error).__name__, error, exc_info=error
        )
        user = (body.get("user") or {}).get("id") or body.get("user_id")
        channel = (body.get("channel") or {}).get("id") or body.get("channel_id")
        if user and channel:
            rt.notes.send(channel, user, t(rt.settings.team.language, "oops"))
