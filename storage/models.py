"""SQLAlchemy 2 typed models: customers, verdicts, cases, their timeline, and the durable queues."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

OPEN_STATES = ("open", "claimed", "contacting")


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always gives back aware datetimes (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Customer(Base):
    """A customer, known by one normalised reference (account id, E.164 phone, email)."""

    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(255), unique=True)
    ref_kind: Mapped[str] = mapped_column(String(16))  # account, phone, email, unidentified
    status: Mapped[str] = mapped_column(String(16), default="unknown")  # current, former, unknown
    churned_on: Mapped[str | None] = mapped_column(String(10))  # ISO date as the source gave it
    language: Mapped[str | None] = mapped_column(String(8))
    timezone: Mapped[str | None] = mapped_column(String(64))
    preferred_channel: Mapped[str | None] = mapped_column(String(16))
    contact_hours: Mapped[str | None] = mapped_column(String(32))  # e.g. "09:00-19:00"
    created_at: Mapped[datetime]
    erased_at: Mapped[datetime | None]  # forgotten on request or by retention: ref is erased:<id>


class CustomerRef(Base):
    """Every reference a customer is known by (a customer may have an email, a phone, an account)."""

    __tablename__ = "customer_refs"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    ref: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]


class Case(Base):
    """The unit of work: one open case per customer, owned, with a deadline."""

    __tablename__ = "cases"
    __table_args__ = (
        # One open case per customer, enforced by the database so concurrent intakes cannot split.
        Index(
            "uq_cases_one_open_per_customer",
            "customer_id",
            unique=True,
            sqlite_where=text("status IN ('open', 'claimed', 'contacting')"),
            postgresql_where=text("status IN ('open', 'claimed', 'contacting')"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open")
    severity: Mapped[str] = mapped_column(String(8), default="medium")
    primary_reason: Mapped[str] = mapped_column(String(64), default="other")
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[str | None] = mapped_column(String(32))
    opened_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(64))
    slack_channel: Mapped[str] = mapped_column(String(32))
    root_ts: Mapped[str | None] = mapped_column(String(32))
    previous_case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"))
    snoozed_until: Mapped[datetime | None]
    first_contact_at: Mapped[datetime | None]  # the first contact attempt, for "time to contact"
    resolution_summary: Mapped[str | None] = mapped_column(Text)  # what the customer was told
    resolved_by: Mapped[str | None] = mapped_column(String(32))

    customer: Mapped[Customer] = relationship()
    verdicts: Mapped[list[Verdict]] = relationship(
        back_populates="case", order_by="Verdict.received_at.desc()"
    )


class Verdict(Base):
    """One survey answer or complaint, verbatim, as it arrived."""

    __tablename__ = "verdicts"
    __table_args__ = (
        Index("ix_verdicts_received_reason", "received_at", "reason"),
        # Survey fatigue counts a customer's verdicts in a window: one index range per customer.
        Index("ix_verdicts_customer_received", "customer_id", "received_at", "consent"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    source_key: Mapped[str] = mapped_column(String(255), unique=True)  # dedup across redeliveries
    source: Mapped[str] = mapped_column(String(32))  # slack_message, shortcut, webhook, import
    origin: Mapped[str | None] = mapped_column(String(255))  # who surveyed: "Institut X (exit)"
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16), default="unknown")  # web, phone, email, chat
    score: Mapped[int | None] = mapped_column(Integer)
    scale: Mapped[str | None] = mapped_column(String(8))  # nps (0-10) or csat (1-5)
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8))
    consent: Mapped[bool] = mapped_column(Boolean, default=True)  # a case may be opened
    # False: the message did not say; `consent` then follows the team's `consent.when_unknown`.
    consent_stated: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    received_at: Mapped[datetime]
    slack_channel: Mapped[str | None] = mapped_column(String(32))
    slack_ts: Mapped[str | None] = mapped_column(String(32))
    author_id: Mapped[str | None] = mapped_column(String(32))
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]  # the Slack message was deleted; the verdict stays
    erased_at: Mapped[datetime | None]  # text erased (request or retention); reasons still count
    # The reason of the verdict's newest classification, kept here so that counting verdicts by
    # reason over a period is one indexed GROUP BY, not a search for each verdict's newest result.
    reason: Mapped[str | None] = mapped_column(String(64))

    case: Mapped[Case | None] = relationship(back_populates="verdicts")
    customer: Mapped[Customer] = relationship()
    classifications: Mapped[list[Classification]] = relationship(
        back_populates="verdict", order_by="Classification.id.desc()"
    )


class Classification(Base):
    """A classifier's result for one verdict, with what produced it."""

    __tablename__ = "classifications"
    id: Mapped[int] = mapped_column(primary_key=True)
    verdict_id: Mapped[int] = mapped_column(ForeignKey("verdicts.id"), index=True)
    backend: Mapped[str] = mapped_column(String(16))
    model: Mapped[str] = mapped_column(String(64))
    prompt_version: Mapped[str] = mapped_column(String(32))
    taxonomy_version: Mapped[str] = mapped_column(String(32))
    primary_reason: Mapped[str] = mapped_column(String(64))
    secondary_reasons: Mapped[list[Any]]
    confidence: Mapped[float] = mapped_column(Float)
    sentiment: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(8))
    language: Mapped[str] = mapped_column(String(8))
    summary: Mapped[str] = mapped_column(Text)
    suggested_action: Mapped[str] = mapped_column(Text, default="")
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0, server_default=text("0"))
    text_hash: Mapped[str | None] = mapped_column(String(64), index=True)  # LLM cache key
    cues: Mapped[list[Any] | None]  # what decided the reason, for people to see why
    facts: Mapped[list[Any] | None]  # facts that matter for contact
    actor: Mapped[str | None] = mapped_column(String(32))  # who corrected it (human backend)
    created_at: Mapped[datetime]

    verdict: Mapped[Verdict] = relationship(back_populates="classifications")


