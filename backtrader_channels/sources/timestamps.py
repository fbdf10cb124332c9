"""Timestamps of any column type to int64 nanoseconds (UTC), the unit told by magnitude.

A number ``v`` is seconds if ``v < 1e11``, milliseconds if ``v < 1e14``, microseconds if
``v < 1e17``, else nanoseconds (so 2025 reads right in every unit). Integers and decimals
are exact; floating-point numbers are rounded to the microsecond.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .arrays import numpy_of

__all__ = ["DECIMAL_SECONDS", "to_ns"]

DECIMAL_SECONDS = pa.decimal128(38, 9)  # how text timestamps are read: exact to the nanosecond
LIMITS = np.array([1e11, 1e14, 1e17])  # upper bounds of s, ms, us
NS_PER_UNIT = np.array([1_000_000_000, 1_000_000, 1_000, 1], dtype=np.int64)
MAX_NS = float(np.iinfo(np.int64).max)


def to_ns(values: pa.Array | pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Nanoseconds, and a mask of unusable values (missing, negative, past 2262, not whole)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    kind = values.type
    missing = _missing(values)
    if pa.types.is_timestamp(kind):
        ns = numpy_of(values.cast(pa.timestamp("ns", tz=kind.tz)).cast(pa.int64()))
        return ns, missing | (ns < 0)
    if pa.types.is_decimal(kind):
        return _decimal_ns(values.cast(DECIMAL_SECONDS), missing)
    if pa.types.is_integer(kind):
        return _whole_ns(numpy_of(values.cast(pa.int64())), missing)
    if pa.types.is_floating(kind):
        number = numpy_of(values.cast(pa.float64()))
        unit = np.searchsorted(LIMITS, np.abs(number), side="right")
        micro = np.round(number * (NS_PER_UNIT[unit] / 1_000))
        bad = missing | ~np.isfinite(number) | (number < 0) | (micro * 1_000 >= MAX_NS)
        return np.where(bad, 0, micro).astype(np.int64) * 1_000, bad
    raise TypeError(f"timestamps of type {kind} are not supported")


def _missing(values: pa.Array) -> np.ndarray:
    if values.null_count:
        return numpy_of(values.is_null())
    return np.zeros(len(values), dtype=bool)


def _whole_ns(whole: np.ndarray, bad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whole numbers in the unit their magnitude tells, to nanoseconds."""
    if len(whole) and not bad.any():
        low, high = np.searchsorted(LIMITS, [whole.min(), whole.max()], side="right")
        if low == high and whole.min() >= 0 and float(whole.max()) * NS_PER_UNIT[high] < MAX_NS:
            return whole * NS_PER_UNIT[high], bad  # one unit throughout: the usual case
    magnitude = whole.astype(np.float64)
    factor = NS_PER_UNIT[np.searchsorted(LIMITS, magnitude, side="right")]
    bad = bad | (whole < 0) | (magnitude * factor >= MAX_NS)
    return np.where(bad, 0, whole * factor), bad


def _decimal_ns(values: pa.Array, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact: under 9.2e9 (seconds) a decimal's unscaled 128-bit value is the nanoseconds."""
    words = np.frombuffer(values.buffers()[1], dtype=np.int64)
    words = words[2 * values.offset : 2 * (values.offset + len(values))].reshape(-1, 2)
    low, high = words[:, 0], words[:, 1]
    seconds = (high == 0) & (low >= 0)
    ns, bad = np.where(seconds, low, 0), missing.copy()
    larger = ~seconds & ~missing  # whole ms, us or ns; fractions of them, or negatives, are bad
    if larger.any():
        ns[larger], bad[larger] = _whole_ns(*_whole_numbers(values.filter(pa.array(larger))))
    ns[bad] = 0
    return ns, bad


def _whole_numbers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Decimals as int64, and a mask of those that are not whole or do not fit."""
    try:
        return pc.cast(values, pa.int64()).to_numpy(), np.zeros(len(values), dtype=bool)
    except (pa.ArrowInvalid, OverflowError):
        pass
    exact = [
        int(v) if v == v.to_integral_value() and abs(v) < 2**63 else None
        for v in values.to_pylist()
    ]
    bad = np.array([v is None for v in exact], dtype=bool)
    return np.array([v or 0 for v in exact], dtype=np.int64), bad
