"""LiveEventQueue under sustained overload: the book keeps reaching the consumer, never stale."""

from __future__ import annotations

from backtrader_channels import Event, EventPriority, OrderBookChannel, OrderBookEvent, TickEvent
from backtrader_channels.live import LiveEventQueue

SYMBOL = "BTC/USDT"
SIZE = 1000


def overload(total: int = 200_000, pops_per_ten_pushes: int = 5):
    """Push ``total`` events (9 trades then a book delta, 1 ms apart) while popping half as
    many: the queue is full most of the time. Returns (book events popped, worst book lag in
    seconds, the consumer's book, the producer's book)."""
    queue = LiveEventQueue(max_queue_size=SIZE)
    sent, seen = OrderBookChannel(SYMBOL), OrderBookChannel(SYMBOL)
    books = 0
    worst_lag = 0.0
    for i in range(total):
        now = 1_700_000_000.0 + i * 0.001
        if i == 0 or i % 10 == 9:
            level = 100.0 - (i % 7) - 1
            kind = "snapshot" if i == 0 else "delta"
            data = OrderBookEvent(now, [(level, float(i % 5))], [(101.0 + i % 3, 1.0)], kind=kind, symbol=SYMBOL)
            sent.push(data)
            queue.push(Event(now, EventPriority.ORDERBOOK, "orderbook", SYMBOL, data))
        else:
            tick = TickEvent(now, 100.5, 1.0, "buy", trade_id=i, symbol=SYMBOL)
            queue.push(Event(now, EventPriority.TICK, "tick", SYMBOL, tick))
        if i % 10 < pops_per_ten_pushes:
            event = queue.pop(timeout=0)
            if event is not None and event.channel_type == "orderbook":
                books += 1
                seen.push(event.data)
            if seen.book.has_snapshot:
                worst_lag = max(worst_lag, now - seen.book.timestamp)
    for event in iter(lambda: queue.pop(timeout=0), None):
        if event.channel_type == "orderbook":
            seen.push(event.data)
    return books, worst_lag, seen.book, sent.book, queue.stats


def test_under_overload_book_updates_keep_reaching_the_consumer_with_a_bounded_lag():
    books, worst_lag, seen, sent, stats = overload()
    assert stats.dropped > 50_000 and stats.conflated > 1000  # a real overload
    # a (merged) book update reaches the consumer each time the full queue turns over
    # (101,000 pops of a 1000-event queue); it was 101 in all, the book 199 s behind, when
    # merged updates moved to the back of the queue
    assert books > 200
    # never older than what the full queue spans (1000 events, 1 ms apart), plus one merge
    assert worst_lag <= 2 * SIZE * 0.001
    assert (seen.bids, seen.asks) == (sent.bids, sent.asks)  # nothing lost in the merges


def test_execution_reports_are_never_dropped_by_a_full_queue():
    """The exchange's word on the run's orders comes once: a full queue drops trades, never it."""
    from backtrader_channels.kinds.orders import OwnFill

    queue = LiveEventQueue(max_queue_size=10)
    t0 = 1_700_000_000.0
    for i in range(10):
        queue.push(Event(t0 + i, EventPriority.TICK, "tick", SYMBOL, TickEvent(t0 + i, 100.0, 1.0, "buy", i, SYMBOL)))
    fills = [OwnFill(t0 + 20 + i, SYMBOL, str(i), "7", "r1x1", "buy", 100.0, 0.1) for i in range(3)]
    for fill in fills:  # the queue is full of trades: each report takes an old trade's place
        assert queue.push(Event(fill.timestamp, EventPriority.ORDERS, "orders", SYMBOL, fill)) is True
    for i in range(10, 30):  # more trades than room: the reports stay, trades go
        queue.push(Event(t0 + i, EventPriority.TICK, "tick", SYMBOL, TickEvent(t0 + i, 100.0, 1.0, "buy", i, SYMBOL)))
    popped = list(iter(lambda: queue.pop(timeout=0), None))
    assert [e.data for e in popped if e.channel_type == "orders"] == fills
    assert queue.stats.dropped == 3 + 20  # three trades for the reports, then one per trade past the bound
    assert len(popped) == 10
