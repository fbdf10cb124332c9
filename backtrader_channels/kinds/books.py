"""The order-book kind: ``OrderBookChannel`` and ``notify_orderbook``.

Rows are a window of book updates as columns (a ``BookChunk``: seconds, snapshot flag,
level offsets, and the levels' side, price and size), made ready to apply (``Updates``) a
block at a time; a live ``OrderBookEvent`` is one such update.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..channels import OrderBookChannel
from ..channels.book import Updates, level_columns
from ..events import EventPriority, OrderBookEvent
from ..sources.chunks import BookChunk, to_seconds
from .base import Kind, Step

if TYPE_CHECKING:
    from ..broker.market import Market

__all__ = ["BOOKS", "BookStep"]


class BookStep(Step):
    """Updates of one OrderBookChannel: book -> broker -> notifications -> bridges -> callbacks."""

    priority = EventPriority.ORDERBOOK
    block = 8192  # updates made ready (Level tuples built) at a time: bounds a window's memory
    channel: OrderBookChannel
    market: Market  # market-data kinds always have one
    _chunk: BookChunk | None = None
    _ready: Updates | None = None
    _first = _end = 0  # the chunk rows ``_ready`` holds

    def load(self, chunk: BookChunk) -> None:
        self._chunk, self._ready = chunk, None

    def take(self, data: OrderBookEvent) -> bool:
        sides, prices, sizes = level_columns(data.bids, data.asks)
        self._chunk, self._first, self._end = None, 0, 1
        self._ready = Updates.one(data.timestamp, data.is_snapshot, sides, prices, sizes, data.update_id)
        return self.handle(self._ready, 0, 1)

    def run(self, start: int, stop: int) -> bool:
        first = self._first
        if self._ready is not None and first <= start and stop <= self._end:  # the usual case
            return self.handle(self._ready, start - first, stop - first)
        while start < stop:
            ready = self._ready if self._ready is not None and self._first <= start < self._end else self._prepare(start)
            end = min(stop, self._end)
            if self.handle(ready, start - self._first, end - self._first):
                return True
            start = end
        return False

    def _prepare(self, start: int) -> Updates:
        """Make the block of the loaded chunk that begins at row ``start`` ready to apply."""
        chunk = self._chunk
        assert chunk is not None  # run() follows load()
        stop = min(len(chunk), start + self.block)
        lo, hi = int(chunk.offsets[start]), int(chunk.offsets[stop])
        self._first, self._end = start, stop
        self._ready = Updates.of_columns(
            to_seconds(chunk.ts_ns[start:stop]), chunk.is_snapshot[start:stop], chunk.offsets[start : stop + 1] - lo,
            chunk.side[lo:hi], chunk.price[lo:hi], chunk.size[lo:hi], lists=self.channel.book.reads_lists,
        )
        return self._ready

    def handle(self, updates: Updates, start: int, stop: int) -> bool:
        """Updates ``start:stop``, one full step each (the hot path); True when the run must stop."""
        engine, channel, market = self.engine, self.channel, self.market
        clock, broker, bridges = engine.clock, engine.broker, engine.bridges
        apply, seconds, book = channel.apply_update, updates.seconds, channel.book
        watched = bridges.watches(channel)
        for k in range(start, stop):
            clock.now = seconds[k]
            if not apply(updates, k):
                if engine.stopping:
                    return True
                continue  # refused and counted (on_error='skip')
            if market.orders or broker.incoming:
                broker.on_book(market)
            if engine.notifications:
                engine.deliver_notifications()
            if watched:
                bridges.update(channel)
            for callback in engine.callbacks["orderbook"]:  # per update: pause() swaps them
                callback(book)
            if engine.finish_step():
                return True
        return False


BOOKS = Kind("orderbook", EventPriority.ORDERBOOK, OrderBookChannel, BookStep, "notify_orderbook")
