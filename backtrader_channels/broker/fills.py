"""Fill models: when and at what price an active order fills on a trade or a book update.

The default, ``TradeThroughFills`` (see docs/fills.md): against trades a market order fills
at the next trade; a limit that is marketable when it becomes active fills at the trade
price, never worse than its limit; a resting limit fills at its limit when a trade reaches
it, where "reaches" is the queue model's call (``ConservativeQueue``: the trade must print
through the limit, as if the order stood last in the queue at its price; ``FrontOfQueue``:
a print at the limit is enough); a stop triggers on a trade at or beyond its stop and fills
at that trade; trailing stops follow the price until they trigger. Against a book, market
orders and limits marketable on arrival walk the opposite side level by level; a resting
limit fills at its own price when trades or quotes reach it. Sells mirror buys.

Each rule is written once, as a predicate that takes a price or an array of prices, so
the per-event path (``on_trade``) and the bulk path (``first_trigger``: the first of many
trades that could fill an order) cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import takewhile
from typing import Any, Protocol

import numpy as np
from backtrader import Order

from ..events import Level

__all__ = [
    "SUPPORTED",
    "ConservativeQueue",
    "Fill",
    "FillModel",
    "FrontOfQueue",
    "QueueModel",
    "Reach",
    "TradeThroughFills",
    "limit_price",
    "walk",
]

Fill = tuple[float, float, bool]  # (size, price, passive): passive fills are never slipped
Reach = tuple[float, float]  # (low, high): only a price at or below low, or at or above high, can touch the order

STOPS = (Order.Stop, Order.StopLimit, Order.StopTrail, Order.StopTrailLimit)
TRAILING = (Order.StopTrail, Order.StopTrailLimit)
LIMITS = (Order.Limit, Order.StopLimit, Order.StopTrailLimit)  # limits once triggered
SUPPORTED = (Order.Market, *LIMITS, Order.Stop, Order.StopTrail)


def limit_price(order: Order) -> float:
    return order.created.pricelimit if order.exectype in (Order.StopLimit, Order.StopTrailLimit) else order.created.price


def _takes_any_price(order: Order) -> bool:
    """Market orders, and stops once triggered."""
    return order.exectype == Order.Market or order.exectype in (Order.Stop, Order.StopTrail)


# -- the rules, each for one price or an array of prices ------------------------------------------
def at_or_better(buy: bool, price: Any, limit: float) -> Any:
    """Whether ``price`` is at least as good as ``limit`` for the order's side."""
    return price <= limit if buy else price >= limit


def stop_reached(buy: bool, price: Any, stop: float) -> Any:
    """Whether a trade at ``price`` triggers a stop at ``stop``: at or beyond it."""
    return price >= stop if buy else price <= stop


class QueueModel(Protocol):
    """Where a resting limit stands among the orders at its price."""

    def reached(self, buy: bool, price: Any, limit: float) -> Any:
        """Whether a trade at ``price`` fills a resting limit at ``limit`` (scalar or array)."""
        ...


class ConservativeQueue:
    """Last in the queue: only a trade printing through the limit proves the order filled."""

    def reached(self, buy: bool, price: Any, limit: float) -> Any:
        return price < limit if buy else price > limit


class FrontOfQueue:
    """First in the queue: a trade printing at the limit fills the order (fill on touch)."""

    def reached(self, buy: bool, price: Any, limit: float) -> Any:
        return at_or_better(buy, price, limit)


def walk(levels: Iterable[Level], size: float) -> tuple[float, float]:
    """Take up to ``size`` from ``levels`` best first: ``(filled, volume-weighted price)``."""
    filled = cost = 0.0
    for price, available in levels:
        take = min(available, size - filled)
        filled += take
        cost += take * price
        if filled >= size:
            break
    return filled, (cost / filled if filled else 0.0)


class FillModel(Protocol):
    """What the TickBroker asks of a fill model. State kept per order is keyed by ``order.ref``."""

    def reset(self) -> None: ...

    def arrive(self, order: Order, quote: float | None) -> None: ...

    def forget(self, order: Order) -> None: ...

    def on_trade(self, order: Order, price: float, volume: float, reference: float | None,
                 partial: bool) -> Fill | None: ...

    def on_book(self, order: Order, book: Any, price: float | None, volume: float,
                quote_triggers: bool, partial: bool) -> Fill | None: ...

    def first_trigger(self, order: Order, prices: np.ndarray) -> int | None: ...


