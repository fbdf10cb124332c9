"""The order-book kind: ``OrderBookChannel`` and ``notify_orderbook``.

Rows are a window of book updates as columns (seconds, snapshot flag, level offsets, and
the levels' side, price and size); a live ``OrderBookEvent`` is one such update.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..channels import OrderBookChannel
from ..channels.book import level_columns
from ..events import EventPriority, OrderBookEvent
from ..sources.chunks import to_seconds
from .base import Kind, Step

if TYPE_CHECKING:
    from ..broker.market import Market

__all__ = ["BOOKS", "BookStep"]


class BookStep(Step):
    """Updates of one OrderBookChannel: book -> broker -> notifications -> bridges -> callbacks."""

    priority = EventPriority.ORDERBOOK
    channel: OrderBookChannel
    market: Market  # market-data kinds always have one
    _columns: tuple = ()
    _ids: list | None = None

    def load(self, chunk: Any) -> None:
        self._columns = (
            to_seconds(chunk.ts_ns).tolist(),
            chunk.is_snapshot.tolist(),
            chunk.offsets.tolist(),
            chunk.side.tolist(),
            chunk.price.tolist(),
            chunk.size.tolist(),
        )
        self._ids = None

    def take(self, data: OrderBookEvent) -> bool:
        sides, prices, sizes = level_columns(data.bids, data.asks)
        self._columns = ([data.timestamp], [data.is_snapshot], [0, len(sides)], sides, prices, sizes)
        self._ids = [data.update_id]
        return self.run(0, 1)

    def run(self, start: int, stop: int) -> bool:
        ts, is_snapshot, offsets, side, price, size = self._columns
        ids = self._ids
        for k in range(start, stop):
            lo, hi = offsets[k], offsets[k + 1]
            update_id = None if ids is None else ids[k]
            if self.handle(ts[k], is_snapshot[k], side[lo:hi], price[lo:hi], size[lo:hi], update_id):
                return True
        return False

    def handle(self, timestamp: float, is_snapshot: bool, sides: list, prices: list, sizes: list,
               update_id: int | None) -> bool:
        """One book update; True when the run must stop."""
        engine, channel, market = self.engine, self.channel, self.market
        engine.clock.now = timestamp
        if not channel.apply_levels(timestamp, is_snapshot, sides, prices, sizes, update_id):
            return engine.stopping  # refused and counted (on_error='skip')
        broker = engine.broker
        if market.orders or broker.incoming:
            broker.on_book(market)
        if engine.notifications:
            engine.deliver_notifications()
        if engine.bridges.watches(channel):
            engine.bridges.update(channel)
        book = channel.book
        for callback in engine.callbacks["orderbook"]:
            callback(book)
        return engine.finish_step()


BOOKS = Kind("orderbook", EventPriority.ORDERBOOK, OrderBookChannel, BookStep, "notify_orderbook")
