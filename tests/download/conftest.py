"""A local data.binance.vision serving generated spot trades, and what was published there."""

from __future__ import annotations

import datetime as dt

import pytest

from backtrader_channels.testing import BinanceDataServer, SpotTrade, generate_trades

DAILY = "spot/daily/trades/BTCUSDT"
MONTHLY = "spot/monthly/trades/BTCUSDT"


@pytest.fixture
def site(tmp_path):
    with BinanceDataServer(tmp_path / "site") as server:
        yield server


def publish_days(site: BinanceDataServer, first: str, count: int, *, trades: int = 200,
                 first_id: int = 1) -> dict[str, list[SpotTrade]]:
    """Daily trade files for ``count`` days from ``first``, ids running on from day to day."""
    published = {}
    day = dt.date.fromisoformat(first)
    for n in range(count):
        stamp = f"{day + dt.timedelta(days=n):%Y-%m-%d}"
        published[stamp] = generate_trades(first_id, stamp, trades, seed=n)
        site.publish_trades("BTCUSDT", stamp, published[stamp])
        first_id += trades
    return published
