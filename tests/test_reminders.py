"""Deadlines, reminders, escalations and loud expiry, with a clock the tests move (no sleeping).

The bot runs for real: its runtime on a real database, its Slack client against the emulator;
only time is manual, and each step runs one worker pass as the background worker would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

import storage.cases
import storage.outbox
import storage.schedule
from bot.cases import reminders
from bot.cases import service as cases
from bot.intake.parsing import parse_verdict
from bot.intake.service import ingest
from bot.intake.verdict_input import from_parsed
from bot.runtime.app import build_runtime
from bot.runtime.clock import ManualClock
from bot.runtime.runtime import Runtime
from bot.runtime.settings import ConfigError
from bot.sandbox.emulator import SlackEmulator
from storage.db import transaction
from storage.models import Case, CaseSchedule, ContactAttempt, Event, OutboxMessage
from tests.conftest import AGENT, MANAGER, TRIAGE, make_settings

PARIS = ZoneInfo("Europe/Paris")


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)


MONDAY = paris(2026, 11, 23, 9, 0)


@dataclass
class Life:
    """The bot with a manual clock: open cases, act on them, move time, read Slack."""

    rt: Runtime
    clock: ManualClock
    emulator: SlackEmulator

    def run(self) -> None:
        """Worker passes until one finds nothing to do (as the background worker loops)."""
        for _ in range(50):
            if self.rt.run_pending() == 0:
                return
        raise AssertionError("the worker kept finding work")

    def at(self, moment: datetime, *, run: bool = True) -> None:
        delta = moment.astimezone(UTC) - self.clock.now()
        assert delta >= timedelta(0), "time only moves forward"
        self.clock.advance(delta)
        if run:
            self.run()

    def open_case(self, n: int = 1, text: str = "The network drops every evening.") -> int:
        raw = f"Customer: c{n}@example.com\nConsent: yes\n{text}"
        item = from_parsed(parse_verdict(raw), "webhook", source_key=f"test:{n}")
        with transaction(self.rt.factory) as session:
            result = ingest(session, item, self.rt.classifier, self.rt.settings.team, self.now)
        assert result.case_id is not None
        self.run()
        return result.case_id

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def claim(self, case_id: int, user: str = AGENT) -> None:
        with transaction(self.rt.factory) as session:
            assert cases.claim(session, case_id, user, self.rt.settings.team, self.now).ok
        self.run()

    def contact(self, case_id: int, outcome: str, user: str = AGENT) -> None:
        """What logging a contact attempt does to the case (the thread action's effect)."""
        with transaction(self.rt.factory) as session:
            case = storage.cases.case_for_update(session, case_id)
            assert case is not None
            session.add(
                ContactAttempt(
                    case_id=case.id,
                    customer_id=case.customer_id,
                    actor=user,
                    channel="phone",
                    outcome=outcome,
                    attempted_at=self.now,
                    created_at=self.now,
                )
            )
            case.status = "contacting"
            storage.cases.add_event(session, case.id, "contact_attempt", user, self.now)
            reminders.reschedule(session, case, self.rt.settings.team, self.now)
        self.run()

    def snooze(self, case_id: int, until: datetime, user: str = AGENT) -> None:
        with transaction(self.rt.factory) as session:
            case = storage.cases.case_for_update(session, case_id)
            assert case is not None
            case.snoozed_until = until.astimezone(UTC)
            storage.cases.add_event(session, case.id, "snoozed", user, self.now)
            reminders.reschedule(session, case, self.rt.settings.team, self.now)
        self.run()

    def case(self, case_id: int) -> Case:
        with self.rt.factory() as session:
            found = session.get(Case, case_id)
            assert found is not None
            return found

    def thread(self, case_id: int) -> list[str]:
        ts = self.case(case_id).root_ts
        assert ts is not None
        return [m["text"] for m in self.emulator.thread(TRIAGE, ts)]

    def bot_lines(self, case_id: int) -> list[str]:
        """The thread replies the deadline machinery wrote (not "claimed by" and the like)."""
        marks = (":alarm_clock:", ":mega:", ":rotating_light:", ":hourglass:", ":warning:")
        return [m for m in self.thread(case_id) if m.startswith(marks)]

    def dms(self, user: str) -> list[str]:
        return [m["text"] for m in self.emulator.dm_messages(user)]

    def system_events(self, case_id: int) -> list[str]:
        with self.rt.factory() as session:
            kinds = session.scalars(
                select(Event.kind)
                .where(Event.case_id == case_id, Event.actor == "system")
                .order_by(Event.id)
            )
            return [k for k in kinds if k not in ("opened", "classified")]

    def pending(self, case_id: int) -> list[CaseSchedule]:
        with self.rt.factory() as session:
            rows = storage.schedule.schedule_of_case(session, case_id)
            return [r for r in rows if r.status == "pending"]


@pytest.fixture
def life(
    tmp_path: Path, database_url: str, emulator: SlackEmulator
) -> Iterator[Callable[..., Life]]:
    made: list[Life] = []

    def make(start: datetime = MONDAY, **overrides: Any) -> Life:
        # The test clock jumps hours in no time: let the outbox post without Slack's real pace.
        overrides.setdefault("slack", {"messages_per_second": 100, "burst": 50})
        settings = make_settings(tmp_path, database_url, emulator.api_url, **overrides)
        clock = ManualClock(start)
        made.append(Life(build_runtime(settings, clock=clock), clock, emulator))
        return made[-1]

    yield make
    for one in made:
        one.rt.close()


def policy(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "deadline": "PT8H",
        "reminders": [0.5],
        "final_warning": "PT1H",
        "auto_close": True,
    }
    base.update(fields)
    return base


def test_a_case_life_in_business_time(life: Callable[..., Life]) -> None:
    bot = life(policy=policy())  # default escalations: unclaimed at 25%, no action at 50%
    case_id = bot.open_case()
    assert bot.case(case_id).deadline_at == paris(2026, 11, 23, 17, 0).astimezone(UTC)

    bot.at(paris(2026, 11, 23, 10, 59))
    assert bot.bot_lines(case_id) == [] and bot.dms(MANAGER) == []

    bot.at(paris(2026, 11, 23, 11, 0))  # a quarter of the way, nobody owns it
    assert bot.bot_lines(case_id) == [
        ":mega: Escalated to managers:\n• case #1 (Network quality) has had no owner for 2 h;"
        " deadline Mon 23 Nov 2026 17:00 CET."
    ]
    assert len(bot.dms(MANAGER)) == 1 and "has had no owner for 2 h" in bot.dms(MANAGER)[0]

    bot.at(paris(2026, 11, 23, 12, 0))
    bot.claim(case_id)  # reminders restart over the time left: next one at 14:30

    bot.at(paris(2026, 11, 23, 13, 0))  # half way, nobody has tried to reach the customer
    assert "nobody has tried to reach the customer" in bot.bot_lines(case_id)[-1]
    assert len(bot.dms(MANAGER)) == 2
    assert bot.dms(AGENT) == []

    bot.at(paris(2026, 11, 23, 14, 29))
    assert bot.dms(AGENT) == []
    bot.at(paris(2026, 11, 23, 14, 30))
    assert bot.dms(AGENT)[0].startswith(":alarm_clock: Reminder: case #1 (Network quality)")
    assert "<@U0AGENT> has not tried to reach the customer yet." in bot.dms(AGENT)[0]

    bot.at(paris(2026, 11, 23, 16, 0))
    assert bot.dms(AGENT)[1].startswith(":rotating_light: Final warning: case #1")
    assert "as *expired without action* unless someone acts" in bot.dms(AGENT)[1]

    bot.at(paris(2026, 11, 23, 17, 0))
    expired = bot.case(case_id)
    assert (expired.status, expired.outcome) == ("expired", "expired_without_action")
    last = bot.bot_lines(case_id)[-1]
    assert last.startswith(":hourglass: Case #1 (Network quality) closed at its deadline")
    assert "*expired without action*" in last
    # Loud: shown in the channel too, the owner and the managers are told, the card says so.
    assert any(":hourglass:" in m["text"] for m in bot.emulator.channel_messages(TRIAGE))
    assert len(bot.dms(AGENT)) == 3 and len(bot.dms(MANAGER)) == 3
    card = bot.emulator.message(TRIAGE, expired.root_ts or "")
    assert card is not None and "Closed at the deadline: expired without action" in str(
        card["blocks"]
    )

    assert bot.system_events(case_id) == [
        "escalated",
        "escalated",
        "reminder_sent",
        "final_warning",
        "expired",
    ]
    bot.at(paris(2026, 12, 2, 12, 0))  # a week later nothing more is said
    assert len(bot.bot_lines(case_id)) == 5
    assert len(bot.dms(AGENT)) == 3 and len(bot.dms(MANAGER)) == 3
    assert bot.pending(case_id) == []


def test_nothing_goes_out_outside_hours_and_missed_reminders_collapse(
    life: Callable[..., Life],
) -> None:
    friday = paris(2026, 11, 27, 9, 0)
    bot = life(
        start=friday, policy=policy(deadline="P2D", reminders=[0.2, 0.4, 0.6], escalations=[])
    )
    case_id = bot.open_case()
    # The worker is down from Friday morning; it comes back on Saturday, when the team is off.
    bot.at(paris(2026, 11, 28, 10, 0))
    assert bot.bot_lines(case_id) == []
    waiting = [r for r in bot.pending(case_id) if r.kind == "reminder"]
    monday_9 = paris(2026, 11, 30, 9, 0).astimezone(UTC)
    assert sorted(r.due_at for r in waiting)[:2] == [monday_9, monday_9]
    bot.at(paris(2026, 11, 30, 8, 59))
    assert bot.bot_lines(case_id) == []
    # Monday noon: the two from Friday and the one of Monday 10:48, in one message.
    bot.at(paris(2026, 11, 30, 12, 0))
    lines = bot.bot_lines(case_id)
    assert len(lines) == 1
    assert "3 reminders fell due at once" in lines[0]
    # Unclaimed: the whole channel sees it.
    assert sum(":alarm_clock:" in m["text"] for m in bot.emulator.channel_messages(TRIAGE)) == 1
    bot.at(paris(2026, 11, 30, 17, 0))
    assert bot.bot_lines(case_id)[-1].startswith(":rotating_light: Final warning")
    assert bot.system_events(case_id) == ["reminder_sent", "final_warning"]


@pytest.mark.parametrize("outside", [False, True])
def test_the_final_warning_may_be_sent_outside_hours_when_configured(
    life: Callable[..., Life], outside: bool
) -> None:
    bot = life(
        start=paris(2026, 11, 23, 9, 30),
        policy=policy(
            deadline="P1D", reminders=[], escalations=[], final_warning_outside_hours=outside
        ),
    )
    case_id = bot.open_case()
    assert bot.case(case_id).deadline_at == paris(2026, 11, 24, 9, 30).astimezone(UTC)
    bot.at(paris(2026, 11, 23, 17, 30))  # one working hour before the deadline
    said = bot.bot_lines(case_id)
    assert len(said) == (0 if outside else 1)
    bot.at(paris(2026, 11, 24, 8, 29))
    assert len(bot.bot_lines(case_id)) == (0 if outside else 1)
    bot.at(paris(2026, 11, 24, 8, 30))  # one clock hour before, before the team starts
    assert len(bot.bot_lines(case_id)) == 1
    assert bot.bot_lines(case_id)[0].startswith(":rotating_light: Final warning")


@pytest.mark.parametrize(
    ("outcomes", "expected", "said"),
    [
        ([], "expired_without_action", "*expired without action*"),
        (
            ["no_answer", "voicemail"],
            "closed_not_reached",
            "*customer not reached after 2 attempt(s)*",
        ),
        (["no_answer", "reached"], "closed_unresolved", "the customer was reached"),
    ],
)
def test_the_deadline_closes_with_an_honest_outcome(
    life: Callable[..., Life], outcomes: list[str], expected: str, said: str
) -> None:
    bot = life(policy=policy(reminders=[]))
    case_id = bot.open_case()
    bot.claim(case_id)
    for n, outcome in enumerate(outcomes):
        bot.at(paris(2026, 11, 23, 10 + n, 0))
        bot.contact(case_id, outcome)
    bot.at(paris(2026, 11, 23, 13, 0))
    # Someone tried: the "no action" escalation is off. Nobody tried: managers hear at 50%.
    assert len(bot.dms(MANAGER)) == (0 if outcomes else 1)
    bot.at(paris(2026, 11, 23, 17, 0))
    case = bot.case(case_id)
    assert (case.status, case.outcome) == ("expired", expected)
    assert said in bot.bot_lines(case_id)[-1]
    assert said in bot.dms(MANAGER)[-1]


def test_a_snooze_holds_reminders_and_moves_a_deadline_it_would_swallow(
    life: Callable[..., Life],
) -> None:
    bot = life(policy=policy(escalations=[]))
    case_id = bot.open_case()
    bot.at(paris(2026, 11, 23, 10, 0))
    bot.claim(case_id)  # reminder at 13:30, final warning at 16:00, deadline at 17:00
    bot.at(paris(2026, 11, 23, 12, 0))
    bot.snooze(case_id, paris(2026, 11, 24, 10, 0))  # "call me back tomorrow at ten"
    assert bot.case(case_id).deadline_at == paris(2026, 11, 24, 11, 0).astimezone(UTC)
    bot.at(paris(2026, 11, 23, 18, 0))
    assert bot.bot_lines(case_id) == [] and bot.dms(AGENT) == []
    assert bot.case(case_id).status == "claimed"
    bot.at(paris(2026, 11, 24, 10, 0))
    assert bot.dms(AGENT)[0].startswith(":rotating_light: Final warning")
    bot.at(paris(2026, 11, 24, 11, 0))
    assert bot.case(case_id).status == "expired"
    assert bot.system_events(case_id) == ["final_warning", "expired"]


def test_without_auto_close_an_overdue_case_stays_open_and_escalates_daily(
    life: Callable[..., Life],
) -> None:
    bot = life(policy=policy(auto_close=False, reminders=[], escalations=[], overdue_every="P1D"))
    case_id = bot.open_case()
    bot.claim(case_id)
    bot.at(paris(2026, 11, 23, 17, 0))
    case = bot.case(case_id)
    assert case.status == "claimed" and case.outcome is None
    assert "is overdue" in bot.bot_lines(case_id)[-1]
    assert len(bot.dms(MANAGER)) == 1
    bot.at(paris(2026, 11, 24, 16, 59))
    assert len(bot.dms(MANAGER)) == 1
    bot.at(paris(2026, 11, 24, 17, 0))  # one business day later
    assert len(bot.dms(MANAGER)) == 2
    assert "still open 24 h after its deadline" in bot.dms(MANAGER)[-1]
    # Ten days of downtime: one notice when the worker is back, not one per day missed.
    bot.at(paris(2026, 12, 7, 12, 0))
    assert len(bot.dms(MANAGER)) == 3
    bot.at(paris(2026, 12, 7, 16, 59))
    assert len(bot.dms(MANAGER)) == 3
    bot.at(paris(2026, 12, 7, 17, 0))
    assert len(bot.dms(MANAGER)) == 4
    assert [r.kind for r in bot.pending(case_id)] == ["overdue"]


def test_a_crashed_sweeps_lease_runs_out_and_another_sweep_takes_over(
    life: Callable[..., Life],
) -> None:
    bot = life(policy=policy(escalations=[]))
    case_id = bot.open_case()
    bot.at(paris(2026, 11, 23, 13, 0), run=False)
    # A worker claims the due reminder and dies before it says anything.
    token, claimed = reminders.claim_due(bot.rt.factory, bot.clock)
    assert [item.kind for item in claimed] == ["reminder"]
    bot.run()  # another worker: the row is leased, so it waits
    assert bot.bot_lines(case_id) == []
    bot.at(paris(2026, 11, 23, 13, 0) + reminders.LEASE + timedelta(seconds=1))
    assert len(bot.bot_lines(case_id)) == 1
    # The first worker was only frozen, and wakes up: its claim is void, it sends nothing.
    team = bot.rt.settings.team
    assert reminders.send_claimed(bot.rt.factory, team, bot.clock, token, claimed) == 0
    bot.run()
    assert len(bot.bot_lines(case_id)) == 1
    assert bot.system_events(case_id) == ["reminder_sent"]


def test_a_change_during_a_sweep_voids_its_claim(life: Callable[..., Life]) -> None:
    bot = life(policy=policy(escalations=[]))
    case_id = bot.open_case()
    bot.at(paris(2026, 11, 23, 13, 0), run=False)
    token, claimed = reminders.claim_due(bot.rt.factory, bot.clock)
    bot.claim(case_id)  # meanwhile someone claims the case: the reminder moves to 15:00
    team = bot.rt.settings.team
    assert reminders.send_claimed(bot.rt.factory, team, bot.clock, token, claimed) == 0
    assert bot.bot_lines(case_id) == []
    bot.at(paris(2026, 11, 23, 15, 0))
    assert len(bot.dms(AGENT)) == 1 and bot.dms(AGENT)[0].startswith(":alarm_clock: Reminder")


def test_slack_errors_during_a_sweep_are_retried_and_delivered_once(
    life: Callable[..., Life],
) -> None:
    bot = life(policy=policy(escalations=[]))
    case_id = bot.open_case()
    bot.emulator.inject_fault("chat.postMessage", status=429, retry_after=1, times=1)
    bot.emulator.inject_fault("chat.postMessage", status=500, times=1)
    bot.at(paris(2026, 11, 23, 13, 0))
    assert bot.bot_lines(case_id) == []  # refused, queued for later
    for _ in range(10):
        bot.at(bot.now + timedelta(seconds=5))
    assert len(bot.bot_lines(case_id)) == 1
    replies = [c for c in bot.emulator.calls_to("chat.postMessage") if c.params.get("thread_ts")]
    assert len(replies) == 3  # 429, 500, delivered
    with bot.rt.factory() as session:
        assert storage.outbox.outbox_depth(session) == 0
        assert (
            session.scalars(select(OutboxMessage).where(OutboxMessage.status != "sent")).all() == []
        )


def test_a_closed_case_has_nothing_pending(life: Callable[..., Life]) -> None:
    bot = life(policy=policy())
    case_id = bot.open_case()
    assert sorted(r.kind for r in bot.pending(case_id)) == [
        "deadline",
        "escalation",
        "escalation",
        "final_warning",
        "reminder",
    ]
    with transaction(bot.rt.factory) as session:
        case = storage.cases.case_for_update(session, case_id)
        assert case is not None
        case.status, case.outcome, case.closed_at = "resolved", "retained", bot.now
        reminders.reschedule(session, case, bot.rt.settings.team, bot.now)
    assert bot.pending(case_id) == []
    bot.at(paris(2026, 11, 24, 12, 0))
    assert bot.bot_lines(case_id) == []


def test_deadlines_per_severity_and_reason(tmp_path: Path, life: Callable[..., Life]) -> None:
    bot = life(
        policy=policy(
            deadline_by_severity={"high": "PT2H", "low": "P5D"},
            deadline_by_reason={"network_quality": "PT4H"},
        )
    )
    team = bot.rt.settings.team
    assert cases.deadline_for(team, MONDAY, "high") == paris(2026, 11, 23, 11, 0).astimezone(UTC)
    assert cases.deadline_for(team, MONDAY, "low") == paris(2026, 11, 30, 9, 0).astimezone(UTC)
    assert cases.deadline_for(team, MONDAY) == paris(2026, 11, 23, 17, 0).astimezone(UTC)
    # A reason's own deadline wins over its severity's.
    by_reason = cases.deadline_for(team, MONDAY, "high", "network_quality")
    assert by_reason == paris(2026, 11, 23, 13, 0).astimezone(UTC)
    case_id = bot.open_case()
    assert bot.case(case_id).primary_reason == "network_quality"
    assert bot.case(case_id).deadline_at == by_reason


def test_an_unknown_reason_in_the_policy_stops_the_start(
    tmp_path: Path, database_url: str, emulator: SlackEmulator
) -> None:
    settings = make_settings(
        tmp_path,
        database_url,
        emulator.api_url,
        policy=policy(deadline_by_reason={"network_quallity": "PT4H"}),
    )
    with pytest.raises(ConfigError, match=r"policy\.deadline_by_reason\.network_quallity: not a"):
        build_runtime(settings, check_slack=False)


def test_after_a_snooze_reminders_count_from_its_end() -> None:
    from bot.runtime.settings import TeamConfig
    from tests.conftest import team_config

    team = TeamConfig.model_validate(team_config(policy=policy(escalations=[])))
    opened = MONDAY.astimezone(UTC)
    snoozed_at, snooze_end = opened + timedelta(hours=1), opened + timedelta(hours=3)
    facts = reminders.CaseFacts(
        status="claimed",
        opened_at=opened,
        deadline_at=opened + timedelta(hours=8),
        owner_id=AGENT,
        snoozed_until=snooze_end,
        attempts=0,
        last_touch=snoozed_at,
    )
    after = opened + timedelta(hours=4)  # the snooze is over; nobody has done anything since
    planned = {p.kind: p.due_at for p in reminders.plan(team, facts, set(), after)}
    assert planned["reminder"] == snooze_end + timedelta(hours=2.5)  # half of 11:00 -> 16:00
    assert planned["final_warning"] == opened + timedelta(hours=7)
