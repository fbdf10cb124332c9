"""backtrader itself in the trades workload: one bar per trade through ``PandasData``."""

from __future__ import annotations

import time

import backtrader as bt

from ..scenarios import backtrader_frame
from .flip_strategies import BarFlip
from .workload import CASH, Outcome, Workload


def run_backtrader(workload: Workload) -> Outcome:
    """Building the frame is preparation; Cerebro set-up and the run are timed. A market
    order fills at the next bar's open: the next trade's price, as in tick mode."""
    started = time.perf_counter()
    frame = backtrader_frame(workload.trades_path(), workload.trades)
    prepared = time.perf_counter()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(CASH)
    cerebro.adddata(bt.feeds.PandasData(dataname=frame))
    cerebro.addstrategy(BarFlip, fast=workload.fast, slow=workload.slow)
    (strategy,) = cerebro.run()
    seconds = time.perf_counter() - prepared
    return Outcome(strategy.events, seconds, prepared - started, orders=strategy.orders,
                   fills=strategy.completed, pnl=cerebro.broker.getvalue() - CASH,
                   checks={"trades": strategy.events})
