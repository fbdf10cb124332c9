"""Counters of a live feed, and the snapshot of them users read (``feed.stats``)."""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["BAD_CAUSES", "FeedCounters", "FeedStats"]

# why an item was refused (the vocabulary of testing/adversarial.py and of LiveDataValidator):
# unparseable (not JSON, a field missing or not a number), nan_or_inf, invalid_price (<= 0),
# invalid_volume (<= 0 for a trade or a delivered book level), crossed_book (best bid >= best ask)
BAD_CAUSES = ("unparseable", "nan_or_inf", "invalid_price", "invalid_volume", "crossed_book")


@dataclass(frozen=True)
class FeedStats:
    """What a feed has seen so far. Latencies are seconds of ``recv_timestamp - timestamp``
    over the last ``latency_window`` events (None before any), local clock minus exchange clock.

    Every trade the exchange printed is in exactly one of: ``trades`` (delivered), ``rejected``
    (refused by the validator), ``bad_messages`` (refused by the feed), ``duplicates`` (a copy
    of one of the others), ``overflowed_trades`` (received, lost in ccxt's cache before the
    feed read it) or ``missed_trades`` (never received).
    """

    messages: int  # items received from ccxt (trades, book updates) plus bad messages
    trades: int  # ticks pushed to the queue
    books: int  # book snapshots pushed to the queue
    reconnects: int  # reconnections after network errors or watchdog restarts (not resyncs)
    watchdog_restarts: int  # restarts because nothing arrived for stale_timeout seconds
    resyncs: int  # order books rebuilt from a fresh snapshot (a gap, or a bad frame in the book)
    bad_messages: int  # frames or items refused as unusable, counted and skipped: sum of bad_by_cause
    duplicates: int  # trades already delivered or refused (e.g. replayed after a reconnect): skipped
    missed_trades: int  # trade ids the exchange never sent us (gaps never filled, less overflowed_trades)
    rejected: int  # events the feed's validator refused
    id_epochs: int  # trade ids that started again or jumped implausibly (a new epoch, not drops)
    failures: int  # errors that would have ended the feed, retried with keep_going=True
    overflowed_trades: int  # trades ccxt received but dropped from its cache (tradesLimit) before the feed read them
    bad_by_cause: Mapping[str, int]  # bad_messages by cause (BAD_CAUSES); feeds that do not classify leave it empty
    latency_p50: float | None
    latency_p99: float | None


class FeedCounters:
    """The mutable counters behind ``FeedStats``, updated on the feed's event loop."""

    __slots__ = (
        "messages", "trades", "books", "reconnects", "watchdog_restarts", "resyncs",
        "bad_messages", "duplicates", "missed_trades", "rejected", "id_epochs", "failures", "overflowed_trades",
        "bad_by_cause", "latencies",
    )

    def __init__(self, latency_window: int) -> None:
        self.messages = self.trades = self.books = 0
        self.reconnects = self.watchdog_restarts = self.resyncs = 0
        self.bad_messages = self.duplicates = self.missed_trades = self.rejected = self.id_epochs = self.failures = 0
        self.overflowed_trades = 0
        self.bad_by_cause: Counter[str] = Counter()
        self.latencies: deque[float] = deque(maxlen=latency_window)

    def bad(self, cause: str) -> None:
        """One item refused for ``cause`` (one of ``BAD_CAUSES``)."""
        self.bad_messages += 1
        self.bad_by_cause[cause] += 1

    def snapshot(self) -> FeedStats:
        latencies = sorted(self.latencies)  # list(deque) is atomic under the GIL

        def percentile(q: float) -> float | None:
            return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None

        return FeedStats(
            messages=self.messages, trades=self.trades, books=self.books, reconnects=self.reconnects,
            watchdog_restarts=self.watchdog_restarts, resyncs=self.resyncs, bad_messages=self.bad_messages,
            duplicates=self.duplicates, missed_trades=self.missed_trades, rejected=self.rejected,
            id_epochs=self.id_epochs, failures=self.failures, overflowed_trades=self.overflowed_trades,
            bad_by_cause=dict(self.bad_by_cause), latency_p50=percentile(0.50), latency_p99=percentile(0.99),
        )
