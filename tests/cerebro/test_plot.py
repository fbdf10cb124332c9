"""cerebro.plot() after tick-mode runs: backtrader's plotter, the clock's steps as bars,
fills marked at their steps and prices."""

from __future__ import annotations

import backtrader as bt
import backtrader.plot  # noqa: F401 (it picks TkAgg on import: Agg after it, for any backtrader version)
import matplotlib
import numpy as np
import pytest

import backtrader_channels as bc
from backtrader_channels.plotting import step_bars
from backtrader_channels.sources.chunks import TradeChunk
from tests.cerebro.conftest import MINUTES, InAndOut, random_walk_trades
from tests.conftest import T0, bar_feed, write_minute_bars, write_trades_csv

matplotlib.use("Agg")


def chunk(rows: list[tuple]) -> TradeChunk:
    seconds, price, volume = (np.array(column, dtype=float) for column in zip(*rows))
    return TradeChunk(np.round(seconds * 1e9).astype(np.int64), price, volume, np.zeros(len(rows), dtype=bool), None)


def test_step_bars_take_the_trades_since_the_step_before_across_chunks():
    steps = np.array([10.1, 11.2, 13.0, 14.0])
    bars = step_bars(steps, iter([chunk([(10.1, 5.0, 1.0), (10.5, 7.0, 2.0)]),
                                  chunk([(11.2, 4.0, 1.0), (11.3, 6.0, 0.5), (12.5, 3.0, 0.5), (15.0, 9.0, 1.0)])]))
    opens, highs, lows, closes, volumes = (values.tolist() for values in bars)
    assert opens[:3] == [5.0, 7.0, 6.0] and highs[:3] == [5.0, 7.0, 6.0] and lows[:3] == [5.0, 4.0, 3.0]
    assert closes[:3] == [5.0, 4.0, 3.0] and volumes == [1.0, 3.0, 1.0, 0.0]
    assert np.isnan(bars[0][3])  # no trade in (13, 14]; the trade after the last step is left out


def test_plot_after_a_tick_only_run_draws_step_bars_and_the_fills(tick_run):
    trades = random_walk_trades(seconds=300.0)
    strategy, result = tick_run(trades=trades, legs=((102, 503), (701, 1001)))
    figures = strategy.env.plot(iplot=False)
    figure = figures[0][0]
    data = strategy.data
    steps = result.equity_times  # one step each
    assert np.asarray(data.volume.array).sum() == pytest.approx(0.01 * len(trades))  # every trade in one bar
    first = [price for time, price, _, _ in trades if time <= steps[0]]
    assert data.high.array[0] == max(first) and data.close.array[0] == first[-1]
    markers = {line.get_marker(): line.get_ydata() for axis in figure.axes for line in axis.get_lines()
               if line.get_marker() in ("^", "v")}
    bought = [fill.price for fill in result.fills if fill.size > 0]
    sold = [fill.price for fill in result.fills if fill.size < 0]
    assert [y for y in markers["^"] if y == y] == bought and [y for y in markers["v"] if y == y] == sold
    assert len(bought) == len(sold) == 2


def test_plot_after_a_run_with_bars_marks_the_fills_at_their_bars(bar_run):
    strategy, result = bar_run
    figure = strategy.env.plot(iplot=False)[0][0]
    markers = {line.get_marker(): line.get_ydata() for axis in figure.axes for line in axis.get_lines()
               if line.get_marker() in ("^", "v")}
    assert sum(y == y for y in markers["^"]) == sum(y == y for y in markers["v"]) == 3


def test_plot_after_a_tick_only_run_without_steps_says_why_it_cannot(tick_run):
    strategy, _ = tick_run(stdstats=False)
    with pytest.raises(ValueError, match="took none: it had no observers or analyzers"):
        strategy.env.plot(iplot=False)


