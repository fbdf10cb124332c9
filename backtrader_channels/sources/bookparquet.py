"""Order books as Parquet: one row per level (long layout), grouped into updates.

Columns ``timestamp, update, type, side, price, size``; the rows of one update are
consecutive and share ``update`` (increasing through the file), ``timestamp`` and ``type``;
an update without levels is one row with a null ``side``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from .batches import Batch, parquet_batches
from .columns import BOOK_TYPES, Levels, flag, integers, labels, level_offsets, numbers, timestamps
from .errors import INVALID_PRICE, INVALID_VOLUME, OUT_OF_ORDER, Problems, SourceError
from .files import parquet_columns

__all__ = ["PARQUET_BOOK_COLUMNS", "ParquetBook"]

PARQUET_BOOK_COLUMNS = ("timestamp", "update", "type", "side", "price", "size")
SIDES = {"bid": 0, "ask": 1}


class ParquetBook:
    """Reads a Parquet book: checks its columns when opened, then batches and decodes."""

    def __init__(self, path: Path, chunk_rows: int) -> None:
        names = parquet_columns(path)
        missing = [name for name in PARQUET_BOOK_COLUMNS if name not in names]
        if missing:
            raise SourceError(path, f"missing column(s) {missing} for a Parquet book")
        self.path = path
        self.chunk_rows = chunk_rows
        self._last_update = -1

    def restart(self) -> None:
        self._last_update = -1

    def batches(self) -> Iterator[Batch]:
        """Batches of whole updates; ``where`` and ``problems`` are per update (``where``: the
        row of the update's first level)."""
        carry: tuple[pa.Table, np.ndarray] | None = None
        for batch in parquet_batches(self.path, PARQUET_BOOK_COLUMNS, self.chunk_rows):
            table, where = batch.table, batch.where
            if carry is not None:
                table = pa.concat_tables([carry[0], table])
                where = np.concatenate([carry[1], where])
            starts = _update_starts(table)
            last = int(starts[-1]) if len(starts) else 0  # the last update may go on
            if last:
                yield _per_update(table.slice(0, last), where[:last], starts[starts < last])
            carry = (table.slice(last), where[last:])
        if carry is not None and carry[0].num_rows:
            yield _per_update(carry[0], carry[1], _update_starts(carry[0]))

    def decode(self, table: pa.Table, problems: Problems) -> tuple[np.ndarray, np.ndarray, Levels]:
        """Timestamps, snapshot flags and levels of a batch of whole updates."""
        starts = _update_starts(table)
        rows = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, table.num_rows)))
        update = integers(table["update"], problems, "update", rows=rows)
        previous = np.concatenate(([self._last_update], update[starts][:-1]))
        flag(problems, update[starts] <= previous, "update", "update numbers not increasing", cause=OUT_OF_ORDER)
        if len(update):
            self._last_update = max(self._last_update, int(update[-1]))
        ts_rows = timestamps(table["timestamp"], problems, "timestamp", rows=rows)
        ts_ns = ts_rows[starts]
        flag(problems, ts_rows != ts_ns[rows], "timestamp", "differs within one update", rows=rows)
        types = labels(table["type"], BOOK_TYPES, problems, "type", rows=rows)
        flag(problems, types != types[starts][rows], "type", "differs within one update", rows=rows)
        side = table["side"].combine_chunks()
        is_level = ~side.is_null().to_numpy(zero_copy_only=False)
        alone = np.bincount(rows, minlength=len(starts)) == 1
        flag(problems, ~is_level & ~alone[rows], "side", "missing", rows=rows)
        level_rows, picked = rows[is_level], pa.array(is_level)
        codes = labels(side.filter(picked), SIDES, problems, "side", rows=level_rows)
        price = numbers(table["price"].filter(picked), problems, "price", invalid=INVALID_PRICE, rows=level_rows)
        size = numbers(table["size"].filter(picked), problems, "size", invalid=INVALID_VOLUME, zero_ok=True,
                       rows=level_rows)
        offsets = level_offsets(np.bincount(level_rows, minlength=len(starts)))
        return ts_ns, types[starts] == 1, (offsets, codes.astype(np.int8), price, size)


def _update_starts(table: pa.Table) -> np.ndarray:
    """The rows where a new update number begins."""
    update = table["update"].combine_chunks().cast(pa.int64()).fill_null(-1).to_numpy()
    if not len(update):
        return update
    return np.flatnonzero(np.concatenate(([True], update[1:] != update[:-1])))


def _per_update(table: pa.Table, where: np.ndarray, starts: np.ndarray) -> Batch:
    return Batch(table.combine_chunks(), where[starts], Problems(len(starts)), "row")
