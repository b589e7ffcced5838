"""`/triage` for managers and agents: parse the text, and each command's answer."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

import storage.cases
import storage.stats
from bot.cases import service as cases
from bot.cases.card import case_card, mask_reference
from bot.cases.modals import forget_modal
from bot.cases.permissions import manager_mentions
from bot.cases.views import list_message, stats_message
from bot.classification.taxonomy import Taxonomy
from bot.digests import service as digests
from bot.privacy import erasure
from bot.privacy.cells import safe_row
from bot.runtime.settings import TeamConfig, describe
from bot.slack.blocks import Message, escape, text_message, unescape_command
from bot.slack.i18n import t

VIEWS = ("open", "overdue", "mine", "unassigned", "review")
PAGE = 10
MANAGER_ONLY = ("assign", "export", "forget", "digest")
_PERIOD = re.compile(r"^(\d{1,4})([hdw])$")
_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$|^([UW][A-Z0-9]{2,})$")
_CASE = re.compile(r"^#?(\d{1,9})$")


class UsageError(ValueError):
    """The command text could not be understood; the message says what to type."""


@dataclass(frozen=True)
class Command:
    """A parsed `/triage` command."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


def parse_period(text: str, lang: str) -> timedelta:
    """`7d`, `30d`, `90d`, `12h`, `2w`: a period back from now."""
    match = _PERIOD.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise UsageError(t(lang, "cmd_bad_period", value=escape(text)))
    n, unit = int(match.group(1)), match.group(2)
    return {"h": timedelta(hours=n), "d": timedelta(days=n), "w": timedelta(weeks=n)}[unit]


def _user(text: str, lang: str) -> str:
    match = _USER.match(text.strip())
    if not match:
        raise UsageError(t(lang, "cmd_bad_user", value=escape(text)))
    return match.group(1) or match.group(2)


def _case_id(text: str, lang: str) -> int:
    match = _CASE.match(text.strip())
    if not match:
        raise UsageError(t(lang, "cmd_bad_case", value=escape(text)))
    return int(match.group(1))


def parse(text: str, lang: str, taxonomy: Taxonomy) -> Command:
    """Understand `/triage ...`; raise UsageError with what is wrong and what to type instead.
    Slack's escaped forms (`<mailto:…|…>`, `<@U…|name>`, `<#C…|name>`…) read as plain text."""
    words = unescape_command(text).strip().split()
    if not words or words[0].lower() in ("help", "aide", "?"):
        return Command("help")
    name, rest = words[0].lower(), words[1:]
    if name == "list":
        args: dict[str, Any] = {"view": "open"}
        for word in rest:
            key, _, value = word.partition(":")
            if word.lower() in VIEWS:
                args["view"] = word.lower()
            elif key == "reason" and value:
                if value not in taxonomy:
                    raise UsageError(
                        t(
                            lang,
                            "cmd_bad_reason",
                            value=escape(value),
                            reasons=", ".join(taxonomy.ids()),
                        )
                    )
                args["reason"] = value
            elif key == "owner" and value:
                args["owner"] = _user(value, lang)
            elif key == "since" and value:
                args["since"] = parse_period(value, lang)
            else:
                raise UsageError(t(lang, "cmd_bad_list", value=escape(word)))
        return Command("list", args)
    if name == "show" and len(rest) == 1:
        return Command("show", {"case": _case_id(rest[0], lang)})
    if name == "assign" and len(rest) == 2:
        return Command("assign", {"case": _case_id(rest[0], lang), "user": _user(rest[1], lang)})
    if name == "stats" and len(rest) <= 1:
        return Command("stats", {"period": parse_period(rest[0] if rest else "30d", lang)})
    if name == "export" and len(rest) <= 1:
        value = rest[0].lower() if rest else "30d"
        return Command("export", {"period": None if value == "all" else parse_period(value, lang)})
    if name == "forget" and len(rest) == 1:
        return Command("forget", {"customer": rest[0]})
    if name == "digest" and (not rest or rest[0].lower() == "now"):
        return Command("digest", {"name": rest[1] if len(rest) > 1 else None})
    if name == "config" and not rest:
        return Command("config")
    if name in ("list", "show", "assign", "stats", "export", "forget", "digest", "config"):
        raise UsageError(t(lang, f"cmd_usage_{name}"))
    raise UsageError(t(lang, "cmd_unknown", value=escape(name[:50])))


