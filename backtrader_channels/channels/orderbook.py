"""OrderBookChannel: the L2 book of one symbol, kept from snapshots and deltas."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any, NamedTuple

from ..events import Level, OrderBookEvent
from ..extras import missing_extra
from ..sources.dataset import dataset_bytes
from .base import Channel
from .book import BookError, OrderBook, Updates, level_columns

__all__ = ["BookTop", "OrderBookChannel", "fastest_book"]

_new_tuple = tuple.__new__

# which book a channel keeps: chosen here, so that book.py never imports the compiled book
# (compiled_book.py builds on book.py's Updates)
COMPILED_FROM_BYTES = 8_000_000  # a book file this big: about 170,000 Parquet updates of 10 levels
_BOOK_CHOICES = ("auto", "python", "compiled")


def fastest_book(file_bytes: int = 0) -> type:
    """The book a channel keeps, for a channel fed by a book file of ``file_bytes`` (0: live).

    ``CompiledOrderBook`` costs numba's start, about 1 s a process (and 12 s to compile once
    after an install), and saves about 8 µs an update: it repays that over a long file, not
    over a short one or a live book's few updates a second. So by default (``auto``) a
    channel keeps it for a file of ``COMPILED_FROM_BYTES`` or more when numba imports (the
    ``fast`` extra), else ``OrderBook``. The environment variable ``BTCHANNELS_BOOK`` set to
    ``python`` or ``compiled`` chooses for every channel.
    """
    choice = os.environ.get("BTCHANNELS_BOOK", "auto").lower() or "auto"
    if choice not in _BOOK_CHOICES:
        raise ValueError(f"BTCHANNELS_BOOK must be one of {', '.join(_BOOK_CHOICES)}, got {choice!r}")
    if choice == "python" or (choice == "auto" and file_bytes < COMPILED_FROM_BYTES):
        return OrderBook
    try:
        from .compiled_book import CompiledOrderBook
    except ImportError as error:  # no numba: the fast extra is not installed
        if choice == "compiled":
            raise missing_extra("fast", "BTCHANNELS_BOOK=compiled", error) from error
        return OrderBook
    return CompiledOrderBook


class BookTop(NamedTuple):
    """Top of the book after one update: what ``OrderBookChannel.history`` keeps."""

    timestamp: float
    bid: float
    bid_size: float
    ask: float
    ask_size: float


class OrderBookChannel(Channel):
    """The book of one symbol. ``latest`` is the live ``OrderBook`` once a snapshot arrived.

    Refused updates (a delta before any snapshot, a delta that would cross the book) are
    never applied: with ``on_error='raise'`` they raise ``BookError``; with ``'skip'`` they
    are counted in ``rejected``.
    """

    book_class: type | None = None  # None: chosen by ``fastest_book`` from the file's size

    def __init__(self, symbol: str, dataname: Any = None, **kwargs: Any) -> None:
        self.book = (self.book_class or fastest_book(dataset_bytes(dataname)))(symbol)
        self.rejected: Counter[str] = Counter()
        super().__init__(symbol, dataname, **kwargs)

    def reset(self) -> None:
        super().reset()
        self.book.clear()  # in place: the broker's market holds this book
        self.rejected.clear()

    def _open_source(self, dataname: Any, **options: Any) -> Any:
        from ..sources import open_book

        return open_book(dataname, **options)

    def push(self, event: Any) -> bool:
        """Apply an ``OrderBookEvent`` (bare or inside an ``Event``); True if applied."""
        update: OrderBookEvent = self._unwrap(event)
        return self.apply(update.timestamp, update.is_snapshot, update.bids, update.asks, update.update_id)

    def apply(self, timestamp: float, is_snapshot: bool, bids: Any, asks: Any, update_id: int | None = None) -> bool:
        """Apply one update given as (price, size) level sequences; True if applied."""
        return self.apply_levels(timestamp, is_snapshot, *level_columns(bids, asks), update_id)

    def apply_levels(self, timestamp: float, is_snapshot: bool, sides: Any, prices: Any, sizes: Any,
                     update_id: int | None = None) -> bool:
        """Apply one update given as columns (side 0 = bid, 1 = ask); True if applied."""
        return self.apply_update(Updates.one(timestamp, is_snapshot, sides, prices, sizes, update_id), 0)

    def apply_update(self, updates: Updates, k: int) -> bool:
        """Apply update ``k`` of a window (the hot path of historical runs); True if applied."""
        book = self.book
        try:
            book.apply_update(updates, k)
        except BookError as error:
            return self._refused(error, updates.seconds[k])
        self.latest = book
        self._count += 1
        self._history.append(_new_tuple(BookTop, (updates.seconds[k], *book.top())))  # no BookTop.__new__ call
        return True

    def _refused(self, error: BookError, timestamp: float) -> bool:
        if self.on_error == "raise":
            where = f" from {self.dataname}" if self.dataname is not None else ""
            raise BookError(error.kind, f"{self.symbol}{where} at timestamp {timestamp}: {error}") from None
        self.rejected[error.kind] += 1
        return False

    @property
    def best_bid(self) -> Level | None:
        return self.book.best_bid

    @property
    def best_ask(self) -> Level | None:
        return self.book.best_ask

    @property
    def mid_price(self) -> float:
        return self.book.mid_price

    @property
    def spread(self) -> float:
        return self.book.spread

    def depth(self, n: int = 10) -> tuple[list[Level], list[Level]]:
        return self.book.depth(n)
