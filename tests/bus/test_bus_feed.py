"""The Redis Streams bus with a real redis-server: encoding, resume, restarts, redundancy, retention."""

from __future__ import annotations

import struct
import threading
import time

import backtrader as bt
import pytest

from backtrader_channels import Event, EventPriority, OrderBookEvent, TickEvent
from backtrader_channels.bus import BusFeed, BusPublisher
from backtrader_channels.bus.codec import CodecError, decode, encode
from backtrader_channels.feeds import FeedThread
from backtrader_channels.kinds import ControlCommand
from backtrader_channels.live import LiveEventQueue

SYMBOL = "BTC/USDT"
T0 = 1_767_000_000.123456


def tick(i: int) -> Event:
    data = TickEvent(T0 + i * 0.001, 60_000.0 + i * 0.01, 0.001 * (i % 7 + 1), "sell" if i % 3 else "buy",
                     1_000 + i, SYMBOL, T0 + i * 0.001 + 0.0005)
    return Event(data.timestamp, EventPriority.TICK, "tick", SYMBOL, data)


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


def test_trades_books_and_commands_round_trip_bit_exact():
    original = TickEvent(T0, 0.1 + 0.2, 1e-8 / 3, "sell", 2**40 + 7, SYMBOL, T0 + 1 / 3)
    back = decode(encode(original), SYMBOL)
    assert back == original
    assert [bits(v) for v in (back.timestamp, back.price, back.volume)] == [
        bits(v) for v in (original.timestamp, original.price, original.volume)]
    book = OrderBookEvent(T0, [(100.1, 2.0), (100.0, 0.0)], [(100.2, 1 / 7)], "delta", SYMBOL, 99, T0 + 0.01)
    back = decode(encode(book), SYMBOL)
    assert (back.kind, back.bids, back.asks, back.update_id, back.recv_timestamp) == (
        "delta", book.bids, book.asks, 99, book.recv_timestamp)
    assert decode(encode(ControlCommand("pause", T0))) == ControlCommand("pause", T0)
    with pytest.raises(CodecError, match="not a bus message"):
        decode(b"\xc1garbage")
    with pytest.raises(TypeError, match=r"the bus carries the events of a kind \(.*TickEvent.*\), got str"):
        encode("a trade")


def consume(url: str, count: int, *, group: str, start: str = "earliest", stop_after: int | None = None,
            timeout: float = 20.0, **options) -> tuple[list[TickEvent], BusFeed]:
    """Run a BusFeed until ``count`` events (or ``stop_after`` of them) are queued; return them."""
    queue = LiveEventQueue(100_000)
    feed = BusFeed(url, "tick", SYMBOL, queue, group=group, start=start, ack="queued", **options)
    runner = FeedThread([feed]).start()
    got: list[TickEvent] = []
    deadline = time.monotonic() + timeout
    limit = count if stop_after is None else stop_after
    while len(got) < limit and time.monotonic() < deadline:
        got += [event.data for event in queue.pop_batch(10_000, timeout=0.1)]
    runner.stop(5.0)
    got += [event.data for event in queue.pop_batch(10_000, timeout=0)]
    return got, feed


def test_consumer_stopped_mid_stream_resumes_with_everything_it_missed_exactly_once(redis_server):
    publisher = BusPublisher(redis_server.url)
    sent = [tick(i) for i in range(600)]

    def publish():
        for start in range(0, len(sent), 20):
            publisher.publish(sent[start:start + 20])
            time.sleep(0.005)

    sender = threading.Thread(target=publish)
    sender.start()
    first, feed = consume(redis_server.url, 600, group="strategy-a", stop_after=150)
    time.sleep(0.2)  # the consumer is down while more is published
    rest, feed2 = consume(redis_server.url, 600 - len(first), group="strategy-a")
    sender.join()
    ids = [t.trade_id for t in first + rest]
    assert ids == [event.data.trade_id for event in sent]  # all, once, in order
    assert 150 <= len(first) < 600 and rest
    assert feed2.stats.duplicates == 0 and feed2.trimmed == 0


def test_redis_restart_loses_nothing_on_either_side(durable_redis_server):
    server = durable_redis_server
    publisher = BusPublisher(server.url)
    sent = [tick(i) for i in range(300)]
    publisher.publish(sent[:100])
    queue = LiveEventQueue(100_000)
    feed = BusFeed(server.url, "tick", SYMBOL, queue, group="g", start="earliest", ack="queued")
    with FeedThread([feed]):
        got = []
        while len(got) < 100:
            got += queue.pop_batch(1000, timeout=1.0)
        server.restart()
        publisher.publish(sent[100:200])  # the publisher reconnects by itself
        server.restart()
        publisher.publish(sent[200:])
        deadline = time.monotonic() + 20
        while len(got) < 300 and time.monotonic() < deadline:
            got += queue.pop_batch(1000, timeout=0.1)
    assert [event.data.trade_id for event in got] == [event.data.trade_id for event in sent]
    assert feed.stats.reconnects >= 1
    assert feed.stats.duplicates == 0


