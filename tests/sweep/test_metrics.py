"""Row numbers: Sharpe ratio, closed trades from fills, per-day rows of carried runs, and the
identity of a sweep row with a plain Cerebro run of the same day."""

from __future__ import annotations

import glob
import math

import backtrader as bt
import numpy as np
import pytest

import backtrader_channels  # noqa: F401
from backtrader_channels import FillRecord, TickChannel
from backtrader_channels.strategy_file import load_strategy
from backtrader_channels.sweep import sweep
from backtrader_channels.sweep.metrics import closes_trade, sharpe_ratio
from tests.sweep.conftest import STRATEGY


def test_sharpe_reads_the_curve_once_a_minute_and_annualises_over_365_days():
    # readings at the minute marks: 100 -> 101 -> 104.03, returns 1% and 3%; the spike at
    # 30 s falls between marks, and each mark takes the last value at or before it
    times = np.array([0.0, 30.0, 60.0, 90.0, 120.0])
    values = np.array([100.0, 500.0, 101.0, 102.0, 104.03])
    mean, std = 0.02, math.sqrt(((0.01 - 0.02) ** 2 + (0.03 - 0.02) ** 2) / 1)
    assert sharpe_ratio(times, values) == pytest.approx(mean / std * math.sqrt(365 * 24 * 60))
    assert sharpe_ratio(times[:3], values[:3]) == 0.0  # one minute return
    assert sharpe_ratio(np.arange(0.0, 600, 60), np.full(10, 5.0)) == 0.0  # flat equity


def test_a_trade_closes_when_the_position_returns_to_or_crosses_zero():
    sizes = [("A", 1.0), ("A", -1.0), ("B", 0.5), ("A", 2.0), ("A", -3.0), ("B", -0.5), ("A", 1.0)]
    fills = [FillRecord((float(t), symbol, size, 1.0, 0.0, t)) for t, (symbol, size) in enumerate(sizes)]
    assert closes_trade(fills) == [False, True, False, False, True, True, True]


def test_a_flat_per_day_row_is_the_plain_cerebro_run_of_that_day(btc_days):
    result = sweep(STRATEGY, {"fast": [10], "slow": [100]}, btc_days, per_day=True, scheduler="serial",
                   progress=False)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(10_000.0)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.add_channel(TickChannel, symbol="BTC/USDT", dataname=sorted(glob.glob(btc_days))[1])
    cerebro.addstrategy(load_strategy(STRATEGY), fast=10, slow=100)
    cerebro.run(mode=bt.RunMode.TICK)
    run = cerebro.tick_result
    row = result.table.set_index("day").loc["2025-01-02"]
    assert (row.pnl, row.fees, row.fills, row.trades, row.events) == (
        run.pnl, run.fees, len(run.fills), run.trades_closed, run.events)
    assert row.max_drawdown == run.max_drawdown
    assert row.sharpe == sharpe_ratio(run.equity_times, run.equity_values)
    assert run.trades_closed > 10 and row.error == ""


def test_carried_days_add_up_to_the_whole_range_run(btc_days):
    params = {"fast": [10, 20], "slow": [100]}
    whole = sweep(STRATEGY, params, btc_days, scheduler="serial", progress=False).table
    days = sweep(STRATEGY, params, btc_days, per_day=True, carry=True, scheduler="serial", progress=False).table
    assert list(days["day"]) == ["2025-01-01", "2025-01-02", "2025-01-03"] * 2
    assert list(whole["day"]) == ["2025-01-01..2025-01-03"] * 2
    summed = days.groupby("job")[["pnl", "fees", "fills", "trades", "events"]].sum()
    for job, total in zip(whole["job"], whole.itertuples()):
        assert summed.loc[job, "pnl"] == pytest.approx(total.pnl, abs=1e-9)
        assert summed.loc[job, "fees"] == pytest.approx(total.fees, abs=1e-9)
        assert (summed.loc[job, "fills"], summed.loc[job, "trades"], summed.loc[job, "events"]) == (
            total.fills, total.trades, total.events)
    # a flat day starts with fresh cash and no position: not what the carried run held
    flat = sweep(STRATEGY, params, btc_days, per_day=True, scheduler="serial", progress=False).table
    assert list(flat["events"]) == list(days["events"])
    assert list(flat["pnl"]) != list(days["pnl"])


def test_a_job_with_book_files_runs_both_channels_like_a_plain_cerebro(tmp_path):
    from backtrader_channels import OrderBookChannel
    from backtrader_channels.sample import sample_market
    from backtrader_channels.sources import open_book, write_book, write_trades
    from backtrader_channels.sweep.metrics import day_start

    for seed, day in enumerate(("2025-01-01", "2025-01-02"), start=1):
        trades, book = sample_market(seed=seed, duration=300, start=day_start(day), levels=5)
        write_trades(tmp_path / f"BTCUSDT-trades-{day}.parquet", [trades])
        write_book(tmp_path / f"BTCUSDT-book-{day}.jsonl.gz", [book])
    result = sweep(STRATEGY, {"fast": [10]}, str(tmp_path / "BTCUSDT-trades-*"), per_day=True,
                   books=str(tmp_path / "BTCUSDT-book-*"), scheduler="serial", progress=False)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(10_000.0)
    cerebro.broker.setcommission(commission=0.001)
    cerebro.add_channel(OrderBookChannel, symbol="BTC/USDT", dataname=tmp_path / "BTCUSDT-book-2025-01-02.jsonl.gz")
    cerebro.add_channel(TickChannel, symbol="BTC/USDT", dataname=tmp_path / "BTCUSDT-trades-2025-01-02.parquet")
    cerebro.addstrategy(load_strategy(STRATEGY), fast=10)
    cerebro.run(mode=bt.RunMode.TICK)
    run = cerebro.tick_result
    row = result.table.iloc[1]
    assert (row.day, row.pnl, row.fills, row.events) == ("2025-01-02", run.pnl, len(run.fills), run.events)
    updates = sum(len(chunk) for chunk in open_book(tmp_path / "BTCUSDT-book-2025-01-02.jsonl.gz").chunks())
    assert row.events == len(trades) + updates > len(trades)  # the day's trades and book updates
    assert row.fills > 0 and (result.table["error"] == "").all()
