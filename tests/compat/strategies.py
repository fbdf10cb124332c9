"""Strategies modelled on backtrader's own samples (samples/ in its repository), rewritten for
1-minute crypto bars. Each names the sample it follows; the behaviour carries over, the code
does not."""

from __future__ import annotations

import datetime as dt
from typing import Any

import backtrader as bt

from .harness import Recorded


class SmaCross(Recorded):
    """samples/sigsmacross (the Strategy form): long when the fast SMA crosses above the slow
    one, flat when it crosses back below; market orders."""

    params = (("fast", 5), ("slow", 15), ("size", 1.0))

    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow))

    def next(self) -> None:
        self.signal(self.cross[0])
        if self.cross[0] > 0 and not self.position:
            self.buy(size=self.p.size)
        elif self.cross[0] < 0 and self.position:
            self.close()


class SignalSmaCross(Recorded, bt.SignalStrategy):
    """samples/sigsmacross/sigsmacross2.py: the same crossover as a long-only SignalStrategy."""

    params = (("fast", 5), ("slow", 15))

    def __init__(self) -> None:
        cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow))
        self.signal_add(bt.SIGNAL_LONG, cross)
        self.cross = cross

    def next(self) -> None:
        self.signal(self.cross[0])


class MultiDataCross(Recorded):
    """samples/multidata-strategy: an SMA on the second data signals, orders trade the first;
    long only (buy on the close crossing above the SMA, sell on crossing below)."""

    params = (("period", 15), ("stake", 10))

    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(self.data1.close, bt.ind.SMA(self.data1.close, period=self.p.period))
        self.pending = None

    def notify_order(self, order: Any) -> None:
        super().notify_order(order)
        if not order.alive():
            self.pending = None

    def next(self) -> None:
        self.signal(self.cross[0])
        if self.pending is not None:
            return
        if not self.getposition(self.data0).size:
            if self.cross[0] > 0:
                self.pending = self.buy(data=self.data0, size=self.p.stake)
        elif self.cross[0] < 0:
            self.pending = self.sell(data=self.data0, size=self.p.stake)


class BracketCross(Recorded):
    """samples/bracket: on an up-cross, a bracket: a buy limit a little under the close, a
    protective sell stop under it and a take-profit sell limit over it."""

    params = (("fast", 5), ("slow", 15), ("limit", 0.001), ("width", 0.004))

    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow))
        self.live: list = []

    def notify_order(self, order: Any) -> None:
        super().notify_order(order)
        if not order.alive() and order.ref in self.live:
            self.live.remove(order.ref)

    def next(self) -> None:
        self.signal(self.cross[0])
        if self.live or self.position or self.cross[0] <= 0:
            return
        close = self.data.close[0]
        entry = round(close * (1.0 - self.p.limit), 2)
        orders = self.buy_bracket(size=1.0, price=entry, stopprice=round(entry - self.p.width * close, 2),
                                  limitprice=round(entry + self.p.width * close, 2))
        self.live = [order.ref for order in orders]


class OcoCross(Recorded):
    """samples/oco: on an up-cross, three buy limits at falling prices in one OCO group (the
    first to fill cancels the others); the position is closed after ``hold`` bars."""

    params = (("fast", 5), ("slow", 15), ("step", 0.001), ("hold", 10))

    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow))
        self.live: list = []
        self.held_since = 0

    def notify_order(self, order: Any) -> None:
        super().notify_order(order)
        if order.status == order.Completed and order.isbuy():
            self.held_since = len(self)
        if not order.alive() and order.ref in self.live:
            self.live.remove(order.ref)

    def next(self) -> None:
        self.signal(self.cross[0])
        if self.live:
            return
        if self.position:
            if len(self) - self.held_since >= self.p.hold:
                self.live = [self.close().ref]
            return
        if self.cross[0] > 0:
            close = self.data.close[0]
            first = self.buy(size=1.0, exectype=bt.Order.Limit, price=round(close * (1 - self.p.step), 2))
            others = [self.buy(size=1.0, exectype=bt.Order.Limit, price=round(close * (1 - k * self.p.step), 2),
                               oco=first) for k in (2, 3)]
            self.live = [order.ref for order in (first, *others)]


class AnalyzedCross(SmaCross):
    """samples/writer-test (its analyzers): the crossover with SQN, SharpeRatio, DrawDown and
    TradeAnalyzer attached (``analyzed`` adds them)."""


def analyzed(cerebro: bt.Cerebro) -> None:
    cerebro.addanalyzer(bt.analyzers.SQN, _name="sqn")
    cerebro.addanalyzer(bt.analyzers.SharpeRatio, _name="sharpe", timeframe=bt.TimeFrame.Minutes, compression=60)
    cerebro.addanalyzer(bt.analyzers.DrawDown, _name="drawdown")
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")


def observed(cerebro: bt.Cerebro) -> None:
    """samples/observers: the standard observers (run with stdstats) plus a DrawDown observer."""
    cerebro.addobserver(bt.observers.DrawDown)


def percent_sized(cerebro: bt.Cerebro) -> None:
    """samples/sizertest: stakes from a sizer (20% of the cash per entry) instead of sizes."""
    cerebro.addsizer(bt.sizers.PercentSizer, percents=20)


class SizedCross(SmaCross):
    """samples/sizertest: the crossover with stakes from the cerebro's sizer."""

    def next(self) -> None:
        self.signal(self.cross[0])
        if self.cross[0] > 0 and not self.position:
            self.buy()
        elif self.cross[0] < 0 and self.position:
            self.close()


class TimedTrader(Recorded):
    """samples/timers: a timer at 00:30 repeating every 45 minutes; each call flips the
    position (buy when flat, close when long), recording when the timer fired."""

    def __init__(self) -> None:
        self.add_timer(when=dt.time(0, 30), repeat=dt.timedelta(minutes=45))
        self.fired: list = []

    def notify_timer(self, timer: Any, when: Any, *args: Any, **kwargs: Any) -> None:
        self.fired.append(when)
        if self.position:
            self.close()
        else:
            self.buy(size=1.0)
