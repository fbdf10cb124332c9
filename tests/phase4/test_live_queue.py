"""LiveEventQueue: ordering, blocking and stop, thread safety, and the overflow policy."""

from __future__ import annotations

import random
import threading

import pytest

from backtrader_channels import Event, EventPriority, OrderBookChannel, OrderBookEvent, TickEvent
from backtrader_channels.live import LiveEventQueue, merge_book_updates

SYMBOL = "BTC/USDT"


def tick(timestamp: float, price: float = 100.0, symbol: str = SYMBOL, priority: int = EventPriority.TICK) -> Event:
    return Event(timestamp, priority, "tick", symbol, TickEvent(timestamp, price, 1.0, "buy", symbol=symbol))


def book(timestamp: float, bids, asks, kind: str = "delta", symbol: str = SYMBOL) -> Event:
    data = OrderBookEvent(timestamp, bids, asks, kind=kind, symbol=symbol)
    return Event(timestamp, EventPriority.ORDERBOOK, "orderbook", symbol, data)


def drain(queue: LiveEventQueue) -> list[Event]:
    events = []
    while (event := queue.pop(timeout=0)) is not None:
        events.append(event)
    return events


def test_live_event_queue():
    """The seed's test, as written (import adapted)."""
    queue = LiveEventQueue()
    event1 = Event(timestamp=100.0, priority=30, channel_type="tick")
    event2 = Event(timestamp=100.0, priority=20, channel_type="orderbook")
    queue.push(event1)
    queue.push(event2)
    e1 = queue.pop(timeout=1.0)
    assert e1.priority == 20
    e2 = queue.pop(timeout=1.0)
    assert e2.priority == 30


def test_pops_by_timestamp_then_priority_then_arrival():
    queue = LiveEventQueue()
    pushed = [
        ("late", 2.0, EventPriority.TICK),
        ("trade-a", 1.0, EventPriority.TICK),
        ("bar", 1.0, EventPriority.BAR),
        ("book", 1.0, EventPriority.ORDERBOOK),
        ("trade-b", 1.0, EventPriority.TICK),
        ("control", 1.0, EventPriority.CONTROL),
        ("early", 0.5, EventPriority.CUSTOM),
    ]
    for name, timestamp, priority in pushed:
        assert queue.push(Event(timestamp, priority, "custom", name))
    assert len(queue) == 7
    popped = drain(queue)
    # the command first, whatever its time (its own lane); then the market events in order
    assert [event.channel_name for event in popped] == [
        "control", "early", "book", "trade-a", "trade-b", "bar", "late",
    ]
    # sequence is the arrival number, stamped on push
    assert {event.channel_name: event.sequence for event in popped}["trade-a"] == 2
    assert {event.channel_name: event.sequence for event in popped}["trade-b"] == 5
    assert len(queue) == 0


def test_pop_times_out_and_pop_batch_returns_in_order():
    queue = LiveEventQueue()
    assert queue.pop(timeout=0.01) is None
    assert queue.pop(timeout=0) is None
    assert queue.pop_batch(10, timeout=0.01) == []
    for timestamp in (5.0, 3.0, 4.0, 1.0, 2.0):
        queue.push(tick(timestamp))
    assert [event.timestamp for event in queue.pop_batch(3, timeout=0)] == [1.0, 2.0, 3.0]
    assert [event.timestamp for event in queue.pop_batch(10)] == [4.0, 5.0]


def test_stop_wakes_a_blocked_pop_at_once_and_leaves_queued_events_poppable():
    queue = LiveEventQueue()
    results = []
    started = threading.Event()

    def consumer():
        started.set()
        results.append(queue.pop(timeout=60))
        results.append(queue.pop_batch(10, timeout=60))

    thread = threading.Thread(target=consumer)
    thread.start()
    assert started.wait(5)
    queue.stop()
    thread.join(timeout=5)  # returns long before the 60 s pop timeout
    assert not thread.is_alive()
    assert results == [None, []]
    assert queue.stopped

    queue = LiveEventQueue()
    queue.push(tick(1.0))
    queue.stop()
    assert queue.push(tick(2.0)) is False  # refused after stop, and counted
    assert queue.stats.rejected == 1
    assert [event.timestamp for event in drain(queue)] == [1.0]  # drained after stop
    assert queue.pop(timeout=60) is None  # stopped and empty: at once


