"""The live funding feed: real ccxt.pro client, Binance's mark price stream from FakeBinance on 127.0.0.1."""

from __future__ import annotations

import threading
import time

import backtrader as bt
import pytest

from backtrader_channels import EventPriority, FundingEvent
from backtrader_channels.feeds import Backoff, CCXTLiveFundingFeed, CCXTLiveTickFeed, FeedThread
from backtrader_channels.live import LiveEventQueue
from backtrader_channels.testing import FakeBinance, MarkPriceUpdate
from tests.phase4.test_ccxt_feed import assert_no_more, collect, wait_for

PERP = "BTC/USDT:USDT"
HOUR_MS = 3_600_000
T1 = 1_796_198_400_000  # 2026-12-02 08:00 UTC, a funding time
T2 = T1 + 8 * HOUR_MS  # 16:00
T3 = T2 + 8 * HOUR_MS  # 00:00 the next day
FAST = Backoff(0.05, 0.2)


@pytest.fixture
def server():
    with FakeBinance(["BTC/USDT"], perpetuals=[PERP], price=60_000.0) as fake:
        yield fake


@pytest.fixture
def funding_feed(server):
    runners: list[FeedThread] = []

    def start() -> tuple[CCXTLiveFundingFeed, LiveEventQueue]:
        queue = LiveEventQueue()
        feed = CCXTLiveFundingFeed("binance", PERP, queue, config=server.ccxt_config(), backoff=FAST)
        runners.append(feed.start_in_thread())
        return feed, queue

    yield start
    for runner in runners:
        assert runner.stop(timeout=5)


def send_one_by_one(server: FakeBinance, feed: CCXTLiveFundingFeed, updates: list[MarkPriceUpdate]) -> None:
    """Each update once the feed handled the one before: ccxt keeps only the latest mark price
    between two ``watch_mark_price`` calls, as Binance sends one a second."""
    for update in updates:
        handled = feed.stats.messages + 1
        server.send_mark_prices(PERP, [update])
        wait_for(lambda handled=handled: feed.stats.messages >= handled)


def test_two_funding_times_passed_give_two_events_at_the_last_rate_and_mark_before_each(server, funding_feed):
    feed, queue = funding_feed()
    send_one_by_one(server, feed, [
        MarkPriceUpdate(T1 - 2000, 60_000.0, 0.0001, T1),
        MarkPriceUpdate(T1 - 1000, 60_010.0, 0.00012, T1),  # the last before T1: funds T1
        MarkPriceUpdate(T1 + 1000, 60_020.0, 0.00005, T2),  # T1 passed
        MarkPriceUpdate(T2 - 1000, 59_990.0, -0.0002, T2),  # the last before T2
        MarkPriceUpdate(T2 + 1000, 59_980.0, 0.0001, T3),  # T2 passed
        MarkPriceUpdate(T3 - 1000, 59_970.0, 0.0003, T3),  # T3 not yet
    ])
    events = collect(queue, 2)
    assert [(e.channel_type, e.channel_name, e.priority, e.timestamp) for e in events] == [
        ("funding", PERP, EventPriority.FUNDING, T1 / 1000.0),
        ("funding", PERP, EventPriority.FUNDING, T2 / 1000.0),
    ]
    assert all(isinstance(e.data, FundingEvent) for e in events)
    assert [(e.data.timestamp, e.data.rate, e.data.mark_price, e.data.symbol) for e in events] == [
        (1_796_198_400.0, 0.00012, 60_010.0, PERP),
        (1_796_227_200.0, -0.0002, 59_990.0, PERP),
    ]
    assert_no_more(queue)
    stats = feed.stats
    assert (stats.messages, stats.bad_messages, stats.reconnects, stats.resyncs) == (6, 0, 0, 0)
    assert server.subscriptions["usdm:btcusdt@markPrice@1s"] == 1  # Binance's stream, on a USD-M connection
    assert server.rest_calls["/fapi/v1/exchangeInfo"] == 1


