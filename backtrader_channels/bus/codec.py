"""The bus's wire format: one msgpack array per stream entry (schema in docs/bus.md).

Floats travel as msgpack float64, so prices, sizes and timestamps arrive bit-exact.

- trade: ``[1, timestamp, price, volume, is_sell, trade_id, recv_timestamp]``
- book:  ``[2, timestamp, is_snapshot, update_id, bids, asks, recv_timestamp]``, levels
  flattened ``[p0, s0, p1, s1, ...]``
- control: ``[3, timestamp, command]``
"""

from __future__ import annotations

from typing import Any

from ..extras import missing_extra

try:
    import msgpack
except ImportError as error:
    raise missing_extra("bus", "the bus codec", error) from error

from ..events import OrderBookEvent, TickEvent

__all__ = ["BOOK", "CONTROL", "TRADE", "CodecError", "decode", "encode", "encode_control"]

TRADE, BOOK, CONTROL = 1, 2, 3


class CodecError(ValueError):
    """A bus entry that is not a message of this schema."""


def encode(data: TickEvent | OrderBookEvent) -> bytes:
    """The bytes of one trade or book update."""
    if type(data) is TickEvent:
        return msgpack.packb(
            (TRADE, data.timestamp, data.price, data.volume, data.direction == "sell", data.trade_id,
             data.recv_timestamp)
        )
    if type(data) is OrderBookEvent:
        return msgpack.packb(
            (BOOK, data.timestamp, data.is_snapshot, data.update_id, _flat(data.bids), _flat(data.asks),
             data.recv_timestamp)
        )
    raise TypeError(f"the bus carries TickEvent and OrderBookEvent, got {type(data).__name__}")


def encode_control(command: str, timestamp: float) -> bytes:
    return msgpack.packb((CONTROL, timestamp, command))


def decode(payload: bytes, symbol: str | None = None) -> TickEvent | OrderBookEvent | tuple[float, str]:
    """A ``TickEvent``, an ``OrderBookEvent`` or a control ``(timestamp, command)``."""
    try:
        message = msgpack.unpackb(payload, use_list=False)
        tag = message[0]
        if tag == TRADE:
            _, ts, price, volume, is_sell, trade_id, recv = message
            return TickEvent(ts, price, volume, "sell" if is_sell else "buy", trade_id, symbol, recv)
        if tag == BOOK:
            _, ts, is_snapshot, update_id, bids, asks, recv = message
            kind = "snapshot" if is_snapshot else "delta"
            return OrderBookEvent(ts, _pairs(bids), _pairs(asks), kind, symbol, update_id, recv)
        if tag == CONTROL:
            _, ts, command = message
            return float(ts), str(command)
    except (msgpack.UnpackException, ValueError, TypeError, IndexError) as error:
        raise CodecError(f"not a bus message ({type(error).__name__}: {error}): {payload[:80]!r}") from None
    raise CodecError(f"unknown bus message tag {tag!r}: {payload[:80]!r}")


def _flat(levels: tuple) -> list[float]:
    return [value for level in levels for value in level]


def _pairs(flat: Any) -> list[tuple[float, float]]:
    return list(zip(flat[0::2], flat[1::2]))
