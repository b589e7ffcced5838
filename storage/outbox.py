"""The outbox and Slack's pace: durable Slack writes, their leases, queue depth."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.cases import savepoint
from storage.models import (
    InboundEvent,
    OutboxMessage,
    PendingClaim,
    SlackPace,
)


def pending_outbox(session: Session, limit: int) -> list[OutboxMessage]:
    """The oldest undelivered outbox rows, due or not (order per case matters)."""
    query = (
        select(OutboxMessage)
        .where(OutboxMessage.status == "pending")
        .order_by(OutboxMessage.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def lease_outbox(session: Session, message_id: int, now: datetime, until: datetime) -> bool:
    """Take the lease on one due outbox row; False when another process holds it."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.status == "pending",
            OutboxMessage.next_attempt_at <= now,
            or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
        )
        .values(lease_until=until, attempts=OutboxMessage.attempts + 1)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def outbox_depth(session: Session) -> int:
    """How many Slack writes wait to be delivered."""
    query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "pending")
    return int(session.scalar(query) or 0)


def pending_work(session: Session) -> int:
    """Recorded intake and clicks on Claim not yet processed, plus Slack writes not yet
    delivered."""
    inbound = select(func.count()).select_from(InboundEvent).where(InboundEvent.status == "pending")
    claims = select(func.count()).select_from(PendingClaim)
    return (
        int(session.scalar(inbound) or 0) + int(session.scalar(claims) or 0) + outbox_depth(session)
    )


def outbox_depth_and_oldest(session: Session) -> tuple[int, datetime | None]:
    """How many Slack writes wait, and when the oldest of them was queued."""
    query = select(func.count(), func.min(OutboxMessage.created_at)).where(
        OutboxMessage.status == "pending"
    )
    return _count_and_oldest(session, query)


def claims_waiting_and_oldest(session: Session) -> tuple[int, datetime | None]:
    """How many recorded clicks on Claim wait to be applied, and when the oldest was clicked."""
    return _count_and_oldest(session, select(func.count(), func.min(PendingClaim.clicked_at)))


def _count_and_oldest(session: Session, query: Any) -> tuple[int, datetime | None]:
    count, oldest = session.execute(query).one()
    if isinstance(oldest, str):  # SQLite's MIN() hands back the stored text
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return int(count or 0), oldest


def take_pace(session: Session, channel: str, now: float, interval: float, burst: int) -> float:
    """Claim a slot to post in `channel` (GCRA); 0 when granted, else seconds until one frees.

    A compare-and-set on the channel's row: two processes reading the same `tat` cannot both
    move it, so the pace holds across every process sharing the database.
    """
    tolerance = interval * (burst - 1)
    for _ in range(5):
        tat = session.scalar(select(SlackPace.tat).where(SlackPace.channel == channel))
        if tat is None:
            try:
                with savepoint(session):
                    session.add(SlackPace(channel=channel, tat=now + interval))
                return 0.0
            except IntegrityError:
                continue  # another process created it first: read it again
        start = max(tat, now)
        wait = start - now - tolerance
        if wait > 0:
            return wait
        result = session.execute(
            update(SlackPace)
            .where(SlackPace.channel == channel, SlackPace.tat == tat)
            .values(tat=start + interval),
            execution_options={"synchronize_session": False},
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            return 0.0
    return interval  # heavily contended: try again in a moment


def hold_pace(session: Session, channel: str, until: float, interval: float, burst: int) -> None:
    """Keep every process from posting in `channel` before `until` (Slack said Retry-After)."""
    tat = until + interval * (burst - 1)
    result = session.execute(
        update(SlackPace).where(SlackPace.channel == channel, SlackPace.tat < tat).values(tat=tat),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount == 0 and session.get(SlackPace, channel) is None:  # type: ignore[attr-defined]
        try:
            with savepoint(session):
                session.add(SlackPace(channel=channel, tat=tat))
        except IntegrityError:
            pass


def release_outbox(session: Session, message_id: int) -> None:
    """Give a leased row back untried (its channel's pace said wait): no attempt is counted."""
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == "pending")
        .values(lease_until=None, attempts=OutboxMessage.attempts - 1),
        execution_options={"synchronize_session": False},
    )