class TradeThroughFills:
    """The default fill model (see the module docstring); ``queue`` decides resting limits."""

    def __init__(self, queue: QueueModel | None = None) -> None:
        self.queue = queue or ConservativeQueue()
        self.marketable: dict[int, bool | None] = {}  # order.ref -> judged marketable (None: not yet)

    def reset(self) -> None:
        self.marketable.clear()

    def forget(self, order: Order) -> None:
        self.marketable.pop(order.ref, None)

    def arrive(self, order: Order, quote: float | None) -> None:
        """A limit starting to work is marketable if the price it would trade at now (``quote``:
        the best opposite quote, else the last trade) is at or better than its limit; with no
        price yet, its first trade decides."""
        if order.exectype == Order.Limit:
            self.marketable[order.ref] = None if quote is None else bool(
                at_or_better(order.isbuy(), quote, limit_price(order)))

    def _arm(self, order: Order, price: float) -> bool:
        """True once a stop has triggered; a trailing stop that does not trigger follows ``price``."""
        kind = order.exectype
        if kind not in STOPS or order.triggered:
            return True
        if stop_reached(order.isbuy(), price, order.created.price):
            order.triggered = True
            self.marketable[order.ref] = None  # a stop-limit is judged against the book/print now
            return True
        if kind in TRAILING:
            order.trailadjust(price)
        return False

    def _first_match_marketable(self, order: Order, reference: float | None) -> bool:
        """Whether the limit arrived marketable, decided on its first match; it is marketable
        for that match only."""
        state = self.marketable.get(order.ref)
        if state is None:
            state = reference is None or bool(at_or_better(order.isbuy(), reference, limit_price(order)))
        self.marketable[order.ref] = False
        return state

    def on_trade(self, order: Order, price: float, volume: float, reference: float | None,
                 partial: bool) -> Fill | None:
        """Fill against one trade at ``price``; ``reference`` is the trade before it (None: none)."""
        if order.exectype in STOPS and not order.triggered:
            if not self._arm(order, price):
                return None
            reference = price  # the order becomes active on this very print
        size = _size(order, volume, partial)
        if _takes_any_price(order):
            return size, price, False
        buy, limit = order.isbuy(), limit_price(order)
        if self._first_match_marketable(order, reference) and at_or_better(buy, price, limit):
            return size, price, False
        if self.queue.reached(buy, price, limit):
            return size, limit, True
        return None

    def reach(self, order: Order) -> Reach | None:
        """The prices that can change an active order, by the same rules as ``on_trade`` and
        ``on_book``: a trade at ``price``, or for a book update the opposite best quote
        (the best ask for a buy), can only touch it when ``price <= low`` or ``price >= high``.
        None: any event can (a market order, a trailing stop, a limit not yet judged).

        Its edges may be touched without a fill (a print at the limit without fill on touch):
        the broker then looks at the order, which does nothing, as it would without this."""
        kind = order.exectype
        buy = order.isbuy()
        if kind in STOPS and not order.triggered:
            if kind in TRAILING:
                return None
            stop = order.created.price
            return (-math.inf, stop) if buy else (stop, math.inf)
        if _takes_any_price(order) or self.marketable.get(order.ref) is not False:
            return None
        limit = limit_price(order)
        return (limit, math.inf) if buy else (-math.inf, limit)

    def first_trigger(self, order: Order, prices: np.ndarray) -> int | None:
        """Index of the first trade in ``prices`` that could fill or change an active order
        (None: none), by the same rules as ``on_trade``."""
        kind = order.exectype
        buy = order.isbuy()
        if kind == Order.Market or (_takes_any_price(order) and order.triggered):
            return 0
        if kind in TRAILING and not order.triggered:
            return 0  # a trailing stop moves with every trade
        if kind in STOPS and not order.triggered:
            hits = stop_reached(buy, prices, order.created.price)
        elif self.marketable.get(order.ref) is not False:
            return 0  # a limit marketable on arrival (or not judged yet) takes its first trade
        else:
            hits = self.queue.reached(buy, prices, limit_price(order))
        index = int(np.argmax(hits)) if len(hits) else 0
        return index if len(hits) and hits[index] else None

    def on_book(self, order: Order, book: Any, price: float | None, volume: float,
                quote_triggers: bool, partial: bool) -> Fill | None:
        """Fill on a symbol with a book, on a trade (``price``) or a book update (None).

        Stops trigger on trades, or on the best quote when ``quote_triggers`` (no trades). A
        limit marketable on arrival takes liquidity once; after that it rests at its limit and
        fills there when a trade reaches it or the other side reaches it.
        """
        buy = order.isbuy()
        if order.exectype in STOPS and not order.triggered:
            trigger = price
            if trigger is None and quote_triggers:
                best = book.best_ask if buy else book.best_bid
                trigger = None if best is None else best.price
            if trigger is None or not self._arm(order, trigger):
                return None
        if _takes_any_price(order):
            return _take_levels(order, book.liquidity(buy), partial)
        limit = limit_price(order)
        if self.marketable.get(order.ref) is None:
            best = book.best_ask if buy else book.best_bid
            self.marketable[order.ref] = best is not None and bool(at_or_better(buy, best.price, limit))
        if self.marketable[order.ref]:
            self.marketable[order.ref] = False  # liquidity is taken on arrival only; the rest rests
            return _take_levels(order, book.liquidity(buy), partial)
        if price is not None:
            return (_size(order, volume, partial), limit, True) if self.queue.reached(buy, price, limit) else None
        reached = takewhile(lambda level: at_or_better(buy, level.price, limit), book.liquidity(buy))
        available = sum(level.size for level in reached)
        return (_size(order, available, partial), limit, True) if available > 0 else None


def _size(order: Order, available: float, capped: bool) -> float:
    remaining = abs(order.executed.remsize)
    return min(remaining, available) if capped else remaining


def _take_levels(order: Order, levels: Iterable[Level], partial: bool) -> Fill | None:
    """Fill of an order taking ``levels`` (the opposite side, best first), or None.

    Orders at any price take any level; limits only levels at or better than their limit.
    Without ``partial``, the order waits until the book holds its size.
    """
    buy = order.isbuy()
    if not _takes_any_price(order):
        limit = limit_price(order)
        levels = takewhile(lambda level: at_or_better(buy, level.price, limit), levels)
    remaining = abs(order.executed.remsize)
    filled, price = walk(levels, remaining)
    if not filled or (filled < remaining and not partial):
        return None
    return filled, price, False
