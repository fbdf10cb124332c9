"""TickChannel: the trades of one symbol."""

from __future__ import annotations

from typing import Any

from ..events import EventPriority, TickEvent
from .base import Channel

__all__ = ["TickChannel"]


class TickChannel(Channel):
    """Trades of one symbol; ``latest`` is the last ``TickEvent``."""

    channel_type = "tick"
    priority = EventPriority.TICK

    latest: TickEvent | None

    def _open_source(self, dataname: Any, **options: Any) -> Any:
        from ..sources import open_trades

        return open_trades(dataname, symbol=self.symbol, **options)

    def push(self, event: Any) -> TickEvent:
        """Take a ``TickEvent`` (bare or inside an ``Event``); returns the tick."""
        tick = self._unwrap(event)
        self.latest = tick
        self._history.append(tick)
        self._count += 1
        return tick

    @property
    def last_price(self) -> float | None:
        return None if self.latest is None else self.latest.price
