"""`triage classify` and `triage eval`: the classifiers from the command line, no Slack needed.

`classify` prints a result as JSON (or JSON Lines from standard input); `eval` measures a
classifier on a labelled JSONL file (per-reason precision, recall, F1, macro-F1, the confusion
matrix, tokens and cost); `eval --export-corrections` turns people's corrections into examples.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.classification.brand import BrandConfig
from bot.classification.offline import Classification, OfflineClassifier
from bot.classification.service import Classifier, classify_batch
from bot.classification.taxonomy import Taxonomy, TaxonomyError, load_taxonomy
from bot.runtime.settings import (
    DEFAULT_CONFIG_PATH,
    ClassificationConfig,
    ConfigError,
    TeamConfig,
    load_team_config,
)

if TYPE_CHECKING:  # the LLM client and scikit-learn load only for the commands that use them
    from bot.classification.llm import LLMClassifier


DEFAULT_MODEL = "gpt-4o-mini"


@dataclass(frozen=True)
class _Context:
    taxonomy: Taxonomy
    language: str
    country: str
    config: ClassificationConfig
    brand: BrandConfig | None = None


def _context(lang: str | None) -> _Context:
    """The taxonomy and the team's settings when a config file is there; defaults otherwise."""
    path = os.environ.get("TRIAGE_CONFIG") or DEFAULT_CONFIG_PATH
    team: TeamConfig | None = None
    if os.environ.get("TRIAGE_CONFIG") or Path(path).is_file():
        team = load_team_config(path)
    try:
        taxonomy = load_taxonomy(team.taxonomy if team else None)
    except TaxonomyError as exc:
        raise ConfigError([str(exc)]) from None
    return _Context(
        brand=team.brand if team else None,
        taxonomy=taxonomy,
        language=lang or (team.language if team else "en"),
        country=team.default_country if team else "FR",
        config=team.classification if team else ClassificationConfig(),
    )


def _llm(ctx: _Context) -> LLMClassifier:
    from bot.classification.llm import LLMClassifier

    key = (os.environ.get("OPENAI_API_KEY") or "").strip()
    if not key:
        raise ConfigError(["OPENAI_API_KEY: not set (needed for --backend llm)"])
    return LLMClassifier(
        ctx.taxonomy,
        api_key=key,
        model=(os.environ.get("OPENAI_MODEL") or "").strip() or DEFAULT_MODEL,
        base_url=(os.environ.get("OPENAI_BASE_URL") or "").strip() or None,
        team_language=ctx.language,
        timeout=ctx.config.llm_timeout_seconds,
        max_retries=ctx.config.llm_max_retries,
        prices=ctx.config.prices,
        default_country=ctx.country,
    )


def _offline(ctx: _Context) -> OfflineClassifier:
    classifier = OfflineClassifier(ctx.taxonomy, team_language=ctx.language, brand=ctx.brand)
    # The database's learned model when it has one, so the command line agrees with the bot.
    from bot.classification import learn_cli

    classifier.learned = learn_cli.learned_for_cli(ctx.taxonomy)
    if classifier.learned is not None:
        print(f"triage: using learned model v{classifier.learned.version}", file=sys.stderr)
    return classifier


# --------------------------------------------------------------------------- classify


