"""Tick-only runs: time-based analyzers and observers see the equity curve of the run.

Analyzers and observers step on the equity sampling clock (each new ``equity_interval``
of event time, and at each fill) with the strategy's datetime at the event time; each
analyzer is compared with numpy on ``tick_result``'s equity curve and fills.
"""

from __future__ import annotations

import datetime as dt
import math

import backtrader as bt
import numpy as np
import pytest

from backtrader_channels.broker.data import from_num
from tests.cerebro.conftest import CASH, START, drawdown_pct, period_last_values, period_returns

MINUTES = {"timeframe": bt.TimeFrame.Minutes}


def naive_utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(tzinfo=None)


def analysis(strategy, number: int = 0):
    return strategy.analyzers.getbyname(f"a{number}").get_analysis()


def test_the_strategy_steps_at_every_equity_sample_at_its_event_time(tick_run):
    strategy, result = tick_run()
    stepped = from_num(np.asarray(strategy.lines.datetime.array))
    assert len(result.equity_times) > 1200  # at least one step per second of the 20-minute run
    np.testing.assert_allclose(stepped, result.equity_times, rtol=0, atol=1e-4)
    fill_times = [fill.timestamp for fill in result.fills]
    assert len(fill_times) == 6 and set(fill_times) <= set(result.equity_times.tolist())  # a step at each fill
    assert len(result.equity_times) == 1200 + 1 + 6  # each second, the final state, and the six fills


def test_drawdown_is_the_max_drawdown_of_the_equity_curve(tick_run):
    strategy, result = tick_run([(bt.analyzers.DrawDown, {})])
    expected = drawdown_pct(result.equity_values)
    assert expected > 0.05  # the run has a real drawdown to find
    assert analysis(strategy).max.drawdown == pytest.approx(expected, rel=1e-12)
    assert analysis(strategy).max.moneydown == pytest.approx(result.max_drawdown_money, rel=1e-12)
    assert result.max_drawdown * 100 == pytest.approx(expected, rel=1e-12)


def test_annual_return_splits_the_run_at_the_new_year(tick_run):
    strategy, result = tick_run([(bt.analyzers.AnnualReturn, {})])
    starts, last = period_last_values(result.equity_times, result.equity_values, 1.0)
    end_of_2024 = last[starts < START + 600][-1]
    assert dict(analysis(strategy)) == {
        2024: pytest.approx(end_of_2024 / CASH - 1.0, rel=1e-12),
        2025: pytest.approx(result.end_value / end_of_2024 - 1.0, rel=1e-12),
    }
    assert end_of_2024 != CASH and result.end_value != end_of_2024


def test_returns_normalise_per_step_period_not_per_day(tick_run):
    strategy, result = tick_run([(bt.analyzers.Returns, {})])
    seconds_stepped = len(np.unique(np.floor(result.equity_times)))
    total = math.log(result.end_value / CASH)
    returns = analysis(strategy)
    assert returns["rtot"] == pytest.approx(total, rel=1e-12)
    assert returns["ravg"] == pytest.approx(total / seconds_stepped, rel=1e-12)
    assert returns["rnorm100"] == pytest.approx(100 * math.expm1(total / seconds_stepped), rel=1e-9)


def test_returns_with_a_daily_timeframe_count_the_two_days_the_run_touches(tick_run):
    strategy, result = tick_run([(bt.analyzers.Returns, {"timeframe": bt.TimeFrame.Days})])
    total = math.log(result.end_value / CASH)
    assert analysis(strategy)["rnorm"] == pytest.approx(math.expm1(total / 2 * 252), rel=1e-9)


def test_time_return_per_minute_has_one_return_per_minute_of_the_run(tick_run):
    strategy, result = tick_run([(bt.analyzers.TimeReturn, MINUTES)])
    starts, expected = period_returns(result, 60.0)
    returns = analysis(strategy)
    assert len(returns) == 20
    assert list(returns) == [naive_utc(start) for start in starts]
    np.testing.assert_allclose(list(returns.values()), expected, rtol=0, atol=1e-15)


def test_sharpe_ratio_per_minute_matches_numpy_on_minute_returns(tick_run):
    strategy, result = tick_run([(bt.analyzers.SharpeRatio, {**MINUTES, "riskfreerate": 0.0})])
    _, returns = period_returns(result, 60.0)
    assert analysis(strategy)["sharperatio"] == pytest.approx(returns.mean() / returns.std(), rel=1e-9)


def test_sharpe_ratio_keeps_backtraders_unconverted_rate_for_minutes(tick_run):
    strategy, result = tick_run([(bt.analyzers.SharpeRatio, MINUTES)])
    _, returns = period_returns(result, 60.0)
    excess = returns - 0.01  # no factor for minutes: backtrader takes the rate per period as given
    assert analysis(strategy)["sharperatio"] == pytest.approx(excess.mean() / excess.std(), rel=1e-9)


def test_positions_value_is_the_position_at_each_step_times_the_price(tick_run):
    strategy, result = tick_run([(bt.analyzers.PositionsValue, {})])
    fill_times = np.array([fill.timestamp for fill in result.fills])
    held = np.cumsum([fill.size for fill in result.fills])
    expected = {}  # keyed by step time: steps at one time keep the last, as the analyzer does
    for time, price in zip(result.equity_times, result.prices):
        filled = np.searchsorted(fill_times, time, side="right")
        expected[time] = (held[filled - 1] if filled else 0.0) * price
    got = analysis(strategy)
    assert len(got) == len(expected) and held[2] > 0
    np.testing.assert_allclose([values[0] for values in got.values()], list(expected.values()), rtol=1e-12)


