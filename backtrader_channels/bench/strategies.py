"""The strategies the benchmarks run: each does the least its workload needs."""

from __future__ import annotations

import math

import backtrader as bt

import backtrader_channels as bc

from .measure import SYMBOLS

# --- strategies -----------------------------------------------------------------------------


class TickArithmetic(bt.Strategy):
    """Target 1: a little arithmetic per trade (count, notional, an EWMA of the price)."""

    def __init__(self) -> None:
        self.count = 0
        self.notional = 0.0
        self.ewma = 0.0

    def notify_tick(self, tick: bc.TickEvent) -> None:
        self.count += 1
        self.notional += tick.price * tick.volume
        self.ewma += 0.01 * (tick.price - self.ewma)


class EmptyTick(bt.Strategy):
    """Cost table: a ``notify_tick`` that does nothing."""

    def __init__(self) -> None:
        self.count = 0

    def notify_tick(self, tick: bc.TickEvent) -> None:
        pass

    def stop(self) -> None:
        self.count = len(self.channels[("tick", SYMBOLS[0])])


class NextPerTrade(bt.Strategy):
    """Cost table: no tick callback, the arithmetic in ``next()`` (called after every trade)."""

    def __init__(self) -> None:
        self.trades = self.channels[("tick", SYMBOLS[0])]
        self.count = 0
        self.notional = 0.0

    def next(self) -> None:
        tick = self.trades.latest
        self.count += 1
        self.notional += tick.price * tick.volume


class BarArithmetic(bt.Strategy):
    """Target 1 in backtrader's engine: each tick is a bar; ``next`` does the same arithmetic."""

    def __init__(self) -> None:
        self.count = 0
        self.notional = 0.0
        self.ewma = 0.0

    def next(self) -> None:
        price = self.data.close[0]
        self.count += 1
        self.notional += price * self.data.volume[0]
        self.ewma += 0.01 * (price - self.ewma)


class RestingLimits(bt.Strategy):
    """Target 2: on each 1-minute bar, re-quote ``orders`` resting limits around the close.

    No tick callback. ``next`` also runs after every trade once the bars warmed up (the
    documented tick-mode rule), so it returns at once unless a new bar closed.
    """

    params = (("orders", 2), ("step", 5.0), ("size", 0.01))

    def __init__(self) -> None:
        self.bars = 0
        self.completed = 0
        self.working: list[bt.Order] = []

    def next(self) -> None:
        if len(self.data) == self.bars:
            return  # a trade step, not a bar close
        self.bars = len(self.data)
        self.requote()

    def requote(self) -> None:
        for order in self.working:
            if order.alive():
                self.cancel(order)
        close, step, size = self.data.close[0], self.p.step, self.p.size
        pairs = self.p.orders // 2
        self.working = [self.buy(exectype=bt.Order.Limit, price=close - k * step, size=size)
                        for k in range(1, pairs + 1)]
        self.working += [self.sell(exectype=bt.Order.Limit, price=close + k * step, size=size)
                         for k in range(1, pairs + 1)]

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            self.completed += 1


class EmaFlip(bt.Strategy):
    """Order-heavy: a fast and a slow EMA of the price in ``notify_tick``; a market buy of
    ``size`` when the fast one crosses above, a market sell of the position when it crosses
    below (about one order per 15 generated trades)."""

    params = (("fast", 0.1), ("slow", 0.01), ("size", 0.01))

    def __init__(self) -> None:
        self.fast = self.slow = math.nan
        self.above: bool | None = None
        self.orders = 0
        self.completed = 0

    def notify_tick(self, tick: bc.TickEvent) -> None:
        price = tick.price
        if math.isnan(self.fast):  # the first trade starts both EMAs
            self.fast = self.slow = price
        self.fast += self.p.fast * (price - self.fast)
        self.slow += self.p.slow * (price - self.slow)
        above = self.fast > self.slow
        if above == self.above:
            return
        self.above = above
        if above:
            self.buy(size=self.p.size)
            self.orders += 1
        elif self.position.size > 0:
            self.sell(size=self.position.size)
            self.orders += 1

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            self.completed += 1


