"""The trade kind: ``TickChannel``, ``notify_tick``, and the hot path of tick-mode runs.

Rows are the columns of a window of trades (seconds, price, volume, direction, id) as
Python lists; a live ``TickEvent`` is one such row. When nothing watches the trades one by
one (no ``notify_tick``, no per-event ``next``, no bridge, no book to walk), a file's rows
are taken in bulk: the broker names the first trade that could touch an order, everything
before it goes to the channel as columns, and only that trade takes a full step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np

from ..channels.tick import DIRECTIONS, TickChannel, TradeRows, rows_of, ticks_of
from ..events import EventPriority, TickEvent
from ..sources.recordings import TRADE_STREAM
from .base import Codec, Kind, Step

if TYPE_CHECKING:
    from ..broker.market import Market

__all__ = ["TRADES", "TradeStep"]


class TradeStep(Step):
    """Trades of one TickChannel: channel -> broker -> notifications -> bridges -> callbacks."""

    batch = 8192  # TickEvents built at a time (bounds the memory of a long run)
    block = 65536  # trades scanned at a time in bulk
    channel: TickChannel
    market: Market  # market-data kinds always have one
    _rows: TradeRows = ()
    _lists: tuple | None = None  # the window as Python lists, when trades are watched one by one
    _fixed: tuple | None = None  # see _fix

    def watched(self) -> bool:
        """Whether something needs this channel's trades one by one."""
        context = self.context
        return bool(context.callbacks[self.kind.name] or context.next_callbacks
                    or context.bridges.watches(self.channel) or self.market.book is not None)

    def prepare(self) -> None:
        self.context.bridges.precompute(self.channel)

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
        channel, market, clock, watches, on_trade, append, notifications, deliver, bridges, finish = (
            self._fixed or self._fix())
        callbacks = self.context.callbacks[self.kind.name]
        only = callbacks[0] if len(callbacks) == 1 else None
        for tick in ticks:
            clock.now = tick.timestamp
            append(tick)
            if watches(market):
                on_trade(market, tick.price, tick.volume)
            market.last_price = tick.price
            if notifications:
                deliver()
            if bridges is not None:
                bridges.update(channel)
            if only is not None:
                only(tick)
            else:
                for callback in callbacks:
                    callback(tick)
            if finish():
                return True
        return False

    def _fix(self) -> tuple:
        """What ``handle`` reads that stays the same for the whole run (made on first use)."""
        context, channel = self.context, self.channel
        broker = context.broker
        bridges = context.bridges if context.bridges.watches(channel) else None
        self._fixed = (channel, self.market, context.clock, broker.watches, broker.on_trade, channel.append,
                       context.notifications, context.deliver, bridges, context.finish)
        return self._fixed

    def _run_bulk(self, start: int, stop: int) -> bool:
        context, channel, market = self.context, self.channel, self.market
        seconds, prices = self._rows[0], self._rows[1]
        i = start
        while i < stop:
            end = min(i + self.block, stop)
            k = i + context.broker.first_candidate(market, seconds[i:end], prices[i:end])
            if seconds[k - 1 if k == end else k] >= context.next_timer:  # a timer fires at or before trade k
                k = i + int(np.searchsorted(seconds[i:end], context.next_timer, side="left"))
            if k > i:
                self._take_in_bulk(self._slice(i, k))
            if k == end:
                i = end
            elif self.handle(ticks_of(self._slice(k, k + 1), channel.symbol)):
                return True
            else:
                i = k + 1
            if context.stopping:
                return True
        return False

    def _slice(self, lo: int, hi: int) -> TradeRows:
        return tuple(column[lo:hi] for column in self._rows)

    def _take_in_bulk(self, rows: TradeRows) -> None:
        """Trades no order can react to: channel, last price, clock and equity samples only."""
        context, market = self.context, self.market
        seconds, prices = rows[0], rows[1]
        while seconds[-1] >= context.next_sample:  # equity at each sample time inside the rows
            j = int(np.searchsorted(seconds, context.next_sample, side="left"))
            market.last_price = float(prices[j])
            context.clock.now = float(seconds[j])
            context.sample()
        self.channel.extend(rows)
        market.last_price = float(prices[-1])
        context.clock.now = float(seconds[-1])
        context.count(len(seconds))


def _encode(tick: TickEvent) -> tuple:
    return (tick.timestamp, tick.price, tick.volume, tick.direction == "sell", tick.trade_id, tick.recv_timestamp)


def _decode(fields: Sequence[Any], symbol: str | None) -> TickEvent:
    timestamp, price, volume, is_sell, trade_id, recv_timestamp = fields
    return TickEvent(timestamp, price, volume, "sell" if is_sell else "buy", trade_id, symbol, recv_timestamp)


TRADES = Kind("tick", EventPriority.TICK, TickChannel, TradeStep, "notify_tick", events=(TickEvent,),
              codec=Codec(1, _encode, _decode), recording=TRADE_STREAM)
