"""Buttons and forms on case cards: thin wrappers that call the case services."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from bot import case_actions, cases, classification, render
from bot.app import Runtime
from bot.cases import ActionResult
from bot.durations import parse_duration
from bot.forms import form_values
from bot.i18n import t
from bot.slack_gateway import SlackDeliveryError
from storage.db import transaction


def _case_id(view: dict[str, Any]) -> int:
    try:
        return int(json.loads(view.get("private_metadata") or "{}").get("case", 0))
    except (TypeError, ValueError):
        return 0


def _channel_of(body: dict[str, Any]) -> str | None:
    """The channel of the message a click was on."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    return str(channel) if channel else None


def _refuse(rt: Runtime, body: dict[str, Any], text: str) -> None:
    # A refusal changed nothing: a private note after the ack, nothing recorded.
    rt.notes.send(_channel_of(body) or body["user"]["id"], body["user"]["id"], text)


def register_claim(app: App, rt: Runtime) -> None:
    """Attach the card's Claim button: the most frequent click, so registered first."""
    team = rt.settings.team

    @app.action(render.CLAIM_ACTION)
    def on_claim(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()  # sent once this returns: the click is decided, and recorded if need be, first
        channel = _channel_of(body) or team.channels.triage
        result = cases.claim_by_click(
            rt.factory,
            int(action.get("value") or 0),
            body["user"]["id"],
            channel,
            team,
            rt.clock.now(),
        )
        if result.ok:
            rt.worker.kick()
        elif result.message:
            _refuse(rt, body, result.message)


def register(app: App, rt: Runtime) -> None:
    """Attach the other block action and view listeners."""
    team = rt.settings.team

    def direct(body: dict[str, Any], run: Callable[..., ActionResult]) -> None:
        case_id = int((body.get("actions") or [{}])[0].get("value") or 0)
        with transaction(rt.factory) as session:
            result = run(session, case_id, rt.actor(body["user"]["id"]))
        if not result.ok and result.message:
            _refuse(rt, body, result.message)
        else:
            rt.worker.kick()

    def open_form(
        body: dict[str, Any], case_id: int, build: Callable[[Any], dict[str, Any]]
    ) -> None:
        with rt.factory() as session:
            case = case_actions.case_for_form(session, case_id)
            view = build(case) if case is not None else None
        if view is None:
            _refuse(rt, body, t(team.language, "claim_missing"))
            return
        try:
            rt.gateway.open_view(body["trigger_id"], view)
        except SlackDeliveryError:
            _refuse(rt, body, t(team.language, "shortcut_failed"))

    @app.action(render.RELEASE_ACTION)
    def on_release(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        direct(body, case_actions.release)

    @app.action(render.REOPEN_ACTION)
    def on_reopen(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        direct(body, case_actions.reopen)

    forms: dict[str, Callable[[Any], dict[str, Any]]] = {
        "contact": lambda c: render.contact_modal(
            c,
            rt.taxonomy,
            team.language,
            case_actions.CONTACT_CHANNELS,
            case_actions.CONTACT_OUTCOMES,
        ),
        "note": lambda c: render.note_modal(c, rt.taxonomy, team.language),
        "resolve": lambda c: render.resolve_modal(
            c, rt.taxonomy, team.language, case_actions.RESOLUTIONS
        ),
        "assign": lambda c: render.assign_modal(c, rt.taxonomy, team.language),
        "reclassify": lambda c: render.reclassify_modal(c, rt.taxonomy, team.language),
        "snooze": lambda c: render.snooze_modal(
            c, rt.taxonomy, team.language, case_actions.SNOOZE_CHOICES
        ),
        "escalate": lambda c: render.escalate_modal(c, rt.taxonomy, team.language),
    }

    def form_button(name: str) -> Callable[..., None]:
        def on_click(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
            ack()
            open_form(body, int(action.get("value") or 0), forms[name])

        return on_click

    # The card's buttons that open a form about the case.
    for action_id, name in (
        (render.CONTACT_ACTION, "contact"),
        (render.NOTE_ACTION, "note"),
        (render.RESOLVE_ACTION, "resolve"),
    ):
        app.action(action_id)(form_button(name))

    @app.action(render.MORE_ACTION)
    def on_more(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        name, _, case_id = str((action.get("selected_option") or {}).get("value", "")).partition(
            ":"
        )
        if name not in forms or not case_id.isdigit():
            return
        if name == "assign" and not rt.managers(body["user"]["id"]):
            refused = case_actions.refuse_unless_manager(rt.actor(body["user"]["id"]), "assign")
            if refused is not None and refused.message:
                _refuse(rt, body, refused.message)
                return
        open_form(body, int(case_id), forms[name])

    @app.action(render.SHOW_ALL_ACTION)
    def on_show_all(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        with rt.factory() as session:
            verdict = case_actions.verdict_for_form(session, int(action.get("value") or 0))
            view = render.verdict_modal(verdict, team.language, team.tz) if verdict else None
        if view is not None:
            try:
                rt.gateway.open_view(body["trigger_id"], view)
            except SlackDeliveryError:
                _refuse(rt, body, t(team.language, "shortcut_failed"))

    @app.action(re.compile(r"^open_thread:"))
    def on_open_thread(ack: Ack) -> None:
        ack()  # a link button: Slack opens the URL; nothing to do here

    def submitted(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], run: Callable[..., ActionResult]
    ) -> None:
        values = form_values(view)
        with transaction(rt.factory) as session:
            result = run(session, _case_id(view), rt.actor(body["user"]["id"]), values)
        if result.errors:
            ack(response_action="errors", errors=result.errors)
            return
        if not result.ok and result.message:
            first = next(
                (b["block_id"] for b in view.get("blocks", []) if b.get("type") == "input"), ""
            )
            ack(response_action="errors", errors={first: result.message})
            return
        ack()
        rt.worker.kick()

    def override(values: dict[str, Any]) -> bool:
        return "yes" in (values.get("override") or [])

    @app.view(render.CONTACT_VIEW)
    def on_contact_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        submitted(
            ack,
            body,
            view,
            lambda s, cid, actor, v: case_actions.log_contact(
                s,
                cid,
                actor,
                v.get("channel") or "",
                v.get("outcome") or "",
                v.get("note"),
                v.get("when"),
                override(v),
            ),
        )

    @app.view(render.NOTE_VIEW)
    def on_note_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        submitted(
            ack,
            body,
            view,
            lambda s, cid, actor, v: case_actions.add_note(
                s, cid, actor, v.get("note") or "", override(v)
            ),
        )

    @app.view(render.RESOLVE_VIEW)
    def on_resolve_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        submitted(
            ack,
            body,
            view,
            lambda s, cid, actor, v: case_actions.resolve(
                s, cid, actor, v.get("outcome") or "", v.get("summary") or "", override(v)
            ),
        )

    @app.view(render.ASSIGN_VIEW)
    def on_assign_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        submitted(
            ack,
            body,
            view,
            lambda s, cid, actor, v: case_actions.assign(
                s, cid, v.get("owner") or "", actor, rt.taxonomy
            ),
        )

    @app.view(render.SNOOZE_VIEW)
    def on_snooze_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        def run(s: Any, cid: int, actor: case_actions.Actor, v: dict[str, Any]) -> ActionResult:
            if v.get("length") not in case_actions.SNOOZE_CHOICES:
                return ActionResult(False, errors={"length": t(team.language, "snooze_bad")})
            return case_actions.snooze(
                s, cid, actor, parse_duration(v["length"]), v.get("reason") or ""
            )

        submitted(ack, body, view, run)

    @app.view(render.ESCALATE_VIEW)
    def on_escalate_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        submitted(
            ack,
            body,
            view,
            lambda s, cid, actor, v: case_actions.escalate(
                s, cid, actor, rt.taxonomy, v.get("reason") or ""
            ),
        )

    @app.view(render.RECLASSIFY_VIEW)
    def on_reclassify_submit(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        def run(s: Any, cid: int, actor: case_actions.Actor, v: dict[str, Any]) -> ActionResult:
            problem = classification.reclassify_by_person(
                s,
                cid,
                v.get("reason") or "",
                actor.user_id,
                actor.now,
                team=team,
                taxonomy=rt.taxonomy,
            )
            return (
                ActionResult(False, errors={"reason": problem}) if problem else ActionResult(True)
            )

        submitted(ack, body, view, run)
