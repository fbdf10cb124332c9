"""The order-book kind: ``OrderBookChannel`` and ``notify_orderbook``.

Rows are a window of book updates as columns (a ``BookChunk``: seconds, snapshot flag,
level offsets, and the levels' side, price and size), made ready to apply (``Updates``) a
block at a time; a live ``OrderBookEvent`` is one such update.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..channels import OrderBookChannel
from ..channels.book import Updates, level_columns
from ..events import EventPriority, OrderBookEvent
from ..sources.chunks import BookChunk, to_seconds
from ..sources.recordings import BOOK_STREAM
from .base import Codec, Kind, Step

if TYPE_CHECKING:
    from ..broker.market import Market

__all__ = ["BOOKS", "BookStep"]


class BookStep(Step):
    """Updates of one OrderBookChannel: book -> broker -> notifications -> bridges -> callbacks."""

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
        context, channel, market = self.context, self.channel, self.market
        clock, broker, bridges, finish = context.clock, context.broker, context.bridges, context.finish
        apply, seconds, book = channel.apply_update, updates.seconds, channel.book
        watched = bridges.watches(channel)
        callbacks = context.callbacks[self.kind.name]  # emptied in place while paused
        for k in range(start, stop):
            clock.now = seconds[k]
            if not apply(updates, k):
                if context.stopping:
                    return True
                continue  # refused and counted (on_error='skip')
            if broker.watches(market):
                broker.on_book(market)
            if context.notifications:
                context.deliver()
            if watched:
                bridges.update(channel)
            for callback in callbacks:
                callback(book)
            if finish():
                return True
        return False


def _flat(levels: tuple) -> list[float]:
    return [value for level in levels for value in level]


def _pairs(flat: Sequence[float]) -> list[tuple[float, float]]:
    return list(zip(flat[0::2], flat[1::2]))


def _encode(update: OrderBookEvent) -> tuple:
    return (update.timestamp, update.is_snapshot, update.update_id, _flat(update.bids), _flat(update.asks),
            update.recv_timestamp)


def _decode(fields: Sequence[Any], symbol: str | None) -> OrderBookEvent:
    timestamp, is_snapshot, update_id, bids, asks, recv_timestamp = fields
    kind = "snapshot" if is_snapshot else "delta"
    return OrderBookEvent(timestamp, _pairs(bids), _pairs(asks), kind, symbol, update_id, recv_timestamp)


# levels travel flattened: [p0, s0, p1, s1, ...]
BOOKS = Kind("orderbook", EventPriority.ORDERBOOK, OrderBookChannel, BookStep, "notify_orderbook",
             events=(OrderBookEvent,), codec=Codec(2, _encode, _decode), recording=BOOK_STREAM)
