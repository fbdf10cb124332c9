"""A tick-only run that trades, and numpy oracles computed from its equity curve and fills."""

from __future__ import annotations

import backtrader as bt
import numpy as np
import pytest

import backtrader_channels as bc
from tests.conftest import T0, bar_feed, write_minute_bars, write_trades_csv

START = T0 - 600.0  # 2024-12-31T23:50:00Z: the run crosses a year (and day) boundary
CASH = 100_000.0
MINUTES = 10  # bar runs: 1-minute bars from 00:00 to 00:10


def random_walk_trades(seconds: float = 1200.0, every: float = 0.25, seed: int = 3) -> list[tuple]:
    """One trade every ``every`` seconds from START, prices a seeded random walk near 94,000."""
    rng = np.random.default_rng(seed)
    count = int(seconds / every)
    prices = np.round(94_000.0 + np.cumsum(rng.normal(0.0, 4.0, count)), 2)
    sides = np.where(rng.random(count) < 0.5, "buy", "sell")
    return [(round(START + k * every, 3), float(prices[k]), 0.01, str(sides[k])) for k in range(count)]


class InAndOut(bt.Strategy):
    """Buys 0.5 BTC at trade ``enter`` and closes at trade ``leave``, for each (enter, leave)."""

    params = (("legs", ((102, 1502), (2001, 3103), (3503, 4702))),)  # fills inside seconds too

    def __init__(self):
        self.n = 0
        self.step_times = []  # the strategy's datetime at each analyzer/observer step

    def notify_tick(self, tick):
        self.n += 1
        for enter, leave in self.p.legs:
            if self.n == enter:
                self.buy(size=0.5)
            elif self.n == leave:
                self.close()


@pytest.fixture
def tick_run(tmp_path):
    """Run ``InAndOut`` tick-only with ``analyzers`` [(class, kwargs)]; returns (strategy, result)."""

    def run(analyzers=(), trades=None, equity_interval=1.0, stdstats=True, strategy=InAndOut, **params):
        path = write_trades_csv(tmp_path / "trades.csv", trades or random_walk_trades())
        cerebro = bt.Cerebro(stdstats=stdstats)
        cerebro.broker.setcash(CASH)
        cerebro.broker.setcommission(commission=0.001)
        cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=path)
        cerebro.addstrategy(strategy, **params)
        for number, (analyzer, kwargs) in enumerate(analyzers):
            cerebro.addanalyzer(analyzer, _name=f"a{number}", **kwargs)
        (ran,) = cerebro.run(mode=bt.RunMode.TICK, equity_interval=equity_interval)
        return ran, cerebro.tick_result

    return run


@pytest.fixture
def bar_run(tmp_path):
    """InAndOut over 10 minutes of trades with 1-minute bars (closes from the trades)."""
    trades = [row for row in random_walk_trades(seconds=1200.0) if row[0] >= T0]  # 00:00-00:10
    closes = [trades[240 * (k + 1) - 1][1] for k in range(MINUTES)]
    cerebro = bt.Cerebro()
    cerebro.broker.setcash(CASH)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.adddata(bar_feed(write_minute_bars(tmp_path / "bars.csv", closes)), name="BTC/USDT")
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=write_trades_csv(tmp_path / "t.csv", trades))
    cerebro.addstrategy(InAndOut, legs=((102, 501), (903, 1401), (1702, 2203)))
    cerebro.addanalyzer(bt.analyzers.TimeReturn, timeframe=bt.TimeFrame.Minutes, _name="minutes")
    cerebro.addanalyzer(bt.analyzers.DrawDown, _name="drawdown")
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    return strategy, cerebro.tick_result


def period_last_values(times: np.ndarray, values: np.ndarray, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """The last equity value of each ``seconds`` period that has samples, and that period's start."""
    period = np.floor(times / seconds)
    last = np.r_[np.flatnonzero(np.diff(period)), len(values) - 1]
    return period[last] * seconds, values[last]


def period_returns(result, seconds: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-period returns of the equity curve (the first from the starting cash), by period start."""
    starts, last = period_last_values(result.equity_times, result.equity_values, seconds)
    return starts, last / np.r_[result.start_cash, last[:-1]] - 1.0


def drawdown_pct(values: np.ndarray) -> float:
    peaks = np.maximum.accumulate(values)
    return float(100.0 * np.max((peaks - values) / peaks))
