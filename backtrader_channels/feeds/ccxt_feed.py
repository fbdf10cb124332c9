"""The ccxt.pro live feeds: trades (``watch_trades``) and order books (``watch_order_book``).

Both put ``Event``s on a ``LiveEventQueue`` with ``channel_name`` = the symbol, for the
engine to dispatch to the strategy's ``('tick', symbol)`` / ``('orderbook', symbol)`` channel::

    queue = LiveEventQueue()
    trades = CCXTLiveTickFeed('binance', 'BTC/USDT', queue)
    book = CCXTLiveOrderBookFeed('binance', 'BTC/USDT', queue, depth=20)
    runner = FeedThread([trades, book]).start()   # or: await trades.start()
    ...
    runner.stop()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import ccxt

from ..events import OrderBookEvent, TickEvent
from ..kinds.books import BOOKS
from ..kinds.trades import TRADES
from ..live.trade_ids import TradeIdFilter
from .base import CCXTFeedBase, Resync

if TYPE_CHECKING:
    from ..live import LiveEventQueue

__all__ = ["CCXTLiveOrderBookFeed", "CCXTLiveTickFeed"]


class CCXTLiveTickFeed(CCXTFeedBase):
    """Trades of one symbol as ``Event(timestamp, TICK, 'tick', symbol, data=TickEvent)``.

    ``TickEvent.timestamp`` is the exchange's trade time, ``recv_timestamp`` the local
    receive time. Each trade is delivered at most once across reconnects (``TradeIdFilter``,
    memory bounded by ``dedupe_window``); ids skipped over are counted in
    ``stats.missed_trades``, ids that start again or jump implausibly (more than
    ``max_id_jump``) in ``stats.id_epochs``. Items without a usable id, time, price, amount or side are
    counted in ``stats.bad_messages`` and skipped.
    """

    channel_type, priority = TRADES.name, TRADES.priority

    def __init__(
        self, exchange_id: str, symbol: str, event_queue: LiveEventQueue, *, dedupe_window: int = 100_000,
        max_id_jump: int = 1_000_000, **options: Any
    ) -> None:
        super().__init__(exchange_id, symbol, event_queue, **options)
        self._trade_ids = TradeIdFilter(dedupe_window, max_id_jump)

    async def _watch(self, exchange: Any) -> Any:
        return await exchange.watch_trades(self.symbol)

    def _deliver(self, trades: Any, recv_timestamp: float) -> None:
        counters, trade_ids = self._counters, self._trade_ids
        for trade in trades:
            counters.messages += 1
            tick = self._tick(trade, recv_timestamp)
            if tick is None:
                self._skip_bad(trade, ValueError("trade without id, timestamp, price, amount or side"))
                continue
            if not trade_ids.accept(tick.trade_id, tick.timestamp):
                counters.duplicates += 1
                continue
            counters.missed_trades, counters.id_epochs = trade_ids.missed, trade_ids.epochs
            counters.latencies.append(recv_timestamp - tick.timestamp)
            if self._emit(tick, tick.timestamp):
                counters.trades += 1

    def _tick(self, trade: Any, recv_timestamp: float) -> TickEvent | None:
        try:
            trade_id = trade["id"]
            if trade_id is None:
                return None
            if type(trade_id) is str and trade_id.isdigit():
                trade_id = int(trade_id)
            return TickEvent(
                trade["timestamp"] / 1000.0,
                float(trade["price"]),
                float(trade["amount"]),
                trade["side"],
                trade_id,
                self.symbol,
                recv_timestamp,
            )
        except (KeyError, TypeError, ValueError):
            return None


class CCXTLiveOrderBookFeed(CCXTFeedBase):
    """The order book of one symbol as ``Event(timestamp, ORDERBOOK, 'orderbook', symbol,
    data=OrderBookEvent(kind='snapshot', update_id=nonce))``.

    Why snapshots: ccxt.pro maintains the book itself (REST snapshot + diff stream, Binance's
    sync rules) and ``watch_order_book`` returns that book, with every diff received since
    the previous call already applied, not the diffs. A snapshot of the top ``depth`` levels
    (None: all) is therefore the exact state; it applies correctly whatever came before
    (including after a resync), and a queue under load may conflate snapshots losslessly.
    ``update_id`` is the book's nonce (Binance's last applied ``u``); ``timestamp`` the
    exchange time of the last diff (a REST snapshot has none: the previous event's time, or
    the receive time for the first). A crossed book (best bid >= best ask: a crossing diff
    stays in ccxt's book) is never delivered: it counts as a bad message and the book is
    rebuilt from a fresh snapshot.
    """

    channel_type, priority = BOOKS.name, BOOKS.priority

    def __init__(
        self, exchange_id: str, symbol: str, event_queue: LiveEventQueue, *, depth: int | None = None, **options: Any
    ) -> None:
        if depth is not None and depth < 1:
            raise ValueError(f"depth must be >= 1 or None, got {depth!r}")
        super().__init__(exchange_id, symbol, event_queue, **options)
        self.depth = depth
        self._last_nonce: Any = None
        self._last_timestamp: float | None = None

    async def _watch(self, exchange: Any) -> Any:
        return await exchange.watch_order_book(self.symbol)

    def _is_resync(self, error: Exception) -> bool:
        # ccxt raises a plain ExchangeError when its REST snapshot stays behind the buffered
        # diffs after its retries ("nonce is behind the cache"): also cured by a fresh start
        return super()._is_resync(error) or (
            isinstance(error, ccxt.ExchangeError) and "nonce is behind" in str(error)
        )

    def _deliver(self, book: Any, recv_timestamp: float) -> None:
        counters = self._counters
        counters.messages += 1
        nonce = book.get("nonce")
        if nonce is not None and nonce == self._last_nonce:
            return  # nothing changed since the last event
        exchange_ms = book.get("timestamp")
        if exchange_ms is not None:
            timestamp = exchange_ms / 1000.0
            counters.latencies.append(recv_timestamp - timestamp)
        else:
            timestamp = self._last_timestamp if self._last_timestamp is not None else recv_timestamp
        depth = self.depth
        bids, asks = book["bids"], book["asks"]
        if bids and asks and bids[0][0] >= asks[0][0]:
            raise Resync(f"crossed book: bid {bids[0][0]} >= ask {asks[0][0]} at update {nonce}")
        if depth is not None:
            bids, asks = bids[:depth], asks[:depth]
        update = OrderBookEvent(timestamp, bids, asks, "snapshot", self.symbol, nonce, recv_timestamp)
        self._last_nonce, self._last_timestamp = nonce, timestamp
        if self._emit(update, timestamp):
            counters.books += 1
