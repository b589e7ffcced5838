"""Running it in production: readiness, metrics, structured logs, Slack's pace through an outage,
erasure of a customer and retention. In-process over real HTTP against the emulator."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select

from bot.cases.card import CLAIM_ACTION, CONTACT_ACTION, NOTE_ACTION, RESOLVE_ACTION
from bot.privacy.erasure import find_customer, forget_customer, purge_older_than, run_retention
from bot.runtime import logs
from bot.runtime.app import build_runtime
from bot.runtime.health import readiness_problem
from bot.sandbox.emulator import SlackEmulator
from bot.slack.outbox import CARD_EVENT_TYPE, POST_EVENT_TYPE
from storage.db import make_engine, transaction
from storage.migrate import downgrade, head_revision, upgrade
from storage.models import Base, Case, Classification, ContactAttempt, Customer, Verdict
from tests.conftest import AGENT, INTAKE, MANAGER, TRIAGE, Harness, block_text, make_settings
from tests.test_case_thread import form, submit


def _get(url: str) -> tuple[int, str, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


# --- readiness --------------------------------------------------------------------------------


def test_readyz_says_ready_then_names_why_not(bot: Harness) -> None:
    status, body, headers = _get(bot.server.url + "/readyz")
    assert status == 200 and json.loads(body) == {"status": "ready"}
    assert headers.get("X-Request-Id")
    engine = make_engine(bot.rt.settings.database_url)
    try:
        downgrade(engine, "base")  # then an older schema than the code's: not ready
        assert _get(bot.server.url + "/readyz")[0] == 503
        upgrade(engine, "0001")
    finally:
        engine.dispose()
    status, body, _ = _get(bot.server.url + "/readyz")
    assert status == 503
    assert (
        f"database at revision 0001, the code needs {head_revision()}" in json.loads(body)["reason"]
    )
    assert _get(bot.server.url + "/healthz")[0] == 200  # the process itself is up


def test_an_unreachable_database_is_not_ready() -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:9/none")
    try:
        assert (readiness_problem(engine) or "").startswith("database unreachable")
    finally:
        engine.dispose()


# --- connections ------------------------------------------------------------------------------


def test_a_busy_process_keeps_its_connections_open(
    tmp_path: Path, database_url: str, emulator: SlackEmulator
) -> None:
    """A process answering 8 requests at once (and its background worker) opens 9 connections
    once and keeps them: none is closed and reopened on the next burst."""
    rt = build_runtime(make_settings(tmp_path, database_url, emulator.api_url), request_threads=8)
    opened: list[object] = []
    event.listen(rt.engine, "connect", lambda connection, _record: opened.append(connection))
    together = threading.Barrier(9)
    failures: list[BaseException] = []

    def hold() -> None:
        try:
            with rt.engine.connect() as connection:
                connection.execute(select(1))
                together.wait(timeout=10)  # every thread holds a connection at this point
        except BaseException as exc:  # a thread's error would otherwise only be printed
            failures.append(exc)

    def burst() -> None:
        threads = [threading.Thread(target=hold) for _ in range(9)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    try:
        burst()
        first = len(opened)
        for _again in range(3):
            burst()
        assert failures == []
        assert len(opened) == first  # none was closed and reopened
        assert rt.engine.pool.checkedin() == 9  # type: ignore[attr-defined]
    finally:
        rt.close()


# --- metrics ----------------------------------------------------------------------------------


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_verdicts_slack_calls_acks_and_the_queue(bot: Harness) -> None:
    before = _get(bot.server.url + "/metrics")[1]
    status, _, _ = bot.post_webhook(
        {"text": "The bill doubled.", "email": "m@example.com", "consent": True}
    )
    assert status == 202
    bot.post_intake("Customer: n@example.com\nConsent: yes\nNo signal at home.")
    bot.wait_idle()
    status, after, headers = _get(bot.server.url + "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")

    def grew(name: str, by: float = 1, **labels: str) -> bool:
        return _sample(after, name, **labels) - _sample(before, name, **labels) >= by

    assert grew("triage_verdicts_ingested_total", source="webhook", outcome="opened")
    assert grew("triage_verdicts_ingested_total", source="slack_message", outcome="opened")
    assert grew("triage_classifications_total", 2, backend="offline", outcome="ok")
    assert grew("triage_slack_api_calls_total", 3, method="chat.postMessage", error="ok")
    assert grew("triage_outbox_deliveries_total", 3, kind="card", outcome="sent") or grew(
        "triage_outbox_deliveries_total", 2, kind="card", outcome="sent"
    )
    assert grew("triage_ack_seconds_count", kind="webhook")
    assert grew("triage_ack_seconds_count", kind="event")
    assert "triage_outbox_depth 0.0" in after
    assert "triage_outbox_oldest_age_seconds 0.0" in after

    bot.emulator.inject_fault("chat.postMessage", error="channel_not_found", times=1)
    bot.post_webhook({"text": "Too slow.", "email": "o@example.com", "consent": True})
    bot.wait_idle()
    final = _get(bot.server.url + "/metrics")[1]
    assert (
        _sample(
            final,
            "triage_slack_api_calls_total",
            method="chat.postMessage",
            error="channel_not_found",
        )
        >= 1
    )


# --- logs -------------------------------------------------------------------------------------


class _Capture:
    """Every log line of the process, formatted as production writes it."""

    def __init__(self, json_lines: bool) -> None:
        self.stream = io.StringIO()
        self.handler = logs.handler(json_lines, self.stream)
        self.root = logging.getLogger()
        self.level = self.root.level

    def __enter__(self) -> _Capture:
        self.root.addHandler(self.handler)
        self.root.setLevel(logging.INFO)
        return self

    def __exit__(self, *exc: object) -> None:
        self.root.removeHandler(self.handler)
        self.root.setLevel(self.level)

    def lines(self) -> list[str]:
        return [line for line in self.stream.getvalue().splitlines() if line.strip()]


PRIVATE = "Customer: claire.martin@example.fr\nPhone: 06 11 22 33 44\nConsent: yes\nMa box redémarre sans cesse."


def test_json_logs_carry_request_and_case_ids_and_no_personal_data(bot: Harness) -> None:
    with _Capture(json_lines=True) as capture:
        bot.emulator.inject_fault("chat.postMessage", status=500, times=1)
        bot.post_intake(PRIVATE)
        bot.wait_idle()
        status, _, _ = bot.post_webhook(
            {"text": "Mon débit est nul.", "consent": True, "email": "zoe@example.fr"}
        )
        assert status == 202
        bot.wait_idle()
    records = [json.loads(line) for line in capture.lines()]  # every line is one JSON object
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    intake = [r for r in records if r["logger"] == "bot.intake.slack_messages"]
    assert intake and all(r["request_id"].startswith("inbound-") for r in intake)
    retried = [r for r in records if "not delivered" in r["message"]]
    assert retried and all(
        r["case_id"] == 1 and r["request_id"].startswith("outbox-") for r in retried
    )
    text = "\n".join(capture.lines())
    for private in (
        "claire.martin",
        "06 11 22 33 44",
        "+33611223344",
        "redémarre",
        "zoe@",
        "débit",
    ):
        assert private not in text


def test_text_logs_for_people_and_the_default_follows_the_terminal() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("triage.test")
    handler = logs.handler(False, stream)
    logger.addHandler(handler)
    try:
        with logs.context(request="req-1", case=7):
            logger.warning("hello %s", "there")
    finally:
        logger.removeHandler(handler)
    assert re.search(
        r"WARNING triage.test \[req=req-1 case=7\]: hello there$", stream.getvalue().strip()
    )
    assert logs.wants_json({"LOG_FORMAT": "json"}) and not logs.wants_json({"LOG_FORMAT": "text"})

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert not logs.wants_json({}, Tty()) and logs.wants_json({}, io.StringIO())


# --- Slack's pace through an outage -----------------------------------------------------------


def _posts_by_channel(emulator: SlackEmulator) -> dict[str, list[float]]:
    times: dict[str, list[float]] = defaultdict(list)
    for call in emulator.calls_to("chat.postMessage"):
        times[str(call.params.get("channel"))].append(call.time)
    return times


@pytest.mark.slow  # Slack's real pace: one post a second per channel
def test_429s_then_500s_then_recovery_every_message_once_in_order_at_slacks_pace(
    make_bot: Callable[..., Harness],
) -> None:
    bot = make_bot(slack={"messages_per_second": 1, "burst": 3})
    emulator = bot.emulator
    emulator.inject_fault(None, status=429, retry_after=1, times=10**6)
    for n in range(9):  # three customers, three verdicts each: cards, joins, intake replies
        bot.post_intake(f"Customer: p{n % 3}@example.com\nConsent: yes\nNo signal, again ({n}).")
    time.sleep(4)  # every post refused for a while: each channel held by Retry-After
    emulator.clear_faults()
    emulator.inject_fault(None, status=500, times=10**6)
    time.sleep(2)  # then Slack fails: the outbox backs off
    emulator.clear_faults()
    bot.wait_idle(timeout=180)

    delivered = [c for c in emulator.calls_to("chat.postMessage") if c.ok]
    cards = [
        c for c in delivered if c.params.get("metadata", {}).get("event_type") == CARD_EVENT_TYPE
    ]
    others = [c for c in delivered if c not in cards]
    assert sorted(c.params["metadata"]["event_payload"]["case_id"] for c in cards) == [1, 2, 3]
    ids = [c.params["metadata"]["event_payload"]["outbox_id"] for c in others]
    assert others and all(c.params["metadata"]["event_type"] == POST_EVENT_TYPE for c in others)
    assert len(ids) == len(set(ids)) == 6 + 9  # joins in triage, one reply per intake message
    for card in bot.cards():  # in order within each thread: verdict #2 joined, then #3
        said = [m["text"] for m in emulator.thread(TRIAGE, card["ts"])]
        assert [re.search(r"Verdict #(\d)", s).group(1) for s in said] == ["2", "3"]  # type: ignore[union-attr]
    for root in emulator.channel_messages(INTAKE):
        assert len(emulator.thread(INTAKE, root["ts"])) == 1
    # The pace, measured at Slack: in any run of posts to one channel (refused ones included),
    # n posts span at least (n - burst) seconds.
    interval, burst, slack = 1.0, 3, 0.1
    for channel, times in _posts_by_channel(emulator).items():
        times.sort()
        for i in range(len(times)):
            for j in range(i + burst, len(times)):
                assert times[j] - times[i] >= (j - i - (burst - 1)) * interval - slack, channel


# --- erasure and retention --------------------------------------------------------------------

SECRETS = (
    "jean.dupont@example.fr",
    "+33612345678",
    "06 12 34 56 78",
    "my router broke three times",
    "Toujours en panne",
    "rappeler Jean au bureau",
    "left a voicemail for Jean",
    "offered Jean a new router",
)


def _reasons(bot: Harness) -> tuple[list[tuple[str, int]], list[tuple[str, int]], int]:
    with bot.rt.factory() as session:
        by_case = session.execute(
            select(Case.primary_reason, func.count())
            .group_by(Case.primary_reason)
            .order_by(Case.primary_reason)
        ).all()
        by_result = session.execute(
            select(Classification.primary_reason, func.count())
            .group_by(Classification.primary_reason)
            .order_by(Classification.primary_reason)
        ).all()
        verdicts = int(session.scalar(select(func.count()).select_from(Verdict)) or 0)
    return [tuple(r) for r in by_case], [tuple(r) for r in by_result], verdicts  # type: ignore[misc]


def _database_text(bot: Harness) -> str:
    with bot.rt.factory() as session:
        return "\n".join(
            repr(row)
            for table in Base.metadata.sorted_tables
            for row in session.execute(select(table))
        )


def _slack_text(emulator: SlackEmulator) -> str:
    parts = [emulator.transcript()]
    for channel in (TRIAGE, INTAKE):
        for message in emulator.channel_messages(channel):
            parts.append(json.dumps(message, ensure_ascii=False))
            parts += [
                json.dumps(m, ensure_ascii=False) for m in emulator.thread(channel, message["ts"])
            ]
    for user in (AGENT, MANAGER):
        parts += [json.dumps(m, ensure_ascii=False) for m in emulator.dm_messages(user)]
    return "\n".join(parts)


def test_forget_customer_leaves_no_trace_and_keeps_the_counts(bot: Harness) -> None:
    for body in (
        {
            "id": "a1",
            "text": "Jean here, call me on 06 12 34 56 78: my router broke three times.",
            "email": "jean.dupont@example.fr",
            "phone": "0612345678",
            "consent": True,
            "source": "Institut Opinia",
        },
        {
            "id": "a2",
            "text": "Toujours en panne, écrivez à jean.dupont@example.fr",
            "email": "jean.dupont@example.fr",
            "consent": True,
        },
        {
            "id": "b1",
            "text": "The price went up again.",
            "email": "other@example.com",
            "consent": True,
        },
    ):
        assert bot.post_webhook(body)[0] == 202
    bot.wait_idle()
    card = next(c for c in bot.cards() if "Verdicts (2)" in block_text(c))
    bot.click(card["ts"], CLAIM_ACTION, AGENT)
    bot.wait_idle()
    submit(bot, form(bot, card, NOTE_ACTION, AGENT), AGENT, {"note": "rappeler Jean au bureau"})
    view = form(bot, card, CONTACT_ACTION, AGENT)
    submit(
        bot,
        view,
        AGENT,
        {"channel": "phone", "outcome": "voicemail", "note": "left a voicemail for Jean"},
    )
    view = form(bot, card, RESOLVE_ACTION, AGENT)
    submit(bot, view, AGENT, {"outcome": "apology_given", "summary": "offered Jean a new router"})
    assert "rappeler Jean au bureau" in _slack_text(bot.emulator)
    counts = _reasons(bot)

    with transaction(bot.rt.factory) as session:
        customer_id = find_customer(session, "Jean.Dupont@example.fr", bot.rt.settings.team)
        assert customer_id is not None
        report = forget_customer(
            session, customer_id, MANAGER, bot.rt.clock.now(), bot.rt.settings.team
        )
    bot.wait_idle()
    assert (
        report.verdicts_erased == 2 and report.references_removed == 2 and report.notes_erased >= 3
    )
    assert report.messages_edited >= 3 and report.case_ids == [card_case_id(card)]

    database, slack = _database_text(bot), _slack_text(bot.emulator)
    for secret in SECRETS:
        assert secret not in database, secret
        assert secret not in slack, secret
    assert "The price went up again." in database and "other@example.com" in database
    assert _reasons(bot) == counts
    assert "erased on request" in block_text(bot.emulator.message(TRIAGE, card["ts"]) or {})
    with bot.rt.factory() as session:
        assert session.get(Customer, customer_id).ref == f"erased:{customer_id}"  # type: ignore[union-attr]
        assert session.scalar(select(func.count()).select_from(ContactAttempt)) == 1
    with transaction(bot.rt.factory) as session:  # a second request changes nothing more
        again = forget_customer(
            session, customer_id, MANAGER, bot.rt.clock.now(), bot.rt.settings.team
        )
    assert again.already_forgotten and again.verdicts_erased == 0


def card_case_id(card: dict[str, Any]) -> int:
    return int(card["metadata"]["event_payload"]["case_id"])


def test_retention_erases_old_verbatims_keeps_counts_and_runs_once_a_day(
    make_bot: Callable[..., Harness],
) -> None:
    bot = make_bot(retention={"verbatims": "P365D"})
    assert (
        bot.post_webhook(
            {
                "id": "old",
                "text": "Le réseau coupe tous les soirs.",
                "email": "vieux@example.fr",
                "consent": True,
                "received_at": "2024-01-10T10:00:00+01:00",
            }
        )[0]
        == 202
    )
    assert (
        bot.post_webhook(
            {
                "id": "new",
                "text": "Facture trop chère.",
                "email": "neuf@example.fr",
                "consent": True,
            }
        )[0]
        == 202
    )
    bot.wait_idle()
    counts = _reasons(bot)
    team, clock = bot.rt.settings.team, bot.rt.clock
    first = run_retention(bot.rt.factory, team, clock)
    assert first is not None and first["verdicts_erased"] == 1
    assert run_retention(bot.rt.factory, team, clock) is None  # today's run is done
    bot.wait_idle()
    database = _database_text(bot)
    assert "Le réseau coupe tous les soirs." not in database
    assert "Facture trop chère." in database
    assert _reasons(bot) == counts
    with transaction(bot.rt.factory) as session:  # idempotent: nothing older is left
        assert purge_older_than(session, clock.now() - timedelta(days=365), clock.now(), team) == 0
