"""File imports (CSV, JSONL): column mapping by header names, a summary, and rejected rows kept."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.classify_offline import OfflineClassifier
from bot.clock import Clock
from bot.config import TeamConfig
from bot.intake import VerdictInput, from_parsed, ingest_many
from bot.verdict_parsing import (
    MAX_VERBATIM_CHARS,
    fold,
    normalise_ref,
    parse_verdict,
    read_channel,
    read_churn_date,
    read_status,
)
from storage.db import transaction

MAX_FILE_BYTES = 50 * 1024 * 1024
CHUNK = 500  # rows per transaction: big enough to be fast, small enough to keep locks short

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


class RowError(ValueError):
    """A row that cannot become a verdict; the message says why, for the rejected-rows file."""


@dataclass
class ImportSummary:
    """What an import did, row by row."""

    rows: int = 0
    opened: int = 0
    joined: int = 0
    duplicates: int = 0
    no_consent: int = 0
    rejected: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.opened + self.joined + self.no_consent

    def lines(self) -> list[str]:
        """The summary as a person reads it."""
        out = [
            f"rows read:             {self.rows}",
            f"imported:              {self.imported} ({self.opened} new cases, {self.joined} joined existing cases, {self.no_consent} without consent, kept for statistics)",
            f"duplicates skipped:    {self.duplicates}",
            f"rejected:              {len(self.rejected)}",
        ]
        out.extend(f"  row {row}: {reason}" for row, reason, _ in self.rejected[:20])
        if len(self.rejected) > 20:
            out.append(f"  ... and {len(self.rejected) - 20} more (see the rejected-rows file)")
        return out


def _mapping(headers: list[str]) -> dict[str, str]:
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
    headers = list(reader.fieldnames or [])
    # Row 1 is the header line, so the first verdict is row 2, as in a spreadsheet.
    return headers, ((n, dict(row)) for n, row in enumerate(reader, start=2))


def _jsonl_rows(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield (
                number,
                {"__error__": f"invalid JSON: {exc.msg} at column {exc.colno}", "__line__": line},
            )
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


def _received(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise RowError(f"received_at: {value!r} is not an ISO 8601 date") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def row_to_input(
    row: dict[str, Any], mapping: dict[str, str], team: TeamConfig, origin: str
) -> VerdictInput:
    """Turn one row into a verdict; raise RowError with the reason when it cannot be one."""
    if "__error__" in row:
        raise RowError(str(row["__error__"]))

    def get(name: str) -> str:
        column = mapping.get(name, name)
        value = row.get(column)
        return "" if value is None else str(value).strip()

    text = get("text")
    if not text:
        raise RowError("text: empty (the verbatim is required)")
    if len(text) > MAX_VERBATIM_CHARS:
        raise RowError(f"text: longer than {MAX_VERBATIM_CHARS} characters")
    parsed = parse_verdict(text, team.default_country)
    refs = list(parsed.refs)
    for name in ("customer", "email", "phone"):
        raw = get(name)
        if raw:
            ref = normalise_ref(raw, team.default_country)
            if ref is None:
                raise RowError(
                    f"{name}: {raw!r} is not a customer reference (email, phone or account id)"
                )
            refs.insert(0, ref)
    fields: dict[str, Any] = {
        "refs": tuple(dict.fromkeys(refs)),
        "origin": get("source") or parsed.source or origin,
    }
    if get("score"):
        score = get("score").split("/")[0].strip()
        if not score.isdigit() or int(score) > 10:
            raise RowError(f"score: {get('score')!r} is not a score from 0 to 10")
        fields["score"] = int(score)
        fields["scale"] = "csat" if get("score").replace(" ", "").endswith("/5") else "nps"
    if get("consent"):
        consent = _bool(get("consent"))
        if consent is None:
            raise RowError(f"consent: {get('consent')!r} is not yes or no")
        fields["consent"] = consent
    if get("status"):
        status = read_status(get("status"))
        if status is None:
            raise RowError(f"status: {get('status')!r} is not current or former")
        fields["status"] = status
    if get("channel"):
        channel = read_channel(get("channel"))
        if channel is None:
            raise RowError(f"channel: {get('channel')!r} is not web, phone, email or chat")
        fields["channel"] = channel
    if get("churned_on"):
        fields["churned_on"] = read_churn_date(get("churned_on"))
    if get("received_at"):
        fields["received_at"] = _received(get("received_at"))
    if get("id"):
        fields["source_key"] = f"import:{get('id')}"
    return from_parsed(parsed, "import", **fields)


Progress = Callable[[int], None]


def import_rows(
    factory: sessionmaker[Session],
    name: str,
    data: bytes,
    classifier: OfflineClassifier,
    team: TeamConfig,
    clock: Clock,
    progress: Progress | None = None,
) -> ImportSummary:
    """Import a CSV or JSONL file's rows; bad rows are rejected with a reason, the rest stored."""
    if len(data) > MAX_FILE_BYTES:
        raise RowError(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; split it")
    headers, rows = read_rows(name, data)
    mapping = _mapping(headers)
    if headers and "text" not in mapping:
        raise RowError(
            "no verbatim column: name one of "
            + ", ".join(COLUMNS["text"])
            + f" (found: {', '.join(headers)})"
        )
    summary = ImportSummary()
    origin = f"import {Path(name).name}"
    batch: list[tuple[int, dict[str, Any]]] = []

    def flush() -> None:
        if not batch:
            return
        items: list[VerdictInput] = []
        for number, row in batch:
            try:
                # JSONL rows name their own fields; CSV rows share the header line's mapping.
                row_mapping = mapping if headers else _mapping(list(row))
                items.append(row_to_input(row, row_mapping, team, origin))
            except RowError as exc:
                summary.rejected.append((number, str(exc), row))
        # One transaction per chunk: a crash loses at most the chunk in flight, and importing the
        # file again skips what was stored (same ids, or same source, customer and text).
        with transaction(factory) as session:
            for result in ingest_many(session, items, classifier, team, clock.now()):
                if result.outcome == "duplicate":
                    summary.duplicates += 1
                elif result.outcome == "joined":
                    summary.joined += 1
                elif result.outcome == "no_consent":
                    summary.no_consent += 1
                else:
                    summary.opened += 1
        if progress:
            progress(len(batch))
        batch.clear()

    for number, row in rows:
        summary.rows += 1
        batch.append((number, row))
        if len(batch) >= CHUNK:
            flush()
    flush()
    return summary


def write_rejected(source: Path, summary: ImportSummary) -> Path | None:
    """Write the rejected rows beside the input file, with their row number and reason."""
    if not summary.rejected:
        return None
    if source.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        target = source.with_name(source.stem + ".rejected.jsonl")
        with target.open("w", encoding="utf-8") as out:
            for number, reason, row in summary.rejected:
                original = row.get("__line__") if "__error__" in row else row
                out.write(
                    json.dumps(
                        {"row": number, "reason": reason, "data": original}, ensure_ascii=False
                    )
                    + "\n"
                )
        return target
    target = source.with_name(source.stem + ".rejected.csv")
    columns = list(dict.fromkeys(k for _, _, row in summary.rejected for k in row))
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["row", "reason", *columns])
        for number, reason, row in summary.rejected:
            writer.writerow([number, reason, *(row.get(c, "") for c in columns)])
    return target
