"""The in-process worker lets the requests being answered go first, for a bounded time."""

from __future__ import annotations

import threading

from bot.background import BackgroundWorker, RequestActivity


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
