"""The wire format of events: one msgpack array per bus entry or event-log payload (schema in docs/bus.md).

``[tag, *fields]``: ``tag`` names the kind (``Kind.codec.tag``), the fields are what the
kind's codec makes of the event's data. Floats travel as msgpack float64, so prices, sizes
and timestamps arrive bit-exact.

- trade (tick): ``[1, timestamp, price, volume, is_sell, trade_id, recv_timestamp]``
- book (orderbook): ``[2, timestamp, is_snapshot, update_id, bids, asks, recv_timestamp]``,
  levels flattened ``[p0, s0, p1, s1, ...]``
- control: ``[3, sent_at, command]``
- funding: ``[4, timestamp, rate, mark_price]``
- orders: ``[5, report type, {field: value}]`` (``OrderUpdate``, ``OwnFill``, ``StreamResumed``)
"""

from __future__ import annotations

from typing import Any

from ..extras import missing_extra

try:
    import msgpack
except ImportError as error:
    raise missing_extra("bus", "the bus codec", error) from error

from ..kinds import KINDS, kind_of_data, kind_of_tag

__all__ = ["CodecError", "decode", "encode"]


class CodecError(ValueError):
    """A bus entry that is not a message of this schema; ``cause`` names why, as consumers
    count it (``unparseable``, ``unknown_kind``, ...)."""

    def __init__(self, message: str, cause: str = "unparseable") -> None:
        super().__init__(message)
        self.cause = cause


def encode(data: Any) -> bytes:
    """The bytes of one event's data, by its kind's codec."""
    kind = kind_of_data(data)
    if kind is None or kind.codec is None:
        carried = ", ".join(cls.__name__ for kind in KINDS.values() if kind.codec is not None for cls in kind.events)
        raise TypeError(f"the bus carries the events of a kind ({carried}), got {type(data).__name__}")
    codec = kind.codec
    return msgpack.packb((codec.tag, *codec.encode(data)))


def decode(payload: bytes, symbol: str | None = None) -> Any:
    """The event data of ``payload`` (``symbol``: the channel name, for data that does not carry it)."""
    try:
        message = msgpack.unpackb(payload, use_list=False)
        if type(message) is not tuple or not message:
            raise TypeError(f"a {type(message).__name__}, not a [tag, ...] array")
        tag, fields = message[0], message[1:]
        kind = kind_of_tag(tag)
        if kind is not None and kind.codec is not None:
            return kind.codec.decode(fields, symbol)
    except (msgpack.UnpackException, ValueError, TypeError, IndexError, KeyError, AttributeError) as error:
        raise CodecError(f"not a bus message ({type(error).__name__}: {error}): {payload[:80]!r}") from None
    raise CodecError(f"unknown bus message tag {tag!r}: {payload[:80]!r}", "unknown_kind")
