"""`triage parse`: what the intake parser reads in a message, without Slack or a database.

`triage parse -` reads one message a line from standard input (plain text, or a Slack message
as JSON: `{"text": ..., "files": ..., "blocks": ..., "attachments": ...}`) and writes JSON Lines;
`triage parse --explain "TEXT"` prints the same for a person.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from bot.intake.parsing import (
    ParsedVerdict,
    Vocabulary,
    VocabularyError,
    load_vocabulary,
    parse_message,
)


def as_json(parsed: ParsedVerdict) -> dict[str, Any]:
    """The parser's reading of one message, as the JSON line `triage parse -` prints."""
    return {
        "references": [ref.key for ref in parsed.refs],
        "status": parsed.status,
        "churned_on": parsed.churned_on,
        "consent": parsed.consent,
        "channel": parsed.channel,
        "source": parsed.source,
        "score": parsed.score,
        "scale": parsed.scale,
        "verbatim": parsed.text,
        "labels": [{"label": label, "field": field} for label, field in parsed.labels],
        "not_understood": list(parsed.unparsed),
    }


def _message(line: str) -> dict[str, Any]:
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            return value
    return {"text": line.rstrip("\n").replace("\\n", "\n")}


def explain(parsed: ParsedVerdict) -> str:
    """A person's view of what was read."""
    consent = {True: "yes", False: "NO (refused)", None: "not stated"}[parsed.consent]
    rows = [
        ("references", ", ".join(r.key for r in parsed.refs) or "none found"),
        ("status", parsed.status or "not stated"),
        ("churn date", parsed.churned_on or "not stated"),
        ("consent", consent),
        ("channel", parsed.channel or "not stated"),
        ("source", parsed.source or "not stated"),
        ("score", f"{parsed.score} ({parsed.scale})" if parsed.score is not None else "none"),
    ]
    out = [f"{name:<11} {value}" for name, value in rows]
    out += ["labels read:"] + [f"  {label!r} -> {field}" for label, field in parsed.labels]
    if parsed.unparsed:
        out += ["lines not understood:"] + [f"  {line}" for line in parsed.unparsed]
    out += ["verbatim:"] + [f"  | {line}" for line in (parsed.text or "(none)").splitlines()]
    return "\n".join(out)


def run(args: argparse.Namespace, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """Run `triage parse`."""
    try:
        vocabulary: Vocabulary = load_vocabulary(args.vocabulary)
    except VocabularyError as exc:
        print(f"triage parse: {exc}", file=sys.stderr)
        return 2
    if args.explain is not None:
        parsed = parse_message(_message(args.explain), args.country, vocabulary)
        print(explain(parsed), file=stdout)
        return 0
    if args.input != "-":
        print("triage parse: give `-` to read standard input, or --explain TEXT", file=sys.stderr)
        return 2
    for line in stdin:
        if not line.strip():
            continue
        parsed = parse_message(_message(line), args.country, vocabulary)
        print(json.dumps(as_json(parsed), ensure_ascii=False), file=stdout)
    return 0


def add_parsers(sub: Any) -> None:
    """Register `triage parse` on the CLI's subcommands."""
    parse = sub.add_parser(
        "parse",
        help="show what the intake parser reads in messages",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parse.add_argument("input", nargs="?", default="-", help="`-`: one message a line on stdin")
    parse.add_argument("--explain", metavar="TEXT", help="explain one message for a person")
    parse.add_argument("--country", default="FR", help="default country for phone numbers")
    parse.add_argument("--vocabulary", help="a field vocabulary file (default prompts/fields.yaml)")
    parse.set_defaults(func=run)
