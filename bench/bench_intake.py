"""Intake benchmark: bulk import throughput and webhook throughput on loopback.

    .venv/bin/python bench/bench_intake.py [--rows 20000] [--database-url URL]

Prints verdicts per second for `triage import`'s code path (parse, classify offline, resolve the
customer, open or join the case, queue the card), in one process and with the worker processes
`triage import` starts by default, beside a baseline measured in the same run: plain SQLAlchemy
Core inserts of the same rows into a table of the same shape. Then the webhook:
signed HTTP requests from concurrent clients on loopback, batches and single verdicts.
"""

from __future__ import annotations

import argparse
import csv
import io
import secrets
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

if TYPE_CHECKING:
    from bench.databases import Databases
    from bot.intake.importer import ImportSummary

# The project's modules are imported inside the functions: the import's worker processes load
# this file again (multiprocessing starts them so), and should start as fast as under
# `triage import`, whose entry module is small.

TEXTS = [
    "Ma facture a doublé sans prévenir, je résilie à la fin de mon engagement.",
    "No signal at home for weeks, the network is useless and support never calls back.",
    "Le SAV a gardé mon téléphone trois fois en six mois, j'ai fini par partir.",
    "Customer service kept changing the procedure, nobody could solve my problem.",
    "A competitor offered me the same plan for half the price, so I switched.",
    "Je déménage à l'étranger, rien à voir avec vous.",
    "The termination fees and the 24-month commitment are abusive.",
    "Internet coupé tous les soirs depuis un mois, débit ridicule.",
]


