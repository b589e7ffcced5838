"""Block Kit, rendered in one place, always within Slack's limits (fold, don't fail)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    DatePickerElement,
    DateTimePickerElement,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    OverflowMenuElement,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.i18n import t
from bot.taxonomy import Taxonomy
from storage.models import Case, Classification, Verdict

if TYPE_CHECKING:  # the digest's data lives with its service, which imports this module
    from bot.digests import CaseLine, Digest
    from storage.queries import FatiguedCustomer

MAX_BLOCKS = 50
SECTION_LIMIT = 3000
FIELD_LIMIT = 2000
HEADER_LIMIT = 150
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


def _status_line(case: Case, ctx: CardContext) -> str:
    status = case.customer.status
    if status == "former" and case.customer.churned_on:
        return t(ctx.lang, "status_former_since", date=case.customer.churned_on)
    return t(ctx.lang, f"status_{status}" if status in ("current", "former") else "status_unknown")


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
    return "`" + (mask_reference(value) if ctx.mask_reference else value) + "`"


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
                elements=[MarkdownTextObject(text=fold(_italic(result.summary), FIELD_LIMIT))]
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
            line += f"\n   _{fold(c.note, 200)}_"
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
        ContextBlock(elements=[MarkdownTextObject(text=fold(_who_text(case, ctx), FIELD_LIMIT))]),
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
    hidden = len(case.verdicts) - MAX_VERDICTS_ON_CARD
    if hidden > 0:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=t(lang, "more_verdicts", count=hidden))])
        )
    blocks += [DividerBlock(), _section(f"*{t(lang, 'contacts')}*\n{_contacts_text(ctx)}")]
    if ctx.history.told:
        told = "\n".join(
            f"• #{case_id}: {fold(text, 300)}" for case_id, text in ctx.history.told[:3]
        )
        blocks.append(_section(f"*{t(lang, 'already_told')}*\n{told}"))
    if case.status in ("open", "claimed", "contacting"):
        if ctx.opening:
            blocks.append(_section(f"*{t(lang, 'opening_line')}*\n> {ctx.opening}"))
        if result is not None and result.suggested_action:
            blocks.append(_section(f"*{t(lang, 'next_step')}*\n{result.suggested_action}"))
    elif case.resolution_summary:
        blocks.append(_section(f"*{t(lang, 'modal_resolve_summary')}*\n{case.resolution_summary}"))
    blocks.append(_actions(case, lang))
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


# --- the case's action forms ----------------------------------------------------------------

ASSIGN_VIEW = "case_assign_submit"
CONTACT_VIEW = "case_contact_submit"
NOTE_VIEW = "case_note_submit"
RECLASSIFY_VIEW = "case_reclassify_submit"
SNOOZE_VIEW = "case_snooze_submit"
ESCALATE_VIEW = "case_escalate_submit"
RESOLVE_VIEW = "case_resolve_submit"
VERDICT_VIEW = "verdict_full"


def _modal(
    callback_id: str, lang: str, title: str, case_id: int, blocks: list[Block], submit: bool = True
) -> dict[str, Any]:
    view = View(
        type="modal",
        callback_id=callback_id,
        title=PlainTextObject(text=fold(title, 24)),
        submit=PlainTextObject(text=fold(t(lang, "modal_save"), 24)) if submit else None,
        close=PlainTextObject(text=fold(t(lang, "modal_cancel"), 24)),
        private_metadata=json.dumps({"case": case_id}),
        blocks=blocks,
    )
    return view.to_dict()


def _select(
    lang: str,
    block_id: str,
    label: str,
    prefix: str,
    values: tuple[str, ...],
    optional: bool = False,
) -> InputBlock:
    options = [
        Option(value=v, text=PlainTextObject(text=fold(t(lang, f"{prefix}{v}"), 75)))
        for v in values
    ]
    return InputBlock(
        block_id=block_id,
        label=label,
        optional=optional,
        element=StaticSelectElement(action_id="value", options=options),
    )


def _text_input(
    block_id: str,
    label: str,
    *,
    multiline: bool = True,
    optional: bool = False,
    max_length: int = 2000,
) -> InputBlock:
    return InputBlock(
        block_id=block_id,
        label=label,
        optional=optional,
        element=PlainTextInputElement(
            action_id="value", multiline=multiline, max_length=max_length
        ),
    )


def _override(lang: str) -> InputBlock:
    option = Option(
        value="yes", text=PlainTextObject(text=fold(t(lang, "modal_override_option"), 75))
    )
    return InputBlock(
        block_id="override",
        label=t(lang, "modal_override"),
        optional=True,
        element=CheckboxesElement(action_id="value", options=[option]),
    )


def _case_line(case: Case, taxonomy: Taxonomy, lang: str) -> SectionBlock:
    return _section(
        f"*{t(lang, 'case_title', id=case.id, reason=taxonomy.label(case.primary_reason, lang))}*"
    )


def assign_modal(case: Case, taxonomy: Taxonomy, lang: str) -> dict[str, Any]:
    """Pick the case's new owner (managers)."""
    blocks: list[Block] = [
        _case_line(case, taxonomy, lang),
        InputBlock(
            block_id="owner",
            label=t(lang, "modal_assign_to"),
            element=UserSelectElement(action_id="value"),
        ),
    ]
    return _modal(ASSIGN_VIEW, lang, t(lang, "modal_assign"), case.id, blocks)


