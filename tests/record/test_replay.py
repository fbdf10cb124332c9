"""A paper live run on the local Binance (real ccxt.pro, drops and reconnects), logged, replayed."""

from __future__ import annotations

import contextlib
import threading

import backtrader as bt
import pytest

from backtrader_channels.cli import main
from backtrader_channels.feeds import Backoff, CCXTLiveOrderBookFeed, CCXTLiveTickFeed
from backtrader_channels.live import LiveEventQueue
from backtrader_channels.record.eventlog import attach_event_log, read_log
from backtrader_channels.record.replay import replay
from backtrader_channels.testing import FakeBinance

SYMBOL = "BTC/USDT"

STRATEGY = '''
import backtrader as bt


class Trader(bt.Strategy):
    """Market buys, resting limit sells: fills depend on every trade and book update."""

    params = (("every", 7),)

    def __init__(self):
        self.count = 0

    def notify_tick(self, tick):
        self.count += 1
        if self.count % self.p.every == 0:
            self.buy(size=0.01)
        if self.count % 11 == 0 and self.position.size > 0:
            self.sell(size=0.01, exectype=bt.Order.Limit, price=tick.price + 0.05)
        if self.count == 150:
            self.env.runstop()
'''


@pytest.fixture
def trader(tmp_path):
    path = tmp_path / "trader.py"
    path.write_text(STRATEGY)
    from backtrader_channels.strategy_file import load_strategy

    return path, load_strategy(path)


def live_run_with_drops(tmp_path, strategy) -> tuple:
    log_path = tmp_path / "run.events"
    with FakeBinance([SYMBOL], price=60_000.0) as server:
        queue = LiveEventQueue()
        options = {"config": server.ccxt_config(), "backoff": Backoff(0.05, 0.2)}
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.broker.setcash(10_000.0)
        cerebro.broker.setcommission(commission=0.001)
        cerebro.add_live_feed(CCXTLiveOrderBookFeed("binance", SYMBOL, queue, depth=5, **options))
        cerebro.add_live_feed(CCXTLiveTickFeed("binance", SYMBOL, queue, **options))
        cerebro.addstrategy(strategy)
        log = attach_event_log(cerebro, log_path)

        def market():
            server.wait_subscriptions(server.trade_stream(SYMBOL), 1)
            server.wait_subscriptions(server.depth_stream(SYMBOL), 1)
            with contextlib.suppress(TimeoutError):
                server.send_depth_updates(SYMBOL, 5, rate=200)
                server.send_trades(SYMBOL, 60, rate=300, drop_after=30, replay=5)  # a drop, replayed trades
                server.send_depth_updates(SYMBOL, 10, rate=200, gap_at=3)  # a gap: the book resyncs
                server.send_trades(SYMBOL, 120, rate=300, drop_after=40, replay=3, timeout=5)

        sender = threading.Thread(target=market, daemon=True)
        sender.start()
        cerebro.run(mode=bt.RunMode.TICK, duration=60)
        sender.join(10)
        log.close()
    return cerebro, log_path


@pytest.mark.slow
def test_a_logged_live_run_replays_bit_identically(tmp_path, trader, capsys):
    path, strategy = trader
    cerebro, log_path = live_run_with_drops(tmp_path, strategy)
    records = list(read_log(log_path))
    assert records[0][0] == "H" and records[0][2]["cash"] == 10_000.0
    events = [r for r in records if r[0] == "E"]
    fills = [r for r in records if r[0] == "N" and r[2] == "Completed"]
    assert len([e for e in events if e[2] == "tick"]) == 150  # handled until the strategy stopped
    assert any(e[2] == "orderbook" for e in events)
    assert len(fills) >= 20
    feeds = cerebro._bc_live_feeds
    assert sum(feed.stats.reconnects for feed in feeds) >= 2 and feeds[0].stats.resyncs >= 1
    result = replay(log_path, strategy)
    assert result.divergence is None
    assert result.events == len(events)
    assert (result.cash, result.value) == (cerebro.broker.getcash(), cerebro.broker.getvalue())
    assert main(["replay", str(log_path), str(path)]) == 0
    assert capsys.readouterr().out.startswith(f"identical: {len(events):,} events")

    # another strategy on the same log: the first different decision is named
    changed = replay(log_path, strategy, every=8)
    assert not changed.identical
    first_buy = next(i for i, r in enumerate(records) if r[0] == "N")
    event_number = sum(1 for r in records[:first_buy] if r[0] == "E")
    assert changed.divergence.startswith(f"after event #{event_number} (tick BTC/USDT at ")
    assert "live order 0 buy 0.01 @ " in changed.divergence
