"""Historical streams: chunks from a channel's source, turned into engine steps.

A stream loads a window of its chunk as Python lists (one fast ``tolist`` per column)
and hands the engine runs of consecutive events with ``run(start, stop)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np

from ..events import EventPriority, TickEvent
from .merge import TimeChunk

if TYPE_CHECKING:
    from ..broker.market import Market
    from ..channels import OrderBookChannel, TickChannel
    from .engine import TickEngine

__all__ = ["BarStream", "BookStream", "TradeStream"]


_DIRECTIONS = np.array(["buy", "sell"], dtype=object)


def _seconds(ts_ns: np.ndarray) -> list[float]:
    """Epoch seconds as floats, via whole microseconds so that e.g. ...009 s prints as .009."""
    return ((ts_ns // 1000) / 1e6).tolist()


class TradeStream:
    """A TickChannel's trade file."""

    priority = EventPriority.TICK
    batch = 8192  # TickEvents built at a time (bounds the memory of a long run)

    def __init__(self, engine: TickEngine, channel: TickChannel, market: Market) -> None:
        self._engine = engine
        self.channel = channel
        self.market = market
        self._columns: tuple = ()

    def chunks(self) -> Iterator[Any]:
        return self.channel.source.chunks()

    def load(self, chunk: Any) -> None:
        ids = chunk.trade_id.tolist() if chunk.trade_id is not None else [None] * len(chunk)
        self._columns = (
            _seconds(chunk.ts_ns),
            chunk.price.tolist(),
            chunk.volume.tolist(),
            _DIRECTIONS.take(chunk.is_sell.view(np.int8)).tolist(),  # two shared str objects
            ids,
        )

    def run(self, start: int, stop: int) -> bool:
        ts, price, volume, direction, ids = self._columns
        symbol = repeat(self.channel.symbol)
        run_ticks, channel, market = self._engine.run_ticks, self.channel, self.market
        for lo in range(start, stop, self.batch):
            hi = min(lo + self.batch, stop)
            ticks = map(TickEvent, ts[lo:hi], price[lo:hi], volume[lo:hi], direction[lo:hi], ids[lo:hi], symbol)
            if run_ticks(channel, market, ticks):
                return True
        return False


class BookStream:
    """An OrderBookChannel's book file."""

    priority = EventPriority.ORDERBOOK

    def __init__(self, engine: TickEngine, channel: OrderBookChannel, market: Market) -> None:
        self._engine = engine
        self.channel = channel
        self.market = market
        self._columns: tuple = ()

    def chunks(self) -> Iterator[Any]:
        return self.channel.source.chunks()

    def load(self, chunk: Any) -> None:
        self._columns = (
            _seconds(chunk.ts_ns),
            chunk.is_snapshot.tolist(),
            chunk.offsets.tolist(),
            chunk.side.tolist(),
            chunk.price.tolist(),
            chunk.size.tolist(),
        )

    def run(self, start: int, stop: int) -> bool:
        ts, is_snapshot, offsets, side, price, size = self._columns
        book_step, channel, market = self._engine.book_step, self.channel, self.market
        for k in range(start, stop):
            bids, asks = [], []
            for j in range(offsets[k], offsets[k + 1]):
                (asks if side[j] else bids).append((price[j], size[j]))
            if book_step(channel, market, ts[k], is_snapshot[k], bids, asks):
                return True
        return False


class BarStream:
    """The closes of the bar feeds added with ``cerebro.adddata``, as one time line."""

    priority = EventPriority.BAR

    def __init__(self, engine: TickEngine, close_times_ns: np.ndarray) -> None:
        self._engine = engine
        self._times = close_times_ns
        self._ts: list[int] = []

    def chunks(self) -> Iterator[Any]:
        yield TimeChunk(self._times)

    def load(self, chunk: Any) -> None:
        self._ts = chunk.ts_ns.tolist()

    def run(self, start: int, stop: int) -> bool:
        bar_step = self._engine.bar_step
        return any(bar_step(self._ts[i]) for i in range(start, stop))
