"""The event model of the API contract."""

from __future__ import annotations

import math

import pytest

from backtrader_channels import Event, EventPriority, Level, OrderBookEvent, TickEvent


def test_priorities_are_the_contract_values():
    assert [(p.name, int(p)) for p in EventPriority] == [
        ("CONTROL", 0), ("FUNDING", 10), ("ORDERS", 15), ("ORDERBOOK", 20), ("TICK", 30), ("BAR", 40),
        ("CUSTOM", 60),
    ]  # the seed's values, plus ORDERS: a live broker's own orders and fills


def test_events_order_by_timestamp_then_priority_then_sequence():
    events = [Event(2.0, EventPriority.TICK, "tick"), Event(1.0, EventPriority.BAR, "bar"),
              Event(1.0, EventPriority.TICK, "tick"), Event(1.0, EventPriority.ORDERBOOK, "orderbook")]
    for sequence, event in enumerate(events):
        event.sequence = sequence
    tie_a, tie_b = Event(1.0, EventPriority.TICK, "tick", "A"), Event(1.0, EventPriority.TICK, "tick", "B")
    tie_a.sequence, tie_b.sequence = 9, 10
    ordered = sorted(events + [tie_b, tie_a])
    assert [(e.timestamp, e.priority, e.channel_name) for e in ordered] == [
        (1.0, EventPriority.ORDERBOOK, None), (1.0, EventPriority.TICK, None), (1.0, EventPriority.TICK, "A"),
        (1.0, EventPriority.TICK, "B"), (1.0, EventPriority.BAR, None), (2.0, EventPriority.TICK, None),
    ]


def test_event_contract_signature():
    event = Event(timestamp=100.0, priority=30, channel_type="tick")
    assert (event.timestamp, event.priority, event.channel_type, event.channel_name, event.data) == (100.0, 30, "tick", None, None)


def test_tick_event_fields_and_direction_check():
    tick = TickEvent(timestamp=100.0, price=50_000, volume=1.0, direction="buy")
    assert (tick.price, tick.volume, tick.is_buy, tick.trade_id, tick.symbol) == (50_000, 1.0, True, None, None)
    assert tick.datetime.isoformat() == "1970-01-01T00:01:40+00:00"
    with pytest.raises(ValueError, match="'buy' or 'sell'"):
        TickEvent(timestamp=1.0, price=1.0, volume=1.0, direction="long")


def test_order_book_event_best_levels_mid_and_spread():
    book = OrderBookEvent(timestamp=1.0, bids=[["99.5", "2"], [100.0, 1.0], [100.5, 0.0]], asks=[[101.0, 3.0], [100.8, 1.0]])
    assert book.best_bid == Level(100.0, 1.0) and book.best_bid.price == 100.0  # size 0 is no level
    assert book.best_ask == Level(100.8, 1.0) and book.best_ask.size == 1.0
    assert book.mid_price == pytest.approx(100.4) and book.spread == pytest.approx(0.8)
    assert book.is_snapshot
    empty = OrderBookEvent(timestamp=1.0, bids=[], asks=[], kind="delta")
    assert empty.best_bid is None and math.isnan(empty.mid_price)
    with pytest.raises(ValueError, match="kind"):
        OrderBookEvent(timestamp=1.0, kind="update")
