"""End to end: local Binance -> `btchannels collect` (real ccxt.pro) -> Redis -> BusFeed -> strategy,
stopped with `btchannels ctl stop`."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import backtrader as bt

from backtrader_channels.bus import BusFeed, add_control
from backtrader_channels.cli import main
from backtrader_channels.live import LiveEventQueue
from backtrader_channels.testing import FakeBinance

SYMBOL = "BTC/USDT"


class BuyThird(bt.Strategy):
    def __init__(self):
        self.ticks = []
        self.fill = None

    def notify_tick(self, tick):
        self.ticks.append((tick.trade_id, tick.price, tick.direction))
        if len(self.ticks) == 3:
            self.buy(size=0.5)
        if len(self.ticks) == 20:
            main(["ctl", "stop", "--bus", self.p.bus, "--run", "e2e"])  # any process may send it

    params = (("bus", None),)

    def notify_order(self, order):
        if order.status == order.Completed:
            self.fill = (order.executed.price, order.executed.size)


def test_collector_process_feeds_a_strategy_through_redis(redis_server):
    with FakeBinance([SYMBOL], price=60_000.0) as server:
        collector = subprocess.Popen(
            [sys.executable, "-m", "backtrader_channels.cli", "collect", "--bus", redis_server.url,
             "--symbol", SYMBOL, "--trades", "--rest-url", server.http_url, "--ws-url", server.ws_url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            queue = LiveEventQueue()
            cerebro = bt.Cerebro(stdstats=False)
            cerebro.broker.setcash(100_000.0)
            feed = BusFeed(redis_server.url, "tick", SYMBOL, queue, group="e2e", start="earliest")
            channel = cerebro.add_live_feed(feed)
            add_control(cerebro, "e2e", bus=redis_server.url)
            cerebro.addstrategy(BuyThird, bus=redis_server.url)
            server.wait_subscriptions(server.trade_stream(SYMBOL), 1, timeout=30)
            sender = threading.Thread(target=server.send_trades, args=(SYMBOL, 30), kwargs={"rate": 300}, daemon=True)
            sender.start()
            (strategy,) = cerebro.run(mode=bt.RunMode.TICK, duration=30)
            sender.join(10)
        finally:
            collector.send_signal(signal.SIGTERM)
            out, err = collector.communicate(timeout=20)
    assert collector.returncode == 0, err
    assert "published 30 events" in out
    sent = server.trades[SYMBOL]
    seen = len(strategy.ticks)  # the stop sent at the 20th trade lands a few trades later
    assert 20 <= seen < 30
    assert strategy.ticks == [(t["t"], float(t["p"]), "sell" if t["m"] else "buy") for t in sent[:seen]]
    assert strategy.fill == (float(sent[3]["p"]), 0.5)
    assert cerebro.broker.getposition(channel).size == 0.5
    assert cerebro._bc_engine.live.stop_reason == "stopped"
    assert feed.stats.trades >= 20 and feed.stats.latency_p50 is not None


def test_ctl_needs_a_destination(capsys):
    assert main(["ctl", "stop"]) == 2
    assert capsys.readouterr().err == "btchannels: ctl: give --bus URL --run NAME, or --socket PATH\n"
