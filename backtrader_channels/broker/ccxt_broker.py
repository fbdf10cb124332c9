"""CCXTBroker: a backtrader broker that trades at a real exchange through ccxt.

``cerebro.setbroker(CCXTBroker('binance', config, sandbox=True))`` in a live tick-mode run
(``cerebro.add_live_feed(...)``). The strategy's ``buy``/``sell``/``close``/``cancel`` become
``create_order``/``cancel_order`` calls; what the exchange does with them comes back as
'orders' events on the LiveEventQueue (the REST answers, the user-data stream, REST
reconciliation) and becomes backtrader's notifications with the exchange's own prices,
sizes and fees, in event order. Cash, positions and trades are backtrader's bookkeeping
(``seam.execute``) of the exchange's fills.

- Idempotent: each order carries the client order id ``<run_id>x<n>``; see ``Venue.place``.
- Exactly once: fills are booked once per exchange trade id, whether they come from the
  stream or a reconciliation; an order reported cancelled or expired with fills not yet
  booked waits for them before its final notification.
- Reconciled: on start (balances, positions, open orders) and each time the user stream is
  (re)subscribed (open and known orders, own trades since the last one seen).
- Spot or USD-M futures, by the run's markets (ccxt's ``market['linear']``): on futures
  (``'BTC/USDT:USDT'``) shorts are ordinary, the leverage is set on start, cash is the
  wallet balance less the initial margin (notional / leverage) of the open positions, the
  value the margin balance (wallet + unrealized profit at the last trade),
  the exchange's realized profit and commission are booked with each fill, an order that
  only closes a position (``close()``, the kill switch) goes out reduce-only, and an order
  the exchange refuses for margin (-2019) is notified as backtrader's ``Margin``.
- Safe: ``Limits`` refuse orders (Rejected, with the reason in ``order.info.reason``); when
  the run stops (runstop, Ctrl-C, SIGTERM) every open order of the run's symbols is
  cancelled, positions are flattened with ``flatten_on_stop``, and ``summary()`` says what
  happened. API keys come from ``config``, a JSON file or the environment
  (``BTCHANNELS_API_KEY``/``BTCHANNELS_API_SECRET``) and never appear in reprs or logs.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from collections.abc import Mapping
from concurrent.futures import wait
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ccxt
from backtrader import BuyOrder, Order, SellOrder
from backtrader.brokers import BackBroker
from backtrader.comminfo import CommInfoBase

from .. import seam
from ..events import Event, EventPriority
from ..feeds.redact import RedactingFilter, redact, redact_library_logs, register_secrets
from ..feeds.user_stream import CCXTUserStreamFeed, fill_of, update_of
from ..kinds.orders import OrderUpdate, OwnFill, StreamResumed
from ..live.runner import FeedThread
from .data import to_num
from .limits import Limits
from .tick_broker import FillRecord, TickBroker
from .venue import Venue

if TYPE_CHECKING:
    from ..engine.engine import TickEngine
    from ..engine.live import LiveSession

__all__ = ["CCXTBroker", "FuturesFees", "Limits", "VenueFees", "load_credentials"]

log = logging.getLogger("backtrader_channels.broker")
log.addFilter(RedactingFilter())
redact_library_logs()

ORDER_TYPES = {Order.Market: "market", Order.Limit: "limit", Order.Stop: "market", Order.StopLimit: "limit"}
STOPS = (Order.Stop, Order.StopLimit)  # sent with a triggerPrice: Binance spot's STOP_LOSS(_LIMIT)
FUTURES_TYPES = (Order.Market, Order.Limit)  # Binance sends futures stops to its algo-order API
KEY_VARIABLE, SECRET_VARIABLE = "BTCHANNELS_API_KEY", "BTCHANNELS_API_SECRET"


def load_credentials(config: Mapping[str, Any] | None = None, config_file: str | os.PathLike | None = None,
                     environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``config`` with ``apiKey``/``secret`` taken, where it has none, from ``config_file``
    (JSON with ``apiKey`` and ``secret``) or the environment."""
    merged = dict(config or {})
    if config_file is not None:
        for key, value in json.loads(Path(config_file).read_text()).items():
            merged.setdefault(key, value)
    environ = os.environ if environ is None else environ
    if KEY_VARIABLE in environ:
        merged.setdefault("apiKey", environ[KEY_VARIABLE])
    if SECRET_VARIABLE in environ:
        merged.setdefault("secret", environ[SECRET_VARIABLE])
    register_secrets(merged)
    return merged