def test_blocked_pop_wakes_on_push_from_another_thread():
    queue = LiveEventQueue()
    got = []
    thread = threading.Thread(target=lambda: got.append(queue.pop(timeout=30)))
    thread.start()
    event = tick(1.0)
    queue.push(event)
    thread.join(timeout=5)
    assert got == [event]


def test_rejects_events_with_no_place_in_time_order():
    queue = LiveEventQueue()
    with pytest.raises(ValueError, match="timestamp"):
        queue.push(tick(float("nan")))
    with pytest.raises(ValueError, match="timestamp"):
        queue.push(tick(float("inf")))
    with pytest.raises(ValueError, match="priority"):
        queue.push(tick(1.0, priority=-1))
    with pytest.raises(ValueError):
        LiveEventQueue(max_queue_size=0)
    assert len(queue) == 0


def drain_in_thread(queue: LiveEventQueue, batch: int) -> tuple[threading.Thread, list[Event]]:
    """A started consumer thread popping batches into a list until the queue is stopped and empty."""
    received: list[Event] = []

    def consume() -> None:
        while True:
            events = queue.pop_batch(batch, timeout=5)
            received.extend(events)
            if not events and queue.stopped:
                return

    consumer = threading.Thread(target=consume)
    consumer.start()
    return consumer, received


