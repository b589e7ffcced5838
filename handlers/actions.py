"""Buttons and forms on case cards: tables from Slack's ids to the case services.

The middleware (`handlers.context`) has already put the runtime, the acting person and the case
into the context, and refused any payload the bot did not write."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext
from sqlalchemy.orm import Session

from bot.cases import actions as case_actions
from bot.cases import card, modals
from bot.cases import service as cases
from bot.cases.actions import Actor
from bot.cases.consent import CONSENT_CHECK_BLOCK, confirmation_required
from bot.cases.service import ActionResult
from bot.classification import service as classification
from bot.runtime.durations import parse_duration
from bot.runtime.runtime import Runtime
from bot.slack.forms import form_values
from bot.slack.gateway import SlackDeliveryError
from bot.slack.i18n import t
from handlers import context as ctx
from handlers import requests
from handlers.requests import PayloadError
from storage.db import transaction

# --- what each button and form does ------------------------------------------------------------

# Buttons that change the case at once.
DIRECT: dict[str, Callable[[Session, int, Actor], ActionResult]] = {
    card.RELEASE_ACTION: case_actions.release,
    card.REOPEN_ACTION: case_actions.reopen,
}


def _forms(rt: Runtime) -> dict[str, Callable[[Any], dict[str, Any]]]:
    """The forms a case button or its "more" menu opens, by name."""
    lang, taxonomy = rt.settings.team.language, rt.taxonomy
    return {
        "contact": lambda c: modals.contact_modal(
            c,
            taxonomy,
            lang,
            case_actions.CONTACT_CHANNELS,
            case_actions.CONTACT_OUTCOMES,
            confirmation_required(c, rt.settings.team.consent.when_unknown),
        ),
        "note": lambda c: modals.note_modal(c, taxonomy, lang),
        "resolve": lambda c: modals.resolve_modal(c, taxonomy, lang, case_actions.RESOLUTIONS),
        "assign": lambda c: modals.assign_modal(c, taxonomy, lang),
        "reclassify": lambda c: modals.reclassify_modal(c, taxonomy, lang),
        "snooze": lambda c: modals.snooze_modal(c, taxonomy, lang, case_actions.SNOOZE_CHOICES),
        "escalate": lambda c: modals.escalate_modal(c, taxonomy, lang),
    }


MENU_FORMS = frozenset({"contact", "note", "resolve", "assign", "reclassify", "snooze", "escalate"})
# Card buttons that open a form about their case.
FORM_BUTTONS = {
    card.CONTACT_ACTION: "contact",
    card.NOTE_ACTION: "note",
    card.RESOLVE_ACTION: "resolve",
}

Submission = Callable[[Runtime, Session, int, Actor, dict[str, Any]], ActionResult]


def _override(values: dict[str, Any]) -> bool:
    return "yes" in (values.get("override") or [])


def _contact(
    rt: Runtime, s: Session, case_id: int, actor: Actor, v: dict[str, Any]
) -> ActionResult:
    return case_actions.log_contact(
        s,
        case_id,
        actor,
        v.get("channel") or "",
        v.get("outcome") or "",
        v.get("note"),
        v.get("when"),
        _override(v),
        "yes" in (v.get(CONSENT_CHECK_BLOCK) or []),
    )


def _note(rt: Runtime, s: Session, case_id: int, actor: Actor, v: dict[str, Any]) -> ActionResult:
    return case_actions.add_note(s, case_id, actor, v.get("note") or "", _override(v))


def _resolve(
    rt: Runtime, s: Session, case_id: int, actor: Actor, v: dict[str, Any]
) -> ActionResult:
    return case_actions.resolve(
        s, case_id, actor, v.get("outcome") or "", v.get("summary") or "", _override(v)
    )


def _assign(rt: Runtime, s: Session, case_id: int, actor: Actor, v: dict[str, Any]) -> ActionResult:
    return case_actions.assign(s, case_id, v.get("owner") or "", actor, rt.taxonomy)


def _snooze(rt: Runtime, s: Session, case_id: int, actor: Actor, v: dict[str, Any]) -> ActionResult:
    if v.get("length") not in case_actions.SNOOZE_CHOICES:
        return ActionResult(False, errors={"length": t(actor.lang, "snooze_bad")})
    return case_actions.snooze(
        s, case_id, actor, parse_duration(v["length"]), v.get("reason") or ""
    )


def _escalate(
    rt: Runtime, s: Session, case_id: int, actor: Actor, v: dict[str, Any]
) -> ActionResult:
    return case_actions.escalate(s, case_id, actor, rt.taxonomy, v.get("reason") or "")


def _reclassify(
    rt: Runtime, s: Session, case_id: int, actor: Actor, v: dict[str, Any]
) -> ActionResult:
    problem = classification.reclassify_by_person(
        s,
        case_id,
        v.get("reason") or "",
        actor.user_id,
        actor.now,
        team=actor.team,
        taxonomy=rt.taxonomy,
    )
    return ActionResult(False, errors={"reason": problem}) if problem else ActionResult(True)


# Submitted case forms: view callback id -> the service that applies it.
SUBMISSIONS: dict[str, Submission] = {
    modals.CONTACT_VIEW: _contact,
    modals.NOTE_VIEW: _note,
    modals.RESOLVE_VIEW: _resolve,
    modals.ASSIGN_VIEW: _assign,
    modals.SNOOZE_VIEW: _snooze,
    modals.ESCALATE_VIEW: _escalate,
    modals.RECLASSIFY_VIEW: _reclassify,
}

# What the middleware reads a case id from.
CASE_BUTTONS = frozenset({card.CLAIM_ACTION, *DIRECT, *FORM_BUTTONS})
CASE_VIEWS = frozenset(SUBMISSIONS)

# --- listeners ----------------------------------------------------------------------------------


def register_claim(app: App, rt: Runtime) -> None:
    """Attach the card's Claim button: the most frequent click, so registered first."""
    team = rt.settings.team

    @app.action(card.CLAIM_ACTION)
    def on_claim(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()  # sent once this returns: the click is decided, and recorded if need be, first
        actor = ctx.actor_of(context)
        channel = requests.channel_id(body) or team.channels.triage
        result = cases.claim_by_click(
            rt.factory, ctx.case_of(context), actor.user_id, channel, team, rt.clock.now()
        )
        if result.ok:
            rt.worker.kick()
        elif result.message:
            ctx.refuse(rt, body, result.message)


def register(app: App, rt: Runtime) -> None:
    """Attach the other block action and view listeners, from the tables above."""
    lang = rt.settings.team.language
    forms = _forms(rt)

    def open_form(body: dict[str, Any], case_id: int, name: str) -> None:
        with rt.factory() as session:
            case = case_actions.case_for_form(session, case_id)
            view = forms[name](case) if case is not None else None
        if view is None:
            ctx.refuse(rt, body, t(lang, "claim_missing"))
            return
        try:
            rt.gateway.open_view(body["trigger_id"], view)
        except SlackDeliveryError:
            ctx.refuse(rt, body, t(lang, "shortcut_failed"))

    def direct(run: Callable[[Session, int, Actor], ActionResult]) -> Callable[..., None]:
        def on_click(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
            ack()
            with transaction(rt.factory) as session:
                result = run(session, ctx.case_of(context), ctx.actor_of(context))
            if not result.ok and result.message:
                ctx.refuse(rt, body, result.message)
            else:
                rt.worker.kick()

        return on_click

    def form_button(name: str) -> Callable[..., None]:
        def on_click(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
            ack()
            open_form(body, ctx.case_of(context), name)

        return on_click

    def submitted(run: Submission) -> Callable[..., None]:
        def on_submit(
            ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
        ) -> None:
            values = form_values(view)
            with transaction(rt.factory) as session:
                result = run(rt, session, ctx.case_of(context), ctx.actor_of(context), values)
            if result.errors:
                ack(response_action="errors", errors=result.errors)
                return
            if not result.ok and result.message:
                first = next(
                    (b["block_id"] for b in view.get("blocks", []) if b.get("type") == "input"),
                    "",
                )
                ack(response_action="errors", errors={first: result.message})
                return
            ack()
            rt.worker.kick()

        return on_submit

    for action_id, run in DIRECT.items():
        app.action(action_id)(direct(run))
    for action_id, name in FORM_BUTTONS.items():
        app.action(action_id)(form_button(name))
    for view_id, service in SUBMISSIONS.items():
        app.view(view_id)(submitted(service))

    @app.action(card.MORE_ACTION)
    def on_more(ack: Ack, body: dict[str, Any], context: BoltContext) -> None:
        ack()
        try:
            name, case_id = requests.menu_choice(body, MENU_FORMS)
        except PayloadError:
            return  # a menu the bot did not build: nothing to open
        actor = ctx.actor_of(context)
        if name == "assign" and not actor.manager:
            refused = case_actions.refuse_unless_manager(actor, "assign")
            if refused is not None and refused.message:
                ctx.refuse(rt, body, refused.message)
                return
        open_form(body, case_id, name)

    @app.action(card.SHOW_ALL_ACTION)
    def on_show_all(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        try:
            verdict_id = requests.button_row_id(body, "verdict button")
        except PayloadError:
            ctx.refuse(rt, body, t(lang, "payload_refused"))
            return
        with rt.factory() as session:
            verdict = case_actions.verdict_for_form(session, verdict_id)
            view = modals.verdict_modal(verdict, lang, rt.settings.team.tz) if verdict else None
        if view is not None:
            try:
                rt.gateway.open_view(body["trigger_id"], view)
            except SlackDeliveryError:
                ctx.refuse(rt, body, t(lang, "shortcut_failed"))

    @app.action(re.compile(r"^open_thread:"))
    def on_open_thread(ack: Ack) -> None:
        ack()  # a link button: Slack opens the URL; nothing to do here
