"""Replay a historical source as Event objects, in file order.

The engine never needs this (it reads columns directly); it serves tools that work
event by event: the validator CLI, and feeding a LiveEventQueue from a file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .events import Event, EventPriority, OrderBookEvent, TickEvent
from .sources.chunks import BookChunk

__all__ = ["replay_events"]


def replay_events(source: Any, symbol: str) -> Iterator[Event]:
    """Each row of a trade or book source as an ``Event`` (tick or orderbook) for ``symbol``."""
    for chunk in source.chunks():
        seconds = ((chunk.ts_ns // 1000) / 1e6).tolist()
        if isinstance(chunk, BookChunk):
            offsets, side = chunk.offsets.tolist(), chunk.side.tolist()
            prices, sizes = chunk.price.tolist(), chunk.size.tolist()
            for k, (ts, snapshot) in enumerate(zip(seconds, chunk.is_snapshot.tolist())):
                levels = range(offsets[k], offsets[k + 1])
                bids = [(prices[j], sizes[j]) for j in levels if not side[j]]
                asks = [(prices[j], sizes[j]) for j in levels if side[j]]
                kind = "snapshot" if snapshot else "delta"
                book = OrderBookEvent(ts, bids, asks, kind=kind, symbol=symbol)
                yield Event(ts, EventPriority.ORDERBOOK, "orderbook", symbol, data=book)
        else:
            ids = chunk.trade_id.tolist() if chunk.trade_id is not None else [None] * len(seconds)
            columns = zip(seconds, chunk.price.tolist(), chunk.volume.tolist(), chunk.is_sell.tolist(), ids)
            for ts, price, volume, sell, trade_id in columns:
                tick = TickEvent(ts, price, volume, "sell" if sell else "buy", trade_id, symbol)
                yield Event(ts, EventPriority.TICK, "tick", symbol, data=tick)
