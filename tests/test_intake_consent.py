"""Consent read however a survey words it, through signed Slack events against the emulator:
a refusal opens no contactable case, unknown consent is shown and confirmed before a contact,
a Slack email file and a one-line summary become verdicts."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from bot.cases.card import CONTACT_ACTION
from bot.cases.consent import CONSENT_CHECK_BLOCK
from storage.models import Case, Event, Verdict
from tests.conftest import AGENT, INTAKE, Harness, block_text
from tests.test_case_thread import card_now, form, replies, submit

REFUSALS = [
    "Client : 31875520\nRecontact autorisé : non\nQuatre coupures de la fibre en un mois.",
    "Customer number: 40917\nPermission to call back: No\nThe router drops every evening.",
    'customer_id=55102 optin=false comment="Price went up twice without notice"',
    "*Member ID*\nM-20931\n*OK to contact you?*\n❌\n*Open answer*\nNobody fixed the line.",
    "Compte 22904118. Consentement : oui. Il ne souhaite pas être rappelé. Trop de coupures.",
]


def acknowledgement(bot: Harness, event: dict[str, Any]) -> str:
    """The bot's reply in the intake thread of a posted message."""
    return "\n".join(str(m.get("text", "")) for m in bot.emulator.thread(INTAKE, event["ts"]))


@pytest.mark.parametrize("text", REFUSALS)
def test_a_refusal_in_any_spelling_opens_no_contactable_case(bot: Harness, text: str) -> None:
    event = bot.post_intake(text)
    bot.wait_idle()
    assert bot.cards() == []
    with bot.rt.factory() as session:
        verdict = session.scalars(select(Verdict)).one()
        assert verdict.consent is False and verdict.consent_stated is True
        assert session.scalars(select(Case)).all() == []
    assert "consent no" in acknowledgement(bot, event)


def test_unknown_consent_is_shown_and_confirmed_before_a_contact(bot: Harness) -> None:
    bot.post_intake("Account: ACC-40917 | Status: former\nThe bill went up twice, I left.")
    bot.wait_idle()
    card = bot.cards()[-1]
    assert "Consent not stated" in block_text(card)
    with bot.rt.factory() as session:
        verdict = session.scalars(select(Verdict)).one()
        assert verdict.consent is True and verdict.consent_stated is False
    view = form(bot, card, CONTACT_ACTION, AGENT)
    assert CONSENT_CHECK_BLOCK in [b.get("block_id") for b in view["blocks"]]
    refused = submit(bot, view, AGENT, {"channel": "phone", "outcome": "no_answer"})
    assert refused is not None and CONSENT_CHECK_BLOCK in refused["errors"]
    view = form(bot, card, CONTACT_ACTION, AGENT)
    values: dict[str, Any] = {
        "channel": "phone",
        "outcome": "no_answer",
        CONSENT_CHECK_BLOCK: ["yes"],
    }
    assert submit(bot, view, AGENT, values) is None
    assert any("confirmed they checked the customer's consent" in r for r in replies(bot, card))
    with bot.rt.factory() as session:
        event = session.scalars(select(Event).where(Event.kind == "contact_attempt")).one()
        assert event.data.get("consent_confirmed") is True
    assert "Consent not stated" in block_text(card_now(bot, card))
    # Confirmed once for this case: the next Log contact form does not ask again.
    view = form(bot, card, CONTACT_ACTION, AGENT)
    assert CONSENT_CHECK_BLOCK not in [b.get("block_id") for b in view["blocks"]]
    assert submit(bot, view, AGENT, {"channel": "email", "outcome": "reached"}) is None
    with bot.rt.factory() as session:
        events = session.scalars(select(Event).where(Event.kind == "contact_attempt")).all()
        assert [e.data.get("consent_confirmed") for e in events] == [True, False]


def test_statistics_only_treats_unknown_consent_as_no(make_bot: Any) -> None:
    bot = make_bot(consent={"when_unknown": "statistics_only"})
    bot.post_intake("Account: ACC-40917\nThe bill went up twice, I left.")
    bot.wait_idle()
    assert bot.cards() == []
    with bot.rt.factory() as session:
        verdict = session.scalars(select(Verdict)).one()
        assert verdict.consent is False and verdict.consent_stated is False


def test_a_slack_email_file_becomes_a_verdict(bot: Harness) -> None:
    event = bot.emulator.post_as_user(INTAKE, AGENT, "")
    event["subtype"] = "file_share"
    event["files"] = [
        {
            "id": "F0EMAIL1",
            "name": "email.eml",
            "filetype": "email",
            "mode": "email",
            "subject": "Fwd: my cancellation",
            "from": [{"address": "jean@example.fr", "name": "Jean Martin", "original": "x"}],
            "plain_text": (
                "---------- Forwarded message ---------\nFrom: Jean Martin <jean@example.fr>\n"
                "Subject: my cancellation\n\nHello,\nI cancelled my contract because the network "
                "drops every evening. You can call me back.\n\nJean"
            ),
        }
    ]
    assert bot.sender.send_event(event).status == 200
    bot.wait_idle()
    with bot.rt.factory() as session:
        verdict = session.scalars(select(Verdict)).one()
        assert "network drops every evening" in verdict.text
        assert "Forwarded message" not in verdict.text and "Subject:" not in verdict.text
        assert verdict.consent is True
    assert len(bot.cards()) == 1


def test_a_one_line_summary_becomes_a_case(bot: Harness) -> None:
    event = bot.post_intake("Client : 12345678. Consentement : oui. Trop de coupures, je pars.")
    bot.wait_idle()
    card = bot.cards()[-1]
    assert "12345678" in block_text(card) and "Trop de coupures" in block_text(card)
    said = acknowledgement(bot, event)
    assert "customer 12345678" in said and "consent yes" in said
