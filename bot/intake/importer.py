"""File imports (CSV, JSONL): rows stored chunk by chunk, a summary, and rejected rows kept."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot.classification.offline import OfflineClassifier
from bot.intake.file_rows import COLUMNS, RowError, column_mapping, read_rows
from bot.intake.import_workers import RowReader, prepared_chunks
from bot.intake.service import ingest_many
from bot.runtime.clock import Clock
from bot.runtime.settings import TeamConfig
from storage.db import transaction

MAX_FILE_BYTES = 50 * 1024 * 1024
CHUNK = 500  # rows per transaction: big enough to be fast, small enough to keep locks short


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


Progress = Callable[[int], None]


def default_workers() -> int:
    """Worker processes for an import: one per CPU core beyond the one that stores, at least
    one (on one core the two still overlap reading and writing), at most four."""
    return max(1, min(4, (os.cpu_count() or 1) - 1))


def import_rows(
    factory: sessionmaker[Session],
    name: str,
    data: bytes,
    classifier: OfflineClassifier,
    team: TeamConfig,
    clock: Clock,
    progress: Progress | None = None,
    workers: int = 0,
) -> ImportSummary:
    """Import a CSV or JSONL file's rows; bad rows are rejected with a reason, the rest stored.

    `workers` processes parse and classify rows ahead of this one, which stores them in the
    file's order (0: all here). The result is the same either way.
    """
    if len(data) > MAX_FILE_BYTES:
        raise RowError(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; split it")
    headers, rows = read_rows(name, data)
    mapping = column_mapping(headers)
    if headers and "text" not in mapping:
        raise RowError(
            "no verbatim column: name one of "
            + ", ".join(COLUMNS["text"])
            + f" (found: {', '.join(headers)})"
        )
    summary = ImportSummary()
    reader = RowReader(mapping, team.default_country, f"import {Path(name).name}")

    def chunks() -> Iterator[list[tuple[int, dict[str, Any]]]]:
        chunk: list[tuple[int, dict[str, Any]]] = []
        for number, row in rows:
            summary.rows += 1
            chunk.append((number, row))
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    for prepared in prepared_chunks(chunks(), reader, classifier, workers):
        summary.rejected.extend(prepared.rejected)
        # One transaction per chunk: a crash loses at most the chunk in flight, and importing the
        # file again skips what was stored (same ids, or same source, customer and text).
        with transaction(factory) as session:
            outcomes = ingest_many(
                session, prepared.items, classifier, team, clock.now(), prepared.results
            )
        for result in outcomes:
            if result.outcome == "duplicate":
                summary.duplicates += 1
            elif result.outcome == "joined":
                summary.joined += 1
            elif result.outcome == "no_consent":
                summary.no_consent += 1
            else:
                summary.opened += 1
        if progress:
            progress(len(prepared.items) + len(prepared.rejected))
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
