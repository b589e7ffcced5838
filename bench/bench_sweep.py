"""Sweep benchmark: how long one sweep takes with many open cases of which a few are due.

    .venv/bin/python bench/bench_sweep.py [--database-url URL] [--scenarios 100000:1000,...]

For each scenario (open cases : due cases) it fills a fresh database (every open case has its
deadline, final warning, reminder and escalation rows; the due cases have one reminder due,
half of them claimed), then measures in the same run:
- the due-rows query alone, as raw SQL (median of 5), the baseline;
- a sweep with nothing due (what every process pays on each pass);
- the full sweep of the due cases: claim, compose, queue the Slack messages, record events
  (median of 5, the due rows reset in between).
The cost must follow the due rows, not the open cases: the (status, due_at) index does that.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, bindparam, delete, insert, text, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.databases import Databases
from bot.cases import reminders
from bot.classification.taxonomy import load_taxonomy
from bot.runtime.clock import ManualClock
from bot.runtime.settings import TeamConfig, normalise_database_url
from storage.db import make_engine, make_sessionmaker
from storage.models import Case, CaseSchedule, Customer, Event, OutboxMessage, UTCDateTime

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CHUNK = 10_000
RAW_SQL = (
    "SELECT id FROM case_schedule"
    " WHERE status = 'pending' AND due_at <= :now"
    " AND (lease_until IS NULL OR lease_until < :now)"
    " ORDER BY due_at, id LIMIT :limit"
)
RAW_DUE_QUERY = text(RAW_SQL).bindparams(bindparam("now", type_=UTCDateTime()))
TEAM = TeamConfig.model_validate(
    {
        "language": "en",
        "timezone": "Europe/Paris",
        "channels": {"intake": "C0INTAKE", "triage": "C0TRIAGE"},
        "managers": ["U0MANAGER"],
        "business_hours": "always",
        "policy": {"deadline": "P2D", "reminders": [0.5], "final_warning": "PT1H"},
    }
)


def fill(engine: Engine, cases: int, due: int) -> None:
    """`cases` open cases with their schedule; the first `due` have a reminder due now."""
    opened = NOW - timedelta(days=1)
    deadline = NOW + timedelta(days=1)
    with engine.begin() as connection:
        for start in range(0, cases, CHUNK):
            ids = range(start + 1, min(cases, start + CHUNK) + 1)
            connection.execute(
                insert(Customer),
                [
                    {
                        "id": i,
                        "ref": f"email:c{i}@example.com",
                        "ref_kind": "email",
                        "status": "former",
                        "created_at": opened,
                    }
                    for i in ids
                ],
            )
            connection.execute(
                insert(Case),
                [
                    {
                        "id": i,
                        "customer_id": i,
                        "status": "claimed" if i % 2 else "open",
                        "owner_id": "U0AGENT" if i % 2 else None,
                        "severity": "medium",
                        "primary_reason": "network_quality",
                        "needs_review": False,
                        "opened_at": opened,
                        "deadline_at": deadline,
                        "slack_channel": "C0TRIAGE",
                        "root_ts": f"1764000000.{i:06d}",
                    }
                    for i in ids
                ],
            )
            rows = []
            for i in ids:
                reminder_at = NOW - timedelta(minutes=1) if i <= due else NOW + timedelta(hours=6)
                for kind, at in (
                    ("deadline", deadline),
                    ("final_warning", deadline - timedelta(hours=1)),
                    ("reminder", reminder_at),
                    ("escalation", NOW + timedelta(hours=3)),
                ):
                    rows.append(
                        {
                            "case_id": i,
                            "kind": kind,
                            "key": f"{kind}@bench",
                            "due_at": at,
                            "status": "pending",
                            "attempts": 0,
                            "data": {"when": "no_action", "notify": ["managers"]}
                            if kind == "escalation"
                            else {},
                            "created_at": opened,
                        }
                    )
            connection.execute(insert(CaseSchedule), rows)
        connection.execute(text("ANALYZE"))


def reset(engine: Engine) -> None:
    """Put the due reminders back, and drop what the sweep queued and recorded."""
    with engine.begin() as connection:
        connection.execute(
            update(CaseSchedule)
            .where(CaseSchedule.kind == "reminder", CaseSchedule.due_at <= NOW)
            .values(status="pending", lease_until=None, lease_owner=None, done_at=None)
        )
        connection.execute(delete(OutboxMessage))
        connection.execute(delete(Event))


def timed(step: Callable[[], object]) -> float:
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def plan_of(engine: Engine) -> str:
    explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    query = text(explain + RAW_SQL).bindparams(bindparam("now", type_=UTCDateTime()))
    with engine.connect() as connection:
        rows = connection.execute(query, {"now": NOW, "limit": 500}).all()
    return " | ".join(str(row[-1]) for row in rows)


def scenario(url: str, cases: int, due: int) -> dict[str, float]:
    """Fill, then time the raw query, an idle sweep and the real sweep."""
    engine = make_engine(url)  # migrated by Databases.fresh
    took = timed(lambda: fill(engine, cases, due))
    print(f"  filled {cases:,} open cases ({cases * 4:,} schedule rows) in {took:.1f} s")
    print(f"  plan: {plan_of(engine)}")
    factory = make_sessionmaker(engine)
    taxonomy = load_taxonomy()

    def raw() -> None:
        with engine.connect() as connection:
            found = connection.execute(RAW_DUE_QUERY, {"now": NOW, "limit": due}).all()
            assert len(found) == due

    raw_times = [timed(raw) for _ in range(5)]
    idle_clock = ManualClock(NOW - timedelta(hours=1))  # nothing due yet
    idle_times = [
        timed(lambda: reminders.sweep(factory, TEAM, idle_clock, taxonomy=taxonomy))
        for _ in range(5)
    ]
    sweep_times = []
    for _ in range(5):
        reset(engine)
        clock = ManualClock(NOW)
        sent: list[int] = []
        sweep_times.append(
            timed(
                lambda clock=clock, sent=sent: sent.append(  # type: ignore[misc]
                    reminders.sweep(
                        factory, TEAM, clock, taxonomy=taxonomy, team_url="https://x.slack.com/"
                    )
                )
            )
        )
        assert sent == [due], sent
    with engine.connect() as connection:
        queued = connection.execute(text("SELECT count(*) FROM outbox")).scalar()
    engine.dispose()
    return {
        "raw": statistics.median(raw_times),
        "idle": statistics.median(idle_times),
        "sweep": statistics.median(sweep_times),
        "queued": float(queued or 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument(
        "--scenarios",
        default="10000:1000,100000:1000,100000:100",
        help="open cases:due cases, comma separated (default 10000:1000,100000:1000,100000:100)",
    )
    args = parser.parse_args()
    base = normalise_database_url(args.database_url) if args.database_url else None
    with tempfile.TemporaryDirectory() as tmp:
        databases = Databases(base, Path(tmp))
        try:
            results = []
            for spec in args.scenarios.split(","):
                cases, due = (int(part) for part in spec.split(":"))
                url = databases.fresh()
                print(f"{cases:,} open cases, {due:,} due ({url.split(':', 1)[0]}):")
                figures = scenario(url, cases, due)
                results.append((cases, due, figures))
                print(
                    f"  raw due-rows query {figures['raw'] * 1000:7.2f} ms | idle sweep"
                    f" {figures['idle'] * 1000:6.2f} ms | sweep {figures['sweep'] * 1000:7.1f} ms"
                    f" ({figures['queued']:.0f} Slack writes queued) | sweep/raw"
                    f" {figures['sweep'] / figures['raw']:.0f}x |"
                    f" {figures['sweep'] / due * 1e6:.0f} µs per due case"
                )
        finally:
            databases.close()
    print("\n| open cases | due | raw query | idle sweep | sweep | sweep / raw | per due case |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for cases, due, f in results:
        print(
            f"| {cases:,} | {due:,} | {f['raw'] * 1000:.2f} ms | {f['idle'] * 1000:.2f} ms"
            f" | {f['sweep'] * 1000:.0f} ms | {f['sweep'] / f['raw']:.0f}x"
            f" | {f['sweep'] / due * 1e6:.0f} µs |"
        )


if __name__ == "__main__":
    main()
