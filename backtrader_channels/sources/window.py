"""``fromdate``/``todate`` of a channel: only its file's rows inside the window are streamed.

As on a backtrader data feed, both ends are included; a date (not a datetime) is the start
of its day for ``fromdate`` and the end of its day for ``todate``; naive datetimes are UTC
and numbers are epoch seconds. The rows of a source are in time order, so each chunk is cut
with two binary searches, chunks before the window are skipped, and the file is not read
past its end.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np

from .chunks import BookChunk, slice_rows

__all__ = ["DateWindow", "window_ns"]

DateLike = dt.datetime | dt.date | float | int | None
_DAY_NS = 86_400 * 1_000_000_000


def _to_ns(value: DateLike, end_of_day: bool) -> int | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)
        return round(aware.timestamp() * 1e6) * 1000
    if isinstance(value, dt.date):
        start = round(dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc).timestamp()) * 10**9
        return start + _DAY_NS - 1 if end_of_day else start
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return round(value * 1e6) * 1000
    raise TypeError(f"fromdate/todate take a datetime, a date or epoch seconds, got {value!r}")


def window_ns(fromdate: DateLike, todate: DateLike) -> tuple[int, int] | None:
    """The window as (first, last) int64 nanoseconds, both included; None when both are None."""
    first, last = _to_ns(fromdate, end_of_day=False), _to_ns(todate, end_of_day=True)
    if first is None and last is None:
        return None
    first = np.iinfo(np.int64).min if first is None else first
    last = np.iinfo(np.int64).max if last is None else last
    if first > last:
        raise ValueError(f"fromdate {fromdate!r} is after todate {todate!r}")
    return first, last


class DateWindow:
    """A source streaming only its rows from ``first`` to ``last`` ns (both included); every
    other attribute is the source's. A book starts at its first snapshot in the window (the
    deltas before it update a book not yet known). A dataset (many files) first drops the
    files wholly outside the window, unopened (``Dataset.within``)."""

    def __init__(self, source: Any, window: tuple[int, int]) -> None:
        within = getattr(source, "within", None)
        self.source = source if within is None else within(window)
        self.first, self.last = window

    def chunks(self) -> Iterator[Any]:
        first, last = self.first, self.last
        waiting_for_snapshot = first > np.iinfo(np.int64).min  # a fromdate: the book starts anew
        for chunk in self.source.chunks():
            ts = chunk.ts_ns
            if not len(ts) or ts[-1] < first:
                continue
            start = int(np.searchsorted(ts, first, side="left")) if ts[0] < first else 0
            stop = int(np.searchsorted(ts, last, side="right")) if ts[-1] > last else len(ts)
            if isinstance(chunk, BookChunk) and waiting_for_snapshot:
                snapshots = np.flatnonzero(chunk.is_snapshot[start:stop])
                start = start + int(snapshots[0]) if len(snapshots) else stop
                waiting_for_snapshot = not len(snapshots)
            if start < stop:
                yield chunk if stop - start == len(ts) else slice_rows(chunk, start, stop)
            if stop < len(ts):
                return  # the rest of the file is after the window

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)

    def __repr__(self) -> str:
        return f"DateWindow({self.source!r}, {self.first}, {self.last})"
