"""This project in the peers' workloads: channels from the files, ``cerebro.run(mode=TICK)``."""

from __future__ import annotations

import time

import backtrader as bt

import backtrader_channels as bc

from ..measure import SYMBOLS
from ..scenarios import tick_cerebro
from ..strategies import BookReader
from .flip_strategies import TickFlip
from .workload import CASH, Outcome, Workload


def run_ours(workload: Workload) -> Outcome:
    """Cerebro set-up, reading the Parquet files and the run are all timed."""
    started = time.perf_counter()
    if workload.kind == "book":
        cerebro = tick_cerebro(BookReader, depth=0)
        cerebro.add_channel(bc.OrderBookChannel, symbol=SYMBOLS[0], dataname=workload.book_path())
    else:
        cerebro = tick_cerebro(TickFlip, fast=workload.fast, slow=workload.slow)
    cerebro.broker.setcash(CASH)
    cerebro.add_channel(bc.TickChannel, symbol=SYMBOLS[0], dataname=workload.trades_path())
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    seconds = time.perf_counter() - started
    if workload.kind == "book":
        return Outcome(strategy.ticks + strategy.books, seconds,
                       checks={"trades": strategy.ticks, "book_updates": strategy.books,
                               "spread_sum": strategy.spread_sum})
    fills = cerebro.tick_result.fills
    return Outcome(strategy.events, seconds, orders=strategy.orders, fills=strategy.completed,
                   pnl=cerebro.broker.getvalue() - CASH,
                   checks={"trades": strategy.events, "fill_prices": [fill.price for fill in fills]})
