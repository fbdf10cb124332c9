"""Target 7: peak RSS of target 2's run, in a fresh interpreter, for a small and a large
input (1M and 17M trades in full mode): flat in the input's length, under 200 MB."""

from __future__ import annotations

import pytest

from backtrader_channels.bench import scenario_memory

from .benchmark_rounds import measure
from .oracles import bar_closes


@pytest.mark.benchmark(group="7-memory")
@pytest.mark.parametrize("which", [0, 1], ids=["small", "large"])
def test_peak_rss_of_a_streaming_run(benchmark, inputs, sizes, which):
    n = sizes.memory_rows[which]
    trades, bars = inputs.trades(n), inputs.bars(n)
    runs = measure(benchmark, lambda: scenario_memory(trades, bars), 1, key="trades_per_second")
    run = runs[-1]
    bar_count = len(bar_closes(bars)[0])
    assert run.count == n
    assert run.checks["events"] == n + bar_count
    assert run.checks["completed"] == run.checks["fills"] > 0
    benchmark.extra_info["peak_rss_mb"] = run.checks["peak_rss_mb"]
    benchmark.extra_info["baseline_rss_mb"] = run.checks["baseline_rss_mb"]
    benchmark.extra_info["seconds"] = run.seconds
