"""LiveDataValidator: each check, its effect (reject or count), thresholds and the report."""

from __future__ import annotations

import math

import pytest

from backtrader_channels import Event, EventPriority, OrderBookEvent, TickEvent
from backtrader_channels.live import LiveDataValidator

SYMBOL = "BTC/USDT"
KEY = ("tick", SYMBOL)


def tick(timestamp, price=100.0, volume=1.0, trade_id=None, recv=None, symbol=SYMBOL):
    data = TickEvent(timestamp, price, volume, "buy", trade_id=trade_id, symbol=symbol, recv_timestamp=recv)
    return Event(timestamp, EventPriority.TICK, "tick", symbol, data)


def book(timestamp, bids, asks, kind="snapshot", recv=None):
    data = OrderBookEvent(timestamp, bids, asks, kind=kind, symbol=SYMBOL, recv_timestamp=recv)
    return Event(timestamp, EventPriority.ORDERBOOK, "orderbook", SYMBOL, data)


def test_seed_checks_out_of_order_time_jump_and_invalid_data():
    validator = LiveDataValidator()
    assert validator.validate(tick(100.0))
    assert not validator.validate(tick(99.0))  # older than the last accepted: rejected
    assert validator.validate(tick(100.0))  # equal timestamps are fine
    assert validator.validate(tick(100.0 + 3601))  # a jump: warned, accepted
    assert not validator.validate(tick(4000.0, price=0.0))
    assert not validator.validate(tick(4000.0, volume=-1.0))
    assert validator.validate(tick(4000.0, volume=0.0))  # zero volume is legal
    assert validator.get_anomaly_report() == {
        KEY: {"out_of_order": 1, "time_jump": 1, "invalid_price": 1, "invalid_volume": 1, "invalid_data": 2}
    }


def test_rejected_events_do_not_move_the_clock():
    validator = LiveDataValidator()
    assert validator.validate(tick(100.0))
    assert not validator.validate(tick(5000.0, price=-1.0))
    assert validator.validate(tick(101.0))  # not out of order: the bad one was not accepted
    assert validator.get_anomaly_report() == {KEY: {"invalid_price": 1, "invalid_data": 1}}


@pytest.mark.parametrize(
    "event",
    [
        tick(100.0, price=math.nan),
        tick(100.0, price=math.inf),
        tick(100.0, volume=math.nan),
        tick(100.0, price=None),
        tick(math.nan),
        book(100.0, [(math.nan, 1.0)], [(101.0, 1.0)]),
        book(100.0, [(99.0, 1.0)], [(101.0, math.inf)]),
    ],
)
def test_nan_inf_or_missing_numbers_are_rejected(event):
    validator = LiveDataValidator()
    assert not validator.validate(event)
    assert validator.get_anomaly_report() == {(event.channel_type, SYMBOL): {"nan_or_inf": 1}}


def test_duplicate_trade_ids_rejected_with_bounded_memory():
    validator = LiveDataValidator(duplicate_window=3)
    for trade_id in (1, 2, 3):
        assert validator.validate(tick(100.0, trade_id=trade_id))
    assert not validator.validate(tick(100.0, trade_id=2))
    assert validator.validate(tick(100.0, trade_id=4))  # window now 2, 3, 4
    assert validator.validate(tick(100.0, trade_id=1))  # forgotten: memory stays bounded
    assert not validator.validate(tick(100.0, trade_id=4))
    # ids are per symbol
    assert validator.validate(tick(100.0, trade_id=4, symbol="ETH/USDT"))
    assert validator.get_anomaly_report() == {KEY: {"duplicate_trade_id": 2}}


def test_book_checks_crossed_invalid_and_per_message_levels():
    validator = LiveDataValidator()
    key = ("orderbook", SYMBOL)
    assert validator.validate(book(1.0, [(99.0, 1.0)], [(101.0, 2.0)]))
    assert not validator.validate(book(2.0, [(101.0, 1.0)], [(101.0, 2.0)]))  # bid >= ask
    assert not validator.validate(book(2.0, [(102.0, 1.0)], [(101.0, 2.0)]))
    # a removed (size 0) level does not count as the best bid
    assert validator.validate(book(2.0, [(102.0, 0.0), (99.0, 1.0)], [(101.0, 2.0)], kind="delta"))
    assert not validator.validate(book(3.0, [(0.0, 1.0)], [(101.0, 2.0)]))
    assert not validator.validate(book(3.0, [(99.0, -1.0)], [(101.0, 2.0)]))
    assert validator.validate(book(3.0, [(99.0, 1.0)], []))  # one-sided: not crossed
    assert validator.get_anomaly_report() == {
        key: {"crossed_book": 2, "invalid_price": 1, "invalid_volume": 1, "invalid_data": 2}
    }


def test_stale_events_counted_and_optionally_rejected():
    counting = LiveDataValidator(max_staleness=2.0)
    assert counting.validate(tick(100.0, recv=101.0))
    assert counting.validate(tick(100.0, recv=103.0))  # 3 s late: counted, accepted
    assert counting.validate(tick(100.0))  # no recv_timestamp (history): not checked
    assert counting.get_anomaly_report() == {KEY: {"stale": 1}}

    rejecting = LiveDataValidator(max_staleness=2.0, reject_stale=True)
    assert not rejecting.validate(tick(100.0, recv=103.0))
    assert rejecting.validate(tick(100.0, recv=101.5))
    assert rejecting.get_anomaly_report() == {KEY: {"stale": 1}}


def test_thresholds_are_configurable_and_checked():
    validator = LiveDataValidator(max_gap=10.0)
    assert validator.validate(tick(100.0))
    assert validator.validate(tick(111.0))
    assert validator.get_anomaly_report() == {KEY: {"time_jump": 1}}
    with pytest.raises(ValueError):
        LiveDataValidator(max_gap=0)
    with pytest.raises(ValueError):
        LiveDataValidator(duplicate_window=0)


def test_keys_are_independent_and_other_channels_get_time_checks_only():
    validator = LiveDataValidator()
    assert validator.validate(tick(100.0))
    assert validator.validate(tick(50.0, symbol="ETH/USDT"))  # its own clock
    bar = Event(10.0, EventPriority.BAR, "bar", SYMBOL, data={"close": -1})
    assert validator.validate(bar)
    assert not validator.validate(Event(9.0, EventPriority.BAR, "bar", SYMBOL))
    assert validator.get_anomaly_report() == {("bar", SYMBOL): {"out_of_order": 1}}
    report = validator.get_anomaly_report()
    report[("bar", SYMBOL)]["out_of_order"] = 99  # a copy: the validator's counts are safe
    assert validator.get_anomaly_report()[("bar", SYMBOL)]["out_of_order"] == 1
