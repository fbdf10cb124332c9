"""Writers: trade chunks to CSV / CSV.gz / Parquet, book chunks to JSONL / JSONL.gz / Parquet.

The files they write are the project formats of docs/data-formats.md, which the readers of
this package read back to the same chunks. Output goes to a temporary file that replaces
``path`` only once everything is written, so a failed write never leaves half a file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from functools import cache
from os import PathLike
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .chunks import BookChunk, TradeChunk
from .files import atomic_output, compression_of, open_output, plain_suffix

__all__ = ["write_book", "write_trades"]

NS_PER_S = 1_000_000_000
UTC_NS = pa.timestamp("ns", tz="UTC")


@cache
def _labels(*names: str) -> pa.Array:
    """A dictionary of labels indexed by a small integer code, built on first use (building
    an Arrow string array makes pyarrow import pandas, which importing us should not)."""
    return pa.array(list(names), pa.string())
PARQUET_COMPRESSION = "zstd"


def write_trades(
    path: str | PathLike, chunks: Iterable[TradeChunk], symbol: str | None = None
) -> int:
    """Write trades to ``.csv``, ``.csv.gz`` or ``.parquet`` (by the name); returns the row count.

    Columns: ``timestamp, price, volume, direction[, trade_id][, symbol]``; ``trade_id`` is
    written when the chunks carry ids (all of them or none), ``symbol`` when given.
    """
    path = Path(path)
    suffix = plain_suffix(path)
    if suffix not in (".csv", ".parquet") or (suffix == ".parquet" and compression_of(path)):
        raise ValueError(f"{path}: trades are written as .csv, .csv.gz or .parquet")
    as_text = suffix == ".csv"
    tables = (_trades_table(chunk, symbol, as_text) for chunk in chunks)
    write = _write_csv if as_text else _write_parquet
    return write(path, tables, _trades_schema(as_text, symbol))


def write_book(path: str | PathLike, chunks: Iterable[BookChunk]) -> int:
    """Write book updates to ``.jsonl``, ``.jsonl.gz`` or ``.parquet``; returns the update count."""
    path = Path(path)
    suffix = plain_suffix(path)
    if suffix == ".jsonl":
        return _write_jsonl(path, chunks)
    if suffix == ".parquet" and not compression_of(path):
        return _write_book_parquet(path, chunks)
    raise ValueError(f"{path}: books are written as .jsonl, .jsonl.gz or .parquet")


# --- trades -------------------------------------------------------------------------------


def _trades_schema(as_text: bool, symbol: str | None) -> pa.Schema:
    """The columns of a file written from no chunks at all."""
    fields = [
        ("timestamp", pa.string() if as_text else UTC_NS),
        ("price", pa.float64()),
        ("volume", pa.float64()),
        ("direction", pa.dictionary(pa.int8(), pa.string())),
    ]
    if symbol is not None:
        fields.append(("symbol", pa.dictionary(pa.int8(), pa.string())))
    return pa.schema(fields)


def _trades_table(chunk: TradeChunk, symbol: str | None, as_text: bool) -> pa.Table:
    n = len(chunk)
    columns = {
        "timestamp": _seconds_text(chunk.ts_ns) if as_text else _utc_ns(chunk.ts_ns),
        "price": pa.array(chunk.price, pa.float64()),
        "volume": pa.array(chunk.volume, pa.float64()),
        "direction": pa.DictionaryArray.from_arrays(
            pa.array(np.asarray(chunk.is_sell, dtype=np.int8)), _labels("buy", "sell")  # indexed by is_sell
        ),
    }
    if chunk.trade_id is not None:
        columns["trade_id"] = pa.array(chunk.trade_id, pa.int64())
    if symbol is not None:
        columns["symbol"] = pa.DictionaryArray.from_arrays(
            pa.array(np.zeros(n, dtype=np.int8)), pa.array([symbol])
        )
    return pa.table(columns)


# --- books --------------------------------------------------------------------------------


def _write_jsonl(path: Path, chunks: Iterable[BookChunk]) -> int:
    count = 0
    with (
        atomic_output(path) as partial,
        open_output(partial, compression_of(path) is not None) as out,
    ):
        for chunk in chunks:
            out.write("".join(_jsonl_lines(chunk)).encode())
            count += len(chunk)
    return count


def _jsonl_lines(chunk: BookChunk) -> Iterator[str]:
    times = _seconds_text(chunk.ts_ns).to_pylist()
    offsets = chunk.offsets.tolist()
    sides, prices, sizes = chunk.side.tolist(), chunk.price.tolist(), chunk.size.tolist()
    for k, (time, snapshot) in enumerate(zip(times, chunk.is_snapshot.tolist(), strict=True)):
        levels: tuple[list, list] = ([], [])
        for i in range(offsets[k], offsets[k + 1]):
            levels[sides[i]].append([prices[i], sizes[i]])
        kind = "snapshot" if snapshot else "delta"
        yield (
            f'{{"timestamp": {time}, "type": "{kind}", '
            f'"bids": {json.dumps(levels[0])}, "asks": {json.dumps(levels[1])}}}\n'
        )


BOOK_PARQUET_SCHEMA = pa.schema(
    [
        ("timestamp", UTC_NS),
        ("update", pa.int64()),
        ("type", pa.dictionary(pa.int8(), pa.string())),
        ("side", pa.dictionary(pa.int8(), pa.string())),
        ("price", pa.float64()),
        ("size", pa.float64()),
    ]
)


def _write_book_parquet(path: Path, chunks: Iterable[BookChunk]) -> int:
    count = 0

    def tables() -> Iterator[pa.Table]:
        nonlocal count
        for chunk in chunks:
            yield _book_long_table(chunk, first_update=count)
            count += len(chunk)

    _write_parquet(path, tables(), BOOK_PARQUET_SCHEMA)
    return count


def _book_long_table(chunk: BookChunk, first_update: int) -> pa.Table:
    """One row per level; an update without levels is one row with null side, price and size."""
    counts = np.diff(chunk.offsets)
    rows_per_update = np.maximum(counts, 1)
    update = np.repeat(np.arange(len(chunk)), rows_per_update)
    row_starts = np.cumsum(rows_per_update) - rows_per_update
    level = chunk.offsets[update] + np.arange(len(update)) - row_starts[update]
    take = pa.array(level, pa.int64(), mask=counts[update] == 0)  # null row for empty updates
    return pa.table(
        {
            "timestamp": _utc_ns(chunk.ts_ns[update]),
            "update": pa.array(update + first_update, pa.int64()),
            "type": pa.DictionaryArray.from_arrays(
                pa.array(chunk.is_snapshot[update].astype(np.int8)), _labels("delta", "snapshot")  # indexed by is_snapshot
            ),
            "side": pa.DictionaryArray.from_arrays(
                pa.array(np.asarray(chunk.side, dtype=np.int8)), _labels("bid", "ask")  # indexed by side
            ).take(take),
            "price": pa.array(chunk.price, pa.float64()).take(take),
            "size": pa.array(chunk.size, pa.float64()).take(take),
        },
        schema=BOOK_PARQUET_SCHEMA,
    )


# --- shared -------------------------------------------------------------------------------


def _write_csv(path: Path, tables: Iterable[pa.Table], schema: pa.Schema) -> int:
    """Stream tables into one CSV: a plain header line, then unquoted rows."""
    count = 0
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    with (
        atomic_output(path) as partial,
        open_output(partial, compression_of(path) is not None) as out,
    ):
        header: list[str] | None = None
        for table in tables:
            if header is None:
                header = table.column_names
                out.write((",".join(header) + "\n").encode())
            _check_columns(path, header, table)
            pacsv.write_csv(table, out, options)
            count += table.num_rows
        if header is None:
            out.write((",".join(schema.names) + "\n").encode())
    return count


def _write_parquet(path: Path, tables: Iterable[pa.Table], schema: pa.Schema) -> int:
    """Stream tables into one Parquet file, a row group per table."""
    count = 0
    with atomic_output(path) as partial:
        writer: pq.ParquetWriter | None = None
        try:
            for table in tables:
                if writer is None:
                    schema = table.schema
                    writer = pq.ParquetWriter(partial, schema, compression=PARQUET_COMPRESSION)
                _check_columns(path, schema.names, table)
                writer.write_table(table.cast(schema))
                count += table.num_rows
            if writer is None:
                writer = pq.ParquetWriter(partial, schema, compression=PARQUET_COMPRESSION)
        finally:
            if writer is not None:
                writer.close()
    return count


def _check_columns(path: Path, expected: list[str], table: pa.Table) -> None:
    if table.column_names != expected:
        raise ValueError(
            f"{path}: every chunk must have the same columns (trade ids in all chunks or none): "
            f"got {table.column_names} after {expected}"
        )


def _utc_ns(ts_ns: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(ts_ns, dtype=np.int64), pa.int64()).cast(UTC_NS)


def _seconds_text(ts_ns: np.ndarray) -> pa.Array:
    """Exact decimal seconds ('1735689600.123'), with 3, 6 or 9 decimals as the values need."""
    ts_ns = np.asarray(ts_ns, dtype=np.int64)
    if len(ts_ns) and ts_ns.min() < 0:
        raise ValueError("timestamps before 1970 cannot be written")
    seconds, fraction = np.divmod(ts_ns, NS_PER_S)
    decimals = 9
    for digits, unit in ((3, 1_000_000), (6, 1_000)):
        if not np.any(fraction % unit):
            decimals, fraction = digits, fraction // unit
            break
    return pc.binary_join_element_wise(
        pa.array(seconds).cast(pa.string()),
        pc.utf8_lpad(pa.array(fraction).cast(pa.string()), width=decimals, padding="0"),
        ".",
    )
