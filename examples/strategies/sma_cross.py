"""An SMA crossover for ``btchannels backtest --bars 1m``: long when the fast average of the
bars' closes crosses over the slow one, flat when it crosses back. The bars are made from
the trades; orders fill at the trades after the bar's close.

    btchannels backtest examples/strategies/sma_cross.py --ticks TRADES --bars 1m --param fast=5
"""

import backtrader as bt


class SmaCross(bt.Strategy):
    params = (("fast", 10), ("slow", 30), ("size", 0.01))

    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow))

    def next(self) -> None:
        if self.cross[0] > 0 and not self.position:
            self.buy(size=self.p.size)
        elif self.cross[0] < 0 and self.position:
            self.close()
