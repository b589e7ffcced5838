"""The case card: the thread's top message, with everything the person calling needs."""

from __future__ import annotations

from dataclasses import dataclass
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
    Option,
    OverflowMenuElement,
    PlainTextObject,
    SectionBlock,
)

from bot.cases.consent import consent_not_stated
from bot.classification.taxonomy import Taxonomy
from bot.slack.blocks import (
    FIELD_LIMIT,
    HEADER_LIMIT,
    MAX_BLOCKS,
    SECTION_LIMIT,
    Message,
    escape,
    fields_block,
    fold,
    format_time,
    italic,
    quote,
    relative_time,
    section_block,
)
from bot.slack.i18n import t
from storage.models import Case, Classification, Verdict

VERBATIM_FOLD = 1200  # longer verbatims are cut on the card; "Show all" opens the whole text
MAX_VERDICTS_ON_CARD = 6

CLAIM_ACTION = "case_claim"
RELEASE_ACTION = "case_release"
CONTACT_ACTION = "case_contact"
NOTE_ACTION = "case_note"
RESOLVE_ACTION = "case_resolve"
REOPEN_ACTION = "case_reopen"
MORE_ACTION = "case_more"
SHOW_ALL_ACTION = "verdict_show_all"
MAX_CONTACTS_ON_CARD = 8


def latest_classification(verdict: Verdict) -> Classification | None:
    """The newest classification of a verdict."""
    return verdict.classifications[0] if verdict.classifications else None


@dataclass(frozen=True)
class ContactLine:
    """One contact attempt as the card shows it."""

    at: datetime
    actor: str
    channel: str
    outcome: str
    outside_hours: bool
    note: str | None


@dataclass(frozen=True)
class CaseHistory:
    """What the card tells about the customer's past: surveys and contacts in the window,
    earlier cases, contact attempts, what the customer was already told."""

    surveys_in_window: int = 0
    contacts_in_window: int = 0
    window_days: int = 90
    fatigue_threshold: int = 2
    earlier: tuple[tuple[int, str], ...] = ()  # (case id, status)
    contacts: tuple[ContactLine, ...] = ()
    told: tuple[tuple[int, str], ...] = ()  # (case id, what the customer was told)

    @property
    def solicitations(self) -> int:
        return self.surveys_in_window + self.contacts_in_window

    @property
    def fatigued(self) -> bool:
        return self.solicitations > self.fatigue_threshold


@dataclass(frozen=True)
class CardContext:
    """What the card needs besides the case: language, time zone, taxonomy, now, history,
    and the guidance for the next contact."""

    lang: str
    tz: ZoneInfo
    taxonomy: Taxonomy
    now: datetime
    history: CaseHistory = CaseHistory()
    opening: str = ""
    mask_reference: bool = False
    # Fields the model read because the parser could not (field -> value), and the references
    # it read that belong to another open case (never merged): both shown as the model's.
    model_read: tuple[tuple[str, str], ...] = ()
    model_suggestions: tuple[tuple[str, int], ...] = ()


def _status_line(case: Case, ctx: CardContext) -> str:
    status = case.customer.status
    if status == "former" and case.customer.churned_on:
        shown = t(ctx.lang, "status_former_since", date=case.customer.churned_on)
        return shown + _model_mark(
            ctx, "churned_on" if "churned_on" in dict(ctx.model_read) else "status"
        )
    shown = t(ctx.lang, f"status_{status}" if status in ("current", "former") else "status_unknown")
    return shown + _model_mark(ctx, "status")


def mask_reference(value: str) -> str:
    """Show enough of a reference to recognise it, not to use it: `j***@example.fr`, `+33******78`."""
    if "@" in value:
        name, _, domain = value.partition("@")
        return f"{name[:1]}***@{domain}"
    if len(value) <= 4:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 5) + value[-2:]


def _customer_ref(case: Case, ctx: CardContext) -> str:
    if case.customer.ref_kind in ("unidentified", "erased"):
        key = "customer_erased" if case.customer.ref_kind == "erased" else "no_reference"
        return "_" + t(ctx.lang, key) + "_"
    value = case.customer.ref.split(":", 1)[-1]
    shown = "`" + (mask_reference(value) if ctx.mask_reference else value) + "`"
    return shown + _model_mark(ctx, "customer_reference")


def _model_mark(ctx: CardContext, name: str) -> str:
    return f" _({t(ctx.lang, 'read_by_model')})_" if name in dict(ctx.model_read) else ""


