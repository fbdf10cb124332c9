"""The btchannels command end to end: sample, demo, backtest, convert, validate."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

from backtrader_channels.cli import main
from backtrader_channels.sources import open_trades
from tests.conftest import T0, write_trades_csv


def summary_value(output: str, label: str) -> str:
    line = next(line for line in output.splitlines() if line.startswith(label))
    return line[len(label):].strip()


def test_demo_end_to_end_prints_the_summary_and_writes_the_chart(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "backtrader_channels.cli", "demo", "--out", str(tmp_path)],
                               capture_output=True, text=True, timeout=120, check=True)
    out = completed.stdout
    # the sample is deterministic, so the demo's numbers are too
    assert summary_value(out, "events") == "66,842"
    assert summary_value(out, "fills") == "49"
    assert summary_value(out, "trades closed") == "24 (12 won)"
    assert summary_value(out, "end value") == "9,963.00"
    chart = tmp_path / "demo.png"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 20_000
    assert (tmp_path / "sample" / "BTCUSDT-sample-trades.csv.gz").is_file()


STRATEGY = """
import backtrader as bt


class BuyThenSell(bt.Strategy):
    def notify_tick(self, tick):
        count = len(self.channels[("tick", "BTC/USDT")])
        if count == 1:
            self.buy(size=1.0)
        elif count == 3:
            self.close()
"""


def test_backtest_runs_a_strategy_file_with_the_given_money(tmp_path, capsys):
    strategy = tmp_path / "strategy.py"
    strategy.write_text(STRATEGY)
    ticks = write_trades_csv(tmp_path / "t.csv", [(T0 + i, price, 1, "buy") for i, price in enumerate([100, 101, 102, 105, 99])])
    chart = tmp_path / "chart.png"
    assert main(["backtest", str(strategy), "--ticks", str(ticks), "--cash", "1000", "--commission", "0.001",
                 "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    # bought at 101, sold at 105: pnl 4 less 0.101 + 0.105 commission = 1,003.794
    assert summary_value(out, "end value") == "1,003.79"
    assert summary_value(out, "fees") == "0.21"
    assert chart.is_file()


def test_backtest_reports_a_missing_strategy_class(tmp_path, capsys):
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    ticks = write_trades_csv(tmp_path / "t.csv", [(T0, 1.0, 1, "buy")])
    assert main(["backtest", str(empty), "--ticks", str(ticks)]) == 2
    assert capsys.readouterr().err == (f"btchannels: {empty} defines 0 strategy classes (none); "
                                       "choose one with --strategy\n")


def test_bad_file_gives_a_one_line_error_naming_file_line_and_field(tmp_path, capsys):
    strategy = tmp_path / "strategy.py"
    strategy.write_text(STRATEGY)
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,price,volume,direction\n1735689600,100,1,buy\n1735689601,abc,1,buy\n")
    assert main(["backtest", str(strategy), "--ticks", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv, line 3, field 'price'" in err and err.count("\n") == 1


def test_convert_then_validate(tmp_path, capsys):
    rows = [(T0 + i, 100.0 + i, 0.5, "buy", 7 + i) for i in range(5)]
    source = tmp_path / "t.csv.gz"
    with gzip.open(source, "wt") as handle:
        handle.write("timestamp,price,volume,direction,trade_id\n")
        handle.writelines(",".join(map(str, row)) + "\n" for row in rows)
    target = tmp_path / "t.parquet"
    assert main(["convert", str(source), str(target)]) == 0
    chunk = next(open_trades(target).chunks())
    assert chunk.price.tolist() == [100.0, 101.0, 102.0, 103.0, 104.0] and chunk.trade_id.tolist() == [7, 8, 9, 10, 11]
    assert main(["validate", str(target)]) == 0
    assert "5 events, 0 rejected" in capsys.readouterr().out


def test_validate_reports_anomalies_and_fails(tmp_path, capsys):
    path = write_trades_csv(tmp_path / "t.csv", [(T0, 100.0, 1, "buy", 1), (T0 + 1, 101.0, 1, "buy", 1),
                                                  (T0 + 7200, 102.0, 1, "buy", 2)])
    assert main(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "3 events, 1 rejected" in out
    assert "duplicate_trade_id 1" in out and "time_jump 1" in out


def test_sample_writes_both_files(tmp_path, capsys):
    assert main(["sample", "--out", str(tmp_path)]) == 0
    assert {p.name for p in Path(tmp_path).iterdir()} == {"BTCUSDT-sample-trades.csv.gz", "BTCUSDT-sample-book.jsonl.gz"}
