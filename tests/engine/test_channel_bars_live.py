"""Live bars from a channel close on the clock at their end time, not when the next trade
arrives: the real ccxt.pro client against the local fake Binance, 1-second bars."""

from __future__ import annotations

import threading
import time

import backtrader as bt
import pytest

from backtrader_channels.feeds import Backoff, CCXTLiveTickFeed
from backtrader_channels.live import LiveEventQueue
from backtrader_channels.testing import FakeBinance

SYMBOL = "BTC/USDT"
PAUSE = 2.5  # seconds without a trade between the two bursts


class RecordBars(bt.Strategy):
    """Records each bar as next() sees it, with the wall time of the call; buys on the first
    bar and stops the run on the first bar after the pause."""

    def __init__(self):
        self.bars: list[tuple] = []
        self.fill = None

    def next(self):
        data = self.data
        self.bars.append((time.time(), self.event_time, bt.num2date(data.datetime[0]).timestamp(), data.open[0],
                          data.high[0], data.low[0], data.close[0], data.volume[0]))
        if len(data) == 1:
            self.buy(size=0.1)
        elif self.bars[-1][1] - self.bars[-2][1] > 1.5:  # the first bar after the pause
            self.env.runstop()

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fill = (order.executed.price, self.event_time)


def test_live_bars_close_on_the_clock_and_orders_fill_on_the_next_trade():
    with FakeBinance([SYMBOL], price=60_000.0) as server:
        queue = LiveEventQueue()
        feed = CCXTLiveTickFeed("binance", SYMBOL, queue, config=server.ccxt_config(), backoff=Backoff(0.05, 0.2))
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.broker.setcash(100_000.0)
        channel = cerebro.add_live_feed(feed)
        bars = cerebro.resampledata(channel, timeframe=bt.TimeFrame.Seconds, compression=1)
        cerebro.addstrategy(RecordBars)

        def send():
            server.wait_subscriptions(server.trade_stream(SYMBOL), 1)
            while not 0.05 < time.time() % 1 < 0.4:  # a burst early in a second
                time.sleep(0.01)
            server.send_trades(SYMBOL, 5)
            time.sleep(PAUSE)
            server.send_trades(SYMBOL, 3)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        (strategy,) = cerebro.run(mode=bt.RunMode.TICK, duration=30)
        sender.join(10)

    assert bars.islive() and cerebro.datas == [bars]
    sent = server.trades[SYMBOL]
    assert len(sent) == 8
    by_second: dict[int, list[dict]] = {}
    for trade in sent:
        by_second.setdefault(trade["T"] // 1000 + 1, []).append(trade)  # the bar [s, s+1) ends at s+1
    expected = [(float(end), float(end), float(group[0]["p"]), max(float(t["p"]) for t in group),
                 min(float(t["p"]) for t in group), float(group[-1]["p"]), sum(float(t["q"]) for t in group))
                for end, group in sorted(by_second.items())]
    seen = [(event, stamp, o, h, lo, c, v) for _, event, stamp, o, h, lo, c, v in strategy.bars]
    assert seen == [pytest.approx(row) for row in expected]  # one bar per second with trades, none for the pause
    wall, end_before_pause = strategy.bars[-2][0], strategy.bars[-2][1]
    after_pause = sent[5]["T"] / 1000
    # the last bar before the pause closed on the clock, soon after its end, long before the next trade came
    assert end_before_pause <= wall < after_pause - 1.0
    first_after = next(t for t in sent if t["T"] / 1000 >= strategy.bars[0][1])  # sent on the first bar
    assert strategy.fill == (float(first_after["p"]), first_after["T"] / 1000)
    assert cerebro._bc_engine.live_bars.late == 0
