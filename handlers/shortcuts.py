"""The "Send to triage" message shortcut and its form."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.intake import shortcut
from bot.intake.shortcut_view import SEND_TO_TRIAGE_VIEW
from bot.runtime.runtime import Runtime
from bot.slack.gateway import SlackDeliveryError
from bot.slack.i18n import t

CALLBACK_ID = "send_to_triage"


def register(app: App, rt: Runtime) -> None:
    """Attach the shortcut and view listeners."""

    @app.shortcut(CALLBACK_ID)
    def on_send_to_triage(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        team = rt.settings.team
        user = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id", "")
        opened = shortcut.open_form(rt.factory, body, team, rt.clock)
        if opened.view is None:
            rt.notes.send(channel, user, opened.message or "")
            return
        try:
            rt.gateway.open_view(body["trigger_id"], opened.view)
        except SlackDeliveryError:
            rt.notes.send(channel, user, t(team.language, "shortcut_failed"))

    @app.view(SEND_TO_TRIAGE_VIEW)
    def on_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        errors = shortcut.submit(
            rt.factory, rt.classifier, rt.settings.team, rt.clock, view, body["user"]["id"]
        )
        if errors:
            ack(response_action="errors", errors=errors)
            return
        ack()
        rt.worker.kick()
