"""What costs what: the target 1/2/3 workloads with one thing changed at a time (no goals, one round)."""

from __future__ import annotations

import pytest

from backtrader_channels.bench import COSTS

from .benchmark_rounds import measure


@pytest.mark.benchmark(group="costs")
@pytest.mark.parametrize("name", list(COSTS))
def test_cost_of(benchmark, inputs, sizes, name):
    unit, run = COSTS[name]
    runs = measure(benchmark, lambda: run(inputs, sizes), 1, key=unit.replace("/s", "_per_second"))
    expected = 2 * sizes.book_updates if "books" in name else sizes.ticks
    assert all(r.count == expected for r in runs)
