"""``cerebro.optstrategy`` in tick mode on several processes: the serial run's results, in
its order, each parameter set with its own tick_result and analyzers."""

from __future__ import annotations

import glob

import backtrader as bt

import backtrader_channels  # noqa: F401
from backtrader_channels import TickChannel
from backtrader_channels.strategy_file import load_strategy
from tests.sweep.conftest import STRATEGY


def optimise(ticks: str, **run_kwargs):
    seen = []
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(10_000.0)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.add_channel(TickChannel, symbol="BTC/USDT", dataname=ticks)
    cerebro.optstrategy(load_strategy(STRATEGY), fast=[10, 20, 40], slow=[100, 200])
    cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="trades")
    cerebro.optcallback(lambda strategies: seen.append(strategies[0].p.fast))
    return cerebro, cerebro.run(mode=bt.RunMode.TICK, **run_kwargs), seen


def summary(strategies):
    (strategy,) = strategies
    result = strategy.tick_result
    fills = [fill[:5] for fill in result.fills]  # order refs count on across runs of a process
    return ((strategy.p.fast, strategy.p.slow), result.end_value, fills, result.trades_closed,
            result.equity_values.tolist(), strategy.analyzers.trades.get_analysis().total.closed)


def test_parallel_optimisation_returns_the_serial_results_in_the_serial_order(btc_days):
    ticks = sorted(glob.glob(btc_days))[0]
    serial_cerebro, serial, serial_seen = optimise(ticks, maxcpus=1)
    parallel_cerebro, parallel, parallel_seen = optimise(ticks)  # default: every core
    assert isinstance(serial[0][0], bt.Strategy) and isinstance(parallel[0][0], bt.cerebro.OptReturn)
    assert [summary(s) for s in parallel] == [summary(s) for s in serial]
    assert [summary(s)[0] for s in parallel] == [(f, s) for f in (10, 20, 40) for s in (100, 200)]
    assert len({id(s[0].tick_result) for s in parallel}) == 6  # each its own result
    assert len({s[0].tick_result.end_value for s in parallel}) == 6
    assert parallel_seen == serial_seen == [10, 10, 20, 20, 40, 40]
    assert parallel_cerebro.tick_result.end_value == serial_cerebro.tick_result.end_value
    assert parallel[0][0].strategycls.__name__ == "MovingAverageCross"


def test_a_locally_defined_strategy_runs_in_worker_processes(btc_days):
    class Buyer(bt.Strategy):  # not importable, so nothing of it may need pickling
        params = (("size", 0.01),)

        def notify_tick(self, tick):
            if not self.position:
                self.buy(size=self.p.size)

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.add_channel(TickChannel, symbol="BTC/USDT", dataname=sorted(glob.glob(btc_days))[0])
    cerebro.optstrategy(Buyer, size=[0.01, 0.02])
    runs = cerebro.run(mode=bt.RunMode.TICK, maxcpus=2)
    assert [run[0].p.size for run in runs] == [0.01, 0.02]
    assert [[fill.size for fill in run[0].tick_result.fills] for run in runs] == [[0.01], [0.02]]
    assert runs[0][0].strategycls is Buyer