def contact_modal(
    case: Case, taxonomy: Taxonomy, lang: str, channels: tuple[str, ...], outcomes: tuple[str, ...]
) -> dict[str, Any]:
    """Log one try to reach the customer: how, outcome, when, a note."""
    blocks: list[Block] = [
        _case_line(case, taxonomy, lang),
        _select(lang, "channel", t(lang, "modal_contact_channel"), "contact_channel_", channels),
        _select(lang, "outcome", t(lang, "modal_contact_outcome"), "outcome_", outcomes),
        InputBlock(
            block_id="when",
            label=t(lang, "modal_contact_when"),
            optional=True,
            element=DateTimePickerElement(action_id="value"),
        ),
        _text_input("note", t(lang, "modal_note_text"), optional=True),
        _override(lang),
    ]
    return _modal(CONTACT_VIEW, lang, t(lang, "modal_contact"), case.id, blocks)


def note_modal(case: Case, taxonomy: Taxonomy, lang: str) -> dict[str, Any]:
    """A note on the case."""
    blocks: list[Block] = [
        _case_line(case, taxonomy, lang),
        _text_input("note", t(lang, "modal_note_text")),
        _override(lang),
    ]
    return _modal(NOTE_VIEW, lang, t(lang, "modal_note"), case.id, blocks)


def reclassify_modal(case: Case, taxonomy: Taxonomy, lang: str) -> dict[str, Any]:
    """Pick the right reason."""
    options = [
        Option(value=rid, text=PlainTextObject(text=fold(taxonomy.label(rid, lang), 75)))
        for rid in taxonomy.ids()
    ]
    initial = next((o for o in options if o.value == case.primary_reason), None)
    blocks: list[Block] = [
        _case_line(case, taxonomy, lang),
        InputBlock(
            block_id="reason",
            label=t(lang, "modal_reason"),
            element=StaticSelectElement(action_id="value", options=options, initial_option=initial),
        ),
    ]
    return _modal(RECLASSIFY_VIEW, lang, t(lang, "modal_reclassify"), case.id, blocks)


def snooze_modal(
    case: Case, taxonomy: Taxonomy, lang: str, choices: tuple[str, ...]
) -> dict[str, Any]:
    """How long to pause reminders, and why."""
    blocks: list[Block] = [
        _case_line(case, taxonomy, lang),
        _select(lang, "length", t(lang, "modal_snooze_for"), "snooze_", choices),
        _text_input("reason", t(lang, "modal_snooze_reason"), multiline=False, max_length=300),
    ]
    return _modal(SNOOZE_VIEW, lang, t(lang, "modal_snooze"), case.id, blocks)


def escalate_modal(case: Case, taxonomy: Taxonomy, lang: str) -> dict[str, Any]:
    """Why the managers should look now."""
    blocks: list[Block] = [
        _case_line(case, taxonomy, lang),
        _text_input("reason", t(lang, "modal_snooze_reason"), optional=True, max_length=500),
    ]
    return _modal(ESCALATE_VIEW, lang, t(lang, "escalate"), case.id, blocks)


