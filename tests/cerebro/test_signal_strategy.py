"""``bt.SignalStrategy`` in tick mode: its pending-order sentinel is cleared when the order
finishes (its own ``_notify`` runs), so it trades at every signal as in a bar run.

One-minute bars closing at 00:01, 00:02, ... and one trade per minute at :30, priced
100 + minute: an order sent at a bar close fills at the next trade, 30 s later. The signal
``close - SMA(close, 2)`` is half the change of the close: positive on a rising bar.
"""

from __future__ import annotations

import backtrader as bt

import backtrader_channels as bc
from tests.conftest import T0, bar_feed, write_minute_bars, write_trades_csv


class Crossing(bt.SignalStrategy):
    """Goes long while the close rises (SIGNAL_LONG on close - SMA(2)); records its fills."""

    def __init__(self):
        self.signal_add(bt.SIGNAL_LONG, self.data.close - bt.ind.SMA(self.data.close, period=2))
        self.fills = []

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fills.append((self.event_time - T0, order.executed.price, order.executed.size))


def run(tmp_path, closes, minutes_traded, **params):
    bars = write_minute_bars(tmp_path / "bars.csv", closes)
    trades = write_trades_csv(tmp_path / "t.csv", [(T0 + 60 * m + 30, 100.0 + m, 1, "buy") for m in minutes_traded])
    cerebro = bt.Cerebro()
    cerebro.adddata(bar_feed(bars), name="BTC/USDT")
    cerebro.add_channel(bc.TickChannel, symbol="BTC/USDT", dataname=trades)
    cerebro.addstrategy(Crossing, **params)
    cerebro.addsizer(bt.sizers.FixedSize, stake=1)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    return strategy, cerebro


def test_every_signal_trades_not_only_the_first(tmp_path):
    # closes rise at bars 1-2, fall 3-5, rise 6-8, fall 9-10 (bar i closes at 60 (i + 1) s)
    closes = [100, 101, 102, 101, 100, 99, 100, 101, 102, 101, 100]
    strategy, cerebro = run(tmp_path, closes, range(12))
    # buy at the close of bar 1 (120 s), filled at the 150 s trade (102); out at bar 3's close (240 s)
    # on the 270 s trade (104); in again at bar 6 (420 s -> 450 s, 107), out at bar 9 (600 s -> 630 s, 110)
    assert strategy.fills == [(150.0, 102.0, 1.0), (270.0, 104.0, -1.0), (450.0, 107.0, 1.0), (630.0, 110.0, -1.0)]
    assert strategy._sentinel is None
    assert cerebro.broker.getvalue() == 10_000.0 + (104 - 102) + (110 - 107)


def test_accumulate_adds_at_each_rising_bar_once_the_previous_order_filled(tmp_path):
    strategy, _ = run(tmp_path, [100, 101, 102, 103, 102], range(6), _accumulate=True)
    # buys at bars 1, 2, 3 (fills at 150, 210, 270 s), closes the 3 held at bar 4 (330 s, 105)
    assert strategy.fills == [(150.0, 102.0, 1.0), (210.0, 103.0, 1.0), (270.0, 104.0, 1.0), (330.0, 105.0, -3.0)]


def test_a_pending_order_blocks_the_next_signal_unless_concurrent(tmp_path):
    # no trade in minute 2: the buy sent at bar 1 (120 s) is still pending at bar 2 (180 s)
    minutes = [0, 1, 3, 4, 5]
    single, _ = run(tmp_path, [100, 101, 102, 103], minutes)
    assert single.fills == [(210.0, 103.0, 1.0)]
    both, _ = run(tmp_path, [100, 101, 102, 103], minutes, _concurrent=True)
    assert both.fills == [(210.0, 103.0, 1.0), (210.0, 103.0, 1.0)]  # bar 2 bought again: nothing was held
