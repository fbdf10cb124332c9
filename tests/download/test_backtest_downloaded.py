"""Downloaded days backtest as one run: the download directory gives the same run as the
same trades in one file (the issue's contract: data in, report out)."""

from __future__ import annotations

import backtrader as bt

from backtrader_channels.backtest import run_backtest
from backtrader_channels.download import download
from backtrader_channels.testing.binance_data import spot_trades_csv

from .conftest import DAILY, publish_days


class FlipEvery(bt.Strategy):
    """Long, then flat, every 150 trades: fills on both sides of each day boundary."""

    def __init__(self) -> None:
        self.ticks = 0

    def notify_tick(self, tick) -> None:
        self.ticks += 1
        if self.ticks % 150 == 0:
            if self.getposition().size:
                self.close()
            else:
                self.buy(size=0.01)


def test_the_downloaded_directory_runs_as_the_same_trades_in_one_file(site, tmp_path):
    published = publish_days(site, "2024-01-01", 3, trades=400)
    out = tmp_path / "cache"
    download("BTC/USDT", "trades", start="2024-01-01", end="2024-01-03", out=out, base_url=site.url)
    one_file = tmp_path / "BTCUSDT-trades-2024-01-01-to-03.csv"
    one_file.write_text(spot_trades_csv([trade for day in published.values() for trade in day]))

    days = run_backtest(FlipEvery, out / DAILY).result
    whole = run_backtest(FlipEvery, one_file).result

    assert days.events == whole.events == 1_200
    trades = [trade for day in published.values() for trade in day]
    # orders at the 150th, 300th, ... 1,200th trade; each fills at the next trade (the last has none)
    expected = [(trades[n].price, 0.01 if k % 2 == 0 else -0.01) for k, n in enumerate(range(150, 1_200, 150))]
    assert [(f.price, f.size) for f in days.fills] == expected
    assert [(f.price, f.size) for f in whole.fills] == expected
    assert days.end_value == whole.end_value
    assert days.missed_trade_ids.get("BTC/USDT", 0) == 0