def test_two_collectors_on_one_stream_are_deduplicated_and_counted(redis_server):
    sent = [tick(i) for i in range(200)]
    primary, backup = BusPublisher(redis_server.url), BusPublisher(redis_server.url)
    for start in range(0, 200, 20):
        batch = sent[start:start + 20]
        primary.publish([e for e in batch if not 1050 <= e.data.trade_id < 1060])  # each misses 10
        backup.publish([e for e in batch if not 1120 <= e.data.trade_id < 1130])
    got, feed = consume(redis_server.url, 200, group="dedupe", timeout=10)
    assert [t.trade_id for t in got] == list(range(1000, 1200))
    assert feed.stats.duplicates == 180  # 190 from each, 200 different
    assert feed.stats.missed_trades == 0


def test_a_slow_consumer_is_told_what_retention_trimmed_away(redis_server, caplog):
    publisher = BusPublisher(redis_server.url, maxlen=100)
    sent = [tick(i) for i in range(2_000)]
    for start in range(0, 2_000, 100):
        publisher.publish(sent[start:start + 100])  # far more than the stream keeps
    got, feed = consume(redis_server.url, 100, group="slow", timeout=5)
    assert 100 <= len(got) < 2_000
    assert [t.trade_id for t in got] == [e.data.trade_id for e in sent[-len(got):]]  # the newest ones
    assert feed.trimmed == 2_000 - len(got)
    assert feed.stats.trimmed == feed.trimmed
    assert f"entries were trimmed by the stream's retention before this consumer read them ({feed.trimmed} in all)" \
        in caplog.text


def test_book_updates_travel_as_the_engine_needs_them_and_repeats_are_dropped(redis_server):
    def book(update_id: int, bid: float) -> Event:
        data = OrderBookEvent(T0 + update_id, [(bid, 1.5), (bid - 0.5, 2.0)], [(bid + 1.0, 0.25)], "snapshot",
                              SYMBOL, update_id, T0 + update_id + 0.001)
        return Event(data.timestamp, EventPriority.ORDERBOOK, "orderbook", SYMBOL, data)

    primary, backup = BusPublisher(redis_server.url), BusPublisher(redis_server.url)
    primary.publish([book(1, 100.0), book(2, 100.5)])
    backup.publish([book(1, 100.0), book(2, 100.5), book(3, 101.0)])
    queue = LiveEventQueue()
    feed = BusFeed(redis_server.url, "orderbook", SYMBOL, queue, group="books", start="earliest", ack="queued")
    with FeedThread([feed]):
        got = []
        while len(got) < 3:
            got += queue.pop_batch(10, timeout=5.0)
    assert [(e.channel_type, e.priority, e.data.update_id, e.data.best_bid) for e in got] == [
        ("orderbook", EventPriority.ORDERBOOK, 1, (100.0, 1.5)),
        ("orderbook", EventPriority.ORDERBOOK, 2, (100.5, 1.5)),
        ("orderbook", EventPriority.ORDERBOOK, 3, (101.0, 1.5)),
    ]
    assert got[2].data.asks == ((102.0, 0.25),) and got[2].data.kind == "snapshot"
    assert (feed.stats.books, feed.stats.duplicates) == (3, 2)


class TakeUntil(bt.Strategy):
    params = (("stop_at", None),)

    def __init__(self):
        self.ids = []

    def notify_tick(self, tick):
        self.ids.append(tick.trade_id)
        if tick.trade_id == self.p.stop_at:
            self.env.runstop()


def test_a_strategy_stopped_with_events_still_queued_gets_them_after_its_restart(redis_server):
    sent = [tick(i) for i in range(1_000)]
    BusPublisher(redis_server.url).publish(sent)
    runs = []
    for stop_at in (1_099, 1_999):
        cerebro = bt.Cerebro(stdstats=False)
        cerebro.add_live_feed(BusFeed(redis_server.url, "tick", SYMBOL, group="restarts", start="earliest"))
        cerebro.addstrategy(TakeUntil, stop_at=stop_at)
        (strategy,) = cerebro.run(mode=bt.RunMode.TICK, duration=20)
        runs.append((strategy.ids, cerebro._bc_engine.live.unprocessed))
    (first, unhandled), (second, _) = runs
    assert first == list(range(1_000, 1_100)) and unhandled > 0  # stopped with events still queued
    assert second == list(range(1_100, 2_000))  # those, and the rest, once each
