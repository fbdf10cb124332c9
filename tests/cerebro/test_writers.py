"""``bt.WriterFile(csv=True)`` in tick mode: a row per equity sample in a tick-only run, a
row per bar close with bar feeds."""

from __future__ import annotations

import csv
import io

import backtrader as bt

import backtrader_channels as bc
from tests.conftest import T0, bar_feed, write_minute_bars, write_trades_csv


class BuyOnce(bt.Strategy):
    """Buys 1 at the first trade."""

    def notify_tick(self, tick):
        if not hasattr(self, "sent"):
            self.sent = self.buy(size=1.0)


def rows(out: io.StringIO) -> list[dict]:
    """The CSV rows WriterFile wrote (between its first two separator lines), as dicts by
    column name; a repeated name is its first column (``datetime``: the data's)."""
    text = out.getvalue().split("=" * 79 + "\n")[1]
    header, *table = csv.reader(text.splitlines())
    return [{name: row[i] for i, name in reversed(list(enumerate(header)))} for row in table]


def test_a_tick_only_run_writes_a_row_per_equity_sample(tmp_path):
    # trades every 10 s at 100, 101, ... 111; samples every 30 s, and at the fill (10 s) and the end (110 s)
    trades = write_trades_csv(tmp_path / "t.csv", [(T0 + 10 * k, 100.0 + k, 1, "buy") for k in range(12)])
    out = io.StringIO()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=trades)
    cerebro.addstrategy(BuyOnce)
    cerebro.addobserver(bt.observers.Broker)
    cerebro.addwriter(bt.WriterFile, csv=True, out=out)
    cerebro.run(mode=bt.RunMode.TICK, equity_interval=30)
    written = rows(out)
    assert [row["datetime"][-8:] for row in written] == ["00:00:00", "00:00:10", "00:00:30", "00:01:00",
                                                          "00:01:30", "00:01:50"]
    assert [float(row["close"]) for row in written] == [100.0, 101.0, 103.0, 106.0, 109.0, 111.0]
    # bought 1 at 101 (the trade after the order): worth the last trade's price less 101 more than cash
    assert [float(row["value"]) for row in written] == [10_000.0, 10_000.0, 10_002.0, 10_005.0, 10_008.0, 10_010.0]


def test_without_observers_or_analyzers_the_rows_are_still_written(tmp_path):
    trades = write_trades_csv(tmp_path / "t.csv", [(T0 + k, 100.0 + k, 1, "buy") for k in range(3)])
    out = io.StringIO()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=trades)
    cerebro.addstrategy(bt.Strategy)
    cerebro.addwriter(bt.WriterFile, csv=True, out=out)
    cerebro.run(mode=bt.RunMode.TICK)
    assert [float(row["close"]) for row in rows(out)] == [100.0, 101.0, 102.0]


def test_with_bar_feeds_a_row_per_bar_close(tmp_path):
    bars = write_minute_bars(tmp_path / "bars.csv", [100.0, 102.0, 104.0, 103.0])
    trades = write_trades_csv(tmp_path / "t.csv", [(T0 + s, 100.0 + s / 60, 1, "buy") for s in (30, 60, 90, 180, 200)])
    out = io.StringIO()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bar_feed(bars), name="BTC/USDT")
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=trades)
    cerebro.addstrategy(bt.Strategy)
    cerebro.addwriter(bt.WriterFile, csv=True, out=out)
    cerebro.run(mode=bt.RunMode.TICK)
    written = rows(out)
    assert [(row["datetime"][-8:], float(row["close"])) for row in written] == [
        ("00:01:00", 100.0), ("00:02:00", 102.0), ("00:03:00", 104.0), ("00:04:00", 103.0)]
