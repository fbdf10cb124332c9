"""Chaos: a 60 s live paper session while the server injects every fault at random.

The real ccxt.pro client against FakeBinance on 127.0.0.1; the faults come from a seeded
random generator (the same sequence every run): socket drops (close frame and TCP reset),
replays, malformed JSON and empty frames, depth frames with a bad price, crossing diffs,
depth gaps, trades stamped a year ahead, an implausible trade id, trade ids skipped,
silent periods (watchdog restarts) and server restarts (trade ids from 1 again).

At the end: every trade the server sent reached the strategy exactly once, or is counted
(rejected by the validator, or missed: a gap in the ids); the strategy's book is the
server's book; and the summary's counts add up exactly.
"""

from __future__ import annotations

import random
import threading
import time

import backtrader as bt
import pytest

from backtrader_channels.feeds import Backoff, CCXTLiveOrderBookFeed, CCXTLiveTickFeed
from backtrader_channels.live import LiveEventQueue
from backtrader_channels.testing import FakeBinance

SYMBOL = "BTC/USDT"
SEED = 20261202
CHAOS_SECONDS = 60.0
YEAR = 365 * 24 * 3600.0


class Recorder(bt.Strategy):
    """Keeps every trade it sees (in a list the test hands over) and trades a little."""

    params = (("seen", None),)

    def notify_tick(self, tick):
        self.p.seen.append((tick.trade_id, tick.timestamp))
        if len(self.p.seen) % 97 == 0:
            self.buy(size=0.01) if self.position.size <= 0 else self.sell(size=0.01)


class Chaos:
    """Drives the server from a thread: random actions for ``seconds``, then a clean finish."""

    def __init__(self, server: FakeBinance, seen: list, book_channel, seconds: float) -> None:
        self.server, self.seen, self.book_channel, self.seconds = server, seen, book_channel, seconds
        self.rng = random.Random(SEED)
        self.future = self.skipped = 0
        self.done: dict = {}
        self.actions: list[str] = []
        self.trade_stream = server.trade_stream(SYMBOL)

    # -- helpers -------------------------------------------------------------------------
    def next_id(self) -> int:
        trades = self.server.trades[SYMBOL]
        return trades[-1]["t"] + 1 if trades else 1

    def settle(self) -> None:
        """Until the newest trade sent has reached the strategy: send one more (a loss before
        it is then a gap in the ids, counted as missed, before any restart of the ids)."""
        for _ in range(20):
            self.server.send_trades(SYMBOL, 1)
            last = self.server.trades[SYMBOL][-1]
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                if self.seen and self.seen[-1] == (last["t"], last["T"] / 1000.0):
                    return
                time.sleep(0.01)
        raise AssertionError("the tick feed does not deliver any more")

    # -- the faults ----------------------------------------------------------------------
    def trades(self):
        self.server.send_trades(SYMBOL, self.rng.randint(20, 200), rate=self.rng.choice([None, 500, 2000]))

    def depth(self):
        self.server.send_depth_updates(SYMBOL, self.rng.randint(5, 40), rate=200)

    def drop(self):
        self.settle()
        self.server.drop_connections(abrupt=self.rng.random() < 0.5)

    def replay(self):
        self.server.send_trades(SYMBOL, 30, drop_after=15, replay=5)

    def bad_json(self):
        self.server.send_raw(self.trade_stream, '{"e":"trade","E":1,"s":"BTCU')

    def garbage(self):
        self.server.send_raw(self.trade_stream, self.rng.choice(["[]", "null", "{}"]))

    def bad_price(self):
        self.server.send_depth_updates(SYMBOL, 5, bad_price_at=self.rng.randint(0, 4))

    def crossing(self):
        self.server.send_depth_updates(SYMBOL, 5, cross_at=self.rng.randint(0, 4))

    def gap(self):
        self.server.send_depth_updates(SYMBOL, 5, gap_at=self.rng.randint(1, 4))

    def future_trade(self):
        self.server.send_trades(SYMBOL, 1, time_offset=YEAR)
        self.future += 1

    def id_jump(self):
        resume = self.next_id()
        self.server.send_trades(SYMBOL, 1, first_id=10**12 + resume)
        self.server.send_trades(SYMBOL, 10, first_id=resume)

    def skip(self):
        count = self.rng.randint(1, 10)
        self.server.skip_trades(SYMBOL, count)
        self.skipped += count
        self.server.send_trades(SYMBOL, 3)  # the gap is seen before anything else happens

    def silence(self):
        self.server.mute()  # nothing more on the open sockets: the watchdogs reconnect
        self.server.send_trades(SYMBOL, 20)  # waits for the new connection

    def restart(self):
        self.settle()
        self.server.drop_connections()
        self.server.send_trades(SYMBOL, 10, first_id=1)

    WEIGHTS = {
        "trades": 30, "depth": 20, "drop": 4, "replay": 3, "bad_json": 3, "garbage": 3, "bad_price": 3,
        "crossing": 3, "gap": 3, "future_trade": 3, "id_jump": 1, "skip": 3, "silence": 1, "restart": 2,
    }

    def run(self, cerebro) -> None:
        try:
            names, weights = zip(*self.WEIGHTS.items())
            self.server.wait_subscriptions(self.trade_stream, 1, timeout=30)
            self.server.wait_subscriptions(self.server.depth_stream(SYMBOL), 1, timeout=30)
            started = time.monotonic()
            while time.monotonic() - started < self.seconds:
                name = self.rng.choices(names, weights)[0]
                self.actions.append(name)
                getattr(self, name)()
            self.finish()
        except BaseException as error:  # reported by the test
            self.done["error"] = error
        finally:
            cerebro.runstop()

    def finish(self) -> None:
        """Clean traffic until both feeds caught up; the server's book at that moment."""
        self.settle()
        last = self.server.send_depth_updates(SYMBOL, 10, rate=200)
        deadline = time.monotonic() + 15
        while self.book_channel.book.update_id != last:
            assert time.monotonic() < deadline, "the book feed did not catch up"
            time.sleep(0.02)
        self.done["book"] = self.server.book(SYMBOL)
        self.done["channel_book"] = (self.book_channel.book.update_id, self.book_channel.book.bids,
                                     self.book_channel.book.asks)


