"""LiveDataValidator: sanity checks on live events before a strategy sees them.

Each check has a kind, counted per ``(channel_type, channel_name)`` in
``get_anomaly_report()``. Rejecting checks make ``validate`` return False (the event should be
skipped); warning checks only count. A rejected event counts once, under the first check it
fails, in this order:

=====================  ======  ====================================================================
kind                   effect  when
=====================  ======  ====================================================================
``nan_or_inf``         reject  timestamp, price, volume or a book level is missing, NaN or infinite
``invalid_price``      reject  a trade or book price <= 0
``invalid_volume``     reject  a trade volume or book size < 0
``invalid_timestamp``  reject  ``timestamp - recv_timestamp > max_clock_skew``: stamped in the future
``crossed_book``       reject  a book event whose best bid >= best ask (levels of that message)
``out_of_order``       reject  timestamp older than the last accepted event of the same key
``duplicate_trade_id`` reject  a trade id already accepted among the last ``duplicate_window``
``trade_id_reset``     count   a recent integer id again, below the highest, with another time:
                               the exchange's ids started again (not a duplicate)
``stale``              count   ``recv_timestamp - timestamp > max_staleness`` (reject if
                               ``reject_stale``)
``time_jump``          count   more than ``max_gap`` seconds since the last accepted event
=====================  ======  ====================================================================

``invalid_data`` (the seed's name) counts the ``invalid_price``, ``invalid_volume`` and
``invalid_timestamp`` rejections together; the report holds it alongside those details.
A future-stamped event is refused, so the key's clock never jumps ahead on one event.

A delta is checked on its own levels only; whether it crosses the resulting book is the
``OrderBookChannel``'s check. ``validate`` takes a lock, so one validator may be shared by
feeds running in different threads.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, deque
from typing import Any

from ..events import Event, OrderBookEvent, TickEvent

__all__ = ["LiveDataValidator", "refusal_cause"]

_isfinite = math.isfinite
Key = tuple[str, Any]
INVALID_DATA = frozenset({"invalid_price", "invalid_volume", "invalid_timestamp"})


def refusal_cause(price: Any, size: Any, *, zero_size: bool = False) -> str | None:
    """Why a trade or a book level ``(price, size)`` (numbers, or numbers as the wire's text)
    is unusable, or None: ``unparseable`` (not a number), ``nan_or_inf``, ``invalid_price``
    (<= 0) or ``invalid_volume`` (<= 0: a trade of nothing, or an empty level in a book;
    with ``zero_size``, < 0: in a book diff a size of 0 removes the level). The price is
    judged first. The feeds refuse such items themselves."""
    number = _finite(price)
    if isinstance(number, str):
        return number
    if number <= 0:
        return "invalid_price"
    number = _finite(size)
    if isinstance(number, str):
        return number
    if number < 0 or (number == 0 and not zero_size):
        return "invalid_volume"
    return None


def _finite(value: Any) -> float | str:
    """``value`` as a finite float, or the cause it is not one."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "unparseable"
    return number if _isfinite(number) else "nan_or_inf"


class _RecentIds:
    """The last ``size`` trade ids of one key with their times: a dict for lookups, a deque for eviction."""

    __slots__ = ("ids", "order", "highest")

    def __init__(self, size: int) -> None:
        self.ids: dict[Any, float] = {}
        self.order: deque[Any] = deque(maxlen=size)
        self.highest: Any = None  # the highest integer id since the last reset

    def add(self, trade_id: Any, timestamp: float) -> None:
        order = self.order
        if len(order) == order.maxlen:
            self.ids.pop(order[0], None)
        order.append(trade_id)
        self.ids[trade_id] = timestamp
        if type(trade_id) is int and (self.highest is None or trade_id > self.highest):
            self.highest = trade_id

    def is_reset(self, trade_id: Any, timestamp: float) -> bool:
        """A recent id again, with another time and below the highest: the ids started again."""
        return type(trade_id) is int and trade_id < self.highest and self.ids[trade_id] != timestamp

    def clear(self) -> None:
        self.ids.clear()
        self.order.clear()
        self.highest = None


class LiveDataValidator:
    """Validates live ``Event``s (tick, order book, or any other channel) one by one.

    Thresholds: ``max_gap`` (s, default 3600) before a ``time_jump`` warning;
    ``max_staleness`` (s, default 5) of receive delay before ``stale``; ``reject_stale``
    (default False); ``max_clock_skew`` (s, default 60) an event may be stamped ahead of its
    receive time; ``duplicate_window`` (default 10000) trade ids remembered per key.
    """

    def __init__(
        self,
        *,
        max_gap: float = 3600.0,
        max_staleness: float = 5.0,
        reject_stale: bool = False,
        max_clock_skew: float = 60.0,
        duplicate_window: int = 10_000,
    ) -> None:
        if max_gap <= 0 or max_staleness <= 0 or max_clock_skew <= 0:
            raise ValueError("max_gap, max_staleness and max_clock_skew must be > 0 seconds")
        if duplicate_window < 1:
            raise ValueError(f"duplicate_window must be >= 1, got {duplicate_window!r}")
        self.max_gap = max_gap
        self.max_staleness = max_staleness
        self.reject_stale = reject_stale
        self.max_clock_skew = max_clock_skew
        self.duplicate_window = duplicate_window
        self._last: dict[Key, float] = {}
        self._recent: dict[Key, _RecentIds] = {}
        self._anomalies: dict[Key, Counter[str]] = {}
        self._lock = threading.Lock()

    def validate(self, event: Event) -> bool:
        """True if ``event`` is fit to use; anomalies are counted either way."""
        key = (event.channel_type, event.channel_name)
        timestamp = event.timestamp
        data = event.data
        with self._lock:
            last = self._last.get(key)
            try:
                kind = self._data_error(data) if _isfinite(timestamp) else "nan_or_inf"
            except TypeError:  # None or another non-number where a number belongs
                kind = "nan_or_inf"
            recv = getattr(data, "recv_timestamp", None)
            if kind is None and recv is not None and timestamp - recv > self.max_clock_skew:
                kind = "invalid_timestamp"
            if kind is None and last is not None and timestamp < last:
                kind = "out_of_order"
            trade_id = data.trade_id if type(data) is TickEvent else None
            recent = self._recent.get(key) if trade_id is not None else None
            if kind is None and recent is not None and trade_id in recent.ids:
                if recent.is_reset(trade_id, timestamp):
                    self._record(key, "trade_id_reset")
                    recent.clear()
                else:
                    kind = "duplicate_trade_id"
            if kind is None:
                if recv is not None and recv - timestamp > self.max_staleness:
                    self._record(key, "stale")
                    if self.reject_stale:
                        return False
                if last is not None and timestamp - last > self.max_gap:
                    self._record(key, "time_jump")
                self._last[key] = timestamp
                if trade_id is not None:
                    if recent is None:
                        recent = self._recent[key] = _RecentIds(self.duplicate_window)
                    recent.add(trade_id, timestamp)
                return True
            self._record(key, kind)
            return False

    def get_anomaly_report(self) -> dict[Key, dict[str, int]]:
        """``{(channel_type, channel_name): {kind: count}}`` for every key with anomalies."""
        with self._lock:
            return {key: dict(counts) for key, counts in self._anomalies.items()}

    def total(self) -> int:
        """Anomalies counted so far, each once (``invalid_data`` only sums its details)."""
        with self._lock:
            return sum(n for counts in self._anomalies.values() for kind, n in counts.items() if kind != "invalid_data")

    def _record(self, key: Key, kind: str) -> None:
        counts = self._anomalies.get(key)
        if counts is None:
            counts = self._anomalies[key] = Counter()
        counts[kind] += 1
        if kind in INVALID_DATA:
            counts["invalid_data"] += 1

    @staticmethod
    def _data_error(data: Any) -> str | None:
        if type(data) is TickEvent:
            price, volume = data.price, data.volume
            if not (_isfinite(price) and _isfinite(volume)):
                return "nan_or_inf"
            if price <= 0:
                return "invalid_price"
            if volume < 0:
                return "invalid_volume"
            return None
        if type(data) is OrderBookEvent:
            for price, size in (*data.bids, *data.asks):
                if not (_isfinite(price) and _isfinite(size)):
                    return "nan_or_inf"
                if price <= 0:
                    return "invalid_price"
                if size < 0:
                    return "invalid_volume"
            bid, ask = data.best_bid, data.best_ask
            if bid is not None and ask is not None and bid.price >= ask.price:
                return "crossed_book"
        return None
