"""Buttons on case cards."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot import cases
from bot.app import Runtime
from bot.render import CLAIM_ACTION
from storage.db import transaction


def register(app: App, rt: Runtime) -> None:
    """Attach the block action listeners."""

    @app.action(CLAIM_ACTION)
    def on_claim(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        case_id = int(action.get("value") or 0)
        user_id = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id") or rt.settings.team.channels.triage
        with transaction(rt.factory) as session:
            cases.claim_by_click(
                session, case_id, user_id, channel, rt.settings.team, rt.clock.now()
            )
        rt.worker.kick()