def test_a_bad_rate_is_counted_and_skipped_and_the_feed_keeps_funding(server, funding_feed):
    feed, queue = funding_feed()
    send_one_by_one(server, feed, [
        MarkPriceUpdate(T1 - 2000, 60_000.0, 0.0001, T1),
        MarkPriceUpdate(T1 - 1000, 60_500.0, "abc", T1),  # skipped: T1 keeps the rate and mark before
        MarkPriceUpdate(T1 + 1000, 60_020.0, 0.00005, T2),
    ])
    (event,) = collect(queue, 1)
    assert (event.timestamp, event.data.rate, event.data.mark_price) == (T1 / 1000.0, 0.0001, 60_000.0)
    stats = feed.stats
    assert (stats.messages, stats.bad_messages, stats.reconnects, stats.resyncs) == (3, 1, 0, 0)
    assert_no_more(queue)


def test_spot_and_perpetual_trades_of_one_pair_stay_apart(server):
    queue = LiveEventQueue()
    feeds = [CCXTLiveTickFeed("binance", symbol, queue, config=server.ccxt_config(), backoff=FAST)
             for symbol in ("BTC/USDT", PERP)]
    runner = FeedThread(feeds).start()
    try:
        server.send_trades("BTC/USDT", 3)
        server.send_trades(PERP, 2)
        events = collect(queue, 5)
    finally:
        assert runner.stop(timeout=5)
    assert sorted((e.channel_name, e.data.trade_id) for e in events) == [
        ("BTC/USDT", 1), ("BTC/USDT", 2), ("BTC/USDT", 3), (PERP, 1), (PERP, 2)]
    assert [feed.stats.trades for feed in feeds] == [3, 2]


class HoldLongThroughFunding(bt.Strategy):
    """Buys 0.5 on the third trade of the perpetual, then waits for one funding."""

    params = (("filled", None),)

    def __init__(self):
        self.ticks = 0
        self.fill = None
        self.fundings = []

    def notify_tick(self, tick):
        self.ticks += 1
        if self.ticks == 3:
            self.buy(size=0.5)

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fill = (order.executed.price, self.broker.getcash())
            self.p.filled.set()

    def notify_funding(self, event):
        self.fundings.append((event.timestamp, event.rate, event.mark_price, self.broker.getcash(),
                              self.getposition(self.channels[("tick", PERP)]).size))
        self.env.runstop()


def test_a_long_position_pays_size_times_mark_times_rate_at_the_funding_time(server):
    queue = LiveEventQueue()
    config = server.ccxt_config()
    trades = CCXTLiveTickFeed("binance", PERP, queue, config=config, backoff=FAST)  # the perpetual's trades
    funding = CCXTLiveFundingFeed("binance", PERP, queue, config=config, backoff=FAST)
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(100_000.0)
    cerebro.add_live_feed(trades)
    cerebro.add_live_feed(funding)
    filled = threading.Event()
    cerebro.addstrategy(HoldLongThroughFunding, filled=filled)
    due: list[int] = []

    def send() -> None:
        server.wait_subscriptions(server.trade_stream(PERP), 1)
        server.send_trades(PERP, 5)
        assert filled.wait(10)
        due.append(int(time.time() * 1000))  # a funding time after the fill
        server.send_mark_prices(PERP, [MarkPriceUpdate(due[0] - 1000, 60_010.0, 0.0001, due[0])])
        wait_for(lambda: funding.stats.messages == 1)
        server.send_mark_prices(PERP, [MarkPriceUpdate(due[0] + 1000, 60_030.0, 0.0002, due[0] + 8 * HOUR_MS)])

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK, duration=30)
    sender.join(10)
    fill_price, cash_after_fill = strategy.fill
    assert fill_price == float(server.trades[PERP][3]["p"])  # sent on the 3rd trade, filled on the 4th
    assert cash_after_fill == pytest.approx(100_000.0 - 0.5 * fill_price)
    # a long pays 0.5 x 60 010 x 0.0001 = 3.0005 at the funding time
    ((timestamp, rate, mark, cash, size),) = strategy.fundings
    assert (timestamp, rate, mark, size) == (due[0] / 1000.0, 0.0001, 60_010.0, 0.5)
    assert cash == pytest.approx(cash_after_fill - 3.0005)
    flows = [(flow.timestamp, flow.kind, round(flow.amount, 9)) for flow in cerebro.tick_result.cashflows]
    assert flows == [(due[0] / 1000.0, "funding", -3.0005)]
