"""ChannelBridge: a backtrader LineSeries (line ``value``) fed from a channel.

Any backtrader indicator takes it as its data. It costs a LineSeries write per event of
its channel plus the indicators built on it, so it is opt-in: strategies that only need
the latest values read channels directly (see docs/channel-bridge.md).
"""

from __future__ import annotations

import math
import operator
from typing import Any

import backtrader as bt
from backtrader import metabase

from .channels import Channel, OrderBook, OrderBookChannel, TickChannel
from .events import TickEvent

__all__ = ["ChannelBridge"]


def _prototype(channel: Channel) -> Any:
    """A sample of what the channel's ``latest`` holds, to check field paths against."""
    if isinstance(channel, TickChannel):
        return TickEvent(0.0, 1.0, 1.0, "buy", 0, channel.symbol)
    if isinstance(channel, OrderBookChannel):
        book = OrderBook(channel.symbol)
        book.apply(0.0, True, [(1.0, 1.0)], [(2.0, 1.0)])
        return book
    return None


class ChannelBridge(bt.LineSeries):
    """``ChannelBridge(channel=..., field='price')``: one value per channel event.

    ``field`` is an attribute path of the channel's latest item: ``'price'``, ``'volume'``
    for ticks; ``'mid_price'``, ``'spread'``, ``'best_bid.price'``, ``'best_ask.size'`` for
    books. In a tick-mode run the engine appends a value on every event of the channel and
    steps the indicators built on the bridge before the strategy's callbacks run.
    """

    lines: Any = ("value",)  # backtrader's metaclass makes these names line objects
    params = (("channel", None), ("field", "price"))

    def __init__(self) -> None:
        channel = self.p.channel
        if channel is None:
            raise ValueError("ChannelBridge needs channel=: e.g. self.channels[('tick', 'BTC/USDT')]")
        if not isinstance(channel, Channel):
            raise TypeError(f"ChannelBridge channel= must be a channel, got {type(channel).__name__}")
        field = self.p.field
        if not isinstance(field, str) or not field:
            raise ValueError(f"ChannelBridge field= must be an attribute path such as 'price', got {field!r}")
        self._channel = channel
        self._get = operator.attrgetter(field)
        prototype = _prototype(channel)
        if prototype is not None:
            try:
                value = self._get(prototype)
            except AttributeError:
                kind = type(prototype).__name__
                raise ValueError(f"ChannelBridge: {type(channel).__name__} items ({kind}) have no field {field!r}") from None
            if not isinstance(value, (int, float)):
                raise ValueError(f"ChannelBridge: field {field!r} is not a number ({type(value).__name__})")
        owner = metabase.findowner(self, bt.Strategy)
        if owner is not None:
            vars(owner).setdefault("_bc_bridges", []).append(self)

    @property
    def channel(self) -> Channel:
        return self._channel

    def _load(self) -> bool:
        """Append the channel's latest value (False while the channel has none)."""
        latest = self._channel.latest
        if latest is None:
            return False
        value = self._get(latest)
        self.forward()
        self.lines.value[0] = math.nan if value is None else value
        return True
