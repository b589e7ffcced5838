"""What every connector shares: signature checks over the raw bytes, the refusal a tool's admin
reads, and answers (a question's title and its value) read into a verdict by meaning, with the
same vocabularies as the intake parser and the team's pins by question id, ref or title."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.intake.connectors.config import ConnectorConfig
from bot.intake.parsing import CustomerRef, load_vocabulary, parse_verdict
from bot.intake.parsing import values as read
from bot.intake.parsing.references import refs_in_value
from bot.intake.parsing.vocabulary import Vocabulary
from bot.intake.verdict_input import VerdictInput
from bot.intake.webhook import visible

MAX_BODY_BYTES = 1_000_000
TITLE_CHARS = 300


class Refused(Exception):
    """A delivery refused with a 4xx (or 503) and a reason the tool shows its admin."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Answer:
    """One answer: the question's title (a label), its value, its ids/refs (for pins) and a
    hint of its type from the tool (`number`, `boolean`, `date`, `email`, `phone`, `text`,
    `choice`, `hidden`)."""

    title: str
    value: Any
    keys: tuple[str, ...] = ()
    kind: str = "text"


@dataclass
class Delivery:
    """What a tool's payload says, before it is read into a verdict."""

    key: str  # the tool's own response id, namespaced: the verdict's dedup key
    answers: list[Answer] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)  # the respondent's email, phone...
    received_at: datetime | None = None
    score: int | None = None
    scale: str | None = None
    channel: str | None = None
    version: float | None = None  # the tool's updated_at: a newer version updates the verdict


def hmac_digest(key: str | bytes, body: bytes, algorithm: str = "sha256") -> bytes:
    """HMAC of the raw body (never a re-serialised one)."""
    raw = key.encode() if isinstance(key, str) else key
    return hmac.new(raw, body, algorithm).digest()


def same(expected: str, given: str) -> bool:
    """Constant-time comparison of two header values (bytes: compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def check_base64(header: str | None, key: str, body: bytes, algorithm: str, prefix: str) -> None:
    """`prefix` + base64 HMAC of the body, or a 401 naming what is wrong."""
    if not header:
        raise Refused(401, "missing signature header")
    expected = prefix + base64.b64encode(hmac_digest(key, body, algorithm)).decode()
    if not same(expected, header.strip()):
        raise Refused(401, "signature does not match (check the secret)")


def check_hex(header: str | None, key: str, body: bytes, prefix: str = "sha256=") -> None:
    """`prefix` + hex HMAC-SHA256 of the body (either case), or a 401."""
    if not header:
        raise Refused(401, "missing signature header")
    expected = prefix + hmac_digest(key, body).hex()
    if not same(expected, header.strip().lower()):
        raise Refused(401, "signature does not match (check the secret)")


def check_bearer(header: str | None, token: str) -> None:
    """`Authorization: Bearer <token>`, or a 401."""
    if not header or not header.startswith("Bearer "):
        raise Refused(401, "missing Authorization: Bearer header")
    if not same("Bearer " + token, header.strip()):
        raise Refused(401, "bearer token does not match")


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value if v is not None)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def _yes_no(value: Any, vocabulary: Vocabulary) -> bool | None:
    if isinstance(value, bool):
        return value
    return read.yes_no(_text(value), vocabulary) if _text(value).strip() else None


def _field(answer: Answer, pins: dict[str, str], vocabulary: Vocabulary) -> tuple[str, Any]:
    """(field, label match) of one answer: a pin first, then the title's meaning, then its type."""
    for key in (*answer.keys, answer.title):
        if key in pins:
            return pins[key], None
    match = vocabulary.match(answer.title[:TITLE_CHARS]) if answer.title else None
    if match is not None:
        return {"ref": "customer", "meta": "ignore", "source": "ignore"}.get(
            match.field, match.field
        ), match
    return {
        "number": "score",
        "date": "churned_on",
        "email": "email",
        "phone": "phone",
        "text": "text",
    }.get(answer.kind, "ignore"), None


@dataclass
class _Read:
    texts: list[str] = field(default_factory=list)
    choices: list[str] = field(default_factory=list)
    refs: list[CustomerRef] = field(default_factory=list)
    consents: list[bool] = field(default_factory=list)
    status: str | None = None
    churned_on: str | None = None
    score: int | None = None
    scale: str | None = None
    channel: str | None = None