class VenueFees(CommInfoBase):
    """Commission = the fee the exchange charged for the fill being booked (in the quote
    currency), shared between the closing and opening parts of the fill by size."""

    params = (("stocklike", True), ("commtype", CommInfoBase.COMM_FIXED))

    def __init__(self) -> None:
        super().__init__()
        self.fee = 0.0
        self.size = 0.0

    def _getcommission(self, size: float, price: float, pseudoexec: bool) -> float:
        return self.fee * abs(size) / self.size if self.size else 0.0


class FuturesFees(VenueFees):
    """A USD-M perpetual: the exchange's fees, margin = notional / leverage (``automargin``
    = 1 / leverage). Opening locks the margin, closing returns it with the profit, so cash
    is the wallet balance less the open positions' initial margin."""

    params = (("stocklike", False), ("automargin", 1.0))

    def __init__(self, leverage: float = 1.0) -> None:
        super().__init__()
        self.p.automargin = 1.0 / leverage


class CCXTBroker(TickBroker):
    """A live broker at ``exchange_id`` (a ccxt id) with ccxt constructor ``config``.

    ``sandbox`` (default True) trades on the exchange's test network. ``limits`` (a
    ``Limits``) refuse orders above a size or notional; ``cancel_on_stop`` cancels every
    open order of the run's symbols when the run ends, ``flatten_on_stop`` also closes
    positions with market orders. ``run_id`` prefixes client order ids (default: from the
    start time). Market, limit, stop and stop-limit orders are supported (stops as Binance
    spot's STOP_LOSS / STOP_LOSS_LIMIT: a buy triggers at or above its price); others
    (trailing stops, Close) are Rejected with a reason. On USD-M futures ``leverage`` is set
    for every symbol on start; market and limit orders are supported.
    """

    def __init__(self, exchange_id: str = "binance", config: Mapping[str, Any] | None = None, *,
                 sandbox: bool = True, config_file: str | os.PathLike | None = None,
                 limits: Limits | None = None, cancel_on_stop: bool = True, flatten_on_stop: bool = False,
                 run_id: str | None = None, leverage: int = 1) -> None:
        super().__init__()
        config = load_credentials(config, config_file)
        config.setdefault("enableRateLimit", True)
        self._config = {**config, "sandbox": sandbox}
        self.exchange_id = exchange_id
        self.sandbox = sandbox
        self.limits = limits or Limits()
        self.cancel_on_stop = cancel_on_stop
        self.flatten_on_stop = flatten_on_stop
        self.run_id = run_id or f"bc{int(time.time() * 1000):x}"
        self.leverage = leverage
        self.futures = False  # the run's markets are USD-M futures (known once connected)
        self.realized_pnl = 0.0  # futures: the sum of the exchange's realized profit of the run's fills
        self.venue_positions: dict[str, float] = {}  # futures: the exchange's positions at the last look
        self.addcommissioninfo(VenueFees())
        self.venue: Venue | None = None
        self.user_feed: Any = None
        self._user_thread: Any = None
        self._engine: TickEngine | None = None
        self._counter = itertools.count(1)
        self._by_client: dict[str, Order] = {}
        self._by_exchange: dict[str, Order] = {}
        self._client_of: dict[int, str] = {}  # order.ref -> client id
        self._waiting: dict[str, OrderUpdate] = {}  # final updates waiting for their fills
        self._seen_trades: set[str] = set()
        self._last_trade: dict[str, int] = {}  # symbol -> last own trade id seen
        self._started_ms = 0
        self._in_flight: set[Any] = set()  # requests sent and not answered yet
        self._flattening = False  # the kill switch's closing orders are not limited
        self.exchange_fills: list[OwnFill] = []
        self.counts = {"sent": 0, "accepted": 0, "rejected": 0, "canceled": 0, "completed": 0,
                       "retries": 0, "reconciles": 0, "reconcile_failures": 0, "foreign": 0, "adopted": 0,
                       "cancelled_at_stop": 0, "position_mismatches": 0}

    def notify(self, order: Order) -> None:
        """Notifications go out at once: the exchange's latency is real, not modelled."""
        BackBroker.notify(self, order)

    def get_value(self, datas: Any = None, mkt: bool = False, lever: bool = False) -> float:
        """Futures: Binance's margin balance, the wallet plus the unrealized profit at the last
        trade price (cash + each position's margin + its profit since backtrader last settled it)."""
        if not self.futures:
            return super().get_value(datas=datas, mkt=mkt, lever=lever)
        value = 0.0 if datas else self.cash
        for data in datas or list(self.positions):
            position = self.getposition(data)
            if position.size:
                price = self.market_of(data).price or position.adjbase
                margin = abs(position.size) * position.price * self.getcommissioninfo(data).p.automargin
                value += margin + position.size * (price - position.adjbase)
        return value

    getvalue = get_value

    def __repr__(self) -> str:
        return f"CCXTBroker({self.exchange_id!r}, sandbox={self.sandbox}, run_id={self.run_id!r})"

    @property
    def _venue(self) -> Venue:
        """The connected venue (only in a live run)."""
        if self.venue is None:
            raise RuntimeError("CCXTBroker is not connected: it trades in a live run only")
        return self.venue

    @property
    def _live(self) -> tuple[TickEngine, LiveSession]:
        """The live run this broker trades in (after ``start_live``)."""
        engine = self._engine
        if engine is None or engine.live is None:
            raise RuntimeError("CCXTBroker is not attached to a live run")
        return engine, engine.live

    # -- live lifecycle (called by the live run) -------------------------------------------
    def start_live(self, engine: TickEngine) -> None:
        """Connect, load balances, positions and open orders, start the user-data stream."""
        self._engine = engine
        self._started_ms = int(time.time() * 1000)
        self.venue = Venue(self.exchange_id, self._config)
        try:
            self.venue.call(self._load_account())
        except BaseException:
            self.venue.close()
            self.venue = None
            raise
        symbol = next(iter(self._markets))
        _, session = self._live
        self.user_feed = CCXTUserStreamFeed(self.exchange_id, symbol, session.queue, config=self._config)
        session.feeds.append(self.user_feed)
        self._user_thread = FeedThread([self.user_feed], name="ccxt-user-stream").start()

    async def _load_account(self) -> None:
        exchange, patiently = self._venue.exchange, self._venue.patiently
        await patiently(exchange.load_markets)
        self.futures = _futures(exchange, list(self._markets))
        if self.futures:
            await self._load_futures()
        else:
            balance = await patiently(exchange.fetch_balance)
            first = True
            for symbol, market in self._markets.items():
                info = exchange.market(symbol)
                if first:  # cash is the first symbol's quote currency
                    self._set_cash(float(balance.get(info["quote"], {}).get("total") or 0.0))
                    first = False
                held = float(balance.get(info["base"], {}).get("total") or 0.0)
                if held:
                    self.getposition(market.data).set(held, 0.0)
        for symbol, market in self._markets.items():
            for found in await patiently(partial(exchange.fetch_open_orders, symbol)):
                self._adopt(found, market)

    async def _load_futures(self) -> None:
        """Leverage set, fees with its margin, positions loaded; cash = wallet - their margin."""
        exchange, patiently = self._venue.exchange, self._venue.patiently
        symbols = list(self._markets)
        for symbol in symbols:
            await patiently(partial(exchange.set_leverage, self.leverage, symbol))
            self.addcommissioninfo(FuturesFees(self.leverage), name=symbol)
        settle = exchange.market(symbols[0])["settle"]
        balance = await patiently(partial(exchange.fetch_balance, _account_params(exchange, symbols[0])))
        cash = float(balance.get(settle, {}).get("total") or 0.0)  # the margin balance
        for position in await patiently(partial(exchange.fetch_positions, symbols)):
            size, entry = _signed_size(position), float(position["entryPrice"] or 0.0)
            self.venue_positions[position["symbol"]] = size
            if size and position["symbol"] in self._markets:
                held = self.getposition(self._markets[position["symbol"]].data)
                held.set(size, entry)
                held.adjbase = entry  # futures settle from the entry price (backtrader's adjustment base)
                cash -= float(position.get("unrealizedPnl") or 0.0) + abs(size) * entry / self.leverage
        self._set_cash(cash)

    def _set_cash(self, cash: float) -> None:
        self.cash = self.startingcash = self.p.cash = cash

    def _adopt(self, found: dict[str, Any], market: Any) -> None:
        """Track an order left open at the exchange (by an earlier run): its remaining size."""
        owner = self._live[0].strategies[0]
        kind = Order.Limit if found.get("type") == "limit" else Order.Market
        cls = BuyOrder if found["side"] == "buy" else SellOrder
        remaining = float(found.get("remaining") or found["amount"])
        order = cls(owner=owner, data=market.data, size=remaining, price=found.get("price"), exectype=kind,
                    simulated=True)  # made before the data has a bar: no close price to read
        order.p.simulated = False  # backtrader notifies the strategy of non-simulated orders only
        order.addcomminfo(self.getcommissioninfo(market.data))
        seam.adopt_order(self, order)
        order.submit(self)
        order.accept(self)
        order.addinfo(client_id=found.get("clientOrderId"), adopted=True)
        self._track(order, found.get("clientOrderId"), str(found["id"]))
        self.counts["adopted"] += 1
        self.notify(order)

    def stop_live(self) -> None:
        """The kill switch: cancel open orders, flatten if asked, stop the stream, disconnect."""
        venue = self.venue
        if venue is None:
            return
        try:
            wait(list(self._in_flight), timeout=30.0)  # an order being placed is cancelled too
            if self.cancel_on_stop or self.flatten_on_stop:
                for symbol in list(self._markets):
                    open_orders = venue.call(venue.patiently(partial(venue.exchange.fetch_open_orders, symbol)))
                    for found in open_orders:
                        result = venue.call(venue.cancel(symbol, str(found["id"]), None))
                        self.counts["cancelled_at_stop"] += 1
                        if result is not None:
                            self.on_exchange(_update(result, "stop"))
            if self.flatten_on_stop:
                self._flatten()
            self.reconcile()
        finally:
            if self._user_thread is not None:
                self._user_thread.stop()
            self.counts["retries"] = venue.retries
            venue.close()
            self.venue = None

    def _flatten(self, timeout: float = 30.0) -> None:
        """Close every position with a market order (limits do not apply) and wait until
        the exchange has filled them (or ``timeout``); reconciliation then books the fills."""
        venue, owner = self._venue, self._live[0].strategies[0]
        orders = []
        self._flattening = True
        try:
            for symbol, market in self._markets.items():
                size = self.getposition(market.data).size
                amount = float(venue.exchange.amount_to_precision(symbol, abs(size))) if size else 0.0
                if amount:
                    close = self.sell if size > 0 else self.buy
                    orders.append((symbol, close(owner, market.data, amount)))
        finally:
            self._flattening = False
        wait(list(self._in_flight), timeout=timeout)
        deadline = time.monotonic() + timeout
        for symbol, order in orders:
            client_id = self._client_of.get(order.ref)
            while client_id is not None and time.monotonic() < deadline:
                found = venue.call(venue.find(symbol, client_id))
                if found is None or found["status"] != "open":
                    break
                time.sleep(0.1)

    def summary(self) -> list[tuple[str, str]]:
        """What the broker did: orders, fills, fees, retries, reconciliations."""
        counts = self.counts
        fees = sum(fill.fee for fill in self.exchange_fills)
        return [
            ("broker", f"{self.exchange_id} {'sandbox' if self.sandbox else 'LIVE'}, run {self.run_id}"),
            ("orders", f"{counts['sent']} sent, {counts['accepted']} accepted, {counts['completed']} completed, "
                       f"{counts['canceled']} cancelled, {counts['rejected']} rejected, {counts['adopted']} adopted"),
            ("fills", f"{len(self.exchange_fills)}, fees {fees:,.8g}"
                      + (f", realized PnL {self.realized_pnl:,.8g}" if self.futures else "")),
            ("kill switch", f"{counts['cancelled_at_stop']} open orders cancelled at stop"),
            ("retries / reconciliations", f"{self.venue.retries if self.venue else counts['retries']} / "
                                          f"{counts['reconciles']} ({counts['reconcile_failures']} failed)"),
        ]

    # -- orders from the strategy ------------------------------------------------------------
    def submit(self, order: Order, check: bool = True) -> Order:
        refusal = self._refusal(order)
        if refusal is not None:
            order.addinfo(reason=refusal)
            order.reject(self)
            self.counts["rejected"] += 1
            log.error("%r: order %d refused: %s", self, order.ref, refusal)
            self.notify(order)
            return order
        symbol = self.market_of(order.data).symbol
        client_id = self._next_client_id()
        order.submit(self)
        order.addinfo(client_id=client_id)
        self._track(order, client_id, None)
        self.notify(order)
        kind, price, trigger = self._prices(order)
        side = "buy" if order.isbuy() else "sell"
        self.counts["sent"] += 1
        params: dict[str, Any] = {} if trigger is None else {"triggerPrice": trigger}
        if self.futures and (order.info.get("reduceOnly") or self._closes(order)):
            params["reduceOnly"] = True
            order.addinfo(reduceOnly=True)
        self._send(self._place(symbol, kind, side, abs(order.size), price, client_id, params))
        return order

    @staticmethod
    def _prices(order: Order) -> tuple[str, float | None, float | None]:
        """ccxt's order type, limit price and trigger price of a backtrader order."""
        kind = ORDER_TYPES[order.exectype]
        if order.exectype == Order.StopLimit:
            return kind, order.pricelimit, order.price
        if order.exectype == Order.Stop:
            return kind, None, order.price
        return kind, (order.price if order.exectype == Order.Limit else None), None

    def _closes(self, order: Order) -> bool:
        """Whether ``order`` closes the whole position and no more (``close()``, the kill switch)."""
        held = self.getposition(order.data).size
        return bool(held) and (held < 0) == order.isbuy() and abs(abs(order.size) - abs(held)) <= 1e-12

    def _send(self, coro: Any) -> None:
        """Run a request on the venue's loop; the kill switch waits for those in flight."""
        future = self._venue.send(coro)
        self._in_flight.add(future)
        future.add_done_callback(self._in_flight.discard)

    def _refusal(self, order: Order) -> str | None:
        if self.venue is None:
            return "CCXTBroker sends orders in a live run only (cerebro.add_live_feed, cerebro.run(mode=TICK))"
        if order.exectype not in ORDER_TYPES:
            name = Order.ExecTypes[order.exectype]
            return f"{name} orders are not supported by CCXTBroker (market, limit, stop and stop-limit are)"
        if order.parent is not None or not order.transmit:
            return ("brackets (parent= / transmit=False, buy_bracket, sell_bracket) are not supported by "
                    "CCXTBroker: their exits would rest at the exchange before the entry fills; place the "
                    "exits from notify_order once the entry is Completed")
        if seam.oco_group(self, order) != order.ref:
            return ("OCO orders (oco=) are not supported by CCXTBroker: the exchange would fill both; "
                    "cancel the other order from notify_order instead")
        if self.futures and order.exectype not in FUTURES_TYPES:
            name = Order.ExecTypes[order.exectype]
            return (f"{name} orders are not supported on futures by CCXTBroker (market and limit are; "
                    "Binance takes futures stops through its algo-order API)")
        market = self.market_of(order.data)
        exchange = self.venue.exchange
        amount = abs(order.size)
        if float(exchange.amount_to_precision(market.symbol, amount)) != amount:
            step = exchange.market(market.symbol)["precision"]["amount"]
            return f"size {amount:g} is not a multiple of {market.symbol}'s amount step {step:g}"
        _, limit, trigger = self._prices(order)
        for price in (limit, trigger):
            if price is not None and float(exchange.price_to_precision(market.symbol, price)) != price:
                step = exchange.market(market.symbol)["precision"]["price"]
                return f"price {price:g} is not a multiple of {market.symbol}'s price step {step:g}"
        return None if self._flattening else self.limits.refusal(amount, limit or trigger or market.price)

    def _next_client_id(self) -> str:
        return f"{self.run_id}x{next(self._counter)}"

    def _track(self, order: Order, client_id: str | None, exchange_id: str | None) -> None:
        if client_id:
            self._by_client[client_id] = order
            self._client_of[order.ref] = client_id
        if exchange_id:
            self._by_exchange[exchange_id] = order
        self.pending.append(order)

    async def _place(self, symbol: str, kind: str, side: str, amount: float, price: float | None,
                     client_id: str, params: dict[str, Any]) -> None:
        """On the venue's loop: create the order, queue what the exchange answered."""
        queue, venue = self._live[1].queue, self._venue
        try:
            result = await venue.place(symbol, kind, side, amount, price, client_id, params)
        except ccxt.NetworkError as error:  # every attempt failed: placed, or not?
            found = await venue.find(symbol, client_id)
            if found is not None:
                queue.push(_event(_update(found, "rest")))
                return
            reason = f"not placed after {venue.attempts} attempts: {type(error).__name__}: {error}"
            queue.push(_event(OrderUpdate(time.time(), symbol, client_id, None, "rejected", 0.0, redact(reason),
                                          "rest")))
            return
        except Exception as error:  # refused: not enough balance (backtrader's Margin), or anything else
            status = "margin" if isinstance(error, ccxt.InsufficientFunds) else "rejected"
            update = OrderUpdate(time.time(), symbol, client_id, None, status, 0.0,
                                 redact(f"{type(error).__name__}: {error}"), "rest")
            queue.push(_event(update))
            return
        queue.push(_event(_update(result, "rest")))

    def cancel(self, order: Order, bracket: bool = False) -> bool:
        """Ask the exchange to cancel; ``Canceled`` is notified when it confirms."""
        if not order.alive() or self.venue is None:
            return False
        symbol = self.market_of(order.data).symbol
        exchange_id = next((key for key, value in self._by_exchange.items() if value is order), None)
        self._send(self._cancel(symbol, exchange_id, self._client_of.get(order.ref)))
        return True

    async def _cancel(self, symbol: str, exchange_id: str | None, client_id: str | None) -> None:
        try:
            result = await self._venue.cancel(symbol, exchange_id, client_id)
        except Exception as error:
            log.error("%r: cancel of %s failed: %s", self, client_id, redact(str(error)))
            return
        if result is not None:
            self._live[1].queue.push(_event(_update(result, "rest")))

    # -- what the exchange said (the 'orders' events, in the run's thread) --------------------
    def on_exchange(self, data: Any) -> None:
        """Book one 'orders' event: a fill, an order update, or a resumed stream."""
        if isinstance(data, StreamResumed):
            self.reconcile()
            return
        order = self._by_client.get(data.client_id or "") or self._by_exchange.get(data.order_id or "")
        if order is None:
            if isinstance(data, OwnFill) and data.trade_id not in self._seen_trades:
                self.counts["foreign"] += 1  # another program's trade on this account
            return
        if data.order_id and data.order_id not in self._by_exchange:
            self._by_exchange[data.order_id] = order
            order.addinfo(exchange_id=data.order_id)
        if isinstance(data, OwnFill):
            self._book_fill(order, data)
        else:
            self._apply(order, data)

    on_report = on_exchange  # the engine's name for it (TickBroker.on_report)

    def _apply(self, order: Order, update: OrderUpdate) -> None:
        if update.status in ("rejected", "margin"):
            if order.status in (Order.Created, Order.Submitted):
                order.addinfo(reason=update.reason)
                if update.status == "margin":
                    order.margin()
                else:
                    order.reject(self)
                self.counts["rejected"] += 1
                log.error("%r: order %s rejected by the exchange: %s", self, update.client_id, update.reason)
                self.notify(order)
                self._forget(order)
            return
        self._accept(order)
        if update.status in ("canceled", "expired") and order.alive():
            if abs(order.executed.size) + 1e-12 < update.filled:
                self._waiting[self._client_of.get(order.ref, "")] = update  # its fills are on their way
            else:
                self._finish(order, update.status)

    def _accept(self, order: Order) -> None:
        if order.status == Order.Submitted:
            order.accept(self)
            self.counts["accepted"] += 1
            self.notify(order)

    def _finish(self, order: Order, status: str) -> None:
        if status == "expired":
            order.expire()
        else:
            order.cancel()
            self.counts["canceled"] += 1
        self.notify(order)
        self._forget(order)

    def _forget(self, order: Order) -> None:
        if order in self.pending:
            self.pending.remove(order)

    def _book_fill(self, order: Order, fill: OwnFill) -> None:
        if fill.trade_id in self._seen_trades:
            return
        self._seen_trades.add(fill.trade_id)
        if fill.trade_id.isdigit():
            self._last_trade[fill.symbol] = max(self._last_trade.get(fill.symbol, 0), int(fill.trade_id))
        self._accept(order)
        if not order.alive():
            log.error("%r: fill %s for order %s that is no longer open", self, fill.trade_id, fill.client_id)
            return
        market = self.market_of(order.data)
        fees = self.getcommissioninfo(market.data)
        fees.fee, fees.size = self._fee_in_quote(fill), fill.amount
        now = self._now()
        market.data.mark(now, market.price if market.price is not None else fill.price)
        remaining = abs(order.executed.remsize)  # the last fill completes the order despite float sums
        self._fill_size = remaining if abs(fill.amount - remaining) <= 1e-9 * max(1.0, remaining) else fill.amount
        commission_before = order.executed.comm
        self._forget(order)
        seam.execute(self, order, fill.price, to_num(now))
        fees.fee = fees.size = 0.0
        self.exchange_fills.append(fill)
        self.realized_pnl += fill.realized_pnl or 0.0
        signed = fill.amount if order.isbuy() else -fill.amount
        self.fills.append(FillRecord((now, market.symbol, signed, fill.price, order.executed.comm - commission_before,
                                      order.ref)))
        if order.alive():
            self.pending.append(order)
            waiting = self._waiting.get(self._client_of.get(order.ref, ""))
            if waiting is not None and abs(order.executed.size) + 1e-12 >= waiting.filled:
                del self._waiting[self._client_of[order.ref]]
                self._finish(order, waiting.status)
        elif order.status == Order.Completed:
            self.counts["completed"] += 1

    def _fee_in_quote(self, fill: OwnFill) -> float:
        if not fill.fee:
            return 0.0
        base, _, quote = fill.symbol.partition("/")
        quote = quote.split(":")[0]
        if fill.fee_currency in (None, quote):
            return fill.fee
        if fill.fee_currency == base:
            return fill.fee * fill.price
        log.warning("%r: fee of %s %s not in %s or %s: booked as 0", self, fill.fee, fill.fee_currency, base, quote)
        return 0.0

    # -- reconciliation ----------------------------------------------------------------------
    def reconcile(self) -> None:
        """Catch up over REST: the state of every open order of this run, then own trades
        since the last one seen (fills booked once, whichever way they came). A network
        failure that outlasts the retries is logged and counted, and the run goes on: the
        next reconciliation (the next resubscription, or the stop) catches up."""
        if self.venue is None:
            return
        self.counts["reconciles"] += 1
        try:
            self._catch_up(self.venue)
        except ccxt.NetworkError as error:
            self.counts["reconcile_failures"] += 1
            log.error("%r: reconciliation failed, retried at the next one: %s", self, redact(str(error)))

    def _catch_up(self, venue: Venue) -> None:
        exchange = venue.exchange
        for client_id, order in list(self._by_client.items()):
            if order.alive():
                symbol = self.market_of(order.data).symbol
                found = venue.call(venue.find(symbol, client_id))
                if found is not None:
                    self.on_exchange(_update(found, "reconcile"))
        for symbol in list(self._markets):
            last = self._last_trade.get(symbol)
            params = {} if last is None else {"fromId": last + 1}
            since = None if last is not None else self._started_ms - 1000
            trades = venue.call(venue.patiently(partial(exchange.fetch_my_trades, symbol, since, None, params)))
            for trade in trades:
                self.on_exchange(_fill(trade, "reconcile"))
        if self.futures:
            self._check_positions(venue)
        for order in [o for o in self.pending if o.alive()]:
            update = self._waiting.get(self._client_of.get(order.ref, ""))
            if update is not None and abs(order.executed.size) + 1e-12 >= update.filled:
                del self._waiting[self._client_of[order.ref]]
                self._finish(order, update.status)

    def _check_positions(self, venue: Venue) -> None:
        """Compare the exchange's positions with the booked ones; a difference (a trade of
        another program, a liquidation) is logged and counted, never booked silently."""
        symbols = list(self._markets)
        found = venue.call(venue.patiently(partial(venue.exchange.fetch_positions, symbols)))
        self.venue_positions = {symbol: 0.0 for symbol in symbols}
        self.venue_positions.update({p["symbol"]: _signed_size(p) for p in found})
        for symbol, market in self._markets.items():
            booked = self.getposition(market.data).size
            if abs(booked - self.venue_positions[symbol]) > 1e-9:
                self.counts["position_mismatches"] += 1
                log.warning("%r: %s position at the exchange %g, booked %g", self, symbol,
                            self.venue_positions[symbol], booked)


