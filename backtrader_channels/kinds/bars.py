"""Bar closes of the feeds added with ``cerebro.adddata``, as one more stream of events.

Bars have no channel: at each close time the feeds closing then take one step of
backtrader's own machinery (indicators, ``next``, analyzers, observers, writers).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import seam
from ..broker.data import from_num
from ..events import EventPriority
from ..sources.chunks import TimeChunk, to_seconds

if TYPE_CHECKING:
    from ..engine.engine import TickEngine

__all__ = ["BarStep"]


class BarStep:
    """The close times of every preloaded bar feed, as one time line of steps."""

    priority = EventPriority.BAR

    def __init__(self, engine: TickEngine, feeds: list) -> None:
        self.engine = engine
        self._feeds: list[list[Any]] = []  # [feed, its close times (ns), next position]
        all_times: list[np.ndarray] = [np.empty(0, dtype=np.int64)]
        for feed in feeds:
            milliseconds = np.round(from_num(np.asarray(feed.lines.datetime.array)) * 1e3)
            times_ns = milliseconds.astype(np.int64) * 1_000_000
            self._feeds.append([feed, times_ns.tolist(), 0])
            all_times.append(times_ns)
        self._times = np.unique(np.concatenate(all_times))
        self._feed_of: dict[int, Any] = {}  # id(ChannelData) -> the first bar feed trading its symbol
        for feed in feeds:
            self._feed_of.setdefault(id(engine.broker.market_of(feed).data), feed)
        self._ts: list[int] = []

    def chunks(self) -> Iterator[TimeChunk]:
        yield TimeChunk(self._times)

    def load(self, chunk: TimeChunk) -> None:
        self._ts = chunk.ts_ns.tolist()

    def run(self, start: int, stop: int) -> bool:
        return any(self.handle(self._ts[i]) for i in range(start, stop))

    def handle(self, ts_ns: int) -> bool:
        """Deliver the bars closing at ``ts_ns``: indicators and ``next()`` as in backtrader."""
        engine = self.engine
        engine.clock.now = to_seconds(ts_ns)
        for state in self._feeds:
            feed, times, position = state
            if position < len(times) and times[position] == ts_ns:
                feed.next(ticks=False)
                state[2] = position + 1
        for strategy in engine.strategies:
            seam.bar_step(strategy, self._feed_of)
        seam.step_writers(engine.cerebro, engine.strategies)
        return engine.finish_step(call_next=False)