def _read_one(
    answer: Answer, name: str, match: Any, out: _Read, country: str, v: Vocabulary
) -> None:
    value = answer.value
    text = _text(value).strip()
    if name == "consent":
        yes = _yes_no(value, v)
        if yes is None and text and read.NEGATION.search(text.lower()):
            yes = False  # unclear, but a no is safe
        if yes is not None:
            out.consents.append(not yes if match is not None and match.negated else yes)
    elif name in ("customer", "email", "phone"):
        out.refs.extend(r for r in refs_in_value(text, country) if r not in out.refs)
    elif name == "status":
        yes = _yes_no(value, v) if isinstance(value, bool) or answer.kind == "boolean" else None
        if yes is not None:
            means = (match.yes_means if match is not None else None) or (
                read.status(answer.title, v) or "current"
            )
            out.status = out.status or (
                means if yes else {"current": "former"}.get(means, "current")
            )
        else:
            out.status = out.status or read.status(text, v)
    elif name == "churned_on":
        date = None if isinstance(value, bool) else read.find_date(text)
        if date is None:
            # "Have you already cancelled?": yes is a former customer, no a current one
            yes = _yes_no(value, v)
            if yes is not None:
                out.status = out.status or ("former" if yes else "current")
        else:
            out.churned_on = out.churned_on or date
            out.status = out.status or "former"
    elif name == "score":
        if isinstance(value, int | float) and not isinstance(value, bool):
            if 0 <= value <= 10 and float(value).is_integer():
                out.score = int(value) if out.score is None else out.score
        elif (found := read.score(text)) is not None and out.score is None:
            out.score, out.scale = found
    elif name == "channel":
        out.channel = out.channel or read.channel(text, v)
    elif name == "text" and text:
        if answer.kind == "text":
            out.texts.append(text)
        else:
            out.choices.append(f"{answer.title.strip()[:TITLE_CHARS]} {text}")


def to_input(
    delivery: Delivery,
    config: ConnectorConfig,
    tool: str,
    country: str,
    vocabulary_path: str | None,
    pins: dict[str, str] | None = None,
) -> VerdictInput:
    """The verdict a delivery carries, read by meaning; a refusal of consent anywhere wins."""
    vocabulary = load_vocabulary(vocabulary_path)
    out = _Read()
    for raw in delivery.refs:
        out.refs.extend(r for r in refs_in_value(raw, country) if r not in out.refs)
    for answer in delivery.answers:
        if answer.value is None or answer.value == "" or answer.value == []:
            continue  # unanswered: absent, never a no
        name, match = _field(answer, {**config.pins, **(pins or {})}, vocabulary)
        if name in ("ignore", "id", "received_at"):
            continue
        if answer.kind == "hidden" and name == "text":
            continue  # a hidden field is a reference or a fact, never the verbatim
        _read_one(answer, name, match, out, country, vocabulary)
    prose = "\n\n".join(out.texts)
    text = "\n".join(p for p in (prose, "\n".join(out.choices)) if p)
    score = delivery.score if delivery.score is not None else out.score
    scale = delivery.scale or out.scale or ("nps" if score is not None else None)
    if not visible(text):
        # A score without a comment is still a verdict (Delighted sends the comment later).
        text = f"Score: {score}" if score is not None else ""
    if prose and parse_verdict(prose, country, vocabulary).consent is False:
        out.consents.append(False)  # "please do not call me" in the comment
    consent = False if False in out.consents else (True if out.consents else None)
    return VerdictInput(
        source="webhook",
        text=text,
        source_key=delivery.key,
        refs=tuple(out.refs),
        status=out.status,
        channel=delivery.channel or out.channel,
        score=score,
        scale=scale,
        consent=consent,
        churned_on=out.churned_on if out.status != "current" else None,
        origin=(config.source or tool)[:255],
        received_at=delivery.received_at,
    )


class Ignored(Exception):
    """A valid delivery that carries no verdict (a test request, an unsubscribe): answered 200."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def obj(data: Any, where: str) -> dict[str, Any]:
    """`data` as a JSON object, or a 422 naming where the payload is wrong."""
    if not isinstance(data, dict):
        raise Refused(422, f"{where} is missing or not an object")
    return data


def event_type(data: dict[str, Any], known: tuple[str, ...]) -> str:
    """The payload's `event_type`: a 422 when missing, Ignored when it carries no verdict."""
    event = data.get("event_type")
    if not isinstance(event, str):
        raise Refused(422, "event_type is missing")
    if event not in known:
        raise Ignored(f"event_type {event[:40]!r} carries no verdict")
    return event


def items(data: Any, where: str) -> list[dict[str, Any]]:
    """`data` as a list of objects (null: empty), or a 422."""
    if data is None:
        return []
    if not isinstance(data, list) or not all(isinstance(i, dict) for i in data):
        raise Refused(422, f"{where} is not a list of objects")
    return data


def ident(data: dict[str, Any], key: str, where: str) -> str:
    """A required id (string or integer, at most 200 characters), or a 422."""
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise Refused(422, f"{where}.{key} is missing")
    text = str(value).strip()
    if len(text) > 200 or not text.isprintable():
        raise Refused(422, f"{where}.{key} is not an id")
    return text


def iso_time(value: Any) -> datetime | None:
    """An ISO 8601 time with a zone (Typeform, SurveyMonkey), in UTC; None when absent or wrong."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None or not 1970 <= parsed.year < 2100:
        return None
    return parsed.astimezone(UTC)


def sub(data: dict[str, Any], key: str) -> dict[str, Any]:
    """An optional nested object (absent or of another type: empty)."""
    value = data.get(key)
    return value if isinstance(value, dict) else {}
