"""The order book with its level writes compiled by numba (the ``fast`` extra).

Each side is a row of sort keys (ask prices, negated bid prices) kept in descending order,
so the best level is the last one and a level appearing or disappearing near the top moves
few others, and a row of their sizes. One kernel call applies a run of updates (up to a
whole window) and records, after each one, its outcome, the level counts, the best levels
(``heads``), the best ``depth`` levels of each side (``tops``) and the update's changes among
those (``changes``, which the kept ``Level`` tuples follow): a strategy that reads the book
at update ``k`` reads those records, not the arrays, which are already at the end of the
run. A read that needs more than the recorded levels (``bids``, ``depth(None)``, a walk
past them) first brings the arrays back to update ``k`` (a copy kept at the run's start,
replayed up to ``k``), and the next runs start short and double, so a strategy that reads
the whole book on every update costs one kernel call per update.

Results equal ``book.OrderBook``'s exactly (tests/channels/test_book_property.py holds both
to the same plain reference), refusals included.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from typing import Any, ClassVar

import numpy as np
from numba import njit

from ..events import Level
from .book import BookError, Updates, head_length, level_columns, packed_columns

__all__ = ["CompiledOrderBook", "pack"]

_new_tuple = tuple.__new__

# heads: one row per update
STATUS, BIDS, ASKS, BID, BID_SIZE, ASK, ASK_SIZE, WOULD_BID, WOULD_ASK = range(9)
HEAD = 9
APPLIED, DELTA_CROSSED, NO_SNAPSHOT, SNAPSHOT_CROSSED = range(4)
RESIZED, INSERTED, REMOVED, NOTHING = range(4)  # what a level write changed; NOTHING noted: a snapshot

LONGEST_RUN = 8192  # updates applied ahead at most (a window's block)
MOST_RECORDED = 64  # deeper depth(n) reads are served from the arrays


def pack(updates: Updates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A window's updates as the kernel's arrays (``Updates.packed``, made when missing)."""
    if updates.packed is not None:
        return updates.packed
    return packed_columns(updates.offsets, updates.splits, updates.is_snapshot, updates.high_bid, updates.low_ask,
                          updates.keys, updates.sizes)


@njit(cache=True)
def _write(state, counts, side, key, size):  # pragma: no cover - compiled
    """Set one level (size 0 removes it); keys descending, so the best level is the last.
    Returns ``place * 4 + change``: the level's place from the best (0 = best) and what
    changed there (``RESIZED``, ``INSERTED``, ``REMOVED`` or ``NOTHING``)."""
    keys, sizes = state[2 * side], state[2 * side + 1]
    n = counts[side]
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if keys[mid] > key:
            lo = mid + 1
        else:
            hi = mid
    if lo < n and keys[lo] == key:
        if size > 0.0:
            sizes[lo] = size
            return (n - 1 - lo) * 4 + RESIZED
        for i in range(lo, n - 1):
            keys[i] = keys[i + 1]
            sizes[i] = sizes[i + 1]
        counts[side] = n - 1
        return (n - 1 - lo) * 4 + REMOVED
    if size > 0.0:
        for i in range(n, lo, -1):
            keys[i] = keys[i - 1]
            sizes[i] = sizes[i - 1]
        keys[lo] = key
        sizes[lo] = size
        counts[side] = n + 1
        return (n - lo) * 4 + INSERTED
    return NOTHING


