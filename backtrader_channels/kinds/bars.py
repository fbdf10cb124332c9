"""The bar kind: closes of the feeds added with ``cerebro.adddata``, as one more stream of events.

Bars have no channel, no strategy callback of their own and never travel live: at each
close time the feeds closing then take one step of backtrader's own machinery
(indicators, ``next``, analyzers, observers, writers).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import backtrader as bt
import numpy as np

from .. import seam
from ..broker.data import from_num
from ..events import EventPriority
from ..sources.chunks import TimeChunk, to_seconds
from .base import Kind, Step, StepContext

__all__ = ["BARS", "BarStep", "step_strategies"]


class BarStep(Step):
    """The close times of every preloaded bar feed of ``cerebro``, as one time line of steps."""

    def __init__(self, context: StepContext, feeds: list, cerebro: bt.Cerebro) -> None:  # no channel, no market
        self.context = context
        self.cerebro = cerebro
        self._feeds: list[list[Any]] = []  # [feed, its close times (ns), next position]
        all_times: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
        for feed in feeds:
            milliseconds = np.round(from_num(np.asarray(feed.lines.datetime.array)) * 1e3)
            # bars from a channel close just before the events stamped at their end (channel_bars.py)
            early = int(getattr(feed, "closes_before_trades", False))
            times_ns = milliseconds.astype(np.int64) * 1_000_000 - early
            self._feeds.append([feed, times_ns.tolist(), 0])
            all_times.append(times_ns)
        self._times = np.unique(np.concatenate(all_times))
        self._feed_of: dict[int, Any] = {}  # id(ChannelData) -> the first bar feed trading its symbol
        for feed in feeds:
            self._feed_of.setdefault(id(context.broker.market_of(feed).data), feed)
        self._ts: list[int] = []

    def chunks(self) -> Iterator[TimeChunk]:
        yield TimeChunk(self._times)

    def load(self, chunk: TimeChunk) -> None:
        self._ts = chunk.ts_ns.tolist()

    def run(self, start: int, stop: int) -> bool:
        return any(self.handle(self._ts[i]) for i in range(start, stop))

    def handle(self, ts_ns: int) -> bool:
        """Deliver the bars closing at ``ts_ns``: indicators and ``next()`` as in backtrader."""
        context = self.context
        context.clock.now = to_seconds(-(-ts_ns // 1_000_000) * 1_000_000)  # bar times are whole ms: the early ones too
        for state in self._feeds:
            feed, times, position = state
            if position < len(times) and times[position] == ts_ns:
                feed.next(ticks=False)
                state[2] = position + 1
        return step_strategies(context, self.cerebro, self._feed_of)


def step_strategies(context: StepContext, cerebro: bt.Cerebro, feed_of: dict[int, Any]) -> bool:
    """The strategies' step at a bar close (their feeds have moved): indicators, ``next``,
    analyzers, observers, writers; then the end of the step. True when the run must stop."""
    for strategy in context.strategies:
        seam.bar_step(strategy, feed_of)
    context.bridges.sample(context.clock.now)  # for cerebro.plot()
    seam.step_writers(cerebro, context.strategies)
    return context.finish(call_next=False)


BARS = Kind("bar", EventPriority.BAR, None, BarStep, None, market_data=False)