def resolve_modal(
    case: Case, taxonomy: Taxonomy, lang: str, outcomes: tuple[str, ...]
) -> dict[str, Any]:
    """Close with an honest outcome and what the customer was told."""
    blocks: list[Block] = [
        _case_line(case, taxonomy, lang),
        _select(lang, "outcome", t(lang, "modal_resolve_outcome"), "resolution_", outcomes),
        _text_input("summary", t(lang, "modal_resolve_summary")),
        _override(lang),
    ]
    return _modal(RESOLVE_VIEW, lang, t(lang, "modal_resolve"), case.id, blocks)


def verdict_modal(verdict: Verdict, lang: str, tz: ZoneInfo) -> dict[str, Any]:
    """The whole verbatim of a long verdict, in as many sections as it needs."""
    chunk = SECTION_LIMIT - 100
    text = verdict.text
    parts = [text[i : i + chunk] for i in range(0, len(text), chunk)][:90]
    blocks: list[Block] = [
        ContextBlock(elements=[MarkdownTextObject(text=format_time(verdict.received_at, tz))]),
        *(_section(quote(part)) for part in parts),
    ]
    return _modal(
        VERDICT_VIEW, lang, t(lang, "modal_verdict"), verdict.case_id or 0, blocks, submit=False
    )


def thread_link(team_url: str, case: Case) -> str | None:
    """A link that opens the case's thread in Slack (the permalink's documented shape)."""
    if not case.root_ts:
        return None
    return f"{team_url.rstrip('/')}/archives/{case.slack_channel}/p{case.root_ts.replace('.', '')}"


def home_view(
    owned: list[Case],
    unassigned: list[Case],
    overdue: list[Case],
    ctx: CardContext,
    team_url: str,
) -> dict[str, Any]:
    """A person's App Home: their open cases by deadline, cases waiting for an owner, overdue ones."""
    lang = ctx.lang
    blocks: list[Block] = [HeaderBlock(text=fold(t(lang, "home_title"), HEADER_LIMIT))]
    for title, cases in (
        ("home_mine", owned),
        ("home_unassigned", unassigned),
        ("home_overdue", overdue),
    ):
        blocks.append(_section(f"*{t(lang, title)}*"))
        if not cases:
            blocks.append(ContextBlock(elements=[MarkdownTextObject(text=t(lang, "home_none"))]))
        for case in cases[:10]:
            line = (
                f"*#{case.id}* · {ctx.taxonomy.label(case.primary_reason, lang)} · "
                f"{t(lang, 'deadline')}: {format_time(case.deadline_at, ctx.tz)} "
                f"({_relative(lang, case.deadline_at, ctx.now)})"
            )
            if case.owner_id and title != "home_mine":
                line += f" · <@{case.owner_id}>"
            section = _section(line)
            link = thread_link(team_url, case)
            if link:
                section.accessory = ButtonElement(
                    text=t(lang, "open_thread"),
                    url=link,
                    action_id=f"open_thread:{title}:{case.id}",
                )
            blocks.append(section)
        blocks.append(DividerBlock())
    return View(type="home", blocks=blocks[:100]).to_dict()


# --- /triage answers --------------------------------------------------------------------------

LIST_MORE_ACTION = "triage_list_more"