def test_plot_keeps_the_backend_the_user_chose(tmp_path):
    """backtrader's plot module switches to TkAgg on import; a script that chose Agg (no
    display here) still writes its figure."""
    import subprocess
    import sys
    import textwrap

    from tests.conftest import T0, write_trades_csv

    trades = write_trades_csv(tmp_path / "t.csv", [(T0 + 0.5 * k, 100.0 + k % 7, 1.0, "buy") for k in range(40)])
    script = textwrap.dedent(f"""
        import matplotlib
        matplotlib.use('Agg')
        import backtrader as bt
        import backtrader_channels
        from backtrader_channels import TickChannel

        class Once(bt.Strategy):
            def notify_tick(self, tick):
                if len(self.channels[('tick', 'BTC/USDT')]) == 5:
                    self.buy(size=1.0)

        cerebro = bt.Cerebro()
        cerebro.add_channel(TickChannel, symbol='BTC/USDT', dataname={str(trades)!r})
        cerebro.addstrategy(Once)
        cerebro.run(mode=bt.RunMode.TICK)
        cerebro.plot(iplot=False)[0][0].savefig('plot.png')
        print(matplotlib.get_backend())
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().lower() == "agg" and (tmp_path / "plot.png").stat().st_size > 1000


class BridgeSma(InAndOut):
    """InAndOut with an SMA of 4 trades on a ChannelBridge."""

    def __init__(self):
        super().__init__()
        self.sma = bt.indicators.SMA(bc.ChannelBridge(channel=self.channels[("tick", "BTC/USDT")]), period=4)


def drawn(figure) -> list[np.ndarray]:
    return [np.asarray(line.get_ydata(), dtype=float) for axis in figure.axes for line in axis.get_lines()]


@pytest.mark.parametrize("watch_ticks", [False, True])  # filled at once from the file, or step by step
def test_plot_draws_indicators_on_a_channel_bridge_at_each_step(tick_run, watch_ticks):
    class Watching(BridgeSma):
        def notify_tick(self, tick):
            super().notify_tick(tick)

    trades = random_walk_trades(seconds=120.0)  # a trade every 0.25 s
    strategy, result = tick_run(trades=trades, strategy=Watching if watch_ticks else BridgeSma, legs=())
    figure = strategy.env.plot(iplot=False)[0][0]
    # at each step, the SMA of the last 4 trades at or before it
    times, prices = np.array([t for t, *_ in trades]), np.array([p for _, p, *_ in trades])
    last = np.searchsorted(times, result.equity_times, side="right") - 1
    expected = np.array([prices[k - 3:k + 1].mean() if k >= 3 else np.nan for k in last])
    assert any(len(y) == len(expected) and np.allclose(y, expected, equal_nan=True) for y in drawn(figure))
    assert len(strategy.sma) == len(trades)  # the indicator keeps its own values after the plot
    assert strategy.sma[0] == pytest.approx(prices[-4:].mean())


def test_plot_with_bar_feeds_draws_bridge_indicators_at_each_bar(tmp_path):
    trades = [row for row in random_walk_trades(seconds=1200.0) if row[0] >= T0]  # 00:00-00:10, 240 a minute
    closes = [trades[240 * (k + 1) - 1][1] for k in range(MINUTES)]
    cerebro = bt.Cerebro()
    cerebro.adddata(bar_feed(write_minute_bars(tmp_path / "bars.csv", closes)), name="BTC/USDT")
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=write_trades_csv(tmp_path / "t.csv", trades))
    cerebro.addstrategy(BridgeSma, legs=())
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    figure = strategy.env.plot(iplot=False)[0][0]
    prices = np.array([p for _, p, *_ in trades])
    # bar k closes at 00:(k+1):00, after the trades stamped then: the last of them is trade 240 (k + 1)
    expected = np.array([prices[240 * (k + 1) - 3:240 * (k + 1) + 1].mean() for k in range(MINUTES)])
    assert any(len(y) == MINUTES and np.allclose(y, expected) for y in drawn(figure))
