"""Keeping ChannelBridges and the indicators built on them in step with their channels.

Two ways: live (and book channels), a value is appended to each bridge per event and
its indicators take one ``_next`` step; in a backtest over a trade file, the bridges'
lines are filled from the file up front and the indicators computed with backtrader's
vectorised ``_once``, so each event only moves their line pointers (``advance``).
"""

from __future__ import annotations

import array
from collections import defaultdict
from typing import Any

import backtrader as bt
import numpy as np

from ..bridge import ChannelBridge
from ..sources.chunks import to_seconds

__all__ = ["BridgeUpdater"]

# tick fields a trade file holds, as functions of its rows (seconds, price, volume, is_sell, id)
_TRADE_COLUMNS = {"price": 1, "volume": 2, "timestamp": 0}


def _root_clock(item: Any) -> Any:
    """What ultimately clocks an indicator: follow ``_clock`` down to a data."""
    seen = set()
    while getattr(item, "_clock", None) is not None and id(item) not in seen:
        seen.add(id(item))
        item = item._clock
    return item


def _roots(indicator: Any) -> set[int]:
    """ids of every data an indicator reads, through the indicators it is built on."""
    found, stack, seen = set(), [indicator], set()
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        datas = getattr(item, "datas", None)
        if not datas:
            found.add(id(item))
        else:
            stack.extend(datas)
    return found


class _Group:
    """One channel's bridges and, in creation order, the indicators they clock."""

    __slots__ = ("bridges", "indicators", "buffers")

    def __init__(self) -> None:
        self.bridges: list[ChannelBridge] = []
        self.indicators: list[Any] = []
        self.buffers: list[Any] | None = None  # their line buffers, once precomputed


def _warm_up_without(strategy: bt.Strategy, tick_indicators: list[Any]) -> None:
    """Recount the strategy's warm-up (backtrader's ``_periodset``) leaving out the
    indicators on bridges: their periods count ticks, not bars, so they must not hold
    ``next()`` back on a bar feed (SMA over 200 trades with 60 one-minute bars would
    otherwise leave every bar in ``prenext``)."""
    if not tick_indicators:
        return
    indicators = strategy._lineiterators[bt.LineIterator.IndType]
    ticks = {id(indicator) for indicator in tick_indicators}
    strategy._lineiterators[bt.LineIterator.IndType] = [i for i in indicators if id(i) not in ticks]
    try:
        strategy._periodset()
    finally:
        strategy._lineiterators[bt.LineIterator.IndType] = indicators


class BridgeUpdater:
    """Per channel: its bridges and the indicators built on them."""

    def __init__(self, strategies: list[bt.Strategy]) -> None:
        self._groups: dict[int, _Group] = defaultdict(_Group)
        for strategy in strategies:
            bridges = strategy.__dict__.get("_bc_bridges", [])
            for bridge in bridges:
                self._groups[id(bridge.channel)].bridges.append(bridge)
            channel_of = {id(bridge): id(bridge.channel) for bridge in bridges}
            tick_indicators = []
            for indicator in strategy._lineiterators[bt.LineIterator.IndType]:
                channel_id = channel_of.get(id(_root_clock(indicator)))
                if channel_id is not None:
                    self._groups[channel_id].indicators.append(indicator)
                    tick_indicators.append(indicator)
            _warm_up_without(strategy, tick_indicators)
        self._groups = dict(self._groups)

    def watches(self, channel: Any) -> bool:
        return id(channel) in self._groups

    def precompute(self, channel: Any) -> bool:
        """Fill the bridges of a trade channel from its file and compute their indicators
        at once; False (the per-event way stays) when that cannot be done exactly."""
        group = self._groups.get(id(channel))
        if group is None or channel.source is None:
            return False
        if any(bridge.p.field not in _TRADE_COLUMNS for bridge in group.bridges):
            return False
        own = {id(bridge) for bridge in group.bridges}
        if any(not _roots(indicator) <= own for indicator in group.indicators):
            return False  # an indicator also reads a bar feed or another channel
        items = (*group.bridges, *group.indicators)
        buffers = [line for item in items for line in item.lines]
        if any(line.mode != line.UnBounded for line in buffers):
            return False  # memory-saving buffers (exactbars) keep their own index rules
        columns = [[], [], []]
        for chunk in channel.source.chunks():
            columns[0].append(to_seconds(chunk.ts_ns))
            columns[1].append(chunk.price)
            columns[2].append(chunk.volume)
        values = [np.concatenate(parts) if parts else np.empty(0) for parts in columns]
        for bridge in group.bridges:
            line = bridge.lines.value
            line.reset()
            line.array = array.array("d", values[_TRADE_COLUMNS[bridge.p.field]].astype(float).tobytes())
            line.lencount = len(line.array)
            line.idx = line.lencount - 1
        for indicator in group.indicators:
            indicator._once()
        for item in items:
            item.home()
        group.buffers = buffers
        return True

    def update(self, channel: Any) -> None:
        """After an event of ``channel``: its bridges and their indicators move one step."""
        group = self._groups.get(id(channel))
        if group is None:
            return
        if group.buffers is not None:
            for line in group.buffers:  # LineBuffer.advance() without the method calls
                line._idx += 1
                line.lencount += 1
            return
        for bridge in group.bridges:
            bridge._load()
        for indicator in group.indicators:
            indicator._next()
