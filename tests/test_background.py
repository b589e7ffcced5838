"""Background work (the worker's passes, the outbox's deliveries) lets the requests being
answered go first, for a bounded time."""

from __future__ import annotations

import threading
from pathlib import Path

from bot.cases import service as cases
from bot.intake.parsing import parse_verdict
from bot.intake.service import ingest
from bot.intake.verdict_input import from_parsed
from bot.runtime.app import build_runtime
from bot.runtime.background import BackgroundWorker, RequestActivity
from bot.runtime.runtime import Runtime
from bot.sandbox.emulator import SlackEmulator
from bot.slack.outbox import OutboxDispatcher
from storage.db import transaction
from tests.conftest import make_settings


class _Recorder:
    """A worker step that notes whether a request was in flight when it ran."""

    def __init__(self, activity: RequestActivity) -> None:
        self.activity = activity
        self.busy_when_run: list[bool] = []
        self.ran = threading.Event()

    def __call__(self) -> int:
        self.busy_when_run.append(self.activity.busy())
        self.ran.set()
        return 0


def test_work_waits_for_the_request_in_flight_then_runs() -> None:
    activity = RequestActivity()
    step = _Recorder(activity)
    worker = BackgroundWorker(step, interval=60, activity=activity, max_yield=60)
    with activity.serving():  # a click being answered
        worker.start()
        worker.kick()
        assert not step.ran.wait(0.5)  # the ack goes first
    assert step.ran.wait(10)
    worker.stop()
    assert step.busy_when_run and not any(step.busy_when_run)


def test_work_is_not_starved_by_a_request_that_never_ends() -> None:
    activity = RequestActivity()
    step = _Recorder(activity)
    worker = BackgroundWorker(step, interval=60, activity=activity, max_yield=0.2)
    with activity.serving():
        worker.start()
        worker.kick()
        assert step.ran.wait(10)
    worker.stop()
    assert step.busy_when_run[0] is True  # ran beside the request, after max_yield


def test_without_requests_work_runs_at_once() -> None:
    activity = RequestActivity()
    step = _Recorder(activity)
    worker = BackgroundWorker(step, interval=60, activity=activity, max_yield=60)
    worker.start()
    worker.kick()
    assert step.ran.wait(10)
    worker.stop()
    assert step.busy_when_run and not any(step.busy_when_run)


def _runtime_with_cards(
    tmp_path: Path, database_url: str, emulator: SlackEmulator, count: int
) -> Runtime:
    """A runtime (its worker not started) with `count` new cases whose cards are queued."""
    settings = make_settings(tmp_path, database_url, emulator.api_url)
    rt = build_runtime(settings)
    with transaction(rt.factory) as session:
        for n in range(count):
            item = from_parsed(
                parse_verdict(f"Customer: c{n}@example.com\nConsent: yes\nNo signal ({n})."),
                "webhook",
                source_key=f"pause:{n}",
            )
            ingest(session, item, rt.classifier, settings.team, rt.clock.now())
    return rt


def test_delivery_pauses_before_each_message(
    tmp_path: Path, database_url: str, emulator: SlackEmulator
) -> None:
    rt = _runtime_with_cards(tmp_path, database_url, emulator, 3)
    sent_before_pause: list[int] = []
    dispatcher = OutboxDispatcher(
        rt.factory,
        rt.gateway,
        rt.clock,
        cases.card_renderer(rt.settings.team, rt.taxonomy, rt.clock),
        pause=lambda: sent_before_pause.append(len(emulator.calls_to("chat.postMessage"))),
    )
    try:
        assert dispatcher.deliver_due().sent == 3
    finally:
        rt.close()
    assert sent_before_pause == [0, 1, 2]  # a chance for requests before every message


def test_delivery_goes_on_under_a_request_that_never_ends(
    tmp_path: Path, database_url: str, emulator: SlackEmulator
) -> None:
    rt = _runtime_with_cards(tmp_path, database_url, emulator, 2)
    try:
        with rt.activity.serving():  # the runtime's own dispatcher waits a moment, not forever
            assert rt.dispatcher.deliver_due().sent == 2
    finally:
        rt.close()
    assert len(emulator.calls_to("chat.postMessage")) == 2
