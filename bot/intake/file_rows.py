"""Rows of an imported file (CSV, JSONL) as verdicts: columns found by header name, each row
checked and parsed, or rejected with the reason. No database here: import worker processes
load only this, the parser and the classifier."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from bot.intake.parsing import (
    MAX_VERBATIM_CHARS,
    CustomerRef,
    fold,
    normalise_ref,
    parse_verdict,
    read_channel,
    read_churn_date,
    read_status,
)
from bot.intake.verdict_input import VerdictInput, from_parsed


class RowError(ValueError):
    """A row that cannot become a verdict; the message says why, for the rejected-rows file.
    `problems`: each thing wrong with the row (the message joins them)."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


# Header names (folded: lowercase, no accents) each field is recognised by, in English and French.
COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id", "verdict_id", "response_id", "external_id", "identifiant"),
    "text": (
        "text",
        "verbatim",
        "comment",
        "comments",
        "answer",
        "feedback",
        "commentaire",
        "reponse",
        "message",
    ),
    "customer": (
        "customer",
        "customer_id",
        "customer_ref",
        "client",
        "reference",
        "ref",
        "account",
        "account_id",
        "compte",
        "numero_client",
    ),
    "email": ("email", "e-mail", "mail", "courriel"),
    "phone": ("phone", "telephone", "tel", "mobile", "msisdn"),
    "status": ("status", "customer_status", "statut"),
    "churned_on": ("churned_on", "churn_date", "date_resiliation", "resiliation"),
    "channel": ("channel", "canal", "survey_channel"),
    "source": ("source", "institute", "institut", "survey", "enquete"),
    "score": ("score", "nps", "csat", "note"),
    "consent": ("consent", "consentement", "forward_consent", "transmission"),
    "received_at": ("received_at", "date", "answered_at", "submitted_at", "date_reponse"),
}


def column_mapping(headers: list[str]) -> dict[str, str]:
    """Field name -> the file's column for it, by header name."""
    found: dict[str, str] = {}
    for header in headers:
        key = fold(header).replace(" ", "_")
        for name, aliases in COLUMNS.items():
            if key in aliases and name not in found:
                found[name] = header
    return found


def read_rows(name: str, data: bytes) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    """The columns and the rows (numbered as a person counts them) of a CSV or JSONL file."""
    text = data.decode("utf-8-sig", errors="replace")
    if name.lower().endswith((".jsonl", ".ndjson", ".json")):
        return [], _jsonl_rows(text)
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    try:
        headers = list(reader.fieldnames or [])
    except csv.Error as exc:
        raise RowError(f"the header line cannot be read: {exc}") from None
    return headers, _csv_rows(reader)


def _csv_rows(reader: csv.DictReader[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    # Row 1 is the header line, so the first verdict is row 2, as in a spreadsheet. A row the
    # csv module cannot read (a field over its size limit, a NUL) is rejected alone.
    number = 1
    while True:
        number += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield number, {"__error__": f"unreadable CSV row: {exc}", "__line__": ""}
            continue
        yield number, dict(row)


MAX_JSON_DEPTH = 16  # a verdict row is flat; deeper nesting is a mistake or a probe


def _depth(line: str) -> int:
    depth = deepest = 0
    in_string = escaped = False
    for char in line:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _jsonl_rows(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if _depth(line) > MAX_JSON_DEPTH:
            shown = line[:200]
            yield number, {"__error__": f"nested deeper than {MAX_JSON_DEPTH}", "__line__": shown}
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield (
                number,
                {"__error__": f"invalid JSON: {exc.msg} at column {exc.colno}", "__line__": line},
            )
            continue
        except (ValueError, RecursionError):
            yield number, {"__error__": "invalid JSON", "__line__": line[:200]}
            continue
        if not isinstance(value, dict):
            yield number, {"__error__": "each line must be a JSON object", "__line__": line}
            continue
        yield number, value


def _bool(value: str) -> bool | None:
    folded = fold(value)
    if folded in ("yes", "y", "true", "1", "oui", "o", "ok"):
        return True
    if folded in ("no", "n", "false", "0", "non"):
        return False
    return None


EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _received(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise RowError(f"received_at: {value[:60]!r} is not an ISO 8601 date") from None
    if not EARLIEST <= moment <= LATEST:
        raise RowError(
            f"received_at: {value[:60]!r} is out of range ({EARLIEST.year}-{LATEST.year})"
        )
    return moment


# Columns whose value must be one of a few: the field, how it is read, what it may be.
_CHOICES: tuple[tuple[str, Callable[[str], object], str], ...] = (
    ("consent", _bool, "yes or no"),
    ("status", read_status, "current or former"),
    ("channel", read_channel, "web, phone, email or chat"),
)


def row_to_input(
    row: dict[str, Any], mapping: dict[str, str], country: str, origin: str
) -> VerdictInput:
    """Turn one row into a verdict; raise RowError with every reason when it cannot be one."""
    if "__error__" in row:
        raise RowError(str(row["__error__"]))

    def get(name: str) -> str:
        column = mapping.get(name, name)
        value = row.get(column)
        return "" if value is None else str(value).strip()

    # Every column is checked, so that one correction of the file fixes the row.
    problems: list[str] = []
    if any("\x00" in str(v) for v in row.values() if v is not None):
        problems.append("a cell contains a NUL character")  # PostgreSQL refuses it in text
    text = get("text")
    if not text:
        problems.append("text: empty (the verbatim is required)")
    elif len(text) > MAX_VERBATIM_CHARS:
        problems.append(f"text: longer than {MAX_VERBATIM_CHARS} characters")
    refs: list[CustomerRef] = []
    for name in ("customer", "email", "phone"):
        raw = get(name)
        if raw:
            ref = normalise_ref(raw, country)
            if ref is None:
                problems.append(
                    f"{name}: {raw!r} is not a customer reference (email, phone or account id)"
                )
            else:
                refs.insert(0, ref)
    fields: dict[str, Any] = {}
    if get("score"):
        score = get("score").split("/")[0].strip()
        # isascii: "²".isdigit() is true but int("²") fails; "٣" is not a score either.
        if not (score.isascii() and score.isdigit()) or len(score) > 2 or int(score) > 10:
            problems.append(f"score: {get('score')!r} is not a score from 0 to 10")
        else:
            fields["score"] = int(score)
            fields["scale"] = "csat" if get("score").replace(" ", "").endswith("/5") else "nps"
    for name, read, expected in _CHOICES:
        raw = get(name)
        if raw:
            value = read(raw)
            if value is None:
                problems.append(f"{name}: {raw!r} is not {expected}")
            else:
                fields[name] = value
    if get("churned_on"):
        try:
            fields["churned_on"] = read_churn_date(get("churned_on"))
        except (ValueError, OverflowError):
            problems.append(f"churned_on: {get('churned_on')[:60]!r} is not a date")
    if get("received_at"):
        try:
            fields["received_at"] = _received(get("received_at"))
        except RowError as exc:
            problems.extend(exc.problems)
    if problems:
        raise RowError(*problems)
    parsed = parse_verdict(text, country)
    fields["refs"] = tuple(dict.fromkeys([*refs, *parsed.refs]))
    fields["origin"] = get("source") or parsed.source or origin
    if get("id"):
        fields["source_key"] = f"import:{get('id')}"
    if parsed.consent is False:
        fields["consent"] = False  # a refusal in the verbatim wins over a yes column
    return from_parsed(parsed, "import", **fields)
