"""`/triage stats 90d` over 1,000,000 verdicts and 200,000 cases.

    .venv/bin/python bench/bench_stats.py [--verdicts 1000000] [--cases 200000] [--database-url URL]

Seeds a fresh database (SQLite file by default, or a new schema in the given PostgreSQL
database, dropped afterwards), then times the whole stats answer (every figure, computed in SQL,
and its rendering) beside a baseline measured in the same run: one raw SQL count of the
verdicts in the same 90 days, the least any "verdicts by reason" figure must read.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_intake import config
from bench.databases import Databases
from bot.cases import triage_command as commands
from bot.classification.taxonomy import load_taxonomy
from bot.runtime.settings import load_team_config, normalise_database_url
from storage.db import make_engine, make_sessionmaker
from storage.models import Case, ContactAttempt, Customer, Verdict

REASONS = [
    "after_sales_repairs",
    "customer_service",
    "price_billing",
    "network_quality",
    "competitor_offer",
    "contract_commitment",
    "moving_personal",
    "other",
]


def seed(url: str, n_verdicts: int, n_cases: int, now: datetime) -> None:
    """Customers, cases over 180 days, verdicts spread over their cases, some contact attempts."""
    rng = random.Random(7)
    engine = make_engine(url)
    batch = 20_000
    with engine.begin() as connection:
        for start in range(0, n_cases, batch):
            ids = range(start + 1, min(n_cases, start + batch) + 1)
            connection.execute(
                insert(Customer),
                [
                    {
                        "id": i,
                        "ref": f"account:C{i:07d}",
                        "ref_kind": "account",
                        "status": "former",
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
            rows = []
            for i in ids:
                opened = now - timedelta(seconds=rng.randrange(180 * 86400))
                state = rng.choice(["open", "claimed", "resolved", "resolved", "expired"])
                closed = (
                    opened + timedelta(hours=rng.randrange(1, 96))
                    if state in ("resolved", "expired")
                    else None
                )
                rows.append(
                    {
                        "id": i,
                        "customer_id": i,
                        "status": state,
                        "severity": "medium",
                        "primary_reason": rng.choice(REASONS),
                        "needs_review": False,
                        "owner_id": None if state == "open" else f"U{rng.randrange(40):04d}",
                        "opened_at": opened,
                        "claimed_at": None
                        if state == "open"
                        else opened + timedelta(minutes=rng.randrange(5, 600)),
                        "deadline_at": opened + timedelta(days=2),
                        "closed_at": closed,
                        "outcome": "expired_without_action"
                        if state == "expired"
                        else ("problem_fixed" if closed else None),
                        "slack_channel": "C0TRIAGE",
                        "root_ts": f"{1700000000 + i}.000100",
                    }
                )
            connection.execute(insert(Case), rows)
        per_case = max(1, n_verdicts // n_cases)
        for start in range(0, n_verdicts, batch):
            rows = []
            for v in range(start, min(n_verdicts, start + batch)):
                case_id = v // per_case % n_cases + 1
                rows.append(
                    {
                        "id": v + 1,
                        "source_key": f"bench:{v}",
                        "source": "import",
                        "customer_id": case_id,
                        "case_id": case_id,
                        "channel": "web",
                        "score": v % 11,
                        "text": "bench",
                        "consent": v % 10 != 0,
                        "received_at": now - timedelta(seconds=rng.randrange(180 * 86400)),
                        "reason": REASONS[v % len(REASONS)],
                    }
                )
            connection.execute(insert(Verdict), rows)
        for start in range(0, n_cases // 2, batch):
            rows = [
                {
                    "case_id": i,
                    "customer_id": i,
                    "actor": "U0001",
                    "channel": "phone",
                    "outcome": "no_answer",
                    "attempted_at": now - timedelta(seconds=rng.randrange(170 * 86400)),
                    "outside_hours": False,
                    "created_at": now,
                }
                for i in range(start + 1, min(n_cases // 2, start + batch) + 1)
            ]
            connection.execute(insert(ContactAttempt), rows)
        # What the bot keeps as it goes: the daily counts and each case's first contact.
        day = "date(received_at)" if url.startswith("sqlite") else "CAST(received_at AS DATE)"
        connection.execute(
            text(
                f"INSERT INTO verdict_counts (day, reason, consent, n) SELECT {day}, reason, consent, "
                f"count(*) FROM verdicts GROUP BY {day}, reason, consent"
            )
        )
        connection.execute(
            text(
                "UPDATE cases SET first_contact_at = (SELECT min(attempted_at) FROM contact_attempts a "
                "WHERE a.case_id = cases.id)"
            )
        )
        connection.execute(text("ANALYZE"))
    engine.dispose()


def time_it(fn: Callable[[], object], runs: int = 5) -> tuple[float, float]:
    """Best and median seconds over a few runs (the first warms the caches)."""
    fn()
    spent = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        spent.append(time.perf_counter() - start)
    return min(spent), statistics.median(spent)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--verdicts", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        databases = Databases(
            normalise_database_url(args.database_url) if args.database_url else None, Path(tmp)
        )
        try:
            url = databases.fresh()
            started = time.perf_counter()
            seed(url, args.verdicts, args.cases, now)
            print(
                f"seeded {args.verdicts:,} verdicts and {args.cases:,} cases in {time.perf_counter() - started:.0f} s"
            )
            team = load_team_config(config(Path(tmp)))
            taxonomy = load_taxonomy()
            engine = make_engine(url)
            factory = make_sessionmaker(engine)
            since = now - timedelta(days=90)

            def stats() -> None:
                with factory() as session:
                    commands.stats(session, timedelta(days=90), team, taxonomy, now)

            def baseline() -> None:
                with engine.connect() as connection:
                    connection.execute(
                        text("SELECT count(*) FROM verdicts WHERE received_at >= :since"),
                        {
                            "since": since.replace(tzinfo=None)
                            if url.startswith("sqlite")
                            else since
                        },
                    ).scalar()

            base_best, base_median = time_it(baseline)
            best, median = time_it(stats)
            kind = "postgresql" if databases.base else "sqlite"
            print(f"database: {kind}")
            print(
                f"baseline  raw count of 90 days of verdicts: best {base_best * 1000:7.1f} ms  median {base_median * 1000:7.1f} ms"
            )
            print(
                f"stats 90d every figure + rendering:         best {best * 1000:7.1f} ms  median {median * 1000:7.1f} ms"
                f"   ({median / base_median:.1f}x the baseline)"
            )
            engine.dispose()
        finally:
            databases.close()


if __name__ == "__main__":
    main()
