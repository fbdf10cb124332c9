"""Runs with bar feeds: analyzers and observers step on the bar closes, as in backtrader,
and observers show the fills and trades notified between two bars."""

from __future__ import annotations

import numpy as np
import pytest

from tests.cerebro.conftest import CASH, MINUTES, drawdown_pct
from tests.conftest import T0


def bar_of(timestamp: float) -> int:
    """Index of the 1-minute bar delivered at or after ``timestamp`` (bars close at T0 + 60k)."""
    return int(np.ceil((timestamp - T0) / 60.0)) - 1


def test_buysell_observer_marks_the_bar_of_each_fill(bar_run):
    strategy, result = bar_run
    observer = strategy.stats.buysell[0]
    buys, sells = (np.asarray(line.array) for line in (observer.lines.buy, observer.lines.sell))
    lows, highs = np.asarray(strategy.data.low.array), np.asarray(strategy.data.high.array)
    bought = [fill for fill in result.fills if fill.size > 0]
    sold = [fill for fill in result.fills if fill.size < 0]
    assert len(bought) == len(sold) == 3
    assert np.flatnonzero(~np.isnan(buys)).tolist() == [bar_of(fill.timestamp) for fill in bought]
    assert np.flatnonzero(~np.isnan(sells)).tolist() == [bar_of(fill.timestamp) for fill in sold]
    marked = ~np.isnan(buys)  # stdstats plots markers 1.5% below the bar's low / above its high
    np.testing.assert_allclose(buys[marked], lows[marked] * 0.985)
    np.testing.assert_allclose(sells[~np.isnan(sells)], highs[~np.isnan(sells)] * 1.015)


def test_trades_observer_shows_each_closed_trade_at_its_bar(bar_run):
    strategy, result = bar_run
    observer = strategy.stats.trades
    pnl = np.where(np.isnan(observer.lines.pnlplus.array), observer.lines.pnlminus.array,
                   observer.lines.pnlplus.array)
    sold = [fill for fill in result.fills if fill.size < 0]
    bought = [fill for fill in result.fills if fill.size > 0]
    assert np.flatnonzero(~np.isnan(pnl)).tolist() == [bar_of(fill.timestamp) for fill in sold]
    expected = [(sell.price - buy.price) * buy.size - buy.commission - sell.commission
                for buy, sell in zip(bought, sold)]
    np.testing.assert_allclose(pnl[~np.isnan(pnl)], expected, rtol=1e-9)


def test_analyzers_see_the_value_at_each_bar_close(bar_run):
    strategy, result = bar_run
    closes = T0 + 60.0 * np.arange(1, MINUTES + 1)
    at_close = result.equity_values[np.searchsorted(result.equity_times, closes)]  # a trade opens each second
    assert np.all(np.isin(closes, result.equity_times))
    returns = at_close / np.r_[CASH, at_close[:-1]] - 1.0
    np.testing.assert_allclose(list(strategy.analyzers.minutes.get_analysis().values()), returns, rtol=0, atol=1e-15)
    # as in backtrader, the first value DrawDown sees is the first bar's (not the starting cash)
    assert strategy.analyzers.drawdown.get_analysis().max.drawdown == pytest.approx(drawdown_pct(at_close), rel=1e-12)
