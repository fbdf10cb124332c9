"""Counters of a live feed, and the snapshot of them users read (``feed.stats``)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

__all__ = ["FeedCounters", "FeedStats"]


@dataclass(frozen=True)
class FeedStats:
    """What a feed has seen so far. Latencies are seconds of ``recv_timestamp - timestamp``
    over the last ``latency_window`` events (None before any), local clock minus exchange clock.
    """

    messages: int  # items received from ccxt (trades, book updates) plus bad messages
    trades: int  # ticks pushed to the queue
    books: int  # book snapshots pushed to the queue
    reconnects: int  # reconnections after network errors or watchdog restarts (not resyncs)
    watchdog_restarts: int  # restarts because nothing arrived for stale_timeout seconds
    resyncs: int  # order books rebuilt from a fresh snapshot after a gap (InvalidNonce/ChecksumError)
    bad_messages: int  # unparseable frames or items missing fields: counted and skipped
    duplicates: int  # trades already delivered (e.g. replayed after a reconnect): skipped
    missed_trades: int  # trade ids skipped over (consecutive-id gaps that were never filled)
    rejected: int  # events the feed's validator refused
    id_epochs: int  # trade ids that started again or jumped implausibly (a new epoch, not drops)
    failures: int  # errors that would have ended the feed, retried with keep_going=True
    latency_p50: float | None
    latency_p99: float | None


class FeedCounters:
    """The mutable counters behind ``FeedStats``, updated on the feed's event loop."""

    __slots__ = (
        "messages", "trades", "books", "reconnects", "watchdog_restarts", "resyncs",
        "bad_messages", "duplicates", "missed_trades", "rejected", "id_epochs", "failures", "latencies",
    )

    def __init__(self, latency_window: int) -> None:
        self.messages = self.trades = self.books = 0
        self.reconnects = self.watchdog_restarts = self.resyncs = 0
        self.bad_messages = self.duplicates = self.missed_trades = self.rejected = self.id_epochs = self.failures = 0
        self.latencies: deque[float] = deque(maxlen=latency_window)

    def snapshot(self) -> FeedStats:
        latencies = sorted(self.latencies)  # list(deque) is atomic under the GIL

        def percentile(q: float) -> float | None:
            return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None

        return FeedStats(
            self.messages, self.trades, self.books, self.reconnects, self.watchdog_restarts,
            self.resyncs, self.bad_messages, self.duplicates, self.missed_trades, self.rejected,
            self.id_epochs, self.failures, percentile(0.50), percentile(0.99),
        )
