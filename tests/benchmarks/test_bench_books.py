"""Target 3: two symbols merged, order-book deltas (10 levels per update on 1,000-level books,
best bid/ask and depth(10) read per update) with and without trades (>= 500k level updates/s,
>= 500k merged events/s)."""

from __future__ import annotations

import pytest

from backtrader_channels.bench import SYMBOLS, scenario_books

from .benchmark_rounds import measure
from .oracles import book_top


def check_books(run, inputs, sizes, trades: bool) -> None:
    checks = run.checks
    symbols = len(SYMBOLS)
    assert checks["books"] == symbols * sizes.book_updates
    assert checks["ticks"] == (symbols * sizes.book_trades if trades else 0)
    assert run.count == checks["books"] + checks["ticks"]
    assert checks["levels"] == symbols * (10 * (sizes.book_updates - 1) + 2 * sizes.book_levels)
    for index, symbol in enumerate(SYMBOLS):
        expected = book_top(inputs.book(index, sizes.book_updates, sizes.book_levels))
        assert checks["tops"][symbol] == expected


@pytest.mark.benchmark(group="3-books")
def test_book_level_updates(benchmark, inputs, sizes):
    runs = measure(benchmark, lambda: scenario_books(inputs, sizes, trades=False), sizes.rounds,
                   key="book_updates_per_second")
    for run in runs:
        check_books(run, inputs, sizes, trades=False)
    benchmark.extra_info["levels_per_second"] = sorted(r.checks["levels_per_second"] for r in runs)[len(runs) // 2]


@pytest.mark.benchmark(group="3-books")
def test_merged_trades_and_books(benchmark, inputs, sizes):
    runs = measure(benchmark, lambda: scenario_books(inputs, sizes), sizes.rounds)
    for run in runs:
        check_books(run, inputs, sizes, trades=True)
    benchmark.extra_info["levels_per_second"] = sorted(r.checks["levels_per_second"] for r in runs)[len(runs) // 2]