def list_message(
    rows: list[tuple[Case, str | None]],
    total: int,
    offset: int,
    more: bool,
    more_state: str,
    team: Any,
    taxonomy: Taxonomy,
    now: datetime,
) -> Message:
    """A compact page of cases: deadline, owner, reason, a link to each thread, and "more"."""
    lang = team.language
    if not rows:
        return text_message(t(lang, "cmd_list_empty"))
    lines = []
    for case, link in rows:
        label = f"<{link}|#{case.id}>" if link else f"#{case.id}"
        owner = f"<@{case.owner_id}>" if case.owner_id else t(lang, "unclaimed")
        overdue = (
            " :rotating_light:"
            if case.deadline_at < now and case.status in ("open", "claimed", "contacting")
            else ""
        )
        lines.append(
            f"{label} · {taxonomy.label(case.primary_reason, lang)} · {owner} · "
            f"{format_time(case.deadline_at, team.tz)} ({_relative(lang, case.deadline_at, now)}){overdue}"
        )
    header = t(lang, "cmd_list_header", first=offset + 1, last=offset + len(rows), total=total)
    blocks: list[Block] = [_section(f"*{header}*"), _section("\n".join(lines))]
    if more:
        blocks.append(
            ActionsBlock(
                block_id="triage_list",
                elements=[
                    ButtonElement(
                        text=t(lang, "cmd_more"),
                        action_id=LIST_MORE_ACTION,
                        value=fold(more_state, 2000),
                    )
                ],
            )
        )
    return Message(text=header, blocks=[b.to_dict() for b in blocks])


def span_text(seconds: float | None, lang: str) -> str:
    """A duration as a person says it: minutes, hours or days."""
    if seconds is None:
        return "–"
    if seconds < 3600:
        return t(lang, "span_min", n=max(1, round(seconds / 60)))
    if seconds < 48 * 3600:
        return t(lang, "span_h", n=round(seconds / 3600, 1))
    return t(lang, "span_d", n=round(seconds / 86400, 1))


def stats_message(figures: dict[str, Any], period: Any, team: Any, taxonomy: Taxonomy) -> Message:
    """`/triage stats`: why customers leave and whether the team acts, over a period."""
    lang = team.language
    days = max(1, round(period.total_seconds() / 86400))
    reasons: dict[str, int] = figures["reasons"]
    before: dict[str, int] = figures["reasons_before"]
    lines = []
    for reason in sorted(set(reasons) | set(before), key=lambda r: (-reasons.get(r, 0), r)):
        now_n, then_n = reasons.get(reason, 0), before.get(reason, 0)
        change = now_n - then_n
        arrow = f"+{change}" if change > 0 else str(change)
        lines.append(f"• {taxonomy.label(reason, lang)}: *{now_n}* ({arrow})")
    cases: dict[str, int] = figures["cases"]
    # Expired cases count against the team: the share is of every case closed in the period.
    closed = cases["resolved"] + cases["expired"]
    share = f"{round(100 * cases['resolved_before_deadline'] / closed)}%" if closed else "–"
    team_lines = [
        t(lang, "stats_opened", n=cases["opened"]),
        t(lang, "stats_resolved", n=cases["resolved"], share=share),
        t(lang, "stats_expired", n=cases["expired_without_action"]),
        t(lang, "stats_overdue", n=cases["overdue"]),
        t(lang, "stats_claim", value=span_text(figures["claim"], lang)),
        t(lang, "stats_contact", value=span_text(figures["contact"], lang)),
        t(lang, "stats_fatigue", n=figures["fatigued"]),
    ]
    load = ", ".join(f"<@{owner}> {n}" for owner, n in figures["load"][:15]) or "–"
    blocks: list[Block] = [
        HeaderBlock(text=fold(t(lang, "stats_title", days=days), HEADER_LIMIT)),
        _section(f"*{t(lang, 'stats_reasons')}*\n" + ("\n".join(lines) or t(lang, "stats_quiet"))),
        _section("\n".join(team_lines)),
        _section(f"*{t(lang, 'stats_load')}*\n{load}"),
    ]
    return Message(text=t(lang, "stats_title", days=days), blocks=[b.to_dict() for b in blocks])


# --- digests (issue 8) --------------------------------------------------------------------------

DIGEST_LISTED = 10  # cases named in the summary; the thread lists the rest (up to 50)
DIGEST_FATIGUE_LISTED = 5


def _signed(n: int) -> str:
    return f"+{n}" if n > 0 else (f"−{-n}" if n < 0 else "±0")


