"""A strategy run live through Cerebro: real ccxt.pro client, local fake Binance, paper fills."""

from __future__ import annotations

import contextlib
import threading
import time

import backtrader as bt
import pytest

from backtrader_channels import Event, EventPriority, TickEvent
from backtrader_channels.feeds import Backoff, CCXTLiveTickFeed
from backtrader_channels.live import LiveEventQueue
from backtrader_channels.testing import FakeBinance

SYMBOL = "BTC/USDT"


@pytest.fixture
def server():
    with FakeBinance([SYMBOL], price=60_000.0) as fake:
        yield fake


def send_when_subscribed(server: FakeBinance, count: int, rate: float) -> threading.Thread:
    def send():
        server.wait_subscriptions(server.trade_stream(SYMBOL), 1)
        with contextlib.suppress(TimeoutError):  # the run may stop (unsubscribe) before the last
            server.send_trades(SYMBOL, count, rate=rate, timeout=2.0)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


class BuyThirdTick(bt.Strategy):
    params = (("stop_after", 10),)

    def __init__(self):
        self.ticks = []
        self.fill = None

    def notify_tick(self, tick):
        self.ticks.append((tick.trade_id, tick.price, tick.direction))
        if len(self.ticks) == 3:
            self.buy(size=0.5)
        if len(self.ticks) == self.p.stop_after:
            self.env.runstop()

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fill = (order.executed.price, order.executed.size, self.event_time)


def live_cerebro(server, queue=None):
    queue = queue or LiveEventQueue()
    feed = CCXTLiveTickFeed("binance", SYMBOL, queue, config=server.ccxt_config(), backoff=Backoff(0.05, 0.2))
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(100_000.0)
    cerebro.broker.setcommission(commission=0.001)
    channel = cerebro.add_live_feed(feed)
    return cerebro, feed, channel


def test_live_run_paper_order_fills_at_the_price_the_server_sent(server):
    cerebro, feed, channel = live_cerebro(server)
    assert channel.key == ("tick", SYMBOL)
    cerebro.addstrategy(BuyThirdTick)
    sender = send_when_subscribed(server, 20, rate=200)
    started = time.monotonic()
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK, duration=30)
    sender.join(10)
    sent = server.trades[SYMBOL]
    expected = [(t["t"], float(t["p"]), "sell" if t["m"] else "buy") for t in sent[:10]]
    assert strategy.ticks == expected
    # sent on the third trade, filled on the fourth at the price the server sent
    assert strategy.fill == (float(sent[3]["p"]), 0.5, sent[3]["T"] / 1000.0)
    assert cerebro.broker.getposition(channel).size == 0.5
    assert cerebro.tick_result.fees == pytest.approx(float(sent[3]["p"]) * 0.5 * 0.001)
    assert not feed.running  # the run stopped and closed its feed
    assert time.monotonic() - started < 25


def test_live_run_ends_when_its_duration_runs_out(server):
    cerebro, feed, _ = live_cerebro(server)
    cerebro.addstrategy(BuyThirdTick, stop_after=10**9)
    started = time.monotonic()
    cerebro.run(mode=bt.RunMode.TICK, duration=1.0)
    assert 1.0 <= time.monotonic() - started < 5.0
    assert not feed.running


def test_seed_style_bare_queue_and_invalid_events_kept_from_the_strategy():
    # The seed's way: events pushed by anyone onto a queue set as cerebro._event_queue.
    queue = LiveEventQueue()
    for i, price in enumerate([100.0, -1.0, 101.0, float("nan"), 102.0, 103.0]):
        tick = TickEvent(1_700_000_000.0 + i, price, 1.0, "buy", trade_id=i, symbol=SYMBOL)
        queue.push(Event(tick.timestamp, EventPriority.TICK, "tick", SYMBOL, data=tick))
    queue.push(Event(1_700_000_002.5, EventPriority.TICK, "tick", SYMBOL,
                     data=TickEvent(1_700_000_002.5, 100.5, 1.0, "buy", trade_id=2, symbol=SYMBOL)))
    queue.stop()  # nothing more will come: the run drains the queue and ends
    cerebro = bt.Cerebro(stdstats=False)
    cerebro._event_queue = queue
    cerebro.addstrategy(BuyThirdTick, stop_after=10**9)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    # negative and NaN prices and the duplicated trade id 2 never reach the strategy
    assert [t[1] for t in strategy.ticks] == [100.0, 101.0, 102.0, 103.0]
    assert strategy.fill[:2] == (103.0, 0.5)
    report = cerebro._bc_engine.live.anomaly_report()[("tick", SYMBOL)]
    assert report == {"invalid_price": 1, "invalid_data": 1, "nan_or_inf": 1, "duplicate_trade_id": 1}
    assert "rejected" in cerebro.tick_result.summary()


