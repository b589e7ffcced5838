"""Parse and classify an import's rows in worker processes while the importing one writes.

Parsing and the offline classifier take about half of a verdict's import time, and they need
no database: a pool of processes does them chunk by chunk, ahead of the writer, which stores
the chunks in file order. A worker process loads only the parser and the classifier. If the
pool fails (a worker killed, out of memory), the chunks not prepared yet are prepared in the
importing process: slower, nothing lost.
"""

from __future__ import annotations

import logging
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bot.classification.offline import Classification, OfflineClassifier
from bot.intake.file_rows import RowError, column_mapping, row_to_input
from bot.intake.verdict_input import VerdictInput, stored_text

log = logging.getLogger(__name__)

Rows = list[tuple[int, dict[str, Any]]]  # (row number as a person counts it, the row)
QUEUED_PER_WORKER = 3


@dataclass
class PreparedChunk:
    """A chunk of rows as verdicts ready to store, each with its classification, and the rows
    rejected with their reason."""

    items: list[VerdictInput] = field(default_factory=list)
    results: list[Classification] = field(default_factory=list)
    rejected: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class RowReader:
    """What turning a row into a verdict needs besides the row."""

    mapping: dict[str, str]  # field -> column, from the header line; empty for JSONL
    country: str  # default region for phone numbers
    origin: str  # the source named when a row names none


def prepare_chunk(rows: Rows, reader: RowReader, classifier: OfflineClassifier) -> PreparedChunk:
    """Parse each row and classify its verbatim as intake will store it."""
    out = PreparedChunk()
    for number, row in rows:
        try:
            # JSONL rows name their own fields; CSV rows share the header line's mapping.
            mapping = reader.mapping or column_mapping(list(row))
            item = row_to_input(row, mapping, reader.country, reader.origin)
        except RowError as exc:
            out.rejected.append((number, str(exc), row))
            continue
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            # A value no check foresaw: this row is rejected, the import goes on.
            out.rejected.append((number, f"unreadable value ({type(exc).__name__})", row))
            continue
        out.items.append(item)
        out.results.append(classifier.classify(stored_text(item, reader.country), score=item.score))
    return out


_classifier: OfflineClassifier | None = None  # a worker process's own, set once at its start


def _start_worker(classifier: OfflineClassifier) -> None:
    global _classifier
    _classifier = classifier


def _work(rows: Rows, reader: RowReader) -> PreparedChunk:
    assert _classifier is not None
    return prepare_chunk(rows, reader, _classifier)


def prepared_chunks(
    chunks: Iterable[Rows], reader: RowReader, classifier: OfflineClassifier, workers: int
) -> Iterator[PreparedChunk]:
    """The chunks prepared, in their order: by `workers` processes (0: here, one by one).

    Each worker has QUEUED_PER_WORKER chunks queued, so it never waits for this process; and
    this process never waits for a worker: when the chunk due next is not ready (the workers are
    starting, or behind), it prepares the next chunk not handed out yet itself. Memory stays
    bounded: a few chunks per worker, and those prepared here while one was late.
    """
    source = iter(chunks)
    if workers <= 0:
        for rows in source:
            yield prepare_chunk(rows, reader, classifier)
        return
    # spawn, not fork: the importing process may run threads (a progress bar, the bot's own).
    pool = ProcessPoolExecutor(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(classifier,),
    )
    ahead: deque[_Slot] = deque()
    healthy = True

    def hand_out() -> bool:
        """Give the next chunk to the workers; False when there is none left."""
        nonlocal healthy
        rows = next(source, None)
        if rows is None:
            return False
        slot = _Slot(rows)
        if healthy:
            try:
                slot.future = pool.submit(_work, rows, reader)
            except RuntimeError as exc:  # BrokenProcessPool is one: the pool is gone
                log.warning("import workers stopped (%s); preparing rows here", exc)
                healthy = False
        ahead.append(slot)
        return True

    def refill() -> None:
        # Counting every chunk ahead, not only the workers': bounded even once the pool is gone.
        while len(ahead) < QUEUED_PER_WORKER * workers and hand_out():
            pass

    try:
        refill()
        while ahead:
            # The chunk due next is not ready: rather than wait, prepare one here (the workers
            # keep their queue meanwhile).
            while ahead[0].waiting() and (extra := next(source, None)) is not None:
                ahead.append(_Slot(extra, prepared=prepare_chunk(extra, reader, classifier)))
            slot = ahead.popleft()
            prepared = slot.take()
            if prepared is None:  # its worker failed, or the pool was gone when it was handed out
                healthy = False
                prepared = prepare_chunk(slot.rows, reader, classifier)
            refill()  # before the caller stores this chunk: the workers never wait on it
            yield prepared
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class _Slot:
    """A chunk on its way: with a worker (`future`), or prepared here."""

    rows: Rows
    future: Future[PreparedChunk] | None = None
    prepared: PreparedChunk | None = None

    def waiting(self) -> bool:
        """True while a worker still prepares it."""
        return self.prepared is None and self.future is not None and not self.future.done()

    def take(self) -> PreparedChunk | None:
        """The prepared chunk, waiting for its worker; None if the worker failed."""
        if self.prepared is None and self.future is not None:
            try:
                self.prepared = self.future.result()
            except Exception as exc:  # a worker died or failed: the caller prepares it
                log.warning("an import worker failed (%s); preparing rows here", exc)
        return self.prepared
