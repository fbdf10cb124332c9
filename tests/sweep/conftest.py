"""Sweep test data: short synthetic days written as real per-day Parquet files, and a real
two-worker local Dask cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from backtrader_channels.sample import sample_market
from backtrader_channels.sources import write_trades
from backtrader_channels.sweep.metrics import day_start

STRATEGY = Path(__file__).with_name("grid_strategy.py")
DAYS = ("2025-01-01", "2025-01-02", "2025-01-03")
DAY_SECONDS = 600.0  # ten minutes of the sample market per day: ~5,500 trades


def write_days(directory: Path, prefix: str, days: tuple[str, ...], seed: int) -> str:
    """One trades file per day, ``{prefix}-trades-{day}.parquet``; returns their glob."""
    directory.mkdir(parents=True, exist_ok=True)
    for offset, day in enumerate(days):
        trades, _book = sample_market(seed=seed + offset, duration=DAY_SECONDS, start=day_start(day))
        write_trades(directory / f"{prefix}-trades-{day}.parquet", [trades])
    return str(directory / f"{prefix}-trades-*.parquet")


@pytest.fixture(scope="session")
def btc_days(tmp_path_factory) -> str:
    return write_days(tmp_path_factory.mktemp("btc"), "BTCUSDT", DAYS, seed=1)


@pytest.fixture(scope="session")
def eth_days(tmp_path_factory) -> str:
    return write_days(tmp_path_factory.mktemp("eth"), "ETHUSDT", DAYS[:2], seed=11)
