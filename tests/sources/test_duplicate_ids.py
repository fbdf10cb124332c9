"""Trades whose id repeats a recent one are counted by the reader and in the run summary."""

from __future__ import annotations

from pathlib import Path

import backtrader as bt
import pyarrow as pa
import pyarrow.parquet as pq

import backtrader_channels as bc
from backtrader_channels.sources import open_trades
from tests.conftest import T0, write_trades_csv


def trades_parquet(path: Path, ids: list[int]) -> Path:
    n = len(ids)
    pq.write_table(pa.table({
        "timestamp": [T0 + i for i in range(n)],
        "price": [100.0 + i for i in range(n)],
        "volume": [1.0] * n,
        "direction": ["buy"] * n,
        "trade_id": ids,
    }), path)
    return path


def test_repeats_within_and_across_chunks_are_counted_and_still_delivered(tmp_path: Path) -> None:
    # chunks of 3: [1 2 3] [3 4 5] [5 5 6] [7 2]; repeats: 3 (across), 5 (across), 5, 2 (recent)
    source = open_trades(trades_parquet(tmp_path / "t.parquet", [1, 2, 3, 3, 4, 5, 5, 5, 6, 7, 2]), chunk_rows=3)
    ids = [int(i) for chunk in source.chunks() for i in chunk.trade_id]
    assert ids == [1, 2, 3, 3, 4, 5, 5, 5, 6, 7, 2]
    assert source.duplicate_ids == 4
    list(source.chunks())  # a second pass counts again from zero
    assert source.duplicate_ids == 4


def test_growing_ids_count_nothing_in_a_large_csv(tmp_path: Path) -> None:
    rows = [(T0 + i / 1000, 100.0, 1.0, "buy", 10 + i) for i in range(20_000)]
    rows[12_345] = (rows[12_345][0], 100.0, 1.0, "buy", 10 + 12_344)  # one trade written twice
    source = open_trades(write_trades_csv(tmp_path / "t.csv", rows), chunk_rows=1_000)
    assert sum(len(chunk) for chunk in source.chunks()) == 20_000
    assert source.duplicate_ids == 1


def test_the_run_summary_shows_the_duplicate_ids(tmp_path: Path) -> None:
    path = trades_parquet(tmp_path / "t.parquet", [1, 2, 2, 3])
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=path)
    cerebro.addstrategy(bt.Strategy)
    cerebro.run(mode=bt.RunMode.TICK)
    result = cerebro.tick_result
    assert result.events == 4
    assert result.duplicate_trade_ids == {"BTC/USDT": 1}
    assert ("duplicate trade ids BTC/USDT", "1") in result.rows()
