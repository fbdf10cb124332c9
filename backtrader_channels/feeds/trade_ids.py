"""De-duplicating trades by id and counting the ids a feed never received."""

from __future__ import annotations

from collections import deque
from typing import Any

__all__ = ["TradeIdFilter"]


class TradeIdFilter:
    """Accepts each trade id once, with bounded memory.

    Integer ids (Binance: consecutive per symbol) need O(1) memory: an id at or below the
    last accepted one is a duplicate (a replay after a reconnect), and a jump above
    ``last + 1`` adds the skipped ids to ``missed``. Other ids are remembered in a window of
    the last ``window`` ids; they have no order, so no gaps are counted for them.
    """

    def __init__(self, window: int = 100_000) -> None:
        self.last: int | None = None
        self.missed = 0
        self._window: deque[Any] = deque(maxlen=window)
        self._seen: set[Any] = set()

    def accept(self, trade_id: Any) -> bool:
        """True the first time ``trade_id`` is offered, False for a duplicate."""
        if type(trade_id) is int:
            last = self.last
            if last is not None:
                if trade_id <= last:
                    return False
                self.missed += trade_id - last - 1
            self.last = trade_id
            return True
        if trade_id in self._seen:
            return False
        window = self._window
        if len(window) == window.maxlen:
            self._seen.discard(window[0])
        window.append(trade_id)
        self._seen.add(trade_id)
        return True
