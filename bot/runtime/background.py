"""The in-process worker: runs the background pass (`Runtime.run_pending`) when kicked or every
few seconds, in the gaps between the requests this process answers."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


# How long background work waits for a gap in the requests being answered: before a pass, and
# between two Slack messages of a pass. Under a burst the acks leave first and the work they
# recorded follows; under load that lasts, the background still gets a share of the time.
PASS_YIELD_SECONDS = 1.0
DELIVERY_YIELD_SECONDS = 0.05


class RequestActivity:
    """The Slack and webhook requests this process is answering, so that background work can
    wait for a gap: an ack must leave within Slack's 3 s, a delivery can wait a moment."""

    QUIET_SECONDS = 0.02  # no request in flight for this long: a gap

    def __init__(self) -> None:
        # Woken when the last request in flight ends: waiters do not poll.
        self._idle = threading.Condition(threading.Lock())
        self._active = 0
        self._last_end = 0.0

    @contextmanager
    def serving(self) -> Iterator[None]:
        """Wrap the answering of one request."""
        with self._idle:
            self._active += 1
        try:
            yield
        finally:
            with self._idle:
                self._active -= 1
                self._last_end = time.monotonic()
                if self._active == 0:
                    self._idle.notify_all()

    def busy(self) -> bool:
        """True while a request is in flight, or ended less than QUIET_SECONDS ago."""
        with self._idle:
            return self._active > 0 or time.monotonic() - self._last_end < self.QUIET_SECONDS

    def between_items(self) -> None:
        """The pause of background work between two items (a claim, a Slack message): the
        requests being answered go first, for DELIVERY_YIELD_SECONDS at most."""
        self.wait_for_gap(DELIVERY_YIELD_SECONDS)

    def wait_for_gap(self, longest: float, stop: threading.Event | None = None) -> None:
        """Return once no request is being answered, or after `longest` seconds (or on `stop`)."""
        until = time.monotonic() + longest
        with self._idle:
            while not (stop is not None and stop.is_set()):
                now = time.monotonic()
                if now >= until:
                    return
                if self._active > 0:
                    # Until the last request ends; in slices, so that `stop` is seen.
                    self._idle.wait(min(until - now, 0.1))
                    continue
                quiet = self._last_end + self.QUIET_SECONDS - now
                if quiet <= 0:
                    return
                self._idle.wait(min(quiet, until - now))


class BackgroundWorker:
    """Runs `step` whenever kicked, and every `interval` seconds to pick up retries and restarts.

    Before each step it lets the requests in flight go first (`activity`), for at most
    `max_yield` seconds.
    """

    def __init__(
        self,
        step: Callable[[], int],
        interval: float = 1.0,
        activity: RequestActivity | None = None,
        max_yield: float = PASS_YIELD_SECONDS,
    ) -> None:
        self._step = step
        self._interval = interval
        self._activity = activity
        self._max_yield = max_yield
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="triage-worker", daemon=True)
            self._thread.start()

    def kick(self) -> None:
        """Ask for a pass now (after new work was recorded)."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the current pass and stop."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                # Keep going while passes make progress, so a burst drains without waiting.
                while not self._stop.is_set():
                    if self._activity is not None:
                        self._activity.wait_for_gap(self._max_yield, self._stop)
                    if self._step() <= 0:
                        break
            except Exception:  # the loop must survive a database blip; the cause is logged
                log.exception("background pass failed; retrying in %.1fs", self._interval)
            self._wake.wait(self._interval)
