"""A 1-minute-bar SMA-cross strategy over a day of trades: on the trades through
``cerebro.resampledata(channel, ...)`` (events: trades + bar closes), and in plain backtrader
on the same day's 1-minute bars (events: bars). Both record events/s; the two runs must
create the same orders at the same bars and fill the market orders at the same prices."""

from __future__ import annotations

import time
from pathlib import Path

import backtrader as bt
import pytest

import backtrader_channels as bc
from backtrader_channels.bench import Inputs, Measured, Sizes
from backtrader_channels.bench.inputs import MinuteBars, trade_chunks
from backtrader_channels.bench.measure import SYMBOLS
from backtrader_channels.sources import write_trades

from .benchmark_rounds import measure

DAY = 86_400.0
DAY_TRADES = {"quick": 200_000, "full": 1_000_000}  # trades over the day, by BTCHANNELS_BENCH_SIZE


@pytest.fixture(scope="module")
def day(inputs: Inputs, sizes: Sizes) -> tuple[Path, Path, int]:
    """A whole day of trades (Parquet) and its 1-minute bars (CSV, stamped at their close)."""
    n = DAY_TRADES[sizes.name]
    trades, bars = inputs.root / f"day-trades-{n}.parquet", inputs.root / f"day-bars-{n}.csv"
    if not (trades.exists() and bars.exists()):
        minute_bars = MinuteBars(DAY)
        write_trades(trades, (minute_bars.add(chunk) for chunk in trade_chunks(n, seconds=DAY)))
        minute_bars.write_csv(bars)
    return trades, bars, n


class SmaCross(bt.Strategy):
    """Long on SMA(10) crossing above SMA(30), flat on the cross back; orders logged."""

    def __init__(self) -> None:
        self.cross = bt.ind.CrossOver(bt.ind.SMA(period=10), bt.ind.SMA(period=30))
        self.made: list = []
        self.fills: list = []

    def next(self) -> None:
        if self.cross[0] > 0 and not self.position:
            self.buy(size=0.01)
            self.made.append(self.data.datetime.datetime(0))
        elif self.cross[0] < 0 and self.position:
            self.close()
            self.made.append(self.data.datetime.datetime(0))

    def notify_order(self, order: bt.Order) -> None:
        if order.status == order.Completed:
            self.fills.append((order.executed.price, order.executed.size))


def on_ticks(trades: Path) -> Measured:
    started = time.perf_counter()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(1_000_000.0)
    channel = cerebro.add_channel(bc.TickChannel, symbol=SYMBOLS[0], dataname=trades)
    cerebro.resampledata(channel, timeframe=bt.TimeFrame.Minutes, compression=1)
    cerebro.addstrategy(SmaCross)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    return Measured(cerebro.tick_result.events, time.perf_counter() - started,
                    {"bars": len(strategy.data), "made": strategy.made, "fills": strategy.fills})


def on_bars(bars: Path) -> Measured:
    started = time.perf_counter()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(1_000_000.0)
    cerebro.adddata(bt.feeds.GenericCSVData(
        dataname=str(bars), dtformat="%Y-%m-%d %H:%M:%S", timeframe=bt.TimeFrame.Minutes,
        datetime=0, open=1, high=2, low=3, close=4, volume=5, openinterest=-1))
    cerebro.addstrategy(SmaCross)
    (strategy,) = cerebro.run()
    return Measured(len(strategy.data), time.perf_counter() - started,
                    {"bars": len(strategy.data), "made": strategy.made, "fills": strategy.fills})


@pytest.mark.benchmark(group="resample")
def test_bar_strategy_on_a_day_of_trades(benchmark, day, sizes):
    trades, bars, n = day
    runs = measure(benchmark, lambda: on_ticks(trades), sizes.rounds)
    plain = on_bars(bars)
    for run in runs:
        assert run.count == n + run.checks["bars"]  # every trade, and every bar close
        assert run.checks["bars"] == plain.checks["bars"] == 1440  # a day of 1-minute bars
        assert run.checks["made"] == plain.checks["made"] and len(plain.checks["made"]) >= 10
        assert run.checks["fills"] == plain.checks["fills"]  # a trade in every minute: next opens
    benchmark.extra_info["seconds"] = min(run.seconds for run in runs)


@pytest.mark.benchmark(group="resample")
def test_plain_backtrader_on_the_same_bars(benchmark, day, sizes):
    _, bars, _ = day
    runs = measure(benchmark, lambda: on_bars(bars), sizes.rounds)
    for run in runs:
        assert run.count == 1440
    benchmark.extra_info["seconds"] = min(run.seconds for run in runs)
