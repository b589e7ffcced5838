"""The write path under the services: batched appends, allocated ids, SQLite's writer queue."""

from __future__ import annotations

import multiprocessing
import threading
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

import storage.cases
import storage.intake
import storage.writes
from storage.db import WriterQueue, make_engine, make_sessionmaker, transaction, yielding_writes
from storage.migrate import upgrade
from storage.models import Case, Customer, Event, OutboxMessage

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _case(session, customer_id: int = 1) -> int:  # type: ignore[no-untyped-def]
    session.add(Customer(id=customer_id, ref=f"email:c{customer_id}@x.com", ref_kind="email",
                         status="former", created_at=NOW))  # fmt: skip
    case = Case(customer_id=customer_id, status="open", severity="medium",
                primary_reason="network_quality", needs_review=False, opened_at=NOW,
                deadline_at=NOW, slack_channel="C0TRIAGE")  # fmt: skip
    session.add(case)
    session.flush()
    return int(case.id)


@pytest.fixture
def factory(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def _kinds(factory) -> list[str]:  # type: ignore[no-untyped-def]
    with factory() as session:
        return [e.kind for e in session.scalars(select(Event).order_by(Event.id))]


def test_appended_rows_are_committed_in_order_and_seen_by_queries_of_their_transaction(
    factory,  # type: ignore[no-untyped-def]
) -> None:
    with transaction(factory) as session:
        case_id = _case(session)
        for kind in ("opened", "classified", "claimed"):
            storage.cases.add_event(session, case_id, kind, "U0AGENT", NOW)
        # A query in the same transaction sees what was appended before it.
        assert [e.kind for e in storage.cases.events_of(session, case_id)] == [
            "opened",
            "classified",
            "claimed",
        ]
        storage.cases.add_event(session, case_id, "released", "U0AGENT", NOW)
    assert _kinds(factory) == ["opened", "classified", "claimed", "released"]


def test_a_collision_in_a_savepoint_loses_none_of_the_rows_appended_before_it(
    factory,  # type: ignore[no-untyped-def]
) -> None:
    with transaction(factory) as session:
        case_id = _case(session)
        storage.cases.add_event(session, case_id, "before", "system", NOW)
        assert storage.intake.insert_inbound(session, "key-1", "message", {}, NOW)
        storage.cases.add_event(session, case_id, "between", "system", NOW)
        assert not storage.intake.insert_inbound(
            session, "key-1", "message", {}, NOW
        )  # rolled back
        storage.cases.add_event(session, case_id, "after", "system", NOW)
    assert _kinds(factory) == ["before", "between", "after"]


def test_a_failed_transaction_writes_none_of_its_appended_rows(
    factory,  # type: ignore[no-untyped-def]
) -> None:
    with transaction(factory) as session:
        case_id = _case(session)
    with pytest.raises(RuntimeError), transaction(factory) as session:
        storage.cases.add_event(session, case_id, "lost", "system", NOW)
        storage.writes.add_outbox(
            session,
            {"kind": "message", "case_id": None, "channel": "U0AGENT", "thread_ts": None,
             "payload": {"text": "x"}, "next_attempt_at": NOW, "created_at": NOW},
        )  # fmt: skip
        raise RuntimeError("the change failed")
    with transaction(factory) as session:  # the same session factory, a new transaction
        storage.cases.add_event(session, case_id, "kept", "system", NOW)
    assert _kinds(factory) == ["kept"]
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_allocated_ids_are_new_and_used_once(factory) -> None:  # type: ignore[no-untyped-def]
    with transaction(factory) as session:
        first = _case(session)
        ids = storage.writes.allocate_ids(session, Case, 3)
        assert ids == sorted(ids) and len(set(ids)) == 3 and first not in ids
        for n, case_id in enumerate(ids, start=2):
            session.add(Customer(id=n, ref=f"email:c{n}@x.com", ref_kind="email",
                                 status="former", created_at=NOW))  # fmt: skip
            session.flush()
            session.add(Case(id=case_id, customer_id=n, status="open", severity="low",
                             primary_reason="price", needs_review=False, opened_at=NOW,
                             deadline_at=NOW, slack_channel="C0TRIAGE"))  # fmt: skip
        session.flush()
        assert storage.writes.allocate_ids(session, Case, 0) == []
    with transaction(factory) as session:
        later = _case(session, customer_id=9)  # the database's own next id still works
        assert later > max(ids)


def _write_events(url: str, case_id: int, label: str, count: int, background: bool = False) -> None:
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    with yielding_writes() if background else nullcontext():
        for n in range(count):
            with transaction(factory) as session:
                storage.cases.add_event(session, case_id, f"{label}-{n}", "system", NOW)
    engine.dispose()


def test_sqlite_writers_of_several_processes_all_get_their_turn(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/writers.db"
    engine = make_engine(url)
    upgrade(engine)
    with transaction(make_sessionmaker(engine)) as session:
        case_id = _case(session)
    engine.dispose()
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_write_events, args=(url, case_id, f"p{n}", 100)) for n in range(3)
    ]
    for worker in workers:
        worker.start()
    _write_events(url, case_id, "main", 100)
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        kinds = [e.kind for e in session.scalars(select(Event).order_by(Event.id))]
    engine.dispose()
    assert len(kinds) == 400
    for label in ("main", "p0", "p1", "p2"):  # each writer's own events, in its order
        assert [k for k in kinds if k.startswith(label + "-")] == [
            f"{label}-{n}" for n in range(100)
        ]


def test_an_ack_waiting_in_another_process_writes_before_a_background_batch_ends(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/writers.db"
    engine = make_engine(url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    with transaction(factory) as session:
        case_id = _case(session)
    batch = multiprocessing.get_context("spawn").Process(
        target=_write_events, args=(url, case_id, "background", 200, True)
    )
    batch.start()
    while not any(k.startswith("background-") for k in _kinds(factory)):
        pass  # the batch holds the write lock again and again from now on
    # This process is busy answering other requests, as a web process under load is: its
    # waiting writer needs the GIL back each time it polls the lock.
    done = threading.Event()

    def answer_requests() -> None:
        while not done.is_set():
            sum(range(1000))

    busy = [threading.Thread(target=answer_requests) for _ in range(4)]
    for thread in busy:
        thread.start()
    with transaction(factory) as session:  # a click's write, waiting behind the batch
        storage.cases.add_event(session, case_id, "ack", "system", NOW)
    done.set()
    for thread in busy:
        thread.join()
    batch.join(60)
    assert batch.exitcode == 0
    kinds = _kinds(factory)
    engine.dispose()
    # The batch let the lock rest between its writes: the ack went in long before its end.
    assert len(kinds) == 201 and kinds.index("ack") < 100


def test_a_writer_that_timed_out_waiting_still_queues_next_time(tmp_path: Path) -> None:
    # Two queues on one file: as two processes are (an flock belongs to its open file).
    path = tmp_path / "t.db-writers"
    other, mine = WriterQueue(path, timeout=0.2), WriterQueue(path, timeout=0.2)
    with other.hold(), pytest.raises(TimeoutError, match=r"waited 0\.2 s"), mine.hold():
        pass
    # Its turn, the file lock taken again: the other one waits now.
    with mine.hold(), pytest.raises(TimeoutError), other.hold():
        pass
