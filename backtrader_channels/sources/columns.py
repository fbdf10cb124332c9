"""Arrow columns to checked numpy arrays; bad values are flagged in the batch's Problems.

Each check takes ``rows`` when the values are finer than the rows of ``problems`` (book
levels within updates): ``rows[i]`` is the row value ``i`` belongs to, and a bad value
makes its row bad.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrays import numpy_of
from .chunks import TradeChunk
from .errors import INVALID_PRICE, INVALID_VOLUME, NAN_OR_INF, UNPARSEABLE, Problems
from .timestamps import DECIMAL_SECONDS, to_ns

__all__ = [
    "BOOK_TYPES",
    "Levels",
    "TradeFields",
    "flag",
    "integers",
    "labels",
    "level_offsets",
    "numbers",
    "per_value",
    "timestamps",
    "trade_chunk",
]

Rows = np.ndarray | None


def flag(
    problems: Problems,
    mask: np.ndarray,
    field: str | None,
    reason: str,
    describe: Callable[[int], str] | None = None,
    rows: Rows = None,
    *,
    cause: str = UNPARSEABLE,
) -> None:
    """``problems.flag`` for values that may be finer than rows (see the module docstring)."""
    if rows is None:
        problems.flag(mask, field, reason, describe, cause=cause)
        return
    if not mask.any():
        return
    row_mask = np.bincount(rows[mask], minlength=len(problems.bad)) > 0

    def first_value(row: int) -> int:
        return int(np.flatnonzero(mask & (rows == row))[0])

    problems.flag(row_mask, field, reason, describe and (lambda row: describe(first_value(row))), cause=cause)


def _array(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


def _missing(column: pa.Array) -> np.ndarray:
    if column.null_count:
        return numpy_of(column.is_null())
    return np.zeros(len(column), dtype=bool)


# Text that casts to each type without error: numbers, whole numbers that fit in int64, and
# decimal seconds with at most 9 decimals (what a Parquet file with text columns may hold).
NUMBER_TEXT = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|infinity|nan)"
INTEGER_TEXT = r"-?\d{1,18}"
SECONDS_TEXT = r"\d{1,20}(?:\.\d{0,9})?"


def _from_text(
    column: pa.Array, kind: pa.DataType, pattern: str, problems: Problems, field: str, rows: Rows
) -> pa.Array:
    """A text column cast to ``kind``; values that do not read as one are flagged (and 0)."""
    text = column.cast(pa.string())
    trimmed = pc.utf8_trim_whitespace(text)
    fits = pc.match_substring_regex(trimmed, f"^(?:{pattern})$", ignore_case=True).fill_null(True)
    bad = ~fits.to_numpy(zero_copy_only=False)
    flag(problems, bad, field, f"not {_NAMES[pattern]}", lambda i: repr(text[i].as_py()), rows)
    return pc.if_else(fits, trimmed, "0").cast(kind)


_NAMES = {NUMBER_TEXT: "a number", INTEGER_TEXT: "an integer", SECONDS_TEXT: "a timestamp"}


def _readable(
    column: pa.Array, kind: pa.DataType, pattern: str, problems: Problems, field: str, rows: Rows
) -> pa.Array:
    """``column`` as ``kind`` when its type casts safely, read from text when it is text;
    a column of any other type (binary, lists...) has every row flagged."""
    plain = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if pa.types.is_string(plain) or pa.types.is_large_string(plain):
        return _from_text(column, kind, pattern, problems, field, rows)
    if pa.types.is_integer(plain) or pa.types.is_floating(plain) or pa.types.is_decimal(plain):
        return column
    if pa.types.is_timestamp(plain) and kind == DECIMAL_SECONDS:
        return column
    reason = f"values of type {plain} are not {_NAMES[pattern]}"
    flag(problems, np.ones(len(column), dtype=bool), field, reason, rows=rows)
    return pa.nulls(len(column), kind).fill_null(0)


def numbers(
    column: pa.Array | pa.ChunkedArray,
    problems: Problems,
    field: str,
    *,
    invalid: str,
    zero_ok: bool = False,
    rows: Rows = None,
) -> np.ndarray:
    """float64 values; missing, non-finite and negative (or zero, unless ``zero_ok``) are
    flagged, the last counted under ``invalid`` (INVALID_PRICE or INVALID_VOLUME)."""
    column = _array(column)
    values = _readable(column, pa.float64(), NUMBER_TEXT, problems, field, rows)
    values = numpy_of(values.cast(pa.float64()))

    def describe(i: int) -> str:
        return repr(float(values[i]))

    missing = _missing(column)
    usable = np.isfinite(values) & ((values >= 0) if zero_ok else (values > 0))
    if usable.all() and not missing.any():
        return values
    flag(problems, missing, field, "missing", rows=rows)
    flag(problems, ~np.isfinite(values), field, "not a number", describe, rows, cause=NAN_OR_INF)
    if zero_ok:
        flag(problems, values < 0, field, "negative", describe, rows, cause=invalid)
    else:
        flag(problems, ~(values > 0), field, "not positive", describe, rows, cause=invalid)
    return values


def integers(
    column: pa.Array | pa.ChunkedArray, problems: Problems, field: str, *, rows: Rows = None
) -> np.ndarray:
    """int64 values; missing ones are flagged."""
    column = _array(column)
    flag(problems, _missing(column), field, "missing", rows=rows)
    values = _readable(column, pa.int64(), INTEGER_TEXT, problems, field, rows)
    try:
        return numpy_of(values.cast(pa.int64()))
    except pa.ArrowInvalid:  # fractions, or beyond int64: found value by value
        whole = [_whole(value) for value in values.to_pylist()]
        bad = np.array([w is None for w in whole]) & ~_missing(values)
        flag(problems, bad, field, "not an integer", lambda i: repr(values[i].as_py()), rows)
        return np.array([w or 0 for w in whole], dtype=np.int64)


def _whole(value: Any) -> int | None:
    """``value`` as an int64, or None when it is not a whole number in range."""
    try:
        whole = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return whole if whole == value and -(2**63) <= whole < 2**63 else None


def timestamps(
    column: pa.Array | pa.ChunkedArray, problems: Problems, field: str, *, rows: Rows = None
) -> np.ndarray:
    """int64 ns; missing, negative or out-of-range values are flagged."""
    column = _array(column)
    flag(problems, _missing(column), field, "missing", rows=rows)
    ns, bad = to_ns(_readable(column, DECIMAL_SECONDS, SECONDS_TEXT, problems, field, rows))
    flag(problems, bad, field, "bad timestamp", lambda i: repr(column[i].as_py()), rows)
    return ns


def per_value(
    column: pa.Array | pa.ChunkedArray, function: Callable[[str], Any], missing: Any
) -> np.ndarray:
    """``function`` of each value's text (``missing`` for nulls), called once per distinct value."""
    column = _array(column)
    if not pa.types.is_dictionary(column.type):
        column = column.cast(pa.string()).dictionary_encode()
    distinct = column.dictionary.to_pylist()
    lookup = np.array([function(str(value)) for value in distinct] + [missing])
    return lookup[numpy_of(column.indices, len(distinct))]


