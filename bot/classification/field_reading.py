"""The model reads a verdict's fields when the parser could not (issue 16, item 9).

Only for a message where the parser found no customer reference or no verbatim, and only the
fields it left unknown. The message is masked before it leaves, with numbered placeholders for
the references (`[REF_1]`), so the model can point at one without ever seeing it; the answer is
mapped back here. What the model reads is checked like any input: a value that is not one (a
date that is not a date, a reference or a verbatim that is not in the message) is dropped with a
log line.
Consent read by the model can only ever be a refusal.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import phonenumbers

from bot.intake.parsing import (
    ACCOUNT_PATTERN,
    EMAIL_PATTERN,
    CustomerRef,
    normalise_ref,
    read_churn_date,
)
from bot.privacy.masking import mask

log = logging.getLogger(__name__)

REFERENCE = "customer_reference"
STATUS = "status"
CHURNED_ON = "churned_on"
CONSENT = "consent"
VERBATIM = "verbatim"
FIELDS = (REFERENCE, STATUS, CHURNED_ON, CONSENT, VERBATIM)
MAX_MESSAGE_CHARS = 6000
MAX_VERBATIM_CHARS = 4000
_PLACEHOLDER = re.compile(r"^\[REF_(\d{1,3})\]$")
# An id the model copies as written (not masked, so not personal data the masker knows): one
# token of letters, digits and . _ - / #, with at least one digit.
_ID_LIKE = re.compile(r"^(?=[^\s]*\d)[\w.\-/#]{3,64}$")


@dataclass(frozen=True)
class FieldRequest:
    """The fields to read and the whole message they are read from (not masked yet)."""

    fields: tuple[str, ...]
    message: str

    def to_payload(self) -> dict[str, Any]:
        """As stored in the `llm_classify` job."""
        return {"fields": list(self.fields), "message": self.message}

    @classmethod
    def from_payload(cls, data: Any) -> FieldRequest | None:
        """The request a job carries, or None (a job queued without one, or a bad payload)."""
        if not isinstance(data, dict):
            return None
        fields = tuple(f for f in data.get("fields") or () if f in FIELDS)
        message = data.get("message")
        if not fields or not isinstance(message, str) or not message.strip():
            return None
        return cls(fields, message)


@dataclass(frozen=True)
class FieldsRead:
    """What the model read, checked: only values that are what they claim to be."""

    reference: CustomerRef | None = None
    status: str | None = None
    churned_on: str | None = None
    consent_refused: bool = False
    verbatim: str | None = None
    dropped: tuple[str, ...] = field(default=())  # the fields whose value was not usable

    def names(self) -> tuple[str, ...]:
        """The fields actually read."""
        found = {
            REFERENCE: self.reference is not None,
            STATUS: self.status is not None,
            CHURNED_ON: self.churned_on is not None,
            CONSENT: self.consent_refused,
            VERBATIM: self.verbatim is not None,
        }
        return tuple(name for name, present in found.items() if present)


def requested_fields(
    *,
    has_reference: bool,
    has_verbatim: bool,
    status: str | None,
    churned_on: str | None,
    consent: bool | None,
) -> tuple[str, ...]:
    """The fields to ask the model for: none when the parser found a reference and a verbatim;
    otherwise every field the parser left unknown."""
    if has_reference and has_verbatim:
        return ()
    unknown = {
        REFERENCE: not has_reference,
        STATUS: status is None,
        CHURNED_ON: churned_on is None,
        CONSENT: consent is None,
        VERBATIM: not has_verbatim,
    }
    return tuple(name for name in FIELDS if unknown[name])


def pseudonymise(text: str, default_country: str) -> tuple[str, dict[str, str]]:
    """The message masked, each email, phone and account id replaced by a numbered placeholder
    (`[REF_1]`); returns it with the table placeholder -> original, kept here."""
    text = text[:MAX_MESSAGE_CHARS]
    spans: list[tuple[int, int]] = [m.span() for m in EMAIL_PATTERN.finditer(text)]
    spans += [m.span(1) for m in ACCOUNT_PATTERN.finditer(text)]
    spans += [
        (m.start, m.end)
        for m in phonenumbers.PhoneNumberMatcher(
            text, default_country, leniency=phonenumbers.Leniency.POSSIBLE
        )
    ]
    chosen: list[tuple[int, int]] = []
    for start, end in sorted(spans, key=lambda s: (s[0], -s[1])):
        if not chosen or start >= chosen[-1][1]:
            chosen.append((start, end))
    table: dict[str, str] = {}
    numbers: dict[str, str] = {}
    out, last = [], 0
    for start, end in chosen:
        value = text[start:end]
        if value not in numbers:
            numbers[value] = f"[REF_{len(numbers) + 1}]"
            table[numbers[value]] = value
        out += [text[last:start], numbers[value]]
        last = end
    out.append(text[last:])
    # Anything the spans above missed is masked the usual way.
    return mask("".join(out), default_country), table


def schema_part(fields: tuple[str, ...]) -> dict[str, Any]:
    """The `read` object of the strict response schema: one nullable property per field."""
    kinds: dict[str, Any] = {
        REFERENCE: {"type": ["string", "null"]},
        STATUS: {"type": ["string", "null"], "enum": ["current", "former", None]},
        CHURNED_ON: {"type": ["string", "null"]},
        CONSENT: {"type": ["string", "null"], "enum": ["yes", "no", None]},
        VERBATIM: {"type": ["string", "null"]},
    }
    properties = {name: kinds[name] for name in fields}
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def check(
    data: Any, request: FieldRequest, table: dict[str, str], default_country: str
) -> FieldsRead:
    """The model's `read` object as FieldsRead; unusable values are dropped with a log line
    (the field and the problem only: never the value, which may be personal data)."""
    if not isinstance(data, dict):
        log.warning("fields read by the model ignored: `read` is not an object")
        return FieldsRead(dropped=request.fields)
    read: dict[str, Any] = {}
    dropped: list[str] = []

    def drop(name: str, why: str) -> None:
        dropped.append(name)
        log.warning("field read by the model ignored: %s (%s)", name, why)

    for name in request.fields:
        value = data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if not isinstance(value, str):
            drop(name, "not a string")
            continue
        value = value.strip()
        if name == REFERENCE:
            ref = _reference(value, request.message, table, default_country)
            if ref is None:
                drop(name, "not a reference found in the message")
            else:
                read["reference"] = ref
        elif name == STATUS:
            if value in ("current", "former"):
                read["status"] = value
            else:
                drop(name, "not current or former")
        elif name == CHURNED_ON:
            day = _date(value)
            if day is None:
                drop(name, "not a date")
            else:
                read["churned_on"] = day
        elif name == CONSENT:
            if value == "no":
                read["consent_refused"] = True
            elif value != "yes":
                drop(name, "not yes or no")
            # "yes" is never taken from the model: consent it reads can only be a refusal.
        elif name == VERBATIM:
            if not _in_message(value, pseudonymise(request.message, default_country)[0]):
                drop(name, "not text of the message")
            else:
                read["verbatim"] = _unmask(value, table)[:MAX_VERBATIM_CHARS].strip()
    return FieldsRead(**read, dropped=tuple(dropped))


def _reference(
    value: str, message: str, table: dict[str, str], default_country: str
) -> CustomerRef | None:
    placeholder = _PLACEHOLDER.match(value)
    if placeholder:
        original = table.get(value)
    elif _ID_LIKE.match(value) and re.search(
        rf"(?<![\w]){re.escape(value)}(?![\w])", message, re.IGNORECASE
    ):
        original = value  # copied from the message as written
    else:
        original = None
    return normalise_ref(original, default_country) if original else None


def _date(value: str) -> str | None:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        return read_churn_date(value)


# Markup and quote marks the model may drop when it copies the customer's words.
_MARKUP = re.compile(r"(?m)^\s*>+|[*_~`\u201c\u201d\u00ab\u00bb\"]")


def _in_message(value: str, sent: str) -> bool:
    """True when every line of the verbatim the model read is text of the message it was sent
    (whitespace, case and markup aside): the model copies the customer's words, never writes."""

    def plain(text: str) -> str:
        return " ".join(_MARKUP.sub(" ", text).split()).casefold()

    whole = plain(sent)
    lines = [plain(line) for line in value.splitlines()]
    return any(lines) and all(line in whole for line in lines if line)


def _unmask(text: str, table: dict[str, str]) -> str:
    return re.sub(r"\[REF_\d{1,3}\]", lambda m: table.get(m.group(0), m.group(0)), text)