def _futures(exchange: Any, symbols: list[str]) -> bool:
    """Whether ``symbols`` are USD-M futures (linear contracts), or spot; anything else is refused."""
    kinds = set()
    for symbol in symbols:
        market = exchange.market(symbol)
        if market.get("contract") and not market.get("linear"):
            raise ValueError(f"CCXTBroker trades spot and linear (USD-M) futures; {symbol} is an inverse contract")
        kinds.add("linear" if market.get("contract") else "spot")
    if len(kinds) > 1:
        raise ValueError(f"CCXTBroker trades one account per run: spot or USD-M futures, not both ({', '.join(symbols)})")
    return kinds == {"linear"}


def _account_params(exchange: Any, symbol: str) -> dict[str, str]:
    """ccxt's params naming the futures account of ``symbol`` (for calls without a symbol)."""
    return {"type": exchange.market(symbol)["type"], "subType": "linear"}


def _signed_size(position: dict[str, Any]) -> float:
    """A ccxt position's size: > 0 long, < 0 short."""
    contracts = float(position.get("contracts") or 0.0) * float(position.get("contractSize") or 1.0)
    return -contracts if position.get("side") == "short" else contracts


def _update(order: dict[str, Any], source: str) -> OrderUpdate:
    return update_of(order, source, time.time())


def _fill(trade: dict[str, Any], source: str) -> OwnFill:
    return fill_of(trade, source, time.time())


def _event(data: OrderUpdate) -> Event:
    return Event(data.timestamp, EventPriority.ORDERS, "orders", data.symbol, data)
