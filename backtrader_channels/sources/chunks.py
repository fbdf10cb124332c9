"""The columnar form every historical source streams: chunks of numpy arrays.

Timestamps are int64 nanoseconds since the epoch (UTC), non-decreasing within a source.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple, overload

import numpy as np

__all__ = ["BookChunk", "TimeChunk", "TradeChunk", "slice_rows", "to_seconds"]


@overload
def to_seconds(ts_ns: np.ndarray) -> np.ndarray: ...
@overload
def to_seconds(ts_ns: int) -> float: ...
def to_seconds(ts_ns: np.ndarray | int) -> np.ndarray | float:
    """Epoch seconds as floats, via whole microseconds: 1735689600009000000 ns gives
    1735689600.009 exactly as printed (ns / 1e9 would round to ...0089998)."""
    return (ts_ns // 1000) / 1e6


class TradeChunk(NamedTuple):
    """Consecutive trades of one source."""

    ts_ns: np.ndarray  # int64
    price: np.ndarray  # float64
    volume: np.ndarray  # float64
    is_sell: np.ndarray  # bool: the aggressor sold
    trade_id: np.ndarray | None  # int64, or None when the source has no ids

    def __len__(self) -> int:
        return len(self.ts_ns)


class BookChunk(NamedTuple):
    """Consecutive book updates of one source.

    Update ``k`` has its levels at ``offsets[k]:offsets[k + 1]`` of ``side``/``price``/``size``
    (side 0 = bid, 1 = ask; size 0 removes the level).
    """

    ts_ns: np.ndarray  # int64, one per update
    is_snapshot: np.ndarray  # bool, one per update
    offsets: np.ndarray  # int64, len(ts_ns) + 1
    side: np.ndarray  # int8, one per level
    price: np.ndarray  # float64, one per level
    size: np.ndarray  # float64, one per level

    def __len__(self) -> int:
        return len(self.ts_ns)


class TimeChunk(NamedTuple):
    """Rows that carry only a time (bar closes)."""

    ts_ns: np.ndarray

    def __len__(self) -> int:
        return len(self.ts_ns)


def _make(cls: type, iterable: Iterable[Any]) -> tuple:
    return tuple.__new__(cls, iterable)


# len() of a chunk is its number of rows, not of fields, so NamedTuple's own _make (and so
# _replace) would refuse every chunk: build them without that check.
TradeChunk._make = BookChunk._make = TimeChunk._make = classmethod(_make)  # type: ignore[method-assign, assignment]


def slice_rows(chunk: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of a chunk, as views: a BookChunk's levels follow its offsets;
    the columns of other chunks (NamedTuples of per-row arrays, None for a column a
    source lacks) are sliced alike."""
    if isinstance(chunk, BookChunk):
        first, last = chunk.offsets[start], chunk.offsets[min(stop, len(chunk))]
        return BookChunk(chunk.ts_ns[start:stop], chunk.is_snapshot[start:stop],
                         chunk.offsets[start : stop + 1] - first,
                         chunk.side[first:last], chunk.price[first:last], chunk.size[first:last])
    return type(chunk)._make(None if column is None else column[start:stop] for column in chunk)
