"""CCXTUserStreamFeed: the account's own orders and trades from ccxt.pro, as 'orders' events.

One exchange watches ``watch_my_trades`` and ``watch_orders`` together (Binance spot: the
WebSocket API's user-data subscription, signed with the API key). Every own trade becomes
an ``OwnFill`` (once per trade id across reconnects), every order change an
``OrderUpdate``; both carry the exchange's event time and join the LiveEventQueue at
priority ORDERS. When both are done in one wake-up, fills go first: an order update
says "filled" only after its trades are booked.

Each time the stream is subscribed (the first time, and after every reconnect, resync
or watchdog restart) a ``StreamResumed`` event is queued once the subscription is
confirmed: the broker then reconciles over REST what happened while nobody listened.
Reconnects, the watchdog and redaction are CCXTFeedBase's.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ..events import Event, EventPriority
from ..kinds.orders import OrderUpdate, OwnFill, StreamResumed
from .base import CCXTFeedBase

if TYPE_CHECKING:
    from ..live import LiveEventQueue

__all__ = ["CCXTUserStreamFeed", "fill_of", "update_of"]


def _seconds(milliseconds: Any, default: float) -> float:
    return milliseconds / 1000.0 if isinstance(milliseconds, (int, float)) else default


def fill_of(trade: dict[str, Any], source: str, default_time: float) -> OwnFill:
    """An ``OwnFill`` from a ccxt trade structure (``watch_my_trades`` or ``fetch_my_trades``)."""
    fee = trade.get("fee") or {}
    info = trade.get("info") or {}
    return OwnFill(
        _seconds(trade.get("timestamp"), default_time), trade["symbol"], str(trade["id"]),
        None if trade.get("order") is None else str(trade["order"]), info.get("c") or None,
        trade["side"], float(trade["price"]), float(trade["amount"]), float(fee.get("cost") or 0.0),
        fee.get("currency"), source,
    )


def update_of(order: dict[str, Any], source: str, default_time: float) -> OrderUpdate:
    """An ``OrderUpdate`` from a ccxt order structure."""
    stamp = order.get("lastUpdateTimestamp") or order.get("timestamp")
    return OrderUpdate(
        _seconds(stamp, default_time), order["symbol"], order.get("clientOrderId"),
        None if order.get("id") is None else str(order["id"]), order.get("status") or "open",
        float(order.get("filled") or 0.0), "", source,
    )


class CCXTUserStreamFeed(CCXTFeedBase):
    """Own orders and fills of the account behind ``config``'s API key.

    ``symbol`` names the events' channel for anything not tied to one symbol
    (``StreamResumed``); fills and order updates go to their own symbol's channel.
    """

    channel_type = "orders"
    priority = EventPriority.ORDERS

    def __init__(self, exchange_id: str, symbol: str, event_queue: LiveEventQueue, **options: Any) -> None:
        options.setdefault("stale_timeout", None)  # an account can be quiet for hours
        super().__init__(exchange_id, symbol, event_queue, **options)
        self._watching: Any = None  # the exchange the pending watches belong to
        self._pending: dict[str, asyncio.Future] = {}
        self._seen_trades: set[str] = set()

    async def _watch(self, exchange: Any) -> Any:
        try:
            if exchange is not self._watching:
                self._cancel_pending()
            if not self._pending:
                await exchange.authenticate()  # subscribed and confirmed: nothing after this is missed
                self._watching = exchange
                self._pending = {"fills": asyncio.ensure_future(exchange.watch_my_trades()),
                                 "orders": asyncio.ensure_future(exchange.watch_orders())}
                return [("resumed", None)]
            done, _ = await asyncio.wait(self._pending.values(), return_when=asyncio.FIRST_COMPLETED)
            results = []
            for name in ("fills", "orders"):  # fills before the order updates that count them
                task = self._pending[name]
                if task in done:
                    results.append((name, task.result()))
                    watch = exchange.watch_my_trades if name == "fills" else exchange.watch_orders
                    self._pending[name] = asyncio.ensure_future(watch())
            return results
        except BaseException:
            self._cancel_pending()  # the next call subscribes again, then reconciles
            raise

    def _cancel_pending(self) -> None:
        for task in self._pending.values():
            task.cancel()
        self._pending = {}
        self._watching = None

    def _deliver(self, results: Any, recv_timestamp: float) -> None:
        counters = self._counters
        for name, items in results:
            if name == "resumed":
                self._push(StreamResumed(time.time(), self.symbol))
                continue
            for item in items:
                counters.messages += 1
                if name == "fills":
                    fill = fill_of(item, "stream", recv_timestamp)
                    if fill.trade_id in self._seen_trades:
                        counters.duplicates += 1
                        continue
                    self._seen_trades.add(fill.trade_id)
                    counters.trades += 1
                    self._push(fill)
                else:
                    self._push(update_of(item, "stream", recv_timestamp))

    def _push(self, data: Any) -> None:
        self.event_queue.push(Event(data.timestamp, self.priority, self.channel_type, data.symbol, data))
