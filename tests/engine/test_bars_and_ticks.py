"""Bar feeds alongside channels in tick mode, and bar-only scripts unchanged by the import."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import backtrader as bt
import numpy as np

import backtrader_channels as bc
from tests.conftest import T0, bar_feed, write_minute_bars, write_trades_csv


def test_bars_are_delivered_when_they_close_after_the_ticks_of_that_time(tmp_path):
    closes = [100.0, 102.0, 104.0, 103.0]
    bars = write_minute_bars(tmp_path / "bars.csv", closes)
    trades = write_trades_csv(tmp_path / "t.csv", [(T0 + s, 100.0 + s / 60, 1, "buy") for s in (30, 60, 90, 180, 200)])
    log = []

    class Mixed(bt.Strategy):
        def __init__(self):
            self.sma = bt.indicators.SMA(self.data.close, period=2)

        def notify_tick(self, tick):
            log.append(("tick", tick.timestamp - T0))

        def next(self):
            log.append(("next", self.event_time - T0, len(self.data), self.data.close[0],
                        self.sma[0] if len(self.data) >= 2 else None))

    cerebro = bt.Cerebro()
    cerebro.adddata(bar_feed(bars), name="BTC/USDT")
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=trades)
    cerebro.addstrategy(Mixed)
    cerebro.run(mode=bt.RunMode.TICK)
    # notify_tick gets every trade; next() stays the bar callback: once per bar close, after
    # that time's ticks (prenext while SMA(2) warms up, so the first bar shows no next)
    assert log == [
        ("tick", 30.0), ("tick", 60.0), ("tick", 90.0),
        ("next", 120.0, 2, 102.0, 101.0),
        ("tick", 180.0),
        ("next", 180.0, 3, 104.0, 103.0),
        ("tick", 200.0),
        ("next", 240.0, 4, 103.0, 103.5),
    ]


def test_bar_strategy_resting_limits_fill_on_ticks_in_bulk_exactly_as_one_by_one(tmp_path):
    """A strategy with no tick callback is matched in bulk; the fills must equal a per-tick run."""
    rng = np.random.default_rng(5)
    seconds = np.sort(rng.uniform(0, 600, 4_000))
    prices = np.round(100 + np.cumsum(rng.normal(0, 0.05, 4_000)), 2)
    trades = write_trades_csv(tmp_path / "t.csv", [(T0 + s, p, 0.5, "buy") for s, p in zip(seconds, prices)])
    minute = (seconds // 60).astype(int)
    closes = [float(prices[minute == m][-1]) for m in range(10)]
    bars = write_minute_bars(tmp_path / "bars.csv", closes)

    class Dip(bt.Strategy):
        """Each bar: rest a buy 0.3 below the close and a sell 0.3 above (one at a time)."""

        def __init__(self):
            self.fills = []

        def next(self):
            close = self.data.close[0]
            if not self.position:
                self.buy(size=1.0, exectype=bt.Order.Limit, price=round(close - 0.3, 2))
            else:
                self.sell(size=1.0, exectype=bt.Order.Limit, price=round(close + 0.3, 2))

        def notify_order(self, order):
            if order.status == order.Completed:
                self.fills.append((self.event_time, order.executed.price, order.executed.size))

    class DipWatchingTicks(Dip):
        def notify_tick(self, tick):  # forces the one-by-one path
            self.last = tick.price

    outcomes = []
    for strategy in (Dip, DipWatchingTicks):
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.broker.set_shortcash(False)  # the sells pile up and go short: margin mode
        cerebro.adddata(bar_feed(bars), name="BTC/USDT")
        channel = cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=trades, history_size=50)
        cerebro.addstrategy(strategy)
        (result,) = cerebro.run(mode=bt.RunMode.TICK)
        outcomes.append((result.fills, cerebro.broker.getvalue(), len(channel), channel.latest,
                         channel.history(50), list(cerebro.tick_result.equity_values)))
    assert outcomes[0] == outcomes[1]
    assert len(outcomes[0][0]) >= 4 and len(outcomes[0][4]) == 50 and outcomes[0][2] == 4_000


BAR_SCRIPT = textwrap.dedent('''
    import sys
    import backtrader as bt
    if sys.argv[2] == "with":
        import backtrader_channels  # noqa: F401

    class SmaCross(bt.Strategy):
        params = (("fast", 5), ("slow", 15))

        def __init__(self):
            self.cross = bt.indicators.CrossOver(bt.indicators.SMA(period=self.p.fast), bt.indicators.SMA(period=self.p.slow))

        def next(self):
            if not self.position and self.cross > 0:
                self.buy(size=10)
            elif self.position and self.cross < 0:
                self.close()

        def notify_order(self, order):
            if order.status == order.Completed:
                print("fill", bt.num2date(order.executed.dt).isoformat(), order.executed.size, order.executed.price, order.executed.comm)

    for runonce in (True, False):
        cerebro = bt.Cerebro()
        cerebro.adddata(bt.feeds.GenericCSVData(dataname=sys.argv[1], dtformat="%Y-%m-%d", datetime=0, open=1, high=2,
                                                low=3, close=4, volume=5, openinterest=-1))
        cerebro.addstrategy(SmaCross)
        cerebro.broker.setcash(10000.0)
        cerebro.broker.setcommission(commission=0.001)
        cerebro.addanalyzer(bt.analyzers.TradeAnalyzer, _name="ta")
        (strategy,) = cerebro.run(runonce=runonce)
        print("value", cerebro.broker.getvalue(), "closed", strategy.analyzers.ta.get_analysis().total.closed)
''')


def test_bar_only_script_gives_identical_results_with_and_without_the_import(tmp_path):
    import datetime as dt

    rng = np.random.default_rng(3)
    closes = 100 + np.cumsum(rng.normal(0, 1.5, 250))
    day = dt.date(2024, 1, 1)
    rows = ["date,open,high,low,close,volume"] + [
        f"{day + dt.timedelta(days=i)},{c - 0.3:.2f},{c + 1:.2f},{c - 1:.2f},{c:.2f},1000" for i, c in enumerate(closes)
    ]
    (tmp_path / "bars.csv").write_text("\n".join(rows) + "\n")
    script = tmp_path / "sma_cross.py"
    script.write_text(BAR_SCRIPT)
    outputs = [
        subprocess.run([sys.executable, str(script), str(tmp_path / "bars.csv"), variant], capture_output=True,
                       text=True, check=True).stdout
        for variant in ("without", "with")
    ]
    assert outputs[0] == outputs[1]
    assert outputs[0].count("fill") >= 4 and outputs[0].count("value") == 2
