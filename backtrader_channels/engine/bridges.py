"""Keeping ChannelBridges and the indicators built on them in step with their channels.

Two ways: live (and book channels), a value is appended to each bridge per event and
its indicators take one ``_next`` step; in a backtest over a trade file, the bridges'
lines are filled from the file up front and the indicators computed with backtrader's
vectorised ``_once``, so each event only moves their line pointers (``advance``).
"""

from __future__ import annotations

import math
from array import array
from collections import defaultdict
from typing import Any

import backtrader as bt
import numpy as np

from .. import seam
from ..channel_bridge import ChannelBridge
from ..sources.chunks import to_seconds

__all__ = ["BridgeUpdater"]

# tick fields a trade file holds, as functions of its rows (seconds, price, volume, is_sell, id)
_TRADE_COLUMNS = {"price": 1, "volume": 2, "timestamp": 0}


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


class BridgeUpdater:
    """Per channel: its bridges and the indicators built on them.

    At each step of the strategies (a clock step, a bar close) ``sample(now)`` keeps the
    value of every line of those indicators: ``cerebro.plot()`` draws them on the steps.
    """

    def __init__(self, strategies: list[bt.Strategy]) -> None:
        self.sample_times = array("d")
        self.samples: dict[int, array] = {}  # id(line buffer) -> its value at each sample time
        self._sampled: list[Any] = []
        self._groups: dict[int, _Group] = defaultdict(_Group)
        for strategy in strategies:
            bridges = strategy.__dict__.get("_bc_bridges", [])
            for bridge in bridges:
                self._groups[id(bridge.channel)].bridges.append(bridge)
            channel_of = {id(bridge): id(bridge.channel) for bridge in bridges}
            tick_indicators = []
            for indicator in seam.indicators(strategy):
                channel_id = channel_of.get(id(seam.root_clock(indicator)))
                if channel_id is not None:
                    self._groups[channel_id].indicators.append(indicator)
                    tick_indicators.append(indicator)
            # their periods count ticks, not bars: they must not hold a bar strategy's next() back
            seam.recount_warm_up(strategy, leaving_out=tick_indicators)
        self._groups = dict(self._groups)
        self._sampled = [line for group in self._groups.values() for indicator in group.indicators
                         for line in indicator.lines]
        self.samples = {id(line): array("d") for line in self._sampled}

    def indicators(self) -> list[tuple[Any, Any]]:
        """Every indicator built on a bridge, with the channel of its bridge."""
        return [(indicator, group.bridges[0].channel) for group in self._groups.values()
                for indicator in group.indicators]

    def sample(self, now: float) -> None:
        """Keep the indicators' current values (NaN before their first) at event time ``now``."""
        if not self._sampled:
            return
        self.sample_times.append(now)
        samples = self.samples
        for line in self._sampled:
            samples[id(line)].append(line[0] if len(line) else math.nan)

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
        if not all(seam.unbounded(line) for line in buffers):
            return False  # memory-saving buffers (exactbars) keep their own index rules
        columns: list[list[np.ndarray]] = [[], [], []]
        for chunk in channel.source.chunks():
            columns[0].append(to_seconds(chunk.ts_ns))
            columns[1].append(chunk.price)
            columns[2].append(chunk.volume)
        values = [np.concatenate(parts) if parts else np.empty(0) for parts in columns]
        for bridge in group.bridges:
            seam.fill_line(bridge.lines.value, values[_TRADE_COLUMNS[bridge.p.field]].astype(float).tobytes())
        seam.compute_once(group.indicators, items)
        group.buffers = buffers
        return True

    def update(self, channel: Any) -> None:
        """After an event of ``channel``: its bridges and their indicators move one step."""
        group = self._groups.get(id(channel))
        if group is None:
            return
        if group.buffers is not None:
            seam.advance(group.buffers)
            return
        for bridge in group.bridges:
            bridge._load()
        for indicator in group.indicators:
            seam.indicator_step(indicator)
