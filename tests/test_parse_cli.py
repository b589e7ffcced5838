"""`triage parse -` and `triage parse --explain`, run as a person runs them."""

from __future__ import annotations

import json
import subprocess
import sys

COMMAND = [sys.executable, "-m", "bot.runtime.cli", "parse"]


def test_parse_reads_one_message_a_line_and_writes_json_lines() -> None:
    lines = [
        "Client : compte 12345678\\nRecontact autorisé : non\\nLe réseau coupe tous les soirs.",
        json.dumps(
            {"text": "Account: ACC-40917 | Status: former | Consent: yes | Verbatim: too slow"}
        ),
    ]
    done = subprocess.run(
        [*COMMAND, "-"], input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["references"] == ["account:12345678"] and first["consent"] is False
    assert first["verbatim"] == "Le réseau coupe tous les soirs."
    assert second["references"] == ["account:ACC-40917"] and second["status"] == "former"
    assert second["consent"] is True and second["verbatim"] == "too slow"
    assert set(first) >= {"channel", "source", "score", "churned_on", "not_understood"}


def test_parse_explain_says_what_was_read_for_a_person() -> None:
    text = (
        "Permission to call back: No\nCustomer number: 40917\nFavourite colour: blue\nBad service"
    )
    done = subprocess.run([*COMMAND, "--explain", text], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "NO (refused)" in done.stdout and "account:40917" in done.stdout
    assert "Favourite colour: blue" in done.stdout  # a line it did not understand
    assert "| Bad service" in done.stdout


def test_parse_refuses_a_bad_vocabulary_file_in_one_line(tmp_path: object) -> None:
    done = subprocess.run(
        [*COMMAND, "--vocabulary", "/nonexistent/fields.yaml", "--explain", "x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "vocabulary file not found" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
