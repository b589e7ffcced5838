"""`triage learn FILE` (a team's labelled verbatims into the database), the learned model for the
command line, and `triage eval --learning-curve`.

A file is CSV (with a header) or JSON Lines, with `text` and `reason` (a taxonomy id) per row.
Rejected rows are reported as `triage import` reports them: counted, and written beside the file
with their row number and what is wrong, and nothing of them is stored.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.classification import learning
from bot.classification.learned import LearnedModel, train
from bot.classification.offline import OfflineClassifier
from bot.classification.taxonomy import Taxonomy
from bot.runtime.settings import ConfigError

MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_TEXT = 5000


@dataclass
class LearnSummary:
    """What `triage learn` did."""

    rows: int = 0
    kept: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The summary as a person reads it."""
        return [
            f"{'rows read:':<14}{self.rows}",
            f"{'kept:':<14}{self.kept}",
            f"{'already kept:':<14}{self.duplicates}",
            f"{'rejected:':<14}{len(self.rejected)}",
        ]


def read_rows(path: Path) -> list[tuple[int, dict[str, Any] | None, str]]:
    """(row number, row or None, problem) of a CSV or JSONL file; raises ConfigError when the
    file as a whole cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror or exc})"]) from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError([f"{path}: larger than {MAX_FILE_BYTES // 2**20} MiB"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError([f"{path}: not UTF-8 text"]) from None
    out: list[tuple[int, dict[str, Any] | None, str]] = []
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError:
                out.append((number, None, "not a JSON object"))
                continue
            if not isinstance(row, dict):
                out.append((number, None, "not a JSON object"))
            else:
                out.append((number, row, ""))
        return out
    reader = csv.DictReader(io.StringIO(text))
    columns = [c.strip().lower() for c in reader.fieldnames or []]
    if "text" not in columns or "reason" not in columns:
        raise ConfigError([f"{path}: the header needs `text` and `reason` columns"])
    for number, raw in enumerate(reader, 2):
        row = {(k or "").strip().lower(): v for k, v in raw.items()}
        out.append((number, row, ""))
    return out


def _problem(row: dict[str, Any], taxonomy: Taxonomy) -> str:
    text, reason = row.get("text"), row.get("reason")
    problems = []
    if not isinstance(text, str) or not text.strip():
        problems.append("`text` is empty")
    elif len(text) > MAX_TEXT:
        problems.append(f"`text` is longer than {MAX_TEXT} characters")
    if not isinstance(reason, str) or not reason.strip():
        problems.append("`reason` is empty")
    elif reason.strip() not in taxonomy:
        problems.append(f"{reason.strip()!r} is not a reason of the taxonomy")
    return "; ".join(problems)


def learn_file(path: Path, taxonomy: Taxonomy, factory: Any, clock: Any) -> LearnSummary:
    """Store the valid rows of a file as examples (one transaction); report the others."""
    from storage.db import transaction

    summary = LearnSummary()
    good: list[tuple[int, dict[str, Any]]] = []
    for number, row, problem in read_rows(path):
        summary.rows += 1
        problem = problem or _problem(row or {}, taxonomy)
        if problem or row is None:
            summary.rejected.append((number, problem, row or {}))
        else:
            good.append((number, row))
    with transaction(factory) as session:
        for _, row in good:
            kept = learning.keep_example(
                session, row["text"], row["reason"].strip(), taxonomy, "file", now=clock.now()
            )
            summary.kept += kept
            summary.duplicates += not kept
    return summary


def write_rejected(source: Path, summary: LearnSummary) -> Path | None:
    """The rejected rows beside the input, with their row number and what is wrong."""
    if not summary.rejected:
        return None
    target = source.with_name(source.stem + ".rejected.jsonl")
    if target.is_symlink():
        raise ConfigError([f"{target}: is a symbolic link; not overwritten"])
    lines = [
        json.dumps({"row": n, "problem": p, **{k: v for k, v in r.items() if k in ("text", "reason")}},
                   ensure_ascii=False)
        for n, p, r in summary.rejected
    ]  # fmt: skip
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def _database() -> tuple[Any, Any]:
    """(engine, session factory) of DATABASE_URL, checked; ConfigError with one line if not."""
    from bot.runtime.settings import DEFAULT_DATABASE_URL, normalise_database_url
    from storage.db import make_engine, make_sessionmaker
    from storage.migrate import schema_problem

    url = normalise_database_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    engine = make_engine(url)
    try:
        problem = schema_problem(engine)
    except Exception as exc:
        engine.dispose()
        first = f"DATABASE_URL: cannot open the database ({type(exc).__name__}: {exc})"
        raise ConfigError([first.splitlines()[0]]) from None
    if problem:
        engine.dispose()
        raise ConfigError([f"DATABASE_URL: {problem}"])
    return engine, make_sessionmaker(engine)


def learned_for_cli(taxonomy: Taxonomy) -> LearnedModel | None:
    """The newest learned model of the database at DATABASE_URL (or ./triage.db when it exists),
    or None: the command line then classifies with the rules, as a bot without examples does."""
    from bot.runtime.settings import DEFAULT_DATABASE_URL

    if not os.environ.get("DATABASE_URL") and not (
        DEFAULT_DATABASE_URL.startswith("sqlite:///")
        and Path(DEFAULT_DATABASE_URL.removeprefix("sqlite:///")).is_file()
    ):
        return None
    try:
        engine, factory = _database()
    except ConfigError:
        return None  # no usable database: the rules alone, as documented
    try:
        return learning.load_newest(factory, taxonomy)
    finally:
        engine.dispose()


def cmd_learn(args: argparse.Namespace, taxonomy: Taxonomy) -> int:
    """`triage learn FILE`."""
    from bot.runtime.clock import SystemClock

    path = Path(args.file)
    if not path.is_file():
        print(f"triage: {path}: no such file", file=sys.stderr)
        return 2
    engine, factory = _database()
    try:
        summary = learn_file(path, taxonomy, factory, SystemClock())
    finally:
        engine.dispose()
    print(f"{path}:")
    print("\n".join(summary.lines()))
    rejected = write_rejected(path, summary)
    if rejected:
        print(f"rejected rows written to {rejected}")
    if summary.kept:
        print("the bot retrains in its next background pass (or run `triage worker`)")
    return 1 if summary.rejected else 0


# --------------------------------------------------------------------------- learning curve


def learning_curve(
    taxonomy: Taxonomy,
    rows: list[tuple[str, str]],
    *,
    steps: tuple[int, ...] = (0, 50, 100, 200, 400, 800, 1600),
    base: list[tuple[str, str]] | None = None,
    seed: int = 0,
    scored: int | None = None,
) -> list[dict[str, Any]]:
    """Macro-F1 after n examples taken from `rows` (shuffled), the rest scored."""
    from sklearn.metrics import f1_score

    rows = list(rows)
    random.Random(seed).shuffle(rows)
    base = learning.base_examples(taxonomy) if base is None else base
    out: list[dict[str, Any]] = []
    for n in steps:
        if n >= len(rows):
            break
        held_out = rows[n:] if scored is None else rows[-scored:]
        classifier = OfflineClassifier(taxonomy)
        started = time.perf_counter()
        train_rows = rows[:n]
        if len({r for _, r in [*base, *train_rows]}) >= 2:
            classifier.learned = train(base, train_rows, taxonomy.version)
        seconds = time.perf_counter() - started
        results = classifier.classify_many([t for t, _ in held_out])
        gold = [r for _, r in held_out]
        predicted = [result.primary_reason for result in results]
        # The mean F1 over the reasons of the scored examples, as `triage eval` reports it.
        f1 = f1_score(gold, predicted, labels=sorted(set(gold)), average="macro", zero_division=0)
        out.append(
            {"examples": n, "scored": len(held_out), "macro_f1": round(float(f1), 3),
             "train_seconds": round(seconds, 2)}
        )  # fmt: skip
    return out


def retired_reasons(database_url: str, taxonomy: Taxonomy) -> list[str]:
    """`triage config check`: reasons that stored verdicts or examples use and the configured
    taxonomy version lacks, one line each (stats and digests keep them, labelled retired)."""
    import storage.learning
    from storage.db import make_engine, make_sessionmaker

    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            used = storage.learning.reasons_in_use(session)
    except Exception as exc:  # no database yet, not migrated, unreachable: say so, go on
        first = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
        return [f"stored reasons not checked: cannot read the database ({first})"]
    finally:
        engine.dispose()
    lines = []
    for reason, (verdicts, examples) in sorted(used.items()):
        if reason in taxonomy:
            continue
        counts = _count(verdicts, "verdict") + (
            f", {_count(examples, 'example')}" if examples else ""
        )
        lines.append(
            f"reason {reason} ({counts}) is not in taxonomy v{taxonomy.version}: "
            f"stats keep it as '{taxonomy.label(reason)}'"
        )
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
