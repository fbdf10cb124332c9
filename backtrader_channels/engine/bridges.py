"""Keeping ChannelBridges and the indicators built on them in step with their channels."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import backtrader as bt

from ..bridge import ChannelBridge

__all__ = ["BridgeUpdater"]


def _root_clock(item: Any) -> Any:
    """What ultimately clocks an indicator: follow ``_clock`` down to a data."""
    seen = set()
    while getattr(item, "_clock", None) is not None and id(item) not in seen:
        seen.add(id(item))
        item = item._clock
    return item


class BridgeUpdater:
    """Per channel: its bridges and, in creation order, the indicators they clock."""

    def __init__(self, strategies: list[bt.Strategy]) -> None:
        self._by_channel: dict[int, tuple[list[ChannelBridge], list[Any]]] = {}
        bridges_by_channel: dict[int, list[ChannelBridge]] = defaultdict(list)
        indicators_by_channel: dict[int, list[Any]] = defaultdict(list)
        for strategy in strategies:
            bridges = strategy.__dict__.get("_bc_bridges", [])
            for bridge in bridges:
                bridges_by_channel[id(bridge.channel)].append(bridge)
            owner_of = {id(bridge): id(bridge.channel) for bridge in bridges}
            for indicator in strategy._lineiterators[bt.LineIterator.IndType]:
                channel_id = owner_of.get(id(_root_clock(indicator)))
                if channel_id is not None:
                    indicators_by_channel[channel_id].append(indicator)
        for channel_id, bridges in bridges_by_channel.items():
            self._by_channel[channel_id] = (bridges, indicators_by_channel[channel_id])

    def watches(self, channel: Any) -> bool:
        return id(channel) in self._by_channel

    def update(self, channel: Any) -> None:
        """After an event of ``channel``: append to its bridges, step their indicators."""
        entry = self._by_channel.get(id(channel))
        if entry is None:
            return
        bridges, indicators = entry
        for bridge in bridges:
            bridge._load()
        for indicator in indicators:
            indicator._next()