class BookReader(bt.Strategy):
    """Target 3: reads best bid/ask and depth(10) of each book update; target 1's sum per trade."""

    params = (("depth", 10),)

    def __init__(self) -> None:
        self.ticks = 0
        self.books = 0
        self.notional = 0.0
        self.spread_sum = 0.0
        self.depth_size = 0.0

    def notify_tick(self, tick: bc.TickEvent) -> None:
        self.ticks += 1
        self.notional += tick.price * tick.volume

    def notify_orderbook(self, book: bc.OrderBook) -> None:
        self.books += 1
        bid, ask = book.best_bid, book.best_ask
        if bid is None or ask is None:  # a one-sided book has no spread
            return
        self.spread_sum += ask.price - bid.price
        if self.p.depth:
            bids, asks = book.depth(self.p.depth)
            self.depth_size = bids[-1].size + asks[-1].size


class BridgeSMA(bt.Strategy):
    """Target 4: SMA(20) over a ChannelBridge of the trade price, read on every trade."""

    def __init__(self) -> None:
        self.bridge = bc.ChannelBridge(  # type: ignore[call-arg]  # backtrader's metaclass takes params as keywords
            channel=self.channels[("tick", SYMBOLS[0])], field="price")
        self.sma = bt.indicators.SMA(self.bridge, period=20)
        self.count = 0
        self.last_sma = math.nan

    def notify_tick(self, tick: bc.TickEvent) -> None:
        self.count += 1
        self.last_sma = self.sma[0]


class Quoter(bt.Strategy):
    """A market maker's loop: every ``every`` trades, cancel both working quotes and place a
    bid and an ask ``width`` from the trade price (two cancels and two orders)."""

    params = (("every", 20), ("width", 5.0), ("size", 0.01))

    def __init__(self) -> None:
        self.count = 0
        self.orders = 0  # placed and cancelled
        self.completed = 0
        self.quotes: list[bt.Order] = []

    def notify_tick(self, tick: bc.TickEvent) -> None:
        self.quote(tick.price)

    def quote(self, price: float) -> None:
        self.count += 1
        if self.count % self.p.every:
            return
        for order in self.quotes:
            if order.alive():
                self.cancel(order)
                self.orders += 1
        width, size = self.p.width, self.p.size
        self.quotes = [self.buy(exectype=bt.Order.Limit, price=price - width, size=size),
                       self.sell(exectype=bt.Order.Limit, price=price + width, size=size)]
        self.orders += 2

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            self.completed += 1


class BarQuoter(Quoter):
    """``Quoter`` in backtrader's engine: each trade is a bar; it quotes from ``next``."""

    def next(self) -> None:
        self.quote(self.data.close[0])


class FlipEvery(bt.Strategy):
    """Every ``every`` trades a market order: buy ``size`` when flat, sell it when long
    (``every=1``: an order on every trade)."""

    params = (("every", 20), ("size", 0.01))

    def __init__(self) -> None:
        self.count = 0
        self.orders = 0
        self.long = False

    def notify_tick(self, tick: bc.TickEvent) -> None:
        self.count += 1
        if self.count % self.p.every:
            return
        (self.sell if self.long else self.buy)(size=self.p.size)
        self.long = not self.long
        self.orders += 1


class FarLimits(TickArithmetic):
    """``TickArithmetic`` with ``orders`` limits resting far from the price from the first
    trade on (half bids at half the price, half asks at twice it): they never fill."""

    params = (("orders", 1_000),)

    def notify_tick(self, tick: bc.TickEvent) -> None:
        if not self.count:
            for k in range(self.p.orders):
                if k % 2:
                    self.sell(exectype=bt.Order.Limit, price=tick.price * 2 + k, size=0.001)
                else:
                    self.buy(exectype=bt.Order.Limit, price=tick.price / 2 - k, size=0.001)
        super().notify_tick(tick)