def _model_read_text(ctx: CardContext) -> str:
    """What the model read, in one line, and the references it read that are another case's."""
    lines = []
    if ctx.model_read:
        parts = []
        for name, value in ctx.model_read:
            if name == "customer_reference":
                shown = mask_reference(value) if ctx.mask_reference else value
                parts.append(f"{t(ctx.lang, 'customer')} `{escape(shown)}`")
            elif name == "status":
                parts.append(t(ctx.lang, f"status_{value}"))
            elif name == "churned_on":
                parts.append(escape(value))
            elif name == "consent":
                parts.append(t(ctx.lang, "intake_read_consent_no"))
            elif name == "verbatim":
                parts.append(t(ctx.lang, "model_read_verbatim"))
        lines.append(t(ctx.lang, "model_read_line", fields=", ".join(parts)))
    for ref, case_id in ctx.model_suggestions:
        shown = mask_reference(ref) if ctx.mask_reference else ref
        lines.append(t(ctx.lang, "model_suggestion", ref=escape(shown), case=case_id))
    return "\n".join(lines)


def _who_text(case: Case, ctx: CardContext) -> str:
    customer, lang = case.customer, ctx.lang
    languages = sorted({v.language for v in case.verdicts if v.language and v.language != "und"})
    parts = []
    if languages:
        parts.append(f"{t(lang, 'who_language')}: {', '.join(languages)}")
    parts.append(f"{t(lang, 'who_timezone')}: {customer.timezone or ctx.tz.key}")
    if customer.preferred_channel or customer.contact_hours:
        prefers = " ".join(x for x in (customer.preferred_channel, customer.contact_hours) if x)
        parts.append(f"{t(lang, 'who_prefers')}: {prefers}")
    return " · ".join(parts)


def _state(case: Case, ctx: CardContext) -> str:
    text = t(ctx.lang, f"state_{case.status}", owner=case.owner_id or "")
    if case.status in ("resolved", "expired") and case.outcome:
        text += f": {t(ctx.lang, f'resolution_{case.outcome}')}"
    return text


def _verdict_blocks(verdict: Verdict, ctx: CardContext) -> list[Block]:
    meta = t(
        ctx.lang,
        "verdict_meta",
        source=escape(verdict.origin)
        if verdict.origin
        else t(ctx.lang, f"source_{verdict.source}"),
        channel=t(ctx.lang, f"channel_{verdict.channel}"),
        date=format_time(verdict.received_at, ctx.tz),
    )
    if verdict.score is not None:
        meta += " · " + t(ctx.lang, "score", score=verdict.score)
    if verdict.deleted_at is not None:
        meta += " · :wastebasket: " + t(ctx.lang, "deleted_in_slack")
    elif verdict.edited_at is not None:
        meta += " · " + t(ctx.lang, "edited")
    text = SectionBlock(
        text=MarkdownTextObject(
            text=fold(quote(fold(verdict.text, VERBATIM_FOLD)), SECTION_LIMIT)
            if verdict.text
            else "_" + t(ctx.lang, "verbatim_erased") + "_"  # erased on request or by retention
        )
    )
    if len(verdict.text) > VERBATIM_FOLD:
        text.accessory = ButtonElement(
            text=t(ctx.lang, "show_all"), action_id=SHOW_ALL_ACTION, value=str(verdict.id)
        )
    blocks: list[Block] = [
        ContextBlock(elements=[MarkdownTextObject(text=fold(meta, FIELD_LIMIT))]),
        text,
    ]
    result = latest_classification(verdict)
    if result is not None and result.summary:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(text=fold(italic(escape(result.summary)), FIELD_LIMIT))
                ]
            )
        )
    return blocks


def _history_text(ctx: CardContext) -> str:
    history, lang = ctx.history, ctx.lang
    parts: list[str] = []
    if history.fatigued:
        parts.append(t(lang, "fatigue", count=history.solicitations, days=history.window_days))
    elif history.solicitations > 1:
        parts.append(
            t(lang, "surveys_in_window", count=history.solicitations, days=history.window_days)
        )
    if history.earlier:
        listed = ", ".join(
            f"#{case_id} ({t(lang, f'state_{status}', owner='')})"
            for case_id, status in history.earlier[:5]
        )
        parts.append(f"{t(lang, 'earlier_cases')}: {listed}")
    return " · ".join(parts)


def _contacts_text(ctx: CardContext) -> str:
    lang, lines = ctx.lang, []
    for c in ctx.history.contacts[-MAX_CONTACTS_ON_CARD:]:
        line = (
            f"• {format_time(c.at, ctx.tz)} · <@{c.actor}> · {t(lang, f'contact_channel_{c.channel}')}"
            f" · *{t(lang, f'outcome_{c.outcome}')}*"
        )
        if c.outside_hours:
            line += f" · :warning: {t(lang, 'outside_hours')}"
        if c.note:
            line += f"\n   _{escape(fold(c.note, 200))}_"
        lines.append(line)
    hidden = len(ctx.history.contacts) - MAX_CONTACTS_ON_CARD
    if hidden > 0:
        lines.insert(0, f"… +{hidden}")
    return "\n".join(lines) or t(lang, "no_contacts")


