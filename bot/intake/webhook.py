"""The verdict webhook: HMAC-signed JSON from survey institutes and tools, one verdict or a batch.

Signature: `X-Triage-Signature: v1=<hex HMAC-SHA256 of "v1:<timestamp>:<raw body>" keyed with
WEBHOOK_SECRET>` and `X-Triage-Timestamp: <unix seconds>`; older than 5 minutes is refused.
A batch is all-or-nothing: if any item is invalid, nothing is stored and every error is listed.
`Idempotency-Key` (or an `id` per verdict) makes a redelivery harmless.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

import storage.intake
from bot.classification.offline import OfflineClassifier
from bot.intake.parsing import (
    MAX_VERBATIM_CHARS,
    CustomerRef,
    load_vocabulary,
    normalise_ref,
    parse_verdict,
)
from bot.intake.service import ingest_many
from bot.intake.verdict_input import VerdictInput, from_parsed
from bot.runtime.clock import Clock
from bot.runtime.settings import TeamConfig
from storage.db import transaction

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
MAX_BATCH = 500
MAX_AGE_SECONDS = 300
SIGNATURE_HEADER = "X-Triage-Signature"
TIMESTAMP_HEADER = "X-Triage-Timestamp"
IDEMPOTENCY_HEADER = "Idempotency-Key"


# Dates a survey answer can carry; beyond them a value is a mistake (or a probe), and year 9999
# overflows once a time zone is applied.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
_CONTROL = frozenset(chr(c) for c in range(32) if chr(c) not in "\t\n\r") | {"\x7f"}


def visible(text: str) -> bool:
    """True when the text has a letter, digit, punctuation or symbol (not only spaces, format
    characters such as zero-width spaces, or combining marks)."""
    return any(unicodedata.category(c)[0] in "LNPS" for c in text)


class WebhookVerdict(BaseModel):
    """One verdict as a survey institute or tool sends it."""

    model_config = ConfigDict(extra="forbid", title="Verdict")
    id: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None,
        description="Your id for this answer; a redelivery with the same id changes nothing.",
    )
    text: Annotated[str, Field(min_length=1, max_length=MAX_VERBATIM_CHARS)] = Field(
        description="The customer's answer, verbatim, in any language."
    )
    consent: bool = Field(
        description="Did the customer agree to have the answer forwarded to the operator?"
    )
    customer: str | None = Field(
        default=None, max_length=255, description="Account id, phone number or email."
    )
    email: str | None = Field(default=None, max_length=255)
    phone: str | None = Field(default=None, max_length=64)
    customer_status: Literal["current", "former"] | None = None
    churned_on: date | None = Field(
        default=None, description="When the customer left, if they did."
    )
    source: str | None = Field(
        default=None, max_length=255, description="Who ran the survey, e.g. 'Institut Opinia'."
    )
    channel: Literal["web", "phone", "email", "chat"] | None = None
    # strict: `true` is not a score (lax mode would store it as 1), nor is "7"
    score: Annotated[int, Field(ge=0, le=10, strict=True)] | None = None
    scale: Literal["nps", "csat"] | None = None
    received_at: datetime | None = Field(
        default=None, description="When the customer answered (ISO 8601 with a time zone)."
    )

    @field_validator("id", "text", "customer", "email", "phone", "source")
    @classmethod
    def _no_control(cls, value: str | None) -> str | None:
        # PostgreSQL refuses NUL in text; other control characters are never a survey's.
        if value is not None and any(c in value for c in _CONTROL):
            raise ValueError("contains a control character (NUL or similar)")
        return value

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not visible(value):
            raise ValueError("must not be blank (it has no visible character)")
        return value

    @field_validator("churned_on")
    @classmethod
    def _plausible_date(cls, value: date | None) -> date | None:
        if value is not None and not EARLIEST.date() <= value <= LATEST.date():
            raise ValueError(f"must be between {EARLIEST.year} and {LATEST.year}")
        return value

    @field_validator("received_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("needs a time zone, e.g. 2026-11-26T10:00:00+01:00")
        try:
            utc = value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValueError("is out of range") from None
        if not EARLIEST <= utc <= LATEST:
            raise ValueError(f"must be between {EARLIEST.year} and {LATEST.year}")
        return utc


class WebhookBatch(BaseModel):
    """Several verdicts in one request (all stored, or none)."""

    model_config = ConfigDict(extra="forbid", title="Batch")
    verdicts: Annotated[list[WebhookVerdict], Field(min_length=1, max_length=MAX_BATCH)]


_PAYLOAD = TypeAdapter(WebhookVerdict | WebhookBatch)


def json_schema() -> dict[str, Any]:
    """The JSON schema of the webhook's body (published as schemas/webhook-verdicts.schema.json)."""
    schema = _PAYLOAD.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Verdict triage webhook: one verdict or a batch"
    return schema


