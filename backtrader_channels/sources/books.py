"""Order-book files: open_book() streams BookChunks from JSON lines or Parquet.

JSON lines (``.jsonl``/``.jsonl.gz``): one update per line,
``{"timestamp": 1735689600.1, "type": "snapshot"|"delta", "bids": [[p, q], ...], "asks": [...]}``
(numbers may be strings). Parquet: one row per level (see docs/data-formats.md).
For books a "row" is an update: ``skipped_rows`` counts updates.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from os import PathLike
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

from .base import Source
from .batches import Batch, block_size, parquet_batches, text_batches
from .chunks import BookChunk
from .columns import flag, integers, labels, numbers, timestamps
from .csvtext import NUMBER
from .errors import Problems, SourceError
from .files import existing_file, first_line, plain_suffix
from .timestamps import DECIMAL_SECONDS

__all__ = ["BOOK_FORMATS", "JSONL_SUFFIXES", "PARQUET_COLUMNS", "BookSource", "open_book"]

BOOK_FORMATS = ("jsonl", "parquet")
JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet", ".pq")
PARQUET_COLUMNS = ("timestamp", "update", "type", "side", "price", "size")
TYPES = {"delta": 0, "snapshot": 1}
SIDES = {"bid": 0, "ask": 1}


def open_book(
    path: str | PathLike,
    *,
    format: str | None = None,
    on_error: str = "raise",
    chunk_rows: int = 100_000,
) -> BookSource:
    """Open an order-book file (checked now: it exists and its format is known).

    ``format`` overrides detection ('jsonl' or 'parquet'); ``on_error`` is 'raise' or
    'skip'; chunks hold at most ``chunk_rows`` updates.
    """
    return BookSource(path, format=format, on_error=on_error, chunk_rows=chunk_rows)


class BookSource(Source[BookChunk]):
    """The updates of one order-book file, as BookChunks."""

    def __init__(
        self,
        path: str | PathLike,
        *,
        format: str | None = None,
        on_error: str = "raise",
        chunk_rows: int = 100_000,
    ) -> None:
        path = existing_file(path)
        if format is not None and format not in BOOK_FORMATS:
            raise ValueError(f"format must be one of {BOOK_FORMATS}, got {format!r}")
        suffix = plain_suffix(path)
        if format is None:
            if suffix in JSONL_SUFFIXES:
                format = "jsonl"
            elif suffix in PARQUET_SUFFIXES:
                format = "parquet"
            else:
                raise SourceError(
                    path,
                    "not a known book file type (.jsonl, .jsonl.gz or .parquet; or pass format=)",
                )
        super().__init__(path, format, on_error, chunk_rows)
        if format == "jsonl":
            self._check_jsonl()
        else:
            self._check_parquet()
        self._json = JsonLines()

    def _check_jsonl(self) -> None:
        number, text, line_bytes = first_line(self.path)
        if number:
            try:
                first = json.loads(text)
            except ValueError:
                first = None
            if not isinstance(first, dict) or "timestamp" not in first or "type" not in first:
                raise SourceError(
                    self.path,
                    'not a book update: expected {"timestamp": ..., "type": ...}',
                    line=number,
                )
        self._block_bytes = block_size(self.chunk_rows, line_bytes)

    def _check_parquet(self) -> None:
        try:
            names = pq.read_schema(self.path).names
        except (pa.ArrowInvalid, OSError) as error:
            raise SourceError(self.path, f"not a readable Parquet file ({error})") from None
        missing = [name for name in PARQUET_COLUMNS if name not in names]
        if missing:
            raise SourceError(self.path, f"missing column(s) {missing} for a Parquet book")

    # --- reading --------------------------------------------------------------------------

    def _batches(self) -> Iterator[Batch]:
        if self.format == "jsonl":
            return text_batches(
                self.path,
                skip_lines=0,
                block_bytes=self._block_bytes,
                fast=self._json.fast,
                careful=careful_json,
            )
        return _update_batches(parquet_batches(self.path, PARQUET_COLUMNS, self.chunk_rows))

    def _decode(self, batch: Batch) -> BookChunk:
        table, problems = batch.table, batch.problems
        if self.format == "jsonl":
            ts_ns = timestamps(table["timestamp"], problems, "timestamp")
            is_snapshot = labels(table["type"], TYPES, problems, "type") == 1
            levels = _interleave(
                _json_side(table["bids"], problems, "bids"),
                _json_side(table["asks"], problems, "asks"),
            )
        else:
            ts_ns, is_snapshot, levels = _parquet_updates(table, problems, self._last_update)
            if len(ts_ns):
                self._last_update = max(self._last_update, int(table["update"][-1].as_py() or -1))
        self._check_order(ts_ns, problems, "timestamp")
        keep = self._settle(batch)
        chunk = BookChunk(ts_ns, is_snapshot, *levels)
        return chunk if keep is None else _keep_updates(chunk, keep)

    def _restart(self) -> None:
        self._last_update = -1

    def _slice(self, chunk: BookChunk, start: int, stop: int) -> BookChunk:
        first, last = chunk.offsets[start], chunk.offsets[min(stop, len(chunk))]
        return BookChunk(
            chunk.ts_ns[start:stop],
            chunk.is_snapshot[start:stop],
            chunk.offsets[start : stop + 1] - first,
            chunk.side[first:last],
            chunk.price[first:last],
            chunk.size[first:last],
        )


def _keep_updates(chunk: BookChunk, keep: np.ndarray) -> BookChunk:
    counts = np.diff(chunk.offsets)
    levels = np.repeat(keep, counts)
    return BookChunk(
        chunk.ts_ns[keep],
        chunk.is_snapshot[keep],
        _offsets(counts[keep]),
        chunk.side[levels],
        chunk.price[levels],
        chunk.size[levels],
    )


def _offsets(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


# One side of a book in a batch: levels per update, and the levels' prices and sizes.
Side = tuple[np.ndarray, np.ndarray, np.ndarray]
Levels = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # offsets, side, price, size


def _interleave(bids: Side, asks: Side) -> Levels:
    """Each update's bids then its asks, as BookChunk level arrays."""
    (bid_counts, bid_price, bid_size), (ask_counts, ask_price, ask_size) = bids, asks
    offsets = _offsets(bid_counts + ask_counts)
    starts = offsets[:-1]
    at_bids = np.arange(len(bid_price)) + np.repeat(starts - _offsets(bid_counts)[:-1], bid_counts)
    at_asks = np.arange(len(ask_price)) + np.repeat(
        starts + bid_counts - _offsets(ask_counts)[:-1], ask_counts
    )
    side = np.ones(offsets[-1], dtype=np.int8)
    side[at_bids] = 0
    price, size = np.empty(offsets[-1]), np.empty(offsets[-1])
    price[at_bids], price[at_asks] = bid_price, ask_price
    size[at_bids], size[at_asks] = bid_size, ask_size
    return offsets, side, price, size


