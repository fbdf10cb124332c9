"""TickChannel: the trades of one symbol."""

from __future__ import annotations

from itertools import repeat
from typing import Any

import numpy as np

from ..events import TickEvent
from ..sources.chunks import to_seconds
from .base import Channel

__all__ = ["DIRECTIONS", "TickChannel", "TradeRows", "rows_of", "ticks_of"]

TradeRows = tuple[np.ndarray, ...]  # five columns: seconds, price, volume, is_sell, id


DIRECTIONS = np.array(["buy", "sell"], dtype=object)  # indexed by is_sell


def rows_of(chunk: Any) -> TradeRows:
    """A TradeChunk as TradeRows: float seconds and ids (None when the file has none)."""
    ids = chunk.trade_id if chunk.trade_id is not None else np.full(len(chunk), None, dtype=object)
    return to_seconds(chunk.ts_ns), chunk.price, chunk.volume, chunk.is_sell, ids


def ticks_of(rows: TradeRows, symbol: str) -> list[TickEvent]:
    """TickEvents of trade rows (directions share two str objects)."""
    seconds, price, volume, is_sell, ids = rows
    directions = DIRECTIONS.take(is_sell.view(np.int8)).tolist()
    return list(map(TickEvent, seconds.tolist(), price.tolist(), volume.tolist(), directions, ids.tolist(), repeat(symbol)))


def _rows_of(ticks: list[TickEvent]) -> TradeRows:
    return (
        np.array([t.timestamp for t in ticks], dtype=float),
        np.array([t.price for t in ticks], dtype=float),
        np.array([t.volume for t in ticks], dtype=float),
        np.array([t.direction == "sell" for t in ticks], dtype=bool),
        np.array([t.trade_id for t in ticks], dtype=object),
    )


class TickChannel(Channel):
    """Trades of one symbol; ``latest`` is the last ``TickEvent``.

    History is kept as TickEvents for trades pushed one by one and, for runs of trades a
    backtest takes in bulk (nobody watched them one by one), as columns that become
    TickEvents only when ``history()`` asks.
    """

    prints_trades = True

    latest: TickEvent | None

    def __init__(self, symbol: str, dataname: Any = None, **kwargs: Any) -> None:
        self._tail: TradeRows | None = None  # rows older than everything in _history
        super().__init__(symbol, dataname, **kwargs)

    def _open_source(self, dataname: Any, **options: Any) -> Any:
        from ..sources import open_trades

        return open_trades(dataname, symbol=self.symbol, **options)

    def extend(self, rows: TradeRows) -> None:
        """Take consecutive trades as columns (the bulk path of a backtest)."""
        added = len(rows[0])
        if not added:
            return
        size = self._size
        if self._history:  # keep the order: what was pushed one by one is older than these rows
            rows = _join(self._tail, _rows_of(list(self._history)), rows)
            self._history.clear()
        elif self._tail is not None:
            rows = _join(self._tail, rows)
        self._tail = tuple(column[-size:] for column in rows)
        self._count += added
        self.latest = ticks_of(tuple(column[-1:] for column in self._tail), self.symbol)[0]

    def history(self, n: int | None = None) -> list:
        size = self._size
        wanted = size if n is None else min(max(n, 0), size)
        items = list(self._history)
        missing = wanted - len(items)
        if missing > 0 and self._tail is not None:
            items = ticks_of(tuple(column[-missing:] for column in self._tail), self.symbol) + items
        return items[-wanted:] if wanted else []

    def reset(self) -> None:
        super().reset()
        self._tail = None

    @property
    def last_price(self) -> float | None:
        return None if self.latest is None else self.latest.price


def _join(*parts: TradeRows | None) -> TradeRows:
    present = [part for part in parts if part is not None]
    return tuple(np.concatenate(columns) for columns in zip(*present))
