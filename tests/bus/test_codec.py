"""Every kind's events through the bus codec (the event log's payloads too): back as they were, bit for bit."""

from __future__ import annotations

import dataclasses
import math
import struct

import msgpack
import pytest

from backtrader_channels import OrderBookEvent, TickEvent
from backtrader_channels.bus.codec import CodecError, decode, encode
from backtrader_channels.kinds import (
    KINDS,
    ControlCommand,
    FundingEvent,
    dataclass_codec,
    kind_of,
    kind_of_data,
)
from backtrader_channels.kinds.orders import OrderUpdate, OwnFill, Reconciled, StreamResumed

SYMBOL = "BTC/USDT"
T0 = 1_767_000_000.123456


def bits(value: float) -> bytes:
    return struct.pack("<d", value)


def fields(data: object) -> dict:
    """What a user reads of an event's data (slots or dataclass fields), floats as their bits."""
    names = [f.name for f in dataclasses.fields(data)] if dataclasses.is_dataclass(data) else type(data).__slots__
    values = {name: getattr(data, name) for name in names}
    return {name: bits(value) if isinstance(value, float) else value for name, value in values.items()}


EXAMPLES = [
    TickEvent(T0, 0.1 + 0.2, 1e-8 / 3, "sell", 2**40 + 7, SYMBOL, T0 + 1 / 3),
    TickEvent(T0, 60_000.5, 0.25, "buy", None, SYMBOL, None),
    OrderBookEvent(T0, [(100.1, 2.0), (100.0, 0.0)], [(100.2, 1 / 7)], "delta", SYMBOL, 99, T0 + 0.01),
    OrderBookEvent(T0, [(100.1, 2.0)], [], "snapshot", SYMBOL, None, None),
    FundingEvent(T0, -0.0001 / 3, 60_123.4, SYMBOL),
    FundingEvent(T0, 0.0001, math.nan, SYMBOL),  # no mark price in the source: the run's price
    ControlCommand("flatten", T0 + 0.5),
    OrderUpdate(T0, SYMBOL, "bc-1", "42", "canceled", 0.004, "", "reconcile"),
    OwnFill(T0, SYMBOL, "t-9", "42", "bc-1", "sell", 60_000.1, 0.004, 0.0024 / 7, "USDT", "stream", -1.5),
    OwnFill(T0, SYMBOL, "t-10", None, None, "buy", 1.0, 2.0),
    StreamResumed(T0, SYMBOL),
    Reconciled(T0, SYMBOL, 2**40 + 3, ((SYMBOL, -0.25),)),
    Reconciled(T0, SYMBOL, None),
]


@pytest.mark.parametrize("data", EXAMPLES, ids=lambda data: type(data).__name__)
def test_each_kinds_events_round_trip_bit_exact(data):
    back = decode(encode(data), SYMBOL)
    assert type(back) is type(data)
    assert fields(back) == fields(data)


def test_the_examples_cover_every_event_type_of_every_kind_with_a_codec():
    carried = {cls for kind in KINDS.values() if kind.codec is not None for cls in kind.events}
    assert carried == {type(data) for data in EXAMPLES}
    assert {kind.name for kind in KINDS.values() if kind.codec is None} == {"bar"}  # bar closes never travel


def test_trades_books_and_commands_keep_their_wire_form():
    """What collectors already publish, and logs already hold, still reads: tags 1, 2, 3 as before."""
    trade = msgpack.packb((1, T0, 60_000.5, 0.25, True, 7, T0 + 0.001))
    assert fields(decode(trade, SYMBOL)) == fields(TickEvent(T0, 60_000.5, 0.25, "sell", 7, SYMBOL, T0 + 0.001))
    book = msgpack.packb((2, T0, False, 5, [100.0, 1.0, 99.5, 0.0], [101.0, 2.0], None))
    back = decode(book, SYMBOL)
    assert (back.kind, back.bids, back.asks, back.update_id) == ("delta", ((100.0, 1.0), (99.5, 0.0)), ((101.0, 2.0),), 5)
    assert decode(msgpack.packb((3, T0, "stop"))) == ControlCommand("stop", T0)
    assert encode(ControlCommand("stop", T0)) == msgpack.packb((3, T0, "stop"))


def test_a_report_field_added_later_travels_and_an_older_payload_takes_its_default():
    @dataclasses.dataclass(frozen=True)
    class Report:
        timestamp: float
        symbol: str
        venue_latency: float = 0.0  # a field a later version adds

    codec = dataclass_codec(99, Report)
    report = Report(T0, SYMBOL, 0.0123)
    assert codec.decode(codec.encode(report), None) == report
    assert codec.decode(("Report", {"timestamp": T0, "symbol": SYMBOL}), None) == Report(T0, SYMBOL, 0.0)
    with pytest.raises(ValueError, match="no report type 'Gone'; known: Report"):
        codec.decode(("Gone", {}), None)


def test_the_kind_of_an_events_data_and_the_errors():
    assert [kind_of_data(data).name for data in EXAMPLES[::2]] == [
        "tick", "orderbook", "funding", "control", "orders", "orders", "orders"]
    assert kind_of_data("a trade") is None
    with pytest.raises(TypeError, match=r"the bus carries the events of a kind \(OrderBookEvent, TickEvent, "
                                        r"FundingEvent, ControlCommand, OrderUpdate, OwnFill, StreamResumed, Reconciled\), got str"):
        encode("a trade")
    with pytest.raises(CodecError, match="unknown bus message tag 77"):
        decode(msgpack.packb((77, T0)))
    with pytest.raises(CodecError, match="not a bus message"):
        decode(msgpack.packb((5, "OrderUpdate", {"timestamp": T0})))  # fields missing
    assert kind_of("orders").codec.tag == 5