def _digest_span(lang: str, seconds: float | None) -> str:
    """A duration as people say it: `45 min`, `2 h 10 min`, `3 d 4 h`."""
    if seconds is None:
        return t(lang, "digest_na")
    minutes = max(0, round(seconds / 60))
    if minutes < 60:
        return t(lang, "span_min", n=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        rest = f" {t(lang, 'span_min', n=minutes)}" if minutes else ""
        return t(lang, "span_h", n=hours) + rest
    days, hours = divmod(hours, 24)
    return t(lang, "span_d", n=days) + (f" {t(lang, 'span_h', n=hours)}" if hours else "")


def _short_date(lang: str, moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    month = t(lang, "months").split()[local.month - 1]
    return f"{local.day} {month} {local.year}"


def _who(target: str) -> str:
    """A user or channel id as a mention."""
    return f"<#{target}>" if target.startswith(("C", "G")) else f"<@{target}>"


def _case_ref(lang: str, line: CaseLine) -> str:
    label = t(lang, "digest_case", id=line.case_id)
    return f"<{line.link}|{label}>" if line.link else label


def _packed(title: str, lines: list[str]) -> list[SectionBlock]:
    """`title` and `lines` in as many sections as Slack's 3000 characters need (never cut a line
    unless one alone is too long)."""
    sections: list[SectionBlock] = []
    current = title
    for line in lines:
        if len(current) + 1 + len(line) > SECTION_LIMIT and current:
            sections.append(_section(current))
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        sections.append(_section(current))
    return sections


def _expired_lines(d: Digest, lines: list[CaseLine]) -> list[str]:
    lang = d.lang
    out = []
    for line in lines:
        owner = f"<@{line.owner_id}>" if line.owner_id else t(lang, "no_owner")
        reminded = ", ".join(_who(x) for x in line.reminded) or t(lang, "digest_nobody")
        out.append(
            t(
                lang,
                "digest_expired_line",
                case=_case_ref(lang, line),
                reason=d.label(line.reason),
                owner=owner,
                reminded=reminded,
                told=line.escalations,
            )
        )
    return out


def _overdue_lines(d: Digest, lines: list[CaseLine]) -> list[str]:
    lang = d.lang
    return [
        t(
            lang,
            "digest_overdue_line",
            case=_case_ref(lang, line),
            reason=d.label(line.reason),
            owner=f"<@{line.owner_id}>" if line.owner_id else t(lang, "no_owner"),
            deadline=format_time(line.deadline_at, d.tz),
            relative=_relative(lang, line.deadline_at, d.now),
        )
        for line in lines
    ]


def _fatigue_lines(d: Digest, rows: list[FatiguedCustomer]) -> list[str]:
    lang = d.lang
    return [
        t(
            lang,
            "digest_fatigue_line",
            case=t(lang, "digest_case", id=row.case_id)
            if row.case_id
            else t(lang, "digest_no_case"),
            surveys=row.surveys,
            contacts=row.contacts,
        )
        for row in rows
    ]


def _more(lang: str, total: int, shown: int) -> list[str]:
    return [t(lang, "digest_more", count=total - shown)] if total > shown else []


def _reasons_text(d: Digest) -> str:
    lang = d.lang
    head = t(
        lang,
        f"digest_verdicts_{d.period}",
        count=d.verdicts,
        change=_signed(d.verdicts - d.verdicts_previous),
    )
    if d.without_consent:
        head += "\n" + t(lang, "digest_without_consent", count=d.without_consent)
    lines = [
        t(
            lang,
            "digest_reason_line",
            reason=d.label(r.reason),
            count=r.count,
            change=_signed(r.change),
        )
        for r in d.reasons
    ]
    return "\n".join([f"*{t(lang, 'digest_reasons')}*", head, *lines])


def _outcomes(lang: str, by_outcome: dict[str, int]) -> str:
    parts = sorted(by_outcome.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{t(lang, f'resolution_{o}')} {n}" for o, n in parts)


def _cases_text(d: Digest) -> str:
    lang = d.lang
    lines = [
        f"*{t(lang, 'digest_cases')}*",
        t(
            lang,
            "digest_cases_line",
            opened=d.opened,
            resolved=sum(d.resolved.values()),
            expired=sum(d.expired.values()),
            overdue=d.overdue_total,
        ),
    ]
    if d.resolved:
        lines.append(t(lang, "digest_resolved_by", outcomes=_outcomes(lang, d.resolved)))
    if d.expired:
        lines.append(t(lang, "digest_expired_by", outcomes=_outcomes(lang, d.expired)))
    return "\n".join(lines)


def _speed_text(d: Digest) -> str:
    lang = d.lang
    share = d.share_in_time
    in_time = (
        t(
            lang,
            "digest_in_time",
            pct=round(100 * share),
            ok=d.resolved_in_time,
            closed=d.closed,
        )
        if share is not None
        else t(lang, "digest_in_time_none")
    )
    return "\n".join(
        [
            f"*{t(lang, 'digest_speed')}*",
            in_time,
            t(lang, "digest_median_claim", value=_digest_span(lang, d.median_claim)),
            t(lang, "digest_median_contact", value=_digest_span(lang, d.median_first_contact)),
        ]
    )


def _review_text(d: Digest) -> str:
    lang, review = d.lang, d.review
    text = t(
        lang,
        "digest_review",
        cases=review.cases,
        provisional=review.provisional,
        low=review.low_confidence,
    )
    if review.case_ids:
        shown = ", ".join(f"#{i}" for i in review.case_ids[:DIGEST_LISTED])
        text += "\n" + t(lang, "digest_review_cases", cases=shown)
        text += "".join(
            " " + m for m in _more(lang, review.cases, min(len(review.case_ids), DIGEST_LISTED))
        )
    return text


def digest_messages(d: Digest) -> tuple[Message, list[Message]]:
    """A digest as Slack messages: the summary for the channel, and the replies for its thread
    (the verbatims of rising reasons, then the lists too long for the summary)."""
    lang = d.lang
    title = t(lang, f"digest_title_{d.period}")
    span = f"{_short_date(lang, d.start, d.tz)} → {_short_date(lang, d.end, d.tz)}"
    if d.quiet:
        return text_message(t(lang, f"digest_quiet_{d.period}", title=title, span=span)), []
    sections = set(d.sections)
    blocks: list[Block] = [
        HeaderBlock(text=fold(f"{title} · {span}", HEADER_LIMIT)),
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=f"{format_time(d.start, d.tz)} → {format_time(d.end, d.tz)} · `{d.name}`"
                )
            ]
        ),
    ]
    if "reasons" in sections:
        blocks.append(_section(_reasons_text(d)))
    if "cases" in sections:
        blocks += [DividerBlock(), _section(_cases_text(d))]
    # Expired without action is in every digest, whatever its sections (the product's rule).
    if d.expired_without_action_total:
        shown = d.expired_without_action[:DIGEST_LISTED]
        title_line = t(lang, "digest_expired_title", count=d.expired_without_action_total)
        more = _more(lang, d.expired_without_action_total, len(shown))
        blocks += _packed(title_line, _expired_lines(d, shown) + more)
    if "cases" in sections and d.overdue_total:
        shown = d.overdue[:DIGEST_LISTED]
        title_line = t(lang, "digest_overdue_title", count=d.overdue_total)
        blocks += _packed(
            title_line, _overdue_lines(d, shown) + _more(lang, d.overdue_total, len(shown))
        )
    if "speed" in sections:
        blocks += [DividerBlock(), _section(_speed_text(d))]
    if "fatigue" in sections:
        key = "digest_fatigue" if d.fatigue_total else "digest_fatigue_none"
        title_line = t(
            lang, key, count=d.fatigue_total, threshold=d.fatigue_threshold, days=d.fatigue_days
        )
        shown_fatigue = d.fatigue[:DIGEST_FATIGUE_LISTED]
        more = _more(lang, d.fatigue_total, len(shown_fatigue))
        blocks += _packed(title_line, _fatigue_lines(d, shown_fatigue) + more)
    if "review" in sections:
        blocks.append(_section(_review_text(d)))

    details: list[Message] = []
    if "verbatims" in sections and d.verbatims:
        verbatim_blocks: list[Block] = [_section(f"*{t(lang, 'digest_verbatims')}*")]
        for v in d.verbatims[: (MAX_BLOCKS - 1) // 2]:
            meta = t(
                lang, "digest_verbatim_meta", reason=d.label(v.reason), change=_signed(v.change)
            )
            meta += " · " + t(lang, f"channel_{v.channel}")
            if v.score is not None:
                meta += " · " + t(lang, "score", score=v.score)
            if v.case_id is not None:
                meta += " · " + t(lang, "digest_case", id=v.case_id)
            verbatim_blocks += [
                ContextBlock(elements=[MarkdownTextObject(text=fold(meta, FIELD_LIMIT))]),
                _section(quote(fold(v.text, 500))),
            ]
        details.append(
            Message(
                text=t(lang, "digest_verbatims"),
                blocks=[b.to_dict() for b in verbatim_blocks[:MAX_BLOCKS]],
            )
        )
    full: list[Block] = []
    if len(d.expired_without_action) > DIGEST_LISTED:
        title_line = t(lang, "digest_expired_title", count=d.expired_without_action_total)
        more = _more(lang, d.expired_without_action_total, len(d.expired_without_action))
        full += _packed(title_line, _expired_lines(d, d.expired_without_action) + more)
    if "cases" in sections and len(d.overdue) > DIGEST_LISTED:
        title_line = t(lang, "digest_overdue_title", count=d.overdue_total)
        full += _packed(
            title_line, _overdue_lines(d, d.overdue) + _more(lang, d.overdue_total, len(d.overdue))
        )
    if "fatigue" in sections and len(d.fatigue) > DIGEST_FATIGUE_LISTED:
        title_line = t(
            lang,
            "digest_fatigue",
            count=d.fatigue_total,
            threshold=d.fatigue_threshold,
            days=d.fatigue_days,
        )
        full += _packed(
            title_line, _fatigue_lines(d, d.fatigue) + _more(lang, d.fatigue_total, len(d.fatigue))
        )
    if full:
        details.append(
            Message(
                text=t(lang, "digest_full_lists"), blocks=[b.to_dict() for b in full[:MAX_BLOCKS]]
            )
        )
    if details or "chart" in sections:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=t(lang, "digest_see_thread"))])
        )
    fallback = t(
        lang,
        "digest_fallback",
        title=title,
        span=span,
        verdicts=d.verdicts,
        opened=d.opened,
        expired=d.expired_without_action_total,
        overdue=d.overdue_total,
    )
    summary = Message(text=fallback, blocks=[b.to_dict() for b in blocks[:MAX_BLOCKS]])
    return summary, details