@njit(cache=True)
def _write_update(state, counts, levels, lo, split, hi, changes, changed, done, depth):  # pragma: no cover
    """Write an update's levels in order, noting in ``changes`` (``done`` so far) those among
    the best ``depth`` of a side as ``place * 8 + side * 4 + change``, with the level's
    price and size in ``changed``; returns the changes noted."""
    for i in range(lo, hi):
        side = 0 if i < split else 1
        written = _write(state, counts, side, levels[0, i], levels[1, i])
        if written != NOTHING and written // 4 < depth:
            changes[done] = (written // 4) * 8 + side * 4 + written % 4
            changed[2 * done] = -levels[0, i] if side == 0 else levels[0, i]
            changed[2 * done + 1] = levels[1, i]
            done += 1
    return done


@njit(cache=True)
def _replace(state, counts, side, levels, lo, hi):  # pragma: no cover - compiled
    """Become a snapshot side's levels: the last write of a price wins, size 0 drops it."""
    keys, sizes = levels[0, lo:hi], levels[1, lo:hi]
    order = np.argsort(-keys, kind="mergesort")  # descending; a price's writes stay in order
    n = 0
    for j in range(hi - lo):
        i = order[j]
        if j + 1 < hi - lo and keys[order[j + 1]] == keys[i]:
            continue  # written again later
        if sizes[i] > 0.0:
            state[2 * side, n] = keys[i]
            state[2 * side + 1, n] = sizes[i]
            n += 1
    counts[side] = n


@njit(cache=True)
def _crossed(state, counts):  # pragma: no cover - compiled
    nb, na = counts[0], counts[1]
    return nb > 0 and na > 0 and -state[0, nb - 1] >= state[2, na - 1]


@njit(cache=True)
def apply_run(state, counts, bounds, limits, levels, heads, tops, changes, changed, ends, start, stop,
              first):  # pragma: no cover - compiled
    """Apply updates ``start:stop``, recording update ``k`` in row ``k - first`` of ``heads``
    and ``tops``, and its changes to the recorded levels at ``ends[k - first]:ends[k - first + 1]``
    of ``changes``/``changed``; returns the update reached: ``stop``, or one the arrays have
    no room for."""
    room = state.shape[1]
    depth = tops.shape[1] // 4
    done = ends[start - first]
    for k in range(start, stop):
        lo, split, hi, is_snapshot = bounds[k, 0], bounds[k, 1], bounds[k, 2], bounds[k, 3]
        if max(counts[0], counts[1]) + hi - lo > room:
            return k
        row = k - first
        heads[row, STATUS] = APPLIED
        if is_snapshot:
            if limits[k, 0] >= limits[k, 1]:
                heads[row, STATUS] = SNAPSHOT_CROSSED
            else:
                _replace(state, counts, 0, levels, lo, split)
                _replace(state, counts, 1, levels, split, hi)
                counts[2] = 1
                changes[done] = NOTHING  # everything changed
                done += 1
        elif counts[2] == 0:
            heads[row, STATUS] = NO_SNAPSHOT
        else:
            high_bid, low_ask = limits[k, 0], limits[k, 1]
            if counts[0] > 0 and -state[0, counts[0] - 1] > high_bid:
                high_bid = -state[0, counts[0] - 1]
            if counts[1] > 0 and state[2, counts[1] - 1] < low_ask:
                low_ask = state[2, counts[1] - 1]
            if high_bid >= low_ask:  # it could cross the book (most deltas cannot): keep a copy
                used = max(counts[0], counts[1])
                kept, kept_counts = state[:, :used].copy(), counts.copy()
                noted = _write_update(state, counts, levels, lo, split, hi, changes, changed, done, depth)
                if _crossed(state, counts):
                    heads[row, STATUS] = DELTA_CROSSED
                    heads[row, WOULD_BID] = -state[0, counts[0] - 1]
                    heads[row, WOULD_ASK] = state[2, counts[1] - 1]
                    state[:, :used] = kept
                    counts[:] = kept_counts
                else:
                    done = noted
            else:
                done = _write_update(state, counts, levels, lo, split, hi, changes, changed, done, depth)
        ends[row + 1] = done
        for side in range(2):
            n = counts[side]
            sign = -1.0 if side == 0 else 1.0
            heads[row, BIDS + side] = n
            heads[row, BID + 2 * side] = sign * state[2 * side, n - 1] if n else np.nan
            heads[row, BID_SIZE + 2 * side] = state[2 * side + 1, n - 1] if n else 0.0
            for i in range(min(n, depth)):
                tops[row, 2 * side * depth + i] = sign * state[2 * side, n - 1 - i]
                tops[row, (2 * side + 1) * depth + i] = state[2 * side + 1, n - 1 - i]
    return stop


def _records(rows: int, depth: int, levels: int) -> tuple[np.ndarray, ...]:
    """Room for what ``apply_run`` records of ``rows`` updates of ``levels`` levels in all."""
    ends = np.zeros(rows + 1, dtype=np.int64)
    return (np.empty((rows, HEAD)), np.empty((rows, 4 * depth)), np.empty(levels + rows, dtype=np.int64),
            np.empty(2 * (levels + rows)), ends)


class CompiledOrderBook:
    """Current state of one symbol's book: best levels, mid, spread and depth (compiled)."""

    reads_lists: ClassVar[bool] = False  # reads ``Updates.packed``

    __slots__ = ("symbol", "timestamp", "update_id", "has_snapshot", "_state", "_counts", "_run", "_packed",
                 "_first", "_stop", "_cursor", "_heads", "_tops", "_changes", "_changed", "_ends", "_head",
                 "_levels", "_base", "_depth", "_recorded", "_run_length")

    def __init__(self, symbol: str | None = None, *, recorded: int = 10) -> None:
        self.symbol = symbol
        self._state = np.empty((4, 8))  # doubled as needed
        self._counts = np.zeros(3, dtype=np.int64)  # bid levels, ask levels, has a snapshot
        self._depth = recorded  # levels of each side recorded per update in the next run
        self.clear()

    def clear(self) -> None:
        """Empty the book (as before any snapshot)."""
        self._counts[:] = 0
        self.timestamp = math.nan
        self.update_id: int | None = None
        self.has_snapshot = False
        self._run: Updates | None = None  # the window the arrays are running through
        self._packed: tuple | None = None
        self._first = self._stop = 0  # the run: updates first:stop (the arrays are at its end)
        self._cursor = -1  # the update the reader is at
        # the run's records, flat (memoryview slices are the cheapest reads of a few values)
        self._heads = self._tops = self._changed = np.empty(0).data
        self._changes = self._ends = np.empty(0, dtype=np.int64).data
        self._head: list[Any] = [APPLIED, 0, 0, math.nan, 0.0, math.nan, 0.0, math.nan, math.nan]
        self._levels: tuple[list[Level], list[Level]] = ([], [])  # the best levels as read, kept up to date
        self._base: tuple[np.ndarray, np.ndarray] | None = None  # the arrays at the run's start
        self._recorded = self._depth
        self._run_length = LONGEST_RUN

    # -- updates -------------------------------------------------------------------------
    def apply(self, timestamp: float, is_snapshot: bool, bids: Iterable[Sequence[float]],
              asks: Iterable[Sequence[float]], update_id: int | None = None) -> None:
        """Apply a snapshot or delta given as (price, size) levels; see ``apply_levels``."""
        self.apply_levels(timestamp, is_snapshot, *level_columns(bids, asks), update_id)

    def apply_levels(self, timestamp: float, is_snapshot: bool, sides: Sequence[int], prices: Sequence[float],
                     sizes: Sequence[float], update_id: int | None = None) -> None:
        """Apply an update given as columns (side 0 = bid, 1 = ask; size 0 removes a level).

        Raises ``BookError``, leaving the book unchanged, for a crossed snapshot, a delta
        before any snapshot or one that would cross the book.
        """
        self.apply_update(Updates.one(timestamp, is_snapshot, sides, prices, sizes, update_id), 0)

    def apply_update(self, updates: Updates, k: int) -> None:
        """Apply update ``k`` of ``updates`` (the hot path); refusals as ``apply_levels``."""
        if k != self._cursor + 1 or k >= self._stop or updates is not self._run:
            self._start_run(updates, k)
        self._cursor = k
        row = k - self._first
        head = self._head = self._heads[row * HEAD : row * HEAD + HEAD].tolist()
        bids, asks = self._levels
        if (bids or asks) and self._ends[row] < self._ends[row + 1]:
            self._follow(self._ends[row], self._ends[row + 1])
        if head[STATUS]:
            self._refuse(head, updates, k)
        if updates.is_snapshot[k]:
            self.has_snapshot = True
        self.timestamp = updates.seconds[k]
        self.update_id = None if updates.ids is None else updates.ids[k]

    def _follow(self, lo: int, hi: int) -> None:
        """Bring the kept Level tuples to this update: its changes ``lo:hi`` among the best levels."""
        changed = self._changed[2 * lo : 2 * hi].tolist()
        for i, change in enumerate(self._changes[lo:hi].tolist()):
            if change == NOTHING:  # a snapshot
                self._levels[0].clear()
                self._levels[1].clear()
                continue
            levels, place, kind = self._levels[change >> 2 & 1], change >> 3, change & 3
            if place >= len(levels):
                continue  # below the levels kept
            if kind == REMOVED:
                del levels[place]
            elif kind == RESIZED:
                levels[place] = _new_tuple(Level, (changed[2 * i], changed[2 * i + 1]))
            else:
                levels.insert(place, _new_tuple(Level, (changed[2 * i], changed[2 * i + 1])))
                del levels[self._recorded :]  # later changes note only the recorded levels

    def _refuse(self, head: list[Any], updates: Updates, k: int) -> None:
        status = head[STATUS]
        if status == SNAPSHOT_CROSSED:
            bid, ask = float(updates.high_bid[k]), float(updates.low_ask[k])
            raise BookError("crossed", f"order-book snapshot is crossed (bid {bid} >= ask {ask})")
        if status == NO_SNAPSHOT:
            raise BookError("delta_before_snapshot", "order-book delta before any snapshot")
        bid, ask = head[WOULD_BID], head[WOULD_ASK]
        raise BookError("crossed", f"order-book delta would cross the book (bid {bid} >= ask {ask})")

    def _start_run(self, updates: Updates, k: int) -> None:
        """Apply updates from ``k`` on (as many as the run length), recording each."""
        self._settle()
        packed = self._packed if updates is self._run and self._packed is not None else pack(updates)
        stop = min(len(updates.seconds), k + self._run_length)
        self._base = (self._state.copy(), self._counts.copy()) if stop - k > 1 else None
        bounds = packed[0]
        records = _records(stop - k, self._depth, int(bounds[stop - 1, 2] - bounds[k, 0]))
        self._apply(packed, records, k, stop)
        self._run, self._packed, self._first, self._stop, self._cursor = updates, packed, k, stop, k - 1
        self._heads, self._tops, self._changes, self._changed, self._ends = (r.ravel().data for r in records)
        self._recorded = self._depth
        self._run_length = min(2 * self._run_length, LONGEST_RUN)

    def _apply(self, packed: tuple, records: tuple, start: int, stop: int) -> None:
        first = start
        kernel: Any = apply_run  # numba's Dispatcher type takes no arguments
        while (start := kernel(self._state, self._counts, *packed, *records, start, stop, first)) < stop:
            grown = np.empty((4, 2 * self._state.shape[1]))
            grown[:, : self._state.shape[1]] = self._state
            self._state = grown

    def _settle(self) -> None:
        """Bring the arrays back to the reader's update (replayed from the run's start)."""
        if self._cursor == self._stop - 1:
            return  # already there
        assert self._base is not None and self._packed is not None  # runs of more than one update keep their start
        self._state, self._counts = self._base
        self._base = None
        rows = self._cursor + 1 - self._first
        self._apply(self._packed, _records(rows, 0, 0), self._first, self._cursor + 1)
        self._stop = self._cursor + 1
        self._run_length = 1  # deep reads: the next runs start short

    # -- reading -------------------------------------------------------------------------
    def _side(self, side: int, n: int | None) -> list[Level]:
        """The best ``n`` levels of a side (all when None), best first, as in ``list[:n]``."""
        levels = self._levels[side]
        if n is not None and 0 <= n <= len(levels):
            return levels[:n]  # already made
        count = int(self._head[BIDS + side])
        want = head_length(count, n)
        if want <= len(levels):
            return levels[:want]
        if want <= self._recorded:  # made from the update's recorded row
            depth, have, end = self._recorded, len(levels), min(count, self._recorded)
            at = (self._cursor - self._first) * 4 * depth + 2 * side * depth  # this side's prices, then sizes
            prices = self._tops[at + have : at + end].tolist()
            sizes = self._tops[at + depth + have : at + depth + end].tolist()
            levels += map(_new_tuple, repeat(Level), zip(prices, sizes))  # no Python call per Level
            return levels[:want]
        if n is not None and n > self._depth:
            self._depth = min(n, MOST_RECORDED)  # record this deep from the next run on
        self._settle()
        keys = self._state[2 * side, count - want : count][::-1]
        prices = (-keys if side == 0 else keys).tolist()
        sizes = self._state[2 * side + 1, count - want : count][::-1].tolist()
        return list(map(_new_tuple, repeat(Level), zip(prices, sizes)))

    @property
    def is_crossed(self) -> bool:
        return self._head[BID] >= self._head[ASK]  # False when either side is empty (nan compares False)

    @property
    def best_bid(self) -> Level | None:
        head = self._head
        return _new_tuple(Level, (head[BID], head[BID_SIZE])) if head[BIDS] else None

    @property
    def best_ask(self) -> Level | None:
        head = self._head
        return _new_tuple(Level, (head[ASK], head[ASK_SIZE])) if head[ASKS] else None

    def top(self) -> tuple[float, float, float, float]:
        """Best bid, its size, best ask, its size (nan and 0 for an empty side)."""
        head = self._head
        return head[BID], head[BID_SIZE], head[ASK], head[ASK_SIZE]

    @property
    def mid_price(self) -> float:
        return (self._head[BID] + self._head[ASK]) / 2.0

    @property
    def spread(self) -> float:
        return self._head[ASK] - self._head[BID]

    @property
    def bids(self) -> list[Level]:
        """All bid levels, best (highest) first."""
        return self._side(0, None)

    @property
    def asks(self) -> list[Level]:
        """All ask levels, best (lowest) first."""
        return self._side(1, None)

    def depth(self, n: int | None = 10) -> tuple[list[Level], list[Level]]:
        """The best ``n`` levels of each side, best first: ``(bids, asks)``."""
        return self._side(0, n), self._side(1, n)

    def liquidity(self, buy: bool) -> Iterator[Level]:
        """Levels a buy (the asks) or a sell (the bids) would take, best first, lazily."""
        side = 1 if buy else 0
        recorded = self._side(side, self._recorded)
        yield from recorded
        if int(self._head[BIDS + side]) > len(recorded):
            yield from self._side(side, None)[len(recorded) :]

    def __len__(self) -> int:
        return int(self._head[BIDS] + self._head[ASKS])

    def __getstate__(self) -> dict[str, Any]:
        """Copied and pickled as its levels (the arrays and records are made again)."""
        return {"symbol": self.symbol, "recorded": self._depth, "timestamp": self.timestamp,
                "update_id": self.update_id, "has_snapshot": self.has_snapshot, "bids": self.bids, "asks": self.asks}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["symbol"], recorded=state["recorded"])  # type: ignore[misc]
        if state["has_snapshot"]:
            self.apply(state["timestamp"], True, state["bids"], state["asks"], state["update_id"])

    def __repr__(self) -> str:
        return f"OrderBook({self.symbol!r}, bid={self.best_bid}, ask={self.best_ask})"