def _read_line(line: str) -> tuple[str | None, int | None, str | None]:
    """(text, score, error) from one input line: plain text, or a JSON object with `text`."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            return stripped, None, None  # text that merely starts with a brace
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            return None, None, "a JSON line needs a string field `text`"
        score = data.get("score")
        return data["text"], score if isinstance(score, int) else None, None
    return stripped, None, None


def _quiet_http() -> None:
    # One log line per HTTP request would drown the results in a terminal.
    for name in ("httpx", "httpx2", "openai"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _cmd_classify(args: argparse.Namespace) -> int:
    _quiet_http()
    ctx = _context(args.lang)
    offline = _offline(ctx)
    use_llm = args.backend == "llm" or (
        args.backend == "auto" and bool((os.environ.get("OPENAI_API_KEY") or "").strip())
    )
    llm = _llm(ctx) if use_llm else None
    classifier: Classifier = llm or offline
    # In auto mode the offline classifier answers when the LLM cannot; with --backend llm
    # a failure is an error, so an evaluation never mixes backends silently.
    fallback = offline if args.backend == "auto" else None
    try:
        if args.text != "-":
            result = classify_batch(
                classifier, [args.text], scores=[args.score], fallback=fallback
            )[0]
            if isinstance(result, Exception):
                print(f"triage: classify: {result}", file=sys.stderr)
                return 1
            print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
            return 0
        return _classify_stream(classifier, fallback, ctx, sys.stdin, sys.stdout)
    finally:
        if llm is not None:
            llm.close()


def _classify_stream(
    classifier: Classifier,
    fallback: Classifier | None,
    ctx: _Context,
    source: TextIO,
    out: TextIO,
) -> int:
    lines = source.read().splitlines()
    parsed = [_read_line(line) for line in lines]
    todo = [i for i, (text, _, error) in enumerate(parsed) if error is None and text is not None]
    results = classify_batch(
        classifier,
        [parsed[i][0] or "" for i in todo],
        scores=[parsed[i][1] for i in todo],
        max_concurrency=ctx.config.max_concurrency,
        fallback=fallback,
    )
    by_line: dict[int, Classification | Exception] = dict(zip(todo, results, strict=True))
    status = 0
    for i, (_, _, error) in enumerate(parsed):
        outcome = by_line.get(i)
        if error is not None or outcome is None:
            record: dict[str, Any] = {"line": i + 1, "error": error or "no result"}
            status = 1
        elif isinstance(outcome, Exception):
            record = {"line": i + 1, "error": str(outcome)}
            status = 1
        else:
            record = outcome.to_dict()
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()
    return status


# --------------------------------------------------------------------------- eval


@dataclass
class Report:
    """Scores of one evaluation run."""

    labels: list[str]
    n: int = 0
    correct: int = 0
    confusion: dict[str, Counter[str]] = field(default_factory=dict)
    secondary_expected: int = 0
    secondary_found: int = 0
    failures: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, gold: str, secondary: list[str], outcome: Classification | Exception) -> None:
        """Count one example."""
        self.n += 1
        predicted = outcome.primary_reason if isinstance(outcome, Classification) else "(failed)"
        self.confusion.setdefault(gold, Counter())[predicted] += 1
        self.correct += predicted == gold
        if isinstance(outcome, Exception):
            self.failures += 1
            return
        found = {outcome.primary_reason, *outcome.secondary_reasons}
        self.secondary_expected += len(secondary)
        self.secondary_found += sum(1 for r in secondary if r in found)
        if outcome.prompt_tokens or outcome.completion_tokens:
            self.calls += 1
        self.prompt_tokens += outcome.prompt_tokens
        self.completion_tokens += outcome.completion_tokens
        self.cost_usd += outcome.cost_usd

    def per_reason(self) -> dict[str, dict[str, float]]:
        """Precision, recall, F1 and support per reason."""
        table: dict[str, dict[str, float]] = {}
        for label in self.labels:
            tp = self.confusion.get(label, Counter())[label]
            support = sum(self.confusion.get(label, Counter()).values())
            predicted = sum(row[label] for row in self.confusion.values())
            precision = tp / predicted if predicted else 0.0
            recall = tp / support if support else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            table[label] = {
                "precision": round(precision, 3),
                "recall": round(recall, 3),
                "f1": round(f1, 3),
                "support": support,
            }
        return table

    def macro_f1(self) -> float:
        """Mean F1 over the reasons that occur in the gold labels."""
        rows = [row for row in self.per_reason().values() if row["support"]]
        return round(sum(row["f1"] for row in rows) / len(rows), 3) if rows else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Everything, as JSON-ready data."""
        return {
            "examples": self.n,
            "accuracy": round(self.correct / self.n, 3) if self.n else 0.0,
            "macro_f1": self.macro_f1(),
            "per_reason": self.per_reason(),
            "confusion": {gold: dict(row) for gold, row in self.confusion.items()},
            "secondary_found": [self.secondary_found, self.secondary_expected],
            "failures": self.failures,
            "llm_calls": self.calls,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 6),
        }

    def render(self, backend: str) -> str:
        """The report as a person reads it in a terminal."""
        width = max(len(label) for label in self.labels)
        lines = [f"{'reason':<{width}}  precision  recall     F1  support"]
        for label, row in self.per_reason().items():
            lines.append(
                f"{label:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  "
                f"{row['f1']:5.3f}  {int(row['support']):7d}"
            )
        accuracy = self.correct / self.n if self.n else 0.0
        lines += [
            "",
            f"examples: {self.n}   accuracy: {accuracy:.3f}   macro-F1: {self.macro_f1():.3f}",
            f"secondary reasons found: {self.secondary_found}/{self.secondary_expected}",
            "",
            "confusion matrix (rows: expected, columns: predicted)",
        ]
        columns = list(self.labels) + (["(failed)"] if self.failures else [])
        lines.append(" " * (width + 2) + " ".join(f"{i + 1:>4}" for i in range(len(columns))))
        for label in self.labels:
            counts = self.confusion.get(label, Counter())
            lines.append(f"{label:<{width}}  " + " ".join(f"{counts[c]:>4}" for c in columns))
        lines.append("columns: " + ", ".join(f"{i + 1}={c}" for i, c in enumerate(columns)))
        if backend == "llm":
            lines += [
                "",
                f"LLM calls: {self.calls}   failures: {self.failures}   tokens: "
                f"{self.prompt_tokens} in, {self.completion_tokens} out   cost: ${self.cost_usd:.4f}",
            ]
        return "\n".join(lines)


