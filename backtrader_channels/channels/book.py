"""An L2 order book kept from snapshots and deltas.

Each side keeps its prices in one sorted list and its sizes in a dict: a level update is
a dict write (plus a bisect insert or delete when a level appears or disappears), the
best level is an index, and ``depth(n)`` is a slice.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat

from ..events import Level

__all__ = ["BookError", "OrderBook", "level_columns"]


_new_tuple = tuple.__new__


def level_columns(bids: Iterable[Sequence[float]], asks: Iterable[Sequence[float]]) -> tuple[list, list, list]:
    """(price, size) levels of each side as the columns ``apply_levels`` takes."""
    bids, asks = list(bids), list(asks)
    levels = bids + asks
    return [0] * len(bids) + [1] * len(asks), [level[0] for level in levels], [level[1] for level in levels]


class BookError(ValueError):
    """An update the book refuses: a delta before any snapshot, or one that crosses the book."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class _Side:
    __slots__ = ("prices", "sizes", "descending")

    def __init__(self, descending: bool) -> None:
        self.prices: list[float] = []  # ascending
        self.sizes: dict[float, float] = {}
        self.descending = descending

    def set(self, price: float, size: float) -> float:
        """Set one level (size 0 removes it); returns the previous size (0 if absent)."""
        sizes = self.sizes
        old = sizes.get(price, 0.0)
        if size > 0.0:
            if not old:
                insort(self.prices, price)
            sizes[price] = size
        elif old:
            del sizes[price]
            prices = self.prices
            del prices[bisect_left(prices, price)]
        return old

    def clear(self) -> None:
        self.prices.clear()
        self.sizes.clear()

    def best(self) -> Level | None:
        if not self.prices:
            return None
        price = self.prices[-1] if self.descending else self.prices[0]
        return Level(price, self.sizes[price])

    def best_price(self) -> float:
        prices = self.prices
        if not prices:
            return math.nan
        return prices[-1] if self.descending else prices[0]

    def top_prices(self, n: int | None) -> list[float]:
        """Prices best first, at most ``n`` (all when None)."""
        prices = self.prices
        if self.descending:
            chosen = prices[::-1] if n is None else prices[: -n - 1 : -1]
        else:
            chosen = prices[:] if n is None else prices[:n]
        return chosen

    def levels(self, n: int | None = None) -> list[Level]:
        prices = self.top_prices(n)
        pairs = zip(prices, map(self.sizes.__getitem__, prices))
        return list(map(_new_tuple, repeat(Level), pairs))  # Level(price, size) without a Python call


def _best_of(sides: Sequence[int], prices: Sequence[float], sizes: Sequence[float],
             high_bid: float, low_ask: float) -> tuple[float, float]:
    """The highest bid and lowest ask among levels of size > 0, starting from the given ones."""
    for side, price, size in zip(sides, prices, sizes):
        if size > 0.0:
            if side:
                if price < low_ask:
                    low_ask = price
            elif price > high_bid:
                high_bid = price
    return high_bid, low_ask


