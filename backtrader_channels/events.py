"""The event model: what flows from sources through the merge or live queue to channels.

Timestamps are UTC seconds since the epoch as floats at the API. Events order by
``(timestamp, priority, sequence)``: at one timestamp a lower priority goes first (a book
update before a trade before a bar) and ``sequence`` keeps each source's delivery order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timezone
from enum import IntEnum
from typing import Any, NamedTuple

__all__ = ["Event", "EventPriority", "Level", "OrderBookEvent", "TickEvent", "to_datetime"]


class EventPriority(IntEnum):
    """Tie-breaker at equal timestamps: lower goes first."""

    CONTROL = 0
    FUNDING = 10
    ORDERS = 15  # own orders and fills from the exchange, before the market data of their moment
    ORDERBOOK = 20
    TICK = 30
    BAR = 40
    CUSTOM = 60


def to_datetime(timestamp: float) -> datetime:
    """UTC-aware datetime of an epoch-seconds timestamp."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


class Event:
    """One item on a queue: a timestamped, prioritised envelope around channel data."""

    __slots__ = ("timestamp", "priority", "channel_type", "channel_name", "data", "sequence")

    def __init__(
        self,
        timestamp: float,
        priority: int,
        channel_type: str,
        channel_name: str | None = None,
        data: Any = None,
    ) -> None:
        self.timestamp = float(timestamp)
        self.priority = priority
        self.channel_type = channel_type
        self.channel_name = channel_name
        self.data = data
        self.sequence = 0

    def sort_key(self) -> tuple[float, int, int]:
        return (self.timestamp, int(self.priority), self.sequence)

    def __lt__(self, other: Event) -> bool:
        return self.sort_key() < other.sort_key()

    def __repr__(self) -> str:
        return (
            f"Event(timestamp={self.timestamp!r}, priority={self.priority!r}, "
            f"channel_type={self.channel_type!r}, channel_name={self.channel_name!r})"
        )


class TickEvent:
    """One trade. ``direction`` is the aggressor side: ``'buy'`` or ``'sell'``.

    ``recv_timestamp`` is the local receive time of a live trade (None for history), so
    feed latency is ``recv_timestamp - timestamp``.
    """

    __slots__ = ("timestamp", "price", "volume", "direction", "trade_id", "symbol", "recv_timestamp")

    def __init__(
        self,
        timestamp: float,
        price: float,
        volume: float,
        direction: str,
        trade_id: Any = None,
        symbol: str | None = None,
        recv_timestamp: float | None = None,
    ) -> None:
        if direction != "buy" and direction != "sell":
            raise ValueError(f"TickEvent direction must be 'buy' or 'sell', got {direction!r}")
        self.timestamp = timestamp
        self.price = price
        self.volume = volume
        self.direction = direction
        self.trade_id = trade_id
        self.symbol = symbol
        self.recv_timestamp = recv_timestamp

    @property
    def is_buy(self) -> bool:
        return self.direction == "buy"

    @property
    def datetime(self) -> datetime:
        return to_datetime(self.timestamp)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TickEvent):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    # no __hash__: defining __eq__ leaves it None, as a mutable value object's should be

    def __repr__(self) -> str:
        return (
            f"TickEvent(timestamp={self.timestamp!r}, price={self.price!r}, volume={self.volume!r}, "
            f"direction={self.direction!r}, trade_id={self.trade_id!r}, symbol={self.symbol!r})"
        )


class Level(NamedTuple):
    """One price level of a book."""

    price: float
    size: float


def _levels(levels: Sequence[Sequence[float]]) -> tuple[Level, ...]:
    return tuple(Level(float(price), float(size)) for price, size in levels)


class OrderBookEvent:
    """An order-book message: a full ``'snapshot'`` or a ``'delta'`` (size 0 removes a level).

    ``best_bid``/``best_ask``/``mid_price``/``spread`` describe the levels in this message;
    for the state of the book after applying it, read the channel (``OrderBookChannel``).
    """

    __slots__ = ("timestamp", "bids", "asks", "kind", "symbol", "update_id", "recv_timestamp")

    def __init__(
        self,
        timestamp: float,
        bids: Sequence[Sequence[float]] = (),
        asks: Sequence[Sequence[float]] = (),
        kind: str = "snapshot",
        symbol: str | None = None,
        update_id: int | None = None,
        recv_timestamp: float | None = None,
    ) -> None:
        if kind != "snapshot" and kind != "delta":
            raise ValueError(f"OrderBookEvent kind must be 'snapshot' or 'delta', got {kind!r}")
        self.timestamp = timestamp
        self.bids = _levels(bids)
        self.asks = _levels(asks)
        self.kind = kind
        self.symbol = symbol
        self.update_id = update_id
        self.recv_timestamp = recv_timestamp

    @property
    def is_snapshot(self) -> bool:
        return self.kind == "snapshot"

    @property
    def best_bid(self) -> Level | None:
        live = [level for level in self.bids if level.size > 0]
        return max(live) if live else None

    @property
    def best_ask(self) -> Level | None:
        live = [level for level in self.asks if level.size > 0]
        return min(live) if live else None

    @property
    def mid_price(self) -> float:
        bid, ask = self.best_bid, self.best_ask
        return (bid.price + ask.price) / 2.0 if bid and ask else math.nan

    @property
    def spread(self) -> float:
        bid, ask = self.best_bid, self.best_ask
        return ask.price - bid.price if bid and ask else math.nan

    @property
    def datetime(self) -> datetime:
        return to_datetime(self.timestamp)

    def __repr__(self) -> str:
        return (
            f"OrderBookEvent(timestamp={self.timestamp!r}, kind={self.kind!r}, "
            f"bids={len(self.bids)} levels, asks={len(self.asks)} levels, symbol={self.symbol!r})"
        )
