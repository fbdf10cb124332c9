"""Replay a historical source as Event objects, in file order.

The engine never needs this (it reads columns directly); it serves tools that work
event by event: the validator CLI, and feeding a LiveEventQueue from a file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .channels.tick import rows_of, ticks_of
from .events import Event, OrderBookEvent
from .kinds.books import BOOKS
from .kinds.trades import TRADES
from .sources.chunks import BookChunk, to_seconds

__all__ = ["replay_events"]


def replay_events(source: Any, symbol: str) -> Iterator[Event]:
    """Each row of a trade or book source as an ``Event`` (tick or orderbook) for ``symbol``."""
    for chunk in source.chunks():
        if isinstance(chunk, BookChunk):
            seconds = to_seconds(chunk.ts_ns).tolist()
            offsets, side = chunk.offsets.tolist(), chunk.side.tolist()
            prices, sizes = chunk.price.tolist(), chunk.size.tolist()
            for k, (ts, snapshot) in enumerate(zip(seconds, chunk.is_snapshot.tolist())):
                levels = range(offsets[k], offsets[k + 1])
                bids = [(prices[j], sizes[j]) for j in levels if not side[j]]
                asks = [(prices[j], sizes[j]) for j in levels if side[j]]
                kind = "snapshot" if snapshot else "delta"
                book = OrderBookEvent(ts, bids, asks, kind=kind, symbol=symbol)
                yield Event(ts, BOOKS.priority, BOOKS.name, symbol, data=book)
        else:
            for tick in ticks_of(rows_of(chunk), symbol):
                yield Event(tick.timestamp, TRADES.priority, TRADES.name, symbol, data=tick)