class OrderBook:
    """Current state of one symbol's book: best levels, mid, spread and depth."""

    __slots__ = ("_bids", "_asks", "timestamp", "update_id", "has_snapshot", "symbol")

    def __init__(self, symbol: str | None = None) -> None:
        self._bids = _Side(descending=True)
        self._asks = _Side(descending=False)
        self.symbol = symbol
        self.clear()

    def clear(self) -> None:
        """Empty the book (as before any snapshot)."""
        self._bids.clear()
        self._asks.clear()
        self.timestamp = math.nan
        self.update_id: int | None = None
        self.has_snapshot = False

    # -- updates -------------------------------------------------------------------------
    def apply(
        self,
        timestamp: float,
        is_snapshot: bool,
        bids: Iterable[Sequence[float]],
        asks: Iterable[Sequence[float]],
        update_id: int | None = None,
    ) -> None:
        """Apply a snapshot or delta given as (price, size) levels; see ``apply_levels``."""
        self.apply_levels(timestamp, is_snapshot, *level_columns(bids, asks), update_id)

    def apply_levels(
        self,
        timestamp: float,
        is_snapshot: bool,
        sides: Sequence[int],
        prices: Sequence[float],
        sizes: Sequence[float],
        update_id: int | None = None,
    ) -> None:
        """Apply an update given as columns (side 0 = bid, 1 = ask; size 0 removes a level).

        Raises ``BookError``, leaving the book unchanged, for a crossed snapshot, a delta
        before any snapshot or one that would cross the book.
        """
        by_side = (self._bids, self._asks)
        if is_snapshot:
            bid, ask = _best_of(sides, prices, sizes, -math.inf, math.inf)
            if bid >= ask:
                raise BookError("crossed", f"order-book snapshot is crossed (bid {bid} >= ask {ask})")
            self._bids.clear()
            self._asks.clear()
            for side, price, size in zip(sides, prices, sizes):
                by_side[side].set(price, size)
            self.has_snapshot = True
        elif not self.has_snapshot:
            raise BookError("delta_before_snapshot", "order-book delta before any snapshot")
        elif self._may_cross(sides, prices, sizes):
            undo = [(by_side[side], price, by_side[side].set(price, size)) for side, price, size in zip(sides, prices, sizes)]
            if self.is_crossed:
                bid, ask = self._bids.best_price(), self._asks.best_price()
                for book_side, price, old in reversed(undo):
                    book_side.set(price, old)
                raise BookError("crossed", f"order-book delta would cross the book (bid {bid} >= ask {ask})")
        else:
            for side, price, size in zip(sides, prices, sizes):
                by_side[side].set(price, size)
        self.timestamp = timestamp
        self.update_id = update_id

    def _may_cross(self, sides: Sequence[int], prices: Sequence[float], sizes: Sequence[float]) -> bool:
        """Whether a delta could leave the book crossed: its highest bid (or the current best)
        reaches its lowest ask (or the current best). Most deltas cannot, and skip the undo log."""
        high_bid = self._bids.prices[-1] if self._bids.prices else -math.inf
        low_ask = self._asks.prices[0] if self._asks.prices else math.inf
        high_bid, low_ask = _best_of(sides, prices, sizes, high_bid, low_ask)
        return high_bid >= low_ask

    # -- reading -------------------------------------------------------------------------
    @property
    def is_crossed(self) -> bool:
        bid, ask = self._bids.best_price(), self._asks.best_price()
        return bid >= ask  # False when either side is empty (nan compares False)

    @property
    def best_bid(self) -> Level | None:
        return self._bids.best()

    @property
    def best_ask(self) -> Level | None:
        return self._asks.best()

    @property
    def mid_price(self) -> float:
        return (self._bids.best_price() + self._asks.best_price()) / 2.0

    @property
    def spread(self) -> float:
        return self._asks.best_price() - self._bids.best_price()

    @property
    def bids(self) -> list[Level]:
        """All bid levels, best (highest) first."""
        return self._bids.levels()

    @property
    def asks(self) -> list[Level]:
        """All ask levels, best (lowest) first."""
        return self._asks.levels()

    def depth(self, n: int = 10) -> tuple[list[Level], list[Level]]:
        """The best ``n`` levels of each side, best first: ``(bids, asks)``."""
        return self._bids.levels(n), self._asks.levels(n)

    def liquidity(self, buy: bool) -> Iterator[Level]:
        """Levels a buy (the asks) or a sell (the bids) would take, best first, lazily."""
        side = self._asks if buy else self._bids
        sizes = side.sizes
        prices = side.prices
        for price in (prices if buy else reversed(prices)):
            yield Level(price, sizes[price])

    def __len__(self) -> int:
        return len(self._bids.prices) + len(self._asks.prices)

    def __repr__(self) -> str:
        return f"OrderBook({self.symbol!r}, bid={self.best_bid}, ask={self.best_ask})"
