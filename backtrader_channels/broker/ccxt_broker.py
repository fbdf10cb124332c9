"""CCXTBroker: a backtrader broker that trades at a real exchange, booking its execution reports.

``cerebro.setbroker(CCXTBroker('binance', config, sandbox=True))`` in a live tick-mode run
(``cerebro.add_live_feed(...)``). The strategy's ``buy``/``sell``/``close``/``cancel`` go to
the venue's execution client (``venues/binance/execution.py``); what the exchange does with
them comes back as execution reports ('orders' events on the LiveEventQueue, in event order
with the market data) and becomes backtrader's notifications with the exchange's own
prices, sizes and fees. Cash, positions and trades are backtrader's bookkeeping
(``seam.execute``) of the exchange's fills. It does not simulate anything: the simulator is
``TickBroker``; both are ``ChannelBroker``s, the protocol the engine speaks.

- **One owner of the lifecycle.** Every order is a ``LiveOrder`` in the explicit state machine
  of ``execution/states.py``, moved only by reports. A create whose outcome is unknown stays
  ``Submitted`` to the strategy until a look-up, the user stream or a reconciliation says what
  happened; it is never sent again and never guessed rejected.
- **Exactly once.** Fills are booked once per (symbol, trade id), whichever way they came; a
  fill of an order whose exchange id is not known yet waits for it (not "foreign"); an order
  reported cancelled or expired waits for its fills before its final notification.
- **Persisted.** The run's state (orders, client-id counter, fills, watermarks, positions) is
  in ``<run_dir>/run.sqlite`` (``execution/store.py``). Client ids are ``<run_id>x<n>`` with
  ``n`` from the persisted counter, so they are never reused; a restart with the same
  ``run_id`` resumes: its live orders are its own again (the strategy is notified of them,
  ``order.info.resumed``), and fills made while it was down are booked once.
- **Spot or USD-M futures**, by the run's markets: on futures shorts are ordinary, the leverage
  is set on start, cash is the wallet balance less the initial margin of the open positions,
  the value the margin balance, the exchange's realized profit and commission are booked with
  each fill, an order that only closes a position goes out reduce-only, and -2019 is
  notified as backtrader's ``Margin``.
- **Safe.** ``Limits`` refuse orders (Rejected, reason in ``order.info.reason``); when the run
  stops every open order of the run's symbols is cancelled, positions are flattened with
  ``flatten_on_stop``, a last reconciliation books what is left, and ``summary()`` says what
  happened. API keys come from ``config``, a JSON file or the environment
  (``BTCHANNELS_API_KEY``/``BTCHANNELS_API_SECRET``) and never appear in reprs, logs or
  ccxt's ``verbose`` output.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from backtrader import BuyOrder, Order, SellOrder
from backtrader.comminfo import CommInfoBase

from .. import seam
from ..execution import FINAL, LiveOrder, OrderState, RunStore
from ..execution.states import state_of_status
from ..execution.store import BookedFill
from ..feeds.redact import RedactingFilter, redact_library_logs, register_secrets
from ..kinds.orders import ORDERS, OrderUpdate, OwnFill, Reconciled, StreamResumed
from ..venues import adapter_for
from ..venues.binance.execution import BinanceExecution, ReconcileRequest, signed_size
from .channel_broker import ChannelBroker, FillRecord, LiveContext
from .data import to_num
from .limits import Limits
from .order_params import Capabilities, OrderParamsError, ccxt_params, parse

__all__ = ["CCXTBroker", "FuturesFees", "Limits", "VenueFees", "load_credentials"]

log = logging.getLogger("backtrader_channels.broker")
log.addFilter(RedactingFilter())
redact_library_logs()

ORDER_TYPES = {Order.Market: "market", Order.Limit: "limit", Order.Stop: "market", Order.StopLimit: "limit"}
FUTURES_TYPES = (Order.Market, Order.Limit)  # Binance sends futures stops to its algo-order API
KEY_VARIABLE, SECRET_VARIABLE = "BTCHANNELS_API_KEY", "BTCHANNELS_API_SECRET"
RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,24}$")  # Binance client ids: ^[.A-Z:/a-z0-9_-]{1,36}$, "x<n>" appended
EPSILON = 1e-9


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


class CCXTBroker(ChannelBroker):
    """A live broker at ``exchange_id`` (a ccxt id) with ccxt constructor ``config``.

    ``sandbox`` (default True) trades on the exchange's test network. ``limits`` (a
    ``Limits``) refuse orders above a size or notional; ``cancel_on_stop`` cancels every
    open order of the run's symbols when the run ends, ``flatten_on_stop`` also closes
    positions with market orders. ``run_id`` names the run (letters, digits, ``_``, ``-``,
    at most 24; default: from the start time, a new run each time) and prefixes its client
    order ids; ``run_dir`` keeps its state (default ``btchannels-runs/<run_id>``): the same
    ``run_id`` and ``run_dir`` resume it. Market, limit, stop and stop-limit orders are
    supported (stops as Binance spot's STOP_LOSS / STOP_LOSS_LIMIT); others are Rejected with a
    reason. On USD-M futures ``leverage`` is set for every symbol on start; market and limit
    orders are supported. ``execution`` holds options for the execution client
    (``BinanceExecution``: ``quiet_after``, ``lookup_window``, ``not_found_grace``...).
    """

    def __init__(self, exchange_id: str = "binance", config: Mapping[str, Any] | None = None, *,
                 sandbox: bool = True, config_file: str | os.PathLike | None = None,
                 limits: Limits | None = None, cancel_on_stop: bool = True, flatten_on_stop: bool = False,
                 run_id: str | None = None, run_dir: str | os.PathLike | None = None, leverage: int = 1,
                 execution: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        adapter_for(exchange_id)  # refused now, not at the run's start, if no venue serves it
        run_id = run_id or f"bc{int(time.time() * 1000):x}"
        if not RUN_ID.match(run_id):
            raise ValueError(f"run_id {run_id!r}: use 1-24 letters, digits, '_' or '-' (it prefixes client order ids)")
        config = load_credentials(config, config_file)
        config.setdefault("enableRateLimit", True)
        self._config = {**config, "sandbox": sandbox}
        self.exchange_id = exchange_id
        self.sandbox = sandbox
        self.limits = limits or Limits()
        self.cancel_on_stop = cancel_on_stop
        self.flatten_on_stop = flatten_on_stop
        self.run_id = run_id
        self.run_dir = Path(run_dir) if run_dir is not None else Path("btchannels-runs") / run_id
        self.leverage = leverage
        self.execution_options = dict(execution or {})
        self.futures = False  # the run's markets are USD-M futures (known once connected)
        self.realized_pnl = 0.0  # futures: the sum of the exchange's realized profit of the run's fills
        self.venue_positions: dict[str, float] = {}  # futures: the exchange's positions at the last look
        self.addcommissioninfo(VenueFees())
        self.client: BinanceExecution | None = None
        self.store: RunStore | None = None
        self.user_feed: Any = None
        self._context: LiveContext | None = None
        self._orders: dict[str, LiveOrder] = {}  # client id -> the run's order
        self._bt: dict[str, Order] = {}  # client id -> its backtrader order
        self._by_exchange: dict[str, str] = {}  # exchange order id -> client id
        self._held_fills: dict[str, list[OwnFill]] = {}  # exchange order id -> fills waiting for their order
        self._started_ms = 0
        self._flattening = False  # the kill switch's closing orders are not limited
        self._catching_up = False  # a reconciliation was asked for and has not reported yet
        self.exchange_fills: list[OwnFill] = []
        self.execution_counts: Any = None  # the execution client's counts, once the run stopped
        self.counts = {"sent": 0, "accepted": 0, "rejected": 0, "canceled": 0, "completed": 0, "unknown": 0,
                       "reconciles": 0, "foreign": 0, "adopted": 0, "resumed": 0, "late_reports": 0,
                       "cancelled_at_stop": 0, "position_mismatches": 0}

    def __repr__(self) -> str:
        return f"CCXTBroker({self.exchange_id!r}, sandbox={self.sandbox}, run_id={self.run_id!r})"

    def notify(self, order: Order) -> None:
        """Notifications go out at once: the exchange's latency is real, not modelled."""
        seam.notification_queue(self).append(seam.clone_order(order))

    def get_value(self, datas: Any = None, mkt: bool = False, lever: bool = False) -> float:
        """Spot: backtrader's value at the last prices. Futures: Binance's margin balance, the
        wallet plus the unrealized profit at the last trade price."""
        self._revalue()
        if not self.futures:
            return super().get_value(datas=datas, mkt=mkt, lever=lever)
        value = 0.0 if datas else self.getcash()
        for data in datas or list(seam.positions(self)):
            position = self.getposition(data)
            if position.size:
                price = self.market_of(data).price or position.adjbase
                margin = abs(position.size) * position.price * self.getcommissioninfo(data).p.automargin
                value += margin + position.size * (price - position.adjbase)
        return value

    getvalue = get_value

    @property
    def _client(self) -> BinanceExecution:
        if self.client is None:
            raise RuntimeError("CCXTBroker is not connected: it trades in a live run only")
        return self.client

    @property
    def _store(self) -> RunStore:
        assert self.store is not None, "the run state is open during a live run"
        return self.store

    # -- the live run's start ------------------------------------------------------------------
    def start_live(self, context: LiveContext) -> None:
        """Open the run state, connect, load the account, resume or adopt what is open at the
        exchange, then start the user-data stream (whose first report starts a reconciliation)."""
        self._context = context
        self.store = RunStore(self.run_dir, self.run_id)
        started = self.store.meta("started_ms")
        self._started_ms = int(started) if started else int(time.time() * 1000)
        self.store.set_meta("started_ms", str(self._started_ms))
        self.client = adapter_for(self.exchange_id).execution_client(self.exchange_id, self._config,
                                                                      **self.execution_options)
        try:
            account = self.client.connect(list(self._markets))
            self.futures = account["futures"]
            if self.futures:
                self._load_futures(account)
            else:
                self._load_spot(account["balance"])
            booked = self.store.books()
            if booked is not None:  # a resumed run goes on from its own books (see _restore)
                self._restore(*booked)
            self._save_books()
            self._resume(account["open_orders"])
        except BaseException:
            self.client.close()
            self.client = None
            self.store.close()
            raise
        queue = context.queue
        self.client.sink = lambda report: queue.push(ORDERS.event(report, report.symbol))
        self.user_feed = self.client.start_stream(queue)
        context.add_feed(self.user_feed)

    def _load_spot(self, balance: Mapping[str, Any]) -> None:
        """Cash is the first symbol's quote currency; each symbol's base balance its position."""
        client = self._client
        for index, (symbol, market) in enumerate(self._markets.items()):
            info = client.market(symbol)
            if index == 0:
                self._set_cash(float(balance.get(info["quote"], {}).get("total") or 0.0))
            held = float(balance.get(info["base"], {}).get("total") or 0.0)
            if held:
                self.getposition(market.data).set(held, 0.0)

    def _load_futures(self, account: Mapping[str, Any]) -> None:
        """Leverage set, fees with its margin, positions loaded; cash = wallet - their margin."""
        client = self._client
        client.set_leverage(self.leverage)
        symbols = list(self._markets)
        for symbol in symbols:
            self.addcommissioninfo(FuturesFees(self.leverage), name=symbol)
        settle = client.market(symbols[0])["settle"]
        cash = float(account["balance"].get(settle, {}).get("total") or 0.0)  # the margin balance
        for position in account["positions"]:
            size, entry = signed_size(position), float(position["entryPrice"] or 0.0)
            self.venue_positions[position["symbol"]] = size
            if size and position["symbol"] in self._markets:
                held = self.getposition(self._markets[position["symbol"]].data)
                held.set(size, entry)
                held.adjbase = entry  # futures settle from the entry price (backtrader's adjustment base)
                cash -= float(position.get("unrealizedPnl") or 0.0) + abs(size) * entry / self.leverage
        self._set_cash(cash)

    def _restore(self, cash: float, positions: dict[str, tuple[float, float, float]]) -> None:
        """Cash and positions as this run last booked them. The account's balance already holds
        the fills the run did not book before it stopped (made while it was down, or reported
        as it was killed); the first reconciliation books those, so starting from the account
        would count them twice."""
        seam.start_with_cash(self, cash)
        for symbol, market in self._markets.items():
            size, price, adjbase = positions.get(symbol, (0.0, 0.0, 0.0))
            position = self.getposition(market.data)
            position.set(size, price)
            if self.futures:  # futures settle from the adjustment base (spot positions have none)
                position.adjbase = adjbase

    def _save_books(self) -> None:
        """Persist cash and positions as booked now (after every fill, and at start)."""
        books = {}
        for symbol, market in self._markets.items():
            position = self.getposition(market.data)
            adjbase = position.adjbase if position.adjbase is not None else position.price
            books[symbol] = (position.size, position.price, adjbase)
        self._store.save_books(self.getcash(), books)

    def _set_cash(self, cash: float) -> None:
        seam.start_with_cash(self, cash)

    def _resume(self, open_orders: list[dict[str, Any]]) -> None:
        """The run's own live orders from its state are its own again; an open order of this
        run missing from the state (a lost run directory) is taken back; anything else open
        at the exchange is adopted. Client-id numbers continue above every one seen."""
        store = self._store
        prefix = f"{self.run_id}x"
        for live in store.orders(live_only=True):
            self._track(live, self._backtrader_order(live, resumed=True))
            self.counts["resumed"] += 1
        for found in open_orders:
            client_id = found.get("clientOrderId") or ""
            if client_id in self._orders:
                continue
            ours = client_id.startswith(prefix) and client_id[len(prefix):].isdigit()
            if ours:
                store.raise_counter(int(client_id[len(prefix):]))
            live = LiveOrder(client_id or f"adopted-{found['id']}", found["symbol"], found["side"],
                             found.get("type") or "limit", float(found.get("amount") or 0.0), found.get("price"),
                             OrderState.OPEN, str(found["id"]), float(found.get("filled") or 0.0))
            live.booked = live.filled  # filled before this run knew it: not this run's fills
            store.save_order(live)
            self._track(live, self._backtrader_order(live, resumed=ours))
            self.counts["resumed" if ours else "adopted"] += 1

    def _backtrader_order(self, live: LiveOrder, resumed: bool) -> Order:
        """A backtrader order for ``live``, made outside buy/sell (a resumed or adopted order),
        notified Submitted or Accepted by its state, for its remaining size."""
        assert self._context is not None
        market = self._markets.get(live.symbol) or self.market_of(live.symbol)
        cls = BuyOrder if live.side == "buy" else SellOrder
        kind = Order.Limit if live.kind == "limit" else Order.Market
        order = cls(owner=self._context.owner(), data=market.data, size=live.amount - live.booked, price=live.price,
                    exectype=kind, simulated=True)  # made before the data has a bar: no close price to read
        order.p.simulated = False  # backtrader notifies the strategy of non-simulated orders only
        order.addcomminfo(self.getcommissioninfo(market.data))
        seam.adopt_order(self, order)
        order.submit(self)
        order.addinfo(client_id=live.client_id, resumed=resumed, adopted=not resumed)
        if live.state in (OrderState.OPEN, OrderState.PENDING_CANCEL):
            order.accept(self)
        self.notify(order)
        return order

    def _track(self, live: LiveOrder, order: Order) -> None:
        self._orders[live.client_id] = live
        self._bt[live.client_id] = order
        if live.exchange_id:
            self._by_exchange[live.exchange_id] = live.client_id
        live.ref = order.ref
        if order.alive():
            seam.pending_orders(self).append(order)

    # -- orders from the strategy ----------------------------------------------------------------
    def submit(self, order: Order, check: bool = True) -> Order:
        refusal = self._refusal(order)
        if refusal is not None:
            order.addinfo(reason=refusal)
            order.reject(self)
            self.counts["rejected"] += 1
            log.error("%r: order %d refused: %s", self, order.ref, refusal)
            self.notify(order)
            return order
        store, client = self._store, self._client
        symbol = self.market_of(order.data).symbol
        kind, price, params = self._request(order)
        live = LiveOrder(f"{self.run_id}x{store.next_number()}", symbol, "buy" if order.isbuy() else "sell", kind,
                         abs(order.size), price, params=params)
        store.save_order(live)  # before it leaves: a crash while sending leaves a trace to resolve
        order.submit(self)
        order.addinfo(client_id=live.client_id)
        self._track(live, order)
        self.notify(order)
        self.counts["sent"] += 1
        client.submit(replace(live))
        return order

    def _request(self, order: Order) -> tuple[str, float | None, dict[str, Any]]:
        """ccxt's order type, limit price and params of a backtrader order: its time in force,
        post-only and reduce-only as the venue takes them (``OrderParamsError`` when it does
        not), a trigger price for stops, and reduce-only on a futures order that closes the
        position."""
        kind = ORDER_TYPES[order.exectype]
        symbol = self.market_of(order.data).symbol
        params = ccxt_params(parse(order), Capabilities.of_market(self._client.market(symbol)))
        if order.exectype == Order.StopLimit:
            price, params["triggerPrice"] = order.pricelimit, order.price
        elif order.exectype == Order.Stop:
            price, params["triggerPrice"] = None, order.price
        else:
            price = order.price if order.exectype == Order.Limit else None
        if self.futures and self._closes(order):
            params["reduceOnly"] = True
            order.addinfo(reduceOnly=True)
        return kind, price, params

    def _closes(self, order: Order) -> bool:
        """Whether ``order`` closes the whole position and no more (``close()``, the kill switch)."""
        held = self.getposition(order.data).size
        return bool(held) and (held < 0) == order.isbuy() and abs(abs(order.size) - abs(held)) <= 1e-12

    def _refusal(self, order: Order) -> str | None:
        if self.client is None:
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
        client = self.client
        amount = abs(order.size)
        if client.amount_to_precision(market.symbol, amount) != amount:
            step = client.market(market.symbol)["precision"]["amount"]
            return f"size {amount:g} is not a multiple of {market.symbol}'s amount step {step:g}"
        try:
            _, limit, params = self._request(order)
        except OrderParamsError as error:
            return str(error)
        trigger = params.get("triggerPrice")
        for price in (limit, trigger):
            if price is not None and client.price_to_precision(market.symbol, price) != price:
                step = client.market(market.symbol)["precision"]["price"]
                return f"price {price:g} is not a multiple of {market.symbol}'s price step {step:g}"
        return None if self._flattening else self.limits.refusal(amount, limit or trigger or market.price)

    def cancel(self, order: Order, bracket: bool = False) -> bool:
        """Ask the exchange to cancel; ``Canceled`` is notified when it confirms."""
        live = self._orders.get(order.info.get("client_id") or "")
        if live is None or live.final or not order.alive() or self.client is None:
            return False
        if live.state is OrderState.OPEN:
            live.move(OrderState.PENDING_CANCEL)
            self._store.save_order(live)
        self.client.cancel(replace(live))
        return True

    def working_orders(self) -> list[Order]:
        return [self._bt[cid] for cid, live in self._orders.items() if not live.final and self._bt[cid].alive()]

    # -- execution reports (the 'orders' events, in the run's thread) --------------------------------
    def on_report(self, report: Any) -> None:
        """Book one execution report."""
        if isinstance(report, OwnFill):
            self._on_fill(report)
        elif isinstance(report, OrderUpdate):
            self._on_update(report)
        elif isinstance(report, StreamResumed):
            self.reconcile()
        elif isinstance(report, Reconciled):
            self._on_reconciled(report)

    def _live_of(self, client_id: str | None, exchange_id: str | None) -> LiveOrder | None:
        live = self._orders.get(client_id or "")
        if live is None and exchange_id is not None:
            live = self._orders.get(self._by_exchange.get(exchange_id, ""))
        return live

    def _on_update(self, update: OrderUpdate) -> None:
        live = self._live_of(update.client_id, update.order_id)
        if live is None:
            return  # another program's order (an open one is adopted at start and reported by reconciliations)
        if update.order_id and live.exchange_id is None:
            live.exchange_id = update.order_id
            self._by_exchange[update.order_id] = live.client_id
            order = self._bt[live.client_id]
            order.addinfo(exchange_id=update.order_id)
        state = state_of_status(update.status)
        if live.final:
            self._contradiction(live, state)
            return
        order = self._bt[live.client_id]
        if state is OrderState.UNKNOWN:
            if live.state is not OrderState.PENDING_NEW:
                return  # the exchange's word came first: a request's "no answer" says nothing more
            live.move(OrderState.UNKNOWN)
            live.reason = update.reason
            self.counts["unknown"] += 1
            log.warning("%r: order %s sent, outcome unknown (%s): looking it up", self, live.client_id, update.reason)
        elif state is OrderState.REJECTED:
            live.move(state)
            live.reason = update.reason
            order.addinfo(reason=update.reason)
            if update.status == "margin":
                order.margin()
            else:
                order.reject(self)
            self.counts["rejected"] += 1
            log.error("%r: order %s rejected by the exchange: %s", self, live.client_id, update.reason)
            self.notify(order)
            self._forget(order)
        else:
            live.filled = max(live.filled, update.filled)
            if not (state is OrderState.OPEN and live.state is OrderState.PENDING_CANCEL):
                live.move(state)
            self._accept(order)
            self._finish_if_booked(live)
            if live.booked + EPSILON < live.filled and update.source == "lookup" and not self._catching_up:
                self.reconcile()  # a look-up says it filled: its trades come from the trade list
        self._store.save_order(live)
        for fill in self._held_fills.pop(live.exchange_id or "", []):
            self._on_fill(fill)

    def _contradiction(self, live: LiveOrder, state: OrderState) -> None:
        """A report on a final order: stale news (the REST answer after the stream's fill) is
        ignored; a different final state, or an order alive at the exchange that this run
        rejected (it surfaced after two look-ups said it did not exist), is counted and logged,
        and such an order is cancelled at the exchange."""
        if state in FINAL and state is not live.state or live.state is OrderState.REJECTED and state not in FINAL:
            self.counts["late_reports"] += 1
            log.error("%r: order %s is %s here but %s at the exchange", self, live.client_id, live.state.value,
                      state.value)
            if live.state is OrderState.REJECTED and state is OrderState.OPEN and self.client is not None:
                self.client.cancel(replace(live))

    def _accept(self, order: Order) -> None:
        if order.status == Order.Submitted:
            order.accept(self)
            self.counts["accepted"] += 1
            self.notify(order)

    def _finish_if_booked(self, live: LiveOrder) -> None:
        """A cancelled or expired order is notified once the fills the exchange reported are booked."""
        order = self._bt[live.client_id]
        if live.state not in (OrderState.CANCELED, OrderState.EXPIRED) or not order.alive():
            return
        if live.booked + EPSILON < live.filled:
            return  # its fills are on their way
        if live.state is OrderState.EXPIRED:
            seam.expire(order)
        else:
            order.cancel()
            self.counts["canceled"] += 1
        self.notify(order)
        self._forget(order)

    def _forget(self, order: Order) -> None:
        if order in seam.pending_orders(self):
            seam.pending_orders(self).remove(order)

    def _on_fill(self, fill: OwnFill) -> None:
        store = self._store
        if store.has_fill(fill.symbol, fill.trade_id):
            return
        live = self._live_of(fill.client_id, fill.order_id)
        if live is None:
            if any(o.exchange_id is None and not o.final for o in self._orders.values()):
                self._held_fills.setdefault(fill.order_id or "", []).append(fill)  # its order may be one of ours
            elif store.add_fill(_booked(fill)):
                self.counts["foreign"] += 1  # another program's trade on this account: recorded, not booked
            return
        order = self._bt[live.client_id]
        if not order.alive():
            self.counts["late_reports"] += 1
            log.error("%r: fill %s for order %s that is no longer open here", self, fill.trade_id, live.client_id)
            store.add_fill(_booked(fill))
            return
        self._accept(order)
        self._book(order, fill)
        live.booked += fill.amount
        live.filled = max(live.filled, live.booked)
        store.add_fill(_booked(fill))
        self._save_books()
        self._finish_if_booked(live)
        store.save_order(live)

    def _book(self, order: Order, fill: OwnFill) -> None:
        """backtrader's bookkeeping of one fill at the exchange's price and fee."""
        market = self.market_of(order.data)
        fees = self.getcommissioninfo(market.data)
        fees.fee, fees.size = self._fee_in_quote(fill), fill.amount
        now = self._now()
        market.data.mark(now, market.price if market.price is not None else fill.price)
        remaining = abs(order.executed.remsize)  # the last fill completes the order despite float sums
        self._fill_size = remaining if abs(fill.amount - remaining) <= EPSILON * max(1.0, remaining) else fill.amount
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
            seam.pending_orders(self).append(order)
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

    # -- reconciliation --------------------------------------------------------------------------
    def _reconcile_request(self) -> ReconcileRequest:
        store = self._store
        live = tuple(replace(o) for o in self._orders.values() if not o.final)
        return ReconcileRequest(live, {symbol: store.watermark(symbol) for symbol in self._markets},
                                self.futures, self._started_ms - 1000)

    def reconcile(self) -> None:
        """Catch up over REST (the reports come back as events; see ``BinanceExecution``)."""
        if self.client is None:
            return
        self._catching_up = True
        self.counts["reconciles"] += 1
        self.client.reconcile(self._reconcile_request())

    def _on_reconciled(self, report: Reconciled) -> None:
        self._catching_up = False
        if report.watermark is not None:
            self._store.set_watermark(report.symbol, report.watermark)
        if not any(o.exchange_id is None and not o.final for o in self._orders.values()):
            for fills in self._held_fills.values():  # every order of ours is known: these are not ours
                for fill in fills:
                    if self._store.add_fill(_booked(fill)):
                        self.counts["foreign"] += 1
            self._held_fills.clear()
        if report.positions:
            self._check_positions(dict(report.positions))

    def _check_positions(self, sizes: dict[str, float]) -> None:
        """Compare the exchange's positions with the booked ones; a difference (a trade of
        another program, a liquidation) is logged and counted, never booked silently."""
        self.venue_positions = sizes
        for symbol, market in self._markets.items():
            booked = self.getposition(market.data).size
            if abs(booked - sizes.get(symbol, 0.0)) > EPSILON:
                self.counts["position_mismatches"] += 1
                log.warning("%r: %s position at the exchange %g, booked %g", self, symbol, sizes.get(symbol, 0.0),
                            booked)

    # -- the kill switch ----------------------------------------------------------------------------
    def stop_live(self) -> None:
        """Cancel open orders, flatten if asked, book what is left, stop the stream, disconnect."""
        client = self.client
        if client is None:
            return
        collected: list[Any] = []
        try:
            # from now on reports come here; those queued before the run stopped consuming are
            # booked first (the client counts them told: it never reports them again)
            client.sink = collected.append
            self._apply(self._queued_reports())
            client.settle()  # an order being placed is cancelled too
            self._apply(collected)
            if self.cancel_on_stop or self.flatten_on_stop:
                self.counts["cancelled_at_stop"] += client.cancel_all(list(self._markets))
                self._apply(collected)
            if self.flatten_on_stop:
                self._flatten(client, collected)
            client.reconcile_now(self._reconcile_request())
            self._apply(collected)
        finally:
            client.close()
            self.execution_counts = client.counts
            self.client = None
            if self.store is not None:
                self.store.close()

    def _queued_reports(self) -> list[Any]:
        """The execution reports left on the run's queue when it stopped (its market data is
        dropped: the run has ended)."""
        if self._context is None:
            return []
        queue, reports = self._context.queue, []
        while batch := queue.pop_batch(timeout=0):
            reports += [event.data for event in batch if event.channel_type == "orders"]
        return reports

    def _apply(self, reports: list[Any]) -> None:
        while reports:
            self.on_report(reports.pop(0))

    def _flatten(self, client: BinanceExecution, collected: list[Any], timeout: float = 30.0) -> None:
        """Close every position with a market order (limits do not apply) and wait until the
        exchange has settled them (or ``timeout``)."""
        assert self._context is not None
        owner = self._context.owner()
        self._flattening = True
        try:
            for symbol, market in self._markets.items():
                size = self.getposition(market.data).size
                amount = client.amount_to_precision(symbol, abs(size)) if size else 0.0
                if amount:
                    (self.sell if size > 0 else self.buy)(owner, market.data, amount)
        finally:
            self._flattening = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            client.settle(max(0.0, deadline - time.monotonic()))
            self._apply(collected)
            if all(o.final or o.state is OrderState.OPEN and o.kind != "market" for o in self._orders.values()):
                return
            client.reconcile_now(self._reconcile_request())
            self._apply(collected)
            time.sleep(0.1)

    def summary(self) -> list[tuple[str, str]]:
        """What the broker did: orders, fills, fees, unknown outcomes, reconciliations."""
        counts = self.counts
        fees = sum(fill.fee for fill in self.exchange_fills)
        rows = [
            ("broker", f"{self.exchange_id} {'sandbox' if self.sandbox else 'LIVE'}, run {self.run_id}"),
            ("orders", f"{counts['sent']} sent, {counts['accepted']} accepted, {counts['completed']} completed, "
                       f"{counts['canceled']} cancelled, {counts['rejected']} rejected, {counts['adopted']} adopted, "
                       f"{counts['resumed']} resumed"),
            ("fills", f"{len(self.exchange_fills)}, fees {fees:,.8g}"
                      + (f", realized PnL {self.realized_pnl:,.8g}" if self.futures else "")),
            ("kill switch", f"{counts['cancelled_at_stop']} open orders cancelled at stop"),
            ("unknown outcomes", f"{counts['unknown']} (none sent again), {counts['late_reports']} late reports, "
                                 f"{counts['foreign']} foreign fills"),
            ("reconciliations", f"{counts['reconciles']}"),
            ("run state", str(self.run_dir / "run.sqlite")),
        ]
        execution = self.client.counts if self.client is not None else self.execution_counts
        if execution is not None:
            rows.append(("execution", f"{execution.sent} creates sent, {execution.resent} re-sent after 429/-1021, "
                                      f"{execution.unknown} unknown, {execution.lookups} look-ups "
                                      f"({execution.lookup_failures} failed), {execution.pages} trade pages, "
                                      f"{execution.stream_stalls} stream stalls, {execution.clock_resyncs} clock "
                                      f"resyncs, {execution.reconcile_failures} failed reconciliations"))
        return rows


def _booked(fill: OwnFill) -> BookedFill:
    return BookedFill(fill.symbol, fill.trade_id, fill.client_id, fill.order_id, fill.side, fill.price, fill.amount,
                      fill.fee, fill.fee_currency, fill.timestamp, fill.source, fill.realized_pnl)