@pytest.mark.slow
def test_chaos_every_trade_delivered_once_or_counted_book_equal_summary_adds_up():
    with FakeBinance([SYMBOL], price=60_000.0, seed=SEED) as server:
        queue = LiveEventQueue()
        options = {"config": server.ccxt_config(), "backoff": Backoff(0.05, 0.5), "stale_timeout": 2.5}
        ticks = CCXTLiveTickFeed("binance", SYMBOL, queue, **options)
        books = CCXTLiveOrderBookFeed("binance", SYMBOL, queue, **options)
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.broker.setcash(1_000_000.0)
        cerebro.add_live_feed(ticks)
        book_channel = cerebro.add_live_feed(books)
        seen: list = []
        cerebro.addstrategy(Recorder, seen=seen)
        chaos = Chaos(server, seen, book_channel, CHAOS_SECONDS)
        driver = threading.Thread(target=chaos.run, args=(cerebro,), daemon=True)
        driver.start()
        cerebro.run(mode=bt.RunMode.TICK, duration=CHAOS_SECONDS + 60)
        driver.join(10)
        assert "error" not in chaos.done, chaos.done.get("error")
        sent = server.trades[SYMBOL]

    # every fault happened
    assert set(chaos.actions) == set(Chaos.WEIGHTS), sorted(set(Chaos.WEIGHTS) - set(chaos.actions))

    # trades: each sent trade delivered once, or rejected, or counted missed
    sent_trades = {(t["t"], t["T"] / 1000.0) for t in sent}
    assert len(sent_trades) == len(sent)
    assert len(set(seen)) == len(seen)  # nothing delivered twice
    assert set(seen) <= sent_trades  # nothing made up
    stats = ticks.stats
    session = cerebro._bc_engine.live
    report = session.anomaly_report()[("tick", SYMBOL)]
    assert report.get("invalid_timestamp", 0) == chaos.future
    rejected_ticks = sum(n for kind, n in report.items() if kind not in ("invalid_data", "trade_id_reset", "stale",
                                                                          "time_jump"))
    lost = len(sent_trades) - len(seen) - rejected_ticks
    assert lost == stats.missed_trades - chaos.skipped
    assert stats.duplicates >= 5 * chaos.actions.count("replay")
    assert stats.bad_messages >= chaos.actions.count("bad_json") + chaos.actions.count("garbage")
    assert stats.id_epochs >= chaos.actions.count("restart") + chaos.actions.count("id_jump")

    # the book: the strategy's equals the server's
    update_id, bids, asks = chaos.done["book"]
    assert chaos.done["channel_book"] == (update_id, bids, asks)
    assert books.stats.resyncs >= chaos.actions.count("bad_price") + chaos.actions.count("crossing")

    # the summary adds up exactly
    queue_stats = queue.stats
    engine = cerebro._bc_engine
    refused_books = sum(sum(c.rejected.values()) for c in engine.channels.values() if hasattr(c, "rejected"))
    assert session.received == queue_stats.pushed == (
        engine.events + session.rejected + session.unprocessed + queue_stats.dropped + queue_stats.conflated
        + session.unknown + refused_books
    )
    assert session.stop_reason == "stopped" and session.failure is None
