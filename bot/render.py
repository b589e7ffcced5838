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
    DatePickerElement,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

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
class CaseHistory:
    """What the card tells about the customer's past: surveys in the window, earlier cases."""

    surveys_in_window: int = 0
    window_days: int = 90
    fatigue_threshold: int = 2
    earlier: tuple[tuple[int, str], ...] = ()  # (case id, status)

    @property
    def fatigued(self) -> bool:
        return self.surveys_in_window > self.fatigue_threshold


@dataclass(frozen=True)
class CardContext:
    """What the card needs besides the case: language, time zone, taxonomy, now, history."""

    lang: str
    tz: ZoneInfo
    taxonomy: Taxonomy
    now: datetime
    history: CaseHistory = CaseHistory()


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
    if verdict.deleted_at is not None:
        meta += " · :wastebasket: " + t(ctx.lang, "deleted_in_slack")
    elif verdict.edited_at is not None:
        meta += " · " + t(ctx.lang, "edited")
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


def _history_text(ctx: CardContext) -> str:
    history, lang = ctx.history, ctx.lang
    parts: list[str] = []
    if history.fatigued:
        parts.append(t(lang, "fatigue", count=history.surveys_in_window, days=history.window_days))
    elif history.surveys_in_window > 1:
        parts.append(
            t(lang, "surveys_in_window", count=history.surveys_in_window, days=history.window_days)
        )
    if history.earlier:
        listed = ", ".join(
            f"#{case_id} ({t(lang, f'state_{status}', owner='')})"
            for case_id, status in history.earlier[:5]
        )
        parts.append(f"{t(lang, 'earlier_cases')}: {listed}")
    return " · ".join(parts)


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
    ]
    history = _history_text(ctx)
    if history:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=fold(history, FIELD_LIMIT))]))
    blocks += [
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


SEND_TO_TRIAGE_VIEW = "send_to_triage_submit"
MODAL_FIELDS = ("ref", "status", "churned_on", "source", "channel", "score", "consent")


def _options(lang: str, prefix: str, values: tuple[str, ...]) -> list[Option]:
    return [Option(value=v, text=PlainTextObject(text=t(lang, f"{prefix}_{v}"))) for v in values]


def send_to_triage_modal(
    lang: str,
    verbatim: str,
    private_metadata: str,
    *,
    ref: str | None,
    status: str | None,
    churned_on: str | None,
    source: str | None,
    channel: str | None,
    score: int | None,
    consent: bool | None,
) -> dict[str, Any]:
    """The "Send to triage" modal, prefilled with what was read from the message."""
    statuses = _options(lang, "status", ("current", "former", "unknown"))
    channels = _options(lang, "channel", ("web", "phone", "email", "chat", "unknown"))
    consents = [
        Option(value="yes", text=PlainTextObject(text=t(lang, "consent_yes"))),
        Option(value="no", text=PlainTextObject(text=t(lang, "consent_no"))),
    ]
    status_initial = next(o for o in statuses if o.value == (status or "unknown"))
    channel_initial = next(o for o in channels if o.value == (channel or "unknown"))
    consent_initial = None if consent is None else consents[0 if consent else 1]
    blocks: list[Block] = [
        _section(f"*{t(lang, 'verbatim')}*\n{quote(fold(verbatim, 2800))}"),
        InputBlock(
            block_id="ref",
            optional=True,
            label=t(lang, "modal_ref"),
            hint=t(lang, "modal_ref_hint"),
            element=PlainTextInputElement(
                action_id="value", initial_value=ref or None, max_length=255
            ),
        ),
        InputBlock(
            block_id="status",
            label=t(lang, "status"),
            element=StaticSelectElement(
                action_id="value", options=statuses, initial_option=status_initial
            ),
        ),
        InputBlock(
            block_id="churned_on",
            optional=True,
            label=t(lang, "modal_churned_on"),
            element=DatePickerElement(action_id="value", initial_date=churned_on or None),
        ),
        InputBlock(
            block_id="source",
            optional=True,
            label=t(lang, "modal_source"),
            element=PlainTextInputElement(
                action_id="value", initial_value=source or None, max_length=255
            ),
        ),
        InputBlock(
            block_id="channel",
            label=t(lang, "modal_channel"),
            element=StaticSelectElement(
                action_id="value", options=channels, initial_option=channel_initial
            ),
        ),
        InputBlock(
            block_id="score",
            optional=True,
            label=t(lang, "modal_score"),
            element=PlainTextInputElement(
                action_id="value",
                initial_value=str(score) if score is not None else None,
                max_length=5,
            ),
        ),
        InputBlock(
            block_id="consent",
            label=t(lang, "modal_consent"),
            element=RadioButtonsElement(
                action_id="value", options=consents, initial_option=consent_initial
            ),
        ),
    ]
    view = View(
        type="modal",
        callback_id=SEND_TO_TRIAGE_VIEW,
        title=PlainTextObject(text=fold(t(lang, "modal_title"), 24)),
        submit=PlainTextObject(text=fold(t(lang, "modal_submit"), 24)),
        close=PlainTextObject(text=fold(t(lang, "modal_cancel"), 24)),
        private_metadata=private_metadata,
        blocks=blocks,
    )
    return view.to_dict()
