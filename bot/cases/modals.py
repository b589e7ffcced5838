"""The forms a case's buttons open (assign, contact, note, reclassify, snooze, escalate, resolve)."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    ContextBlock,
    DateTimePickerElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.cases.consent import CONSENT_CHECK_BLOCK
from bot.classification.taxonomy import Taxonomy
from bot.slack.blocks import (
    SECTION_LIMIT,
    fold,
    format_time,
    modal_view,
    quote,
    section_block,
    select_block,
    text_input_block,
)
from bot.slack.i18n import t
from storage.models import Case, Verdict

# --- the case's action forms ----------------------------------------------------------------

ASSIGN_VIEW = "case_assign_submit"
CONTACT_VIEW = "case_contact_submit"
NOTE_VIEW = "case_note_submit"
RECLASSIFY_VIEW = "case_reclassify_submit"
SNOOZE_VIEW = "case_snooze_submit"
ESCALATE_VIEW = "case_escalate_submit"
RESOLVE_VIEW = "case_resolve_submit"
VERDICT_VIEW = "verdict_full"


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
    return section_block(
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
    return modal_view(ASSIGN_VIEW, lang, t(lang, "modal_assign"), case.id, blocks)


def contact_modal(
    case: Case,
    taxonomy: Taxonomy,
    lang: str,
    channels: tuple[str, ...],
    outcomes: tuple[str, ...],
    ask_consent: bool = False,
) -> dict[str, Any]:
    """Log one try to reach the customer: how, outcome, when, a note; and, when the customer's
    consent was never stated, a required box saying it was checked."""
    blocks: list[Block] = [
        _case_line(case, taxonomy, lang),
        select_block(
            lang, "channel", t(lang, "modal_contact_channel"), "contact_channel_", channels
        ),
        select_block(lang, "outcome", t(lang, "modal_contact_outcome"), "outcome_", outcomes),
        InputBlock(
            block_id="when",
            label=t(lang, "modal_contact_when"),
            optional=True,
            element=DateTimePickerElement(action_id="value"),
        ),
        text_input_block("note", t(lang, "modal_note_text"), optional=True),
        _override(lang),
    ]
    if ask_consent:
        option = Option(
            value="yes", text=PlainTextObject(text=fold(t(lang, "modal_consent_check_option"), 75))
        )
        blocks.insert(
            1,
            InputBlock(
                block_id=CONSENT_CHECK_BLOCK,
                label=t(lang, "modal_consent_check"),
                element=CheckboxesElement(action_id="value", options=[option]),
            ),
        )
    return modal_view(CONTACT_VIEW, lang, t(lang, "modal_contact"), case.id, blocks)


def note_modal(case: Case, taxonomy: Taxonomy, lang: str) -> dict[str, Any]:
    """A note on the case."""
    blocks: list[Block] = [
        _case_line(case, taxonomy, lang),
        text_input_block("note", t(lang, "modal_note_text")),
        _override(lang),
    ]
    return modal_view(NOTE_VIEW, lang, t(lang, "modal_note"), case.id, blocks)


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
    return modal_view(RECLASSIFY_VIEW, lang, t(lang, "modal_reclassify"), case.id, blocks)


def snooze_modal(
    case: Case, taxonomy: Taxonomy, lang: str, choices: tuple[str, ...]
) -> dict[str, Any]:
    """How long to pause reminders, and why."""
    blocks: list[Block] = [
        _case_line(case, taxonomy, lang),
        select_block(lang, "length", t(lang, "modal_snooze_for"), "snooze_", choices),
        text_input_block("reason", t(lang, "modal_snooze_reason"), multiline=False, max_length=300),
    ]
    return modal_view(SNOOZE_VIEW, lang, t(lang, "modal_snooze"), case.id, blocks)


def escalate_modal(case: Case, taxonomy: Taxonomy, lang: str) -> dict[str, Any]:
    """Why the managers should look now."""
    blocks: list[Block] = [
        _case_line(case, taxonomy, lang),
        text_input_block("reason", t(lang, "modal_snooze_reason"), optional=True, max_length=500),
    ]
    return modal_view(ESCALATE_VIEW, lang, t(lang, "escalate"), case.id, blocks)


def resolve_modal(
    case: Case, taxonomy: Taxonomy, lang: str, outcomes: tuple[str, ...]
) -> dict[str, Any]:
    """Close with an honest outcome and what the customer was told."""
    blocks: list[Block] = [
        _case_line(case, taxonomy, lang),
        select_block(lang, "outcome", t(lang, "modal_resolve_outcome"), "resolution_", outcomes),
        text_input_block("summary", t(lang, "modal_resolve_summary")),
        _override(lang),
    ]
    return modal_view(RESOLVE_VIEW, lang, t(lang, "modal_resolve"), case.id, blocks)


def verdict_modal(verdict: Verdict, lang: str, tz: ZoneInfo) -> dict[str, Any]:
    """The whole verbatim of a long verdict, in as many sections as it needs."""
    chunk = SECTION_LIMIT - 100
    text = verdict.text
    parts = [text[i : i + chunk] for i in range(0, len(text), chunk)][:90]
    blocks: list[Block] = [
        ContextBlock(elements=[MarkdownTextObject(text=format_time(verdict.received_at, tz))]),
        *(section_block(quote(part)) for part in parts),
    ]
    return modal_view(
        VERDICT_VIEW, lang, t(lang, "modal_verdict"), verdict.case_id or 0, blocks, submit=False
    )


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
        blocks=[section_block(t(lang, "cmd_forget_confirm", ref=reference))],
    )
    return view.to_dict()