def make_csv(rows: int) -> bytes:
    """Realistic rows: 70% distinct customers, some repeat (joins), 10% without consent."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "email", "text", "score", "consent", "channel", "source"])
    for i in range(rows):
        writer.writerow(
            [
                f"r{i}",
                f"c{i % int(rows * 0.7)}@example.com",
                f"{TEXTS[i % len(TEXTS)]} (#{i})",
                i % 11,
                "no" if i % 10 == 9 else "yes",
                "web",
                "Institut Opinia",
            ]
        )
    return out.getvalue().encode()


def config(tmp: Path) -> Path:
    import yaml

    path = tmp / "triage.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "language": "en",
                "timezone": "Europe/Paris",
                "channels": {"intake": "C0INTAKE", "triage": "C0TRIAGE"},
                "business_hours": "always",
            }
        )
    )
    return path


def baseline(url: str, data: bytes) -> float:
    """Rows per second of plain Core inserts of the same rows (no parsing, rules or classifier)."""
    from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, Text, insert

    from bot.intake import importer
    from bot.runtime.clock import SystemClock
    from storage.db import make_engine

    engine = make_engine(url)
    meta = MetaData()
    table = Table(
        "bench_baseline",
        meta,
        Column("id", Integer, primary_key=True),
        Column("source_key", String(255), unique=True),
        Column("email", String(255)),
        Column("text", Text),
        Column("score", Integer),
        Column("consent", String(8)),
        Column("extra", JSON),
        Column("received_at", DateTime(timezone=True)),
    )
    meta.drop_all(engine)
    meta.create_all(engine)
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    now = SystemClock().now()
    start = time.perf_counter()
    with engine.begin() as connection:
        for chunk in range(0, len(rows), importer.CHUNK):
            connection.execute(
                insert(table),
                [
                    {
                        "source_key": r["id"],
                        "email": r["email"],
                        "text": r["text"],
                        "score": int(r["score"]),
                        "consent": r["consent"],
                        "extra": {"channel": r["channel"]},
                        "received_at": now,
                    }
                    for r in rows[chunk : chunk + importer.CHUNK]
                ],
            )
    elapsed = time.perf_counter() - start
    meta.drop_all(engine)
    engine.dispose()
    return len(rows) / elapsed


def bench_import(url: str, cfg: Path, data: bytes, workers: int = 0) -> tuple[float, ImportSummary]:
    from bot.intake import importer
    from bot.runtime.app import build_runtime
    from bot.runtime.settings import load_settings

    settings = load_settings(
        {"DATABASE_URL": url, "TRIAGE_CONFIG": str(cfg), "SLACK_BOT_TOKEN": "xoxb-bench"}
    )
    rt = build_runtime(settings, check_slack=False)
    start = time.perf_counter()
    summary = importer.import_rows(
        rt.factory, "bench.csv", data, rt.classifier, settings.team, rt.clock, workers=workers
    )
    elapsed = time.perf_counter() - start
    rt.close()
    return summary.rows / elapsed, summary


def bench_webhook(url: str, cfg: Path, requests: int, batch: int, clients: int) -> float:
    from bot.runtime.app import build_runtime, create_bolt_app
    from bot.runtime.server import LocalServer
    from bot.runtime.settings import load_settings
    from bot.sandbox.emulator import SlackEmulator
    from bot.sandbox.signing import send_webhook
    from handlers.web import create_wsgi_app

    secret = secrets.token_hex(8)
    with SlackEmulator(token="xoxb-bench") as emulator:
        emulator.add_channel("C0INTAKE", "intake")
        emulator.add_channel("C0TRIAGE", "triage")
        settings = load_settings(
            {
                "DATABASE_URL": url,
                "TRIAGE_CONFIG": str(cfg),
                "SLACK_BOT_TOKEN": "xoxb-bench",
                "SLACK_SIGNING_SECRET": "x",
                "SLACK_API_URL": emulator.api_url,
                "WEBHOOK_SECRET": secret,
            }
        )
        rt = build_runtime(settings)
        # The worker stays off: this measures intake (the ack path), not Slack delivery.
        server = LocalServer(create_wsgi_app(create_bolt_app(rt), rt)).start()
        endpoint = server.url + "/webhooks/verdicts"

        def send(n: int) -> int:
            verdicts = [
                {
                    "id": f"w{n}-{k}",
                    "text": f"{TEXTS[(n + k) % len(TEXTS)]} ({n}-{k})",
                    "customer": f"ACC-{(n * batch + k) % 5000:05d}",
                    "consent": True,
                }
                for k in range(batch)
            ]
            body = {"verdicts": verdicts} if batch > 1 else verdicts[0]
            return send_webhook(endpoint, body, secret, timeout=60).status

        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            statuses = list(pool.map(send, range(requests)))
        elapsed = time.perf_counter() - start
        server.stop()
        rt.close()
    assert all(s == 202 for s in statuses), statuses[:5]
    return requests * batch / elapsed


def main() -> None:
    from bench.databases import Databases
    from bot.runtime.settings import normalise_database_url

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        databases = Databases(
            normalise_database_url(args.database_url) if args.database_url else None, Path(tmp)
        )
        try:
            run(databases, Path(tmp), args.rows)
        finally:
            databases.close()


def run(databases: Databases, tmp: Path, rows: int) -> None:
    from bot.intake.importer import default_workers

    cfg = config(tmp)
    data = make_csv(rows)
    workers = default_workers()
    base = baseline(databases.fresh(), data)
    alone, summary = bench_import(databases.fresh(), cfg, data, workers=0)
    helped, _ = bench_import(databases.fresh(), cfg, data, workers=workers)
    kind = "postgresql" if databases.base else "sqlite"
    print(f"database: {kind}   rows: {rows}")
    print(f"baseline  plain Core inserts of the same rows: {base:10,.0f} rows/s")
    print(
        f"import    `triage import --jobs 0` (one process): {alone:7,.0f} verdicts/s   "
        f"(ratio {base / alone:.1f}x slower than the baseline)"
    )
    print(
        f"import    `triage import` ({workers} worker process(es)): {helped:6,.0f} verdicts/s   "
        f"(ratio {base / helped:.1f}x slower than the baseline, {helped / alone:.2f}x one process)"
    )
    print(
        f"          {summary.opened} cases opened, {summary.joined} joined, {summary.no_consent} without consent"
    )
    for requests, batch, clients in ((400, 1, 8), (40, 100, 4)):
        wrate = bench_webhook(databases.fresh(), cfg, requests, batch, clients)
        print(
            f"webhook   {requests} requests x {batch} verdict(s), {clients} clients: {wrate:10,.0f} verdicts/s"
        )


if __name__ == "__main__":
    main()