def _actions(case: Case, lang: str) -> ActionsBlock:
    value = str(case.id)
    if case.status not in ("open", "claimed", "contacting"):
        elements: list[Any] = [
            ButtonElement(text=t(lang, "reopen"), action_id=REOPEN_ACTION, value=value)
        ]
        return ActionsBlock(block_id=f"case_actions:{case.id}", elements=elements)
    first = (
        ButtonElement(text=t(lang, "claim"), action_id=CLAIM_ACTION, value=value, style="primary")
        if case.status == "open"
        else ButtonElement(text=t(lang, "release"), action_id=RELEASE_ACTION, value=value)
    )
    more = OverflowMenuElement(
        action_id=MORE_ACTION,
        options=[
            Option(value=f"{name}:{case.id}", text=PlainTextObject(text=t(lang, name)))
            for name in ("assign", "reclassify", "snooze", "escalate")
        ],
    )
    elements = [
        first,
        ButtonElement(text=t(lang, "log_contact"), action_id=CONTACT_ACTION, value=value),
        ButtonElement(text=t(lang, "add_note"), action_id=NOTE_ACTION, value=value),
        ButtonElement(text=t(lang, "resolve"), action_id=RESOLVE_ACTION, value=value),
        more,
    ]
    return ActionsBlock(block_id=f"case_actions:{case.id}", elements=elements)


def case_card(case: Case, ctx: CardContext) -> Message:
    """The case's root message: who, why, reasons, history, deadline, owner, and what to do next."""
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
        relative=relative_time(lang, case.deadline_at, ctx.now),
    )
    blocks: list[Block] = [
        HeaderBlock(text=fold(title, HEADER_LIMIT)),
        section_block(f"*{_state(case, ctx)}*"),
        fields_block(
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
        ContextBlock(elements=[MarkdownTextObject(text=fold(_who_text(case, ctx), FIELD_LIMIT))]),
    ]
    if consent_not_stated(case):
        blocks.append(section_block(t(lang, "consent_not_stated")))
    read = _model_read_text(ctx)
    if read:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=fold(read, FIELD_LIMIT))]))
    history = _history_text(ctx)
    if history:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=fold(history, FIELD_LIMIT))]))
    blocks += [
        DividerBlock(),
        section_block("*" + t(lang, "verdicts", count=len(case.verdicts)) + "*"),
    ]
    for verdict in case.verdicts[:MAX_VERDICTS_ON_CARD]:
        blocks.extend(_verdict_blocks(verdict, ctx))
    hidden = len(case.verdicts) - MAX_VERDICTS_ON_CARD
    if hidden > 0:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=t(lang, "more_verdicts", count=hidden))])
        )
    blocks += [DividerBlock(), section_block(f"*{t(lang, 'contacts')}*\n{_contacts_text(ctx)}")]
    if ctx.history.told:
        told = "\n".join(
            f"• #{case_id}: {escape(fold(text, 300))}" for case_id, text in ctx.history.told[:3]
        )
        blocks.append(section_block(f"*{t(lang, 'already_told')}*\n{told}"))
    if case.status in ("open", "claimed", "contacting"):
        if ctx.opening:
            blocks.append(section_block(f"*{t(lang, 'opening_line')}*\n> {escape(ctx.opening)}"))
        if result is not None and result.suggested_action:
            blocks.append(
                section_block(f"*{t(lang, 'next_step')}*\n{escape(result.suggested_action)}")
            )
    elif case.resolution_summary:
        blocks.append(
            section_block(
                f"*{t(lang, 'modal_resolve_summary')}*\n{escape(case.resolution_summary)}"
            )
        )
    blocks.append(_actions(case, lang))
    rendered = [block.to_dict() for block in blocks[:MAX_BLOCKS]]
    fallback = f"{title} · {_state(case, ctx)}"
    if newest is not None:
        # The fallback is what notifications show: escaped like the blocks.
        fallback += f"\n{escape(fold(newest.text, 300))}"
    return Message(text=fallback, blocks=rendered)


def thread_link(team_url: str, case: Case) -> str | None:
    """A link that opens the case's thread in Slack (the permalink's documented shape)."""
    if not case.root_ts:
        return None
    return f"{team_url.rstrip('/')}/archives/{case.slack_channel}/p{case.root_ts.replace('.', '')}"
