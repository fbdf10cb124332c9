"""Scaling: target 1 (``notify_tick`` per trade) and target 2 (bars + 2 resting limits) on days of
growing length (quick: 100,000 and 400,000 trades; full: 1, 5 and 17 million), each run in a
fresh interpreter: wall time should grow linearly and peak RSS stay flat (see the ``scale`` rows
of ``btchannels bench``). Counts and totals are asserted; times and memory are recorded."""

from __future__ import annotations

import pytest

from backtrader_channels.bench import scenario_fresh, sizes_from_env

from .benchmark_rounds import measure
from .oracles import bar_closes, limit_fills, trade_totals

LENGTHS = [f"{n:,}" for n in sizes_from_env().scaling_trades]  # the lengths of this session's sizes


def scaled(benchmark, inputs, sizes, which: str, index: int):
    n = sizes.scaling_trades[index]
    trades, bars = inputs.trades(n), inputs.bars(n)
    (run,) = measure(benchmark, lambda: scenario_fresh(which, trades, bars), 1, key="trades_per_second")
    benchmark.extra_info.update(seconds=run.seconds, peak_rss_mb=run.checks["peak_rss_mb"],
                                baseline_rss_mb=run.checks["baseline_rss_mb"])
    return n, trades, bars, run


@pytest.mark.benchmark(group="scale-ticks")
@pytest.mark.parametrize("index", range(len(LENGTHS)), ids=LENGTHS)
def test_notify_tick_scales_with_the_day(benchmark, inputs, sizes, index):
    n, trades, _, run = scaled(benchmark, inputs, sizes, "ticks", index)
    expected = trade_totals(trades)
    assert run.count == run.checks["events"] == expected.rows == n
    assert run.checks["notional"] == pytest.approx(expected.notional, rel=1e-9)


@pytest.mark.benchmark(group="scale-limits")
@pytest.mark.parametrize("index", range(len(LENGTHS)), ids=LENGTHS)
def test_resting_limits_scale_with_the_day(benchmark, inputs, sizes, index):
    n, trades, bars, run = scaled(benchmark, inputs, sizes, "limits", index)
    expected = limit_fills(trades, bars, step=5.0, pairs=1)
    assert run.count == n
    assert run.checks["events"] == n + len(bar_closes(bars)[0])
    assert sorted(run.checks["fill_prices"]) == expected
    assert run.checks["completed"] == run.checks["fills"] == len(expected) > 0
