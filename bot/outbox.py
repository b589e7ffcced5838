"""The durable outbox: Slack writes queued with the change that caused them, delivered after.

Rows are written in the same transaction as the case change, so a crash never loses a message.
Delivery claims each row with a conditional UPDATE and a lease, so several processes never send
the same row at once, and keeps order per case: a row waits while an older one of its case waits.
Posting a case's root message carries metadata; a retry first looks for a post that went out
but was not recorded (a crash between Slack's answer and our commit), and adopts it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.render import Message
from bot.slack_gateway import SlackDeliveryError, SlackGateway
from storage import queries
from storage.db import transaction
from storage.models import Case, OutboxMessage

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MAX_BACKOFF = timedelta(minutes=5)
CARD_EVENT_TYPE = "triage_case_card"

CardRenderer = Callable[[Session, int], Message | None]
HomeRenderer = Callable[[Session, str], dict[str, Any]]


def _queue(session: Session, now: datetime, **fields: Any) -> OutboxMessage:
    row = OutboxMessage(next_attempt_at=now, created_at=now, **fields)
    session.add(row)
    return row


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


def enqueue_home(session: Session, user_id: str, now: datetime) -> None:
    """Refresh a person's App Home (once, however many changes queue it meanwhile)."""
    if user_id and not queries.home_refresh_pending(session, user_id):
        _queue(session, now, kind="home", channel=user_id, payload={})


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    sent: int = 0
    retried: int = 0
    dead: int = 0


class _Wait(Exception):
    """The row cannot go yet (its case has no root message); try again shortly."""


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
    ) -> None:
        self.factory = factory
        self.gateway = gateway
        self.clock = clock
        self.render_card = render_card
        self.render_home = render_home
        self.batch = batch

    def deliver_due(self) -> DeliveryReport:
        """One pass over the queue; returns counts. Safe to run in several processes at once."""
        report = DeliveryReport()
        with self.factory() as session:
            rows = [
                (r.id, r.case_id, r.channel, r.thread_ts)
                for r in queries.pending_outbox(session, self.batch)
            ]
        blocked: set[object] = set()
        for row_id, case_id, channel, thread_ts in rows:
            # Order per case, and per thread for other messages: one stuck row holds back its followers.
            key: object = (
                ("case", case_id) if case_id is not None else ("thread", channel, thread_ts)
            )
            if key in blocked:
                continue
            now = self.clock.now()
            with transaction(self.factory) as session:
                leased = queries.lease_outbox(session, row_id, now, now + LEASE)
            if not leased:
                blocked.add(key)
                continue
            outcome = self._deliver(row_id)
            if outcome == "sent":
                report.sent += 1
            else:
                blocked.add(key)
                if outcome == "dead":
                    report.dead += 1
                else:
                    report.retried += 1
        return report

    def _deliver(self, row_id: int) -> str:
        with self.factory() as session:
            row = session.get(OutboxMessage, row_id)
            assert row is not None
            try:
                slack_ts = self._send(session, row)
            except _Wait as exc:
                return self._retry(row_id, str(exc), None, quiet=True)
            except SlackDeliveryError as exc:
                if exc.permanent:
                    return self._give_up(row_id, exc)
                return self._retry(row_id, str(exc), exc.retry_after)
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
            assert row.case_id is not None
            case = session.get(Case, row.case_id)
            if case is None:
                return None
            if not case.root_ts:
                raise _Wait(f"case {case.id} has no root message yet")
            return self.gateway.post_message(
                row.channel,
                payload["text"],
                payload.get("blocks"),
                thread_ts=case.root_ts,
                broadcast=bool(payload.get("broadcast")),
            )
        if row.kind == "case_link":
            assert row.case_id is not None
            case = session.get(Case, row.case_id)
            if case is None:
                return None
            if not case.root_ts:
                raise _Wait(f"case {case.id} has no root message yet")
            link = self.gateway.permalink(case.slack_channel, case.root_ts)
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
        if row.kind == "ephemeral":
            self.gateway.post_ephemeral(
                row.channel, payload["user"], payload["text"], row.thread_ts
            )
            return None
        return self.gateway.post_message(
            row.channel, payload["text"], payload.get("blocks"), thread_ts=row.thread_ts
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
