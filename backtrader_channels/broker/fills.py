"""Fill rules, as pure functions of an order and what the market just printed.

Against trades (see docs/fills.md): a market order fills at the next trade; a resting
buy limit at L fills at L once a later trade prints below L (at L with fill on touch); a
limit that is marketable when it becomes active fills at the trade price, never worse
than L; a buy stop at S triggers on a trade at or above S and fills at that trade.
Against a book, orders walk the opposite side level by level. Sells mirror buys.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import takewhile

import numpy as np
from backtrader import Order

from ..events import Level

__all__ = ["Fill", "book_fill", "first_trigger", "limit_price", "passive_fill", "stop_triggered", "trade_fill", "walk"]

Fill = tuple[float, float, bool]  # (size, price, passive): passive fills are never slipped


def limit_price(order: Order) -> float:
    return order.created.pricelimit if order.exectype == Order.StopLimit else order.created.price


def _better_or_equal(buy: bool, price: float, limit: float) -> bool:
    """True when ``price`` is at least as good as ``limit`` for the order's side."""
    return price <= limit if buy else price >= limit


def _through(buy: bool, price: float, limit: float, touch: bool) -> bool:
    """True when a trade at ``price`` reached a resting limit at ``limit``."""
    if price == limit:
        return touch
    return price < limit if buy else price > limit


def stop_triggered(order: Order, price: float) -> bool:
    """Trigger a stop (or stop-limit) on a print at or beyond its stop price."""
    if not order.triggered:
        stop = order.created.price
        order.triggered = price >= stop if order.isbuy() else price <= stop
    return order.triggered


def _marketable(order: Order, reference: float | None) -> bool:
    """Decide once, when the limit is first matched, whether it arrived marketable."""
    state = getattr(order, "_bc_marketable", None)
    if state is None:
        state = reference is None or _better_or_equal(order.isbuy(), reference, limit_price(order))
        order._bc_marketable = state
    return state


def _size(order: Order, volume: float, cap_by_volume: bool) -> float:
    remaining = abs(order.executed.remsize)
    return min(remaining, volume) if cap_by_volume else remaining


def passive_fill(order: Order, price: float, volume: float, touch: bool, cap_by_volume: bool) -> Fill | None:
    """A resting limit filled at its own price by a trade printing through it."""
    limit = limit_price(order)
    if _through(order.isbuy(), price, limit, touch):
        return _size(order, volume, cap_by_volume), limit, True
    return None


def trade_fill(order: Order, price: float, volume: float, reference: float | None,
               touch: bool, cap_by_volume: bool) -> Fill | None:
    """Fill of an active order against one trade at ``price``, or None.

    ``reference`` is the last trade price before this one (None if there was none).
    """
    size = _size(order, volume, cap_by_volume)
    buy = order.isbuy()
    kind = order.exectype
    if kind == Order.Market:
        return size, price, False
    if kind in (Order.Stop, Order.StopLimit):
        if not order.triggered:
            if not stop_triggered(order, price):
                return None
            if kind == Order.Stop:
                return size, price, False
            order._bc_marketable = None
            reference = price  # the stop-limit becomes a limit on its trigger trade
        elif kind == Order.Stop:
            return size, price, False
    limit = limit_price(order)
    if _marketable(order, reference):
        order._bc_marketable = False  # marketable only on its first match
        if _better_or_equal(buy, price, limit):
            return size, price, False
    return passive_fill(order, price, volume, touch, cap_by_volume)


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
    """Fill of an active order taking ``levels`` (the opposite side, best first), or None.

    Market orders (and triggered stops) take any level; limits only levels at or better
    than their limit. Without ``partial``, the order waits until the book holds its size.
    """
    buy = order.isbuy()
    if order.exectype in (Order.Limit, Order.StopLimit):
        limit = limit_price(order)
        levels = takewhile(lambda level: _better_or_equal(buy, level.price, limit), levels)
    remaining = abs(order.executed.remsize)
    filled, price = walk(levels, remaining)
    if not filled or (filled < remaining and not partial):
        return None
    return filled, price, False


def first_trigger(order: Order, prices: np.ndarray, touch: bool) -> int | None:
    """Index of the first trade in ``prices`` that could fill an active order (None: none).

    The vectorised twin of ``trade_fill``'s conditions, so a backtest can skip the trades
    in between without looking at them one by one.
    """
    kind = order.exectype
    buy = order.isbuy()
    if kind == Order.Market or (kind == Order.Stop and order.triggered):
        return 0
    if kind in (Order.Stop, Order.StopLimit) and not order.triggered:
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
