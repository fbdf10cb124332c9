"""Sizers in a tick-only run, with or without stdstats: they read the channel's last trade
(the ChannelData's ``close[0]``), and ``QuoteSizer`` sizes in fractions of a unit."""

from __future__ import annotations

import backtrader as bt
import pytest

import backtrader_channels as bc
from tests.conftest import T0, write_trades_csv


class OnTrades(bt.Strategy):
    """Calls ``actions[n](self)`` at trade n (1-based); records fills (price, size) and cash."""

    params = (("actions", None),)

    def __init__(self):
        self.n = 0
        self.fills = []

    def notify_tick(self, tick):
        self.n += 1
        action = self.p.actions.get(self.n)
        if action is not None:
            action(self)

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fills.append((order.executed.price, order.executed.size))


def run(tmp_path, prices, actions, sizer=None, stdstats=False, **sizer_kw):
    trades = write_trades_csv(tmp_path / "t.csv", [(T0 + k, price, 1, "buy") for k, price in enumerate(prices)])
    cerebro = bt.Cerebro(stdstats=stdstats)
    cerebro.broker.setcash(10_000.0)
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=trades)
    cerebro.addstrategy(OnTrades, actions=actions)
    if sizer is not None:
        cerebro.addsizer(sizer, **sizer_kw)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    return strategy, cerebro.broker


@pytest.mark.parametrize("stdstats", [False, True])
def test_percent_sizer_sizes_on_the_last_trade(tmp_path, stdstats):
    # at trade 1 (100): 50% of 10,000 is 50 units; filled at trade 2 (125): 6,250 spent
    strategy, broker = run(tmp_path, [100.0, 125.0], {1: lambda s: s.buy()}, bt.sizers.PercentSizer,
                           stdstats=stdstats, percents=50)
    assert strategy.fills == [(125.0, 50.0)]
    assert broker.getcash() == 10_000.0 - 6_250.0


def test_all_in_sizer_after_the_price_moved(tmp_path):
    # at trade 2 (80, not the first trade's 100): all of 10,000 is 125 units, filled at trade 3 (80)
    strategy, broker = run(tmp_path, [100.0, 80.0, 80.0], {2: lambda s: s.buy()}, bt.sizers.AllInSizer)
    assert strategy.fills == [(80.0, 125.0)]
    assert broker.getcash() == 0.0


def test_order_target_percent_reads_the_last_trade(tmp_path):
    # value 10,000 at trade 2 (200): half of it is 25 units (whole units: backtrader's getsize)
    strategy, _ = run(tmp_path, [100.0, 200.0, 200.0], {2: lambda s: s.order_target_percent(target=0.5)})
    assert strategy.fills == [(200.0, 25.0)]


def test_quote_sizer_spends_a_quote_amount_in_fractions_and_sells_no_more_than_held(tmp_path):
    prices = [94_000.0, 94_000.0, 93_000.0, 93_000.0]
    strategy, broker = run(tmp_path, prices, {1: lambda s: s.buy(), 3: lambda s: s.sell()}, bc.QuoteSizer,
                           cash=1_000.0)
    bought = 1_000.0 / 94_000.0  # 0.0106383 BTC
    # the sell is worth 1,000 at 93,000 (0.0107527 BTC), more than held: it sells what is held
    assert strategy.fills == [(94_000.0, pytest.approx(bought)), (93_000.0, pytest.approx(-bought))]
    assert broker.getposition(strategy.data).size == 0.0
    assert broker.getcash() == pytest.approx(10_000.0 - 1_000.0 + bought * 93_000.0)
