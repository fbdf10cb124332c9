"""Timers (``add_timer``) in tick mode fire at the first event at or after their time, as
backtrader's ``Timer`` decides at bars: ``when``, ``repeat``, ``weekdays``; in bulk-taken
trades as in trades watched one by one."""

from __future__ import annotations

import datetime as dt

import backtrader as bt
import pytest

import backtrader_channels as bc
from tests.conftest import T0, write_trades_csv

# T0 is Wednesday 2025-01-01 00:00 UTC


class Timed(bt.Strategy):
    """Records each timer call as (event time - T0 in minutes, the timer's 'when')."""

    params = (("timer", None),)

    def __init__(self):
        self.calls = []
        if self.p.timer is not None:
            self.add_timer(**self.p.timer)

    def notify_timer(self, timer, when, *args, **kwargs):
        self.calls.append(((self.event_time - T0) / 60, when.strftime("%a %H:%M")))


class TimedWatchingTicks(Timed):
    def notify_tick(self, tick):  # trades one by one (no bulk path)
        pass


def run(tmp_path, strategy, trades, **params):
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=write_trades_csv(tmp_path / "t.csv", trades))
    cerebro.addstrategy(strategy, **params)
    (ran,) = cerebro.run(mode=bt.RunMode.TICK)
    return ran, cerebro


@pytest.mark.parametrize("strategy", [Timed, TimedWatchingTicks])
def test_when_repeat_and_weekdays_fire_at_the_first_event_at_or_after(tmp_path, strategy):
    trades = [(T0 + 600 * k, 100.0, 1, "buy") for k in range(3 * 144)]  # every 10 minutes for 3 days
    timer = dict(when=dt.time(1, 5), repeat=dt.timedelta(hours=6), weekdays=[3, 5])  # Wednesdays and Fridays
    ran, _ = run(tmp_path, strategy, trades, timer=timer)
    day = 24 * 60
    times = [1 * 60 + 10, 7 * 60 + 10, 13 * 60 + 10, 19 * 60 + 10]  # 01:05, 07:05, ... reached at :10
    assert ran.calls == [*[(t, f"Wed {h:02d}:05") for t, h in zip(times, (1, 7, 13, 19))],
                         *[(2 * day + t, f"Fri {h:02d}:05") for t, h in zip(times, (1, 7, 13, 19))]]


def test_an_order_sent_by_a_timer_fills_on_the_next_trade(tmp_path):
    class BuyOnTimer(bt.Strategy):
        def notify_timer(self, timer, when, *args, **kwargs):
            self.order = self.buy(size=1.0)
            self.sent_at = self.event_time - T0

    trades = [(T0 + 10 * k, 100.0 + k, 1, "buy") for k in range(6)]
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=write_trades_csv(tmp_path / "t.csv", trades))
    cerebro.addstrategy(BuyOnTimer)
    cerebro.add_timer(when=dt.time(0, 0, 25), strats=True)  # cerebro's timer, passed on to the strategies
    (ran,) = cerebro.run(mode=bt.RunMode.TICK)
    assert ran.sent_at == 30.0  # the trade at 30 s is the first at or after 00:00:25
    assert (ran.order.executed.price, ran.order.executed.size) == (104.0, 1.0)  # the trade at 40 s


def test_session_start_fires_once_a_day_at_the_first_event(tmp_path):
    trades = [(T0 + 3600 * h + 1800, 100.0, 1, "buy") for h in range(48)]  # hourly at :30, two days
    ran, _ = run(tmp_path, Timed, trades, timer=dict(when=bt.timer.SESSION_START))
    assert ran.calls == [(30.0, "Wed 00:00"), (24 * 60 + 30.0, "Thu 00:00")]
