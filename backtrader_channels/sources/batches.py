"""Files as batches of Arrow tables, each row located by its line (text) or row (Parquet).

Text: every block of whole lines is parsed in bulk by Arrow (the fast path). A block Arrow
refuses, or where rows and lines do not match one to one (blank lines), is parsed again line
by line (the careful path), which finds each problem's exact line and field; the other rows
of the block are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import Problems
from .files import line_blocks
from .prefetch import prefetch

__all__ = ["Batch", "block_size", "parquet_batches", "text_batches"]

MIN_BLOCK_BYTES = 1 << 16
MAX_BLOCK_BYTES = 1 << 22  # bounds memory: a few blocks are in flight at once
PREFETCH_BLOCKS = 2  # blocks read and inflated ahead, in a worker thread
ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)


class Batch(NamedTuple):
    """Rows of a file: their table, their problems and where each is (1-based line, or row)."""

    table: pa.Table
    where: np.ndarray
    problems: Problems
    unit: str = "line"


def block_size(chunk_rows: int, line_bytes: int) -> int:
    """Bytes per text block: about ``chunk_rows`` lines, within 64 KiB .. 4 MiB."""
    return min(MAX_BLOCK_BYTES, max(MIN_BLOCK_BYTES, chunk_rows * line_bytes))


def text_batches(
    path: Path,
    *,
    skip_lines: int,
    block_bytes: int,
    max_line_bytes: int,
    kind: str,
    fast: Callable[[bytes], pa.Table],
    careful: Callable[[list[str], Problems], pa.Table],
) -> Iterator[Batch]:
    """Parse the file after its first ``skip_lines`` lines, block by block; a line over
    ``max_line_bytes`` raises LineTooLong (naming ``kind``, e.g. 'trades')."""
    line = skip_lines + 1  # the file line of the next block's first line
    blocks = _counted_blocks(line_blocks(path, block_bytes, max_line_bytes, kind), skip_lines)
    for data, count in prefetch(blocks, PREFETCH_BLOCKS):
        try:
            table = fast(data)
        except ARROW_ERRORS:
            table = None
        if table is not None and table.num_rows == count:
            yield Batch(table, np.arange(line, line + count), Problems(count))
        else:
            yield _careful_batch(data, line, careful)
        line += count


def _counted_blocks(blocks: Iterator[bytes], skip_lines: int) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole lines after the first ``skip_lines``, with their line counts."""
    for block in blocks:
        data = block
        while skip_lines and data:
            data = data[data.find(b"\n") + 1 or len(data) :]
            skip_lines -= 1
        if data:
            yield data, data.count(b"\n") + (not data.endswith(b"\n"))


def _careful_batch(
    data: bytes, first_line: int, careful: Callable[[list[str], Problems], pa.Table]
) -> Batch:
    texts, where = [], []
    for number, text in enumerate(data.decode("utf-8", errors="replace").split("\n"), first_line):
        if text.strip():
            texts.append(text.rstrip("\r"))
            where.append(number)
    problems = Problems(len(texts))
    return Batch(careful(texts, problems), np.array(where, dtype=np.int64), problems)


def parquet_batches(path: Path, columns: Sequence[str], batch_rows: int) -> Iterator[Batch]:
    """The ``columns`` of a Parquet file in batches of ``batch_rows`` rows."""
    row = 1
    pool = pa.default_memory_pool()
    with pq.ParquetFile(path, pre_buffer=False) as file:  # no read-ahead: memory stays flat
        for record_batch in file.iter_batches(batch_size=batch_rows, columns=list(columns)):
            count = record_batch.num_rows
            table = pa.Table.from_batches([record_batch])
            yield Batch(table, np.arange(row, row + count), Problems(count), "row")
            row += count
            pool.release_unused()  # Arrow's allocator keeps freed pages resident otherwise (~10 MB of peak RSS)
