"""Fill rules, as pure functions of an order and what the market just printed or quoted.

Against trades (see docs/fills.md): a market order fills at the next trade; a resting
buy limit at L fills at L once a later trade prints below L (at L with fill on touch); a
limit that is marketable when it becomes active fills at the trade price, never worse
than L; a buy stop at S triggers on a trade at or above S and fills at that trade;
trailing stops follow the price until they trigger. Against a book, market orders and
limits marketable on arrival walk the opposite side level by level; a resting limit
fills at its own price when trades or quotes reach it. Sells mirror buys.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import takewhile

import numpy as np
from backtrader import Order

from ..events import Level

__all__ = [
    "SUPPORTED",
    "Fill",
    "arrive",
    "book_fill",
    "book_match",
    "first_trigger",
    "limit_price",
    "trade_fill",
    "walk",
]

Fill = tuple[float, float, bool]  # (size, price, passive): passive fills are never slipped

STOPS = (Order.Stop, Order.StopLimit, Order.StopTrail, Order.StopTrailLimit)
TRAILING = (Order.StopTrail, Order.StopTrailLimit)
LIMITS = (Order.Limit, Order.StopLimit, Order.StopTrailLimit)  # limits once triggered
SUPPORTED = (Order.Market, *LIMITS, Order.Stop, Order.StopTrail)


def limit_price(order: Order) -> float:
    return order.created.pricelimit if order.exectype in (Order.StopLimit, Order.StopTrailLimit) else order.created.price


def _takes_any_price(order: Order) -> bool:
    """Market orders, and stops once triggered."""
    return order.exectype == Order.Market or order.exectype in (Order.Stop, Order.StopTrail)


def _better_or_equal(buy: bool, price: float, limit: float) -> bool:
    """True when ``price`` is at least as good as ``limit`` for the order's side."""
    return price <= limit if buy else price >= limit


def _through(buy: bool, price: float, limit: float, touch: bool) -> bool:
    """True when a trade at ``price`` reached a resting limit at ``limit``."""
    if price == limit:
        return touch
    return price < limit if buy else price > limit


def _size(order: Order, available: float, capped: bool) -> float:
    remaining = abs(order.executed.remsize)
    return min(remaining, available) if capped else remaining


def arm(order: Order, price: float) -> bool:
    """True once a stop has triggered (at or beyond its stop price); always True for others.

    A trailing stop that does not trigger moves its stop with ``price``.
    """
    kind = order.exectype
    if kind not in STOPS or order.triggered:
        return True
    stop = order.created.price
    if price >= stop if order.isbuy() else price <= stop:
        order.triggered = True
        order._bc_marketable = None  # a stop-limit is judged marketable against the book/print now
        return True
    if kind in TRAILING:
        order.trailadjust(price)
    return False


def arrive(order: Order, quote: float | None) -> None:
    """A limit starting to work is marketable if the price it would trade at now (``quote``:
    the best opposite quote, else the last trade) is at or better than its limit; with no
    price yet, its first trade decides."""
    if order.exectype == Order.Limit:
        order._bc_marketable = None if quote is None else _better_or_equal(order.isbuy(), quote, limit_price(order))


def _marketable(order: Order, reference: float | None) -> bool:
    """Decide once, when the limit is first matched, whether it arrived marketable."""
    state = getattr(order, "_bc_marketable", None)
    if state is None:
        state = reference is None or _better_or_equal(order.isbuy(), reference, limit_price(order))
        order._bc_marketable = state
    return state


def trade_fill(order: Order, price: float, volume: float, reference: float | None,
               touch: bool, cap_by_volume: bool) -> Fill | None:
    """Fill of an active order against one trade at ``price``, or None.

    ``reference`` is the last trade price before this one (None if there was none).
    """
    if order.exectype in STOPS and not order.triggered:
        if not arm(order, price):
            return None
        reference = price  # the order becomes active on this very print
    size = _size(order, volume, cap_by_volume)
    if _takes_any_price(order):
        return size, price, False
    buy, limit = order.isbuy(), limit_price(order)
    if _marketable(order, reference):
        order._bc_marketable = False  # marketable only on its first match
        if _better_or_equal(buy, price, limit):
            return size, price, False
    if _through(buy, price, limit, touch):
        return size, limit, True
    return None


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


def book_fill(order: Order, levels: Iterable[Level], partial: bool) -> Fill | None:
    """Fill of an order taking ``levels`` (the opposite side, best first), or None.

    Orders at any price take any level; limits only levels at or better than their limit.
    Without ``partial``, the order waits until the book holds its size.
    """
    buy = order.isbuy()
    if not _takes_any_price(order):
        limit = limit_price(order)
        levels = takewhile(lambda level: _better_or_equal(buy, level.price, limit), levels)
    remaining = abs(order.executed.remsize)
    filled, price = walk(levels, remaining)
    if not filled or (filled < remaining and not partial):
        return None
    return filled, price, False


def book_match(order: Order, book: object, price: float | None, volume: float, quote_triggers: bool,
               touch: bool, partial: bool) -> Fill | None:
    """Fill of an active order on a symbol with a book, on a trade (``price``) or a book update.

    Stops trigger on trades, or on the best quote when ``quote_triggers`` (no trades). A
    limit marketable on arrival takes liquidity once; after that it rests at its limit and
    fills there when a trade prints through it or the other side reaches it.
    """
    buy = order.isbuy()
    if order.exectype in STOPS and not order.triggered:
        trigger = price
        if trigger is None and quote_triggers:
            best = book.best_ask if buy else book.best_bid
            trigger = None if best is None else best.price
        if trigger is None or not arm(order, trigger):
            return None
    if _takes_any_price(order):
        return book_fill(order, book.liquidity(buy), partial)
    limit = limit_price(order)
    if getattr(order, "_bc_marketable", None) is None:
        best = book.best_ask if buy else book.best_bid
        order._bc_marketable = best is not None and _better_or_equal(buy, best.price, limit)
    if order._bc_marketable:
        order._bc_marketable = False  # liquidity is taken on arrival only; the rest rests
        return book_fill(order, book.liquidity(buy), partial)
    if price is not None:
        return (_size(order, volume, partial), limit, True) if _through(buy, price, limit, touch) else None
    reached = takewhile(lambda level: _better_or_equal(buy, level.price, limit), book.liquidity(buy))
    available = sum(level.size for level in reached)
    return (_size(order, available, partial), limit, True) if available > 0 else None


def first_trigger(order: Order, prices: np.ndarray, touch: bool) -> int | None:
    """Index of the first trade in ``prices`` that could fill an active order (None: none).

    The vectorised twin of ``trade_fill``'s conditions, so a backtest can skip the trades
    in between without looking at them one by one.
    """
    kind = order.exectype
    buy = order.isbuy()
    if _takes_any_price(order) and (kind == Order.Market or order.triggered):
        return 0
    if kind in TRAILING and not order.triggered:
        return 0  # a trailing stop moves with every trade
    if kind in STOPS and not order.triggered:
        stop = order.created.price
        hits = prices >= stop if buy else prices <= stop
    elif getattr(order, "_bc_marketable", None) is None:
        return 0  # whether a limit arrived marketable is decided on its first trade
    else:
        limit = limit_price(order)
        if buy:
            hits = prices <= limit if touch else prices < limit
        else:
            hits = prices >= limit if touch else prices > limit
    index = int(np.argmax(hits)) if len(hits) else 0
    return index if len(hits) and hits[index] else None
