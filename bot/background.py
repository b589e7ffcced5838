"""The in-process worker: turns recorded intake into cases and delivers the outbox, promptly."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class BackgroundWorker:
    """Runs `step` whenever kicked, and every `interval` seconds to pick up retries and restarts."""

    def __init__(self, step: Callable[[], int], interval: float = 1.0) -> None:
        self._step = step
        self._interval = interval
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
                while not self._stop.is_set() and self._step() > 0:
                    pass
            except Exception:  # the loop must survive a database blip; the cause is logged
                log.exception("background pass failed; retrying in %.1fs", self._interval)
            self._wake.wait(self._interval)
