"""Binance public dumps: spot/futures trades and aggTrades, zip or CSV, ms or us timestamps."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from backtrader_channels.sources import SourceError, open_trades

T0_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
DAY_MS = 86_400_000


def write_zip(path: Path, lines: list[str], member: str | None = None) -> Path:
    """A Binance-style zip: one CSV named like the zip."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member or path.with_suffix(".csv").name, "\n".join(lines) + "\n")
    return path


def concat(source):
    chunks = list(source.chunks())
    return {
        field: np.concatenate([getattr(c, field) for c in chunks])
        for field in ("ts_ns", "price", "volume", "is_sell", "trade_id")
    }


def test_spot_trades_2025_microseconds(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "BTCUSDT-trades-2025-01-01.zip",
        [
            "4355557345,93576.00000000,0.00005000,4.67880000,1735689600017354,True,True",
            "4355557346,93576.01000000,0.00170000,159.07921700,1735689600017999,False,True",
            "4355557347,93576.01000000,0.01000000,935.76010000,1735689600101000,False,True",
        ],
    )
    source = open_trades(path, symbol="BTC/USDT")
    trades = concat(source)
    assert source.format == "binance-spot-trades"
    assert trades["ts_ns"].tolist() == [
        1_735_689_600_017_354_000,
        1_735_689_600_017_999_000,
        1_735_689_600_101_000_000,
    ]
    assert trades["price"].tolist() == [93576.0, 93576.01, 93576.01]
    assert trades["volume"].tolist() == [0.00005, 0.0017, 0.01]
    assert trades["is_sell"].tolist() == [True, False, False]  # buyer was maker: aggressor sold
    assert trades["trade_id"].tolist() == [4355557345, 4355557346, 4355557347]


def test_spot_trades_2024_milliseconds(tmp_path: Path) -> None:
    t = T0_MS - DAY_MS
    path = write_zip(
        tmp_path / "BTCUSDT-trades-2024-12-31.zip",
        [
            f"4300000000,94000.5,0.1,9400.05,{t},False,True",
            f"4300000001,94000.4,0.2,18800.08,{t + 5},True,True",
        ],
    )
    trades = concat(open_trades(path))
    assert trades["ts_ns"].tolist() == [t * 1_000_000, (t + 5) * 1_000_000]
    assert trades["is_sell"].tolist() == [False, True]


def test_spot_aggtrades(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "BTCUSDT-aggTrades-2025-01-01.zip",
        [
            "3366000000,93576.00,0.5,4355557345,4355557349,1735689600017354,True,True",
            "3366000001,93577.00,0.25,4355557350,4355557350,1735689600020000,False,True",
        ],
    )
    source = open_trades(path)
    trades = concat(source)
    assert source.format == "binance-spot-aggtrades"
    assert trades["trade_id"].tolist() == [3366000000, 3366000001]  # the aggregate id
    assert trades["volume"].tolist() == [0.5, 0.25]
    assert trades["ts_ns"].tolist() == [1_735_689_600_017_354_000, 1_735_689_600_020_000_000]
    assert trades["is_sell"].tolist() == [True, False]


def test_futures_trades_with_header(tmp_path: Path) -> None:
    path = write_zip(
        tmp_path / "BTCUSDT-trades-2025-01-01.zip",
        [
            "id,price,qty,quote_qty,time,is_buyer_maker",
            f"5800000000,93500.10,0.003,280.5003,{T0_MS + 1},true",
            f"5800000001,93500.20,0.010,935.002,{T0_MS + 1},false",
        ],
    )
    source = open_trades(path)
    trades = concat(source)
    assert source.format == "binance-futures-trades"
    assert trades["ts_ns"].tolist() == [(T0_MS + 1) * 1_000_000] * 2
    assert trades["is_sell"].tolist() == [True, False]
    assert trades["trade_id"].tolist() == [5800000000, 5800000001]


def test_futures_aggtrades_bare_csv_with_header(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-aggTrades-2025-01-01.csv"
    path.write_text(
        "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
        f"2500000000,93500.1,1.25,5800000000,5800000004,{T0_MS},false\n"
    )
    source = open_trades(path)
    trades = concat(source)
    assert source.format == "binance-futures-aggtrades"
    assert trades["price"].tolist() == [93500.1] and trades["volume"].tolist() == [1.25]
    assert trades["trade_id"].tolist() == [2500000000] and trades["is_sell"].tolist() == [False]


def test_futures_without_header_told_by_column_count(tmp_path: Path) -> None:
    trades = write_zip(
        tmp_path / "ETHUSDT-trades-2024-06-01.zip", [f"1,3500.5,2,7001,{T0_MS},true"]
    )
    assert open_trades(trades).format == "binance-futures-trades"
    aggs = write_zip(
        tmp_path / "ETHUSDT-aggTrades-2024-06-01.zip", [f"1,3500.5,2,10,11,{T0_MS},true"]
    )
    assert open_trades(aggs).format == "binance-futures-aggtrades"


def test_name_contradicting_the_content_asks_for_format(tmp_path: Path) -> None:
    lines = [f"4355557345,93576.0,0.5,46788.0,{T0_MS}000,True,True"]  # spot trades layout
    path = write_zip(tmp_path / "BTCUSDT-aggTrades-2025-01-01.zip", lines)
    with pytest.raises(SourceError, match="aggTrades-2025-01-01.zip.*format="):
        open_trades(path)
    assert concat(open_trades(path, format="binance-spot-trades"))["trade_id"].tolist() == [
        4355557345
    ]


def test_format_override_checks_the_header(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(f"id,price,qty,quote_qty,time,is_buyer_maker\n1,1.0,1.0,1.0,{T0_MS},true\n")
    with pytest.raises(SourceError, match="binance-spot-aggtrades header"):
        open_trades(path, format="binance-spot-aggtrades")


def test_big_zip_streams_in_bounded_chunks_and_keeps_order(tmp_path: Path) -> None:
    n = 60_000
    start = T0_MS * 1000
    lines = [
        f"{1000 + i},{90000 + i % 50}.5,0.001,90.0,{start + i * 37},{'True' if i % 3 else 'False'},True"
        for i in range(n)
    ]
    path = write_zip(tmp_path / "BTCUSDT-trades-2025-01-02.zip", lines)
    source = open_trades(path, chunk_rows=7_000)
    chunks = list(source.chunks())
    assert all(len(c) <= 7_000 for c in chunks) and len(chunks) >= 9
    trades = concat(source)
    assert trades["trade_id"].tolist() == list(range(1000, 1000 + n))
    assert np.array_equal(trades["ts_ns"], (start + np.arange(n) * 37) * 1000)
    assert trades["is_sell"].sum() == n - len(range(0, n, 3))
