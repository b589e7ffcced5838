"""The triage thread: every action through signed interactivity payloads, against the emulator."""

from __future__ import annotations

import threading
import urllib.request
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from bot.cases.card import (
    CLAIM_ACTION,
    CONTACT_ACTION,
    MORE_ACTION,
    NOTE_ACTION,
    REOPEN_ACTION,
    RESOLVE_ACTION,
    SHOW_ALL_ACTION,
)
from bot.cases.modals import VERDICT_VIEW
from bot.runtime.app import build_runtime
from storage.models import Case, CaseSchedule, ContactAttempt, Event, OutboxMessage
from tests.conftest import AGENT, AGENT2, MANAGER, TRIAGE, Harness, block_text, buttons

FORMER = "Customer: jean@example.fr\nStatus: former\nConsent: yes\nLe SAV a gardé mon téléphone trois fois."


def open_case(bot: Harness, text: str = FORMER) -> dict[str, Any]:
    bot.post_intake(text)
    bot.wait_idle()
    return bot.cards()[-1]


def form(
    bot: Harness, card: dict[str, Any], action_id: str, user: str, option: str | None = None
) -> dict[str, Any]:
    """Click a card button (or pick a menu option) and return the form it opened."""
    before = len(bot.emulator.opened_views())
    payload = bot.emulator.click(TRIAGE, card["ts"], action_id, user, value=option)
    assert bot.sender.send_interactivity(payload).status == 200
    views = bot.emulator.opened_views()
    assert len(views) == before + 1, "no form opened"
    return views[-1]


def submit(
    bot: Harness, view: dict[str, Any], user: str, values: dict[str, Any]
) -> dict[str, Any] | None:
    """Submit a form; returns Slack's response_action body when the form shows errors."""
    payload = bot.emulator.view_submission(
        view["id"], user, {k: {"value": v} for k, v in values.items()}
    )
    response = bot.sender.send_interactivity(payload)
    assert response.status == 200
    bot.wait_idle()
    return response.json() if response.body.strip() else None


def card_now(bot: Harness, card: dict[str, Any]) -> dict[str, Any]:
    message = bot.emulator.message(TRIAGE, card["ts"])
    assert message is not None
    return message


def replies(bot: Harness, card: dict[str, Any]) -> list[str]:
    return [m["text"] for m in bot.emulator.thread(TRIAGE, card["ts"])]


def events(bot: Harness) -> list[Event]:
    with bot.rt.factory() as session:
        return list(session.scalars(select(Event).order_by(Event.id)))


def test_log_contact_attempts_then_written_follow_up_is_suggested(bot: Harness) -> None:
    card = open_case(bot)
    for _ in range(2):
        view = form(bot, card, CONTACT_ACTION, AGENT)
        assert submit(bot, view, AGENT, {"channel": "phone", "outcome": "no_answer"}) is None
    shown = block_text(card_now(bot, card))
    assert shown.count("no answer") == 2
    assert "2 calls went unanswered: send a short written follow-up" in shown
    assert "Contacting the customer (<@U0AGENT>)" in shown  # the person who tried owns it now
    assert any("logged a contact attempt: phone, no answer" in r for r in replies(bot, card))
    with bot.rt.factory() as session:
        assert session.scalars(select(Case)).one().status == "contacting"
        assert len(list(session.scalars(select(ContactAttempt)))) == 2


def test_contact_outside_reasonable_hours_is_flagged(bot: Harness) -> None:
    card = open_case(bot)
    view = form(bot, card, CONTACT_ACTION, AGENT)
    late = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)  # 23:30 in Paris
    payload = bot.emulator.view_submission(
        view["id"],
        AGENT,
        {
            "channel": {"value": "phone"},
            "outcome": {"value": "voicemail"},
            "when": {"value": int(late.timestamp())},
        },
    )
    assert bot.sender.send_interactivity(payload).status == 200
    bot.wait_idle()
    assert any("outside the customer's reasonable hours" in r for r in replies(bot, card))
    assert "outside reasonable hours" in block_text(card_now(bot, card))