def load_examples(path: Path, taxonomy: Taxonomy, split: str) -> list[dict[str, Any]]:
    """The labelled examples of a JSONL file (`text`, `reason`, optional `secondary`, `split`)."""
    examples: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read ({exc.strerror or exc})"]) from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            raise ConfigError([f"{path}:{number}: not a JSON object"]) from None
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise ConfigError([f"{path}:{number}: needs a string field `text`"])
        reasons = [data.get("reason"), *(data.get("secondary") or [])]
        unknown = [r for r in reasons if r not in taxonomy]
        if unknown:
            raise ConfigError([f"{path}:{number}: {unknown[0]!r} is not a reason of the taxonomy"])
        if split == "all" or data.get("split", "dev") == split:
            examples.append(data)
    return examples


def _cmd_eval(args: argparse.Namespace) -> int:
    _quiet_http()
    if args.export_corrections:
        count = export_corrections(Path(args.export_corrections))
        print(f"exported {count} correction(s) to {args.export_corrections}", file=sys.stderr)
        if not args.file:
            return 0
    if args.learning_curve:
        return _learning_curve(args)
    if not args.file:
        raise ConfigError(["eval: give a FILE.jsonl to evaluate (or --export-corrections OUT)"])
    ctx = _context(args.lang)
    examples = load_examples(Path(args.file), ctx.taxonomy, args.split)
    if not examples:
        raise ConfigError([f"{args.file}: no examples (split {args.split})"])
    llm = _llm(ctx) if args.backend == "llm" else None
    classifier: Classifier = llm or _offline(ctx)
    try:
        outcomes = classify_batch(
            classifier,
            [e["text"] for e in examples],
            max_concurrency=ctx.config.max_concurrency,
        )
    finally:
        if llm is not None:
            llm.close()
    from bot.classification.llm import LLMError

    report = Report(labels=ctx.taxonomy.ids())
    for example, outcome in zip(examples, outcomes, strict=True):
        report.add(example["reason"], list(example.get("secondary") or []), outcome)
        if isinstance(outcome, LLMError):
            print(f"triage: eval: {outcome}", file=sys.stderr)
    if args.json:
        print(json.dumps({"backend": args.backend, **report.as_dict()}, indent=2))
    else:
        model = classifier.model if isinstance(classifier, OfflineClassifier) else args.backend
        print(f"{args.file} ({args.split}, backend {args.backend}, model {model})\n")
        print(report.render(args.backend))
    return 0


def export_corrections(out: Path) -> int:
    """Write people's corrections as eval examples (verbatims masked); returns how many."""
    import storage.classifications
    from bot.privacy.masking import mask
    from bot.runtime.settings import DEFAULT_DATABASE_URL, normalise_database_url
    from storage.db import make_engine, make_sessionmaker
    from storage.migrate import schema_problem

    url = normalise_database_url(os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    engine = make_engine(url)
    try:
        try:
            problem = schema_problem(engine)
        except Exception as exc:
            first = f"DATABASE_URL: cannot open the database ({type(exc).__name__}: {exc})"
            raise ConfigError([first.splitlines()[0]]) from None
        if problem:
            raise ConfigError([f"DATABASE_URL: {problem}"])
        with make_sessionmaker(engine)() as session:
            rows = storage.classifications.human_corrections(session)
            records = [
                {
                    "text": mask(verdict.text),
                    "reason": row.primary_reason,
                    "secondary": list(row.secondary_reasons or []),
                    "lang": verdict.language or "und",
                    "style": "correction",
                    "split": "dev",
                    "corrected_by": row.actor,
                    "corrected_at": row.created_at.isoformat(),
                }
                for row, verdict in rows
            ]
    finally:
        engine.dispose()
    out.write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8"
    )
    return len(records)