# --- JSON lines ---------------------------------------------------------------------------


def _json_schema(level: pa.DataType) -> pa.Schema:
    levels = pa.list_(pa.list_(level))
    return pa.schema(
        [("timestamp", DECIMAL_SECONDS), ("type", pa.string()), ("bids", levels), ("asks", levels)]
    )


class JsonLines:
    """Arrow's JSON reader with the book schema: levels as numbers, or as strings (Binance
    style); the schema that worked last is tried first."""

    def __init__(self) -> None:
        self._schemas = [_json_schema(pa.float64()), _json_schema(pa.string())]
        self._read = pajson.ReadOptions(use_threads=True, block_size=1 << 20)

    def fast(self, data: bytes) -> pa.Table:
        for schema in list(self._schemas):
            options = pajson.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"
            )
            try:
                table = pajson.read_json(pa.py_buffer(data), self._read, options)
            except pa.ArrowInvalid as error:
                failure = error
                continue
            self._schemas.remove(schema)
            self._schemas.insert(0, schema)
            return table
        raise failure


def _json_side(column: pa.ChunkedArray, problems: Problems, field: str) -> Side:
    """One side's ``[[price, size], ...]`` lists (null: none) as counts, prices and sizes."""
    outer = column.combine_chunks()
    counts = pc.list_value_length(outer).fill_null(0).to_numpy().astype(np.int64)
    levels = outer.flatten()
    rows = np.repeat(np.arange(len(outer)), counts)
    pair = pc.list_value_length(levels).fill_null(0).to_numpy() == 2
    flag(
        problems,
        ~pair,
        field,
        "bad level",
        lambda i: f"{levels[i].as_py()}, not [price, size]",
        rows,
    )
    if not pair.all():
        levels = pc.if_else(pa.array(pair), levels, pa.nulls(len(levels), levels.type))
    price = _floats(pc.list_element(levels, 0), problems, field, rows)
    size = _floats(pc.list_element(levels, 1), problems, field, rows)
    price = numbers(price, problems, field, rows=rows)
    return counts, price, numbers(size, problems, field, zero_ok=True, rows=rows)


def _floats(values: pa.Array, problems: Problems, field: str, rows: np.ndarray) -> pa.Array:
    """Numbers, or numbers written as strings, as float64 (strings that are not numbers flagged)."""
    if not pa.types.is_string(values.type):
        return values.cast(pa.float64())
    try:
        return values.cast(pa.float64())
    except pa.ArrowInvalid:
        texts = values.to_pylist()
    bad = np.array([t is not None and not NUMBER.fullmatch(t.strip()) for t in texts])
    flag(problems, bad, field, "not a number", lambda i: repr(texts[i]), rows)
    return pa.array(
        [None if b or t is None else float(t) for t, b in zip(texts, bad, strict=True)],
        pa.float64(),
    )


