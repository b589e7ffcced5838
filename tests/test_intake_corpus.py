"""The intake parser against an independent corpus of real-looking messages (survey tools' Slack
posts and emails, forwarded emails, interviewers' notes, one-line summaries, key=value lines),
written by someone else from public documentation: accuracy per field, printed and checked.

Thirteen formats were held out until 2026-12-04: the parser was tuned on the other (DEV) formats
only, and the held-out ones measured whether a fix generalised. Their figures just before they
were opened were references 88.0%, status 88.0%, verbatim 82.0%, refusals 19/21 (DEV: 100%,
95.4%, 99.2%, 53/53). They were then opened to fix what they showed (a missed refusal reads as
"not stated" and a person is asked, but it should not be missed), so they no longer measure
generalisation; both parts now print their misses. The issue's targets are asserted on the
whole corpus."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot.intake.parsing import ParsedVerdict, parse_message

CORPUS = Path(__file__).parent / "data" / "intake_corpus" / "messages.jsonl"
# Written on 2026-12-04 by someone who never read the parser, in 29 formats the corpus above does
# not have. Its figures on first run, before anyone looked at a message: references 79.1%,
# status 85.1%, verbatim 49.3%, refusals 21/26 (two read as yes). The fixes it led to were
# general rules (tool footers, notes to the team, dictated quotes, refusals of one kind of
# contact...); the floors below are its figures after them.
FRESH = CORPUS.with_name("fresh.jsonl")
FIELDS = ("references", "status", "churned_on", "consent", "channel", "score", "verbatim")
# Held out until 2026-12-04 (see the module's docstring); printed apart since.
HELD_OUT = frozenset(
    {
        "apple_mail_forward_fr",
        "bullet_list_fields",
        "customergauge_escalation",
        "gmail_forward_fr",
        "hotjar_survey_relay",
        "interviewer_notes_fr",
        "logfmt_script_line",
        "one_line_semicolon_separated",
        "pipe_separated_summary",
        "quoted_share",
        "slack_email_file",
        "surveymonkey_individual_response",
        "wootric_notify_slack",
    }
)


def load_corpus(path: Path = CORPUS) -> list[dict[str, Any]]:
    """The corpus rows (id, format, lang, message, expected)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def field_ok(field: str, parsed: ParsedVerdict, expected: dict[str, Any]) -> bool:
    """Whether the parser read one field as the corpus expects."""
    if field == "references":
        keys, wanted = [r.key for r in parsed.refs], list(expected["references"])
        # the same references, the primary one (the customer) first
        return set(keys) == set(wanted) and keys[:1] == wanted[:1]
    if field == "verbatim":
        text = parsed.text.casefold()
        return all(p.casefold() in text for p in expected["verbatim_contains"]) and not any(
            p.casefold() in text for p in expected["verbatim_excludes"]
        )
    return bool(getattr(parsed, field) == expected[field])


class _Tally:
    """Right answers per field, the misses' ids, and refusals read, for one part of the corpus."""

    def __init__(self) -> None:
        self.rows = 0
        self.right: Counter[str] = Counter()
        self.missed: dict[str, list[str]] = {field: [] for field in FIELDS}
        self.refusals = self.refusals_read = 0

    def add(self, row: dict[str, Any], parsed: ParsedVerdict) -> None:
        self.rows += 1
        expected = row["expected"]
        for field in FIELDS:
            if field_ok(field, parsed, expected):
                self.right[field] += 1
            else:
                self.missed[field].append(row["id"])
        if expected["consent"] is False:
            self.refusals += 1
            self.refusals_read += parsed.consent is False

    def accuracy(self, field: str) -> float:
        return self.right[field] / self.rows if self.rows else 1.0


def _tallies() -> tuple[_Tally, _Tally, _Tally]:
    dev, held, whole = _Tally(), _Tally(), _Tally()
    for row in load_corpus():
        parsed = parse_message(row["message"])
        (held if row["format"] in HELD_OUT else dev).add(row, parsed)
        whole.add(row, parsed)
    return dev, held, whole


def test_corpus_accuracy_per_field(capsys: pytest.CaptureFixture[str]) -> None:
    rows = load_corpus()
    assert len(rows) >= 150 and len({r["format"] for r in rows}) >= 40
    dev, held, whole = _tallies()
    with capsys.disabled():
        print(f"\nintake corpus: {len(rows)} messages, {len({r['format'] for r in rows})} formats")
        print(f"DEV ({dev.rows} messages)")
        for field in FIELDS:
            print(f"  {field:<11} {dev.accuracy(field):7.1%}  missed: {dev.missed[field]}")
        print(f"  refusals    {dev.refusals_read}/{dev.refusals}")
        print(f"FORMERLY HELD OUT ({held.rows} messages)")
        for field in FIELDS:
            print(f"  {field:<11} {held.accuracy(field):7.1%}  missed: {held.missed[field]}")
        print(f"  refusals    {held.refusals_read}/{held.refusals}")
        print("WHOLE")
        for field in FIELDS:
            print(f"  {field:<11} {whole.accuracy(field):7.1%}")
        print(f"  refusals    {whole.refusals_read}/{whole.refusals}")
    # The targets.
    assert whole.refusals_read == whole.refusals, "every consent refusal must be read as one"
    assert whole.accuracy("references") >= 0.97
    assert whole.accuracy("verbatim") >= 0.97
    assert whole.accuracy("status") >= 0.95


def test_no_corpus_refusal_is_ever_read_as_yes() -> None:
    # A refusal the parser misses must come out "not stated" (the team's `consent.when_unknown`
    # then asks a person to check before any call), never "yes".
    read_as_yes = [
        row["id"]
        for row in load_corpus()
        if row["expected"]["consent"] is False and parse_message(row["message"]).consent is True
    ]
    assert read_as_yes == []


def test_every_dev_refusal_is_read() -> None:
    dev, _, _ = _tallies()
    assert dev.refusals_read == dev.refusals, dev.missed["consent"]


def test_the_fresh_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    rows = load_corpus(FRESH)
    assert len(rows) >= 60 and len({r["format"] for r in rows}) >= 20
    fresh = _Tally()
    read_as_yes = []
    for row in rows:
        parsed = parse_message(row["message"])
        fresh.add(row, parsed)
        if row["expected"]["consent"] is False and parsed.consent is True:
            read_as_yes.append(row["id"])
    with capsys.disabled():
        print(f"\nfresh corpus: {len(rows)} messages, {len({r['format'] for r in rows})} formats")
        for field in FIELDS:
            print(f"  {field:<11} {fresh.accuracy(field):7.1%}  missed: {fresh.missed[field]}")
        print(f"  refusals    {fresh.refusals_read}/{fresh.refusals}")
    assert read_as_yes == []
    assert fresh.refusals_read == fresh.refusals
    assert fresh.accuracy("references") >= 0.95
    assert fresh.accuracy("verbatim") >= 0.95
    assert fresh.accuracy("status") >= 0.89
