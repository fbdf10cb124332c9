"""Project trade files (CSV, CSV.gz, Parquet): reading, symbol filter, writers round trip."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from backtrader_channels.sources import (
    SourceError,
    TradeChunk,
    convert,
    open_trades,
    write_trades,
)

T0_NS = 1_735_689_600_000_000_000  # 2025-01-01T00:00:00Z


def collect(source) -> TradeChunk:
    """All chunks of one pass, concatenated."""
    chunks = list(source.chunks())
    ids = [c.trade_id for c in chunks]
    return TradeChunk(
        np.concatenate([c.ts_ns for c in chunks]) if chunks else np.array([], np.int64),
        np.concatenate([c.price for c in chunks]) if chunks else np.array([]),
        np.concatenate([c.volume for c in chunks]) if chunks else np.array([]),
        np.concatenate([c.is_sell for c in chunks]) if chunks else np.array([], bool),
        None if not chunks or ids[0] is None else np.concatenate(ids),
    )


def test_csv_float_seconds_are_exact_nanoseconds(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv"
    path.write_text(
        "timestamp,price,volume,direction,trade_id\n"
        "1735689600.000000001,93500.5,0.01,buy,7\n"
        "1735689600.1,93500.0,1.5,sell,8\n"
        "1735689601,93499.99,0.25,BUY,9\n"
    )
    source = open_trades(path)
    trades = collect(source)
    assert source.format == "csv"
    assert trades.ts_ns.tolist() == [T0_NS + 1, T0_NS + 100_000_000, T0_NS + 1_000_000_000]
    assert trades.price.tolist() == [93500.5, 93500.0, 93499.99]
    assert trades.volume.tolist() == [0.01, 1.5, 0.25]
    assert trades.is_sell.tolist() == [False, True, False]
    assert trades.trade_id.tolist() == [7, 8, 9]
    assert trades.ts_ns.dtype == np.int64 and trades.is_sell.dtype == bool


@pytest.mark.parametrize(
    ("text", "expected_ns"),
    [
        ("1735689600123", T0_NS + 123_000_000),  # ms
        ("1735689600123456", T0_NS + 123_456_000),  # us
        ("1735689600123456789", T0_NS + 123_456_789),  # ns
        ("1735689600", T0_NS),  # whole seconds
        ("1735689600123.0", T0_NS + 123_000_000),  # ms written by pandas as a float
    ],
)
def test_csv_integer_timestamp_units_by_magnitude(
    tmp_path: Path, text: str, expected_ns: int
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(f"timestamp,price,volume,direction\n{text},100,1,sell\n")
    assert collect(open_trades(path)).ts_ns.tolist() == [expected_ns]


def test_csv_gz_and_column_order_and_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "trades.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("direction,note,volume,price,timestamp\nsell,x,2,10.5,1735689600.5\n")
    trades = collect(open_trades(path))
    assert trades.ts_ns.tolist() == [T0_NS + 500_000_000]
    assert trades.price.tolist() == [10.5] and trades.volume.tolist() == [2.0]
    assert trades.is_sell.tolist() == [True] and trades.trade_id is None


def test_symbol_column_keeps_the_channel_symbol(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_text(
        "timestamp,price,volume,direction,symbol\n"
        "1735689600,100,1,buy,BTC/USDT\n"
        "1735689600.5,3000,1,buy,ETH/USDT\n"
        "1735689601,101,1,sell,btc-usdt\n"
        "1735689602,2990,1,sell,ETHUSDT\n"
        "1735689603,102,1,buy,BTC_USDT\n"
    )
    source = open_trades(path, symbol="BTCUSDT")
    trades = collect(source)
    assert trades.price.tolist() == [100.0, 101.0, 102.0]
    assert source.other_symbol_rows == 2 and source.skipped_rows == 0
    eth = open_trades(path, symbol="eth/usdt")
    assert collect(eth).price.tolist() == [3000.0, 2990.0]
    assert eth.other_symbol_rows == 3
    everything = collect(open_trades(path))  # no symbol asked: every row
    assert len(everything.price) == 5


def test_chunks_restart_and_respect_chunk_rows(tmp_path: Path) -> None:
    n = 5_000
    ts = T0_NS + np.arange(n, dtype=np.int64) * 1_000_000
    chunk = TradeChunk(
        ts, 100 + np.arange(n) / 100, np.full(n, 0.5), np.arange(n) % 3 == 0, np.arange(n)
    )
    path = tmp_path / "many.csv"
    assert write_trades(path, [chunk]) == n
    source = open_trades(path, chunk_rows=1_000)
    first = list(source.chunks())
    second = list(source.chunks())
    assert [len(c) for c in first] == [len(c) for c in second]
    assert all(len(c) <= 1_000 for c in first) and sum(len(c) for c in first) == n
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(a.ts_ns, b.ts_ns) and np.array_equal(a.trade_id, b.trade_id)
    assert np.array_equal(np.concatenate([c.ts_ns for c in first]), ts)


@pytest.mark.parametrize("name", ["out.csv", "out.csv.gz", "out.parquet"])
def test_writers_round_trip_exactly(tmp_path: Path, name: str) -> None:
    rng = np.random.default_rng(1)
    n = 3_000
    ts = T0_NS + np.cumsum(rng.integers(0, 5_000_000, n))  # ns precision, with equal stamps
    chunks = [
        TradeChunk(
            ts[i : i + 1000],
            rng.uniform(90_000, 100_000, 1000).round(2),
            rng.exponential(0.01, 1000),
            rng.random(1000) < 0.5,
            np.arange(i, i + 1000),
        )
        for i in range(0, n, 1000)
    ]
    path = tmp_path / name
    assert write_trades(path, chunks, symbol="BTC/USDT") == n
    back = collect(open_trades(path, symbol="BTC/USDT"))
    for field in TradeChunk._fields:
        expected = np.concatenate([getattr(c, field) for c in chunks])
        assert np.array_equal(getattr(back, field), expected), field


def test_written_csv_is_the_documented_format(tmp_path: Path) -> None:
    chunk = TradeChunk(
        np.array([T0_NS, T0_NS + 250_000_000]),
        np.array([93576.0, 93576.5]),
        np.array([0.5, 0.001]),
        np.array([False, True]),
        None,
    )
    path = tmp_path / "t.csv"
    write_trades(path, [chunk])
    assert path.read_text() == (
        "timestamp,price,volume,direction\n"
        "1735689600.000,93576,0.5,buy\n"
        "1735689600.250,93576.5,0.001,sell\n"
    )


def test_writer_refuses_mixed_ids_and_leaves_no_file(tmp_path: Path) -> None:
    ts = np.array([T0_NS])
    with_ids = TradeChunk(ts, np.array([1.0]), np.array([1.0]), np.array([True]), np.array([1]))
    without = TradeChunk(ts, np.array([1.0]), np.array([1.0]), np.array([True]), None)
    path = tmp_path / "t.csv"
    with pytest.raises(ValueError, match="trade ids"):
        write_trades(path, [with_ids, without])
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match=r"\.csv"):
        write_trades(tmp_path / "t.json", [with_ids])


def test_parquet_with_user_column_types(tmp_path: Path) -> None:
    """Parquet written by other tools: float seconds, dictionary or plain strings, int ms."""
    path = tmp_path / "user.parquet"
    pq.write_table(
        pa.table(
            {
                "timestamp": pa.array([1735689600.25, 1735689600.5]),
                "price": pa.array([10, 11], pa.int32()),
                "volume": pa.array([1.0, 2.0]),
                "direction": pa.array(["sell", "buy"]),
            }
        ),
        path,
    )
    trades = collect(open_trades(path))
    assert trades.ts_ns.tolist() == [T0_NS + 250_000_000, T0_NS + 500_000_000]
    assert trades.price.tolist() == [10.0, 11.0] and trades.is_sell.tolist() == [True, False]
    ms = tmp_path / "ms.parquet"
    pq.write_table(
        pa.table(
            {"timestamp": [1735689600001], "price": [1.0], "volume": [1.0], "direction": ["buy"]}
        ),
        ms,
    )
    assert collect(open_trades(ms)).ts_ns.tolist() == [T0_NS + 1_000_000]


def test_empty_files(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    assert write_trades(path, []) == 0
    assert path.read_text() == "timestamp,price,volume,direction\n"
    assert list(open_trades(path).chunks()) == []
    parquet = tmp_path / "empty.parquet"
    assert write_trades(parquet, []) == 0
    assert list(open_trades(parquet).chunks()) == []


def test_convert_csv_to_parquet_keeps_everything(tmp_path: Path) -> None:
    src = tmp_path / "multi.csv"
    src.write_text(
        "timestamp,price,volume,direction,trade_id,symbol\n"
        "1735689600.001,100,1,buy,1,BTCUSDT\n"
        "1735689600.002,3000,1,sell,2,ETHUSDT\n"
        "1735689600.003,101,2,sell,3,BTCUSDT\n"
    )
    dst = tmp_path / "btc.parquet"
    assert convert(src, dst, symbol="BTC/USDT") == 2
    back = collect(open_trades(dst, symbol="BTC/USDT"))
    assert back.ts_ns.tolist() == [T0_NS + 1_000_000, T0_NS + 3_000_000]
    assert back.trade_id.tolist() == [1, 3] and back.is_sell.tolist() == [False, True]
    assert pq.read_table(dst)["symbol"].to_pylist() == ["BTC/USDT", "BTC/USDT"]


def test_format_override_and_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "trades.txt"
    path.write_text("timestamp,price,volume,direction\n1735689600,1,1,buy\n")
    assert open_trades(path).format == "csv"
    with pytest.raises(ValueError, match="format must be one of"):
        open_trades(path, format="excel")
    other = tmp_path / "trades.dat"
    other.write_text("whatever")
    with pytest.raises(SourceError, match="trades.dat"):
        open_trades(other)