_LINK = re.compile(r"<([^<>|]+)\|([^<>]+)>")
_MENTION = re.compile(r"<([@#!])([A-Z0-9^]+)>")


def plain_text(message: Message) -> str:
    """A message's blocks as terminal text: links shown by their label, mentions as @U… / #C…,
    bold marks dropped."""
    parts: list[str] = []
    for block in message.blocks or [{"type": "section", "text": {"text": message.text}}]:
        kind = block.get("type")
        if kind == "divider":
            parts.append("-" * 40)
        elif kind == "header":
            title = str(block["text"]["text"])
            parts.append(f"{title}\n{'=' * len(title)}")
        elif kind == "context":
            parts.append("  ".join(str(e.get("text", "")) for e in block.get("elements", [])))
        elif kind == "section":
            texts = [str((block.get("text") or {}).get("text", ""))]
            texts += [str(f.get("text", "")) for f in block.get("fields") or []]
            parts.append("\n".join(x for x in texts if x))
    text = "\n".join(parts)
    text = _LINK.sub(r"\2", text)
    text = _MENTION.sub(lambda m: f"{m.group(1)}{m.group(2)}".replace("!", "@"), text)
    text = re.sub(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


FORGET_VIEW = "triage_forget_submit"


def forget_modal(customer_id: int, reference: str, lang: str) -> dict[str, Any]:
    """The confirmation before a customer's personal data is erased for good."""
    view = View(
        type="modal",
        callback_id=FORGET_VIEW,
        title=PlainTextObject(text=fold(t(lang, "cmd_forget_title"), 24)),
        submit=PlainTextObject(text=fold(t(lang, "cmd_forget_button"), 24)),
        close=PlainTextObject(text=fold(t(lang, "modal_cancel"), 24)),
        private_metadata=json.dumps({"customer": customer_id}),
        blocks=[_section(t(lang, "cmd_forget_confirm", ref=reference))],
    )
    return view.to_dict()
