"""The trade kind: ``TickChannel``, ``notify_tick``, and the hot path of tick-mode runs.

Rows are the columns of a window of trades (seconds, price, volume, direction, id) as
Python lists; a live ``TickEvent`` is one such row. When nothing watches the trades one by
one (no ``notify_tick``, no per-event ``next``, no bridge, no book to walk), a file's rows
are taken in bulk: the broker names the first trade that could touch an order, everything
before it goes to the channel as columns, and only that trade takes a full step.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np

from ..channels.tick import DIRECTIONS, TickChannel, TradeRows, rows_of, ticks_of
from ..events import EventPriority, TickEvent
from .base import Kind, Step

if TYPE_CHECKING:
    from ..broker.market import Market

__all__ = ["TRADES", "TradeStep"]


class TradeStep(Step):
    """Trades of one TickChannel: channel -> broker -> notifications -> bridges -> callbacks."""

    priority = EventPriority.TICK
    batch = 8192  # TickEvents built at a time (bounds the memory of a long run)
    block = 65536  # trades scanned at a time in bulk
    channel: TickChannel
    market: Market  # market-data kinds always have one
    _rows: TradeRows = ()
    _lists: tuple | None = None  # the window as Python lists, when trades are watched one by one
    _fixed: tuple | None = None  # see _fix

    def watched(self) -> bool:
        """Whether something needs this channel's trades one by one."""
        engine = self.engine
        return bool(engine.callbacks["tick"] or engine.next_callbacks or engine.bridges.watches(self.channel)
                    or self.market.book is not None)

    def prepare(self) -> None:
        self.engine.bridges.precompute(self.channel)

    def load(self, chunk: Any) -> None:
        self._rows = rows_of(chunk)
        self._lists = None
        if self.watched():  # one tolist per window
            seconds, price, volume, is_sell, ids = self._rows
            self._lists = (seconds.tolist(), price.tolist(), volume.tolist(),
                           DIRECTIONS.take(is_sell.view(np.int8)).tolist(), ids.tolist())

    def take(self, data: TickEvent) -> bool:
        return self.handle((data,))

    def run(self, start: int, stop: int) -> bool:
        if self._lists is None:
            return self._run_bulk(start, stop)
        seconds, price, volume, direction, ids = self._lists
        symbol = self.channel.symbol
        if stop - start == 1:  # merged streams: mostly one trade between other streams' events
            return self.handle((TickEvent(seconds[start], price[start], volume[start], direction[start], ids[start],
                                          symbol),))
        for lo in range(start, stop, self.batch):
            hi = min(lo + self.batch, stop)
            if self.handle(map(TickEvent, seconds[lo:hi], price[lo:hi], volume[lo:hi], direction[lo:hi],
                               ids[lo:hi], repeat(symbol))):
                return True
        return False

    def handle(self, ticks: Iterable[TickEvent]) -> bool:
        """Consecutive trades of this channel, one full step each (the hot path)."""
        engine = self.engine
        channel, market, clock, broker, notifs, keep, bridges = self._fixed or self._fix()
        callbacks, nexts = engine.callbacks["tick"], engine.next_callbacks
        only = callbacks[0] if len(callbacks) == 1 else None
        next_sample = engine.next_sample
        handled = 0
        stop = False
        for tick in ticks:
            now = clock.now = tick.timestamp
            channel.latest = tick
            keep(tick)
            channel._count += 1
            if market.orders or broker.incoming:
                broker.on_trade(market, tick.price, tick.volume)
            market.last_price = tick.price
            if notifs:
                engine.deliver_notifications()
                next_sample = engine.next_sample  # a fill takes its sample at once
            if bridges is not None:
                bridges.update(channel)
            if only is not None:
                only(tick)
            else:
                for callback in callbacks:
                    callback(tick)
            if nexts:
                for callback in nexts:
                    callback()
            if broker.incoming:
                broker.end_step()
            if notifs:
                engine.deliver_notifications()
                next_sample = engine.next_sample
            handled += 1
            if now >= next_sample:
                engine.sample()
                next_sample = engine.next_sample
            if engine.stopping:
                stop = True
                break
        engine.events += handled
        return stop

    def _fix(self) -> tuple:
        """What ``handle`` reads that stays the same for the whole run (made on first use)."""
        engine, channel = self.engine, self.channel
        bridges = engine.bridges if engine.bridges.watches(channel) else None
        self._fixed = (channel, self.market, engine.clock, engine.broker, engine.notifications,
                       channel._history.append, bridges)
        return self._fixed

    def _run_bulk(self, start: int, stop: int) -> bool:
        engine, channel, market = self.engine, self.channel, self.market
        seconds, prices = self._rows[0], self._rows[1]
        i = start
        while i < stop:
            end = min(i + self.block, stop)
            k = i + engine.broker.first_candidate(market, seconds[i:end], prices[i:end])
            if k > i:
                self._take_in_bulk(self._slice(i, k))
            if k == end:
                i = end
            elif self.handle(ticks_of(self._slice(k, k + 1), channel.symbol)):
                return True
            else:
                i = k + 1
            if engine.stopping:
                return True
        return False

    def _slice(self, lo: int, hi: int) -> TradeRows:
        return tuple(column[lo:hi] for column in self._rows)

    def _take_in_bulk(self, rows: TradeRows) -> None:
        """Trades no order can react to: channel, last price, clock and equity samples only."""
        engine, market = self.engine, self.market
        seconds, prices = rows[0], rows[1]
        while seconds[-1] >= engine.next_sample:  # equity at each sample time inside the rows
            j = int(np.searchsorted(seconds, engine.next_sample, side="left"))
            market.last_price = float(prices[j])
            engine.clock.now = float(seconds[j])
            engine.sample()
        self.channel.extend(rows)
        market.last_price = float(prices[-1])
        engine.clock.now = float(seconds[-1])
        engine.events += len(seconds)


TRADES = Kind("tick", EventPriority.TICK, TickChannel, TradeStep, "notify_tick")
