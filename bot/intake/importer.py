"""File imports (CSV, JSONL): rows stored chunk by chunk, a summary, and rejected rows kept."""

from __future__ import annotations

import csv
import json
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.orm import Session, sessionmaker

from bot.classification.offline import OfflineClassifier
from bot.intake.file_rows import COLUMNS, RowError, column_mapping, read_rows
from bot.intake.import_workers import RowReader, prepared_chunks
from bot.intake.service import ingest_many
from bot.privacy.cells import safe_cell, safe_row
from bot.runtime.clock import Clock
from bot.runtime.settings import TeamConfig
from bot.slack.i18n import t, tn
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

    def lines(self, language: str = "en") -> list[str]:
        """The summary as a person reads it, in the team's language."""

        def line(key: str, value: object) -> str:
            return f"{t(language, key):<{LABEL_WIDTH}}{value}"

        parts = (
            tn(language, "import_new", self.opened),
            tn(language, "import_joined", self.joined),
            tn(language, "import_no_consent", self.no_consent),
        )
        out = [
            line("import_rows_read", self.rows),
            line("import_imported", f"{self.imported} ({', '.join(parts)})"),
            line("import_duplicates", self.duplicates),
            line("import_rejected", len(self.rejected)),
        ]
        out.extend(
            "  " + t(language, "import_rejected_row", row=row, reason=reason)
            for row, reason, _ in self.rejected[:SHOWN_REJECTED]
        )
        if len(self.rejected) > SHOWN_REJECTED:
            more = len(self.rejected) - SHOWN_REJECTED
            out.append("  " + t(language, "import_rejected_more", count=more))
        return out


LABEL_WIDTH = 23  # the summary's values line up after the longest label
SHOWN_REJECTED = 20  # rows listed in the summary; the rejected-rows file has them all
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
    """Write the rejected rows beside the input file, with their row number and reasons (every
    problem found in the row, separated by "; ")."""
    if not summary.rejected:
        return None
    if source.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        target = source.with_name(source.stem + ".rejected.jsonl")
        with _open_new(target) as out:
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
    with _open_new(target) as out:
        writer = csv.writer(out)
        writer.writerow(["row", "reason", *(safe_cell(str(c)) for c in columns)])
        for number, reason, row in summary.rejected:
            cells = ["" if row.get(c) is None else str(row.get(c)) for c in columns]
            writer.writerow([number, safe_cell(reason), *safe_row(cells)])
    return target


def _open_new(target: Path) -> TextIO:
    """The rejected-rows file opened for writing, never through a symbolic link (which could
    make the import overwrite another file) nor into anything but a regular file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    if target.is_symlink():
        raise RowError(f"{target} is a symbolic link; remove it or move the file to import")
    try:
        fd = os.open(target, flags, 0o600)
    except OSError as exc:
        raise RowError(f"cannot write {target}: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RowError(f"{target} is not a regular file")
    return os.fdopen(fd, "w", encoding="utf-8", newline="")
