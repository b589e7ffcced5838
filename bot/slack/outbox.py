"""The durable outbox: Slack writes queued with the change that caused them, delivered after.

Rows are written in the same transaction as the case change, so a crash never loses a message.
Delivery claims each row with a conditional UPDATE and a lease, so several processes never send
the same row at once, and keeps order per case: a row waits while an older one of its case waits.
Every post carries metadata naming its card or row; a retry after an answer that may have been
lost (a 5xx, a timeout, a crash between Slack's answer and our commit) first looks for the post
in its channel or thread and adopts it instead of posting again.

Pace: every chat.postMessage first claims a slot in its channel's row of `slack_pace` (see
bot/pace.py), so all processes together keep within Slack's per-channel limit; a row whose
channel has no slot goes back untried, and a 429's Retry-After holds the whole channel.

The one window left: a post whose answer was lost and that the retry cannot find again: a
direct message addressed to a user id (its DM channel id is not known without another call),
or a root message pushed out of its channel's latest 100 messages before the retry. Those may
show twice, as may an ephemeral (Slack keeps none to look for); a repeated chat.update or
App Home publish is harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

import storage.cases
import storage.outbox
import storage.writes
from bot.runtime import logs, metrics
from bot.runtime.clock import Clock
from bot.slack.blocks import Message
from bot.slack.gateway import SlackDeliveryError, SlackGateway, SlackPaced
from storage.db import transaction
from storage.models import Case, OutboxMessage

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_BACKOFF = timedelta(minutes=5)
CARD_EVENT_TYPE = "triage_case_card"
POST_EVENT_TYPE = "triage_outbox"  # every other post: {"outbox_id": its row's id}
PACE_WAIT_BUDGET = 2.0  # seconds one delivery call may sleep for channels' next slots

CardRenderer = Callable[[Session, int], Message | None]
HomeRenderer = Callable[[Session, str], dict[str, Any]]
# Delivers a "digest" row (bot.digests.sender): several Slack calls, resumed on retry.
DigestSender = Callable[[Session, OutboxMessage], str | None]


def _queue(
    session: Session,
    now: datetime,
    *,
    kind: str,
    channel: str,
    payload: dict[str, Any],
    case_id: int | None = None,
    thread_ts: str | None = None,
) -> None:
    storage.writes.add_outbox(
        session,
        {
            "kind": kind,
            "case_id": case_id,
            "channel": channel,
            "thread_ts": thread_ts,
            "payload": payload,
            "next_attempt_at": now,
            "created_at": now,
        },
    )


def enqueue_card(session: Session, case: Case, now: datetime) -> None:
    """Post the case's card, or refresh it with chat.update once it exists."""
    _queue(session, now, kind="card", case_id=case.id, channel=case.slack_channel, payload={})


def enqueue_reply(
    session: Session, case: Case, message: Message, now: datetime, *, broadcast: bool = False
) -> None:
    """A reply in the case's thread (sent once the root message exists); `broadcast` also shows
    it in the channel, for what the whole team must see (an unclaimed case's reminder, expiry)."""
    payload: dict[str, Any] = {"text": message.text, "blocks": message.blocks}
    if broadcast:
        payload["broadcast"] = True
    _queue(session, now, kind="reply", case_id=case.id, channel=case.slack_channel, payload=payload)


def enqueue_message(
    session: Session, channel: str, message: Message, now: datetime, thread_ts: str | None = None
) -> None:
    """A message in any channel or thread, not tied to a case."""
    payload = {"text": message.text, "blocks": message.blocks}
    _queue(session, now, kind="message", channel=channel, thread_ts=thread_ts, payload=payload)


def enqueue_ephemeral(
    session: Session,
    channel: str,
    user: str,
    text: str,
    now: datetime,
    thread_ts: str | None = None,
) -> None:
    """A private note to one person, sent after the ack so the ack never waits on Slack."""
    payload = {"text": text, "user": user}
    _queue(session, now, kind="ephemeral", channel=channel, thread_ts=thread_ts, payload=payload)


def enqueue_case_link(
    session: Session, case: Case, channel: str, user: str, text: str, now: datetime
) -> None:
    """Tell one person privately where a case's thread is, once its card exists.

    `text` holds `{link}`; if the bot cannot post in `channel`, the note goes to the person's DM.
    """
    payload = {"text": text, "user": user}
    _queue(session, now, kind="case_link", case_id=case.id, channel=channel, payload=payload)


def enqueue_digest(session: Session, channel: str, payload: dict[str, Any], now: datetime) -> None:
    """A digest: its summary in `channel`, then its chart and details in the summary's thread."""
    _queue(session, now, kind="digest", channel=channel, payload=payload)


def enqueue_home(session: Session, user_id: str, now: datetime) -> None:
    """Refresh a person's App Home (once, however many changes queue it meanwhile)."""
    if user_id and not storage.cases.home_refresh_pending(session, user_id):
        _queue(session, now, kind="home", channel=user_id, payload={})


