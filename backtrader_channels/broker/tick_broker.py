"""TickBroker: backtrader's BackBroker, matching orders on every trade and book update.

Cash, commission, positions, margin checks and order/trade notifications are
BackBroker's own; this class decides *when* and *at what price* an order fills, from
the events of its symbol (see fills.py and docs/fills.md). In bar mode it is a plain
BackBroker.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
from backtrader import BuyOrder, Order, SellOrder
from backtrader.brokers import BackBroker

from .. import seam
from . import lean
from .data import from_num, to_num
from .fills import LIMITS, SUPPORTED, FillModel, FrontOfQueue, TradeThroughFills, limit_price
from .latency import FixedLatency, LatencyModel
from .market import Market
from .rules import check_commissions, short_refusal

if TYPE_CHECKING:
    from ..engine.clock import Clock

__all__ = ["CashFlow", "FillRecord", "TickBroker"]


# keyword arguments of BackBroker.buy/sell that are not order info
_ORDER_KEYWORDS = {"tradeid", "oco", "trailamount", "trailpercent", "parent", "transmit", "histnotify", "_checksubmit"}


def _lone(kwargs: dict) -> bool:
    """Whether BackBroker.buy/sell keyword arguments make a lone order: no OCO partner,
    parent or trailing, transmitted and checked at once."""
    get = kwargs.get
    return (get("oco") is None and get("parent") is None and get("trailamount") is None
            and get("trailpercent") is None and get("transmit", True) is True and get("_checksubmit", True) is True)


class FillRecord(tuple):
    """One execution: ``(timestamp, symbol, size, price, commission, order_ref)``; size < 0 sells."""

    __slots__ = ()
    _fields = ("timestamp", "symbol", "size", "price", "commission", "order_ref")

    timestamp = property(lambda self: self[0])
    symbol = property(lambda self: self[1])
    size = property(lambda self: self[2])
    price = property(lambda self: self[3])
    commission = property(lambda self: self[4])
    order_ref = property(lambda self: self[5])


class CashFlow(NamedTuple):
    """Cash booked outside a fill (funding payments...): positive is received."""

    timestamp: float
    symbol: str
    kind: str
    amount: float


class TickBroker(BackBroker):
    """A BackBroker whose orders fill against ticks and order books in tick mode.

    Params (besides BackBroker's): ``fill_on_touch`` (the default fill model's queue:
    a resting limit fills when a trade prints at its price, not only through it),
    ``latency`` (seconds between submission and the order becoming active, or a
    ``LatencyModel`` with order-entry and response latency), ``partial_fills`` (fills are
    capped by the trade's volume or the book's depth; without it book orders wait for
    enough depth), ``fill_model`` (a ``FillModel``; None: ``TradeThroughFills``),
    ``maker_rebate`` (allow a negative commission), ``lean_orders`` (lone orders, fills and
    their notifications skip backtrader's general machinery, with the same outcome; see
    lean.py. False: never, for comparison). In tick mode a sell of a spot asset
    (backtrader's default stock-like commission) may not exceed what is held: see rules.py.
    """

    params = (
        ("fill_on_touch", False),
        ("latency", 0.0),
        ("partial_fills", False),
        ("fill_model", None),
        ("maker_rebate", False),
        ("lean_orders", True),
    )

    def __init__(self) -> None:
        super().__init__()
        self._clock: Clock | None = None
        self._markets: dict[str, Market] = {}
        self._market_of_data: dict[int, Market] = {}  # id(ChannelData) -> its market
        self._lean = False  # lone orders take the lean path (tick mode, lean_orders)
        self.incoming: list[tuple[float, Order]] = []  # (time it starts working, order)
        self._fill_size = 0.0
        self._due: deque[float] = deque()  # when each queued notification reaches the strategy
        self.fills: list[FillRecord] = []
        self.cashflows: list[CashFlow] = []
        self.fill_model: FillModel = TradeThroughFills()
        self.latency_model: LatencyModel = FixedLatency()

    # -- configuration -------------------------------------------------------------------
    @classmethod
    def from_broker(cls, broker: BackBroker) -> TickBroker:
        """A TickBroker with the cash, commissions and settings of ``broker``."""
        tick_broker = cls()
        for name in BackBroker.params._getkeys():
            setattr(tick_broker.p, name, getattr(broker.p, name))
        tick_broker.comminfo = dict(broker.comminfo)
        tick_broker.init()
        return tick_broker

    def set_fill_on_touch(self, on: bool = True) -> None:
        self.p.fill_on_touch = on

    def set_latency(self, entry: float | LatencyModel, response: float = 0.0) -> None:
        """Order-entry latency (submission to working at the venue) and response latency
        (a fill or other order event to the strategy's notification), in seconds; or a
        ``LatencyModel``."""
        self.p.latency = entry if isinstance(entry, LatencyModel) else FixedLatency(entry, response)

    def set_fill_model(self, model: FillModel | None) -> None:
        """Decide fills with ``model`` (None: the default ``TradeThroughFills``)."""
        self.p.fill_model = model

    def set_partial_fills(self, on: bool = True) -> None:
        self.p.partial_fills = on

    def set_maker_rebate(self, on: bool = True) -> None:
        """Allow a negative commission (an exchange paying makers); refused otherwise."""
        self.p.maker_rebate = on

    # -- tick mode lifecycle ---------------------------------------------------------------
    def attach(self, clock: Clock, markets: dict[str, Market]) -> None:
        """Enter tick mode: match against ``markets``, read time from ``clock``."""
        check_commissions(self)
        self._clock = clock
        self._markets = markets
        self._market_of_data = {}
        # a subclass that submits elsewhere (a live broker) keeps BackBroker's submission
        self._lean = self.p.lean_orders and type(self).submit is TickBroker.submit
        self.incoming = []
        self._due.clear()
        self.fills = []
        self.cashflows = []
        latency = self.p.latency
        self.latency_model = latency if isinstance(latency, LatencyModel) else FixedLatency(latency)
        queue = FrontOfQueue() if self.p.fill_on_touch else None
        self.fill_model = self.p.fill_model or TradeThroughFills(queue)
        self.fill_model.reset()
        seam.set_fill_size(self, self._take_fill_size)

    def detach(self) -> None:
        """Back to bar mode (BackBroker's matching); a tick run stays attached after it ends
        so that values and positions still read the channels' last prices."""
        self._clock = None
        self._due.clear()
        seam.set_fill_size(self, None)

    @property
    def tick_mode(self) -> bool:
        return self._clock is not None

    def _now(self) -> float:
        """The run's time (tick mode only)."""
        assert self._clock is not None, "the broker is not attached to a tick run"
        return self._clock.now

    def market_of(self, data: Any) -> Market:
        """The market an order on ``data`` trades: a channel, its ChannelData, a symbol or a bar feed.

        A bar feed trades the channel symbol it is named after, else the first channel's.
        """
        market = self._market_of_data.get(id(data))
        if market is not None and market.data is data:
            return market
        symbol = getattr(data, "symbol", None) or getattr(data, "_name", None) or data
        market = self._markets.get(symbol) if isinstance(symbol, str) else None
        if market is None:  # the first channel's symbol (live runs may add markets as they go)
            market = next(iter(self._markets.values()), None)
        if market is None:
            raise ValueError(f"no channel to trade {symbol!r}: add one with cerebro.add_channel")
        if market.data is data:
            self._market_of_data[id(data)] = market
        return market

    def _resolve(self, data: Any) -> Any:
        if self._clock is None:
            return data
        market = self._market_of_data.get(id(data))
        if market is not None and market.data is data:  # a ChannelData: itself
            return data
        return self.market_of(data).data

    # -- backtrader broker API, resolved to channel data in tick mode -------------------------
    def getcommissioninfo(self, data: Any) -> Any:
        return super().getcommissioninfo(self._resolve(data))

    def getposition(self, data: Any) -> Any:
        return super().getposition(self._resolve(data))

    def buy(self, owner, data, size, price=None, plimit=None, exectype=None, valid=None, **kwargs):
        return self._order(BuyOrder, owner, data, size, price, plimit, exectype, valid, kwargs)

    def sell(self, owner, data, size, price=None, plimit=None, exectype=None, valid=None, **kwargs):
        return self._order(SellOrder, owner, data, size, price, plimit, exectype, valid, kwargs)

    def _order(self, cls: type[Order], owner: Any, data: Any, size: float, price: float | None,
               plimit: float | None, exectype: int | None, valid: Any, kwargs: dict) -> Order:
        """A new order: lone ones in tick mode take the lean path, the rest BackBroker's."""
        if self.tick_mode:
            market = self.market_of(data)
            market.mark(self._now())
            data = market.data
            if (self._lean and valid is None and (exectype is None or exectype in seam.LEAN_EXECTYPES)
                    and _lone(kwargs)
                    and self.p.checksubmit and not self.p.coo and seam.lean_data(data)):
                return self._place_lean(cls, owner, market, size, price, plimit, exectype, kwargs)
        place = BackBroker.buy if cls is BuyOrder else BackBroker.sell
        return place(self, owner, data, size, price, plimit, exectype, valid, **kwargs)

    def _place_lean(self, cls: type[Order], owner: Any, market: Market, size: float, price: float | None,
                    plimit: float | None, exectype: int | None, kwargs: dict) -> Order:
        """What ``BackBroker.buy``/``sell``, ``submit`` and ``check_submitted`` do with a lone
        order (no parent, OCO group, trailing or validity), without their general machinery."""
        info = {name: value for name, value in kwargs.items() if name not in _ORDER_KEYWORDS}
        order = seam.new_order(cls, owner, market.data, size, price, plimit, exectype,
                               kwargs.get("tradeid", 0), kwargs.get("histnotify", False))
        if info:
            order.addinfo(**info)
        seam.lone_order(self, order)
        if market.price is None or lean.cash_after(self, order) >= 0.0:
            self.submit_accept(order)
        else:
            order.margin()
            self._finish_unfilled(order)
        return order

    def submit(self, order: Order, check: bool = True) -> Order:
        if not self.tick_mode:
            return super().submit(order, check)
        if order.exectype not in SUPPORTED:  # Close and Historical need bars
            order.reject(self)
            self.notify(order)
            return order
        order = super().submit(order, check)
        self.check_submitted()
        return order

    def check_submitted(self) -> None:
        """Cash is checked at submission at the mark price, and again when the order fills;
        an order on a symbol with no price yet can only be checked when it fills."""
        if self.tick_mode:
            unpriced = [o for o in self.submitted if self.market_of(o.data).price is None]
            for order in unpriced:
                self.submitted.remove(order)
                self.submit_accept(order)
        super().check_submitted()

    def submit_accept(self, order: Order) -> None:
        refusal = short_refusal(self, order) if self.tick_mode else None
        if refusal is not None:
            order.addinfo(reason=refusal)
            order.margin()
            self._finish_unfilled(order)
            return
        super().submit_accept(order)
        if self.tick_mode:
            self.incoming.append((self._now() + self.latency_model.entry(order), order))

    def cancel(self, order: Order, bracket: bool = False) -> bool:
        cancelled = super().cancel(order, bracket=bracket)
        if cancelled and self.tick_mode:
            self._close_order(order, self.market_of(order.data))
        return cancelled

    def next(self) -> None:
        if not self.tick_mode:  # bar mode: BackBroker's bar matching
            super().next()

    def get_value(self, datas=None, mkt=False, lever=False) -> float:
        if self.tick_mode:
            now = self._now()
            for data in self.positions:
                self.market_of(data).mark(now)
            seam.revalue(self)
        return super().get_value(datas=datas, mkt=mkt, lever=lever)

    getvalue = get_value

    def book_cashflow(self, timestamp: float, symbol: str, kind: str, amount: float) -> None:
        """Add ``amount`` to cash now (a funding payment...) and record it."""
        self.cash += amount
        self.cashflows.append(CashFlow(timestamp, symbol, kind, amount))

    # -- notifications, delayed by the response latency ----------------------------------------
    def notify(self, order: Order) -> None:
        self.notifs.append(seam.clone_order(order))  # BackBroker.notify, faster
        if self._clock is not None:  # tick mode
            self._due.append(self._clock.now + self.latency_model.response(order))

    def notification_due(self) -> bool:
        """Whether a notification has reached the strategy's side by now."""
        if not self.notifs:
            return False
        return not self._due or self._due[0] <= self._now()

    def due_notifications(self) -> Iterator[Order]:
        """The notifications ``get_notification`` hands over now, one by one (including any
        queued while they are handled)."""
        notifs, due = self.notifs, self._due
        while True:
            if due:
                if due[0] > self._now():
                    return
                due.popleft()
            if not notifs:
                return
            yield notifs.popleft()

    def get_notification(self) -> Order | None:
        if self._due:
            if self._due[0] > self._now():
                return None
            self._due.popleft()
        return super().get_notification()

    # -- matching -------------------------------------------------------------------------
    def end_step(self) -> None:
        """After an event's callbacks: orders submitted during it start working.

        With an order-entry latency they wait in ``incoming`` until a later event of their symbol.
        """
        if self.latency_model.delays_entry:
            return
        for _, order in self.incoming:
            self._start_working(order, self.market_of(order.data))
        self.incoming = []

    def _start_working(self, order: Order, market: Market) -> None:
        if order.alive():
            self.fill_model.arrive(order, market.quote(order.isbuy()))
            market.orders.append(order)

    def _activate_due(self, market: Market, now: float) -> None:
        due = [pair for pair in self.incoming if pair[0] <= now and self.market_of(pair[1].data) is market]
        for pair in due:
            self.incoming.remove(pair)
            self._start_working(pair[1], market)

    def first_candidate(self, market: Market, seconds: np.ndarray, prices: np.ndarray) -> int:
        """Index of the first of these trades that could change an order of ``market``
        (fill, expiry, activation after latency); ``len(prices)`` when none can."""
        candidate = len(prices)
        for active_at, order in self.incoming:
            if self.market_of(order.data) is market:
                candidate = min(candidate, int(np.searchsorted(seconds, active_at, side="left")))
        for order in market.orders:
            if not order.alive():
                return 0
            if not order.active():
                continue
            if order.valid and order.exectype != Order.Market:
                candidate = min(candidate, int(np.searchsorted(seconds, from_num(order.valid), side="left")))
            index = self.fill_model.first_trigger(order, prices[:candidate])
            if index is not None:
                candidate = index
        return candidate

    def watches(self, market: Market) -> bool:
        """Whether an event of ``market`` can change an order: one works there or waits to start."""
        if market.orders or self.incoming:  # noqa: SIM103  (asked per event: no bool() call)
            return True
        return False

    def on_report(self, data: Any) -> None:
        """An execution report of the 'orders' kind; a simulated broker makes its own, so none."""

    def on_trade(self, market: Market, price: float, volume: float) -> None:
        """Match against a trade, before it becomes the market's last price."""
        self._match(market, price, volume)

    def on_book(self, market: Market) -> None:
        """Match against the market's book just after an update."""
        self._match(market, None, 0.0)

    def _match(self, market: Market, price: float | None, volume: float) -> None:
        now = self._now()
        if self.incoming and self.latency_model.delays_entry:
            self._activate_due(market, now)
        book = market.book if market.book is not None and market.book.has_snapshot else None
        model = self.fill_model
        partial = self.p.partial_fills
        for order in list(market.orders):
            if not order.alive():  # cancelled as the other side of an OCO or a bracket
                self._close_order(order, market)
                continue
            if not order.active() or self._expired(order, market, now):
                continue  # a bracket child waits for its parent to fill
            if book is None:
                fill = None if price is None else model.on_trade(order, price, volume, market.last_price, partial)
            else:
                fill = model.on_book(order, book, price, volume, not market.has_trades, partial)
            if fill is not None:
                self._fill(order, market, *fill)

    def _expired(self, order: Order, market: Market, now: float) -> bool:
        if order.valid and order.exectype != Order.Market and to_num(now) > order.valid:
            market.mark(now)
            order.expire()
            self._close_order(order, market)
            self._finish_unfilled(order)
            return True
        return False

    def _fill(self, order: Order, market: Market, size: float, price: float, passive: bool) -> None:
        if not passive:
            price = self._slipped(order, price)
        now = self._now()
        market.data.mark(now, market.price if market.price is not None else price)
        self._fill_size = size
        executed_before = order.executed.size
        comm_before = order.executed.comm
        self.pending.remove(order)  # as in BackBroker.next: OCO checks must not see it
        if self._lean and seam.lean_data(order.data):
            lean.execute(self, order, size, price, to_num(now))
        else:
            seam.execute(self, order, price, to_num(now))
        size = order.executed.size - executed_before
        if size:
            commission = order.executed.comm - comm_before
            self.fills.append(FillRecord((now, market.symbol, size, price, commission, order.ref)))
        if order.alive():
            self.pending.append(order)
            return
        self._close_order(order, market)
        if order.status == Order.Completed:
            seam.bracket_done(self, order)  # a filled bracket parent releases its children

    def _slipped(self, order: Order, price: float) -> float:
        if not self.p.slip_perc and not self.p.slip_fixed:
            return price  # no slippage set: BackBroker's slip is the price itself
        limited = order.exectype in LIMITS
        cap = limit_price(order)
        buy = order.isbuy()
        if not limited:
            cap = math.inf if buy else -math.inf
        slipped = seam.slipped(self, buy, cap, price, limited)
        return price if slipped is None else slipped

    def _finish_unfilled(self, order: Order) -> None:
        """Notify an order that ended without a fill (refused, expired) and settle its OCO
        group and bracket."""
        self.notify(order)
        seam.oco_check(self, order)
        seam.bracket_done(self, order, cancel=True)

    def _close_order(self, order: Order, market: Market) -> None:
        """Forget an order that can no longer fill, wherever it waits."""
        if order in market.orders:
            market.orders.remove(order)
        if order in self.pending:
            self.pending.remove(order)
        self.incoming = [pair for pair in self.incoming if pair[1] is not order]
        self.fill_model.forget(order)

    def _take_fill_size(self, order: Order, price: float, ago: int) -> float:
        return self._fill_size