def test_former_customer_sent_to_a_subscriber_line_is_warned_and_override_recorded(
    bot: Harness,
) -> None:
    card = open_case(bot)
    view = form(bot, card, NOTE_ACTION, AGENT)
    errors = submit(bot, view, AGENT, {"note": "Tell him to call the 614 to follow up."})
    assert errors is not None and errors["response_action"] == "errors"
    assert "614 is reserved for subscribers" in errors["errors"]["note"]
    assert not any(e.kind == "note" for e in events(bot))
    assert (
        submit(
            bot,
            view,
            AGENT,
            {"note": "Tell him to call the 614 to follow up.", "override": ["yes"]},
        )
        is None
    )
    note = [e for e in events(bot) if e.kind == "note"]
    assert len(note) == 1 and note[0].data["override"] is True
    assert any("sent despite the subscriber-only warning" in r for r in replies(bot, card))
    # The card never suggests the subscriber line to a former customer.
    assert "614" not in block_text(card_now(bot, card)).split("Suggested opening")[1]


def test_resolve_needs_owner_or_manager_and_an_honest_outcome(bot: Harness) -> None:
    card = open_case(bot)
    bot.click(card["ts"], CLAIM_ACTION, AGENT)
    bot.wait_idle()
    view = form(bot, card, RESOLVE_ACTION, AGENT2)
    refused = submit(bot, view, AGENT2, {"outcome": "apology_given", "summary": "We apologised."})
    assert refused is not None and "Only the case owner (<@U0AGENT>) or a manager" in str(
        refused["errors"]
    )
    view = form(bot, card, RESOLVE_ACTION, AGENT)
    not_yet = submit(
        bot, view, AGENT, {"outcome": "not_reached_written_followup", "summary": "Letter sent."}
    )
    assert not_yet is not None and "at least 2 unanswered calls" in not_yet["errors"]["outcome"]
    assert (
        submit(
            bot,
            view,
            AGENT,
            {"outcome": "apology_given", "summary": "Explained the repair delays and apologised."},
        )
        is None
    )
    shown = card_now(bot, card)
    assert "Resolved: apology and explanation given" in block_text(shown)
    assert buttons(shown) == [REOPEN_ACTION]
    assert any(
        "What the customer was told: Explained the repair delays" in r for r in replies(bot, card)
    )
    # Reopen by the owner: a fresh deadline, and its reminders are planned again.
    with bot.rt.factory() as session:
        old_deadline = session.scalars(select(Case)).one().deadline_at
    bot.click(card["ts"], REOPEN_ACTION, AGENT)
    bot.wait_idle()
    with bot.rt.factory() as session:
        case = session.scalars(select(Case)).one()
        assert (case.status, case.outcome) == ("claimed", None)
        assert case.deadline_at >= old_deadline  # equal when both fall outside business hours
        pending = session.scalars(
            select(CaseSchedule).where(CaseSchedule.status == "pending")
        ).all()
        assert any(row.kind == "deadline" for row in pending)


def test_assign_is_for_managers_and_tells_the_new_owner(bot: Harness) -> None:
    card = open_case(bot)
    payload = bot.emulator.click(TRIAGE, card["ts"], MORE_ACTION, AGENT, value="assign:1")
    bot.sender.send_interactivity(payload)
    bot.wait_idle()
    refusal = bot.emulator.ephemerals(TRIAGE, AGENT)
    assert refusal and "Only a manager can assign cases" in refusal[-1]["text"]
    view = form(bot, card, MORE_ACTION, MANAGER, option="assign:1")
    payload = bot.emulator.view_submission(view["id"], MANAGER, {"owner": {"value": AGENT2}})
    assert bot.sender.send_interactivity(payload).status == 200
    bot.wait_idle()
    assert any("assigned the case to <@U0AGENT2>" in r for r in replies(bot, card))
    assert any("You were assigned case #1" in m["text"] for m in bot.emulator.dm_messages(AGENT2))
    with bot.rt.factory() as session:
        assert session.scalars(select(Case)).one().owner_id == AGENT2


