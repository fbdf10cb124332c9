"""A ChannelBridge indicator's period counts ticks: it never holds back a bar strategy's warm-up."""

from __future__ import annotations

import math

import backtrader as bt
import numpy as np
import pytest

import backtrader_channels as bc
from tests.conftest import T0, bar_feed, write_minute_bars, write_trades_csv

MINUTES = 60
TRADES_PER_MINUTE = 10
PRICES = [100.0 + 0.01 * i for i in range(MINUTES * TRADES_PER_MINUTE)]  # trade i at T0 + 1 + 6 i


class TickSmaOnBars(bt.Strategy):
    params = (("tick_period", 200), ("bar_period", 0))

    def __init__(self):
        price = bc.ChannelBridge(channel=self.channels[("tick", "BTC/USDT")], field="price")
        self.tick_sma = bt.indicators.SMA(price, period=self.p.tick_period)
        if self.p.bar_period:
            self.bar_sma = bt.indicators.SMA(self.data.close, period=self.p.bar_period)
        self.prenexts = 0
        self.nexts = []  # (bars so far, trades so far, tick SMA)

    def prenext(self):
        self.prenexts += 1

    def next(self):
        self.nexts.append((len(self.data), len(self.tick_sma), self.tick_sma[0]))


@pytest.fixture
def run(tmp_path):
    bars = write_minute_bars(tmp_path / "bars.csv", [100.0 + minute for minute in range(MINUTES)])
    trades = write_trades_csv(tmp_path / "trades.csv",
                              [(T0 + 1 + 6 * i, price, 1.0, "buy") for i, price in enumerate(PRICES)])

    def run_strategy(**params):
        cerebro = bt.Cerebro()
        cerebro.adddata(bar_feed(bars), name="BTC/USDT")
        cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=trades)
        cerebro.addstrategy(TickSmaOnBars, **params)
        (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
        return strategy

    return run_strategy


def test_sma_over_200_trades_does_not_delay_next_on_60_minute_bars(run):
    strategy = run()
    assert strategy.prenexts == 0
    assert [bars for bars, _, _ in strategy.nexts] == list(range(1, MINUTES + 1))
    # bar k closes at T0 + 60 k, after 10 k trades; the tick SMA has its 200 trades from bar 20 on
    assert [trades for _, trades, _ in strategy.nexts] == [TRADES_PER_MINUTE * k for k in range(1, MINUTES + 1)]
    assert all(math.isnan(sma) for _, _, sma in strategy.nexts[:19])
    for bars, trades, sma in strategy.nexts[19:]:
        assert sma == pytest.approx(np.mean(PRICES[trades - 200:trades])), bars


def test_bar_indicators_still_set_the_warm_up_in_bars(run):
    strategy = run(bar_period=5)
    assert strategy.prenexts == 4  # bars 1-4, as backtrader does for SMA(5) on bars
    assert [bars for bars, _, _ in strategy.nexts] == list(range(5, MINUTES + 1))
