"""Private answers to a click or a shortcut that changed nothing ("someone already took this
case"): sent after the ack by a thread of their own, in the gaps between requests.

They are not recorded, on purpose: a refused click writes nothing, so the ack costs no
transaction, and a note lost with its process (or to Slack's errors) costs the person one more
click. Anything that follows a recorded change goes through the outbox instead.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field

from bot.runtime.background import RequestActivity
from bot.slack.gateway import SlackGateway

log = logging.getLogger(__name__)

MAX_QUEUED = 10_000  # a flood of refused clicks cannot grow memory without bound
# A note waits for a gap in the requests being answered until it is this old, then goes anyway:
# under a burst the acks go first, and under load that lasts the notes keep up, a second late.
MAX_DELAY_SECONDS = 1.0


@dataclass(frozen=True)
class _Note:
    channel: str
    user: str
    text: str
    thread_ts: str | None
    queued_at: float = field(default_factory=time.monotonic)


class PrivateNotes:
    """A queue of ephemeral messages and the one thread that sends them, started on first use."""

    def __init__(
        self,
        gateway: SlackGateway,
        activity: RequestActivity | None = None,
        max_queued: int = MAX_QUEUED,
    ) -> None:
        self._gateway = gateway
        self._activity = activity
        self._queue: queue.Queue[_Note | None] = queue.Queue(max_queued)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def send(self, channel: str, user: str, text: str, thread_ts: str | None = None) -> None:
        """Queue a note for `user` in `channel`; returns at once (the ack must not wait)."""
        try:
            self._queue.put_nowait(_Note(channel, user, text, thread_ts))
        except queue.Full:
            log.warning(
                "private note to %s dropped: %d notes already waiting", user, self.pending()
            )
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="triage-private-notes", daemon=True
                )
                self._thread.start()

    def pending(self) -> int:
        """Notes queued or being sent."""
        return self._queue.unfinished_tasks

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (for at most `timeout` seconds), then stop the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            log.warning("private notes: %d not sent at shutdown", self.pending())
            return
        thread.join(timeout)

    def _run(self) -> None:
        while True:
            note = self._queue.get()
            try:
                if note is None:
                    return
                if self._activity is not None:
                    late = note.queued_at + MAX_DELAY_SECONDS - time.monotonic()
                    self._activity.wait_for_gap(max(0.0, late))
                # post_ephemeral logs its own failures: a note is best effort.
                self._gateway.post_ephemeral(note.channel, note.user, note.text, note.thread_ts)
            except Exception:  # the thread must outlive one bad note; the cause is logged
                log.exception("private note to %s failed", note.user if note else "?")
            finally:
                self._queue.task_done()