def careful_json(texts: list[str], problems: Problems) -> pa.Table:
    """JSON lines parsed one by one: lines that are not update objects are flagged."""
    stamps: list[Decimal | None] = []
    kinds: list[str | None] = []
    sides: dict[str, list[list[list[float]] | None]] = {"bids": [], "asks": []}
    for row, text in enumerate(texts):
        try:
            update = json.loads(text, parse_float=Decimal)
        except ValueError as error:
            update = error
        if not isinstance(update, dict):
            detail = (
                str(update) if isinstance(update, ValueError) else f"a JSON {type(update).__name__}"
            )
            problems.flag_row(row, None, "not a JSON object", detail)
            update = {}
        stamps.append(_json_timestamp(update.get("timestamp"), row, problems))
        kind = update.get("type")
        kinds.append(None if kind is None else str(kind))
        for field, levels in sides.items():
            levels.append(_json_levels(update.get(field), row, field, problems))
    return pa.table(
        {
            "timestamp": pa.array(stamps, DECIMAL_SECONDS),
            "type": pa.array(kinds, pa.string()),
            "bids": pa.array(sides["bids"], pa.list_(pa.list_(pa.float64()))),
            "asks": pa.array(sides["asks"], pa.list_(pa.list_(pa.float64()))),
        }
    )


def _json_timestamp(value: Any, row: int, problems: Problems) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        number: Decimal | None = Decimal(value)
    elif isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        number = Decimal(value.strip())
    else:
        number = None
    if number is None or number != number.quantize(Decimal("1e-9")) or abs(number) >= 10**29:
        problems.flag_row(row, "timestamp", "bad timestamp", repr(value))
        return Decimal(0)
    return number


def _json_level_number(value: Any) -> float | None:
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        return float(value)
    return None


def _json_levels(value: Any, row: int, field: str, problems: Problems) -> list[list[float]] | None:
    if value is None:
        return None
    good = []
    for level in value if isinstance(value, list) else [value]:
        pair = [_json_level_number(v) for v in level] if isinstance(level, list) else []
        if len(pair) != 2 or None in pair:
            problems.flag_row(row, field, "bad level", f"{level!r}, not [price, size]")
            return None
        good.append(pair)
    return good


# --- Parquet ------------------------------------------------------------------------------


def _update_batches(batches: Iterator[Batch]) -> Iterator[Batch]:
    """Parquet rows regrouped so that no update is split between batches; each batch's
    ``where`` and ``problems`` are per update (``where``: the update's first row)."""
    carry: tuple[pa.Table, np.ndarray] | None = None
    for batch in batches:
        table, where = batch.table, batch.where
        if carry is not None:
            table = pa.concat_tables([carry[0], table])
            where = np.concatenate([carry[1], where])
        starts = _update_starts(table)
        last = int(starts[-1]) if len(starts) else 0
        if last:
            yield _per_update(table.slice(0, last), where[:last], starts[starts < last])
        carry = (table.slice(last), where[last:])
    if carry is not None and carry[0].num_rows:
        yield _per_update(carry[0], carry[1], _update_starts(carry[0]))


def _update_starts(table: pa.Table) -> np.ndarray:
    update = table["update"].combine_chunks().cast(pa.int64()).fill_null(-1).to_numpy()
    return (
        np.flatnonzero(np.concatenate(([True], update[1:] != update[:-1])))
        if len(update)
        else update
    )


def _per_update(table: pa.Table, where: np.ndarray, starts: np.ndarray) -> Batch:
    return Batch(table.combine_chunks(), where[starts], Problems(len(starts)), "row")


def _parquet_updates(
    table: pa.Table, problems: Problems, last_update: int
) -> tuple[np.ndarray, np.ndarray, Levels]:
    """Long rows (one per level; one row with no side for an empty update) to updates;
    update numbers must increase (the batch before ended with ``last_update``)."""
    starts = _update_starts(table)
    rows = np.cumsum(np.isin(np.arange(table.num_rows), starts)) - 1  # row -> update
    update = integers(table["update"], problems, "update", rows=rows)
    previous = np.concatenate(([last_update], update[starts][:-1]))
    flag(problems, update[starts] <= previous, "update", "update numbers not increasing")
    ts_rows = timestamps(table["timestamp"], problems, "timestamp", rows=rows)
    ts_ns = ts_rows[starts]
    flag(problems, ts_rows != ts_ns[rows], "timestamp", "differs within one update", rows=rows)
    type_rows = labels(table["type"], TYPES, problems, "type", rows=rows)
    flag(
        problems,
        type_rows != type_rows[starts][rows],
        "type",
        "differs within one update",
        rows=rows,
    )
    side = table["side"].combine_chunks()
    is_level = ~side.is_null().to_numpy(zero_copy_only=False)
    lone = np.bincount(rows, minlength=len(starts)) == 1
    flag(problems, ~is_level & ~lone[rows], "side", "missing", rows=rows)
    level_rows = rows[is_level]
    picked = pa.array(is_level)
    side_codes = labels(side.filter(picked), SIDES, problems, "side", rows=level_rows)
    price = numbers(table["price"].filter(picked), problems, "price", rows=level_rows)
    size = numbers(table["size"].filter(picked), problems, "size", zero_ok=True, rows=level_rows)
    offsets = _offsets(np.bincount(level_rows, minlength=len(starts)))
    return ts_ns, type_rows[starts] == 1, (offsets, side_codes.astype(np.int8), price, size)
