"""The ccxt.pro feeds with the real ccxt client against the local fake Binance (127.0.0.1 only).

Nothing is mocked: FakeBinance speaks Binance's REST and WebSocket protocol and the
scenarios (socket drops, depth gaps, malformed frames, silence) happen on real sockets.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable

import ccxt
import pytest

from backtrader_channels import Event, EventPriority, OrderBookChannel
from backtrader_channels.feeds import Backoff, CCXTLiveOrderBookFeed, CCXTLiveTickFeed, FeedThread
from backtrader_channels.live import LiveDataValidator, LiveEventQueue
from backtrader_channels.testing import FakeBinance, binance_ccxt_config

SYMBOL = "BTC/USDT"
FAST = Backoff(initial=0.05, maximum=0.2)


@pytest.fixture
def server():
    with FakeBinance([SYMBOL]) as fake:
        yield fake


@pytest.fixture
def start_feed(server):
    """start_feed(cls=CCXTLiveTickFeed, queue=None, **options) -> (feed, queue), in a thread."""
    runners: list[FeedThread] = []

    def start(cls=CCXTLiveTickFeed, queue=None, **options):
        queue = LiveEventQueue() if queue is None else queue
        options.setdefault("config", server.ccxt_config())
        options.setdefault("backoff", FAST)
        options.setdefault("stale_timeout", 30.0)
        feed = cls("binance", SYMBOL, queue, **options)
        runners.append(feed.start_in_thread())
        return feed, queue

    yield start
    for runner in runners:
        assert runner.stop(timeout=5)


def collect(queue: LiveEventQueue, count: int, timeout: float = 10.0) -> list[Event]:
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    while len(events) < count and time.monotonic() < deadline:
        event = queue.pop(timeout=0.1)
        if event is not None:
            events.append(event)
    assert len(events) == count, f"got {len(events)} of {count} events"
    return events


def collect_until(queue: LiveEventQueue, done: Callable[[Event], bool], timeout: float = 10.0) -> list[Event]:
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event = queue.pop(timeout=0.1)
        if event is not None:
            events.append(event)
            if done(event):
                return events
    raise AssertionError(f"condition not met within {timeout} s; got {len(events)} events")


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def trade_ids(events: list[Event]) -> list[int]:
    return [event.data.trade_id for event in events]


def assert_no_more(queue: LiveEventQueue) -> None:
    assert queue.pop(timeout=0.2) is None


# -- trades --------------------------------------------------------------------------------


def test_steady_stream_delivers_every_trade_as_sent(server, start_feed):
    feed, queue = start_feed()
    ids = server.send_trades(SYMBOL, 50, rate=2000)
    events = collect(queue, 50)
    assert trade_ids(events) == ids == list(range(1, 51))
    for event, sent in zip(events, server.trades[SYMBOL], strict=True):
        tick = event.data
        assert (event.channel_type, event.channel_name, event.priority) == ("tick", SYMBOL, EventPriority.TICK)
        assert event.timestamp == tick.timestamp == sent["T"] / 1000.0
        assert tick.price == float(sent["p"]) and tick.volume == float(sent["q"])
        assert tick.direction == ("sell" if sent["m"] else "buy")  # m: buyer is maker
        assert tick.symbol == SYMBOL
        assert tick.recv_timestamp >= server.sent_at[tick.trade_id]
    stats = feed.stats
    assert (stats.messages, stats.trades, stats.duplicates, stats.missed_trades, stats.bad_messages) == (50, 50, 0, 0, 0)
    assert (stats.reconnects, stats.resyncs) == (0, 0)
    assert 0 <= stats.latency_p50 <= stats.latency_p99
    assert_no_more(queue)


@pytest.mark.parametrize("abrupt", [False, True], ids=["close-frame", "tcp-reset"])
def test_socket_drop_reconnects_and_delivers_each_trade_once_in_order(server, start_feed, abrupt):
    feed, queue = start_feed()
    if abrupt:
        server.send_trades(SYMBOL, 10)
        events = collect(queue, 10)
        server.drop_connections(abrupt=True)
        server.send_trades(SYMBOL, 15)  # each waits for the feed to subscribe again
        events += collect(queue, 15)
        duplicates = 0
    else:
        # drop after 10 trades; on resubscription the server replays 8, 9, 10
        server.send_trades(SYMBOL, 25, drop_after=10, replay=3)
        events = collect(queue, 25)
        duplicates = 3
    assert trade_ids(events) == list(range(1, 26))
    assert [event.data.price for event in events] == [float(t["p"]) for t in server.trades[SYMBOL]]
    stats = feed.stats
    assert (stats.reconnects, stats.duplicates, stats.missed_trades, stats.trades) == (1, duplicates, 0, 25)
    assert server.subscriptions[server.trade_stream(SYMBOL)] == 2
    assert_no_more(queue)


def test_trades_missed_while_away_are_counted(server, start_feed):
    feed, queue = start_feed()
    server.send_trades(SYMBOL, 5)
    server.skip_trades(SYMBOL, 4)  # ids 6..9 happen, never reach the feed
    server.send_trades(SYMBOL, 3)
    assert trade_ids(collect(queue, 8)) == [1, 2, 3, 4, 5, 10, 11, 12]
    assert feed.stats.missed_trades == 4


def test_malformed_json_and_missing_fields_are_counted_and_the_stream_goes_on(server, start_feed):
    feed, queue = start_feed()
    stream = server.trade_stream(SYMBOL)
    server.send_trades(SYMBOL, 3)
    server.send_raw(stream, '{"e":"trade","E":1,"s":"BTCU')  # not JSON: ccxt's decoder raises
    no_symbol = {"e": "trade", "E": 1, "t": 4, "p": "1.0", "q": "1.0", "T": 1, "m": True, "M": True}
    server.send_raw(stream, json.dumps(no_symbol))  # ccxt's handler raises (TypeError)
    server.skip_trades(SYMBOL, 1)  # id 4 was that trade: seen (bad), so not missed
    no_id_no_price = {"e": "trade", "E": 1, "s": "BTCUSDT", "q": "1.0", "T": 1, "m": True, "M": True}
    server.send_raw(stream, json.dumps(no_id_no_price))  # parsed by ccxt, refused by the feed
    server.send_trades(SYMBOL, 3)
    assert trade_ids(collect(queue, 6)) == [1, 2, 3, 5, 6, 7]
    stats = feed.stats
    assert (stats.bad_messages, stats.messages, stats.trades) == (3, 9, 6)
    assert stats.bad_by_cause == {"unparseable": 3}
    assert (stats.reconnects, stats.watchdog_restarts, stats.missed_trades) == (0, 0, 0)
    assert_no_more(queue)


@pytest.mark.asyncio_error("Exception in callback Client.receive_loop")  # the frame that kills the loop
def test_watchdog_recovers_ccxt_receive_loop_killed_by_a_bad_frame(server, start_feed):
    """Unguarded, one invalid frame silently stops ccxt's receive loop on an open socket:
    only the watchdog notices; trades sent to the dead loop are lost and counted."""
    feed, queue = start_feed(guard_messages=False, stale_timeout=1.0)
    stream = server.trade_stream(SYMBOL)
    server.send_trades(SYMBOL, 3)
    assert trade_ids(collect(queue, 3)) == [1, 2, 3]
    server.send_raw(stream, "{not json")
    server.send_trades(SYMBOL, 3)  # 4, 5, 6: into the open socket nobody reads any more
    server.wait_subscriptions(stream, 2)  # the watchdog reconnected
    server.send_trades(SYMBOL, 3)
    assert trade_ids(collect(queue, 3)) == [7, 8, 9]
    stats = feed.stats
    assert stats.watchdog_restarts >= 1 and stats.reconnects >= 1
    assert stats.missed_trades == 3
    assert server.rest_calls["/api/v3/exchangeInfo"] == 1  # markets carried over


def test_silent_server_triggers_watchdog_reconnect(server, start_feed):
    feed, queue = start_feed(stale_timeout=1.0)
    server.send_trades(SYMBOL, 5)
    assert trade_ids(collect(queue, 5)) == [1, 2, 3, 4, 5]
    server.mute()  # socket stays open and answers pings, but nothing more arrives
    server.send_trades(SYMBOL, 5)  # waits for a live subscriber: the feed after its restart
    assert trade_ids(collect(queue, 5)) == [6, 7, 8, 9, 10]
    stats = feed.stats
    assert stats.watchdog_restarts >= 1
    assert (stats.missed_trades, stats.duplicates) == (0, 0)


def test_the_feed_refuses_a_zero_price_and_the_validator_an_old_trade_before_the_queue(server, start_feed):
    validator = LiveDataValidator()
    feed, queue = start_feed(validator=validator)
    server.send_trades(SYMBOL, 3)
    now_ms = int(time.time() * 1000)
    zero_price = {"e": "trade", "E": 1, "s": "BTCUSDT", "t": 4, "p": "0.00000000", "q": "1.0", "T": now_ms, "m": False, "M": True}
    an_hour_old = {**zero_price, "t": 5, "p": "50000.00", "T": now_ms - 3_600_000}
    for trade in (zero_price, an_hour_old):
        server.send_raw(server.trade_stream(SYMBOL), json.dumps(trade))
    server.skip_trades(SYMBOL, 2)  # ids 4 and 5 were those trades
    server.send_trades(SYMBOL, 2)
    assert trade_ids(collect(queue, 5)) == [1, 2, 3, 6, 7]
    stats = feed.stats
    assert (stats.bad_messages, stats.bad_by_cause, stats.rejected) == (1, {"invalid_price": 1}, 1)
    assert (stats.missed_trades, stats.duplicates) == (0, 0)  # each counted once, where it was refused
    assert validator.get_anomaly_report() == {("tick", SYMBOL): {"out_of_order": 1}}


def test_overflowing_queue_counts_drops_and_keeps_the_most_urgent(server, start_feed):
    queue = LiveEventQueue(max_queue_size=5)
    command = Event(time.time() + 3600, EventPriority.CONTROL, "control", "stop")
    queue.push(command)
    feed, _ = start_feed(queue=queue)
    server.send_trades(SYMBOL, 20)
    wait_for(lambda: feed.stats.trades == 20)
    stats = queue.stats
    assert (stats.pushed, stats.dropped, stats.high_water, len(queue)) == (21, 16, 5, 5)
    popped = [queue.pop(timeout=0) for _ in range(5)]
    assert popped[0] is command  # a command pops first, whatever its time
    assert trade_ids(popped[1:]) == [1, 18, 19, 20]  # the head (1) was never the victim


# -- order books -----------------------------------------------------------------------------


def book_of(event: Event) -> OrderBookChannel:
    channel = OrderBookChannel(SYMBOL)
    assert channel.push(event)
    return channel


@pytest.mark.parametrize("depth", [None, 5])
def test_order_book_feed_follows_the_server_book(server, start_feed, depth):
    feed, queue = start_feed(CCXTLiveOrderBookFeed, depth=depth)
    first = collect(queue, 1)[0]
    assert first.data.update_id == 1000  # the REST snapshot
    last = server.send_depth_updates(SYMBOL, 20, rate=500)
    events = [first, *collect_until(queue, lambda e: e.data.update_id == last)]
    ids = [event.data.update_id for event in events]
    assert ids == sorted(set(ids))
    for event in events:
        assert (event.channel_type, event.channel_name, event.priority) == ("orderbook", SYMBOL, EventPriority.ORDERBOOK)
        assert event.data.kind == "snapshot" and event.data.symbol == SYMBOL
        assert event.data.recv_timestamp is not None
    _, bids, asks = server.book(SYMBOL)
    channel = book_of(events[-1])
    assert channel.book.bids == bids[:depth] and channel.book.asks == asks[:depth]
    stats = feed.stats
    assert stats.books == len(events) and stats.resyncs == 0
    assert stats.latency_p50 is not None


def test_depth_gap_resyncs_from_a_fresh_snapshot(server, start_feed):
    feed, queue = start_feed(CCXTLiveOrderBookFeed)
    collect_until(queue, lambda e: e.data.update_id == 1000)
    last = server.send_depth_updates(SYMBOL, 5)
    collect_until(queue, lambda e: e.data.update_id == last)
    last = server.send_depth_updates(SYMBOL, 5, gap_at=1)  # the 2nd update never arrives
    collect_until(queue, lambda e: e.data.update_id == last)
    assert feed.stats.resyncs == 1
    assert server.rest_calls["/api/v3/depth"] == 2  # the first snapshot and the resync's
    last = server.send_depth_updates(SYMBOL, 5)  # the rebuilt book keeps following
    events = collect_until(queue, lambda e: e.data.update_id == last)
    _, bids, asks = server.book(SYMBOL)
    channel = book_of(events[-1])
    assert (channel.book.bids, channel.book.asks) == (bids, asks)
    assert feed.stats.resyncs == 1


def test_trades_and_book_feeds_share_one_thread_and_queue(server):
    queue = LiveEventQueue()
    options = {"config": server.ccxt_config(), "backoff": FAST}
    trades = CCXTLiveTickFeed("binance", SYMBOL, queue, **options)
    book = CCXTLiveOrderBookFeed("binance", SYMBOL, queue, depth=10, **options)
    with FeedThread([trades, book]):
        server.send_trades(SYMBOL, 5)
        last = server.send_depth_updates(SYMBOL, 3)
        events = collect_until(queue, lambda e: e.channel_type == "orderbook" and e.data.update_id == last)
        events += collect(queue, 5 - sum(e.channel_type == "tick" for e in events))
    assert trade_ids([e for e in events if e.channel_type == "tick"]) == [1, 2, 3, 4, 5]
    assert not trades.running and not book.running
    server.wait_connections(0)


# -- lifecycle -----------------------------------------------------------------------------


def test_stop_returns_within_two_seconds_and_closes_the_exchange(server, start_feed):
    feed, queue = start_feed()
    server.send_trades(SYMBOL, 3)
    collect(queue, 3)
    assert server.connections == 1
    assert feed.stop(timeout=2.0)  # True: closed within the 2 s
    assert not feed.running and feed.error is None
    server.wait_connections(0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_stop_interrupts_a_long_reconnect_backoff():
    port = free_port()  # nothing listens: every attempt fails
    config = binance_ccxt_config(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws")
    feed = CCXTLiveTickFeed("binance", SYMBOL, LiveEventQueue(), config=config, backoff=Backoff(initial=20.0, maximum=20.0))
    runner = feed.start_in_thread()
    wait_for(lambda: feed.stats.reconnects >= 1)
    assert feed.stop(timeout=2.0)
    assert runner.join(timeout=2.0)
    assert runner.errors == []


def test_start_raises_after_max_retries():
    port = free_port()
    config = binance_ccxt_config(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws")
    feed = CCXTLiveTickFeed("binance", SYMBOL, LiveEventQueue(), config=config, backoff=FAST, max_retries=2)
    with pytest.raises(ccxt.NetworkError):
        asyncio.run(feed.start())
    assert isinstance(feed.error, ccxt.NetworkError)
    assert feed.stats.reconnects == 2


def test_unknown_symbol_ends_the_feed_with_the_exchange_error(server):
    feed = CCXTLiveTickFeed("binance", "DOGE/USDT", LiveEventQueue(), config=server.ccxt_config())
    runner = feed.start_in_thread()
    assert runner.join(timeout=10)
    assert len(runner.errors) == 1 and isinstance(runner.errors[0], ccxt.BadSymbol)
    assert feed.error is runner.errors[0]
    with pytest.raises(ValueError, match="no exchange"):
        asyncio.run(CCXTLiveTickFeed("nosuchexchange", SYMBOL, LiveEventQueue()).start())


def test_seed_usage_await_start_and_stop_from_the_same_loop(server):
    queue = LiveEventQueue()
    feed = CCXTLiveTickFeed("binance", SYMBOL, queue, config=server.ccxt_config())

    async def main():
        running = asyncio.ensure_future(feed.start())
        await asyncio.to_thread(server.send_trades, SYMBOL, 4)
        events = await asyncio.to_thread(collect, queue, 4)
        feed.stop()  # on the feed's own loop: cannot wait, start() returns once closed
        await asyncio.wait_for(running, timeout=2.0)
        return events

    assert trade_ids(asyncio.run(main())) == [1, 2, 3, 4]
    assert not feed.running
    with pytest.raises(RuntimeError, match="runs once"):
        asyncio.run(feed.start())