def enqueue_edit(
    session: Session,
    channel: str,
    ts: str,
    message: Message,
    now: datetime,
    case_id: int | None = None,
) -> None:
    """Rewrite a message the bot already sent (chat.update by its ts), in order with its case."""
    payload = {"ts": ts, "text": message.text, "blocks": message.blocks}
    _queue(session, now, kind="edit", case_id=case_id, channel=channel, payload=payload)


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    retried: int = 0
    dead: int = 0
    paced: int = 0


class _Wait(Exception):
    """The row cannot go yet (its case has no root message); try again shortly."""


def _threaded_case(session: Session, row: OutboxMessage) -> tuple[Case, str] | None:
    """The case a row belongs to and its root message's ts, once that exists (None: erased)."""
    assert row.case_id is not None
    case = session.get(Case, row.case_id)
    if case is None:
        return None
    if not case.root_ts:
        raise _Wait(f"case {case.id} has no root message yet")
    return case, case.root_ts


class OutboxDispatcher:
    """Delivers due outbox rows through the gateway, in order per case, with backoff."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        gateway: SlackGateway,
        clock: Clock,
        render_card: CardRenderer,
        render_home: HomeRenderer | None = None,
        batch: int = 50,
        send_digest: DigestSender | None = None,
        pause: Callable[[], None] | None = None,
        lease: timedelta = LEASE,
    ) -> None:
        self.factory = factory
        self.lease = lease  # how long a row claimed for sending is this process's
        self.gateway = gateway
        self.clock = clock
        self.render_card = render_card
        self.render_home = render_home
        self.send_digest = send_digest
        self.batch = batch
        self.pause = pause  # called before each message: lets this process's requests go first

    def deliver_due(self) -> DeliveryReport:
        """Deliver what is due; returns counts. Safe to run in several processes at once.

        When rows wait only for their channel's pace, it sleeps until the next slot (at most
        PACE_WAIT_BUDGET seconds in all) and goes again, so a busy channel flows at its pace.
        """
        report = DeliveryReport()
        budget = time.monotonic() + PACE_WAIT_BUDGET
        while True:
            wait = self._pass(report)
            if wait is None or time.monotonic() + wait > budget:
                return report
            time.sleep(wait)

    def _pass(self, report: DeliveryReport) -> float | None:
        """One pass over the queue; returns the shortest pace wait met, or None."""
        paced: float | None = None
        with self.factory() as session:
            rows = [
                (r.id, r.case_id, r.channel, r.thread_ts)
                for r in storage.outbox.pending_outbox(session, self.batch)
            ]
        blocked: set[object] = set()
        for row_id, case_id, channel, thread_ts in rows:
            # Order per case, and per thread for other messages: one stuck row holds back its followers.
            key: object = (
                ("case", case_id) if case_id is not None else ("thread", channel, thread_ts)
            )
            if key in blocked:
                continue
            if self.pause is not None:
                self.pause()
            now = self.clock.now()
            with transaction(self.factory) as session:
                leased = storage.outbox.lease_outbox(session, row_id, now, now + self.lease)
            if not leased:
                blocked.add(key)
                continue
            with logs.context(request=f"outbox-{row_id}", case=case_id):
                outcome = self._deliver(row_id)
            if isinstance(outcome, float):
                blocked.add(key)
                report.paced += 1
                paced = outcome if paced is None else min(paced, outcome)
            elif outcome == "sent":
                report.sent += 1
            else:
                blocked.add(key)
                if outcome == "dead":
                    report.dead += 1
                else:
                    report.retried += 1
        return paced

    def _deliver(self, row_id: int) -> str | float:
        """ "sent", "retry" or "dead"; or, paced, the seconds until its channel has a slot."""
        with self.factory() as session:
            row = session.get(OutboxMessage, row_id)
            assert row is not None
            kind, channel = row.kind, row.channel
            try:
                slack_ts = self._send(session, row)
            except SlackPaced as exc:
                with transaction(self.factory) as released:
                    storage.outbox.release_outbox(released, row_id)  # untried: no attempt counted
                metrics.OUTBOX.labels(kind, "paced").inc()
                return float(exc.retry_after or 0.0)
            except _Wait as exc:
                return self._retry(row_id, str(exc), None, quiet=True)
            except SlackDeliveryError as exc:
                if exc.permanent:
                    metrics.OUTBOX.labels(kind, "dead").inc()
                    return self._give_up(row_id, exc)
                if exc.retry_after and exc.method == "chat.postMessage" and self.gateway.pace:
                    self.gateway.pace.hold(channel, exc.retry_after)
                metrics.OUTBOX.labels(kind, "retry").inc()
                return self._retry(row_id, str(exc), exc.retry_after)
        metrics.OUTBOX.labels(kind, "sent").inc()
        with transaction(self.factory) as session:
            row = session.get(OutboxMessage, row_id)
            assert row is not None
            row.status, row.sent_at, row.slack_ts, row.lease_until = (
                "sent",
                self.clock.now(),
                slack_ts,
                None,
            )
            if row.kind == "card" and row.case_id is not None and slack_ts:
                case = session.get(Case, row.case_id)
                if case is not None and case.root_ts is None:
                    case.root_ts = slack_ts
        return "sent"

    def _send(self, session: Session, row: OutboxMessage) -> str | None:
        payload = row.payload
        if row.kind == "card":
            assert row.case_id is not None
            case = session.get(Case, row.case_id)
            message = self.render_card(session, row.case_id)
            if case is None or message is None:
                return None  # the case was erased: nothing to show
            if case.root_ts:
                self.gateway.update_message(row.channel, case.root_ts, message.text, message.blocks)
                return case.root_ts
            metadata = {"event_type": CARD_EVENT_TYPE, "event_payload": {"case_id": case.id}}
            if row.attempts > 1:
                adopted = self.gateway.find_by_metadata(
                    row.channel, CARD_EVENT_TYPE, "case_id", case.id
                )
                if adopted:
                    log.info(
                        "case %s card was already posted (ts %s); adopting it", case.id, adopted
                    )
                    return adopted
            return self.gateway.post_message(
                row.channel, message.text, message.blocks, metadata=metadata
            )
        if row.kind == "reply":
            found = _threaded_case(session, row)
            if found is None:
                return None
            case, root_ts = found
            return self._post(
                row,
                payload["text"],
                payload.get("blocks"),
                thread_ts=root_ts,
                broadcast=bool(payload.get("broadcast")),
            )
        if row.kind == "case_link":
            found = _threaded_case(session, row)
            if found is None:
                return None
            case, root_ts = found
            link = self.gateway.permalink(case.slack_channel, root_ts)
            text = str(payload["text"]).replace("{link}", link)
            if self.gateway.post_ephemeral(row.channel, payload["user"], text):
                return None
            return self.gateway.post_message(
                payload["user"], text
            )  # the bot is not in that channel
        if row.kind == "home":
            if self.render_home is not None:
                self.gateway.publish_home(row.channel, self.render_home(session, row.channel))
            return None
        if row.kind == "digest" and self.send_digest is not None:
            return self.send_digest(session, row)
        if row.kind == "ephemeral":
            self.gateway.post_ephemeral(
                row.channel, payload["user"], payload["text"], row.thread_ts
            )
            return None
        if row.kind == "edit":
            ts = str(payload["ts"])
            self.gateway.update_message(row.channel, ts, payload["text"], payload.get("blocks"))
            return ts
        return self._post(row, payload["text"], payload.get("blocks"), thread_ts=row.thread_ts)

    def _post(
        self,
        row: OutboxMessage,
        text: str,
        blocks: list[dict[str, Any]] | None,
        *,
        thread_ts: str | None,
        broadcast: bool = False,
    ) -> str:
        """chat.postMessage marked with the row's id; a retry first adopts a post that made it."""
        if row.attempts > 1:
            found: str | None = None
            if thread_ts:
                found = self.gateway.find_reply_by_metadata(
                    row.channel, thread_ts, POST_EVENT_TYPE, "outbox_id", row.id
                )
            elif not row.channel.startswith(("U", "W")):  # a user id: no channel to search
                found = self.gateway.find_by_metadata(
                    row.channel, POST_EVENT_TYPE, "outbox_id", row.id
                )
            if found:
                log.info("outbox %s was already posted (ts %s); adopting it", row.id, found)
                return found
        metadata = {"event_type": POST_EVENT_TYPE, "event_payload": {"outbox_id": row.id}}
        return self.gateway.post_message(
            row.channel, text, blocks, thread_ts=thread_ts, metadata=metadata, broadcast=broadcast
        )

    def _retry(
        self, row_id: int, error: str, retry_after: float | None, quiet: bool = False
    ) -> str:
        with transaction(self.factory) as session:
            row = session.get(OutboxMessage, row_id)
            assert row is not None
            backoff = min(MAX_BACKOFF, timedelta(seconds=2 ** min(row.attempts, 10) / 2))
            delay = max(backoff, timedelta(seconds=retry_after or 0))
            row.next_attempt_at = self.clock.now() + delay
            row.lease_until = None
            row.last_error = error
            if not quiet:
                log.warning(
                    "outbox %s (%s, case %s) not delivered, attempt %s, retry in %.1fs: %s",
                    row.id,
                    row.kind,
                    row.case_id,
                    row.attempts,
                    delay.total_seconds(),
                    error,
                )
        return "retry"

    def _give_up(self, row_id: int, exc: SlackDeliveryError) -> str:
        with transaction(self.factory) as session:
            row = session.get(OutboxMessage, row_id)
            assert row is not None
            row.status, row.lease_until, row.last_error = "dead", None, str(exc)
            log.error(
                "outbox %s (%s, case %s) rejected by Slack, not retried: %s",
                row.id,
                row.kind,
                row.case_id,
                exc,
            )
        return "dead"