def labels(
    column: pa.Array | pa.ChunkedArray,
    known: dict[str, int],
    problems: Problems,
    field: str,
    *,
    rows: Rows = None,
) -> np.ndarray:
    """Codes of text labels (``known`` maps each label, lower-case, to its code); others flagged."""
    column = _array(column)
    codes = per_value(column, lambda text: known.get(text.strip().lower(), -1), -1)
    expected = " or ".join(map(repr, known))
    flag(problems, codes < 0, field, f"not {expected}", lambda i: repr(column[i].as_py()), rows)
    return codes


# --- books --------------------------------------------------------------------------------

BOOK_TYPES = {"delta": 0, "snapshot": 1}
Levels = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # offsets, side, price, size


def level_offsets(counts: np.ndarray) -> np.ndarray:
    """Offsets (``len(counts) + 1``) into level arrays holding ``counts`` levels per update."""
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


# --- trades -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TradeFields:
    """Which column of a file holds each part of a trade."""

    timestamp: str
    price: str
    volume: str
    side: str  # a 'buy'/'sell' direction, or Binance's is_buyer_maker when buyer_maker
    trade_id: str | None
    buyer_maker: bool = False
    symbol: str | None = None


DIRECTIONS = {"buy": 0, "sell": 1}


def trade_chunk(table: pa.Table, fields: TradeFields, problems: Problems) -> TradeChunk:
    """A batch's columns as a TradeChunk (bad rows flagged, not yet removed)."""
    ts_ns = timestamps(table[fields.timestamp], problems, fields.timestamp)
    price = numbers(table[fields.price], problems, fields.price, invalid=INVALID_PRICE)
    volume = numbers(table[fields.volume], problems, fields.volume, invalid=INVALID_VOLUME)
    side = _array(table[fields.side])
    if fields.buyer_maker:  # the buyer made the market: the aggressor sold
        problems.flag(_missing(side), fields.side, "missing")
        is_sell = numpy_of(side, False)
    else:
        is_sell = labels(side, DIRECTIONS, problems, fields.side) == 1
    trade_id = None
    if fields.trade_id is not None:
        trade_id = integers(table[fields.trade_id], problems, fields.trade_id)
    return TradeChunk(ts_ns, price, volume, is_sell, trade_id)
