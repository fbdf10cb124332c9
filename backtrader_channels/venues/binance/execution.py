"""BinanceExecution: place, cancel, look up and reconcile orders at Binance through ccxt.

The execution client of the Binance adapter. It runs a ccxt.pro exchange on its own event
loop in a daemon thread, so the run's thread never waits on the network while the strategy
runs; everything it learns goes to one ``sink`` as execution reports (``OrderUpdate``,
``OwnFill``, ``StreamResumed``, ``Reconciled``, from kinds/orders.py), which the live broker
receives as 'orders' events on the LiveEventQueue.

The rules it follows, from Binance's documentation:

- **A create is sent once.** A repeated ``newClientOrderId`` is accepted by Binance once the
  earlier order is filled, so re-sending after a lost answer can double an order. Only
  answers that say the request was not processed are sent again: 429/-1003 (rate limit) and
  -1021 (timestamp outside ``recvWindow``: the clock is resynchronised first). Any other
  failure without an answer (timeout, reset, -1007 "send status unknown") makes the order
  ``unknown``: it is looked up by client id with backoff; "not found" becomes a rejection
  only when two look-ups ``not_found_grace`` seconds apart agree; look-ups that fail leave it
  unknown for the user stream or the next reconciliation to settle.
- **Reconciliation is paged and exact.** Own trades are read from the symbol's watermark (the
  last trade id up to which every own trade was seen) with ``fromId`` and Binance's largest
  page (1000), page after page until a short one; the first reconciliation of a run starts at
  its start time. Every live order is looked up, every open order of the run's symbols is
  reported (so none stays untracked).
- **A silent user stream is caught.** While orders are live and the stream has said nothing
  for ``quiet_after`` seconds, a REST reconciliation runs; if it finds what the stream
  should have told, the stream is counted stalled and reconnected. The strategy so gets its
  fills within ``quiet_after`` plus a reconciliation (about 6 s by default) even from a frozen
  stream. Live orders are also checked every ``check_every`` s (30) however busy the stream
  is, so a report lost among others is found within that bound. ccxt's own ping keep-alive
  (``keep_alive_ms``) catches a dead socket when idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import ccxt

from ...execution import LiveOrder, OrderState
from ...feeds.guard import create_exchange
from ...feeds.redact import RedactingFilter, redact, redact_error, register_secrets
from ...feeds.user_stream import CCXTUserStreamFeed, fill_of, update_of
from ...kinds.orders import OrderUpdate, OwnFill, Reconciled
from ...live.backoff import Backoff

__all__ = ["BinanceExecution", "ExecutionCounts", "ReconcileRequest", "signed_size"]

log = logging.getLogger("backtrader_channels.execution")
log.addFilter(RedactingFilter())

PAGE = 1000  # Binance myTrades / userTrades: "limit: default 500; max 1000"
Report = Any  # OrderUpdate | OwnFill | StreamResumed | Reconciled


@dataclass
class ExecutionCounts:
    """What the client did, for the run's summary."""

    sent: int = 0  # create requests that left (each order once)
    resent: int = 0  # creates sent again after an answer that said "not processed" (429, -1021)
    unknown: int = 0  # creates whose outcome was not known when their request ended
    lookups: int = 0  # look-ups by client id
    lookup_failures: int = 0
    not_found: int = 0  # unknown orders the exchange did not have (rejected after two look-ups)
    reconciles: int = 0
    reconcile_failures: int = 0
    pages: int = 0  # own-trade pages read
    stream_stalls: int = 0  # silent user streams found by a reconciliation and reconnected
    clock_resyncs: int = 0


@dataclass(frozen=True)
class ReconcileRequest:
    """What to reconcile: the live orders (client id, symbol, exchange id) and, per symbol,
    the watermark to page own trades from (None: from the run's start time)."""

    orders: tuple[LiveOrder, ...]  # copies: the client reads them on its own thread
    watermarks: Mapping[str, int | None]
    positions: bool = False  # futures: compare positions too
    since_ms: int = 0


