"""The peers' strategy rule as backtrader strategies: per trade (tick mode) and per bar."""

from __future__ import annotations

import backtrader as bt

import backtrader_channels as bc

from .workload import SIZE, EmaCross


class Flipper(bt.Strategy):
    """``flip(price)``: buy ``SIZE`` when the fast EMA crosses above the slow one, sell the
    position when it crosses below (see ``EmaCross``)."""

    params = (("fast", 0.01), ("slow", 0.001))

    def __init__(self) -> None:
        self.cross = EmaCross(self.p.fast, self.p.slow)
        self.events = 0
        self.orders = 0
        self.completed = 0

    def flip(self, price: float) -> None:
        move = self.cross.update(price)
        if move > 0:
            self.buy(size=SIZE)
            self.orders += 1
        elif move < 0 and self.position.size > 0:
            self.sell(size=self.position.size)
            self.orders += 1

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            self.completed += 1


class TickFlip(Flipper):
    """Tick mode: the rule in ``notify_tick``, on every trade."""

    def notify_tick(self, tick: bc.TickEvent) -> None:
        self.events += 1
        self.flip(tick.price)


class BarFlip(Flipper):
    """backtrader's own engine, one bar per trade: the rule in ``next`` on the bar's close."""

    def next(self) -> None:
        self.events += 1
        self.flip(self.data.close[0])
