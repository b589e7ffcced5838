"""A case's whole life in real time, with durations of a second or so, through the running bot: its
reminder, escalation, final warning and loud expiry arrive in order, once each, at Slack."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select

import storage.outbox
from bot.cases.card import CLAIM_ACTION
from storage.models import Case, Event
from tests.conftest import MANAGER, TRIAGE, Harness, block_text, buttons
from tests.support import wait_until

MARKS = (":alarm_clock:", ":mega:", ":rotating_light:", ":hourglass:")


def _expired(bot: Harness) -> Case | None:
    """The case once it expired and every message about it went out; the worker is kicked, so
    that each step is sent within a few milliseconds of its time, not up to a second after."""
    bot.rt.worker.kick()
    with bot.rt.factory() as session:
        case = session.scalars(select(Case)).first()
        if (
            case is not None
            and case.status == "expired"
            and storage.outbox.outbox_depth(session) == 0
        ):
            return case
    return None


def test_reminder_escalation_final_warning_and_loud_expiry_in_order_once_each(
    make_bot: Callable[..., Harness],
) -> None:
    # A second and a quarter between steps, the worker kicked every few milliseconds.
    bot = make_bot(
        business_hours="always",
        policy={
            "deadline": 5,
            "reminders": [0.25],
            "final_warning": 1.25,
            "escalations": [{"when": "unclaimed", "after": 2.5}],
            "auto_close": True,
        },
    )
    bot.post_intake(
        "Customer: jean.martin@example.fr\nConsent: yes\nMy phone went back to repair three times."
    )
    case = wait_until(lambda: _expired(bot), timeout=30)
    assert case is not None, "the case did not expire in time"
    assert case.outcome == "expired_without_action"
    assert case.root_ts is not None

    said = [m["text"] for m in bot.emulator.thread(TRIAGE, case.root_ts)]
    assert [s for s in said if s.startswith(MARKS)] == said
    assert [s.split(" ", 1)[0] for s in said] == [
        ":alarm_clock:",  # the reminder, to the channel (nobody owns the case)
        ":mega:",  # unclaimed after 2.5 s: escalated
        ":rotating_light:",  # final warning, 2 s before the deadline
        ":hourglass:",  # expired without action
    ]
    assert "Nobody has claimed it yet." in said[0]
    assert "has had no owner for" in said[1]
    assert "*expired without action*" in said[3]

    # Unclaimed, the reminder, the final warning and the expiry are also shown in the channel.
    shown = [m["text"] for m in bot.emulator.channel_messages(TRIAGE) if m["text"] in said]
    assert [s.split(" ", 1)[0] for s in shown] == [
        ":alarm_clock:",
        ":rotating_light:",
        ":hourglass:",
    ]

    manager = [m["text"] for m in bot.emulator.dm_messages(MANAGER)]
    assert len(manager) == 2
    assert manager[0].startswith(":mega: Escalation:") and ":hourglass:" in manager[1]

    # The card says it expired, and can no longer be claimed.
    card = bot.emulator.message(TRIAGE, case.root_ts)
    assert card is not None
    assert "Closed at the deadline: expired without action" in block_text(card)
    assert CLAIM_ACTION not in buttons(card)

    with bot.rt.factory() as session:
        kinds = list(
            session.scalars(select(Event.kind).where(Event.actor == "system").order_by(Event.id))
        )
    assert kinds[2:] == ["reminder_sent", "escalated", "final_warning", "expired"]

    quiet_until = time.monotonic() + 0.5  # a second send would show within the next passes
    while time.monotonic() < quiet_until:
        bot.rt.worker.kick()
        time.sleep(0.02)
    assert len(bot.emulator.thread(TRIAGE, case.root_ts)) == 4
    assert len(bot.emulator.dm_messages(MANAGER)) == 2
