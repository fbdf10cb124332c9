"""An L2 order book kept from snapshots and deltas.

Each side keeps the sort keys of its levels in a list, ascending from the best level (the
ask prices; the bid prices negated), and their sizes in a dict: a level update is a dict
write, plus a ``bisect`` insert or delete when a level appears or disappears; no object
is made per level. ``Level`` tuples are made when read and kept for the best levels until
an update writes at or above them, so reading the top again after an update far from it
makes nothing new: the best level is an index and ``depth(n)`` a slice.

Updates come as ``Updates``: a window of updates whose levels are grouped bids first,
then asks, within each update (the order within a side is kept: it is all that matters),
with each update's highest bid and lowest ask of size > 0 worked out once (with numpy,
for a file), so most deltas are known at a glance not to cross the book.

A channel fed by a long book file keeps the compiled book instead (``compiled_book``, the
``fast`` extra, with the same API and results): see ``orderbook.fastest_book``.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from operator import neg
from typing import Any, ClassVar, NamedTuple

import numpy as np

from ..events import Level

__all__ = ["BookError", "OrderBook", "Updates", "head_length", "level_columns", "packed_columns"]


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


Column = Any  # a list; a numpy array in ``Updates`` made with ``lists=False``


class Updates(NamedTuple):
    """Book updates ready to apply: update ``k`` has its bids at ``offsets[k]:splits[k]`` and
    its asks at ``splits[k]:offsets[k + 1]`` of ``keys`` (price, negated for a bid) and
    ``sizes``; ``high_bid[k]``/``low_ask[k]`` are its highest bid and lowest ask of size > 0
    (-inf/inf when none); ``packed``: the same as the compiled book's arrays, when made."""

    seconds: list
    is_snapshot: list
    offsets: Column
    splits: Column
    keys: Column
    sizes: Column
    high_bid: Column
    low_ask: Column
    ids: list | None = None
    packed: tuple | None = None

    @classmethod
    def one(cls, timestamp: float, is_snapshot: bool, sides: Sequence[int], prices: Sequence[float],
            sizes: Sequence[float], update_id: int | None = None) -> Updates:
        """One update given as columns (side 0 = bid, 1 = ask)."""
        bids = [(-price, size) for side, price, size in zip(sides, prices, sizes) if not side]
        asks = [(price, size) for side, price, size in zip(sides, prices, sizes) if side]
        high_bid = max((-key for key, size in bids if size > 0.0), default=-math.inf)
        low_ask = min((key for key, size in asks if size > 0.0), default=math.inf)
        levels = bids + asks
        return cls([timestamp], [is_snapshot], [0, len(levels)], [len(bids)], [key for key, _ in levels],
                   [size for _, size in levels], [high_bid], [low_ask], [update_id])

    @classmethod
    def of_columns(cls, seconds: np.ndarray, is_snapshot: np.ndarray, offsets: np.ndarray, side: np.ndarray,
                   price: np.ndarray, size: np.ndarray, ids: list | None = None, lists: bool = True) -> Updates:
        """A window of updates given as numpy columns (a ``BookChunk``'s, timestamps in seconds).

        With ``lists=False`` only ``seconds``, ``is_snapshot`` and ``ids`` are made lists, the
        other columns staying numpy arrays, and ``packed`` is made: what the compiled book
        reads. With lists (the Python book's) ``packed`` is left to whoever needs it.
        """
        n = len(seconds)
        counts = np.diff(offsets)
        update = np.repeat(np.arange(n), counts)
        is_ask = side.astype(bool)
        order = np.argsort(update * 2 + is_ask, kind="stable")  # bids then asks within each update
        price, size, is_ask = price[order], size[order], is_ask[order]
        splits = offsets[:-1] + np.bincount(update[~is_ask], minlength=n)
        live = size > 0.0
        high_bid = _per_update(np.fmax, np.where(live & ~is_ask, price, -np.inf), offsets, counts, -np.inf)
        low_ask = _per_update(np.fmin, np.where(live & is_ask, price, np.inf), offsets, counts, np.inf)
        keys = np.where(is_ask, price, -price)
        if lists:
            return cls(seconds.tolist(), is_snapshot.tolist(), offsets.tolist(), splits.tolist(), keys.tolist(),
                       size.tolist(), high_bid.tolist(), low_ask.tolist(), ids)
        return cls(seconds.tolist(), is_snapshot.tolist(), offsets, splits, keys, size, high_bid, low_ask, ids,
                   packed_columns(offsets, splits, is_snapshot, high_bid, low_ask, keys, size))


