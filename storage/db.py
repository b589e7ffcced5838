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

from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, *, ping_after: float | None = None, **kwargs: Any) -> Engine:
    """Create an engine; on SQLite, turn on WAL, foreign keys and a busy timeout; on PostgreSQL,
    check pooled connections idle for `ping_after` seconds (default 30) before use."""
    if url.startswith("sqlite"):
        # No folder is created here: a mistyped path must not leave folders behind (see
        # `sqlite_problem`); SQLite itself creates a missing file on the first connection.
        database = url.split("///", 1)[-1] if "///" in url else ""
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


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for another database, or SQLite in memory)."""
    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):  # a URI filename (uri=true)
        database = database[len("file:") :]
    return Path(database)


def sqlite_problem(url: str, *, file_needed: bool = True) -> str | None:
    """What is missing for a SQLite URL, in one line, checked before anything is created: its
    folder, or (when `file_needed`) its file; None when both exist or it is not SQLite."""
    path = sqlite_file(url)
    if path is None:
        return None
    folder = path.parent
    if not folder.is_dir():
        return (
            f"the folder {folder}/ of the SQLite database does not exist (nothing was created): "
            f"create it (mkdir -p {folder}) or fix the path in DATABASE_URL"
        )
    if file_needed and not path.exists():
        return f"no SQLite database at {path}: run `triage db upgrade` first (it creates it)"
    return None


def connect_problem(url: str, exc: BaseException) -> str:
    """One line saying which database could not be opened, why, and what to check; it names
    the host and port (or file), never the password."""
    parsed = make_url(url)
    message = str(getattr(exc, "orig", None) or exc)
    if parsed.password:
        message = message.replace(str(parsed.password), "***")
    lowered = message.lower()
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(url)
        folder_missing = path is not None and not path.parent.is_dir()
        if folder_missing:
            return sqlite_problem(url, file_needed=False) or ""
        return f"cannot open the SQLite database {path} ({_first_line(message)})"
    host = parsed.host or "localhost"
    where = f"PostgreSQL at {host}:{parsed.port or 5432}"
    if "connection refused" in lowered:
        return (
            f"cannot connect to {where} (connection refused). Is the server running, and does "
            "DATABASE_URL point to it?"
        )
    if any(s in lowered for s in ("resolve host", "translate host", "name or service not known")):
        return f"cannot connect to {where} (unknown host {host}). Check the host in DATABASE_URL."
    if "timeout" in lowered or "timed out" in lowered:
        return (
            f"cannot connect to {where} (no answer in time). Is the server running, and may "
            "this machine reach it (firewall, network)?"
        )
    if "does not exist" in lowered and "database" in lowered:
        return (
            f"{where} has no database {parsed.database!r}: create it (createdb "
            f"{parsed.database}) or fix its name in DATABASE_URL"
        )
    if any(s in lowered for s in ("password", "role", "authentication", "pg_hba")):
        return (
            f"{where} refused user {parsed.username!r} ({_server_reason(message)}). Check the "
            "user and password in DATABASE_URL."
        )
    return f"cannot open the database at {where} ({type(exc).__name__}: {_first_line(message)})"


def _first_line(message: str) -> str:
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[0] if lines else "no detail"


def _server_reason(message: str) -> str:
    """The server's own words in a driver's message ("FATAL:  role "x" does not exist")."""
    line = _first_line(message)
    reason = line.rpartition("FATAL:")[2].strip() if "FATAL:" in line else line
    return " ".join(reason.split())


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