@dataclass
class _Seen:
    """The client's own view of what it reported, to spot what a silent stream did not say."""

    trades: set[tuple[str, str]] = field(default_factory=set)
    states: dict[str, tuple[str, float]] = field(default_factory=dict)
    live: dict[str, LiveOrder] = field(default_factory=dict)  # orders not final or not all fills told, by client id
    filled: dict[str, float] = field(default_factory=dict)  # exchange order id -> the amount of its fills told
    # exchange order id -> (client id, filled, since when): reported final with fills still untold
    short: dict[str, tuple[str, float, float]] = field(default_factory=dict)

    def told_fill(self, fill: OwnFill) -> None:
        if fill.order_id is not None:
            self.filled[fill.order_id] = self.filled.get(fill.order_id, 0.0) + fill.amount
            self.check(fill.order_id)

    def told_final(self, update: OrderUpdate) -> None:
        """A final state: the order is done once the fills it reports executed are told too."""
        if update.order_id is not None and update.filled > self.filled.get(update.order_id, 0.0) + _slack(update.filled):
            since = self.short.get(update.order_id, ("", 0.0, time.monotonic()))[2]
            self.short[update.order_id] = (update.client_id or "", update.filled, since)
        else:
            self.live.pop(update.client_id or "", None)

    def check(self, order_id: str) -> None:
        """The order reported final is done if its fills are all told now."""
        client_id, filled, _ = self.short.get(order_id, ("", 0.0, 0.0))
        if client_id and self.filled.get(order_id, 0.0) + _slack(filled) >= filled:
            del self.short[order_id]
            self.live.pop(client_id, None)


