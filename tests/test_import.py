"""File imports: `triage import` and files dropped in the intake channel."""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

import storage.cases
import storage.schedule
from bot.classification.offline import OfflineClassifier
from bot.classification.taxonomy import Taxonomy
from bot.intake import importer
from bot.runtime.app import build_runtime
from storage.db import make_engine, make_sessionmaker
from storage.migrate import upgrade
from storage.models import Case, Classification, OutboxMessage, Verdict
from tests.conftest import ANALYST, INTAKE, Harness, block_text, make_settings, team_config
from tests.support import ROOT, bot_command, bot_env

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
    return bot_env(TRIAGE_CONFIG=str(config), DATABASE_URL=database_url)


def _triage_import(
    tmp_path: Path, database_url: str, *args: str, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """`triage import ARGS` in a process of its own, as a person runs it."""
    return subprocess.run(
        bot_command("import", *args),
        capture_output=True,
        text=True,
        env=_env(tmp_path, database_url),
        cwd=ROOT,
        timeout=timeout,
    )


@pytest.mark.slow  # 10,000 rows imported twice: the size is the point
def test_import_of_10000_rows_with_bad_rows(tmp_path: Path, database_url: str) -> None:
    source = tmp_path / "verdicts.csv"
    expected = _write_csv(source, 10_000)
    result = _triage_import(tmp_path, database_url, str(source), timeout=600)
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

    again = _triage_import(tmp_path, database_url, str(source), timeout=600)
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
    result = _triage_import(tmp_path, database_url, str(source))
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
    result = _triage_import(tmp_path, database_url, str(source))
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
    assert "imported:              2 (1 new case, 1 joined an existing case" in summary
    assert "row 3: email: 'bad@'" in summary
    cards = bot.cards()
    assert len(cards) == 1 and "Verdicts (2)" in block_text(cards[0])


class _DiesInWorkers(OfflineClassifier):
    """The offline classifier, except that its copy in an import worker process kills that
    process at its first verbatim (as the kernel's out-of-memory killer would)."""

    def __init__(self, taxonomy: Taxonomy, parent: int) -> None:
        super().__init__(taxonomy, team_language="en")
        self.parent = parent

    def classify(self, text: str, *, score: int | None = None, scale: str | None = None) -> Any:
        if os.getpid() != self.parent:
            os._exit(3)
        return super().classify(text, score=score, scale=scale)


def _import_in_process(
    tmp_path: Path,
    url: str,
    source: Path,
    workers: int,
    classifier: OfflineClassifier | None = None,
) -> importer.ImportSummary:
    settings = make_settings(tmp_path, url, "http://127.0.0.1:9/api/")
    rt = build_runtime(settings, check_slack=False)
    try:
        return importer.import_rows(
            rt.factory,
            source.name,
            source.read_bytes(),
            classifier or rt.classifier,
            settings.team,
            rt.clock,
            workers=workers,
        )
    finally:
        rt.close()


def _stored(url: str) -> dict[str, Any]:
    """What an import left, independent of ids: each verdict's facts, verdicts grouped by case,
    and how many events, messages and reminders each case got."""
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        verdicts = {
            v.source_key: (v.reason, v.consent, v.text, v.channel, v.score)
            for v in session.scalars(select(Verdict))
        }
        by_case: dict[int, list[str]] = {}
        for key, case_id in session.execute(select(Verdict.source_key, Verdict.case_id)):
            if case_id is not None:
                by_case.setdefault(case_id, []).append(key)
        per_case: dict[tuple[str, ...], tuple[object, ...]] = {}
        for case_id, keys in by_case.items():
            case = session.get(Case, case_id)
            assert case is not None
            per_case[tuple(sorted(keys))] = (
                case.primary_reason,
                case.severity,
                case.needs_review,
                len(storage.cases.events_of(session, case_id)),
                session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.case_id == case_id)
                ),
                len(storage.schedule.schedule_of_case(session, case_id)),
            )
        classifications = session.scalar(select(func.count()).select_from(Classification))
    engine.dispose()
    return {"verdicts": verdicts, "cases": per_case, "classifications": classifications}


