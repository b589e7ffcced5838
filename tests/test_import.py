"""File imports: `triage import` and files dropped in the intake channel."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from sqlalchemy import func, select

from storage.db import make_engine, make_sessionmaker
from storage.models import Case, Verdict
from tests.conftest import ANALYST, INTAKE, Harness, block_text, team_config

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [
    "Ma facture a doublé sans prévenir, je résilie.",
    "No signal at home for weeks, the network is useless.",
    "Le SAV a gardé mon téléphone trois fois.",
    "Customer service never called me back.",
]


def _write_csv(path: Path, rows: int) -> dict[str, int]:
    """A CSV with known bad rows; returns what the summary must say."""
    expected = {"rejected": 0, "no_consent": 0}
    consenting: set[str] = set()
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["Identifiant", "E-mail", "Verbatim", "NPS", "Consentement", "Canal"])
        for i in range(rows):
            if i % 1000 == 1:
                writer.writerow([f"r{i}", "not-an-email@", TEXTS[0], "3", "oui", "web"])
                expected["rejected"] += 1
            elif i % 1000 == 2:
                writer.writerow([f"r{i}", f"c{i}@example.com", "", "3", "oui", "web"])
                expected["rejected"] += 1
            elif i % 1000 == 3:
                writer.writerow([f"r{i}", f"c{i}@example.com", TEXTS[1], "12", "oui", "fax"])
                expected["rejected"] += 1
            else:
                consent = "non" if i % 10 == 9 else "oui"
                expected["no_consent"] += consent == "non"
                if consent == "oui":
                    consenting.add(f"c{i % 6000}")
                writer.writerow(
                    [
                        f"r{i}",
                        f"c{i % 6000}@example.com",
                        f"{TEXTS[i % 4]} ({i})",
                        str(i % 11),
                        consent,
                        "web",
                    ]
                )
    expected["cases"] = len(consenting)  # one case per customer who agreed at least once
    return expected


def _env(tmp_path: Path, database_url: str) -> dict[str, str]:
    config = tmp_path / "triage.yaml"
    config.write_text(yaml.safe_dump(team_config()), encoding="utf-8")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "TRIAGE_", "DATABASE_"))
    }
    env.update(TRIAGE_CONFIG=str(config), DATABASE_URL=database_url)
    return env


def test_import_of_10000_rows_with_bad_rows(tmp_path: Path, database_url: str) -> None:
    source = tmp_path / "verdicts.csv"
    expected = _write_csv(source, 10_000)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "import", str(source)],
        capture_output=True,
        text=True,
        env=_env(tmp_path, database_url),
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "rows read:             10000" in out
    assert f"rejected:              {expected['rejected']}" in out
    assert f"{expected['no_consent']} without consent" in out
    assert "row 3: email: 'not-an-email@' is not a customer reference" in out  # row 1 is the header
    assert "row 4: text: empty" in out
    assert "row 5: score: '12' is not a score from 0 to 10" in out
    rejected = list(csv.reader((tmp_path / "verdicts.rejected.csv").open(encoding="utf-8")))
    assert rejected[0][:2] == ["row", "reason"]
    assert len(rejected) - 1 == expected["rejected"]
    assert rejected[1][0] == "3" and "not-an-email@" in rejected[1]

    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as session:
        stored = session.scalar(select(func.count()).select_from(Verdict))
        cases = session.scalar(select(func.count()).select_from(Case))
    engine.dispose()
    assert stored == 10_000 - expected["rejected"]
    assert cases == expected["cases"]

    again = subprocess.run(
        [sys.executable, "-m", "bot", "import", str(source)],
        capture_output=True,
        text=True,
        env=_env(tmp_path, database_url),
        cwd=ROOT,
        timeout=600,
    )
    assert f"duplicates skipped:    {10_000 - expected['rejected']}" in again.stdout


def test_jsonl_import_reports_bad_lines(tmp_path: Path, database_url: str) -> None:
    source = tmp_path / "verdicts.jsonl"
    lines = [
        json.dumps({"text": "Bill too high", "customer": "ACC-1", "consent": "yes"}),
        "{broken",
        json.dumps(["not", "an", "object"]),
        json.dumps({"comment": "Réseau absent", "phone": "06 11 22 33 44", "consent": True}),
    ]
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "import", str(source)],
        capture_output=True,
        text=True,
        env=_env(tmp_path, database_url),
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "imported:              2 (2 new cases" in result.stdout
    assert "row 2: invalid JSON" in result.stdout
    assert "row 3: each line must be a JSON object" in result.stdout
    rejected = [
        json.loads(x) for x in (tmp_path / "verdicts.rejected.jsonl").read_text().splitlines()
    ]
    assert [r["row"] for r in rejected] == [2, 3]


def test_file_without_a_verbatim_column_is_refused(tmp_path: Path, database_url: str) -> None:
    source = tmp_path / "wrong.csv"
    source.write_text("name,age\nbob,3\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bot", "import", str(source)],
        capture_output=True,
        text=True,
        env=_env(tmp_path, database_url),
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 2
    assert "no verbatim column" in result.stderr and "Traceback" not in result.stderr


def test_file_dropped_in_the_intake_channel_is_imported_with_a_summary(bot: Harness) -> None:
    content = "email,comment,consent\nana@example.com,The bill doubled,yes\nbad@,Network down,yes\nana@example.com,Still doubled,yes\n"
    event = bot.emulator.post_as_user(
        INTAKE, ANALYST, "", files=[{"name": "survey.csv", "content": content}]
    )
    assert bot.sender.send_event(event).status == 200
    assert bot.sender.send_event(event, event_id=None).status == 200  # redelivered: nothing doubled
    bot.wait_idle()
    replies = bot.emulator.thread(INTAKE, event["ts"])
    summary = "\n".join(r["text"] for r in replies)
    assert "Imported `survey.csv`" in summary
    assert "imported:              2 (1 new cases, 1 joined existing cases" in summary
    assert "row 3: email: 'bad@'" in summary
    cards = bot.cards()
    assert len(cards) == 1 and "Verdicts (2)" in block_text(cards[0])
