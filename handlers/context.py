"""A Bolt middleware that puts the runtime, the acting person and the case into every listener's
context, and refuses a payload the bot did not write before any listener runs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse

from bot.cases.actions import Actor
from bot.cases.triage_command import command_from_state
from bot.cases.views import LIST_MORE_ACTION
from bot.runtime.runtime import Runtime
from bot.slack.i18n import t
from handlers import requests
from handlers.requests import PayloadError

log = logging.getLogger("handlers")


def runtime_of(context: BoltContext) -> Runtime:
    """The process's runtime, as the middleware put it."""
    rt: Runtime = context["rt"]
    return rt


def actor_of(context: BoltContext) -> Actor:
    """The person acting, with what the team config and permissions allow them."""
    actor: Actor = context["actor"]
    return actor


def case_of(context: BoltContext) -> int:
    """The case a card button or a case form is about."""
    case_id: int = context["case_id"]
    return case_id


def refuse(rt: Runtime, body: dict[str, Any], text: str) -> None:
    """A private note to the person: a refusal changed nothing, so nothing is recorded."""
    user = requests.user_id(body)
    if user:
        rt.notes.send(requests.channel_id(body) or user, user, text)


def install(
    app: App, rt: Runtime, *, case_buttons: frozenset[str], case_views: frozenset[str]
) -> None:
    """Attach the middleware; `case_buttons` carry a case id as value, `case_views` in metadata."""

    def attach_context(
        body: dict[str, Any], context: BoltContext, next: Callable[[], None]
    ) -> BoltResponse | None:
        # Another workspace or Enterprise org: refused before anything is read or answered (a
        # note would go to a stranger); on every event, command and interaction, HTTP or
        # Socket Mode.
        foreign = requests.foreign_installation(body, rt.bot.team_id, rt.bot.enterprise_id)
        if foreign:
            kind = body.get("type") or ("command" if body.get("command") else "Slack")
            log.warning("refused a %s request from another installation: %s", kind, foreign)
            return BoltResponse(status=200, body="")
        context["rt"] = rt
        try:
            requests.check_event(body)
        except PayloadError as exc:
            log.warning("refused an event: %s", exc)
            return BoltResponse(status=200, body="")  # acked: Slack would only retry it
        user = requests.user_id(body)
        if user:
            context["actor"] = rt.actor(user)
        try:
            requests.check_view_state(body)
            case_id = _case_id(body, case_buttons, case_views)
        except PayloadError as exc:
            log.warning("refused a %s payload: %s", body.get("type") or "Slack", exc)
            refuse(rt, body, t(rt.settings.team.language, "payload_refused"))
            return BoltResponse(status=200, body="")
        if case_id is not None:
            context["case_id"] = case_id
        next()
        return None

    app.middleware(attach_context)


def _case_id(
    body: dict[str, Any], case_buttons: frozenset[str], case_views: frozenset[str]
) -> int | None:
    kind = body.get("type")
    if kind == "block_actions":
        action = requests.action_of(body)
        if action.get("action_id") in case_buttons:
            return requests.button_row_id(body, "case button")
        if action.get("action_id") == LIST_MORE_ACTION:
            try:
                command_from_state(str(action.get("value") or ""))
            except ValueError as exc:
                raise PayloadError(str(exc)) from None
    elif kind == "view_submission":
        view = body.get("view")
        if isinstance(view, dict) and view.get("callback_id") in case_views:
            return requests.view_case_id(view)
    return None
