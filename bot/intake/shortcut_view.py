"""The "Send to triage" form, prefilled with what the bot read in the message."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import (
    Block,
    DatePickerElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.slack.blocks import fold, option_list, quote, section_block
from bot.slack.i18n import t

SEND_TO_TRIAGE_VIEW = "send_to_triage_submit"
MODAL_FIELDS = ("ref", "status", "churned_on", "source", "channel", "score", "consent")


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
    statuses = option_list(lang, "status", ("current", "former", "unknown"))
    channels = option_list(lang, "channel", ("web", "phone", "email", "chat", "unknown"))
    consents = [
        Option(value="yes", text=PlainTextObject(text=t(lang, "consent_yes"))),
        Option(value="no", text=PlainTextObject(text=t(lang, "consent_no"))),
    ]
    status_initial = next(o for o in statuses if o.value == (status or "unknown"))
    channel_initial = next(o for o in channels if o.value == (channel or "unknown"))
    consent_initial = None if consent is None else consents[0 if consent else 1]
    blocks: list[Block] = [
        section_block(f"*{t(lang, 'verbatim')}*\n{quote(fold(verbatim, 2800))}"),
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
