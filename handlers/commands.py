"""The /triage slash command: parse and refuse at once; slow answers go through response_url."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.cases import actions as case_actions
from bot.cases import triage_command as commands
from bot.cases.modals import FORGET_VIEW
from bot.cases.views import LIST_MORE_ACTION
from bot.runtime.runtime import Runtime
from bot.slack import outbox
from bot.slack.blocks import Message, text_message
from bot.slack.i18n import t
from handlers import requests
from handlers.requests import PayloadError
from storage.db import transaction

log = logging.getLogger(__name__)

# The commands answered after the ack, through response_url (or a modal, a DM).
SLOW_COMMANDS = frozenset({"list", "show", "stats", "export", "forget", "digest"})


def register(app: App, rt: Runtime) -> None:
    """Attach the slash command and its "more" button."""
    team = rt.settings.team
    lang = team.language

    def ack_command(ack: Ack, command: dict[str, Any]) -> None:
        # Everything here is quick: parsing, permissions, and changes recorded before the ack.
        user = command["user_id"]
        try:
            parsed = commands.parse(command.get("text", ""), lang, rt.taxonomy)
        except commands.UsageError as exc:
            ack(text=str(exc))
            return
        if parsed.name == "help":
            ack(text=commands.usage(lang))
        elif parsed.name in commands.MANAGER_ONLY and not rt.managers(user):
            ack(text=commands.refusal(parsed, team))
        elif parsed.name == "config":
            ack(text=commands.config_text(team, rt.clock.now()))
        elif parsed.name == "assign" and rt.gateway.user_exists(parsed.args["user"]) is False:
            # Refused before anything changes: a typo or a person from elsewhere would own it.
            ack(text=t(lang, "cmd_unknown_user", user=f"`{parsed.args['user']}`"))
        elif parsed.name == "assign":
            with transaction(rt.factory) as session:
                result = case_actions.assign(
                    session, parsed.args["case"], parsed.args["user"], rt.actor(user), rt.taxonomy
                )
            rt.worker.kick()
            ack(text=result.message or t(lang, "assigned_to", user=user, owner=parsed.args["user"]))
        else:
            ack()

    def answer(command: dict[str, Any], body: dict[str, Any]) -> None:
        """The slow part, after the ack: read-only, so a retry by the person is always safe."""
        try:
            parsed = commands.parse(command.get("text", ""), lang, rt.taxonomy)
        except commands.UsageError:
            return
        if parsed.name not in SLOW_COMMANDS:
            return
        user = command["user_id"]
        if parsed.name in commands.MANAGER_ONLY and not rt.managers(user):
            return
        try:
            message = _run(parsed, user, command)
        except Exception:  # the person gets a polite answer; the operator the cause
            log.exception("/triage %s failed", parsed.name)
            message = text_message(t(lang, "cmd_failed"))
        if message is not None:
            rt.gateway.respond(command["response_url"], message.text, message.blocks)

    def _run(parsed: commands.Command, user: str, command: dict[str, Any]) -> Message | None:
        now = rt.clock.now()
        if parsed.name == "list":
            with rt.factory() as session:
                return commands.list_page(
                    session, parsed, user, team, rt.taxonomy, now, 0, _permalink
                )
        if parsed.name == "show":
            with rt.factory() as session:
                return commands.show(session, parsed.args["case"], team, rt.taxonomy, now)
        if parsed.name == "stats":
            with rt.factory() as session:
                return commands.stats(session, parsed.args["period"], team, rt.taxonomy, now)
        if parsed.name == "export":
            with rt.factory() as session:
                data, rows = commands.export_csv(session, parsed.args["period"], team, now)
            dm = rt.gateway.open_dm(user)
            rt.gateway.upload_file(
                dm,
                f"triage-export-{now:%Y%m%d-%H%M}.csv",
                data,
                title="Triage export",
                initial_comment=t(lang, "cmd_export_done", rows=rows),
            )
            return text_message(t(lang, "cmd_export_sent"))
        if parsed.name == "forget":
            with rt.factory() as session:
                form = commands.forget_form(session, parsed.args["customer"], team)
            if isinstance(form, Message):
                return form
            rt.gateway.open_view(command["trigger_id"], form)
            return None
        if parsed.name == "digest":
            with transaction(rt.factory) as session:
                text = commands.digest_now(
                    session, parsed.args.get("name"), team, rt.taxonomy, rt.bot.url, now
                )
            rt.worker.kick()
            return text_message(text)
        return None

    def _permalink(case: Any) -> str:
        return rt.gateway.permalink(case.slack_channel, case.root_ts)

    def needs_answer(command: dict[str, Any]) -> bool:
        # A command's name is its first word (`commands.parse`): no need to parse it all twice.
        words = command.get("text", "").split(maxsplit=1)
        return bool(words) and words[0].lower() in SLOW_COMMANDS

    # Bolt copies the whole request for a lazy listener: only commands with a slow part pay.
    app.command("/triage", matchers=[needs_answer])(ack=ack_command, lazy=[answer])
    app.command("/triage")(ack_command)

    @app.view(FORGET_VIEW)
    def on_forget(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        manager = body["user"]["id"]
        ack()
        if not rt.managers(manager):  # the form is only ever opened for managers
            log.warning("forget form submitted by a non-manager %s; ignored", manager)
            return
        try:
            customer_id = requests.view_customer_id(view)
        except PayloadError as exc:
            log.warning("refused an erasure form: %s", exc)
            return
        with transaction(rt.factory) as session:
            done = commands.forget(session, customer_id, manager, team, rt.clock.now())
            outbox.enqueue_message(session, manager, text_message(done), rt.clock.now())
        rt.worker.kick()

    @app.action(LIST_MORE_ACTION)
    def on_more(ack: Ack, body: dict[str, Any], action: dict[str, Any]) -> None:
        ack()
        parsed, offset = commands.command_from_state(str(action.get("value") or "{}"))
        with rt.factory() as session:
            message = commands.list_page(
                session,
                parsed,
                body["user"]["id"],
                team,
                rt.taxonomy,
                rt.clock.now(),
                offset,
                _permalink,
            )
        if body.get("response_url"):
            rt.gateway.respond(body["response_url"], message.text, message.blocks)