def test_managers_from_a_user_group(make_bot: Any) -> None:
    bot = make_bot(managers=["S0LEADS"])
    bot.emulator.add_usergroup("S0LEADS", [AGENT2])
    card = open_case(bot)
    view = form(bot, card, MORE_ACTION, AGENT2, option="assign:1")
    payload = bot.emulator.view_submission(view["id"], AGENT2, {"owner": {"value": AGENT}})
    bot.sender.send_interactivity(payload)
    bot.wait_idle()
    with bot.rt.factory() as session:
        assert session.scalars(select(Case)).one().owner_id == AGENT


def test_simultaneous_claims_make_one_owner(bot: Harness) -> None:
    card = open_case(bot)
    clicks = [
        bot.emulator.click(TRIAGE, card["ts"], CLAIM_ACTION, user) for user in (AGENT, AGENT2)
    ]
    statuses: list[int] = []
    threads = [
        threading.Thread(
            target=lambda p=p: statuses.append(bot.sender.send_interactivity(p).status)
        )
        for p in clicks
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bot.wait_idle()
    assert statuses == [200, 200]
    with bot.rt.factory() as session:
        owner = session.scalars(select(Case)).one().owner_id
    loser = AGENT2 if owner == AGENT else AGENT
    assert len([r for r in replies(bot, card) if "Claimed by" in r]) == 1
    assert "already claimed by" in bot.emulator.ephemerals(TRIAGE, loser)[-1]["text"]


def _outbox_rows_and_events(bot: Harness) -> tuple[int, int]:
    with bot.rt.factory() as session:
        return (
            session.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
            session.scalar(select(func.count()).select_from(Event)) or 0,
        )


def test_a_refused_click_is_answered_privately_and_writes_nothing(bot: Harness) -> None:
    card = open_case(bot)
    # Clicks on the card as people saw it before the claim updated it.
    late = [bot.emulator.click(TRIAGE, card["ts"], CLAIM_ACTION, u) for u in (AGENT2, AGENT)]
    assert bot.click(card["ts"], CLAIM_ACTION, AGENT) == 200
    bot.wait_idle()
    before = _outbox_rows_and_events(bot)
    for payload in late:
        assert bot.sender.send_interactivity(payload).status == 200
    bot.wait_idle()
    assert "already claimed by <@U0AGENT>" in bot.emulator.ephemerals(TRIAGE, AGENT2)[-1]["text"]
    assert "You already own this case" in bot.emulator.ephemerals(TRIAGE, AGENT)[-1]["text"]
    after = _outbox_rows_and_events(bot)
    assert after == before  # no outbox row, no event: a refusal changes nothing


def test_snooze_is_bounded_for_agents(bot: Harness) -> None:
    card = open_case(bot)
    bot.click(card["ts"], CLAIM_ACTION, AGENT)
    bot.wait_idle()
    view = form(bot, card, MORE_ACTION, AGENT, option="snooze:1")
    too_long = submit(bot, view, AGENT, {"length": "P7D", "reason": "customer on holiday"})
    assert too_long is not None and "At most" in too_long["errors"]["length"]
    assert submit(bot, view, AGENT, {"length": "P1D", "reason": "customer on holiday"}) is None
    assert any(
        "snoozed the case until" in r and "customer on holiday" in r for r in replies(bot, card)
    )
    with bot.rt.factory() as session:
        assert session.scalars(select(Case)).one().snoozed_until is not None


def test_escalate_notifies_managers(bot: Harness) -> None:
    card = open_case(bot)
    view = form(bot, card, MORE_ACTION, AGENT, option="escalate:1")
    assert submit(bot, view, AGENT, {"reason": "customer threatens legal action"}) is None
    assert any(
        "escalated the case to managers: customer threatens legal action" in r
        for r in replies(bot, card)
    )
    assert any(
        "Case #1" in m["text"] and "escalated" in m["text"]
        for m in bot.emulator.dm_messages(MANAGER)
    )


def test_reclassify_changes_the_reason(bot: Harness) -> None:
    card = open_case(bot)
    view = form(bot, card, MORE_ACTION, AGENT, option="reclassify:1")
    assert submit(bot, view, AGENT, {"reason": "price_billing"}) is None
    assert "Case #1 · Price and billing" in block_text(card_now(bot, card))


def test_forty_verdicts_stay_within_slack_limits_and_show_all_opens_the_text(bot: Harness) -> None:
    long_text = "Le réseau coupe tous les soirs. " * 80
    for n in range(40):
        status, _, _ = bot.post_webhook(
            {"text": f"{long_text} ({n})", "customer": "ACC-40", "consent": True}
        )
        assert status == 202
    bot.wait_idle()
    card = bot.cards()[0]
    assert len(card["blocks"]) <= 50
    assert "Verdicts (40)" in block_text(card)
    assert "older verdict(s)" in block_text(card)
    payload = bot.emulator.click(TRIAGE, card["ts"], SHOW_ALL_ACTION, AGENT)
    bot.sender.send_interactivity(payload)
    view = bot.emulator.opened_views()[-1]
    assert view["callback_id"] == VERDICT_VIEW
    assert "(39)" in block_text(view) and block_text(view).count("réseau coupe") == 80


def test_app_home_shows_my_cases_and_follows_changes(bot: Harness) -> None:
    card = open_case(bot)
    bot.sender.send_event(bot.emulator.app_home_opened(AGENT))
    bot.wait_idle()
    home = bot.emulator.home_view(AGENT)
    assert home is not None
    text = block_text(home)
    assert "Waiting for an owner" in text and "#1" in text.split("Waiting for an owner")[1]
    bot.click(card["ts"], CLAIM_ACTION, AGENT)
    bot.wait_idle()
    text = block_text(bot.emulator.home_view(AGENT) or {})
    mine = text.split("Your open cases, by deadline")[1].split("Waiting for an owner")[0]
    assert "#1" in mine
    links = [
        b["accessory"]["url"]
        for b in (bot.emulator.home_view(AGENT) or {})["blocks"]
        if b.get("accessory", {}).get("url")
    ]
    assert links and links[0].endswith("/archives/C0TRIAGE/p" + card["ts"].replace(".", ""))


def test_acked_claims_survive_a_crash_before_they_are_applied(bot: Harness) -> None:
    bot.post_intake("Customer: a@example.com\nConsent: yes\nToo expensive.")
    bot.post_intake("Customer: b@example.com\nConsent: yes\nNo signal at home.")
    bot.wait_idle()
    cards = bot.cards()
    assert len(cards) == 2
    second_click = bot.emulator.click(TRIAGE, cards[0]["ts"], CLAIM_ACTION, AGENT2)
    bot.rt.worker.stop()  # the process acks, then dies before its worker applies anything
    for card in cards:
        assert bot.click(card["ts"], CLAIM_ACTION, AGENT) == 200
    # Someone clicking a case another person clicked first is told at once, by name.
    assert bot.sender.send_interactivity(second_click).status == 200
    bot.rt.notes.close()
    assert "already claimed by <@U0AGENT>" in bot.emulator.ephemerals(TRIAGE, AGENT2)[-1]["text"]
    assert all(not any("Claimed by" in r for r in replies(bot, card)) for card in cards)
    assert "triage_claims_waiting 2.0" in _metrics(bot)  # what an operator would alert on

    restarted = build_runtime(bot.rt.settings)
    try:
        while restarted.run_pending() > 0:
            pass
        assert restarted.run_pending() == 0  # nothing applied twice
    finally:
        restarted.close()
    with bot.rt.factory() as session:
        assert [c.owner_id for c in session.scalars(select(Case).order_by(Case.id))] == [AGENT] * 2
        assert len([e for e in session.scalars(select(Event)) if e.kind == "claimed"]) == 2
    for card in cards:
        assert [r for r in replies(bot, card) if "Claimed by" in r] == [
            ":raising_hand: Claimed by <@U0AGENT>."
        ]
    assert bot.emulator.ephemerals(TRIAGE, AGENT) == []
    metrics = _metrics(bot)
    assert "triage_claims_waiting 0.0" in metrics
    assert "triage_claims_oldest_age_seconds 0.0" in metrics


def _metrics(bot: Harness) -> str:
    with urllib.request.urlopen(bot.server.url + "/metrics", timeout=10) as response:
        return str(response.read().decode())