def usage(lang: str) -> str:
    """What `/triage` can do."""
    return t(lang, "cmd_help")


def refusal(command: Command, team: TeamConfig) -> str:
    """Why a non-manager cannot run a manager command, and who can."""
    return t(
        team.language, "cmd_managers_only", command=command.name, managers=manager_mentions(team)
    )


def list_page(
    session: Session,
    command: Command,
    user_id: str,
    team: TeamConfig,
    taxonomy: Taxonomy,
    now: datetime,
    offset: int,
    permalink: Any,
) -> Message:
    """One page of `/triage list`, with a "more" button when there are more."""
    args = command.args
    since = now - args["since"] if args.get("since") else None
    found, total = storage.stats.list_cases(
        session,
        view=args.get("view", "open"),
        user_id=user_id,
        now=now,
        reason=args.get("reason"),
        owner=args.get("owner"),
        since=since,
        offset=offset,
        limit=PAGE,
    )
    rows = [(case, permalink(case) if case.root_ts else None) for case in found]
    more = offset + PAGE < total
    return list_message(
        rows, total, offset, more, command_state(command, offset + PAGE), team, taxonomy, now
    )


def command_state(command: Command, offset: int) -> str:
    """What the "more" button carries to fetch the next page (fits Slack's 2000-char value)."""
    args = {
        k: (v.total_seconds() if isinstance(v, timedelta) else v) for k, v in command.args.items()
    }
    return json.dumps({"args": args, "offset": offset}, separators=(",", ":"))