# --------------------------------------------------------------------------- parsers


def add_parsers(sub: Any) -> None:
    """Register `classify` and `eval` on the `triage` command's subparsers."""
    classify = sub.add_parser(
        "classify",
        help="classify a verdict and print the result as JSON",
        description=(
            'Classify one verdict ("text") or, with "-", one per line of standard input (plain '
            "text or a JSON object with a `text` field), printing one JSON result per line. "
            "Works without Slack or a database. --backend auto uses the LLM when OPENAI_API_KEY "
            "is set, falling back to the offline classifier."
        ),
    )
    classify.add_argument("text", help='the verdict, or "-" to read verdicts from stdin')
    classify.add_argument(
        "--backend", choices=["auto", "offline", "llm"], default="auto", help="default auto"
    )
    classify.add_argument("--score", type=int, default=None, help="the customer's NPS (0-10)")
    classify.add_argument(
        "--lang", choices=["en", "fr"], default=None, help="language of summaries"
    )
    classify.set_defaults(func=_cmd_classify)

    evaluate = sub.add_parser(
        "eval",
        help="measure a classifier on a labelled JSONL file",
        description=(
            "Classify every example of FILE.jsonl (`text`, `reason`, optional `secondary` and "
            "`split`) and print per-reason precision, recall and F1, macro-F1, the confusion "
            "matrix and, for the LLM, tokens and cost. --export-corrections writes the reasons "
            "people set in Slack as examples (needs DATABASE_URL)."
        ),
    )
    evaluate.add_argument("file", nargs="?", help="labelled examples, e.g. prompts/devset.jsonl")
    evaluate.add_argument(
        "--backend", choices=["offline", "llm"], default="offline", help="default offline"
    )
    evaluate.add_argument(
        "--split", choices=["all", "dev", "test"], default="all", help="examples to use"
    )
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    evaluate.add_argument(
        "--lang", choices=["en", "fr"], default=None, help="language of summaries"
    )
    evaluate.add_argument(
        "--export-corrections",
        metavar="OUT.jsonl",
        help="write human corrections from the database as examples",
    )
    evaluate.add_argument(
        "--learning-curve",
        metavar="FILE",
        help="macro-F1 after 0, 50, 100, 200, 400... examples of FILE (the rest scored)",
    )
    evaluate.set_defaults(func=_cmd_eval)

    learn = sub.add_parser(
        "learn",
        help="keep a team's labelled verbatims as examples the classifier learns from",
        description=(
            "Store the rows of FILE (CSV with a header, or JSON Lines; `text` and `reason`, a "
            "taxonomy id) as examples in the database at DATABASE_URL, masked. Rejected rows are "
            "counted and written beside FILE with what is wrong; the bot retrains in its next "
            "background pass."
        ),
    )
    learn.add_argument("file", help="labelled verbatims (.csv or .jsonl)")
    learn.set_defaults(func=_cmd_learn)


def _cmd_learn(args: argparse.Namespace) -> int:
    from bot.classification import learn_cli

    return learn_cli.cmd_learn(args, _context(None).taxonomy)


def _learning_curve(args: argparse.Namespace) -> int:
    from bot.classification import learn_cli

    ctx = _context(args.lang)
    examples = load_examples(Path(args.learning_curve), ctx.taxonomy, "all")
    rows = [(e["text"], e["reason"]) for e in examples]
    if len(rows) < 2:
        raise ConfigError([f"{args.learning_curve}: needs at least 2 examples"])
    points = learn_cli.learning_curve(ctx.taxonomy, rows)
    if args.json:
        print(json.dumps(points, indent=2))
        return 0
    print(f"{args.learning_curve}: {len(rows)} examples, shuffled; the rest scored\n")
    print("examples  scored  macro-F1  training")
    for p in points:
        print(
            f"{p['examples']:>8}  {p['scored']:>6}  {p['macro_f1']:>8.3f}  {p['train_seconds']:>7.2f}s"
        )
    return 0
