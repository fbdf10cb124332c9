"""Target 6: a Binance spot trades zip into TradeChunks (>= 5M rows/s), and ``convert`` (what
``btchannels convert`` runs) from a Binance zip and from project CSV to Parquet."""

from __future__ import annotations

import pytest

from backtrader_channels.bench import scenario_convert, scenario_load_zip

from .benchmark_rounds import measure
from .oracles import trade_totals

FIRST_TRADE_ID = 1_000_000_000


@pytest.mark.benchmark(group="6-loading")
def test_binance_zip_to_chunks(benchmark, inputs, sizes):
    n = sizes.zip_rows
    archive = inputs.binance_zip(n)
    expected = trade_totals(inputs.trades(n))  # the same generated day, as Parquet
    runs = measure(benchmark, lambda: scenario_load_zip(archive), sizes.rounds, key="rows_per_second")
    for run in runs:
        assert run.count == n
        assert run.checks["last_id"] == FIRST_TRADE_ID + n - 1
        assert run.checks["volume"] == pytest.approx(expected.volume, rel=1e-9)


@pytest.mark.benchmark(group="6-loading")
@pytest.mark.parametrize("source", ["binance-zip", "project-csv"])
def test_convert_to_parquet(benchmark, inputs, sizes, tmp_path, source):
    n = sizes.zip_rows
    src = inputs.binance_zip(n) if source == "binance-zip" else inputs.trades_csv(n)
    dst = tmp_path / "converted.parquet"
    runs = measure(benchmark, lambda: scenario_convert(src, dst), 1, key="rows_per_second")
    assert runs[-1].count == runs[-1].checks["written"] == n
    assert trade_totals(dst).volume == pytest.approx(trade_totals(inputs.trades(n)).volume, rel=1e-9)
