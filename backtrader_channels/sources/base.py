"""What trade and book sources share: settings, skip counts, time order, reporting problems."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sized
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from .batches import Batch
from .errors import OUT_OF_ORDER, Problems, SourceError

__all__ = ["Source"]

ChunkT = TypeVar("ChunkT", bound=Sized)  # a chunk's len() is its number of rows
ON_ERROR = ("raise", "skip")


class Source(Generic[ChunkT]):
    """A data file streamed as chunks; ``chunks()`` starts again from the top at each call.

    With ``on_error='raise'`` the first bad row raises ``SourceError`` (file, line or row,
    field); with ``'skip'`` bad rows are dropped and counted in ``skipped_rows``,
    ``skipped_reasons`` (what users read) and ``skipped_causes`` (``errors.CAUSES``), and
    ``first_skipped`` is the SourceError the first of them would have raised (all reset at
    each pass).
    """

    def __init__(self, path: Path, format: str, on_error: str, chunk_rows: int) -> None:
        if on_error not in ON_ERROR:
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise ValueError(f"chunk_rows must be a positive integer, got {chunk_rows!r}")
        self.path = path
        self.format = format
        self.on_error = on_error
        self.chunk_rows = chunk_rows
        self.skipped_rows = 0
        self.skipped_reasons: Counter[str] = Counter()
        self.skipped_causes: Counter[str] = Counter()
        self.first_skipped: SourceError | None = None
        self._last_ns = 0

    def chunks(self) -> Iterator[ChunkT]:
        """The file's chunks, in file order, from the beginning."""
        self.skipped_rows = 0
        self.skipped_reasons = Counter()
        self.skipped_causes = Counter()
        self.first_skipped = None
        self._last_ns = 0
        self._restart()
        delivered = 0
        try:
            for chunk in self._sized_chunks():
                yield chunk
                delivered += len(chunk)
        except SourceError as error:  # a whole-file problem found late (a zip's checksum)
            if not delivered or error.line is not None or error.row is not None:
                raise
            problem = f"{error.problem}, after {delivered:,} rows were delivered"
            raise SourceError(self.path, problem, field=error.field) from None
        self._finish(delivered)

    def _sized_chunks(self) -> Iterator[ChunkT]:
        size = self.chunk_rows
        for batch in self._batches():
            chunk = self._decode(batch)
            if len(chunk) <= size:
                if len(chunk):
                    yield chunk
                continue
            for start in range(0, len(chunk), size):
                yield self._slice(chunk, start, start + size)

    def _restart(self) -> None:
        """Reset what a pass counts, before it starts."""

    def _finish(self, delivered: int) -> None:
        """After a whole pass that delivered ``delivered`` rows."""

    def _batches(self) -> Iterator[Batch]:
        raise NotImplementedError

    def _decode(self, batch: Batch) -> ChunkT:
        """The batch's good rows as a chunk (after ``_check_order`` and ``_settle``)."""
        raise NotImplementedError

    def _slice(self, chunk: ChunkT, start: int, stop: int) -> ChunkT:
        """Rows ``start:stop`` of a chunk (views where possible)."""
        raise NotImplementedError

    def _check_order(self, ts_ns: np.ndarray, problems: Problems, field: str) -> None:
        """Flag rows earlier than the row delivered before them (rows already bad do not count)."""
        if not len(ts_ns):
            return
        if (
            ts_ns[0] >= self._last_ns
            and not problems.dropped.any()
            and (ts_ns[1:] >= ts_ns[:-1]).all()
        ):
            self._last_ns = int(ts_ns[-1])  # in order: the usual case
            return
        usable = np.where(problems.dropped, np.iinfo(np.int64).min, ts_ns)
        before = np.maximum.accumulate(np.concatenate(([self._last_ns], usable[:-1])))
        problems.flag(
            ts_ns < before,
            field,
            "time goes backwards",
            lambda i: f"{_seconds(ts_ns[i])} after {_seconds(before[i])}",
            cause=OUT_OF_ORDER,
        )
        self._last_ns = max(int(before[-1]), int(usable[-1]))

    def _settle(self, batch: Batch) -> np.ndarray | None:
        """Raise for the first problem, or count the bad rows; the rows to keep (None: all)."""
        problems = batch.problems
        if problems.first is not None:
            row, field, problem = problems.first
            where = {batch.unit: int(batch.where[row])}
            if self.on_error == "raise":
                raise SourceError(self.path, problem, field=field, **where)
            self.skipped_rows += int(problems.bad.sum())
            self.skipped_reasons.update(problems.reasons)
            self.skipped_causes.update(problems.causes)
            if self.first_skipped is None:
                self.first_skipped = SourceError(self.path, problem, field=field, **where)
        dropped = problems.dropped
        return ~dropped if dropped.any() else None


def _seconds(ns: int) -> str:
    whole, fraction = divmod(int(ns), 1_000_000_000)
    return f"{whole}.{fraction:09d}".rstrip("0").rstrip(".")
