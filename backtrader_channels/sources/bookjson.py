"""Order books as JSON lines: one update per line, parsed in bulk by Arrow's JSON reader.

``{"timestamp": 1735689600.1, "type": "snapshot"|"delta", "bids": [[p, q], ...], "asks": [...]}``;
numbers may be strings (as in Binance messages), other keys are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson

from .arrays import arrow_copy
from .batches import Batch, block_size, text_batches
from .columns import BOOK_TYPES, Levels, flag, labels, level_offsets, numbers, timestamps
from .csvtext import is_number
from .errors import INVALID_PRICE, INVALID_VOLUME, Problems, SourceError
from .files import first_line
from .timestamps import DECIMAL_SECONDS

__all__ = ["JSONL_SUFFIXES", "MAX_LINE_BYTES", "JsonBook"]

JSONL_SUFFIXES = (".jsonl", ".ndjson")
# A full Binance book (5,000 levels a side) is a line of about 300 KB, the sample's 20 levels
# 1.6 KB: a line over 16 MiB is another kind of file, or a zip bomb.
MAX_LINE_BYTES = 16 << 20
LEVELS = pa.list_(pa.list_(pa.float64()))

# One side of the book in a batch: levels per update, and the levels' prices and sizes.
Side = tuple[np.ndarray, np.ndarray, np.ndarray]


class JsonBook:
    """Reads a JSON lines book: checks its first line when opened, then batches and decodes."""

    def __init__(self, path: Path, chunk_rows: int, max_line_bytes: int) -> None:
        number, text, line_bytes = first_line(path, max_line_bytes, "book")
        if number:
            try:
                first = json.loads(text)
            except ValueError:
                first = None
            if not isinstance(first, dict) or "timestamp" not in first or "type" not in first:
                raise SourceError(
                    path, 'not a book update: expected {"timestamp": ..., "type": ...}', line=number
                )
        self.path = path
        self.max_line_bytes = max_line_bytes
        self._block_bytes = block_size(chunk_rows, line_bytes)
        self._schemas = [_schema(pa.float64()), _schema(pa.string())]
        self._read = pajson.ReadOptions(use_threads=True, block_size=1 << 20)

    def restart(self) -> None:
        """Nothing is carried from one batch to the next."""

    def batches(self) -> Iterator[Batch]:
        return text_batches(self.path, skip_lines=0, block_bytes=self._block_bytes, max_line_bytes=self.max_line_bytes,
                            kind="book", fast=self._fast, careful=careful)

    def decode(self, table: pa.Table, problems: Problems) -> tuple[np.ndarray, np.ndarray, Levels]:
        """Timestamps, snapshot flags and levels of a batch (bad updates flagged)."""
        ts_ns = timestamps(table["timestamp"], problems, "timestamp")
        is_snapshot = labels(table["type"], BOOK_TYPES, problems, "type") == 1
        bids = _side(table["bids"], problems, "bids")
        return ts_ns, is_snapshot, _interleave(bids, _side(table["asks"], problems, "asks"))

    def _fast(self, data: bytes) -> pa.Table:
        """Levels as numbers, else as strings; the schema that worked last is tried first."""
        for schema in list(self._schemas):
            options = pajson.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"
            )
            try:
                table = pajson.read_json(arrow_copy(data), self._read, options)
            except pa.ArrowInvalid as error:
                failure = error
                continue
            self._schemas.remove(schema)
            self._schemas.insert(0, schema)
            return table
        raise failure


def _schema(level: pa.DataType) -> pa.Schema:
    levels = pa.list_(pa.list_(level))
    return pa.schema(
        [
            ("timestamp", DECIMAL_SECONDS),
            ("type", pa.string()),
            ("bids", levels),
            ("asks", levels),
        ]
    )


def _side(column: pa.ChunkedArray, problems: Problems, field: str) -> Side:
    """One side's ``[[price, size], ...]`` lists (null: none) as counts, prices and sizes."""
    outer = column.combine_chunks()
    counts = pc.list_value_length(outer).fill_null(0).to_numpy().astype(np.int64)
    levels = outer.flatten()
    rows = np.repeat(np.arange(len(outer)), counts)
    pair = pc.list_value_length(levels).fill_null(0).to_numpy() == 2

    def describe(i: int) -> str:
        return f"{levels[i].as_py()}, not [price, size]"

    flag(problems, ~pair, field, "bad level", describe, rows)
    if not pair.all():
        levels = pc.if_else(pa.array(pair), levels, pa.nulls(len(levels), levels.type))
    price = _floats(pc.list_element(levels, 0), problems, field, rows)
    size = _floats(pc.list_element(levels, 1), problems, field, rows)
    price = numbers(price, problems, field, invalid=INVALID_PRICE, rows=rows)
    return counts, price, numbers(size, problems, field, invalid=INVALID_VOLUME, zero_ok=True, rows=rows)


