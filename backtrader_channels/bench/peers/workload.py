"""What every engine runs in ``btchannels bench --peers``: the inputs, the strategy rule, the outcome.

Two workloads, the same generated files for every engine:

- ``trades``: ``n`` trades (``Inputs.trades``); a callback per trade runs ``EmaCross`` on
  the price and flips a 0.01 BTC position at market: buy when the fast EMA crosses above
  the slow one, sell what is held when it crosses below. No commission.
- ``book``: an L2 book (a snapshot of ``BOOK_LEVELS`` levels a side, then one update of 10
  levels every 100 ms: ``n // 10`` updates) and ``n`` trades over the same time; a callback
  per book update reads the best bid and ask (and sums the spread), one per trade counts it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backtrader_channels.sources import BookChunk, TradeChunk, open_book, open_trades

from ..inputs import Inputs

CASH = 1_000_000.0  # USDT at the start
SIZE = 0.01  # BTC bought on each upward crossing
BOOK_LEVELS = 1_000  # levels a side in the book's snapshot
TRADES_PER_UPDATE = 10  # the book workload's trades per book update
WORKLOADS = ("trades", "book")


@dataclass(frozen=True)
class Workload:
    """One workload's inputs and the strategy's EMA weights (``fast``/``slow``: the weight of
    the newest price)."""

    kind: str
    trades: int
    root: str
    fast: float = 0.01
    slow: float = 0.001

    @property
    def book_updates(self) -> int:
        return max(1, self.trades // TRADES_PER_UPDATE)

    @property
    def events(self) -> int:
        """Events the engine is handed: trades, plus the book updates in the book workload."""
        return self.trades + (self.book_updates if self.kind == "book" else 0)

    def trades_path(self) -> Path:
        inputs = Inputs(self.root)
        if self.kind == "book":
            return inputs.book_trades(0, self.trades, self.book_updates)
        return inputs.trades(self.trades)

    def book_path(self) -> Path:
        return Inputs(self.root).book(0, self.book_updates, BOOK_LEVELS)

    def prepare(self) -> None:
        """Write the inputs (once; every engine then reads the same files)."""
        self.trades_path()
        if self.kind == "book":
            self.book_path()

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Workload:
        return cls(**json.loads(text))


def trade_columns(path: Path) -> TradeChunk:
    """All trades of ``path`` as one chunk of numpy columns."""
    chunks = list(open_trades(path).chunks())

    def joined(column: str) -> np.ndarray:
        return np.concatenate([getattr(chunk, column) for chunk in chunks])

    ids = None if chunks[0].trade_id is None else joined("trade_id")
    return TradeChunk(joined("ts_ns"), joined("price"), joined("volume"), joined("is_sell"), ids)


def book_columns(path: Path) -> BookChunk:
    """All book updates of ``path`` as one chunk (offsets rebased across chunks)."""
    chunks = list(open_book(path).chunks())
    starts = np.cumsum([0] + [int(c.offsets[-1]) for c in chunks[:-1]])
    offsets = np.concatenate([c.offsets[:-1] + start for c, start in zip(chunks, starts)]
                             + [[int(starts[-1] + chunks[-1].offsets[-1])]])
    return BookChunk(np.concatenate([c.ts_ns for c in chunks]), np.concatenate([c.is_snapshot for c in chunks]),
                     offsets.astype(np.int64), *(np.concatenate([c[k] for c in chunks]) for k in (3, 4, 5)))


class EmaCross:
    """A fast and a slow EMA of the price; ``update`` says when the fast one crosses.

    ``update(price)`` returns +1 when the fast EMA moves above the slow one, -1 when it moves
    to or below it, 0 otherwise; the first price starts both EMAs (and counts as a move
    below: no position is opened on it).
    """

    __slots__ = ("fast_weight", "slow_weight", "fast", "slow", "above")

    def __init__(self, fast: float, slow: float) -> None:
        self.fast_weight, self.slow_weight = fast, slow
        self.fast = self.slow = math.nan
        self.above: bool | None = None

    def update(self, price: float) -> int:
        if self.above is None:
            self.fast = self.slow = price
        self.fast += self.fast_weight * (price - self.fast)
        self.slow += self.slow_weight * (price - self.slow)
        above = self.fast > self.slow
        if above == self.above:
            return 0
        self.above = above
        return 1 if above else -1


@dataclass
class Outcome:
    """What one engine did with a workload: ``events`` handed to callbacks in ``seconds``
    (the engine's run, its set-up included), ``prepare_seconds`` turning the files into the
    engine's own data, and the strategy's orders, fills and PnL (final value - ``CASH``)."""

    events: int
    seconds: float
    prepare_seconds: float = 0.0
    orders: int = 0
    fills: int = 0
    pnl: float = 0.0
    checks: dict[str, Any] = field(default_factory=dict)
