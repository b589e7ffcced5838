"""The worker's recurring jobs on APScheduler. A sweep still running when the next one is due is
expected (a backlog, a slow Slack): that firing is skipped quietly, not logged as a warning."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.base import BaseScheduler

log = logging.getLogger(__name__)


class Alone:
    """Runs `func` unless its previous run is still going; then notes it at debug and returns."""

    def __init__(self, name: str, func: Callable[[], object]) -> None:
        self.name = name
        self.func = func
        self._running = threading.Lock()

    def __call__(self) -> None:
        if not self._running.acquire(blocking=False):
            log.debug("%s: the previous run is still going; this one is skipped", self.name)
            return
        try:
            self.func()
        finally:
            self._running.release()


def add_recurring(
    scheduler: BaseScheduler,
    name: str,
    func: Callable[[], object],
    *,
    seconds: float,
    first: datetime,
) -> None:
    """Run `func` every `seconds` from `first`, one run at a time, without warnings for the
    firings that find the previous run still going."""
    scheduler.add_job(
        Alone(name, func),
        "interval",
        seconds=seconds,
        id=name,
        name=name,
        # Two instances: a firing during a run starts, finds the run going and returns at once.
        # With one, APScheduler refuses it itself and logs "maximum number of running instances
        # reached" as a warning, every interval of a long sweep.
        max_instances=2,
        coalesce=True,  # firings missed meanwhile make one run, not a burst
        misfire_grace_time=None,  # a late run is still wanted: no "was missed by" warning
        next_run_time=first,
    )