STRATEGY_FILE = '''
import backtrader as bt


class Printer(bt.Strategy):
    def notify_tick(self, tick):
        if len(self.channels[("tick", "BTC/USDT")]) == 2:
            self.buy(size=0.1)
'''


@pytest.mark.parametrize("stop_signal", ["SIGTERM", "SIGINT"])
def test_btchannels_live_stops_cleanly_on_sigterm_or_ctrl_c_with_a_summary(server, tmp_path, stop_signal):
    import signal
    import subprocess
    import sys

    strategy = tmp_path / "strategy.py"
    strategy.write_text(STRATEGY_FILE)
    process = subprocess.Popen(
        [sys.executable, "-m", "backtrader_channels.cli", "live", str(strategy), "--symbol", SYMBOL,
         "--rest-url", server.http_url, "--ws-url", server.ws_url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    server.wait_subscriptions(server.trade_stream(SYMBOL), 1, timeout=30)
    server.send_trades(SYMBOL, 5, rate=100)
    time.sleep(1.5)  # let the status line refresh at least once
    process.send_signal(getattr(signal, stop_signal))
    out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert ("ended: stopped" if stop_signal == "SIGTERM" else "ended: interrupted") in out
    fills_line = next(line for line in out.splitlines() if line.startswith("fills"))
    assert fills_line.split()[-1] == "1"
    assert "events" in err and "latency p50" in err  # the status line
    assert server.connections == 0  # the feed closed its socket


def test_live_order_book_reaches_the_strategy_and_a_market_order_walks_it(server):
    from backtrader_channels.feeds import CCXTLiveOrderBookFeed

    queue = LiveEventQueue()
    cerebro = bt.Cerebro(stdstats=False)
    cerebro.broker.setcash(10_000_000.0)
    book_feed = CCXTLiveOrderBookFeed("binance", SYMBOL, queue, config=server.ccxt_config(), backoff=Backoff(0.05, 0.2))
    channel = cerebro.add_live_feed(book_feed)

    class BookWatcher(bt.Strategy):
        def __init__(self):
            self.updates = []
            self.fill = None

        def notify_orderbook(self, book):
            self.updates.append(book.update_id)
            if len(self.updates) == 1:
                self.asks_at_order = book.depth(3)[1]
                self.buy(size=1.0)

        def notify_order(self, order):
            if order.status == order.Completed:
                self.fill = (order.executed.price, order.executed.size)

    cerebro.addstrategy(BookWatcher)
    sent = {}

    def send():
        server.wait_subscriptions(server.depth_stream(SYMBOL), 1)
        sent["last"] = server.send_depth_updates(SYMBOL, 10, rate=50)
        sent["book"] = server.book(SYMBOL)
        time.sleep(0.5)
        cerebro.runstop()

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK, duration=30)
    sender.join(10)
    _, bids, asks = sent["book"]
    assert strategy.updates[-1] == sent["last"]  # every update up to the server's last one
    assert channel.book.bids == bids and channel.book.asks == asks
    # the market order walked the book as it was after the first update (sizes < 1 take several levels)
    assert strategy.fill is not None and strategy.fill[1] == 1.0
    assert strategy.asks_at_order[0].price <= strategy.fill[0]
    assert not book_feed.running


def test_events_left_when_the_strategy_stops_the_run_are_counted():
    queue = LiveEventQueue()
    for i in range(10):
        tick = TickEvent(1_700_000_000.0 + i, 100.0 + i, 1.0, "buy", trade_id=i, symbol=SYMBOL)
        queue.push(Event(tick.timestamp, EventPriority.TICK, "tick", SYMBOL, data=tick))
    cerebro = bt.Cerebro(stdstats=False)
    cerebro._event_queue = queue
    cerebro.addstrategy(BuyThirdTick, stop_after=4)
    (strategy,) = cerebro.run(mode=bt.RunMode.TICK)
    assert len(strategy.ticks) == 4
    assert cerebro._bc_engine.live.unprocessed == 6  # received, never lost silently
    row = next(line for line in cerebro.tick_result.summary().splitlines() if line.startswith("received, not handled"))
    assert row.split()[-1] == "6"
