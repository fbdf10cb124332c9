"""Order-heavy: a market order about every 15 trades (``EmaFlip``), each through backtrader's
submit, accept, fill, notifications and trade bookkeeping (>= 500k events/s is the goal)."""

from __future__ import annotations

import pytest

from backtrader_channels.bench import scenario_orders

from .benchmark_rounds import measure
from .oracles import ema_flip_fills


@pytest.mark.benchmark(group="orders")
def test_order_heavy_throughput(benchmark, inputs, sizes):
    n = sizes.ticks
    trades = inputs.trades(n)
    runs = measure(benchmark, lambda: scenario_orders(trades), sizes.rounds)
    expected = ema_flip_fills(trades)
    buys = [price for price in expected if price > 0]
    for run in runs:
        checks = run.checks
        assert run.count == n
        assert checks["orders"] == checks["completed"] == checks["fills"] == len(expected) > n // 30
        assert checks["fill_prices"] == [abs(price) for price in expected]
        assert checks["trades_closed"] == len(expected) - len(buys)
        assert checks["cash"] == pytest.approx(1_000_000.0 - 0.01 * sum(expected), abs=1e-6)
    benchmark.extra_info["fills"] = len(expected)