def test_many_producer_threads_one_consumer_every_event_once_in_source_order():
    queue = LiveEventQueue(max_queue_size=100_000)
    producers, per_producer = 4, 5000

    def produce(source: int) -> None:
        for i in range(per_producer):
            queue.push(Event(1000.0 + i * 0.001, EventPriority.TICK, "tick", f"S{source}", i))

    consumer, received = drain_in_thread(queue, batch=500)
    threads = [threading.Thread(target=produce, args=(source,)) for source in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.stop()
    consumer.join(timeout=10)
    assert len(received) == producers * per_producer
    for source in range(producers):
        assert [event.data for event in received if event.channel_name == f"S{source}"] == list(range(per_producer))
    stats = queue.stats
    assert (stats.pushed, stats.popped, stats.dropped, stats.conflated) == (20000, 20000, 0, 0)
    assert len({event.sequence for event in received}) == 20000


def command(timestamp: float, name: str) -> Event:
    return Event(timestamp, EventPriority.CONTROL, "control", name)


def label(event: Event) -> str | float:
    """A command's name, a market event's timestamp."""
    return event.channel_name if event.channel_type == "control" else event.timestamp


def test_commands_pop_first_in_arrival_order_whatever_their_timestamps():
    queue = LiveEventQueue()
    for timestamp in (1.0, 2.0, 4.0, 3.0):  # 3.0 arrives late
        queue.push(tick(timestamp))
    assert not queue.control_waiting()
    queue.push(command(100.0, "first"))  # stamped after every trade: still first
    queue.push(tick(5.0))
    queue.push(command(0.5, "second"))
    queue.push(command(50.0, "third"))
    assert queue.control_waiting()
    assert [label(event) for event in queue.pop_batch(4, timeout=0)] == ["first", "second", "third", 1.0]
    assert not queue.control_waiting()
    queue.push(command(0.0, "fourth"))
    assert queue.pop(timeout=0).channel_name == "fourth"
    assert [event.timestamp for event in drain(queue)] == [2.0, 3.0, 4.0, 5.0]


def test_pop_controls_takes_the_commands_and_leaves_the_market_events_queued():
    queue = LiveEventQueue()
    assert queue.pop_controls() == []
    queue.push(tick(1.0))
    queue.push(command(9.0, "pause"))
    queue.push(tick(2.0))
    queue.push(command(3.0, "flatten"))
    assert [event.channel_name for event in queue.pop_controls()] == ["pause", "flatten"]
    assert not queue.control_waiting() and queue.pop_controls() == []
    assert len(queue) == 2
    stats = queue.stats
    assert (stats.pushed, stats.popped) == (4, 2)
    assert [event.timestamp for event in drain(queue)] == [1.0, 2.0]


def test_a_full_queue_neither_drops_nor_conflates_a_command():
    queue = LiveEventQueue(max_queue_size=3)
    queue.push(book(1.0, [(99.0, 1.0)], [(101.0, 1.0)], kind="snapshot"))
    queue.push(tick(2.0))
    queue.push(tick(3.0))
    for name in ("pause", "flatten", "stop"):
        assert queue.push(command(4.0, name))
    # the trades 2.0 and 3.0 make room for the first two commands; the book is spared (a book,
    # and the most urgent market event); the third command goes over the bound
    stats = queue.stats
    assert (stats.dropped, stats.conflated, len(queue)) == (2, 0, 4)
    assert [label(event) for event in drain(queue)] == ["pause", "flatten", "stop", 1.0]


def test_commands_from_many_threads_never_wait_behind_market_events_pushed_after_them():
    queue = LiveEventQueue(max_queue_size=100_000)
    producers, per_producer, every = 4, 5000, 500

    def produce(source: int) -> None:
        for i in range(per_producer):
            queue.push(Event(1000.0 + i * 0.001, EventPriority.TICK, "tick", f"S{source}", i))
            if i % every == every - 1:
                queue.push(Event(2000.0, EventPriority.CONTROL, "control", f"S{source}", ("after", i)))

    consumer, received = drain_in_thread(queue, batch=500)
    threads = [threading.Thread(target=produce, args=(source,)) for source in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    queue.stop()
    consumer.join(timeout=10)
    assert len(received) == producers * (per_producer + per_producer // every)
    for source in range(producers):
        mine = [event.data for event in received if event.channel_name == f"S{source}"]
        assert [data for data in mine if isinstance(data, int)] == list(range(per_producer))
        commands = [data for data in mine if isinstance(data, tuple)]
        assert commands == [("after", i) for i in range(every - 1, per_producer, every)]
        for _, i in commands[:-1]:  # popped before the trade its producer pushed next
            assert mine.index(("after", i)) < mine.index(i + 1)


# -- overflow policy -------------------------------------------------------------------------


def test_overflow_drops_oldest_arrival_but_never_the_most_urgent():
    # The seed's sketch called get() on a full PriorityQueue: it removed the most urgent event.
    queue = LiveEventQueue(max_queue_size=3)
    for timestamp in (5.0, 6.0, 7.0):
        queue.push(tick(timestamp))
    assert queue.push(tick(1.0))  # the most urgent arrives last, into a full queue
    stats = queue.stats
    assert (stats.pushed, stats.dropped, stats.high_water) == (4, 1, 3)
    # 5.0 (oldest arrival) is the queue's head: spared; 6.0 is the oldest droppable
    assert [event.timestamp for event in drain(queue)] == [1.0, 5.0, 7.0]


def test_overflow_spares_control_events():
    queue = LiveEventQueue(max_queue_size=3)
    queue.push(tick(10.0, priority=EventPriority.CONTROL))
    queue.push(tick(1.0))
    queue.push(tick(2.0))
    queue.push(tick(3.0))
    assert queue.stats.dropped == 1
    popped = drain(queue)  # 1.0, the most urgent market event, spared: 2.0 dropped
    assert [(event.timestamp, event.priority) for event in popped] == [
        (10.0, EventPriority.CONTROL), (1.0, EventPriority.TICK), (3.0, EventPriority.TICK),
    ]


def test_overflow_of_only_spared_events_drops_the_incoming_tick_and_counts_it():
    queue = LiveEventQueue(max_queue_size=2)
    queue.push(tick(1.0, priority=EventPriority.CONTROL))
    queue.push(tick(2.0, priority=EventPriority.CONTROL))
    assert queue.push(tick(0.5)) is False
    assert queue.stats.dropped == 1
    assert queue.push(tick(3.0, priority=EventPriority.CONTROL))  # never dropped: over the bound
    assert len(queue) == 3
    assert [event.timestamp for event in drain(queue)] == [1.0, 2.0, 3.0]


def test_overflow_conflates_snapshots_of_one_book_keeping_the_newest():
    queue = LiveEventQueue(max_queue_size=3)
    queue.push(book(1.0, [(99, 1)], [(101, 1)], kind="snapshot"))
    queue.push(tick(1.5))
    queue.push(book(2.0, [(98, 2)], [(102, 2)], kind="snapshot"))
    queue.push(book(3.0, [(97, 3)], [(103, 3)], kind="snapshot"))  # full: merged into the 2.0 one
    stats = queue.stats
    assert (stats.conflated, stats.dropped) == (1, 0)
    popped = drain(queue)
    assert [event.timestamp for event in popped] == [1.0, 1.5, 2.0]  # the queued update's place
    assert popped[2].data.timestamp == 3.0 and popped[2].data.bids == ((97.0, 3.0),)


def test_overflow_merges_deltas_so_the_book_ends_in_the_same_state():
    """Random snapshots, deltas (two symbols) and trades through a tiny queue nobody pops
    until the end: books rebuilt from what comes out equal books fed with everything."""
    rng = random.Random(7)
    symbols = ["BTC/USDT", "ETH/USDT"]
    stream: list[Event] = []
    for i in range(400):
        timestamp = 1000.0 + i * 0.01
        symbol = symbols[i % 2]
        if i < 2 or rng.random() < 0.05:
            bids = [(100.0 - k, rng.uniform(1, 5)) for k in range(1, 6)]
            asks = [(100.0 + k, rng.uniform(1, 5)) for k in range(1, 6)]
            stream.append(book(timestamp, bids, asks, kind="snapshot", symbol=symbol))
        elif rng.random() < 0.6:
            level = (100.0 - rng.randint(1, 8), rng.choice([0.0, rng.uniform(1, 5)]))
            ask = (100.0 + rng.randint(1, 8), rng.choice([0.0, rng.uniform(1, 5)]))
            stream.append(book(timestamp, [level], [ask], symbol=symbol))
        else:
            stream.append(tick(timestamp, symbol=symbol))

    expected = {symbol: OrderBookChannel(symbol) for symbol in symbols}
    for event in stream:
        if event.channel_type == "orderbook":
            expected[event.channel_name].push(event.data)

    queue = LiveEventQueue(max_queue_size=8)
    for event in stream:
        queue.push(event)
    popped = drain(queue)

    got = {symbol: OrderBookChannel(symbol) for symbol in symbols}
    for event in popped:
        if event.channel_type == "orderbook":
            got[event.channel_name].push(event.data)
    for symbol in symbols:
        assert got[symbol].book.bids == expected[symbol].book.bids
        assert got[symbol].book.asks == expected[symbol].book.asks
    stats = queue.stats
    assert stats.conflated > 0 and stats.dropped > 0
    assert stats.pushed == len(stream) == stats.popped + stats.conflated + stats.dropped
    assert stats.high_water == 8
    assert [event.timestamp for event in popped] == sorted(event.timestamp for event in popped)


def test_merge_book_updates():
    snapshot = OrderBookEvent(1.0, [(99, 1), (98, 2)], [(101, 1)], kind="snapshot", update_id=1)
    delta = OrderBookEvent(2.0, [(99, 0), (97, 5)], [(101, 3), (102, 4)], kind="delta", update_id=2)
    merged = merge_book_updates(snapshot, delta)
    assert merged.kind == "snapshot" and merged.update_id == 2 and merged.timestamp == 2.0
    assert merged.bids == ((98.0, 2.0), (97.0, 5.0))  # the 0 removed the level
    assert merged.asks == ((101.0, 3.0), (102.0, 4.0))

    later = OrderBookEvent(3.0, [(97, 0)], [(103, 1)], kind="delta", update_id=3)
    both = merge_book_updates(delta, later)
    assert both.kind == "delta"
    assert both.bids == ((99.0, 0.0), (97.0, 0.0))  # zeros kept: they remove levels downstream
    assert both.asks == ((101.0, 3.0), (102.0, 4.0), (103.0, 1.0))

    assert merge_book_updates(delta, snapshot) is snapshot


# -- throughput (pytest-benchmark; run with --benchmark-enable for figures) ------------------


def test_benchmark_push_pop_one_thread(benchmark):
    events = [tick(1000.0 + i * 0.001) for i in range(10_000)]

    def push_pop():
        queue = LiveEventQueue()
        push, pop = queue.push, queue.pop
        for event in events:
            push(event)
            pop(0)
        return queue

    queue = benchmark(push_pop)
    assert queue.stats.popped == 10_000


def test_benchmark_producer_thread_to_consumer_thread(benchmark):
    events = [tick(1000.0 + i * 0.001) for i in range(20_000)]

    def across_threads():
        queue = LiveEventQueue()
        consumer, received = drain_in_thread(queue, batch=1000)
        for event in events:
            queue.push(event)
        queue.stop()
        consumer.join()
        return len(received) + queue.stats.dropped

    assert benchmark(across_threads) == 20_000
