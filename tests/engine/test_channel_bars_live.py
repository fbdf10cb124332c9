"""Live bars from a channel close on the clock at their end time, not when the next trade
arrives: the real ccxt.pro client against the local fake Binance, 1-second bars."""

from __future__ import annotations

import threading
import time

import backtrader as bt
import pytest

import backtrader_channels as bc
from backtrader_channels import Event, EventPriority, TickEvent
from backtrader_channels.feeds import Backoff, CCXTLiveTickFeed
from backtrader_channels.live import LiveEventQueue
from backtrader_channels.testing import FakeBinance

SYMBOL = "BTC/USDT"
PAUSE = 2.5  # seconds without a trade between the two bursts


class RecordBars(bt.Strategy):
    """Records each bar as next() sees it, with the time of the call on the exchange's clock
    (``skew`` s ahead of the machine's); buys on the first bar and stops the run on the first
    bar after the pause."""

    params = (("skew", 0.0),)

    def __init__(self):
        self.bars: list[tuple] = []
        self.fill = None

    def next(self):
        data = self.data
        self.bars.append((time.time() + self.p.skew, self.event_time, bt.num2date(data.datetime[0]).timestamp(), data.open[0],
                          data.high[0], data.low[0], data.close[0], data.volume[0]))
        if len(data) == 1:
            self.buy(size=0.1)
        elif self.bars[-1][1] - self.bars[-2][1] > 1.5:  # the first bar after the pause
            self.env.runstop()

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fill = (order.executed.price, self.event_time)


@pytest.mark.parametrize("skew_ms", [0, 4_000])
def test_live_bars_close_on_the_clock_and_orders_fill_on_the_next_trade(skew_ms):
    """With the exchange's clock 4 s ahead of the machine's too: bars close on the exchange's."""
    with FakeBinance([SYMBOL], price=60_000.0) as server:
        queue = LiveEventQueue()
        feed = CCXTLiveTickFeed("binance", SYMBOL, queue, config=server.ccxt_config(), backoff=Backoff(0.05, 0.2))
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.broker.setcash(100_000.0)
        channel = cerebro.add_live_feed(feed)
        bars = cerebro.resampledata(channel, timeframe=bt.TimeFrame.Seconds, compression=1)
        cerebro.addstrategy(RecordBars, skew=skew_ms / 1000)

        def send():
            server.wait_subscriptions(server.trade_stream(SYMBOL), 1)
            while not 0.05 < (time.time() + skew_ms / 1000) % 1 < 0.4:  # a burst early in an exchange second
                time.sleep(0.01)
            server.send_trades(SYMBOL, 5, time_offset=skew_ms / 1000)  # trades stamped by the exchange's clock
            time.sleep(PAUSE)
            server.send_trades(SYMBOL, 3, time_offset=skew_ms / 1000)

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


def test_bars_of_old_events_on_a_bare_queue_close_on_the_clock_in_event_time():
    """A replay of old events (the seed's bare queue): the clock runs from the events' own
    times, so a bar closes about its length after its first event, not at once (the wall
    clock is years ahead) nor only when the next event comes."""
    t0 = 1_700_000_000.0
    queue = LiveEventQueue()
    pushed: dict[str, float] = {}

    def push(ts: float, trade_id: int, price: float) -> None:
        queue.push(Event(ts, EventPriority.TICK, "tick", SYMBOL, TickEvent(ts, price, 1.0, "buy", trade_id, SYMBOL)))

    def send():
        push(t0 + 0.2, 1, 100.0)
        push(t0 + 0.6, 2, 102.0)
        time.sleep(PAUSE)
        pushed["third"] = time.time()
        push(t0 + 4.5, 3, 101.0)  # the clock is near t0 + 3.1 then: its interval [t0+4, t0+5) is still ahead
        time.sleep(0.2)
        queue.stop()

    class Bars(bt.Strategy):
        def __init__(self):
            self.bars = []

        def next(self):
            self.bars.append((time.time(), self.event_time - t0, self.data.open[0], self.data.close[0]))

    cerebro = bt.Cerebro(stdstats=False)
    cerebro._event_queue = queue
    channel = cerebro.add_channel(bc.TickChannel, symbol=SYMBOL)  # no file: its events come from the queue
    cerebro.resampledata(channel, timeframe=bt.TimeFrame.Seconds)
    cerebro.addstrategy(Bars)
    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK, duration=20)
    sender.join(5)
    # [t0, t0+1) closed on the clock, before the third event was pushed; [t0+4, t0+5) was still open at the stop
    ((wall, end, open_, close),) = strategy.bars
    assert (end, open_, close) == (1.0, 100.0, 102.0)
    assert wall < pushed["third"]
    assert cerebro._bc_engine.live_bars.late == 0