class BinanceExecution:
    """The Binance execution client (spot and USD-M futures) for ``exchange_id`` with ccxt ``config``."""

    def __init__(self, exchange_id: str, config: Mapping[str, Any], *, attempts: int = 5,
                 backoff: Backoff | None = None, not_found_grace: float = 2.0, lookup_window: float = 10.0,
                 quiet_after: float = 5.0, check_every: float = 30.0, keep_alive_ms: int = 10_000) -> None:
        register_secrets(config)
        self.exchange_id = exchange_id
        self.config = {**config, "options": {**config.get("options", {}), "adjustForTimeDifference": True}}
        self.exchange = create_exchange(exchange_id, self.config)
        self.attempts = attempts
        self.backoff = backoff or Backoff(0.2, 2.0)
        self.not_found_grace = not_found_grace
        self.lookup_window = lookup_window
        self.quiet_after = quiet_after
        self.check_every = check_every
        self.keep_alive_ms = keep_alive_ms
        self.counts = ExecutionCounts()
        self.sink: Callable[[Report], None] = lambda report: None
        self.user_feed: CCXTUserStreamFeed | None = None
        self.symbols: list[str] = []
        self.futures = False
        self._seen = _Seen()
        self._watermarks: dict[str, int | None] = {}  # of the last reconciliation, for the supervisor's
        self._since_ms = 0
        self._heard = time.monotonic()  # when the user stream last said anything
        self._tasks: set[Any] = set()  # requests in flight (concurrent futures)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="binance-execution", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"BinanceExecution({self.exchange_id!r})"

    # -- running on the client's loop ---------------------------------------------------------
    def call(self, coro: Coroutine[Any, Any, Any], timeout: float = 60.0) -> Any:
        """Run ``coro`` on the client's loop and wait for its result (errors redacted)."""
        try:
            return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)
        except Exception as error:
            raise redact_error(error) from None

    def _spawn(self, coro: Coroutine[Any, Any, Any], request: bool = True) -> None:
        """Run ``coro`` on the client's loop without waiting (from any thread); ``settle``
        waits for it if it is a ``request`` (not a loop that lasts the run)."""
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        if request:
            self._tasks.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Any) -> None:
        self._tasks.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.error("%r: %s", self, redact(f"{type(future.exception()).__name__}: {future.exception()}"))

    def settle(self, timeout: float = 30.0) -> None:
        """Wait until the requests in flight are answered (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while self._tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        """Stop the stream and the supervisor, close the exchange, end the loop's thread."""
        if self._loop.is_closed():
            return
        with contextlib.suppress(Exception):
            self.call(self._close(), 15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _close(self) -> None:
        feed = self.user_feed
        if feed is not None:  # let it close its exchanges before anything left is cancelled (a
            feed.request_stop()  # socket to a frozen peer takes aiohttp's 10 s close timeout)
            deadline = time.monotonic() + 15.0
            while feed.running and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.exchange.close()

    def _emit(self, report: Report) -> None:
        """Remember what ``report`` tells and hand it to the sink (on the client's loop)."""
        seen = self._seen
        if isinstance(report, OwnFill):
            key = (report.symbol, report.trade_id)
            if key in seen.trades:
                return
            seen.trades.add(key)
            seen.told_fill(report)
        elif isinstance(report, OrderUpdate) and report.client_id:
            state = (report.status, report.filled)
            if seen.states.get(report.client_id) == state and report.source != "stop":
                return
            seen.states[report.client_id] = state
            if report.status not in ("open", "unknown"):
                seen.told_final(report)
        self.sink(report)

    # -- connecting -----------------------------------------------------------------------------
    def connect(self, symbols: list[str]) -> dict[str, Any]:
        """Load markets, the account and open orders: ``{'futures', 'balance', 'positions', 'open_orders'}``."""
        self.symbols = list(symbols)
        return self.call(self._connect())

    async def _connect(self) -> dict[str, Any]:
        exchange = self.exchange
        await self._patiently(exchange.load_markets)
        self.futures = _futures(exchange, self.symbols)
        positions: list[dict[str, Any]] = []
        if self.futures:
            params = {"type": exchange.market(self.symbols[0])["type"], "subType": "linear"}
            balance = await self._patiently(partial(exchange.fetch_balance, params))
            positions = await self._patiently(partial(exchange.fetch_positions, self.symbols))
        else:
            balance = await self._patiently(exchange.fetch_balance)
        open_orders = []
        for symbol in self.symbols:
            open_orders += await self._patiently(partial(exchange.fetch_open_orders, symbol))
        return {"futures": self.futures, "balance": balance, "positions": positions, "open_orders": open_orders}

    def set_leverage(self, leverage: int) -> None:
        for symbol in self.symbols:
            self.call(self._patiently(partial(self.exchange.set_leverage, leverage, symbol)))

    def market(self, symbol: str) -> dict[str, Any]:
        return self.exchange.market(symbol)

    def amount_to_precision(self, symbol: str, amount: float) -> float:
        return float(self.exchange.amount_to_precision(symbol, amount))

    def price_to_precision(self, symbol: str, price: float) -> float:
        return float(self.exchange.price_to_precision(symbol, price))

    # -- the user stream and its supervisor -------------------------------------------------------
    def start_stream(self, queue: Any) -> CCXTUserStreamFeed:
        """Start the user-data stream (its changes come through this client) and its supervisor."""
        self.user_feed = self._new_feed(queue)
        self._spawn(self._run_feed(self.user_feed), request=False)
        self._spawn(self._supervise(), request=False)
        return self.user_feed

    def _new_feed(self, queue: Any) -> CCXTUserStreamFeed:
        config = {**self.config, "streaming": {**self.config.get("streaming", {}), "keepAlive": self.keep_alive_ms}}
        return CCXTUserStreamFeed(self.exchange_id, self.symbols[0], queue, config=config, on_change=self._from_stream)

    async def _run_feed(self, feed: CCXTUserStreamFeed) -> None:
        with contextlib.suppress(Exception):  # its error is feed.error, which ends the run
            await feed.start()

    def _from_stream(self, change: Report) -> None:
        self._heard = time.monotonic()
        self._emit(change)

    async def _supervise(self) -> None:
        """Every second: a stream silent for ``quiet_after`` s while orders are live, or an
        order reported final whose fills have not all come for ``quiet_after`` s (reports the
        stream lost, e.g. while silent, though it talks again), is checked over REST; so are
        live orders every ``check_every`` s however busy the stream is (a report it lost among
        others). If that finds news the stream did not bring, it is reconnected."""
        seen = self._seen
        checked = time.monotonic()
        while True:
            await asyncio.sleep(min(1.0, self.quiet_after / 2))
            now = time.monotonic()
            quiet = now - self._heard
            overdue = [oid for oid, (_, _, since) in seen.short.items() if now - since >= self.quiet_after]
            due = seen.live and (quiet >= self.quiet_after or now - checked >= self.check_every)
            if self.user_feed is None or not (overdue or due):
                continue
            before = (len(seen.trades), dict(seen.states))
            await self._reconcile(self._request_from_view())
            self._heard = checked = now = time.monotonic()
            for oid in set(overdue) & set(seen.short):  # still short: checked again in quiet_after s
                seen.short[oid] = (*seen.short[oid][:2], now)
            if (len(seen.trades), seen.states) != before:
                self.counts.stream_stalls += 1
                log.warning("%r: the user stream said nothing for %.1f s while the exchange moved: reconnecting",
                            self, quiet)
                self.user_feed.restart()

    def _request_from_view(self) -> ReconcileRequest:
        return ReconcileRequest(tuple(self._seen.live.values()), dict(self._watermarks), self.futures, self._since_ms)

    # -- orders --------------------------------------------------------------------------------
    def submit(self, order: LiveOrder) -> None:
        """Create ``order`` at the exchange (reports follow)."""
        self._loop.call_soon_threadsafe(self._seen.live.__setitem__, order.client_id, order)
        self._spawn(self._place(order))

    async def _place(self, order: LiveOrder) -> None:
        exchange = self.exchange
        params = {**order.params, "clientOrderId": order.client_id}
        self.counts.sent += 1
        last: BaseException | None = None
        for attempt in range(1, self.attempts + 1):
            try:
                result = await exchange.create_order(order.symbol, order.kind, order.side, order.amount, order.price,
                                                     params)
            except (ccxt.RateLimitExceeded, ccxt.DDoSProtection) as error:  # 429 / -1003: refused unread
                last = error
            except ccxt.InvalidNonce as error:  # -1021: refused for the clock; resynchronise, then send
                last = error
                await self._resync_clock()
            except ccxt.InsufficientFunds as error:
                self._emit(_refused(order, "margin", error))
                return
            except ccxt.InvalidOrder as error:
                if "Duplicate" not in str(error):
                    self._emit(_refused(order, "rejected", error))
                    return
                await self._unknown(order, error)  # an order with this id exists: find it
                return
            except (ccxt.NetworkError, ccxt.BadResponse) as error:  # no answer: placed or not?
                await self._unknown(order, error)
                return
            except ccxt.BaseError as error:  # the exchange said no
                self._emit(_refused(order, "rejected", error))
                return
            else:
                self._emit(update_of(result, "rest", time.time()))
                return
            if attempt < self.attempts:
                self.counts.resent += 1
                await asyncio.sleep(self.backoff.delay(attempt))
        self._emit(OrderUpdate(time.time(), order.symbol, order.client_id, None, "rejected", 0.0,
                               redact(f"not placed after {self.attempts} attempts: {type(last).__name__}: {last}"),
                               "rest"))

    async def _unknown(self, order: LiveOrder, error: BaseException) -> None:
        """The create's outcome is not known: say so, then look the order up until it is."""
        self.counts.unknown += 1
        self._emit(OrderUpdate(time.time(), order.symbol, order.client_id, None, "unknown", 0.0,
                               redact(f"{type(error).__name__}: {error}"), "rest"))
        await self._resolve(order, time.monotonic() + self.lookup_window)

    async def _resolve(self, order: LiveOrder, until: float) -> bool:
        """Look ``order`` up by client id with backoff until ``until``; True once its state is known."""
        missing_since: float | None = None
        attempt = 0
        while True:
            attempt += 1
            found = await self._lookup(order)
            if isinstance(found, dict):
                self._emit(update_of(found, "lookup", time.time()))
                return True
            if found == "missing":
                now = time.monotonic()
                missing_since = now if missing_since is None else missing_since
                if now - missing_since >= self.not_found_grace:
                    self.counts.not_found += 1
                    self._emit(OrderUpdate(time.time(), order.symbol, order.client_id, None, "rejected", 0.0,
                                           f"not placed: the exchange has no order {order.client_id} "
                                           f"(looked up {self.not_found_grace:g} s apart)", "lookup"))
                    return True
            if time.monotonic() >= until:
                return False  # still unknown: the stream or the next reconciliation settles it
            await asyncio.sleep(max(self.backoff.delay(attempt), self.not_found_grace / 2 if missing_since else 0.0))

    async def _lookup(self, order: LiveOrder) -> dict[str, Any] | str:
        """The order at the exchange, 'missing' when it has none, 'failed' when it could not be asked."""
        self.counts.lookups += 1
        try:
            if order.exchange_id is not None:
                return await self.exchange.fetch_order(order.exchange_id, order.symbol)
            return await self.exchange.fetch_order(None, order.symbol, {"clientOrderId": order.client_id})
        except ccxt.OrderNotFound:
            return "missing"
        except ccxt.InvalidNonce:
            await self._resync_clock()
        except (ccxt.NetworkError, ccxt.BadResponse):
            pass
        self.counts.lookup_failures += 1
        return "failed"

    def cancel(self, order: LiveOrder) -> None:
        """Ask the exchange to cancel ``order`` (its new state comes as a report)."""
        self._spawn(self._cancel(order))

    async def _cancel(self, order: LiveOrder) -> None:
        params = {} if order.exchange_id is not None else {"clientOrderId": order.client_id}
        for attempt in range(1, self.attempts + 1):
            try:
                result = await self.exchange.cancel_order(order.exchange_id, order.symbol, params)
            except (ccxt.OrderNotFound, ccxt.OperationRejected, ccxt.InvalidOrder):
                break  # -2011 / -2013: not open any more (or not yet known): its state says which
            except ccxt.InvalidNonce:
                await self._resync_clock()
                continue
            except (ccxt.NetworkError, ccxt.BadResponse):  # cancelled or not: a cancel is safe to repeat
                found = await self._lookup(order)
                if isinstance(found, dict) and found.get("status") != "open":
                    self._emit(update_of(found, "lookup", time.time()))
                    return
                await asyncio.sleep(self.backoff.delay(attempt))
                continue
            else:
                self._emit(update_of(result, "rest", time.time()))
                return
        await self._resolve(order, time.monotonic() + self.lookup_window)

    # -- reconciliation ------------------------------------------------------------------------
    def reconcile(self, request: ReconcileRequest) -> None:
        """Catch up over REST (reports follow; see the module docstring)."""
        self._watermarks, self._since_ms = dict(request.watermarks), request.since_ms
        self._spawn(self._reconcile(request))

    def reconcile_now(self, request: ReconcileRequest, timeout: float = 60.0) -> None:
        """``reconcile`` and wait for it (at stop)."""
        self._watermarks, self._since_ms = dict(request.watermarks), request.since_ms
        self.call(self._reconcile(request), timeout)

    async def _reconcile(self, request: ReconcileRequest) -> None:
        self.counts.reconciles += 1
        try:
            for order in request.orders:
                if order.client_id not in self._seen.live and not order.final:
                    self._seen.live[order.client_id] = order
                if order.exchange_id is not None:  # fills booked before (another process) count as told
                    filled = self._seen.filled
                    filled[order.exchange_id] = max(filled.get(order.exchange_id, 0.0), order.booked)
                    self._seen.check(order.exchange_id)
                found = await self._lookup(order)
                if isinstance(found, dict):
                    self._emit(update_of(found, "reconcile", time.time()))
                elif found == "missing" and order.state in (OrderState.UNKNOWN, OrderState.PENDING_NEW):
                    await self._resolve(order, time.monotonic() + self.not_found_grace * 2)
            for symbol in self.symbols:
                for found in await self._patiently(partial(self.exchange.fetch_open_orders, symbol)):
                    self._emit(update_of(found, "reconcile", time.time()))
                watermark = await self._page_trades(symbol, request.watermarks.get(symbol), request.since_ms)
                self._watermarks[symbol] = watermark
                self._emit(Reconciled(time.time(), symbol, watermark))
            if request.positions:
                found = await self._patiently(partial(self.exchange.fetch_positions, self.symbols))
                sizes = {symbol: 0.0 for symbol in self.symbols}
                sizes.update({p["symbol"]: signed_size(p) for p in found if p["symbol"] in sizes})
                self._emit(Reconciled(time.time(), self.symbols[0], None, tuple(sizes.items())))
        except (ccxt.NetworkError, ccxt.BadResponse) as error:
            self.counts.reconcile_failures += 1
            log.error("%r: reconciliation failed, retried at the next one: %s", self, redact(str(error)))

    async def _page_trades(self, symbol: str, watermark: int | None, since_ms: int) -> int | None:
        """Report every own trade of ``symbol`` after ``watermark`` (or since ``since_ms``), page by
        page; the new watermark (the last trade id seen)."""
        while True:
            if watermark is None:
                page = await self._patiently(partial(self.exchange.fetch_my_trades, symbol, since_ms, PAGE))
            else:
                page = await self._patiently(partial(self.exchange.fetch_my_trades, symbol, None, PAGE,
                                                     {"fromId": watermark + 1}))
            self.counts.pages += 1
            for trade in page:
                self._emit(fill_of(trade, "reconcile", time.time()))
                if str(trade["id"]).isdigit():
                    watermark = max(watermark or 0, int(trade["id"]))
            if len(page) < PAGE:
                return watermark

    # -- the kill switch -----------------------------------------------------------------------
    def cancel_all(self, symbols: list[str]) -> int:
        """Cancel every open order of ``symbols`` at the exchange, now; how many were open."""
        return self.call(self._cancel_all(symbols))

    async def _cancel_all(self, symbols: list[str]) -> int:
        count = 0
        for symbol in symbols:
            for found in await self._patiently(partial(self.exchange.fetch_open_orders, symbol)):
                count += 1
                order = LiveOrder(found.get("clientOrderId") or "", symbol, "", "", 0.0, exchange_id=str(found["id"]))
                await self._cancel(order)
        return count

    # -- helpers -------------------------------------------------------------------------------
    async def _patiently(self, request: Callable[[], Any]) -> Any:
        """``await request()``, again after a backoff on network errors and clock skew."""
        for attempt in range(1, self.attempts):
            try:
                return await request()
            except ccxt.InvalidNonce:
                await self._resync_clock()
            except ccxt.NetworkError:
                await asyncio.sleep(self.backoff.delay(attempt))
        return await request()

    async def _resync_clock(self) -> None:
        """Binance -1021: measure the exchange's clock again (ccxt's ``load_time_difference``)."""
        self.counts.clock_resyncs += 1
        with contextlib.suppress(ccxt.NetworkError):
            await self.exchange.load_time_difference()


def _slack(amount: float) -> float:
    """What float sums of fills may miss ``amount`` by."""
    return 1e-9 * max(1.0, amount)


def _refused(order: LiveOrder, status: str, error: BaseException) -> OrderUpdate:
    return OrderUpdate(time.time(), order.symbol, order.client_id, None, status, 0.0,
                       redact(f"{type(error).__name__}: {error}"), "rest")


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


def signed_size(position: dict[str, Any]) -> float:
    """A ccxt position's size: > 0 long, < 0 short."""
    contracts = float(position.get("contracts") or 0.0) * float(position.get("contractSize") or 1.0)
    return -contracts if position.get("side") == "short" else contracts
