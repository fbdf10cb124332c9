"""Target 2: 1-minute bars from ``adddata``, no tick callback, resting limits re-quoted in
``next()`` and matched on every trade (>= 3M trades/s)."""

from __future__ import annotations

import pytest

from backtrader_channels.bench import scenario_limits

from .benchmark_rounds import measure
from .oracles import bar_closes, limit_fills


@pytest.mark.benchmark(group="2-resting-limits")
def test_resting_limits_throughput(benchmark, inputs, sizes):
    n = sizes.limit_trades
    trades, bars = inputs.trades(n), inputs.bars(n)
    runs = measure(benchmark, lambda: scenario_limits(trades, bars, orders=2), sizes.rounds,
                   key="trades_per_second")
    expected = limit_fills(trades, bars, step=5.0, pairs=1)
    bar_count = len(bar_closes(bars)[0])
    for run in runs:
        checks = run.checks
        assert run.count == n
        assert checks["bars"] == bar_count
        assert checks["events"] == n + bar_count
        assert checks["completed"] == checks["fills"] == len(expected) > 0
        assert sorted(checks["fill_prices"]) == expected
    benchmark.extra_info["fills"] = len(expected)