@pytest.mark.slow  # 3,000 rows imported twice, with a pool of processes
def test_import_with_worker_processes_stores_what_one_process_stores(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = tmp_path / "verdicts.csv"
    expected = _write_csv(source, 3_000)
    reference_url = f"sqlite:///{tmp_path}/reference.db"
    engine = make_engine(reference_url)
    upgrade(engine)
    engine.dispose()

    alone = _import_in_process(tmp_path, reference_url, source, workers=0)
    with caplog.at_level(logging.WARNING, logger="bot.intake.import_workers"):
        helped = _import_in_process(tmp_path, database_url, source, workers=2)
    assert "import worker" not in caplog.text  # the workers did their share

    assert helped.lines() == alone.lines()
    assert [(n, reason) for n, reason, _ in helped.rejected] == [
        (n, reason) for n, reason, _ in alone.rejected
    ]
    assert len(helped.rejected) == expected["rejected"]
    stored, reference = _stored(database_url), _stored(reference_url)
    assert stored == reference
    assert len(stored["cases"]) == expected["cases"]
    assert stored["classifications"] == 3_000 - expected["rejected"]


def test_import_goes_on_when_a_worker_process_dies(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    source = tmp_path / "verdicts.csv"
    expected = _write_csv(source, 2_000)
    settings = make_settings(tmp_path, database_url, "http://127.0.0.1:9/api/")
    rt = build_runtime(settings, check_slack=False)
    dying = _DiesInWorkers(rt.classifier.taxonomy, os.getpid())
    rt.close()

    with caplog.at_level(logging.WARNING, logger="bot.intake.import_workers"):
        summary = _import_in_process(tmp_path, database_url, source, workers=1, classifier=dying)

    assert "an import worker failed" in caplog.text  # the operator learns why it was slower
    assert summary.rows == 2_000 and len(summary.rejected) == expected["rejected"]
    assert summary.imported == 2_000 - expected["rejected"] and summary.duplicates == 0
    stored = _stored(database_url)
    assert len(stored["verdicts"]) == 2_000 - expected["rejected"]  # every row, once
    assert len(stored["cases"]) == expected["cases"]


def test_a_bad_number_of_jobs_is_refused_and_nothing_imported(
    tmp_path: Path, database_url: str
) -> None:
    source = tmp_path / "verdicts.csv"
    _write_csv(source, 10)
    result = _triage_import(tmp_path, database_url, str(source), "--jobs", "many")
    assert result.returncode == 2
    assert "--jobs: 'many' is not a number of processes from 0 to 32" in result.stderr
    assert "Traceback" not in result.stderr
    engine = make_engine(database_url)
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(func.count()).select_from(Verdict)) == 0
    engine.dispose()


def test_summary_agrees_in_number_and_names_every_problem_of_a_row(
    tmp_path: Path, database_url: str
) -> None:
    source = tmp_path / "survey.csv"
    source.write_text(
        "email,comment,score,consent,channel\n"
        "ana@example.com,The bill doubled,3,yes,web\n"
        "bad@,,12,maybe,fax\n",
        encoding="utf-8",
    )
    result = _triage_import(tmp_path, database_url, str(source))
    assert result.returncode == 0, result.stderr
    assert "imported:              1 (1 new case, 0 joined existing cases, 0 without" in (
        result.stdout
    )
    problems = [
        "text: empty (the verbatim is required)",
        "email: 'bad@' is not a customer reference (email, phone or account id)",
        "score: '12' is not a score from 0 to 10",
        "consent: 'maybe' is not yes or no",
        "channel: 'fax' is not web, phone, email or chat",
    ]
    assert f"  row 3: {'; '.join(problems)}\n" in result.stdout
    [header, row] = list(csv.reader((tmp_path / "survey.rejected.csv").open(encoding="utf-8")))
    assert header[:2] == ["row", "reason"] and row[:2] == ["3", "; ".join(problems)]


def test_summary_in_french_agrees_in_number() -> None:
    summary = importer.ImportSummary(rows=4, opened=1, joined=2, no_consent=1)
    lines = summary.lines("fr")
    assert lines[0] == "lignes lues :          4"
    assert lines[1] == (
        "importées :            4 (1 nouveau dossier, 2 rattachées à des dossiers existants, "
        "1 sans consentement, gardée pour les statistiques)"
    )
    english = importer.ImportSummary(rows=2, opened=2, joined=1).lines("en")[1]
    assert english.endswith(
        "(2 new cases, 1 joined an existing case, 0 without consent, kept for statistics)"
    )
