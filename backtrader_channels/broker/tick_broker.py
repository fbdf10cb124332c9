"""TickBroker: backtrader's BackBroker, matching orders on every trade and book update.

Cash, commission, positions, margin checks and order/trade notifications are
BackBroker's own; this class decides *when* and *at what price* an order fills, from
the events of its symbol (see fills.py and docs/fills.md). In bar mode it is a plain
BackBroker.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from backtrader import Order
from backtrader.brokers import BackBroker

from .. import seam
from . import lean
from .channel_broker import CashFlow, ChannelBroker, FillRecord
from .data import from_num, to_num
from .fills import LIMITS, SUPPORTED, FillModel, FrontOfQueue, TradeThroughFills, limit_price
from .latency import FixedLatency, LatencyModel
from .market import Market
from .rules import check_commissions, short_refusal

if TYPE_CHECKING:
    from ..engine.clock import Clock

__all__ = ["CashFlow", "FillRecord", "TickBroker"]  # the records re-exported for their users


# keyword arguments of BackBroker.buy/sell that are not order info
_ORDER_KEYWORDS = {"tradeid", "oco", "trailamount", "trailpercent", "parent", "transmit", "histnotify", "_checksubmit"}


def _lone(kwargs: dict) -> bool:
    """Whether BackBroker.buy/sell keyword arguments make a lone order: no OCO partner,
    parent or trailing, transmitted and checked at once."""
    get = kwargs.get
    return (get("oco") is None and get("parent") is None and get("trailamount") is None
            and get("trailpercent") is None and get("transmit", True) is True and get("_checksubmit", True) is True)


class TickBroker(ChannelBroker):
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
        self._lean = False  # lone orders take the lean path (tick mode, lean_orders)
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
    @property
    def lean(self) -> bool:  # type: ignore[override]
        return bool(self.p.lean_orders)

    def attach(self, clock: Clock, markets: dict[str, Market]) -> None:
        """Enter tick mode: match against ``markets``, read time from ``clock``."""
        check_commissions(self)
        super().attach(clock, markets)
        self._lean = self.p.lean_orders
        latency = self.p.latency
        self.latency_model = latency if isinstance(latency, LatencyModel) else FixedLatency(latency)
        queue = FrontOfQueue() if self.p.fill_on_touch else None
        self.fill_model = self.p.fill_model or TradeThroughFills(queue)
        self.fill_model.reset()

    def _order(self, cls: type[Order], owner: Any, data: Any, size: float, price: float | None,
               plimit: float | None, exectype: int | None, valid: Any, kwargs: dict) -> Order:
        """A new order: lone ones in tick mode take the lean path, the rest BackBroker's."""
        if (self._lean and self.tick_mode and valid is None and (exectype is None or exectype in seam.LEAN_EXECTYPES)
                and _lone(kwargs) and self.p.checksubmit and not self.p.coo):
            market = self.market_of(data)
            if seam.lean_data(market.data):
                market.mark(self._now())
                return self._place_lean(cls, owner, market, size, price, plimit, exectype, kwargs)
        return super()._order(cls, owner, data, size, price, plimit, exectype, valid, kwargs)

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

    def get_value(self, datas=None, mkt=False, lever=False) -> float:
        if self.tick_mode:
            now = self._now()
            for data in self.positions:
                self.market_of(data).mark(now)
            seam.revalue(self)
        return super().get_value(datas=datas, mkt=mkt, lever=lever)

    getvalue = get_value

    def _response_delay(self, order: Order) -> float:
        return self.latency_model.response(order)

    # -- matching -------------------------------------------------------------------------
    def watches(self, market: Market) -> bool:
        return bool(market.orders or self.incoming)

    def working_orders(self) -> list[Order]:
        working = [order for market in self._markets.values() for order in market.orders]
        return working + [order for _, order in self.incoming]

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

