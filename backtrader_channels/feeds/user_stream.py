"""CCXTUserStreamFeed: the account's own orders and trades from ccxt.pro, as 'orders' events.

One exchange watches ``watch_my_trades`` and ``watch_orders`` together (Binance spot: the
WebSocket API's user-data subscription, signed with the API key; USD-M futures, when the
feed's symbol is a linear contract: the listenKey stream of ``ORDER_TRADE_UPDATE`` and
``ACCOUNT_UPDATE``, whose realized profit ``rp`` each fill carries). What they deliver is
read from ccxt's caches (``myTrades``, ``orders``) on every resolved watch and every
``poll_seconds``: a message ccxt handles between two ``watch_*`` calls resolves no future
and would otherwise wait in the cache for the next one. Every own trade becomes an
``OwnFill`` (once per trade id across reconnects), every change of an order's status or
filled amount an ``OrderUpdate``; both carry the exchange's event time and join the
LiveEventQueue at priority ORDERS, fills first: an order update says "filled" only after
its trades are booked.

Each time the stream is subscribed (the first time, and after every reconnect, resync
or watchdog restart) a ``StreamResumed`` event is queued once the subscription is
confirmed: the broker then reconciles over REST what happened while nobody listened.
Reconnects, the watchdog and redaction are CCXTFeedBase's.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..events import Event
from ..kinds.orders import ORDERS, OrderUpdate, OwnFill, StreamResumed
from .base import CCXTFeedBase, abandon_futures

if TYPE_CHECKING:
    from ..live import LiveEventQueue

__all__ = ["CCXTUserStreamFeed", "fill_of", "update_of"]


def _seconds(milliseconds: Any, default: float) -> float:
    return milliseconds / 1000.0 if isinstance(milliseconds, (int, float)) else default


def fill_of(trade: dict[str, Any], source: str, default_time: float) -> OwnFill:
    """An ``OwnFill`` from a ccxt trade structure (``watch_my_trades`` or ``fetch_my_trades``)."""
    fee = trade.get("fee") or {}
    info = trade.get("info") or {}
    realized = info.get("rp", info.get("realizedPnl"))  # USD-M: the stream's rp, REST's realizedPnl
    return OwnFill(
        _seconds(trade.get("timestamp"), default_time), trade["symbol"], str(trade["id"]),
        None if trade.get("order") is None else str(trade["order"]), info.get("c") or None,
        trade["side"], float(trade["price"]), float(trade["amount"]), float(fee.get("cost") or 0.0),
        fee.get("currency"), source, None if realized is None else float(realized),
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

    channel_type, priority = ORDERS.name, ORDERS.priority
    poll_seconds = 0.05  # how often ccxt's caches are read besides each resolved watch

    def __init__(self, exchange_id: str, symbol: str, event_queue: LiveEventQueue, *,
                 on_change: Callable[[Any], None] | None = None, **options: Any) -> None:
        """``on_change(report)``, when given, receives each report instead of the queue (an
        execution client that keeps its own view of what was reported)."""
        options.setdefault("stale_timeout", None)  # an account can be quiet for hours
        super().__init__(exchange_id, symbol, event_queue, **options)
        self.on_change = on_change
        self._watching: Any = None  # the exchange the pending watches belong to
        self._pending: dict[str, asyncio.Future] = {}
        self._seen_trades: set[str] = set()
        self._order_states: dict[str, tuple] = {}  # order id -> (status, filled) last delivered
        self._params: dict[str, str] = {}  # ccxt's account type params (futures)

    async def _watch(self, exchange: Any) -> Any:
        try:
            if exchange is not self._watching:
                self._cancel_pending()
            if not self._pending:
                params = await self._account_type(exchange)
                await exchange.authenticate(params)  # spot: subscribed and confirmed
                self._watching = exchange
                self._pending = {"fills": asyncio.ensure_future(exchange.watch_my_trades(None, None, None, params)),
                                 "orders": asyncio.ensure_future(exchange.watch_orders(None, None, None, params))}
                if params:
                    await self._listening(exchange)  # futures: the listenKey stream is connected
                return [StreamResumed(time.time(), self.symbol)]
            done, _ = await asyncio.wait(self._pending.values(), timeout=self.poll_seconds,
                                         return_when=asyncio.FIRST_COMPLETED)
            for name, task in list(self._pending.items()):
                if task in done:
                    task.result()  # a closed socket raises here
                    watch = exchange.watch_my_trades if name == "fills" else exchange.watch_orders
                    self._pending[name] = asyncio.ensure_future(watch(None, None, None, self._params))
            return self._changes(exchange)
        except BaseException:
            self._cancel_pending()  # the next call subscribes again, then reconciles
            raise

    async def _account_type(self, exchange: Any) -> dict[str, str]:
        """ccxt's params naming the account of the feed's symbol: {} for spot, the contract
        type (``{'type': 'swap', 'subType': 'linear'}``) for futures."""
        await exchange.load_markets()
        market = exchange.market(self.symbol)
        self._params = {}
        if market.get("contract"):
            self._params = {"type": market["type"], "subType": "linear" if market.get("linear") else "inverse"}
        return self._params

    async def _listening(self, exchange: Any) -> None:
        """Wait until the listenKey stream's socket is open (or a watch failed)."""
        while True:
            for url, client in list(exchange.clients.items()):
                if "listenKey=" in url:
                    await asyncio.shield(client.connected)
                    return
            for task in self._pending.values():
                if task.done():
                    task.result()  # raises what stopped it
            await asyncio.sleep(0.005)

    def _changes(self, exchange: Any) -> list[Any]:
        """New own trades, then changed orders, read from ccxt's caches."""
        now = time.time()
        changes: list[Any] = []
        for trade in exchange.myTrades or ():
            trade_id = str(trade["id"])
            if trade_id not in self._seen_trades:
                self._seen_trades.add(trade_id)
                changes.append(fill_of(trade, "stream", now))
        for order in exchange.orders or ():
            state = (order.get("status"), order.get("filled"))
            if self._order_states.get(order["id"]) != state:
                self._order_states[order["id"]] = state
                changes.append(update_of(order, "stream", now))
        return changes

    def _cancel_pending(self) -> None:
        for task in self._pending.values():
            task.cancel()
        if self._watching is not None:
            abandon_futures(self._watching)
        self._pending = {}
        self._watching = None

    def _deliver(self, changes: Any, recv_timestamp: float) -> None:
        counters = self._counters
        for change in changes:
            counters.messages += 1
            if isinstance(change, OwnFill):
                counters.trades += 1
            self._push(change)

    def _push(self, data: Any) -> None:
        if self.on_change is not None:
            self.on_change(data)
            return
        self.event_queue.push(Event(data.timestamp, self.priority, self.channel_type, data.symbol, data))
