"""Order-book updates made ready to apply: ``Updates``.

An update's levels are reduced to its net writes (the last write of each price of a side:
all that a sequence of writes leaves behind) and grouped per side. Keys are the prices,
negated for bids, so both sides of the book ascend from the best level.

For a window of a file, numpy also works out, from the book's state when the window
starts, what each net write of a delta will do: replace a level's size, insert a new
level, delete one, or nothing (removing an absent level). Applying a delta is then one
``dict.update`` and a Python step per level that appears or disappears. The plan holds as
long as the book changes only through these updates in order. The book's ``revision``
names its state: a plan names the state it expects before each update and the one it
leaves after; any other change (another update, ``clear()``, a delta refused for crossing
the book) gives the book a revision no plan has seen, and ``OrderBook.apply_update`` then
writes the levels one by one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import count, islice
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from .book import OrderBook

__all__ = ["CLASSES", "Updates", "new_revision"]

CLASSES = 4  # per side: replace, insert, delete, nothing; in this order within each side
_REPLACE, _INSERT, _DELETE, _NOTHING = range(CLASSES)
_REVISIONS = count(1)  # never repeats: a revision names one state of one book


def new_revision() -> int:
    """A revision no book or plan has had."""
    return next(_REVISIONS)


class Updates(NamedTuple):
    """Book updates ready to apply.

    Update ``k``'s net writes are ``keys``/``sizes`` at ``bounds[k] = (lo, bid_insert,
    bid_delete, bid_nothing, split, ask_insert, ask_delete, ask_nothing, hi)``: bids in
    ``lo:split``, asks in ``split:hi``, each side by class. ``high_bid[k]``/``low_ask[k]``
    are the highest bid and lowest ask of size > 0 among all its levels (-inf/inf when none;
    a snapshot with them crossed is refused). The classes, and ``bid_min``/``ask_min`` (the
    lowest key a class writes, inf when none), hold when ``book.revision`` is ``expect[k]``;
    ``after[k]`` is its revision after update ``k``. Without a ``book`` there is no plan.
    """

    seconds: list
    is_snapshot: list
    bounds: list
    keys: list
    sizes: list
    high_bid: list
    low_ask: list
    ids: list | None = None
    book: OrderBook | None = None
    expect: list | None = None
    after: list | None = None
    bid_min: list | None = None
    ask_min: list | None = None

    @classmethod
    def one(cls, timestamp: float, is_snapshot: bool, sides: Sequence[int], prices: Sequence[float],
            sizes: Sequence[float], update_id: int | None = None) -> Updates:
        """One update given as columns (side 0 = bid, 1 = ask), without a plan."""
        bids = {-price: size for side, price, size in zip(sides, prices, sizes) if not side}
        asks = {price: size for side, price, size in zip(sides, prices, sizes) if side}
        high_bid = max((p for s, p, z in zip(sides, prices, sizes) if not s and z > 0.0), default=-math.inf)
        low_ask = min((p for s, p, z in zip(sides, prices, sizes) if s and z > 0.0), default=math.inf)
        split, hi = len(bids), len(bids) + len(asks)
        return cls([timestamp], [is_snapshot], [(0, split, split, split, split, hi, hi, hi, hi)],
                   [*bids, *asks], [*bids.values(), *asks.values()], [high_bid], [low_ask], [update_id])

    @classmethod
    def of_columns(cls, seconds: np.ndarray, is_snapshot: np.ndarray, offsets: np.ndarray, side: np.ndarray,
                   price: np.ndarray, size: np.ndarray, ids: list | None = None,
                   book: OrderBook | None = None) -> Updates:
        """A window of updates given as numpy columns (a ``BookChunk``'s, timestamps in
        seconds), planned for ``book`` in its present state when given."""
        n = len(seconds)
        counts = np.diff(offsets)
        update = np.repeat(np.arange(n), counts)
        is_ask = side.astype(bool)
        live = size > 0.0
        high_bid = _reduce(np.fmax, np.where(live & ~is_ask, price, -np.inf), offsets[:-1], counts, -np.inf)
        low_ask = _reduce(np.fmin, np.where(live & is_ask, price, np.inf), offsets[:-1], counts, np.inf)
        key = np.where(is_ask, price, -price)
        # net writes: the last write of each (update, side, key), ordered by (update, side, key)
        order = np.lexsort((np.arange(len(key)), key, is_ask, update))
        u, a, k = update[order], is_ask[order], key[order]
        last = np.ones(len(order), dtype=bool)
        last[:-1] = (u[1:] != u[:-1]) | (a[1:] != a[:-1]) | (k[1:] != k[:-1])
        net = order[last]
        u, a, k, z = update[net], is_ask[net], key[net], size[net]
        is_snapshot = np.asarray(is_snapshot, dtype=bool)
        plan: dict[str, Any] = {}
        if book is None:
            classes = np.where(z > 0.0, _REPLACE, _NOTHING)
        else:
            classes, plan = _plan(book, u, a, k, z, is_snapshot, high_bid < low_ask)
        order = np.lexsort((classes, a, u))  # stable: the keys stay ascending within a class
        u, a, k, z, classes = u[order], a[order], k[order], z[order], classes[order]
        segment = u * (2 * CLASSES) + a * CLASSES + classes
        starts = np.concatenate([[0], np.cumsum(np.bincount(segment, minlength=2 * CLASSES * n))])
        bounds = starts[(2 * CLASSES) * np.arange(n)[:, None] + np.arange(2 * CLASSES + 1)]
        if book is not None:  # the lowest key each side writes: Level tuples before it stay
            written = np.where(classes == _NOTHING, np.inf, k)
            sides = bounds[:, [0, CLASSES, 2 * CLASSES]]
            lowest = _reduce(np.fmin, written, sides[:, :2].ravel(), np.diff(sides, axis=1).ravel(), np.inf)
            plan["bid_min"], plan["ask_min"] = lowest.reshape(n, 2).T.tolist()
        return cls(seconds.tolist(), is_snapshot.tolist(), bounds.tolist(), k.tolist(), z.tolist(),
                   high_bid.tolist(), low_ask.tolist(), ids, book, **plan)


def _plan(book: OrderBook, u: np.ndarray, a: np.ndarray, k: np.ndarray, z: np.ndarray, is_snapshot: np.ndarray,
          uncrossed: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
    """What each net write will do to ``book`` (as it is now), if the updates apply in order.

    Updates refused whatever the book holds (a crossed snapshot, a delta before any
    snapshot) are left out; a delta refused for crossing the book is not foreseen: it
    breaks the plan, which ``apply_update`` notices.
    """
    n = len(is_snapshot)
    snapshot = is_snapshot & uncrossed
    seen = np.logical_or.accumulate(snapshot) | book.has_snapshot  # a snapshot applied, up to update i
    applied = snapshot | (~is_snapshot & seen)
    last_snapshot = np.maximum.accumulate(np.where(snapshot, np.arange(n), -1))
    before = np.concatenate([[-1], last_snapshot[:-1]])[u]  # the last snapshot before each write's update
    # the previous applied net write of the same (side, key), if any
    order = np.lexsort((u, k, a))
    ou, oa, ok = u[order], a[order], k[order]
    same = np.zeros(len(order), dtype=bool)
    same[1:] = (oa[1:] == oa[:-1]) & (ok[1:] == ok[:-1])
    kept = applied[ou]
    index = np.where(kept, np.arange(len(order)), -1)
    group_start = np.maximum.accumulate(np.where(same, -1, np.arange(len(order))))
    previous = np.concatenate([[-1], np.maximum.accumulate(index)[:-1]])
    previous = np.where(same & (previous >= group_start), previous, -1)
    prev_u = np.full(len(order), -1)
    prev_live = np.zeros(len(order), dtype=bool)
    has = previous >= 0
    prev_u[order[has]] = ou[previous[has]]
    prev_live[order[has]] = z[order][previous[has]] > 0.0
    at_start = np.where(a, np.isin(k, book._asks.keys), np.isin(k, book._bids.keys))
    present = np.where((prev_u >= 0) & (prev_u >= before), prev_live, (before < 0) & at_start)
    positive = z > 0.0
    classes = np.where(positive, np.where(present, _REPLACE, _INSERT), np.where(present, _DELETE, _NOTHING))
    classes = np.where(is_snapshot[u], np.where(positive, _REPLACE, _NOTHING), classes)
    revisions = [book.revision, *islice(_REVISIONS, int(applied.sum()))]  # before the first, after each applied
    done = np.cumsum(applied)  # updates applied up to and with each
    return classes, {"expect": [revisions[i] for i in (done - applied).tolist()],
                     "after": [revisions[i] for i in done.tolist()]}


def _reduce(ufunc: np.ufunc, values: np.ndarray, starts: np.ndarray, counts: np.ndarray,
            empty: float) -> np.ndarray:
    """``ufunc`` reduced over each segment ``starts[i]:starts[i] + counts[i]`` (``empty`` if none)."""
    out = np.full(len(counts), empty)
    has = counts > 0
    if has.any():
        out[has] = ufunc.reduceat(values, starts[has])
    return out
