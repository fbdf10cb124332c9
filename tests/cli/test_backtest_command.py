"""btchannels backtest: parameters, date range, analyzers, bars, trade export, JSON summary."""

from __future__ import annotations

import csv
import json

import pyarrow.parquet as pq
import pytest

from backtrader_channels.cli import main
from tests.conftest import T0, write_trades_csv

STRATEGY = """
import backtrader as bt


class BuyThenSell(bt.Strategy):
    params = (("size", 1.0), ("hold", 2), ("note", "x"), ("verbose", False))

    def notify_tick(self, tick):
        count = len(self.channels[("tick", "BTC/USDT")])
        if count == 1:
            self.buy(size=self.p.size)
        elif count == 1 + self.p.hold:
            self.close()
        if self.p.verbose and count == 1:
            print(f"params: size={self.p.size!r} hold={self.p.hold!r} note={self.p.note!r}")
"""

BARS = """
import backtrader as bt


class CountBars(bt.Strategy):
    def next(self):
        print(f"bar {bt.num2date(self.data.datetime[0]):%H:%M} close {self.data.close[0]:g}")
"""

DAY = 86_400


@pytest.fixture
def files(tmp_path):
    (tmp_path / "strategy.py").write_text(STRATEGY)
    (tmp_path / "bars.py").write_text(BARS)
    write_trades_csv(tmp_path / "t.csv", [(T0 + i, price, 1, "buy") for i, price in enumerate([100, 101, 102, 105, 99])])
    # three days, a trade each hour: 24 a day, day 2's prices 200 + hour
    write_trades_csv(tmp_path / "days.csv", [(T0 + d * DAY + h * 3600, 100 * (d + 1) + h, 1, "buy")
                                             for d in range(3) for h in range(24)])
    # three minutes of trades: 00:00:10 .. 00:02:50, prices rising by 1 each 20 s
    write_trades_csv(tmp_path / "minutes.csv", [(T0 + 10 + 20 * i, 100 + i, 1, "buy") for i in range(9)])
    return tmp_path


def rows_of(out: str) -> dict[str, str]:
    """Label -> value of the plain-text summary (two spaces or more between them)."""
    rows = {}
    for line in out.splitlines():
        label, sep, value = line.partition("  ")
        if sep and label.strip():
            rows[label.strip()] = value.strip()
    return rows


def test_params_analyzers_export_and_json(files, capsys):
    w = files
    assert main(["backtest", str(w / "strategy.py"), "--ticks", str(w / "t.csv"), "--cash", "1000",
                 "--commission", "0.001", "--param", "size=2", "--param", "hold=2", "--param", "note=hi",
                 "--param", "verbose=true", "--analyzer", "TradeAnalyzer", "--analyzer", "sqn",
                 "--export", str(w / "trades.csv"), "--json", str(w / "summary.json")]) == 0
    out = capsys.readouterr().out
    assert "params: size=2 hold=2 note='hi'" in out  # int, int, text, bool
    rows = rows_of(out)
    # bought 2 at 101, sold 2 at 105: +8 less 0.202 + 0.210 fees
    assert rows["end value"] == "1,007.59"
    assert (rows["win rate"], rows["best trade"], rows["average duration"]) == ("100.0%", "+7.59", "00:00:02")
    assert rows["open at end"] == "none (flat)"
    assert rows["total.closed"] == "1"  # TradeAnalyzer, by backtrader
    assert "analyzer SQN" in out
    with open(w / "trades.csv", newline="") as file:
        (trade,) = list(csv.DictReader(file))
    assert (trade["side"], float(trade["size"]), float(trade["entry_price"]), float(trade["exit_price"])) == \
        ("long", 2.0, 101.0, 105.0)
    assert float(trade["pnl_gross"]) == pytest.approx(8.0)
    assert float(trade["fees"]) == pytest.approx(0.412)
    assert float(trade["pnl_net"]) == pytest.approx(7.588)
    assert trade["entry_time"] == "2025-01-01T00:00:01+00:00" and float(trade["duration_s"]) == pytest.approx(2.0)
    assert trade["is_open"] == "false"
    summary = json.loads((w / "summary.json").read_text())
    assert summary["params"] == {"size": 2, "hold": 2, "note": "hi", "verbose": True}
    assert summary["pnl"] == pytest.approx(7.588)
    assert (summary["trades"], summary["win_rate"], summary["fills"]) == (1, 1.0, 2)
    assert summary["analyzers"]["TradeAnalyzer"]["total"]["closed"] == 1
    assert summary["days"] == [{"day": "2025-01-01", "equity": pytest.approx(1007.588), "return": pytest.approx(0.007588)}]