class _ListArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    view: Literal["open", "overdue", "mine", "unassigned", "review"] = "open"
    reason: Annotated[str, Field(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")] | None = None
    owner: Annotated[str, Field(pattern=r"^[UW][A-Z0-9]{2,20}$")] | None = None
    since: Annotated[float, Field(gt=0, le=9999 * 7 * 86400, allow_inf_nan=False)] | None = None


class _ListState(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    args: _ListArgs
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0


def command_from_state(value: str) -> tuple[Command, int]:
    """The list command and offset a "more" button carries; ValueError when the value is not
    one the bot wrote (a forged or damaged button)."""
    if not isinstance(value, str) or len(value) > 2000:
        raise ValueError("list state: not the bot's value")
    try:
        state = _ListState.model_validate_json(value)
    except ValidationError:
        raise ValueError("list state: not the bot's value") from None
    args: dict[str, Any] = state.args.model_dump(exclude_none=True)
    if "since" in args:
        args["since"] = timedelta(seconds=args["since"])
    return Command("list", args), state.offset


def show(
    session: Session, case_id: int, team: TeamConfig, taxonomy: Taxonomy, now: datetime
) -> Message:
    """A case's context card, for one person's eyes."""
    case = storage.cases.case_for_card(session, case_id)
    if case is None:
        return text_message(t(team.language, "cmd_no_case", id=case_id))
    return case_card(case, cases.card_context(session, case, team, taxonomy, now))


def stats(
    session: Session, period: timedelta, team: TeamConfig, taxonomy: Taxonomy, now: datetime
) -> Message:
    """The team's figures over a period, against the period before; all computed in SQL."""
    start = now - period
    # Verdicts are counted by whole UTC days (from the daily counts): the last N days, today
    # included, against the N days before.
    days = max(1, round(period.total_seconds() / 86400))
    today = now.astimezone(UTC).date()
    figures = {
        "reasons": storage.stats.verdict_counts_by_reason(
            session, today - timedelta(days=days - 1), today
        ),
        "reasons_before": storage.stats.verdict_counts_by_reason(
            session, today - timedelta(days=2 * days - 1), today - timedelta(days=days)
        ),
        "cases": storage.stats.case_figures(session, start, now, now),
        "claim": storage.stats.median_time_to_claim(session, start, now),
        "contact": storage.stats.median_time_to_first_contact(session, start, now),
        "fatigued": storage.stats.fatigued_customers(
            session, now - team.fatigue.window.total, team.fatigue.threshold
        ),
        "load": storage.stats.load_per_owner(session),
        "classifier": storage.stats.classifier_corrections(session, start, now),
    }
    return stats_message(figures, period, team, taxonomy)


EXPORT_COLUMNS = (
    "case_id",
    "case_status",
    "case_outcome",
    "primary_reason",
    "severity",
    "owner",
    "opened_at",
    "deadline_at",
    "closed_at",
    "customer",
    "customer_status",
    "verdict_id",
    "received_at",
    "source",
    "origin",
    "channel",
    "score",
    "consent",
    "verdict_reason",
    "text",
)


def export_csv(
    session: Session, period: timedelta | None, team: TeamConfig, now: datetime
) -> tuple[bytes, int]:
    """A CSV of cases and their verdicts (references masked when the team says so); and rows."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    rows = 0
    for case, verdict in storage.stats.export_rows(session, now - period if period else None):
        ref = case.customer.ref.split(":", 1)[-1]
        if case.customer.ref_kind in ("unidentified", "anonymous", "erased"):
            ref = ""
        elif team.contact.mask_reference:
            ref = mask_reference(ref)
        writer.writerow(
            safe_row(
                [
                    case.id,
                    case.status,
                    case.outcome or "",
                    case.primary_reason,
                    case.severity,
                    case.owner_id or "",
                    case.opened_at.isoformat(),
                    case.deadline_at.isoformat(),
                    case.closed_at.isoformat() if case.closed_at else "",
                    ref,
                    case.customer.status,
                    verdict.id,
                    verdict.received_at.isoformat(),
                    verdict.source,
                    verdict.origin or "",
                    verdict.channel,
                    "" if verdict.score is None else verdict.score,
                    "yes" if verdict.consent else "no",
                    verdict.reason or "",
                    verdict.text,
                ]
            )
        )
        rows += 1
    return out.getvalue().encode("utf-8"), rows


def config_text(team: TeamConfig, now: datetime) -> str:
    """The policy in force, as a person reads it."""
    return "```\n" + describe(team, now) + "\n```"


def digest_now(
    session: Session,
    name: str | None,
    team: TeamConfig,
    taxonomy: Taxonomy,
    team_url: str,
    now: datetime,
) -> str:
    """Queue the digest for posting now; the answer says so, or why not (none configured...)."""
    try:
        return digests.post_now(session, team, name, now, taxonomy=taxonomy, team_url=team_url)
    except digests.DigestError as exc:
        return str(exc)


def forget_form(session: Session, reference: str, team: TeamConfig) -> dict[str, Any] | Message:
    """The confirmation form for `/triage forget`, or why there is nothing to forget."""
    customer_id = erasure.find_customer(session, reference, team)
    if customer_id is None:
        return text_message(t(team.language, "cmd_no_customer", value=escape(reference[:100])))
    return forget_modal(customer_id, escape(reference[:100]), team.language)


def forget(
    session: Session, customer_id: int, manager: str, team: TeamConfig, now: datetime
) -> str:
    """Erase the customer (confirmed in the form) and say what was done, for the manager."""
    report = erasure.forget_customer(session, customer_id, manager, now, team)
    text = t(
        team.language,
        "cmd_forget_done",
        ref=f"#{customer_id}",
        cases=len(report.case_ids),
        verdicts=report.verdicts_erased,
    )
    if report.source_messages:
        links = ", ".join(f"<#{channel}> {ts}" for channel, ts in report.source_messages[:10])
        text += "\n" + t(team.language, "cmd_forget_sources", messages=links)
    return text