@dataclass(frozen=True)
class WebhookResponse:
    """HTTP status, JSON body and extra headers to answer with."""

    status: int
    body: dict[str, Any]
    headers: tuple[tuple[str, str], ...] = ()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature a sender puts in X-Triage-Signature."""
    digest = hmac.new(secret.encode(), b"v1:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v1=" + digest.hexdigest()


def _verified(secret: str, headers: dict[str, str], body: bytes, now: datetime) -> str | None:
    """None when the request is signed and fresh, else why not."""
    timestamp = headers.get(TIMESTAMP_HEADER.lower(), "")
    signature = headers.get(SIGNATURE_HEADER.lower(), "")
    if not timestamp or not signature:
        return f"missing {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header"
    # isascii first: "²".isdigit() is true but int("²") fails.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12) or (
        abs(now.timestamp() - int(timestamp)) > MAX_AGE_SECONDS
    ):
        return "timestamp missing, malformed or older than 5 minutes"
    # Bytes, not str: compare_digest refuses a str with non-ASCII characters (TypeError).
    if not hmac.compare_digest(
        sign(secret, timestamp, body).encode(), signature.encode("utf-8", "replace")
    ):
        return "signature does not match"
    return None


def _errors(exc: ValidationError, batch: bool) -> list[dict[str, Any]]:
    out = []
    for error in exc.errors():
        loc = [p for p in error["loc"] if p not in ("WebhookVerdict", "WebhookBatch")]
        item = None
        if batch and len(loc) >= 2 and loc[0] == "verdicts" and isinstance(loc[1], int):
            item, loc = loc[1], loc[2:]
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "is not a known field"
        out.append(
            {"item": item, "field": ".".join(str(p) for p in loc) or None, "message": message}
        )
    return out


def _parse(data: Any) -> list[WebhookVerdict] | list[dict[str, Any]]:
    """The verdicts of a body, or the field-by-field errors."""
    batch = isinstance(data, dict) and "verdicts" in data
    try:
        if batch:
            return WebhookBatch.model_validate(data).verdicts
        return [WebhookVerdict.model_validate(data)]
    except ValidationError as exc:
        return _errors(exc, batch)


def to_input(verdict: WebhookVerdict, team: TeamConfig) -> VerdictInput | str:
    """The verdict for intake, or why a reference given by the sender is not one."""
    parsed = parse_verdict(
        verdict.text, team.default_country, load_vocabulary(team.intake.vocabulary)
    )
    refs: list[CustomerRef] = []
    for name in ("customer", "email", "phone"):
        raw = getattr(verdict, name)
        if raw:
            ref = normalise_ref(raw, team.default_country)
            if ref is None:
                return f"{name}: {raw!r} is not an account id, phone number or email"
            refs.append(ref)
    refs.extend(r for r in parsed.refs if r not in refs)
    return from_parsed(
        parsed,
        "webhook",
        text=verdict.text.strip(),
        source_key=f"webhook:{verdict.id}" if verdict.id else None,
        refs=tuple(refs),
        consent=verdict.consent and parsed.consent is not False,  # a refusal anywhere wins
        status=verdict.customer_status or parsed.status,
        churned_on=verdict.churned_on.isoformat() if verdict.churned_on else parsed.churned_on,
        origin=verdict.source or parsed.source,
        channel=verdict.channel or parsed.channel,
        score=verdict.score if verdict.score is not None else parsed.score,
        scale=verdict.scale or ("nps" if verdict.score is not None else parsed.scale),
        received_at=verdict.received_at.astimezone(UTC) if verdict.received_at else None,
    )


def handle(
    factory: sessionmaker[Session],
    classifier: OfflineClassifier,
    team: TeamConfig,
    clock: Clock,
    secret: str | None,
    headers: dict[str, str],
    body: bytes,
    loads: Callable[[bytes], Any] = json.loads,
) -> WebhookResponse:
    """Verify, validate and ingest one webhook request; `headers` keys are lowercase. `loads`
    parses the body (the HTTP surface passes its bounded, duplicate-refusing parser)."""
    if not secret:
        return WebhookResponse(503, {"error": "the webhook is not configured: set WEBHOOK_SECRET"})
    if len(body) > MAX_BODY_BYTES:
        return WebhookResponse(
            413, {"error": f"body larger than {MAX_BODY_BYTES} bytes; send smaller batches"}
        )
    now = clock.now()
    problem = _verified(secret, headers, body, now)
    if problem:
        log.warning("webhook refused: %s", problem)
        return WebhookResponse(401, {"error": f"unauthorized: {problem}"})
    try:
        data = loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError...
        return WebhookResponse(400, {"error": f"invalid JSON: {str(exc)[:120]}"})
    parsed = _parse(data)
    if parsed and isinstance(parsed[0], dict):
        return WebhookResponse(
            400, {"error": "invalid verdicts; nothing was stored", "errors": parsed}
        )
    verdicts: list[WebhookVerdict] = parsed  # type: ignore[assignment]
    items: list[VerdictInput] = []
    errors: list[dict[str, Any]] = []
    batch = isinstance(data, dict) and "verdicts" in data
    for index, verdict in enumerate(verdicts):
        item = to_input(verdict, team)
        if isinstance(item, str):
            field, message = item.split(": ", 1)
            errors.append({"item": index if batch else None, "field": field, "message": message})
        else:
            items.append(item)
    if errors:
        return WebhookResponse(
            400, {"error": "invalid verdicts; nothing was stored", "errors": errors}
        )
    key = headers.get(IDEMPOTENCY_HEADER.lower(), "").strip()[:200]
    request_hash = hashlib.sha256(body).hexdigest()
    for _ in range(2):  # a concurrent delivery of the same key wins the race once; then replay
        try:
            return _store(factory, classifier, team, now, items, key, request_hash)
        except IntegrityError:
            log.info("webhook: concurrent delivery of the same verdicts; answering from the first")
    return _store(factory, classifier, team, now, items, key, request_hash)


def _store(
    factory: sessionmaker[Session],
    classifier: OfflineClassifier,
    team: TeamConfig,
    now: datetime,
    items: list[VerdictInput],
    key: str,
    request_hash: str,
) -> WebhookResponse:
    with transaction(factory) as session:
        if key:
            earlier = storage.intake.idempotent_response(session, f"webhook:{key}")
            if earlier is not None:
                if earlier.request_hash != request_hash:
                    return WebhookResponse(
                        422,
                        {
                            "error": f"{IDEMPOTENCY_HEADER} {key!r} was already used for a different body"
                        },
                    )
                return WebhookResponse(
                    earlier.status_code, earlier.response, (("Idempotent-Replayed", "true"),)
                )
        results = [
            {"item": index, "outcome": r.outcome, "case_id": r.case_id, "verdict_id": r.verdict_id}
            for index, r in enumerate(ingest_many(session, items, classifier, team, now))
        ]
        response = {"accepted": len(results), "results": results}
        if key:
            storage.intake.save_idempotent_response(
                session, f"webhook:{key}", request_hash, 202, response, now
            )
    return WebhookResponse(202, response)
