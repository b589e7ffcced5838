"""The whole loop over real HTTP: a verdict posted in Slack becomes a case card; Claim works."""

from __future__ import annotations

import time

from sqlalchemy import func, select

from bot.cases.card import CLAIM_ACTION, CONTACT_ACTION, NOTE_ACTION, RELEASE_ACTION, RESOLVE_ACTION
from storage.models import Case, Event, InboundEvent, Verdict
from tests.conftest import AGENT, AGENT2, INTAKE, TRIAGE, Harness, block_text, buttons

STORY = (
    "Customer: jean.martin@example.fr\n"
    "Status: former\n"
    "Channel: web\n"
    "Score: 2/10\n"
    "Consent: oui\n"
    "Mon téléphone est reparti trois fois au SAV et les procédures changeaient sans arrêt. "
    "J'ai résilié."
)


def _count(bot: Harness, model: type) -> int:
    with bot.rt.factory() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_verdict_in_intake_becomes_a_case_card_and_claim_updates_it(bot: Harness) -> None:
    bot.post_intake(STORY)
    bot.wait_idle()

    cards = bot.cards()
    assert len(cards) == 1
    card = cards[0]
    shown = block_text(card)
    assert "Case #1" in shown
    assert "trois fois au SAV" in shown  # the verbatim
    assert "jean.martin@example.fr" in shown  # the customer reference
    assert "former customer" in shown
    assert "After-sales" in shown or "Customer service" in shown  # a first churn reason
    assert "Deadline" in shown
    assert buttons(card) == [CLAIM_ACTION, CONTACT_ACTION, NOTE_ACTION, RESOLVE_ACTION]

    # The person who posted is told where the case is, in the intake thread.
    intake_root = bot.emulator.channel_messages(INTAKE)[0]
    replies = bot.emulator.thread(INTAKE, intake_root["ts"])
    assert len(replies) == 1 and "Case #1 opened" in replies[0]["text"]

    assert bot.click(card["ts"], CLAIM_ACTION, AGENT) == 200
    bot.wait_idle()

    thread = bot.emulator.thread(TRIAGE, card["ts"])
    assert [m["text"] for m in thread] == [":raising_hand: Claimed by <@U0AGENT>."]
    updated = bot.emulator.message(TRIAGE, card["ts"])
    assert updated is not None
    assert "Claimed by <@U0AGENT>" in block_text(updated)
    assert buttons(updated) == [RELEASE_ACTION, CONTACT_ACTION, NOTE_ACTION, RESOLVE_ACTION]

    with bot.rt.factory() as session:
        case = session.scalars(select(Case)).one()
        assert (case.status, case.owner_id) == ("claimed", AGENT)
        assert case.root_ts == card["ts"]
        kinds = [e.kind for e in session.scalars(select(Event).order_by(Event.id))]
        assert kinds == ["opened", "classified", "claimed"]


def test_second_claim_is_refused_politely_and_changes_nothing(bot: Harness) -> None:
    bot.post_intake(STORY)
    bot.wait_idle()
    card = bot.cards()[0]
    # Both agents see the card with its Claim button; the first click wins.
    first = bot.emulator.click(TRIAGE, card["ts"], CLAIM_ACTION, AGENT)
    late = bot.emulator.click(TRIAGE, card["ts"], CLAIM_ACTION, AGENT2)
    assert bot.sender.send_interactivity(first).status == 200
    bot.wait_idle()
    assert bot.sender.send_interactivity(late).status == 200
    bot.wait_idle()
    notes = bot.emulator.ephemerals(TRIAGE, AGENT2)
    assert len(notes) == 1
    assert "already claimed by <@U0AGENT>" in notes[0]["text"]
    assert len(bot.emulator.thread(TRIAGE, card["ts"])) == 1  # no second "claimed" reply
    with bot.rt.factory() as session:
        assert session.scalars(select(Case)).one().owner_id == AGENT


def test_second_verdict_for_the_same_customer_joins_the_open_case(bot: Harness) -> None:
    bot.post_intake(STORY)
    bot.post_intake(
        "Customer: Jean.Martin@Example.fr\nChannel: phone\nConsent: yes\n"
        "Second survey, same story: my phone went back to repair three times."
    )
    bot.wait_idle()
    cards = bot.cards()
    assert len(cards) == 1
    assert "Verdicts (2)" in block_text(cards[0])
    thread = bot.emulator.thread(TRIAGE, cards[0]["ts"])
    assert any("Verdict #2 joined this case: phone" in m["text"] for m in thread)
    with bot.rt.factory() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1
        assert session.scalar(select(func.count()).select_from(Verdict)) == 2


def test_event_delivered_twice_opens_one_case_and_posts_one_message(bot: Harness) -> None:
    event = bot.emulator.post_as_user(INTAKE, "U0ANALYST", STORY)
    first = bot.sender.send_event(event, event_id="Ev0DUPLICATE")
    # Slack did not see the ack in time and retries the same event.
    second = bot.sender.send_event(event, event_id="Ev0DUPLICATE", retry_num=1)
    third = bot.sender.send_event(event, event_id="Ev0DUPLICATE", retry_num=2)
    assert (first.status, second.status, third.status) == (200, 200, 200)
    bot.wait_idle()
    assert len(bot.cards()) == 1
    assert len(bot.emulator.calls_to("chat.postMessage")) == 2  # the card and the intake reply
    assert _count(bot, Case) == 1
    assert _count(bot, InboundEvent) == 1


def test_forged_signature_and_stale_timestamp_are_refused_and_change_nothing(bot: Harness) -> None:
    event = bot.emulator.post_as_user(INTAKE, "U0ANALYST", STORY)
    forged = bot.sender.send_event(event, forge=True)
    stale = bot.sender.send_event(event, timestamp=int(time.time()) - 6 * 60)
    assert forged.status == 401
    assert stale.status == 401
    bot.wait_idle()
    assert bot.cards() == []
    assert _count(bot, InboundEvent) == 0
    assert bot.emulator.calls_to("chat.postMessage") == []


def test_bot_ignores_its_own_messages_thread_replies_and_other_channels(bot: Harness) -> None:
    bot.post_intake(STORY)
    bot.wait_idle()
    root = bot.emulator.channel_messages(INTAKE)[0]
    reply = bot.emulator.post_as_user(INTAKE, "U0ANALYST", "thanks!", thread_ts=root["ts"])
    bot.sender.send_event(reply)
    other = bot.emulator.post_as_user(TRIAGE, "U0ANALYST", "Customer: x@y.fr I am leaving")
    bot.sender.send_event(other)
    bot.wait_idle()
    assert len(bot.cards()) == 1
    assert _count(bot, InboundEvent) == 1


def test_verdict_without_consent_is_recorded_without_a_case(bot: Harness) -> None:
    bot.post_intake("Customer: paul@example.com\nConsent: no\nBilling is a mess, I left.")
    bot.wait_idle()
    assert bot.cards() == []
    root = bot.emulator.channel_messages(INTAKE)[0]
    replies = bot.emulator.thread(INTAKE, root["ts"])
    assert "did not consent" in replies[0]["text"]
    assert _count(bot, Verdict) == 1 and _count(bot, Case) == 0


def test_healthz_answers(bot: Harness) -> None:
    import urllib.request

    with urllib.request.urlopen(bot.server.url + "/healthz", timeout=5) as response:
        assert response.status == 200
        assert b'"ok"' in response.read()
