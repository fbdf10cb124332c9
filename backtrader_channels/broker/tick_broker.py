"""TickBroker: backtrader's BackBroker, matching orders on every trade and book update.

Cash, commission, positions, margin checks and order/trade notifications are
BackBroker's own; this class decides *when* and *at what price* an order fills, from
the events of its symbol (see fills.py and docs/fills.md). In bar mode it is a plain
BackBroker.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from backtrader import Order
from backtrader.brokers import BackBroker

from .. import seam
from . import lean
from .channel_broker import CashFlow, ChannelBroker, FillRecord
from .data import from_num, to_num
from .fills import (
    LIMITS,
    STOPS,
    SUPPORTED,
    Fill,
    FillModel,
    FrontOfQueue,
    Reach,
    TradeThroughFills,
    at_or_better,
    limit_price,
)
from .latency import FixedLatency, LatencyModel
from .market import Market
from .order_params import PLAIN, OrderParams, OrderParamsError, parse
from .rules import SIZE_TOLERANCE, check_commissions, short_refusal

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

    Orders carry ``timeInForce``, ``postOnly`` and ``reduceOnly`` in ``order.info`` (see
    order_params.py): in tick mode they are honoured as a venue would (docs/fills.md), or the
    order is Rejected with the reason in ``order.info.reason``; bar mode ignores them, as
    backtrader does.
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
        self._params: dict[int, tuple[Order, OrderParams]] = {}  # order.ref -> working order asking more
        self.fill_model: FillModel = TradeThroughFills()
        self.latency_model: LatencyModel = FixedLatency()
        self._reach: Callable[[Order], Reach | None] | None = None  # the fill model's, if it has one

    # -- configuration -------------------------------------------------------------------
    @classmethod
    def from_broker(cls, broker: BackBroker) -> TickBroker:
        """A TickBroker with the cash, commissions and settings of ``broker``."""
        tick_broker = cls()
        seam.copy_broker_settings(broker, tick_broker)
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
        self._params = {}
        latency = self.p.latency
        self.latency_model = latency if isinstance(latency, LatencyModel) else FixedLatency(latency)
        queue = FrontOfQueue() if self.p.fill_on_touch else None
        self.fill_model = self.p.fill_model or TradeThroughFills(queue)
        self.fill_model.reset()
        self._reach = getattr(self.fill_model, "reach", None)
        for market in markets.values():
            market.quiet = None

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
            unpriced = [o for o in seam.submitted_orders(self) if self.market_of(o.data).price is None]
            for order in unpriced:
                seam.submitted_orders(self).remove(order)
                self.submit_accept(order)
        super().check_submitted()

    def submit_accept(self, order: Order) -> None:
        if not self.tick_mode:
            super().submit_accept(order)
            return
        params = PLAIN
        if order.info:
            try:
                params = parse(order)
                refusal = self._reduce_refusal(order) if params.reduce_only else None
            except OrderParamsError as error:
                refusal = str(error)
            if refusal is not None:
                order.addinfo(reason=refusal)
                order.reject(self)
                self._finish_unfilled(order)
                return
        refusal = None if params.reduce_only else short_refusal(self, order)  # reduce-only never goes short
        if refusal is not None:
            order.addinfo(reason=refusal)
            order.margin()
            self._finish_unfilled(order)
            return
        super().submit_accept(order)
        if not params.plain:
            self._params[order.ref] = (order, params)
        self.incoming.append((self._now() + self.latency_model.entry(order), order))

    def _reduce_refusal(self, order: Order) -> str | None:
        """Why a reduce-only order may not work: it would open or increase a position."""
        held = self.getposition(order.data).size
        if held and (held < 0) == order.isbuy():
            return None
        side = "buy" if order.isbuy() else "sell"
        if not held:
            return f"reduceOnly: a {side} would open a position (none is held)"
        return f"reduceOnly: a {side} would increase the {'long' if held > 0 else 'short'} position of {held:g}"

    def cancel(self, order: Order, bracket: bool = False) -> bool:
        cancelled = super().cancel(order, bracket=bracket)
        if cancelled and self.tick_mode:
            self._close_order(order, self.market_of(order.data))
        return cancelled

    def get_value(self, datas=None, mkt=False, lever=False) -> float:
        self._revalue()
        return super().get_value(datas=datas, mkt=mkt, lever=lever)

    getvalue = get_value

    def _response_delay(self, order: Order) -> float:
        return self.latency_model.response(order)

    # -- matching -------------------------------------------------------------------------
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
        if not order.alive():
            return
        buy = order.isbuy()
        quote = market.quote(buy)
        if self._params and order.exectype == Order.Limit and quote is not None:
            params = self._params.get(order.ref, (None, PLAIN))[1]
            if params.post_only or params.immediate:
                limit = limit_price(order)
                marketable = bool(at_or_better(buy, quote, limit))
                where = _quoted(market, buy, quote)
                if params.post_only and marketable:
                    self._end(order, market, f"postOnly: the order would take liquidity ({where}, limit {limit:g})",
                              expire=False)
                    return
                if params.immediate and not marketable:
                    self._end(order, market, f"timeInForce {params.time_in_force}: not marketable when it "
                                             f"arrived ({where}, limit {limit:g})")
                    return
        self.fill_model.arrive(order, quote)
        market.orders.append(order)
        market.quiet = None

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
        band = self.quiet_band(market)
        if band:
            low, high = max(band[0], band[2]), min(band[1], band[3])
            window = prices[:candidate]
            touches = (window <= low) | (window >= high)
            first = int(np.argmax(touches)) if len(touches) else 0
            return first if len(touches) and touches[first] else candidate
        special = self._params
        for order in market.orders:
            if not order.alive():
                return 0
            if not order.active():
                continue
            if special and order.ref in special and self._has_its_chance(order, special[order.ref][1]):
                return 0
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

    def on_trade(self, market: Market, price: float, volume: float) -> None:
        """Match against a trade, before it becomes the market's last price."""
        band = market.quiet
        if band and not self.incoming and band[0] < price < band[1] and band[2] < price < band[3]:
            return  # it crosses no working order (the hot path of resting orders: see quiet_band)
        self._match(market, price, volume)

    def on_book(self, market: Market) -> None:
        """Match against the market's book just after an update."""
        self._match(market, None, 0.0)

    def quiet_band(self, market: Market) -> tuple[float, ...]:
        """The prices no working order of ``market`` can react to, kept until an order
        arrives, ends, fills or is looked at: ``(buy_low, buy_high, sell_low, sell_high)``,
        a trade strictly inside both ranges (a book update whose best ask is inside the buy
        range and best bid inside the sell range) changes nothing, so it costs O(1) however
        many orders rest. Empty when any event may matter (an order that reacts to every
        price, expires, asks more, or a fill model without ``reach``)."""
        band = market.quiet
        if band is None:
            band = market.quiet = self._quiet_band(market)
        return band

    def _quiet_band(self, market: Market) -> tuple[float, ...]:
        reach, special = self._reach, self._params
        if reach is None:
            return ()
        buy_low = sell_low = -math.inf
        buy_high = sell_high = math.inf
        for order in market.orders:
            if not order.alive() or (special and order.ref in special):
                return ()
            if not order.active():
                continue  # a bracket child waits for its parent's fill, which recomputes the band
            if order.valid and order.exectype != Order.Market:
                return ()
            edges = reach(order)
            if edges is None:
                return ()
            if order.isbuy():
                buy_low, buy_high = max(buy_low, edges[0]), min(buy_high, edges[1])
            else:
                sell_low, sell_high = max(sell_low, edges[0]), min(sell_high, edges[1])
        return buy_low, buy_high, sell_low, sell_high

    def _match(self, market: Market, price: float | None, volume: float) -> None:
        now = self._now()
        if self.incoming and self.latency_model.delays_entry:
            self._activate_due(market, now)
        book = market.book if market.book is not None and market.book.has_snapshot else None
        band = self.quiet_band(market)
        if band:
            if price is not None:
                if band[0] < price < band[1] and band[2] < price < band[3]:
                    return
            elif book is None:
                return  # no price and no book: nothing to match against, nothing expires
            else:
                ask, bid = book.best_ask, book.best_bid
                if ((ask is None or band[0] < ask.price < band[1])
                        and (bid is None or band[2] < bid.price < band[3])):
                    return
        market.quiet = None  # looking at the orders may trigger stops and judge limits
        partial = self.p.partial_fills
        special = self._params
        for order in list(market.orders):
            if not order.alive():  # cancelled as the other side of an OCO or a bracket
                self._close_order(order, market)
                continue
            if not order.active() or self._expired(order, market, now):
                continue  # a bracket child waits for its parent to fill
            if special and order.ref in special:
                self._match_asking(order, special[order.ref][1], market, book, price, volume)
                continue
            fill = self._offered(order, market, book, price, volume, partial)
            if fill is not None:
                self._fill(order, market, *fill)

    def _offered(self, order: Order, market: Market, book: Any, price: float | None, volume: float,
                 partial: bool) -> Fill | None:
        """The fill model's fill of ``order`` on this event: a trade at ``price`` or (None) a book update."""
        if book is None:
            return None if price is None else self.fill_model.on_trade(order, price, volume, market.last_price, partial)
        return self.fill_model.on_book(order, book, price, volume, not market.has_trades, partial)

    @staticmethod
    def _has_its_chance(order: Order, params: OrderParams) -> bool:
        """Whether an IOC/FOK order is working as a limit (a stop-limit once triggered): its one
        chance to fill is this event."""
        return params.immediate and (order.exectype not in STOPS or order.triggered)

    def _match_asking(self, order: Order, params: OrderParams, market: Market, book: Any, price: float | None,
                      volume: float) -> None:
        """Match an order with time in force, post-only or reduce-only on this event.

        IOC/FOK: one chance, on the first event at which it works as a limit: a fill that takes
        liquidity (FOK: all of it), then the rest Expired; against a book they see all the book
        holds within their limit whatever ``partial_fills`` says. Post-only: a fill that would
        take liquidity refuses it (Rejected). Reduce-only: see ``_fill``.
        """
        tif = params.time_in_force
        partial = self.p.partial_fills or (params.immediate and book is not None)
        fill = self._offered(order, market, book, price, volume, partial)
        if fill is not None and not fill[2] and params.post_only:
            self._end(order, market, f"postOnly: the order would take liquidity at {fill[1]:g}", expire=False)
            return
        if not self._has_its_chance(order, params):
            if fill is not None:
                self._fill(order, market, *fill)
            return
        remaining = abs(order.executed.remsize)
        if fill is None or fill[2]:  # nothing, or only a resting order's fill: it never rests
            reason = f"timeInForce {tif}: nothing to take within the limit {limit_price(order):g}"
        elif tif == "FOK" and fill[0] < remaining * (1.0 - SIZE_TOLERANCE):
            reason = f"timeInForce FOK: only {fill[0]:g} of {remaining:g} to take within the limit"
        else:
            self._fill(order, market, *fill)
            reason = f"timeInForce {tif}: the rest ({abs(order.executed.remsize):g}) expired"
        if order.alive():
            self._end(order, market, reason)

    def _end(self, order: Order, market: Market, reason: str, expire: bool = True) -> None:
        """End a working order as the venue would: Expired (its time in force or reduce-only
        ran out) or Rejected (post-only that would take), with ``reason`` in ``order.info.reason``."""
        now = self._now()
        market.mark(now)
        order.addinfo(reason=reason)
        if expire:
            seam.expire(order)
            order.executed.dt = to_num(now)
        else:
            order.reject(self)
        self._close_order(order, market)
        self._finish_unfilled(order)

    def _expired(self, order: Order, market: Market, now: float) -> bool:
        if order.valid and order.exectype != Order.Market and to_num(now) > order.valid:
            market.mark(now)
            order.expire()
            self._close_order(order, market)
            self._finish_unfilled(order)
            return True
        return False

    def _fill(self, order: Order, market: Market, size: float, price: float, passive: bool) -> None:
        """Execute ``size`` of ``order`` at ``price``; a reduce-only order never beyond the position."""
        market.quiet = None
        if self._params and self._params.get(order.ref, (None, PLAIN))[1].reduce_only:
            size = min(size, abs(seam.positions(self)[order.data].size))
        if not passive:
            price = self._slipped(order, price)
        now = self._now()
        market.data.mark(now, market.price if market.price is not None else price)
        self._fill_size = size
        executed_before = order.executed.size
        comm_before = order.executed.comm
        seam.pending_orders(self).remove(order)  # as in BackBroker.next: OCO checks must not see it
        if self._lean and seam.lean_data(order.data):
            lean.execute(self, order, size, price, to_num(now))
        else:
            seam.execute(self, order, price, to_num(now))
        size = order.executed.size - executed_before
        if size:
            commission = order.executed.comm - comm_before
            self.fills.append(FillRecord((now, market.symbol, size, price, commission, order.ref)))
        if order.alive():
            seam.pending_orders(self).append(order)
        else:
            self._close_order(order, market)
            if order.status == Order.Completed:
                seam.bracket_done(self, order)  # a filled bracket parent releases its children
        if self._params:
            self._expire_spent(market)

    def _expire_spent(self, market: Market) -> None:
        """After a fill: reduce-only orders of ``market`` that would no longer reduce its position
        (closed or reversed) expire, as the venue cancels them."""
        data = market.data
        held = seam.positions(self)[data].size
        for order, params in list(self._params.values()):
            if params.reduce_only and order.data is data and order.alive() and not (held and (held < 0) == order.isbuy()):
                now = "closed" if not held else f"{held:g}"
                self._end(order, market, f"reduceOnly: the position is {now}; the remaining "
                                         f"{abs(order.executed.remsize):g} expired")

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
        """Notify an order that ended before it filled completely (refused, expired) and settle
        its OCO group and bracket."""
        self.notify(order)
        seam.oco_check(self, order)
        seam.bracket_done(self, order, cancel=True)

    def _close_order(self, order: Order, market: Market) -> None:
        """Forget an order that can no longer fill, wherever it waits."""
        market.quiet = None
        if order in market.orders:
            market.orders.remove(order)
        if order in seam.pending_orders(self):
            seam.pending_orders(self).remove(order)
        self.incoming = [pair for pair in self.incoming if pair[1] is not order]
        self.fill_model.forget(order)
        self._params.pop(order.ref, None)


def _quoted(market: Market, buy: bool, quote: float) -> str:
    """Where ``quote``, the price a new order would trade at, comes from: the book or the last trade."""
    book = market.book
    if book is not None and book.has_snapshot and (book.best_ask if buy else book.best_bid) is not None:
        return f"{'best ask' if buy else 'best bid'} {quote:g}"
    return f"last trade {quote:g}"
