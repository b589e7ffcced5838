"""Prometheus metrics: counted where each thing happens, exposed at `GET /metrics`.

Under gunicorn every worker is a process: `triage serve` points PROMETHEUS_MULTIPROC_DIR at a
fresh directory before prometheus_client is imported, so a scrape of any worker adds up all of
them (prometheus_client's multiprocess mode). `triage worker` serves its own counters on
`--metrics-port`. Queue depth and age are read from the database at scrape time, once, by the
web process: they are facts of the shared queue, not of one process.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

import storage.connectors
import storage.outbox

PREFIX = "triage_"

VERDICTS = Counter(
    PREFIX + "verdicts_ingested", "Verdicts stored, by source and outcome", ["source", "outcome"]
)
CLASSIFICATIONS = Counter(
    PREFIX + "classifications",
    "Classifier results, by backend and outcome (ok, cached, or the failure's kind)",
    ["backend", "outcome"],
)
LLM_SECONDS = Histogram(
    PREFIX + "llm_request_seconds",
    "LLM call latency (the SDK's retries included)",
    ["model"],
    buckets=(0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
LLM_TOKENS = Counter(PREFIX + "llm_tokens", "LLM tokens used", ["model", "kind"])
LLM_COST = Counter(
    PREFIX + "llm_cost_usd", "LLM cost in US dollars (classification.prices)", ["model"]
)
SLACK_CALLS = Counter(
    PREFIX + "slack_api_calls",
    "Slack Web API calls by method and error (`ok` when it succeeded)",
    ["method", "error"],
)
SLACK_SECONDS = Histogram(
    PREFIX + "slack_api_seconds",
    "Slack Web API call latency",
    ["method"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
OUTBOX = Counter(
    PREFIX + "outbox_deliveries",
    "Outbox delivery attempts by kind and outcome (sent, retry, dead, paced)",
    ["kind", "outcome"],
)
REMINDERS = Counter(
    PREFIX + "reminders_sent", "Reminders, final warnings and overdue notices sent", ["kind"]
)
ESCALATIONS = Counter(PREFIX + "escalations", "Escalations to managers, by trigger", ["trigger"])
EXPIRED = Counter(
    PREFIX + "cases_expired", "Cases closed at their deadline, by outcome", ["outcome"]
)
ACK_SECONDS = Histogram(
    PREFIX + "ack_seconds",
    "Time from receiving a Slack request or webhook to answering it",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5),
)
ERASURES = Counter(PREFIX + "erasures", "Customers forgotten and verdicts purged", ["kind"])


class QueueCollector(Collector):
    """The outbox's depth and the claims waiting to be applied, each with the age of its oldest
    row, read at scrape time."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    def collect(self) -> Iterator[Metric]:
        with self.factory() as session:
            queues = (
                (
                    "outbox_depth",
                    "outbox",
                    "Slack writes",
                    storage.outbox.outbox_depth_and_oldest(session),
                ),
                (
                    "claims_waiting",
                    "claims",
                    "recorded clicks on Claim",
                    storage.outbox.claims_waiting_and_oldest(session),
                ),
            )
            set_aside = storage.connectors.set_aside_count(session)
        now = datetime.now(UTC)
        for count_name, prefix, what, (count, oldest) in queues:
            age = (now - oldest).total_seconds() if oldest is not None else 0.0
            yield GaugeMetricFamily(PREFIX + count_name, f"{what} waiting", value=count)
            yield GaugeMetricFamily(
                f"{PREFIX}{prefix}_oldest_age_seconds",
                f"Age of the oldest of the {what} waiting (0 when none)",
                value=max(0.0, age),
            )
        yield GaugeMetricFamily(
            PREFIX + "connector_fetches_set_aside",
            "Survey responses the bot gave up fetching (401/403/404 or out of attempts)",
            value=set_aside,
        )


def multiprocess() -> bool:
    """Whether counters are shared through PROMETHEUS_MULTIPROC_DIR (gunicorn workers)."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def exposition(factory: sessionmaker[Session] | None) -> tuple[bytes, str]:
    """The text a scrape gets: every process's counters, plus the queue read from the database."""
    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    if factory is not None:
        queue = CollectorRegistry(auto_describe=False)
        queue.register(QueueCollector(factory))
        # The database down: the counters are still worth a scrape.
        with contextlib.suppress(Exception):
            body += generate_latest(queue)
    return body, CONTENT_TYPE_LATEST


class Timer:
    """`with Timer() as t: ...; t.seconds`: a monotonic stopwatch for histograms."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def count_notice(kind: str, data: dict[str, object]) -> None:
    """Count what a reminder sweep said about a case, from the event it records."""
    if kind == "reminder_sent":
        REMINDERS.labels("reminder").inc()
    elif kind == "final_warning":
        REMINDERS.labels("final_warning").inc()
    elif kind == "escalated":
        reasons = data.get("reasons")
        for reason in reasons if isinstance(reasons, list) else ["manual"]:
            ESCALATIONS.labels(str(reason)).inc()
    elif kind == "expired":
        EXPIRED.labels(str(data.get("outcome", "unknown"))).inc()
