"""The backtest report's numbers, worked out by hand on tiny runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backtrader_channels.result import RunResult
from backtrader_channels.run_metrics import (
    compute_metrics,
    daily_returns,
    drawdown_duration,
    round_trips,
)
from tests.conftest import T0

PRICES = [100.0, 101.0, 102.0, 103.0, 104.0, 105.0, 106.0, 107.0]


def _order(side, size):
    return lambda strategy: getattr(strategy, side)(size=size)


@pytest.fixture
def result(run_ticks):
    """Market orders fill at the next trade, 0.1 % fee: +1 @ 101, -1 @ 102 (a long round
    trip), -2 @ 104 (short), +1 @ 105, +3 @ 106 (closes the short, opens long 2, still open
    at the last trade, 107)."""
    trades = [(T0 + i, price, 10.0, "buy") for i, price in enumerate(PRICES)]
    actions = {1: _order("buy", 1), 2: _order("sell", 1), 4: _order("sell", 2), 5: _order("buy", 1),
               6: _order("buy", 3)}
    _, cerebro = run_ticks(trades=trades, actions=actions, commission=0.001, broker={"set_shortcash": False})
    return cerebro.tick_result


def test_round_trips_split_a_reversing_fill_between_the_trades(result):
    long, short, still_open = round_trips(result.fills, {"BTC/USDT": (T0 + 7, 107.0)})
    assert (long.side, long.size, long.entry_price, long.exit_price) == ("long", 1, 101.0, 102.0)
    assert long.pnl_gross == pytest.approx(1.0)
    assert long.fees == pytest.approx(0.101 + 0.102)
    assert (long.entry_time, long.duration) == (T0 + 1, pytest.approx(1.0))
    # short 2 @ 104, bought back 1 @ 105 and 1 @ 106 (a third of the 3 @ 106 fill and its fee)
    assert (short.side, short.size, short.entry_price) == ("short", 2, 104.0)
    assert short.exit_price == pytest.approx(105.5)
    assert short.pnl_gross == pytest.approx(-3.0)
    assert short.fees == pytest.approx(0.208 + 0.105 + 0.318 / 3)
    assert short.duration == pytest.approx(2.0) and not short.is_open
    # the rest of the fill: long 2 @ 106, valued at 107
    assert still_open.is_open and (still_open.side, still_open.size, still_open.entry_price) == ("long", 2, 106.0)
    assert still_open.pnl_gross == pytest.approx(2.0)
    assert still_open.fees == pytest.approx(0.318 * 2 / 3)


def test_metrics_of_the_tiny_run(result):
    metrics = compute_metrics(result)
    net_long, net_short = 1.0 - 0.203, -3.0 - (0.313 + 0.106)
    assert (metrics.trades, metrics.won, metrics.win_rate) == (2, 1, 0.5)
    assert metrics.trades == result.trades_closed  # as backtrader counts them
    assert metrics.profit_factor == pytest.approx(net_long / -net_short)
    assert metrics.average_trade == pytest.approx((net_long + net_short) / 2)
    assert (metrics.best_trade, metrics.worst_trade) == (pytest.approx(net_long), pytest.approx(net_short))
    assert metrics.average_duration == pytest.approx(1.5)
    times = result.equity_times
    assert (times[0], times[-1]) == (T0, T0 + 7)
    # in the market 1 s (long), 2 s (short), 1 s (the open long, to the end) of 7 s
    assert metrics.exposure == pytest.approx(4 / 7)
    assert metrics.fees == pytest.approx(0.101 + 0.102 + 0.208 + 0.105 + 0.318)
    (still_open,) = metrics.open_trades
    assert (still_open.size, still_open.entry_price, still_open.exit_price) == (2, 106.0, 107.0)
    rows = dict(metrics.rows())
    assert rows["open at end BTC/USDT"] == "long 2 @ 106.00, unrealised +2.00 at 107.00"
    assert rows["win rate"] == "50.0%"
    assert rows["Sharpe (365 d)"] == "n/a"  # one day: no ratio


def _days_run() -> RunResult:
    """Equity 100 -> 110 (day 1) -> 99 (day 2) -> 108.9 (day 3): +10 %, -10 %, +10 %."""
    day = 86_400.0
    times = np.array([T0 + 3_600, T0 + 43_200, T0 + day + 3_600, T0 + 2 * day + 3_600])
    values = np.array([105.0, 110.0, 99.0, 108.9])
    return RunResult(start_cash=100.0, end_value=108.9, end_cash=108.9, events=4, wall_seconds=1.0, fills=[],
                     trades_closed=0, trades_won=0, equity_times=times, equity_values=values, prices=values,
                     symbol="BTC/USDT")


def test_daily_returns_and_annualised_ratios_on_three_days():
    result = _days_run()
    days = daily_returns(result.equity_times, result.equity_values, result.start_cash)
    assert [day for day, *_ in days] == ["2025-01-01", "2025-01-02", "2025-01-03"]
    assert [ret for *_, ret in days] == pytest.approx([0.10, -0.10, 0.10])
    metrics = compute_metrics(result)
    mean = 0.1 / 3
    std = math.sqrt(((0.1 - mean) ** 2 * 2 + (-0.1 - mean) ** 2) / 2)  # ddof 1
    downside = math.sqrt(0.01 / 3)  # one negative day of three
    assert metrics.sharpe == pytest.approx(mean / std * math.sqrt(365))
    assert metrics.sortino == pytest.approx(mean / downside * math.sqrt(365))
    assert metrics.max_drawdown == pytest.approx(0.10)  # 110 -> 99
    assert metrics.calmar == pytest.approx(mean * 365 / 0.10)
    # under the 110 peak (day 1, 12:00) from then to the last sample, never back
    assert metrics.max_drawdown_duration == pytest.approx(2 * 86_400 + 3_600 - 43_200)
    assert (metrics.trades, metrics.win_rate, metrics.exposure, metrics.open_trades) == (0, None, 0.0, [])


def test_drawdown_duration_ends_when_the_peak_is_regained():
    times = np.array([0.0, 10.0, 20.0, 30.0, 40.0, 50.0])
    assert drawdown_duration(times, np.array([1.0, 2.0, 1.5, 2.0, 1.9, 2.1])) == 20.0  # 10 s -> 30 s
    assert drawdown_duration(times, np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])) == 0.0


def test_a_sample_at_midnight_ends_the_day_before():
    times = np.array([T0, T0 + 3_600, T0 + 86_400, T0 + 86_400 + 60])
    days = daily_returns(times, np.array([100.0, 101.0, 102.0, 99.96]), 100.0)
    assert [(day, equity) for day, equity, _ in days] == [("2025-01-01", 102.0), ("2025-01-02", 99.96)]
    assert [ret for *_, ret in days] == pytest.approx([0.02, -0.02])
