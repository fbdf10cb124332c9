"""Order-book files: open_book() detects the format and streams BookChunks.

Formats: JSON lines (bookjson.py) and Parquet, one row per level (bookparquet.py); see
docs/data-formats.md. For books a "row" is an update: ``skipped_rows`` counts updates.
"""

from __future__ import annotations

from collections.abc import Iterator
from os import PathLike
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa

from .base import Source
from .batches import Batch
from .bookjson import JSONL_SUFFIXES, MAX_LINE_BYTES, JsonBook
from .bookparquet import ParquetBook
from .chunks import BookChunk, slice_rows
from .columns import Levels, level_offsets
from .dataset import BookDataset, is_dataset
from .errors import Problems, SourceError
from .files import PARQUET_SUFFIXES, existing_file, line_limit, plain_suffix
from .recordings import BOOK_STREAM, RecordingSource, is_recording, open_recording

__all__ = ["BOOK_FORMATS", "BookSource", "open_book"]



class BookReader(Protocol):
    """What BookSource needs of a file format's reader (JsonBook, ParquetBook)."""

    def restart(self) -> None: ...

    def batches(self) -> Iterator[Batch]: ...

    def decode(self, table: pa.Table, problems: Problems) -> tuple[np.ndarray, np.ndarray, Levels]: ...


BOOK_FORMATS = ("jsonl", "parquet")


def open_book(
    path: str | PathLike | list | tuple,
    *,
    format: str | None = None,
    on_error: str = "raise",
    chunk_rows: int = 100_000,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> BookSource | RecordingSource | BookDataset:
    """Open an order-book file (checked now: it exists and its format is known).

    ``format`` overrides detection ('jsonl' or 'parquet'); ``on_error`` is 'raise' or
    'skip'; chunks hold at most ``chunk_rows`` updates; a JSON line longer than
    ``max_line_bytes`` is a SourceError (file, byte, zip member). A recording directory
    (``btchannels record``) is read as one (recordings.py); a list, a glob or another
    directory of files as one dataset, in time order (dataset.py).
    """
    if isinstance(path, (list, tuple)) and len(path) == 1:  # one entry: read as if given alone
        (path,) = path
    if isinstance(path, (list, tuple)) or is_dataset(path):  # isinstance narrows the type

        def open_file(file: Path, chunk_rows: int = chunk_rows) -> BookSource:
            return BookSource(file, format=format, on_error=on_error, chunk_rows=chunk_rows,
                              max_line_bytes=max_line_bytes)

        return BookDataset(path, open_file, on_error=on_error)
    if is_recording(path):
        return open_recording(path, BOOK_STREAM, open_book, format=format, on_error=on_error, chunk_rows=chunk_rows)
    return BookSource(path, format=format, on_error=on_error, chunk_rows=chunk_rows, max_line_bytes=max_line_bytes)


class BookSource(Source[BookChunk]):
    """The updates of one order-book file, as BookChunks."""

    def __init__(
        self,
        path: str | PathLike,
        *,
        format: str | None = None,
        on_error: str = "raise",
        chunk_rows: int = 100_000,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        path = existing_file(path)
        line_limit(max_line_bytes)
        if format is not None and format not in BOOK_FORMATS:
            raise ValueError(f"format must be one of {BOOK_FORMATS}, got {format!r}")
        suffix = plain_suffix(path)
        if format is None and suffix in JSONL_SUFFIXES:
            format = "jsonl"
        elif format is None and suffix in PARQUET_SUFFIXES:
            format = "parquet"
        elif format is None:
            raise SourceError(
                path, "not a known book file type (.jsonl, .jsonl.gz or .parquet; or pass format=)"
            )
        super().__init__(path, format, on_error, chunk_rows)
        self._reader: BookReader = (
            JsonBook(path, chunk_rows, max_line_bytes) if format == "jsonl" else ParquetBook(path, chunk_rows)
        )

    def _restart(self) -> None:
        self._reader.restart()

    def _batches(self) -> Iterator[Batch]:
        return self._reader.batches()

    def _decode(self, batch: Batch) -> BookChunk:
        ts_ns, is_snapshot, levels = self._reader.decode(batch.table, batch.problems)
        self._check_order(ts_ns, batch.problems, "timestamp")
        keep = self._settle(batch)
        chunk = BookChunk(ts_ns, is_snapshot, *levels)
        return chunk if keep is None else _keep_updates(chunk, keep)

    def _slice(self, chunk: BookChunk, start: int, stop: int) -> BookChunk:
        return slice_rows(chunk, start, stop)


def _keep_updates(chunk: BookChunk, keep: np.ndarray) -> BookChunk:
    counts = np.diff(chunk.offsets)
    levels = np.repeat(keep, counts)
    return BookChunk(
        chunk.ts_ns[keep],
        chunk.is_snapshot[keep],
        level_offsets(counts[keep]),
        chunk.side[levels],
        chunk.price[levels],
        chunk.size[levels],
    )
