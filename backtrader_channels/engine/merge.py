"""Merge of chunked historical streams into one event order.

Each stream is already in time order; the merge works a window at a time: every row
older than the earliest "last timestamp" among streams that still have chunks to come
is safe to emit, because no later chunk can hold anything before it. Inside a window
one stable sort on the timestamps, over rows laid out by (priority, stream), gives the
order (timestamp, priority, stream, row) without any per-event Python.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple, Protocol

import numpy as np

from ..sources.chunks import BookChunk, TimeChunk

__all__ = ["Stream", "TimeChunk", "Window", "join", "merge_windows", "take"]


class Stream(Protocol):
    """A historical source seen by the merge: a priority and its chunks in time order."""

    priority: int

    def chunks(self) -> Iterator[Any]: ...


class Window(NamedTuple):
    """Rows to dispatch: each stream's slice and, when several streams take part, the order.

    ``order`` is None when one stream has all the rows; otherwise event ``k`` is row
    ``rows[k]`` of the slice of stream ``parts[sources[k]]``.
    """

    parts: list[tuple[int, Any]]  # (stream index, chunk slice)
    sources: np.ndarray | None
    rows: np.ndarray | None


def take(chunk: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of a chunk."""
    if isinstance(chunk, BookChunk):
        lo, hi = int(chunk.offsets[start]), int(chunk.offsets[stop])
        return BookChunk(
            chunk.ts_ns[start:stop], chunk.is_snapshot[start:stop], chunk.offsets[start : stop + 1] - lo,
            chunk.side[lo:hi], chunk.price[lo:hi], chunk.size[lo:hi],
        )
    return type(chunk)(*(None if column is None else column[start:stop] for column in chunk))


def join(first: Any, second: Any) -> Any:
    """The rows of ``first`` followed by those of ``second``."""
    if isinstance(first, BookChunk):
        offsets = np.concatenate([first.offsets[:-1], second.offsets + first.offsets[-1]])
        return BookChunk(
            np.concatenate([first.ts_ns, second.ts_ns]), np.concatenate([first.is_snapshot, second.is_snapshot]),
            offsets, *(np.concatenate([a, b]) for a, b in zip(first[3:], second[3:], strict=False)),
        )
    return type(first)(*(
        None if a is None or b is None else np.concatenate([a, b]) for a, b in zip(first, second, strict=False)
    ))


class _Cursor:
    """One stream's unconsumed rows and the chunks still to come."""

    def __init__(self, index: int, stream: Stream) -> None:
        self.index = index
        self.priority = int(stream.priority)
        self._chunks = iter(stream.chunks())
        self.rows: Any = None
        self.more = True
        self._pull()

    def _pull(self) -> None:
        """Append the next non-empty chunk (or learn there is none)."""
        for chunk in self._chunks:
            if len(chunk):
                self.rows = chunk if self.rows is None else join(self.rows, chunk)
                return
        self.more = False

    @property
    def empty(self) -> bool:
        return self.rows is None or not len(self.rows)

    def last_ts(self) -> int:
        return int(self.rows.ts_ns[-1])

    def split(self, horizon: int | None) -> Any:
        """Detach and return the rows strictly before ``horizon`` (all rows when None)."""
        ts = self.rows.ts_ns
        cut = len(ts) if horizon is None else int(np.searchsorted(ts, horizon, side="left"))
        if not cut:
            return None
        head = take(self.rows, 0, cut)
        self.rows = take(self.rows, cut, len(ts))
        return head


def merge_windows(streams: list[Stream]) -> Iterator[Window]:
    """Windows of rows in (timestamp, priority, stream order, row) order."""
    cursors = [_Cursor(i, stream) for i, stream in enumerate(streams)]
    cursors.sort(key=lambda c: (c.priority, c.index))  # the layout the stable sort keeps
    while True:
        live = [c for c in cursors if not c.empty or c.more]
        if not live:
            return
        if len(live) == 1:  # nothing to merge with: pass the stream's chunks through
            cursor = live[0]
            if not cursor.empty:
                yield Window([(cursor.index, cursor.split(None))], None, None)
            if cursor.more:
                cursor._pull()
            continue
        pending = [c for c in live if c.more]
        for cursor in pending:
            if cursor.empty:
                cursor._pull()
        pending = [c for c in live if c.more and not c.empty]
        horizon = min((c.last_ts() for c in pending), default=None)
        parts = [(c.index, head) for c in live if not c.empty for head in [c.split(horizon)] if head is not None]
        if not parts:
            for cursor in pending:
                if cursor.last_ts() == horizon:
                    cursor._pull()  # everything left is at the horizon: need the next chunk
            continue
        yield _order(parts)


def _order(parts: list[tuple[int, Any]]) -> Window:
    if len(parts) == 1:
        return Window(parts, None, None)
    times = np.concatenate([chunk.ts_ns for _, chunk in parts])
    order = np.argsort(times, kind="stable")
    sources = np.concatenate([np.full(len(chunk), k, dtype=np.int32) for k, (_, chunk) in enumerate(parts)])
    rows = np.concatenate([np.arange(len(chunk), dtype=np.int64) for _, chunk in parts])
    return Window(parts, sources[order], rows[order])
