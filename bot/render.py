"""Block Kit, rendered in one place, always within Slack's limits (fold, don't fail)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.i18n import t
from bot.taxonomy import Taxonomy
from storage.models import Case, Classification, Verdict

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
HEADER_LIMIT = 150
VERBATIM_FOLD = 1200  # long verbatims are cut here on the card; the thread keeps nothing hidden
MAX_VERDICTS_ON_CARD = 8

CLAIM_ACTION = "case_claim"


@dataclass(frozen=True)
class Message:
    """A Slack message: fallback text (notifications, screen readers) and blocks."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def fold(text: str, limit: int) -> str:
    """Cut `text` to `limit` characters with an ellipsis, so Slack never rejects it."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def quote(text: str) -> str:
    """Quote a verbatim in mrkdwn, neutralising mentions and formatting from customer text."""
    safe = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "\n".join("> " + line if line.strip() else ">" for line in safe.splitlines())


def _italic(text: str) -> str:
    # mrkdwn italics stop at a line break, so each line gets its own underscores.
    return "\n".join(f"_{line.strip()}_" for line in text.splitlines() if line.strip())


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=fold(text, SECTION_LIMIT)))


def _fields(pairs: list[tuple[str, str]]) -> SectionBlock:
    return SectionBlock(
        fields=[MarkdownTextObject(text=fold(f"*{k}*\n{v}", FIELD_LIMIT)) for k, v in pairs[:10]]
    )


def _relative(lang: str, when: datetime, now: datetime) -> str:
    seconds = (when - now).total_seconds()
    span = abs(seconds)
    if span < 3600:
        text = t(lang, "span_min", n=max(1, round(span / 60)))
    elif span < 48 * 3600:
        text = t(lang, "span_h", n=round(span / 3600))
    else:
        text = t(lang, "span_d", n=round(span / 86400))
    return t(lang, "relative_in" if seconds >= 0 else "relative_ago", span=text)


def format_time(when: datetime, tz: ZoneInfo) -> str:
    """An absolute time in the team's time zone."""
    return when.astimezone(tz).strftime("%a %d %b %Y %H:%M %Z")


def latest_classification(verdict: Verdict) -> Classification | None:
    """The newest classification of a verdict."""
    return verdict.classifications[0] if verdict.classifications else None


@dataclass(frozen=True)
class CardContext:
    """What the card needs besides the case: language, time zone, taxonomy, now."""

    lang: str
    tz: ZoneInfo
    taxonomy: Taxonomy
    now: datetime


def _status_line(case: Case, ctx: CardContext) -> str:
    status = case.customer.status
    if status == "former" and case.customer.churned_on:
        return t(ctx.lang, "status_former_since", date=case.customer.churned_on)
    return t(ctx.lang, f"status_{status}" if status in ("current", "former") else "status_unknown")


def _customer_ref(case: Case, ctx: CardContext) -> str:
    if case.customer.ref_kind == "unidentified":
        return "_" + t(ctx.lang, "no_reference") + "_"
    return "`" + case.customer.ref.split(":", 1)[-1] + "`"


def _state(case: Case, ctx: CardContext) -> str:
    return t(ctx.lang, f"state_{case.status}", owner=case.owner_id or "")


def _verdict_blocks(verdict: Verdict, ctx: CardContext) -> list[Block]:
    meta = t(
        ctx.lang,
        "verdict_meta",
        source=verdict.origin or t(ctx.lang, f"source_{verdict.source}"),
        channel=t(ctx.lang, f"channel_{verdict.channel}"),
        date=format_time(verdict.received_at, ctx.tz),
    )
    if verdict.score is not None:
        meta += " · " + t(ctx.lang, "score", score=verdict.score)
    blocks: list[Block] = [
        ContextBlock(elements=[MarkdownTextObject(text=fold(meta, FIELD_LIMIT))]),
        _section(quote(fold(verdict.text, VERBATIM_FOLD))),
    ]
    result = latest_classification(verdict)
    if result is not None and result.summary:
        blocks.append(
            ContextBlock(
                elements=[MarkdownTextObject(text=fold(_italic(result.summary), FIELD_LIMIT))]
            )
        )
    return blocks


def case_card(case: Case, ctx: CardContext) -> Message:
    """The case's root message: who, why, reasons, deadline, owner, and what to do next."""
    lang = ctx.lang
    reason = ctx.taxonomy.label(case.primary_reason, lang)
    title = t(lang, "case_title", id=case.id, reason=reason)
    newest = case.verdicts[0] if case.verdicts else None
    result = latest_classification(newest) if newest else None

    reason_text = f"*{reason}*"
    if result is not None:
        secondary = [ctx.taxonomy.label(r, lang) for r in result.secondary_reasons]
        if secondary:
            reason_text += f" ({t(lang, 'also')}: {', '.join(secondary)})"
        flags = [t(lang, "confidence", pct=round(result.confidence * 100))]
        if result.provisional:
            flags.append(t(lang, "provisional"))
        if case.needs_review:
            flags.append(":warning: " + t(lang, "needs_review"))
        reason_text += "\n" + " · ".join(flags)

    deadline = t(
        lang,
        "deadline_in",
        when=format_time(case.deadline_at, ctx.tz),
        relative=_relative(lang, case.deadline_at, ctx.now),
    )
    blocks: list[Block] = [
        HeaderBlock(text=fold(title, HEADER_LIMIT)),
        _section(f"*{_state(case, ctx)}*"),
        _fields(
            [
                (t(lang, "customer"), _customer_ref(case, ctx)),
                (t(lang, "status"), _status_line(case, ctx)),
                (t(lang, "reason"), reason_text),
                (t(lang, "severity"), t(lang, f"severity_{case.severity}")),
                (t(lang, "deadline"), deadline),
                (
                    t(lang, "owner"),
                    f"<@{case.owner_id}>" if case.owner_id else t(lang, "unclaimed"),
                ),
            ]
        ),
        DividerBlock(),
        _section("*" + t(lang, "verdicts", count=len(case.verdicts)) + "*"),
    ]
    for verdict in case.verdicts[:MAX_VERDICTS_ON_CARD]:
        blocks.extend(_verdict_blocks(verdict, ctx))
    if result is not None and result.suggested_action:
        blocks.append(DividerBlock())
        blocks.append(_section(f"*{t(lang, 'next_step')}*\n{result.suggested_action}"))
    if case.status == "open":
        blocks.append(
            ActionsBlock(
                block_id=f"case_actions:{case.id}",
                elements=[
                    ButtonElement(
                        text=t(lang, "claim"),
                        action_id=CLAIM_ACTION,
                        value=str(case.id),
                        style="primary",
                    )
                ],
            )
        )
    rendered = [block.to_dict() for block in blocks[:MAX_BLOCKS]]
    fallback = f"{title} · {_state(case, ctx)}"
    if newest is not None:
        fallback += f"\n{fold(newest.text, 300)}"
    return Message(text=fallback, blocks=rendered)


def text_message(text: str) -> Message:
    """A short plain message, for thread replies and ephemerals."""
    return Message(text=text, blocks=[_section(text).to_dict()])
