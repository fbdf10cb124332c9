"""De-duplicating trades by id, counting the ids a feed never received and id epochs."""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["TradeIdFilter"]


class TradeIdFilter:
    """Accepts each trade once, with memory bounded by ``window`` recent trades.

    A trade is a duplicate when its id is among the last ``window`` accepted ones (a replay
    after a reconnect), unless it is an integer id below the highest, with another trade
    time: then the exchange's ids started again (testnet reset, server restart).

    Integer ids (Binance: consecutive per symbol) are also followed in order: ids skipped
    over add to ``missed``, and leave it again if they arrive late (31, 30, 32 misses
    nothing). An id reused with another time, one below the window, or one more than
    ``max_jump`` ahead starts a new epoch (counted in ``epochs``): ids are followed from
    there on, and nothing after it is refused or counted as missed because of it.
    """

    def __init__(self, window: int = 100_000, max_jump: int = 1_000_000) -> None:
        if window < 1 or max_jump < 1:
            raise ValueError(f"window and max_jump must be >= 1, got {window!r}, {max_jump!r}")
        self.window = window
        self.max_jump = max_jump
        self.first: int | None = None  # lowest integer id of the epoch
        self.last: int | None = None  # highest integer id of the epoch
        self.missed = 0
        self.epochs = 0
        self._order: deque[Any] = deque()
        self._seen: dict[Any, Any] = {}  # recent id -> its trade time

    def accept(self, trade_id: Any, timestamp: Any = None) -> bool:
        """True the first time the trade ``(trade_id, timestamp)`` is offered, False for a duplicate."""
        seen = self._seen
        if trade_id in seen:
            if type(trade_id) is not int or seen[trade_id] == timestamp or self.last is None or trade_id >= self.last:
                return False
            self._new_epoch(trade_id, forget=True)
        elif type(trade_id) is int:
            self._follow(trade_id)
        order = self._order
        if len(order) == self.window:
            del seen[order.popleft()]
        order.append(trade_id)
        seen[trade_id] = timestamp
        return True

    def _follow(self, trade_id: int) -> None:
        first, last = self.first, self.last
        if last is None or first is None:
            self.first = self.last = trade_id
        elif trade_id > last:
            if trade_id - last > self.max_jump:
                self._new_epoch(trade_id)
            else:
                self.missed += trade_id - last - 1
                self.last = trade_id
        elif trade_id <= last - self.window:
            self._new_epoch(trade_id)
        elif trade_id > first:
            self.missed -= 1  # counted as missed when a later id arrived first
        else:
            self.missed += first - trade_id - 1
            self.first = trade_id

    def _new_epoch(self, trade_id: Any, forget: bool = False) -> None:
        self.epochs += 1
        if forget:  # the old ids mean other trades now
            self._order.clear()
            self._seen.clear()
        if type(trade_id) is int:
            self.first = self.last = trade_id
