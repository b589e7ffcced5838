"""The intake parser against an independent corpus of real-looking messages (survey tools' Slack
posts and emails, forwarded emails, interviewers' notes, one-line summaries, key=value lines),
written by someone else from public documentation: accuracy per field, printed and checked."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot.intake.parsing import ParsedVerdict, parse_message

CORPUS = Path(__file__).parent / "data" / "intake_corpus" / "messages.jsonl"
FIELDS = ("references", "status", "churned_on", "consent", "channel", "score", "verbatim")


def load_corpus() -> list[dict[str, Any]]:
    """The corpus rows (id, format, lang, message, expected)."""
    return [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines() if line]


def field_ok(field: str, parsed: ParsedVerdict, expected: dict[str, Any]) -> bool:
    """Whether the parser read one field as the corpus expects."""
    if field == "references":
        return {r.key for r in parsed.refs} == set(expected["references"])
    if field == "verbatim":
        text = parsed.text.casefold()
        return all(p.casefold() in text for p in expected["verbatim_contains"]) and not any(
            p.casefold() in text for p in expected["verbatim_excludes"]
        )
    return getattr(parsed, field) == expected[field]


def test_corpus_accuracy_per_field(capsys: pytest.CaptureFixture[str]) -> None:
    rows = load_corpus()
    assert len(rows) >= 150 and len({r["format"] for r in rows}) >= 40
    right: Counter[str] = Counter()
    failures: dict[str, list[str]] = {field: [] for field in FIELDS}
    refusals = refused_read = 0
    for row in rows:
        parsed = parse_message(row["message"])
        expected = row["expected"]
        for field in FIELDS:
            if field_ok(field, parsed, expected):
                right[field] += 1
            else:
                failures[field].append(row["id"])
        if expected["consent"] is False:
            refusals += 1
            refused_read += parsed.consent is False
    with capsys.disabled():
        print(f"\nintake corpus: {len(rows)} messages, {len({r['format'] for r in rows})} formats")
        for field in FIELDS:
            print(f"  {field:<11} {right[field] / len(rows):7.1%}  missed: {failures[field][:8]}")
        print(f"  refusals    {refused_read}/{refusals}")
    accuracy = {field: right[field] / len(rows) for field in FIELDS}
    assert refused_read == refusals, "every consent refusal must be read as a refusal"
    assert accuracy["references"] >= 0.97
    assert accuracy["verbatim"] >= 0.97
    assert accuracy["status"] >= 0.95


def test_no_consent_is_ever_read_as_yes_when_the_corpus_says_no() -> None:
    for row in load_corpus():
        if row["expected"]["consent"] is False:
            assert parse_message(row["message"]).consent is False, row["id"]
