"""Every script in examples/ runs as a user would run it and prints what it claims."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT = 120  # seconds; each example takes a few seconds on an idle machine


def run_example(name: str, cwd: Path, *args: str) -> str:
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args],
        cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
    )
    assert completed.returncode == 0, f"{name} failed:\n{completed.stdout}\n{completed.stderr}"
    assert "Traceback" not in completed.stderr, completed.stderr
    return completed.stdout


def summary(output: str) -> dict[str, str]:
    """The RunResult summary rows at the end of the output: label -> value."""
    rows = {}
    for line in output.splitlines():
        match = re.fullmatch(r"(events|events/s|start cash|end value|PnL|fills|fees|trades closed"
                             r"|max drawdown)\s{2,}(.+)", line)
        if match:
            rows[match[1]] = match[2]
    return rows


def number(text: str) -> float:
    return float(text.split()[0].replace(",", ""))


def check_tick_backtest(output: str, rows: dict[str, str]) -> None:
    assert "(format csv)" in output
    closed = int(re.search(r"TradeAnalyzer: (\d+) closed trades", output)[1])
    assert closed == int(rows["trades closed"].split()[0]) > 0
    assert output.count("closed trade  pnl") == closed
    assert number(rows["events"]) == 35_510  # every trade of the sample hour
    assert number(rows["fills"]) >= 2 * closed  # an entry and an exit per closed trade


def check_orderbook_strategy(output: str, rows: dict[str, str]) -> None:
    fills = re.findall(r"(buy|sell)\s+0\.25 @ ([\d,.]+)\s+when sent: touch ([\d,.]+), (\d+) level", output)
    assert fills and len(fills) == number(rows["fills"])
    assert f"{len(fills)} fills, on average" in output
    # 0.25 BTC is more than the sample's touch holds: market orders walk several levels
    assert max(int(levels) for *_, levels in fills) > 1
    assert [side for side, *_ in fills[:2]] == ["buy", "sell"]


def check_bars_and_ticks(output: str, rows: dict[str, str]) -> None:
    match = re.search(r"([\d,]+) trades -> (\d+) one-minute bars", output)
    trades, bars = number(match[1]), int(match[2])
    assert (trades, bars) == (35_510, 60)
    assert number(rows["events"]) == trades + bars  # one step per trade and per bar close
    # a bar stamped with its close time reaches the strategy exactly then, never earlier
    assert "bar closed 00:05:00, delivered at 00:05:00.000000" in output
    assert "bar closed 00:04:00" not in output  # SMA(5) warm-up: next() not called yet
    assert number(rows["fills"]) > 0


def check_bar_strategy_on_ticks(output: str, rows: dict[str, str]) -> None:
    match = re.search(r"([\d,]+) trades -> (\d+) one-minute bars", output)
    trades, bars = number(match[1]), int(match[2])
    assert (trades, bars) == (35_510, 60)
    assert number(rows["events"]) == trades + bars  # one step per trade and per bar close
    fills = re.findall(r"^  (\d\d:\d\d:\d\d)  (buy|sell) (market|stop)\s+([\d,.]+)\s+(\d\d:\d\d:\d\d\.\d{3})"
                       r"  (buy|sell) (market|stop)\s+([\d,.]+)$", output, re.M)
    assert len(fills) == number(rows["fills"]) >= 4
    for bar, side, kind, price, moment, tick_side, tick_kind, tick_price in fills:
        assert (side, kind) == (tick_side, tick_kind)
        if kind == "market":  # the first trade after the signal bar's close: the next bar's open
            assert price == tick_price
            assert moment[:5] < bar[:5]  # ... traded inside the bar plain backtrader fills on
    market = sum(kind == "market" for *_, kind, _ in fills)
    assert f"market fills equal: {market} of {market}" in output
    assert any(kind == "stop" and price != tick_price for _, _, kind, price, *_, tick_price in fills)


def check_binance_dump(output: str, rows: dict[str, str]) -> None:
    assert "wrote BTCUSDT-trades-2025-01-01.zip" in output
    assert re.search(r"first line: \d+,[\d.]+,[\d.]+,[\d.]+,1735689600\d{6},(True|False),True", output)
    assert "detected format: binance-spot-trades" in output
    assert "first trade: 2025-01-01T00:00:00.659000+00:00" in output  # microseconds kept
    fills = re.findall(r"fill ([+-][\d.]+) BTC/USDT @ ([\d,.]+)", output)
    assert fills and len(fills) == number(rows["fills"])
    assert fills[0][0] == "+0.01"  # the first fill is an entry


def check_sweep_grid(output: str, rows: dict[str, str]) -> None:
    jobs = re.findall(r"^\s+(\d+)\s+(\d+)\s+(\d+) BTC/USDT (2025-01-\d\d)\s+(-?[\d.]+)", output, re.M)
    days = sorted({day for *_, day, _pnl in jobs})
    assert [int(job) for job, *_ in jobs] == list(range(12)) and days == ["2025-01-01", "2025-01-02"]
    assert "wrote heatmap.png, sweep.csv, sweep.parquet" in output
    match = re.search(r"best set fast=(\d+) slow=(\d+) on (\S+), run again", output)
    assert match and "sweep row PnL" in output and "same: True" in output
    pnl = next(float(p) for job, fast, slow, day, p in jobs if (fast, slow, day) == match.groups())
    assert abs(number(rows["PnL"]) - pnl) <= 0.005  # the rerun's summary is the table's row


def check_bus_strategy(output: str, rows: dict[str, str]) -> None:
    commands = re.findall(r"control: (\w+)\s+after (\d+) trades, position ([+-][\d.]+) BTC", output)
    assert [c[0] for c in commands] == ["pause", "flatten", "resume", "stop"]
    assert commands[0][1] == commands[1][1] == commands[2][1]  # not called while paused
    assert commands[2][2] == "+0.00"  # flatten closed the position
    seen, called = map(int, re.search(r"the channel saw (\d+) trades, the strategy was called for (\d+)", output).groups())
    assert seen == number(rows["events"]) and called < seen
    assert re.search(r"bus: \d+ trades, 0 duplicates, 0 trimmed", output)
    assert "ended: stopped" in output


def check_record_and_replay(output: str, rows: dict[str, str]) -> None:
    recorded = re.search(r"recorded (\d+) trades, (\d+) book updates \((\d+) snapshots\), (\d+) gaps", output)
    trades, books, snapshots, gaps = map(int, recorded.groups())
    assert trades == 600 and snapshots >= 1 and gaps >= 1
    assert number(rows["events"]) == trades + books  # the backtest read the whole recording
    assert "gaps: reconnect x1" in output
    live_cash = re.search(r"live: \d+ events logged, cash ([\d.]+)", output)[1]
    assert re.search(rf"replay: identical: \d+ events, [1-9]\d* order notifications, cash {live_cash}", output)


def check_download_and_report(output: str, rows: dict[str, str]) -> None:
    assert re.search(r"2 of 2 files verified in .*: 2 downloaded", output)
    assert number(rows["events"]) > 20_000  # the day's 20,000 trades and its bars
    closed = int(rows["trades closed"].split()[0])
    exported, still_open = map(int, re.search(r"exported (\d+) trades, (\d+) open at the end", output).groups())
    assert closed > 0 and exported == closed + still_open
    assert number(rows["fills"]) == 2 * closed + still_open
    assert re.search(r"^sqn\s+-?[\d.]+$", output, re.M)  # --analyzer SQN
    size, table_rows = re.search(r"report ([\d.]+) MB, (\d+) table rows", output).groups()
    assert 3 < float(size) < 8 and int(table_rows) > exported


CHECKS: dict[str, Callable[[str, dict[str, str]], None]] = {
    "download_and_report.py": check_download_and_report,
    "bus_strategy.py": check_bus_strategy,
    "record_and_replay.py": check_record_and_replay,
    "tick_backtest.py": check_tick_backtest,
    "orderbook_strategy.py": check_orderbook_strategy,
    "bars_and_ticks.py": check_bars_and_ticks,
    "bar_strategy_on_ticks.py": check_bar_strategy_on_ticks,
    "binance_dump.py": check_binance_dump,
    "sweep_grid.py": check_sweep_grid,
}


def test_every_example_has_checks():
    assert sorted(path.name for path in EXAMPLES.glob("*.py")) == sorted(CHECKS)


SLOW = {"record_and_replay.py", "sweep_grid.py"}  # 5-15 s each: make test-slow


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow) if name in SLOW else name
                                  for name in sorted(CHECKS)])
def test_example_runs_and_prints_its_summary(name: str, tmp_path: Path) -> None:
    output = run_example(name, tmp_path)
    rows = summary(output)
    assert set(rows) >= {"events", "start cash", "end value", "PnL", "fills", "fees", "trades closed"}
    CHECKS[name](output, rows)
    assert not list(tmp_path.iterdir()), "examples write only into their own temporary directory"


@pytest.mark.parametrize("name", ["orderbook_strategy.py", "bars_and_ticks.py", "bar_strategy_on_ticks.py",
                                  "binance_dump.py"])
def test_example_fast_flag(name: str, tmp_path: Path) -> None:
    rows = summary(run_example(name, tmp_path, "--fast"))
    assert number(rows["events"]) > 0