def test_the_clock_period_is_the_equity_interval(tick_run):
    strategy, result = tick_run([(bt.analyzers.TimeReturn, {})], equity_interval=60)
    _, expected = period_returns(result, 60.0)
    returns = list(analysis(strategy).values())
    assert len(returns) == 20  # Seconds x 60: one a minute, the last with the final state
    np.testing.assert_allclose(returns, expected, rtol=0, atol=1e-15)


def test_buysell_and_trades_observers_mark_each_fill_and_closed_trade(tick_run):
    strategy, result = tick_run()
    stepped = from_num(np.asarray(strategy.lines.datetime.array))
    buys = np.asarray(strategy.stats.buysell[0].lines.buy.array)
    sells = np.asarray(strategy.stats.buysell[0].lines.sell.array)
    bought = [fill for fill in result.fills if fill.size > 0]
    sold = [fill for fill in result.fills if fill.size < 0]
    assert buys[~np.isnan(buys)].tolist() == [fill.price for fill in bought]  # at the fill's price and step
    assert sells[~np.isnan(sells)].tolist() == [fill.price for fill in sold]
    np.testing.assert_allclose(stepped[~np.isnan(buys)], [fill.timestamp for fill in bought], atol=1e-4)
    np.testing.assert_allclose(stepped[~np.isnan(sells)], [fill.timestamp for fill in sold], atol=1e-4)
    pnl = np.concatenate([np.asarray(strategy.stats.trades.lines.pnlplus.array),
                          np.asarray(strategy.stats.trades.lines.pnlminus.array)])
    assert sorted(pnl[~np.isnan(pnl)].tolist()) == pytest.approx(sorted(
        (sell.price - buy.price) * buy.size - buy.commission - sell.commission for buy, sell in zip(bought, sold)))
    value = np.asarray(strategy.stats.broker.lines.value.array)
    np.testing.assert_allclose(value, result.equity_values, rtol=1e-15)


def test_a_clock_under_a_second_gives_analyzers_one_second_periods(tick_run):
    strategy, result = tick_run([(bt.analyzers.TimeReturn, {})], equity_interval=0.5)
    starts, expected = period_returns(result, 1.0)
    assert len(result.equity_times) > 2 * 1200  # a step each half second
    returns = analysis(strategy)
    assert len(returns) == len(starts) == 1200
    np.testing.assert_allclose(list(returns.values()), expected, rtol=0, atol=1e-15)


def test_time_drawdown_per_second_takes_the_first_value_of_each_second(tick_run):
    strategy, result = tick_run([(bt.analyzers.TimeDrawDown, {})])
    seconds = np.floor(result.equity_times)
    first = result.equity_values[np.r_[0, np.flatnonzero(np.diff(seconds)) + 1]]
    assert analysis(strategy)["maxdrawdown"] == pytest.approx(drawdown_pct(first), rel=1e-12)


def test_gross_leverage_is_the_position_value_over_the_portfolio_value_at_each_step(tick_run):
    strategy, result = tick_run([(bt.analyzers.GrossLeverage, {})])
    fill_times = np.array([fill.timestamp for fill in result.fills])
    held = np.r_[0.0, np.cumsum([fill.size for fill in result.fills])]
    size = held[np.searchsorted(fill_times, result.equity_times, side="right")]
    expected = dict(zip(result.equity_times.tolist(), size * result.prices / result.equity_values))
    got = list(analysis(strategy).values())
    assert max(got) > 0.4  # 0.5 BTC of about 94,000 on 100,000
    np.testing.assert_allclose(got, list(expected.values()), rtol=1e-9, atol=1e-12)


def test_fills_against_a_book_are_steps_too(run_ticks):
    from tests.conftest import T0

    book = [(T0, "snapshot", [[99.0, 5.0]], [[101.0, 5.0]])]
    book += [(T0 + 0.4 * k, "delta", [[99.0, 3.0 + k % 3]], [[101.0, 3.0 + k % 3]]) for k in range(1, 40)]
    trades = [(T0 + 0.25 * k, 100.0 + k % 5, 1.0, "buy") for k in range(1, 60)]
    actions = {3: lambda s: s.buy(size=2.0), 30: lambda s: s.close(), 61: lambda s: s.buy(size=1.0)}
    strategy, cerebro = run_ticks(trades=trades, book=book, actions=actions)
    result = cerebro.tick_result
    stepped = from_num(np.asarray(strategy.lines.datetime.array))
    assert len(result.fills) == 3
    for fill in result.fills:  # each fill is a step at its time, its marker at its price
        at = np.flatnonzero(np.abs(stepped - fill.timestamp) < 1e-4)
        line = strategy.stats.buysell[0].lines.buy if fill.size > 0 else strategy.stats.buysell[0].lines.sell
        assert fill.price in [line.array[i] for i in at]
    value = np.asarray(strategy.stats.broker.lines.value.array)
    np.testing.assert_allclose(value, result.equity_values, rtol=1e-15)