def _floats(values: pa.Array, problems: Problems, field: str, rows: np.ndarray) -> pa.Array:
    """Numbers, or numbers written as strings, as float64 (strings that are not numbers flagged)."""
    try:
        return values.cast(pa.float64())
    except pa.ArrowInvalid:  # a string that is not a number
        texts = values.to_pylist()
    bad = np.array([t is not None and not is_number(t.strip()) for t in texts])
    flag(problems, bad, field, "not a number", lambda i: repr(texts[i]), rows)
    numbers_ = [None if b or t is None else float(t) for t, b in zip(texts, bad, strict=True)]
    return pa.array(numbers_, pa.float64())


def _interleave(bids: Side, asks: Side) -> Levels:
    """Each update's bids then its asks, as BookChunk level arrays."""
    (bid_counts, bid_price, bid_size), (ask_counts, ask_price, ask_size) = bids, asks
    offsets = level_offsets(bid_counts + ask_counts)
    starts = offsets[:-1]
    bid_shift = starts - level_offsets(bid_counts)[:-1]
    ask_shift = starts + bid_counts - level_offsets(ask_counts)[:-1]
    at_bids = np.arange(len(bid_price)) + np.repeat(bid_shift, bid_counts)
    at_asks = np.arange(len(ask_price)) + np.repeat(ask_shift, ask_counts)
    side = np.ones(offsets[-1], dtype=np.int8)
    side[at_bids] = 0
    price, size = np.empty(offsets[-1]), np.empty(offsets[-1])
    price[at_bids], price[at_asks] = bid_price, ask_price
    size[at_bids], size[at_asks] = bid_size, ask_size
    return offsets, side, price, size


# --- the careful path: line by line -------------------------------------------------------


def careful(texts: list[str], problems: Problems) -> pa.Table:
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
            what = str(update) if isinstance(update, ValueError) else type(update).__name__
            problems.flag_row(row, None, "not a JSON object", what)
            update = {}
        stamps.append(_timestamp(update.get("timestamp"), row, problems))
        kind = update.get("type")
        kinds.append(None if kind is None else str(kind))
        for field, levels in sides.items():
            levels.append(_levels(update.get(field), row, field, problems))
    return pa.table(
        {
            "timestamp": pa.array(stamps, DECIMAL_SECONDS),
            "type": pa.array(kinds, pa.string()),
            "bids": pa.array(sides["bids"], LEVELS),
            "asks": pa.array(sides["asks"], LEVELS),
        }
    )


def _number(value: Any) -> Decimal | None:
    """A JSON number (NaN and Infinity too: refused later as not finite), or a number in a
    string, exactly; None for anything else."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str) and is_number(value.strip()):
        return Decimal(value.strip())
    return None


def _timestamp(value: Any, row: int, problems: Problems) -> Decimal | None:
    if value is None:
        return None  # flagged as missing later
    number = _number(value)
    if number is None or not number.is_finite() or number != number.quantize(Decimal("1e-9")) or abs(number) >= 10**29:
        problems.flag_row(row, "timestamp", "bad timestamp", repr(value))
        return Decimal(0)
    return number


def _levels(value: Any, row: int, field: str, problems: Problems) -> list[list[float]] | None:
    if value is None:
        return None
    good = []
    for level in value if isinstance(value, list) else [value]:
        pair = [_number(v) for v in level] if isinstance(level, list) else []
        numbers = [v for v in pair if v is not None]
        if len(pair) != 2 or len(numbers) != 2:
            problems.flag_row(row, field, "bad level", f"{level!r}, not [price, size]")
            return None
        good.append([float(v) for v in numbers])
    return good
