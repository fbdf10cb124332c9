"""Target 1: trades only, one symbol, ``notify_tick`` doing a little arithmetic (>= 1M events/s),
and the same ticks through backtrader's own engine for the ratio (>= 100x)."""

from __future__ import annotations

import pytest

from backtrader_channels.bench import backtrader_frame, scenario_backtrader, scenario_ticks

from .benchmark_rounds import measure
from .oracles import trade_totals


@pytest.mark.benchmark(group="1-ticks")
def test_notify_tick_throughput(benchmark, inputs, sizes):
    trades = inputs.trades(sizes.ticks)
    expected = trade_totals(trades)
    runs = measure(benchmark, lambda: scenario_ticks(trades), sizes.rounds)
    for run in runs:
        assert run.count == run.checks["events"] == expected.rows == sizes.ticks
        assert run.checks["notional"] == pytest.approx(expected.notional, rel=1e-9)


@pytest.mark.benchmark(group="1-ticks")
def test_backtrader_same_ticks_as_bars(benchmark, inputs, sizes):
    trades = inputs.trades(sizes.ticks)
    frame = backtrader_frame(trades, sizes.backtrader_ticks)
    runs = measure(benchmark, lambda: scenario_backtrader(frame), sizes.rounds)
    notional = float((frame["close"] * frame["volume"]).sum())
    for run in runs:
        assert run.count == len(frame) == sizes.backtrader_ticks
        assert run.checks["notional"] == pytest.approx(notional, rel=1e-9)
    ours = scenario_ticks(trades)
    benchmark.extra_info["tick_mode_events_per_second"] = ours.rate
    benchmark.extra_info["ratio_tick_mode_vs_backtrader"] = ours.rate / benchmark.extra_info["events_per_second"]