def packed_columns(offsets: Any, splits: Any, is_snapshot: Any, high_bid: Any, low_ask: Any, keys: Any,
                   sizes: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``Updates.packed``: per update (first level, split, end, is_snapshot) as integers and
    (highest bid, lowest ask) as floats; the levels' (keys, sizes). Takes lists or arrays."""
    offsets = np.asarray(offsets, dtype=np.int64)
    bounds = np.column_stack([offsets[:-1], np.asarray(splits, dtype=np.int64), offsets[1:],
                              np.asarray(is_snapshot, dtype=np.int64)])
    limits = np.column_stack([np.asarray(high_bid, dtype=np.float64), np.asarray(low_ask, dtype=np.float64)])
    return bounds, limits, np.array([keys, sizes], dtype=np.float64).reshape(2, -1)


def head_length(count: int, n: int | None) -> int:
    """How many of ``count`` levels ``levels[:n]`` holds (all when ``n`` is None)."""
    return count if n is None or n >= count else n if n >= 0 else max(count + n, 0)


def _per_update(ufunc: np.ufunc, values: np.ndarray, offsets: np.ndarray, counts: np.ndarray,
                empty: float) -> np.ndarray:
    """``ufunc`` reduced over each update's levels (``empty`` for an update without levels)."""
    out = np.full(len(counts), empty)
    has = counts > 0
    if has.any():
        out[has] = ufunc.reduceat(values, offsets[:-1][has])
    return out


class _Side:
    """One side: ``keys`` ascending from the best level (prices, negated for bids), their
    ``sizes`` by key, and ``top``: the Level tuples of the first ``len(top)`` levels, made
    when read and kept until an update writes at or before them."""

    __slots__ = ("keys", "sizes", "top", "negated")

    def __init__(self, negated: bool) -> None:
        self.keys: list[float] = []
        self.sizes: dict[float, float] = {}
        self.top: list[Level] = []
        self.negated = negated

    def clear(self) -> None:
        self.keys.clear()
        self.sizes.clear()
        self.top.clear()

    def replace(self, keys: Sequence[float], sizes: Sequence[float]) -> None:
        """Become these levels (a snapshot's side: the last write of a price wins, size 0 drops it)."""
        last = dict(zip(keys, sizes))
        self.keys[:] = sorted(key for key, size in last.items() if size > 0.0)
        self.sizes = {key: last[key] for key in self.keys}
        self.top.clear()

    def write(self, new_keys: Sequence[float], new_sizes: Sequence[float]) -> None:
        """Set levels in order (size 0 removes a level), one by one."""
        keys, sizes = self.keys, self.sizes
        lowest = math.inf
        for key, size in zip(new_keys, new_sizes):
            if key < lowest:
                lowest = key
            if size > 0.0:
                if key not in sizes:
                    insort(keys, key)
                sizes[key] = size
            elif key in sizes:
                del sizes[key]
                del keys[bisect_left(keys, key)]
        if self.top:
            del self.top[bisect_left(keys, lowest):]

    def levels(self, n: int | None = None) -> list[Level]:
        """The best ``n`` levels (all when None), best first, as Level tuples."""
        top = self.top
        if n is not None and 0 <= n <= len(top):
            return top[:n]  # already made
        keys = self.keys
        count = len(keys)
        want = head_length(count, n)
        have = len(top)
        if have < want:
            new_keys = keys[have:want]
            prices = map(neg, new_keys) if self.negated else new_keys
            sizes = map(self.sizes.__getitem__, new_keys)
            top += map(_new_tuple, repeat(Level), zip(prices, sizes))  # no Python call per Level
        return top[:want]

    def best_price(self) -> float:
        keys = self.keys
        if not keys:
            return math.nan
        return -keys[0] if self.negated else keys[0]

    def walk(self) -> Iterator[Level]:
        """Levels best first, made as the walk goes."""
        i = 0
        while i < len(self.keys):
            yield self.top[i] if i < len(self.top) else self.levels(i + 1)[i]
            i += 1


class OrderBook:
    """Current state of one symbol's book: best levels, mid, spread and depth."""

    reads_lists: ClassVar[bool] = True  # reads ``Updates`` as lists (see ``Updates.of_columns``)

    __slots__ = ("_bids", "_asks", "timestamp", "update_id", "has_snapshot", "symbol")

    def __init__(self, symbol: str | None = None) -> None:
        self._bids = _Side(negated=True)
        self._asks = _Side(negated=False)
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
        self.apply_update(Updates.one(timestamp, is_snapshot, sides, prices, sizes, update_id), 0)

    def apply_update(self, updates: Updates, k: int) -> None:
        """Apply update ``k`` of ``updates`` (the hot path); refusals as ``apply_levels``."""
        lo, split, hi = updates.offsets[k], updates.splits[k], updates.offsets[k + 1]
        keys, sizes = updates.keys, updates.sizes
        high_bid, low_ask = updates.high_bid[k], updates.low_ask[k]
        bids, asks = self._bids, self._asks
        if updates.is_snapshot[k]:
            if high_bid >= low_ask:
                raise BookError("crossed", f"order-book snapshot is crossed (bid {high_bid} >= ask {low_ask})")
            bids.replace(keys[lo:split], sizes[lo:split])
            asks.replace(keys[split:hi], sizes[split:hi])
            self.has_snapshot = True
        elif not self.has_snapshot:
            raise BookError("delta_before_snapshot", "order-book delta before any snapshot")
        else:
            bid_keys, ask_keys = bids.keys, asks.keys
            if bid_keys and -bid_keys[0] > high_bid:
                high_bid = -bid_keys[0]
            if ask_keys and ask_keys[0] < low_ask:
                low_ask = ask_keys[0]
            if high_bid >= low_ask:  # it could cross the book (most deltas cannot)
                self._write_or_refuse(keys[lo:split], sizes[lo:split], keys[split:hi], sizes[split:hi])
            else:
                bids.write(keys[lo:split], sizes[lo:split])
                asks.write(keys[split:hi], sizes[split:hi])
        self.timestamp = updates.seconds[k]
        self.update_id = None if updates.ids is None else updates.ids[k]

    def _write_or_refuse(self, bid_keys: list, bid_sizes: list, ask_keys: list, ask_sizes: list) -> None:
        """A delta that may cross the book: applied, then taken back if the book is crossed."""
        bids, asks = self._bids, self._asks
        kept = (bids.keys[:], dict(bids.sizes), asks.keys[:], dict(asks.sizes))
        bids.write(bid_keys, bid_sizes)
        asks.write(ask_keys, ask_sizes)
        if self.is_crossed:
            bid, ask = bids.best_price(), asks.best_price()
            bids.keys[:], bids.sizes, asks.keys[:], asks.sizes = kept
            bids.top.clear()
            asks.top.clear()
            raise BookError("crossed", f"order-book delta would cross the book (bid {bid} >= ask {ask})")

    # -- reading -------------------------------------------------------------------------
    @property
    def is_crossed(self) -> bool:
        bid, ask = self._bids.best_price(), self._asks.best_price()
        return bid >= ask  # False when either side is empty (nan compares False)

    @property
    def best_bid(self) -> Level | None:
        top = self._bids.top
        return top[0] if top else self._bids.levels(1)[0] if self._bids.keys else None

    @property
    def best_ask(self) -> Level | None:
        top = self._asks.top
        return top[0] if top else self._asks.levels(1)[0] if self._asks.keys else None

    def top(self) -> tuple[float, float, float, float]:
        """Best bid, its size, best ask, its size (nan and 0 for an empty side)."""
        bids, asks = self._bids.keys, self._asks.keys
        bid, bid_size = (-bids[0], self._bids.sizes[bids[0]]) if bids else (math.nan, 0.0)
        ask, ask_size = (asks[0], self._asks.sizes[asks[0]]) if asks else (math.nan, 0.0)
        return bid, bid_size, ask, ask_size

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

    def depth(self, n: int | None = 10) -> tuple[list[Level], list[Level]]:
        """The best ``n`` levels of each side, best first: ``(bids, asks)``."""
        return self._bids.levels(n), self._asks.levels(n)

    def liquidity(self, buy: bool) -> Iterator[Level]:
        """Levels a buy (the asks) or a sell (the bids) would take, best first, lazily."""
        return (self._asks if buy else self._bids).walk()

    def __len__(self) -> int:
        return len(self._bids.keys) + len(self._asks.keys)

    def __repr__(self) -> str:
        return f"OrderBook({self.symbol!r}, bid={self.best_bid}, ask={self.best_ask})"