def test_the_open_position_is_reported_and_exported_flagged(files, capsys):
    w = files
    assert main(["backtest", str(w / "strategy.py"), "--ticks", str(w / "t.csv"), "--cash", "1000",
                 "--param", "hold=10", "--export", str(w / "trades.parquet")]) == 0
    rows = rows_of(capsys.readouterr().out)
    # bought 1 at 101, still held at the last trade, 99
    assert rows["open at end BTC/USDT"] == "long 1 @ 101.00, unrealised -2.00 at 99.00"
    assert rows["trades closed"] == "0 (0 won)"
    (trade,) = pq.read_table(w / "trades.parquet").to_pylist()
    assert trade["is_open"] and trade["exit_price"] == 99.0 and trade["pnl_gross"] == pytest.approx(-2.0)


def test_from_and_to_run_the_days_between(files, capsys):
    w = files
    assert main(["backtest", str(w / "strategy.py"), "--ticks", str(w / "days.csv"), "--cash", "1000",
                 "--from", "2025-01-02", "--to", "2025-01-02", "--param", "hold=23"]) == 0
    rows = rows_of(capsys.readouterr().out)
    assert rows["events"] == "24"  # day 2's trades only
    # the buy at day 2's first trade fills at the next, 01:00 (201); the close sent at its last
    # trade (23:00) has no trade left to fill at: still long, marked at 223
    assert rows["open at end BTC/USDT"] == "long 1 @ 201.00, unrealised +22.00 at 223.00"


def test_bars_give_the_strategy_bars_made_from_the_trades(files, capsys):
    w = files
    assert main(["backtest", str(w / "bars.py"), "--ticks", str(w / "minutes.csv"), "--bars", "1m"]) == 0
    out = capsys.readouterr().out
    # minute bars stamped at their close: 00:00:10-00:00:50 -> 00:01 (close 102), then 00:02 (105), 00:03 (108)
    assert [line for line in out.splitlines() if line.startswith("bar ")] == [
        "bar 00:01 close 102", "bar 00:02 close 105", "bar 00:03 close 108"]


@pytest.mark.parametrize(("argv", "words"), [
    (["--param", "sise=2"], ("sise", "BuyThenSell has no such parameter", "size, hold, note, verbose")),
    (["--param", "size"], ("'size'", "NAME=VALUE")),
    (["--analyzer", "Sharp"], ("Sharp", "not a backtrader analyzer", "SharpeRatio")),
    (["--bars", "1q"], ("--bars", "1m")),
    (["--from", "yesterday"], ("--from", "'yesterday'", "YYYY-MM-DD")),
    (["--export", "trades.xlsx"], ("--export", ".csv or .parquet")),
], ids=["unknown-param", "param-without-value", "unknown-analyzer", "bad-bars", "bad-date", "bad-export"])
def test_bad_options_are_one_line_errors(files, capsys, argv, words):
    w = files
    try:
        status = main(["backtest", str(w / "strategy.py"), "--ticks", str(w / "t.csv"), *argv])
    except SystemExit as exit:  # refused while parsing the command line
        status = exit.code
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    for word in words:
        assert word in err, err


def test_a_terminal_gets_rich_tables(files):
    """On a terminal (a pseudo-terminal here) the summary is drawn as rich tables."""
    import os

    from backtrader_channels.backtest import print_report, run_backtest
    from backtrader_channels.strategy_file import load_strategy

    w = files
    run = run_backtest(load_strategy(w / "strategy.py", None), w / "t.csv", cash=1000.0)
    leader, follower = os.openpty()
    with open(follower, "w", closefd=True) as terminal:
        assert terminal.isatty()
        print_report(run, terminal)
    text = os.read(leader, 1 << 16).decode()
    os.close(leader)
    assert "┃" in text or "│" in text  # rich's box drawing
    assert "win rate" in text and "per-day returns (UTC)" in text
