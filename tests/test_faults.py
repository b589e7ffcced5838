"""Faults lose nothing and send nothing twice: Slack 429/500/outage, a crash after the ack."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from bot.runtime.app import build_runtime, create_bolt_app
from bot.runtime.server import LocalServer, start_local
from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.signing import SlackRequestSender
from handlers.web import create_wsgi_app
from storage.models import OutboxMessage
from tests.conftest import INTAKE, Harness, make_settings
from tests.test_walking_skeleton import STORY


def test_rate_limited_post_is_delivered_once_after_retry_after(bot: Harness) -> None:
    bot.emulator.inject_fault("chat.postMessage", status=429, retry_after=1, times=1)
    bot.post_intake(STORY)
    bot.wait_idle()
    assert len(bot.cards()) == 1
    posts = bot.emulator.calls_to("chat.postMessage")
    assert len(posts) == 3  # the refused attempt, the card, the intake reply
    with bot.rt.factory() as session:
        rows = list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
        assert [r.status for r in rows] == ["sent", "sent"]
        assert rows[0].attempts == 2
        assert rows[0].last_error is not None and "ratelimited" in rows[0].last_error


def test_server_errors_and_an_outage_are_retried_in_order(bot: Harness) -> None:
    bot.emulator.set_down(True)
    bot.post_intake(STORY)
    bot.post_intake("Customer: other@example.com\nConsent: yes\nNetwork drops every evening.")
    # The event was recorded and acked even though Slack's Web API is down.
    bot.rt.worker.kick()
    assert bot.cards() == []
    bot.emulator.set_down(False)
    bot.emulator.inject_fault("chat.postMessage", status=500, times=1)
    bot.wait_idle(timeout=30)
    cards = bot.cards()
    assert len(cards) == 2
    # One card per case, each posted once; a failing case does not hold back the others.
    assert sorted(c["metadata"]["event_payload"]["case_id"] for c in cards) == [1, 2]
    intake_replies = [
        m
        for root in bot.emulator.channel_messages(INTAKE)
        for m in bot.emulator.thread(INTAKE, root["ts"])
    ]
    assert len(intake_replies) == 2


def test_invalid_request_is_not_retried_forever(bot: Harness) -> None:
    bot.emulator.inject_fault("chat.postMessage", error="channel_not_found", times=1)
    bot.post_intake(STORY)
    bot.wait_idle()
    with bot.rt.factory() as session:
        statuses = sorted(r.status for r in session.scalars(select(OutboxMessage)))
    assert statuses == ["dead", "sent"]


def test_acked_verdicts_survive_a_crash_before_processing(
    tmp_path: Path, database_url: str, emulator: SlackEmulator, make_bot: Callable[..., Harness]
) -> None:
    settings = make_settings(tmp_path, database_url, emulator.api_url)
    crashed = build_runtime(settings)
    # A web process that records and acks, but dies before its worker runs.
    server = LocalServer(create_wsgi_app(create_bolt_app(crashed), crashed)).start()
    sender = SlackRequestSender(server.url + "/slack/events", settings.slack_signing_secret or "")
    for n in range(5):
        event = emulator.post_as_user(
            INTAKE, "U0ANALYST", f"Customer: c{n}@example.com\nConsent: yes\nToo expensive."
        )
        assert sender.send_event(event).status == 200
    server.stop()
    crashed.engine.dispose()
    assert emulator.calls_to("chat.postMessage") == []

    restarted = build_runtime(settings)
    fresh = start_local(restarted)
    try:
        harness = Harness(restarted, fresh, emulator, sender)
        harness.wait_idle()
        assert len(harness.cards()) == 5
        assert len(emulator.calls_to("chat.postMessage")) == 10  # 5 cards, 5 intake replies
    finally:
        fresh.stop()
        restarted.close()


def test_a_post_that_reached_slack_but_was_not_recorded_is_adopted_not_repeated(
    bot: Harness,
) -> None:
    # Slack takes the card but the answer is lost (a timeout): the outbox retries; the retry
    # finds the card by its metadata and adopts it instead of posting a second one.
    bot.emulator.inject_fault("chat.postMessage", status=500, times=1, apply_then_fail=True)
    bot.post_intake(STORY)
    bot.wait_idle()
    assert len(bot.cards()) == 1
