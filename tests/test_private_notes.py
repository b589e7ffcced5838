"""Private notes (answers to clicks that changed nothing): sent after the ack, in order, in the
gaps between requests, never starved, and one failure does not stop the next."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from bot.runtime.background import RequestActivity
from bot.sandbox.emulator import SlackEmulator
from bot.slack.gateway import SlackGateway, make_web_client
from bot.slack.private_notes import PrivateNotes
from tests.support import wait_until

TOKEN = "xoxb-notes"
CHANNEL, ALICE = "C0NOTES", "U0ALICE"


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    with SlackEmulator(token=TOKEN) as emulator:
        emulator.add_channel(CHANNEL, "notes")
        emulator.add_user(ALICE, "alice")
        yield emulator


def _gateway(emu: SlackEmulator) -> SlackGateway:
    return SlackGateway(make_web_client(TOKEN, emu.api_url))


def _wait_sent(notes: PrivateNotes, timeout: float = 10) -> None:
    assert wait_until(lambda: notes.pending() == 0, timeout)


def test_notes_arrive_in_order(emu: SlackEmulator) -> None:
    notes = PrivateNotes(_gateway(emu))
    for n in range(5):
        notes.send(CHANNEL, ALICE, f"note {n}")
    _wait_sent(notes)
    assert [e["text"] for e in emu.ephemerals(CHANNEL, ALICE)] == [f"note {n}" for n in range(5)]
    notes.close()


def test_a_note_waits_for_the_request_in_flight(emu: SlackEmulator) -> None:
    activity = RequestActivity()
    notes = PrivateNotes(_gateway(emu), activity)
    with activity.serving():  # the ack of the click that asked for the note
        notes.send(CHANNEL, ALICE, "Already claimed by someone")
        assert emu.ephemerals(CHANNEL, ALICE) == []  # queued: the ack leaves first
    _wait_sent(notes)
    assert [e["text"] for e in emu.ephemerals(CHANNEL, ALICE)] == ["Already claimed by someone"]
    notes.close()


def test_under_load_that_never_ends_notes_keep_up_a_second_late(emu: SlackEmulator) -> None:
    activity = RequestActivity()
    notes = PrivateNotes(_gateway(emu), activity)
    with activity.serving():
        for n in range(30):  # each waits until it is a second old, not a second after the last
            notes.send(CHANNEL, ALICE, f"note {n}")
        _wait_sent(notes, timeout=10)
    assert [e["text"] for e in emu.ephemerals(CHANNEL, ALICE)] == [f"note {n}" for n in range(30)]
    notes.close()


def test_a_failed_note_is_logged_and_the_next_one_still_goes(
    emu: SlackEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    notes = PrivateNotes(_gateway(emu))
    emu.inject_fault("chat.postEphemeral", status=500)
    with caplog.at_level(logging.WARNING):
        notes.send(CHANNEL, ALICE, "lost to Slack's 500")
        notes.send(CHANNEL, ALICE, "delivered")
        _wait_sent(notes)
    assert [e["text"] for e in emu.ephemerals(CHANNEL, ALICE)] == ["delivered"]
    assert any("not delivered" in r.getMessage() for r in caplog.records)
    notes.close()


def test_a_flood_is_bounded_and_close_sends_what_is_queued(
    emu: SlackEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    activity = RequestActivity()
    notes = PrivateNotes(_gateway(emu), activity, max_queued=3)
    with caplog.at_level(logging.WARNING), activity.serving():
        for n in range(6):  # the sender is held by the request: the queue fills up
            notes.send(CHANNEL, ALICE, f"note {n}")
    notes.close()  # shutting down: what was queued is sent first
    texts = [e["text"] for e in emu.ephemerals(CHANNEL, ALICE)]
    assert texts == [f"note {n}" for n in range(len(texts))] and 3 <= len(texts) < 6
    assert any("dropped" in r.getMessage() for r in caplog.records)
