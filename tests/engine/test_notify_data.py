"""``notify_data`` in tick mode: each symbol's data announces, before its first event, what
its events are in backtrader's terms: DELAYED (history) in a backtest, LIVE in a live run."""

from __future__ import annotations

import backtrader as bt

import backtrader_channels as bc
from backtrader_channels import Event, EventPriority, TickEvent
from backtrader_channels.live import LiveEventQueue
from tests.conftest import T0, write_trades_csv


class Statuses(bt.Strategy):
    """Records (data name, status name, trades seen so far) for each notify_data."""

    def __init__(self):
        self.ticks = 0
        self.statuses = []

    def notify_data(self, data, status, *args, **kwargs):
        self.statuses.append((data._name, data._getstatusname(status), self.ticks))

    def notify_tick(self, tick):
        self.ticks += 1


def test_a_backtest_announces_each_symbols_data_as_delayed_before_the_first_event(tmp_path):
    cerebro = bt.Cerebro(stdstats=False)
    for symbol, start in (("BTC/USDT", 0), ("ETH/USDT", 5)):
        trades = write_trades_csv(tmp_path / f"{symbol[:3]}.csv", [(T0 + start + k, 100.0, 1, "buy") for k in range(3)])
        cerebro.add_channel(bc.TickChannel, symbol=symbol, dataname=trades)
    seen = []
    cerebro.adddatacb(lambda data, status, *args, **kwargs: seen.append((data._name, status)))
    cerebro.addstrategy(Statuses)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    assert strategy.statuses == [("BTC/USDT", "DELAYED", 0), ("ETH/USDT", "DELAYED", 0)]
    assert seen == [("BTC/USDT", bt.feed.DataBase.DELAYED), ("ETH/USDT", bt.feed.DataBase.DELAYED)]
    assert strategy.ticks == 6


def test_a_live_run_announces_live_for_each_symbol_before_its_first_event():
    queue = LiveEventQueue()
    for i, symbol in enumerate(("BTC/USDT", "BTC/USDT", "ETH/USDT")):
        tick = TickEvent(T0 + i, 100.0, 1.0, "buy", i, symbol)
        queue.push(Event(tick.timestamp, EventPriority.TICK, "tick", symbol, tick))
    queue.stop()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro._event_queue = queue
    cerebro.addstrategy(Statuses)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK, validator=False)
    # ETH/USDT's market is made when its first trade arrives, after the two of BTC/USDT
    assert strategy.statuses == [("BTC/USDT", "LIVE", 0), ("ETH/USDT", "LIVE", 2)]
