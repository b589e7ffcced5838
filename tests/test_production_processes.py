"""Production faults with real processes: `triage serve` (gunicorn) killed right after acking,
and two web plus two worker processes on PostgreSQL under a burst. Marked slow."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from bot.cases.card import CLAIM_ACTION
from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.signing import SlackRequestSender
from bot.slack.outbox import CARD_EVENT_TYPE
from storage.db import make_engine, make_sessionmaker
from storage.models import Case, Event, Verdict
from tests.conftest import AGENT, AGENT2, BOT_TOKEN, INTAKE, TRIAGE, WEBHOOK_SECRET, team_config
from tests.support import (
    ROOT,
    TEST_LEASE_SECONDS,
    bot_command,
    bot_env,
    free_port,
    healthy,
    post_webhook,
    wait_until,
)

SECRET = "production-test-secret"
pytestmark = pytest.mark.slow  # gunicorn and worker processes, started and killed


class _Fleet:
    """Processes of the bot, started like an operator would, each in its own process group."""

    def __init__(self, tmp_path: Path, database_url: str, emulator: SlackEmulator, **config: Any):
        path = tmp_path / "triage.yaml"
        path.write_text(yaml.safe_dump(team_config(**config)), encoding="utf-8")
        self.tmp_path = tmp_path
        self.env = bot_env(
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=emulator.api_url,
            DATABASE_URL=database_url,
            TRIAGE_CONFIG=str(path),
            WEBHOOK_SECRET=WEBHOOK_SECRET,
            LOG_FORMAT="json",
            # A killed process's claimed rows are taken over after seconds, not minutes.
            TRIAGE_LEASE_SECONDS=TEST_LEASE_SECONDS,
        )
        self.processes: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"process{len(self.logs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            process = subprocess.Popen(
                bot_command(*args),
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its gunicorn workers die with it on SIGKILL
            )
        self.processes.append(process)
        return process

    def serve(self, workers: int = 1) -> str:
        port = free_port()
        self.start("serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers))
        url = f"http://127.0.0.1:{port}"
        assert wait_until(lambda: healthy(url), 60), "triage serve did not come up"
        return url

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> str:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        return "\n".join(log.read_text(errors="replace") for log in self.logs)


@contextmanager
def fleet(
    tmp_path: Path, database_url: str, emulator: SlackEmulator, **config: Any
) -> Iterator[_Fleet]:
    running = _Fleet(tmp_path, database_url, emulator, **config)
    try:
        yield running
    finally:
        output = running.stop()
    assert "Traceback" not in output, output[-5000:]


def _cards(emulator: SlackEmulator) -> list[dict[str, Any]]:
    return [
        m
        for m in emulator.channel_messages(TRIAGE)
        if (m.get("metadata") or {}).get("event_type") == CARD_EVENT_TYPE
    ]


def _no_post_twice(emulator: SlackEmulator) -> None:
    """Every delivered post names its card or outbox row: none may appear twice."""
    marks = Counter(
        (
            call.params["metadata"]["event_type"],
            tuple(sorted(call.params["metadata"]["event_payload"].items())),
        )
        for call in emulator.calls_to("chat.postMessage")
        if call.ok and call.params.get("metadata")
    )
    assert marks and max(marks.values()) == 1, [m for m, n in marks.items() if n > 1][:5]


def test_web_killed_right_after_acking_50_verdicts_loses_none_and_doubles_none(
    tmp_path: Path, database_url: str, emulator: SlackEmulator
) -> None:
    with fleet(tmp_path, database_url, emulator) as bots:
        url = bots.serve(workers=2)
        first = bots.processes[0]
        sender = SlackRequestSender(url + "/slack/events", SECRET)
        events = [
            emulator.post_as_user(
                INTAKE,
                "U0ANALYST",
                f"Customer: k{n}@example.com\nConsent: yes\nThe 4G drops ({n}).",
            )
            for n in range(50)
        ]
        with ThreadPoolExecutor(max_workers=10) as pool:
            statuses = list(pool.map(lambda e: sender.send_event(e).status, events))
        assert statuses == [200] * 50  # acked: recorded before the answer
        bots.kill(first)  # SIGKILL to the whole process group, no goodbye

        url = bots.serve(workers=2)  # the restart; the dead process's leases run out
        assert wait_until(lambda: len(_cards(emulator)) >= 50, 240), len(_cards(emulator))

        def replied() -> bool:
            roots = emulator.channel_messages(INTAKE)
            return all(len(emulator.thread(INTAKE, r["ts"])) >= 1 for r in roots)

        assert wait_until(replied, 120)
        time.sleep(2)  # a duplicate would show within the next passes
    case_ids = [c["metadata"]["event_payload"]["case_id"] for c in _cards(emulator)]
    assert len(case_ids) == len(set(case_ids)) == 50  # (PostgreSQL may skip an id a kill burnt)
    for root in emulator.channel_messages(INTAKE):
        assert len(emulator.thread(INTAKE, root["ts"])) == 1
    _no_post_twice(emulator)
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            assert session.scalar(select(func.count()).select_from(Verdict)) == 50
            assert session.scalar(select(func.count()).select_from(Case)) == 50
    finally:
        engine.dispose()


@pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"), reason="several processes at once: PostgreSQL only"
)
def test_two_web_two_workers_burst_of_1000_verdicts_and_200_clicks(
    tmp_path: Path, database_url: str, emulator: SlackEmulator
) -> None:
    customers = 100  # 1000 verdicts: 100 cases opened, 900 joins, each a thread reply
    config = {
        "business_hours": "always",
        "slack": {"messages_per_second": 100, "burst": 50},
        "policy": {
            "deadline": 60,
            "reminders": [0.5],
            "final_warning": 1,
            "escalations": [],
            "auto_close": True,
        },
    }
    with fleet(tmp_path, database_url, emulator, **config) as bots:
        urls = [bots.serve(), bots.serve()]
        for _ in range(2):
            bots.start("worker", "--interval", "0.5")

        def send(n: int) -> int:
            body = {
                "id": f"burst-{n}",
                "text": f"Plus de réseau depuis des jours ({n}).",
                "email": f"b{n % customers}@example.com",
                "consent": True,
            }
            return post_webhook(urls[n % 2], body, WEBHOOK_SECRET)[0]

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(send, range(1000)))
        assert statuses == [202] * 1000
        assert wait_until(lambda: len(_cards(emulator)) >= customers, 120)

        # 200 clicks: two agents claim each of 100 cases at the same moment, on either server.
        senders = [SlackRequestSender(u + "/slack/events", SECRET) for u in urls]
        clicks = [
            (card, user, senders[(i + j) % 2])
            for i, card in enumerate(_cards(emulator))
            for j, user in enumerate((AGENT, AGENT2))
        ]

        def click(item: tuple[dict[str, Any], str, SlackRequestSender]) -> int:
            card, user, sender = item
            payload = emulator.click(TRIAGE, card["ts"], CLAIM_ACTION, user)
            return sender.send_interactivity(payload).status

        with ThreadPoolExecutor(max_workers=16) as pool:
            clicked = list(pool.map(click, clicks))
        assert clicked == [200] * 200

        engine = make_engine(database_url)
        factory = make_sessionmaker(engine)
        try:

            def settled() -> bool:  # every case expired at its deadline, every message out
                with factory() as session:
                    open_cases = session.scalar(
                        select(func.count()).select_from(Case).where(Case.status != "expired")
                    )
                    return open_cases == 0 and _pending(session) == 0

            assert wait_until(settled, 240), "the fleet did not finish"
            time.sleep(2)
            with factory() as session:
                assert session.scalar(select(func.count()).select_from(Verdict)) == 1000
                assert session.scalar(select(func.count()).select_from(Case)) == customers
                claims = Counter(
                    session.scalars(select(Event.case_id).where(Event.kind == "claimed"))
                )
                reminders = Counter(
                    session.scalars(select(Event.case_id).where(Event.kind == "reminder_sent"))
                )
        finally:
            engine.dispose()
    assert len(claims) == customers and set(claims.values()) == {1}
    assert reminders and set(reminders.values()) == {1}
    _no_post_twice(emulator)
    for card in _cards(emulator):
        said = [m["text"] for m in emulator.thread(TRIAGE, card["ts"])]
        assert len(said) == len(set(said))  # joins, the claim, the reminder, the expiry: once each
        assert sum("Claimed by" in s or "claimed" in s.lower() for s in said) >= 1


def _pending(session: Any) -> int:
    import storage.outbox

    return storage.outbox.pending_work(session)
