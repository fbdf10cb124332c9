"""Orders as cheap as trades (issue 23): the quoting workload (cancel and replace a bid and an
ask 5 USDT from the price every 20 trades) and 1,000 limits resting far from the price; each
run's orders, fills and cash are checked against the trades themselves."""

from __future__ import annotations

import numpy as np
import pytest

from backtrader_channels.bench import scenario_order_flow
from backtrader_channels.bench.strategies import FarLimits, Quoter
from backtrader_channels.sources import open_trades

from .benchmark_rounds import measure


def prices(path) -> np.ndarray:
    return np.concatenate([chunk.price for chunk in open_trades(path).chunks()])


@pytest.mark.benchmark(group="orders")
def test_quoting_throughput(benchmark, inputs, sizes):
    n = sizes.ticks
    trades = inputs.trades(n)
    price = prices(trades)
    quoted = np.arange(19, n - 1, 20)  # the 20th, 40th, ... trade places the quotes; they work from the next one
    window = np.lib.stride_tricks.sliding_window_view(np.append(price, price[-1]), 20)[quoted + 1]
    reached = (window.max(axis=1) > price[quoted] + 5.0) | (window.min(axis=1) < price[quoted] - 5.0)
    assert not reached.any()  # no trade prints through a quote before it is replaced: none fills
    runs = measure(benchmark, lambda: scenario_order_flow(trades, Quoter), sizes.rounds,
                   orders_per_second=0.0)
    for run in runs:
        assert run.count == n
        rounds = n // 20
        assert run.checks["orders"] == 2 * rounds + 2 * (rounds - 1)  # placed, and all but the last pair cancelled
        assert run.checks["fills"] == 0 and run.checks["cash"] == 1_000_000.0
    benchmark.extra_info["orders_per_second"] = runs[-1].checks["orders"] / runs[-1].seconds


@pytest.mark.benchmark(group="orders")
def test_far_limits_resting_through_a_run(benchmark, inputs, sizes):
    n = sizes.ticks
    trades = inputs.trades(n)
    price = prices(trades)
    assert price.max() < 2 * price[0] and price.min() > price[0] / 2  # no trade reaches the limits
    runs = measure(benchmark, lambda: scenario_order_flow(trades, FarLimits, orders=1_000), sizes.rounds)
    for run in runs:
        assert run.count == n and run.checks["fills"] == 0 and run.checks["cash"] == 1_000_000.0
