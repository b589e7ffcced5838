"""`triage worker` processes as production runs them: two at once over 100 cases whose
reminders fall due together, and one killed in the middle of a sweep. Every reminder reaches
Slack exactly once; the emulator counts them."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select, update

import storage.outbox
from bot.cases import reminders
from bot.intake.parsing import parse_verdict
from bot.intake.service import ingest_many
from bot.intake.verdict_input import from_parsed
from bot.runtime.app import build_runtime
from bot.runtime.clock import ManualClock, SystemClock
from bot.runtime.runtime import Runtime
from bot.sandbox.emulator import SlackEmulator
from bot.slack.outbox import CARD_EVENT_TYPE
from storage.db import make_engine, transaction
from storage.models import Case, CaseSchedule
from tests.conftest import BOT_TOKEN, TRIAGE, make_settings, team_config
from tests.support import ROOT, bot_command, bot_env, wait_until

# The emulator does not rate limit: let the outbox post as fast as it can, so 800 messages in
# one channel take seconds, not Slack's real minutes.
FAST = {"messages_per_second": 100, "burst": 50}
# Cases whose reminders fall due together: one card and one reminder each, 2 s of posting in
# one channel at the fastest pace; more would prove nothing more (a sweep claims up to 500).
CASES = 100
pytestmark = pytest.mark.slow  # worker processes, started and killed


@contextmanager
def _workers(
    tmp_path: Path, database_url: str, emulator: SlackEmulator, count: int, **config: Any
) -> Iterator[list[subprocess.Popen[str]]]:
    """`python -m bot worker` processes on the test database, stopped (SIGTERM) afterwards."""
    path = tmp_path / "worker.yaml"
    path.write_text(yaml.safe_dump(team_config(**config)), encoding="utf-8")
    env = bot_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET="worker-test",
        SLACK_API_URL=emulator.api_url,
        DATABASE_URL=database_url,
        TRIAGE_CONFIG=str(path),
    )
    processes: list[subprocess.Popen[str]] = []
    logs = []
    for n in range(count):
        log = (tmp_path / f"worker{n}.log").open("w")
        logs.append(log)
        processes.append(
            subprocess.Popen(
                bot_command("worker", "--interval", "0.2"),
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()
        for n in range(count):
            output = (tmp_path / f"worker{n}.log").read_text()
            assert "Traceback" not in output, output


def _open_cases(runtime: Runtime, count: int) -> None:
    """`count` cases opened together, so their reminders fall due together."""
    items = [
        from_parsed(
            parse_verdict(f"Customer: w{n}@example.com\nConsent: yes\nNo signal at home."),
            "import",
            source_key=f"worker-test:{n}",
        )
        for n in range(count)
    ]
    with transaction(runtime.factory) as session:
        ingest_many(session, items, runtime.classifier, runtime.settings.team, runtime.clock.now())


def _replies(emulator: SlackEmulator) -> dict[str, list[str]]:
    """Card ts -> the texts of its thread replies."""
    return {
        card["ts"]: [m["text"] for m in emulator.thread(TRIAGE, card["ts"])]
        for card in emulator.channel_messages(TRIAGE)
        if (card.get("metadata") or {}).get("event_type") == CARD_EVENT_TYPE
    }


def test_two_workers_send_every_reminder_exactly_once(
    tmp_path: Path, database_url: str, emulator: SlackEmulator
) -> None:
    config: dict[str, Any] = {
        "business_hours": "always",
        "slack": FAST,
        "policy": {
            "deadline": 40,
            "reminders": [0.05],  # two seconds after opening, for all of them at once
            "final_warning": 1,
            "escalations": [],
        },
    }
    settings = make_settings(tmp_path, database_url, emulator.api_url, **config)
    runtime = build_runtime(settings, check_slack=False)
    try:
        with _workers(tmp_path, database_url, emulator, 2, **config):
            # Both workers up (each asked Slack who it is), then the cases open at once.
            assert wait_until(lambda: len(emulator.calls_to("auth.test")) >= 2)
            _open_cases(runtime, CASES)

            def reminded() -> bool:
                with runtime.factory() as session:
                    sent = session.scalar(
                        select(func.count())
                        .select_from(CaseSchedule)
                        .where(CaseSchedule.kind == "reminder", CaseSchedule.status == "sent")
                    )
                    return sent == CASES and storage.outbox.outbox_depth(session) == 0

            assert wait_until(reminded, timeout=90), "the workers did not finish"
            time.sleep(1.0)  # a duplicate would show within the workers' next passes
    finally:
        runtime.close()
    threads = _replies(emulator)
    assert len(threads) == CASES
    for said in threads.values():
        assert len(said) == 1 and said[0].startswith(":alarm_clock: Reminder: case #"), said
    # Every reminder once: a thread reply for each case, each of its own case.
    replies = [p for p in emulator.calls_to("chat.postMessage") if p.params.get("thread_ts")]
    assert len(replies) == CASES
    assert len({said[0].split(" (", 1)[0] for said in threads.values()}) == CASES


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"),
    reason="holds a row lock to stop the worker mid-sweep: PostgreSQL (SQLite is covered by "
    "test_reminders' lease takeover)",
)
def test_a_worker_killed_mid_sweep_loses_nothing_and_sends_nothing_twice(
    tmp_path: Path, database_url: str, emulator: SlackEmulator
) -> None:
    count = 50
    config: dict[str, Any] = {
        "business_hours": "always",
        "slack": FAST,
        "policy": {
            "deadline": 300,
            "reminders": [0.5],  # brought forward by the test once the worker is ready
            "final_warning": 1,
            "escalations": [],
        },
    }
    settings = make_settings(tmp_path, database_url, emulator.api_url, **config)
    runtime = build_runtime(settings, check_slack=False)
    _open_cases(runtime, count)
    runtime.close()
    engine = make_engine(database_url)
    try:

        def scalar(query: Any) -> int:
            with engine.connect() as connection:
                return int(connection.execute(query).scalar() or 0)

        posted = select(func.count()).select_from(Case).where(Case.root_ts.is_not(None))
        leased = (
            select(func.count())
            .select_from(CaseSchedule)
            .where(
                CaseSchedule.kind == "reminder",
                CaseSchedule.status == "pending",
                CaseSchedule.lease_owner.is_not(None),
            )
        )
        with _workers(tmp_path, database_url, emulator, 1, **config) as (worker,):
            assert wait_until(lambda: scalar(posted) == count), "cards were not posted"
            # Hold the last case: the worker claims the reminders, then waits for this lock
            # in the middle of its sweep, holding leases and an open transaction.
            with engine.connect() as blocker:
                blocker.execute(select(Case.id).where(Case.id == count).with_for_update())
                with engine.begin() as connection:  # time passes: every reminder is due now
                    connection.execute(
                        update(CaseSchedule)
                        .where(CaseSchedule.kind == "reminder")
                        .values(due_at=SystemClock().now())
                    )
                assert wait_until(lambda: scalar(leased) == count), "the sweep did not claim"
                time.sleep(0.5)
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=10)
                blocker.rollback()
        assert all(not said for said in _replies(emulator).values())  # nothing was sent
        assert scalar(leased) == count  # and nothing is lost: the rows wait for their lease
    finally:
        engine.dispose()

    # The worker is restarted once its lease has run out.
    later = ManualClock(SystemClock().now() + reminders.LEASE + timedelta(seconds=1))
    restarted = build_runtime(settings, clock=later)
    try:
        while restarted.run_pending() > 0:
            pass
    finally:
        restarted.close()
    threads = _replies(emulator)
    assert len(threads) == count
    for said in threads.values():
        assert len(said) == 1 and said[0].startswith(":alarm_clock: Reminder"), said
