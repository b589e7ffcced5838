"""Engine and sessions: SQLite (WAL, foreign keys) by default, PostgreSQL through DATABASE_URL."""

from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, *, ping_after: float | None = None, **kwargs: Any) -> Engine:
    """Create an engine; on SQLite, turn on WAL, foreign keys and a busy timeout; on PostgreSQL,
    check pooled connections idle for `ping_after` seconds (default 30) before use."""
    if url.startswith("sqlite"):
        database = url.split("///", 1)[-1] if "///" in url else ""
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            hide_parameters=True,  # errors must not carry verbatims into the logs
            **kwargs,
        )

        if database and database != ":memory:":
            _WRITERS[engine] = WriterQueue(Path(database + "-writers"))

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    # hide_parameters: an error's message must not carry a verbatim into the logs; the connect
    # timeout makes an unreachable database an error in seconds (readiness, Slack's acks).
    kwargs.setdefault("connect_args", {"connect_timeout": 5})
    engine = create_engine(url, hide_parameters=True, **kwargs)
    _ping_when_idle(engine, IDLE_PING_SECONDS if ping_after is None else ping_after)
    return engine


IDLE_PING_SECONDS = 30.0


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Check a pooled connection before use when it sat idle for `idle_seconds`.

    SQLAlchemy's pool_pre_ping checks every checkout: a round trip on each request, which an
    ack under load pays for. A connection in steady use is checked by its use: if the server
    went away meanwhile, that one statement fails, SQLAlchemy renews the whole pool, and the
    work is retried (the worker's next pass, Slack's person clicking again, the webhook's
    sender). A connection left idle, the usual victim of a restart or a firewall's timeout,
    is checked first and silently replaced."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
            dbapi_connection.rollback()  # the ping must not leave a transaction open
        except Exception as exc:
            raise DisconnectionError(f"pooled connection is dead: {exc}") from exc


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects readable after commit, and write the daily verdict
    counts and the queued appends (storage/appends.py) just before it commits."""
    from storage import appends
    from storage.stats import flush_count_deltas

    factory = sessionmaker(engine, expire_on_commit=False)
    appends.install(factory)

    @event.listens_for(factory, "before_commit")
    def _counts(session: Session) -> None:
        session.flush()  # the queued rows may refer to objects not inserted yet
        flush_count_deltas(session)
        appends.write_pending(session)

    return factory


class WriterQueue:
    """Lets one write transaction at a time at a SQLite file: a lock between the threads of a
    process and an `flock` on a file beside the database between processes.

    SQLite's own busy handler makes a waiting writer sleep, up to 100 ms a try, while others
    keep taking the lock: under a burst of clicks a few waited a second. Here a waiter wakes
    within a millisecond of the lock being free. SQLite's lock stays the guarantee; this is
    only the queue in front of it.
    """

    POLL_SECONDS = 0.0005
    TIMEOUT_SECONDS = 30.0
    # Background writes leave the lock free this long after the last write of their process:
    # a waiter in another process polls, then needs its own process's GIL (up to 5 ms busy).
    YIELD_SECONDS = 0.005

    def __init__(self, path: Path, timeout: float = TIMEOUT_SECONDS) -> None:
        self._path = path
        self._timeout = timeout
        self._lock = threading.RLock()
        self._depth = 0
        self._fd: int | None = None
        self._pid = 0
        self._released_at = 0.0
        self._owner = 0  # the thread holding the lock: a nested hold in it does not wait

    @contextmanager
    def hold(self) -> Iterator[None]:
        """Wait for this process's turn, then every other process's; re-entrant in a thread.
        Inside `yielding_writes()`, first let the lock rest for YIELD_SECONDS after its last use."""
        if getattr(_yielding, "on", False) and self._owner != threading.get_ident():
            rested = time.monotonic() - self._released_at
            if rested < self.YIELD_SECONDS:
                time.sleep(self.YIELD_SECONDS - rested)
        if not self._lock.acquire(timeout=self._timeout):
            raise TimeoutError(f"waited {self._timeout:g} s for the SQLite write lock")
        try:
            if self._depth == 0:
                self._lock_file()  # raises after the timeout, the depth left as it was
                self._owner = threading.get_ident()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._owner = 0
                    if self._fd is not None:
                        fcntl.flock(self._fd, fcntl.LOCK_UN)
                    self._released_at = time.monotonic()
        finally:
            self._lock.release()

    def _lock_file(self) -> None:
        if self._fd is None or self._pid != os.getpid():  # a forked child needs its own file
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"waited {self._timeout:g} s for the SQLite write lock"
                    ) from None
                time.sleep(self.POLL_SECONDS)


_WRITERS: weakref.WeakKeyDictionary[Engine, WriterQueue] = weakref.WeakKeyDictionary()
_yielding = threading.local()


@contextmanager
def yielding_writes() -> Iterator[None]:
    """Mark this thread's writes in the block as background work. On SQLite (one writer at a
    time), each then waits until the write lock has rested a moment, so that a click's ack
    waiting in another process gets its turn: waiters there poll, and a thread taking the lock
    back at once would win every time, for as long as its batch lasts."""
    previous = getattr(_yielding, "on", False)
    _yielding.on = True
    try:
        yield
    finally:
        _yielding.on = previous


def _engine(factory: sessionmaker[Session]) -> Engine:
    bind = factory.kw["bind"]
    assert isinstance(bind, Engine)
    return bind


@contextmanager
def reading(factory: sessionmaker[Session]) -> Iterator[Connection]:
    """A connection for a quick read outside any transaction (autocommit): on PostgreSQL each
    query is one round trip, with no BEGIN before it nor ROLLBACK after. For the reads that
    decide an ack; anything that reads then writes uses `transaction`."""
    with _engine(factory).connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        yield connection


@contextmanager
def writing_once(factory: sessionmaker[Session]) -> Iterator[Connection]:
    """A connection for writes that each decide alone (an insert a unique key guards): every
    statement commits at once, the writers' queue held on SQLite. For the one write an ack
    needs; a change that reads then writes, or writes several rows, uses `transaction`."""
    engine = _engine(factory)
    queue = _WRITERS.get(engine)
    with engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        # Only the statements wait in the queue: taking the connection from the pool and giving
        # it back (each a call that may wait for the GIL) happen outside it.
        with queue.hold() if queue is not None else nullcontext():
            yield connection


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error.

    On SQLite the transaction takes the write lock at once (BEGIN IMMEDIATE): SQLite renders no
    SELECT ... FOR UPDATE, and the driver would otherwise start the transaction only at the first
    write, after the reads that decided it, so two clicks could both see a case unclaimed.
    Writers queue in front of it (`WriterQueue`).
    """
    with factory() as session:
        bind = session.get_bind()
        queue = _WRITERS.get(bind) if isinstance(bind, Engine) else None
        with queue.hold() if queue is not None else nullcontext(), session.begin():
            if bind.dialect.name == "sqlite":
                session.execute(text("BEGIN IMMEDIATE"))
            yield session
