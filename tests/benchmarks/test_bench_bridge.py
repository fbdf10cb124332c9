"""Target 4: ChannelBridge + SMA(20) on every trade of a backtest (>= 200k ticks/s)."""

from __future__ import annotations

import pytest

from backtrader_channels.bench import scenario_bridge

from .benchmark_rounds import measure
from .oracles import trade_totals


@pytest.mark.benchmark(group="4-bridge")
def test_channel_bridge_sma(benchmark, inputs, sizes):
    trades = inputs.trades(sizes.bridge_ticks)
    expected = trade_totals(trades)
    runs = measure(benchmark, lambda: scenario_bridge(trades), sizes.rounds, key="ticks_per_second")
    for run in runs:
        assert run.count == run.checks["bridge_len"] == expected.rows == sizes.bridge_ticks
        assert run.checks["last_sma"] == pytest.approx(expected.last_prices.mean(), rel=1e-12)