class Event(Base):
    """The case's append-only timeline: every change is one row."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(32))  # a Slack user id, or "system"
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class InboundEvent(Base):
    """A Slack event recorded before the ack: the dedup key and the durable to-do in one row."""

    __tablename__ = "inbound_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]


class OutboxMessage(Base):
    """A Slack write the bot must not lose, queued in the transaction of the change behind it."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # card, reply, message
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    slack_ts: Mapped[str | None] = mapped_column(String(32))


class IdempotencyKey(Base):
    """A webhook delivery already answered: the same key gets the same answer, nothing redone."""

    __tablename__ = "idempotency_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class ContactAttempt(Base):
    """One try to reach the customer, with its outcome: the burden is on the team, so all count."""

    __tablename__ = "contact_attempts"
    __table_args__ = (Index("ix_contact_attempts_customer_at", "customer_id", "attempted_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    actor: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))  # phone, email, sms, letter, chat
    outcome: Mapped[str] = mapped_column(String(24))  # reached, voicemail, no_answer, ...
    note: Mapped[str | None] = mapped_column(Text)
    attempted_at: Mapped[datetime]
    outside_hours: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


SCHEDULE_KINDS = ("reminder", "escalation", "final_warning", "deadline", "overdue")


class CaseSchedule(Base):
    """One due item of a case (reminder, escalation, final warning, deadline, overdue notice).

    The database is the truth for what is due: a sweep claims rows with a lease and marks them
    sent in the transaction that queues their Slack messages, so nothing is lost or sent twice.
    """

    __tablename__ = "case_schedule"
    __table_args__ = (
        # The sweep's query: pending rows by due time, so its cost follows the due rows only.
        Index("ix_case_schedule_status_due_at", "status", "due_at"),
        # One row per planned item: replanning moves or revives it instead of adding another.
        UniqueConstraint("case_id", "key"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    kind: Mapped[str] = mapped_column(String(16))  # one of SCHEDULE_KINDS
    key: Mapped[str] = mapped_column(String(96))  # what the item is, e.g. reminder:0.5@<times>
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sent, cancelled
    lease_until: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(32))  # the claim that holds the lease
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[datetime | None]
    data: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class DigestRun(Base):
    """One posting of a digest. The unique (digest, period_start) decides which process posts a
    scheduled run (insert-or-skip); delivery records its progress here so a retry resumes."""

    __tablename__ = "digest_runs"
    __table_args__ = (UniqueConstraint("digest", "period_start"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))  # the configured digest's name
    trigger: Mapped[str] = mapped_column(String(16))  # schedule, manual
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    channel: Mapped[str] = mapped_column(String(32))
    quiet: Mapped[bool] = mapped_column(Boolean, default=False)
    chart_png: Mapped[bytes | None] = mapped_column(LargeBinary)
    slack_ts: Mapped[str | None] = mapped_column(String(32))  # the summary, once posted
    chart_file_id: Mapped[str | None] = mapped_column(String(32))  # "": Slack refused the chart
    details_sent: Mapped[int] = mapped_column(Integer, default=0)  # thread replies posted so far
    created_at: Mapped[datetime]


class SlackPace(Base):
    """A channel's place in Slack's posting pace, shared by every process (see bot/outbox.py).

    `tat` is the theoretical arrival time of the GCRA: the next message may go once `tat` is
    less than the burst allowance away; a conditional UPDATE on the old value claims a slot.
    """

    __tablename__ = "slack_pace"
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    tat: Mapped[float] = mapped_column(Float)  # Unix seconds (wall clock, as Slack counts)


class MaintenanceRun(Base):
    """One run of a periodic job (retention) per period: whichever process inserts it runs it."""

    __tablename__ = "maintenance_runs"
    __table_args__ = (UniqueConstraint("job", "period"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(32))  # e.g. the UTC date 2026-11-26
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    result: Mapped[dict[str, Any] | None]


class VerdictCount(Base):
    """Verdicts per UTC day, reason and consent, kept in step with each verdict's reason, so that
    "why customers leave" over months is a sum of a few hundred rows, not a scan of every verdict."""

    __tablename__ = "verdict_counts"
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    reason: Mapped[str] = mapped_column(String(64), primary_key=True)
    consent: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class PendingClaim(Base):
    """A click on a card's Claim button, recorded before the ack; the worker applies it.

    One per case (the key): a later click on the same case is refused at once, so the first
    person to click is the one who gets it, whichever process answers."""

    __tablename__ = "pending_claims"
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(32))  # where to answer if it cannot be done
    clicked_at: Mapped[datetime]


class TrainingExample(Base):
    """A labelled verbatim the learned classifier trains on: a person's reclassification in Slack
    or a row of `triage learn` (masked: no email or phone is kept)."""

    __tablename__ = "training_examples"
    id: Mapped[int] = mapped_column(primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(64), unique=True)  # of text + reason: dedupe
    text: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(64))
    taxonomy_version: Mapped[str] = mapped_column(String(32), index=True)
    source: Mapped[str] = mapped_column(String(16))  # reclassification | file
    verdict_id: Mapped[int | None] = mapped_column(Integer)  # of a reclassification
    created_at: Mapped[datetime]


class LearnedModel(Base):
    """One trained version of the learned classifier, per taxonomy version. The row is inserted
    first as the claim of the training (unique on what it was trained from), then filled in."""

    __tablename__ = "learned_models"
    id: Mapped[int] = mapped_column(primary_key=True)  # the version every process reports
    taxonomy_version: Mapped[str] = mapped_column(String(32), index=True)
    trained_from: Mapped[str] = mapped_column(String(128), unique=True)  # examples fingerprint
    status: Mapped[str] = mapped_column(String(16), default="training")  # training|ready|failed
    claimed_at: Mapped[datetime]
    trained_at: Mapped[datetime | None]
    example_count: Mapped[int] = mapped_column(Integer, default=0)
    model: Mapped[bytes | None] = mapped_column(LargeBinary)
    checksum: Mapped[str | None] = mapped_column(String(64))  # sha256 of `model`, checked on load
    metrics: Mapped[dict[str, Any] | None]


class ConnectorFetch(Base):
    """A survey tool's callback that carries ids only (SurveyMonkey): acked at once, the
    response fetched from the tool's API by the background pass, with retries. One per response."""

    __tablename__ = "connector_fetches"
    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    connector: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime]  # the next attempt (the lease while one runs)
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
