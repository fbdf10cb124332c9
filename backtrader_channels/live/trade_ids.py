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
    over add to ``gaps``, and leave it again if they arrive late (31, 30, 32 misses
    nothing). An id reused with another time, one below the window, or one more than
    ``max_jump`` ahead starts a new epoch (counted in ``epochs``): ids are followed from
    there on, and nothing after it is refused or counted as missed because of it.

    Trades received but lost before they could be offered (ccxt's trade cache overflowed)
    are reported with ``lose(count)``: their ids are gaps too, but not missed ones. Which
    ids they held is unknown (the cache evicted them), only how many: ``missed`` is the gaps
    less the trades lost, so it counts the ids the exchange never sent.

    A trade refused as bad but with a readable id is offered too (``accept``): it was seen,
    so its id is neither missed nor, when replayed, counted again.
    """

    def __init__(self, window: int = 100_000, max_jump: int = 1_000_000) -> None:
        if window < 1 or max_jump < 1:
            raise ValueError(f"window and max_jump must be >= 1, got {window!r}, {max_jump!r}")
        self.window = window
        self.max_jump = max_jump
        self.first: int | None = None  # lowest integer id of the epoch
        self.last: int | None = None  # highest integer id of the epoch
        self.gaps = 0  # ids skipped over and not (yet) received
        self.lost = 0  # trades received but lost before they were offered
        self.epochs = 0
        self._order: deque[Any] = deque()
        self._seen: dict[Any, Any] = {}  # recent id -> its trade time

    @property
    def missed(self) -> int:
        """Ids the exchange never sent: the gaps less the trades lost on the way. Exact unless a
        lost trade was a copy (replayed after a reconnect): it filled no gap, and hides one
        later missed id (never below 0)."""
        return max(0, self.gaps - self.lost)

    def lose(self, count: int) -> None:
        """``count`` trades were received but dropped before they were offered."""
        self.lost += count

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
                self.gaps += trade_id - last - 1
                self.last = trade_id
        elif trade_id <= last - self.window:
            self._new_epoch(trade_id)
        elif trade_id > first:
            self.gaps -= 1  # counted as missed when a later id arrived first
        else:
            self.gaps += first - trade_id - 1
            self.first = trade_id

    def _new_epoch(self, trade_id: Any, forget: bool = False) -> None:
        self.epochs += 1
        if forget:  # the old ids mean other trades now
            self._order.clear()
            self._seen.clear()
        if type(trade_id) is int:
            self.first = self.last = trade_id
