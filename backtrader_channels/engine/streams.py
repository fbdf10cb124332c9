"""Historical streams: chunks from a channel's source, turned into engine steps.

A stream loads a window of its chunk as Python lists (one fast ``tolist`` per column)
and hands the engine runs of consecutive events with ``run(start, stop)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np

from ..channels.tick import DIRECTIONS, TradeRows, rows_of, ticks_of
from ..events import EventPriority, TickEvent
from ..sources.chunks import to_seconds
from .merge import TimeChunk

if TYPE_CHECKING:
    from ..broker.market import Market
    from ..channels import OrderBookChannel, TickChannel
    from .engine import TickEngine

__all__ = ["BarStream", "BookStream", "TradeStream"]


class _ChannelStream:
    """A channel's file as a stream: its chunks, loaded one window at a time."""

    def __init__(self, engine: TickEngine, channel: Any, market: Market) -> None:
        self._engine = engine
        self.channel = channel
        self.market = market

    def chunks(self) -> Iterator[Any]:
        return self.channel.source.chunks()


class TradeStream(_ChannelStream):
    """A TickChannel's trade file.

    When nothing watches its trades one by one (no ``notify_tick``, no per-event
    ``next``, no bridge, no book to walk), a run is taken in bulk: the broker names the
    first trade that could touch an order, everything before it goes to the channel as
    columns, and only that trade takes a full step.
    """

    priority = EventPriority.TICK
    batch = 8192  # TickEvents built at a time (bounds the memory of a long run)
    block = 65536  # trades scanned at a time in bulk
    channel: TickChannel
    _rows: TradeRows = ()
    _lists: tuple | None = None  # the window as Python lists, when trades are watched one by one

    def load(self, chunk: Any) -> None:
        self._rows = rows_of(chunk)
        self._lists = None
        if self._engine.watches_each_trade(self.channel, self.market):  # one tolist per window
            seconds, price, volume, is_sell, ids = self._rows
            self._lists = (seconds.tolist(), price.tolist(), volume.tolist(),
                           DIRECTIONS.take(is_sell.view(np.int8)).tolist(), ids.tolist())

    def _slice(self, lo: int, hi: int) -> TradeRows:
        return tuple(column[lo:hi] for column in self._rows)

    def run(self, start: int, stop: int) -> bool:
        if self._lists is None:
            return self._run_bulk(start, stop)
        engine, channel, market = self._engine, self.channel, self.market
        seconds, price, volume, direction, ids = self._lists
        symbol = repeat(channel.symbol)
        for lo in range(start, stop, self.batch):
            hi = min(lo + self.batch, stop)
            ticks = map(TickEvent, seconds[lo:hi], price[lo:hi], volume[lo:hi], direction[lo:hi], ids[lo:hi], symbol)
            if engine.run_ticks(channel, market, ticks):
                return True
        return False

    def _run_bulk(self, start: int, stop: int) -> bool:
        engine, channel, market = self._engine, self.channel, self.market
        seconds, prices = self._rows[0], self._rows[1]
        i = start
        while i < stop:
            end = min(i + self.block, stop)
            k = i + engine.broker.first_candidate(market, seconds[i:end], prices[i:end])
            if k > i:
                engine.take_in_bulk(channel, market, self._slice(i, k))
            if k == end:
                i = end
            elif engine.run_ticks(channel, market, ticks_of(self._slice(k, k + 1), channel.symbol)):
                return True
            else:
                i = k + 1
            if engine.cerebro._event_stop:
                return True
        return False


class BookStream(_ChannelStream):
    """An OrderBookChannel's book file."""

    priority = EventPriority.ORDERBOOK
    channel: OrderBookChannel
    _columns: tuple = ()

    def load(self, chunk: Any) -> None:
        self._columns = (
            to_seconds(chunk.ts_ns).tolist(),
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
            lo, hi = offsets[k], offsets[k + 1]
            if book_step(channel, market, ts[k], is_snapshot[k], side[lo:hi], price[lo:hi], size[lo:hi]):
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
