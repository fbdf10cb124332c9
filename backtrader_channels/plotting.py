"""``cerebro.plot()`` after a tick-mode run.

A tick-only run steps its strategies on a clock (each ``equity_interval`` of event time and
each fill), and each symbol's ChannelData holds one slot per step. For the plot, each slot
becomes the bar of the trades since the step before (open, high, low, close, volume, read
again from the channel's file), so backtrader's own plotter draws candles of the clock's
period, the observers' value, buy/sell markers at the fills' steps and closed trades.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import backtrader as bt
import numpy as np

from . import seam
from .channels.tick import rows_of

__all__ = ["plot", "step_bars"]


def step_bars(step_times: np.ndarray, chunks: Iterator[Any]) -> tuple[np.ndarray, ...]:
    """(open, high, low, close, volume) per step of the trades in ``chunks`` since the step
    before: a trade at time t belongs to the first step at or after t. Steps without a
    trade are NaN with volume 0; trades after the last step are left out."""
    count = len(step_times)
    open_, close = np.full(count, np.nan), np.full(count, np.nan)
    high, low, volume = np.full(count, -np.inf), np.full(count, np.inf), np.zeros(count)
    for chunk in chunks:
        seconds, price, size = rows_of(chunk)[:3]
        step = np.searchsorted(step_times, seconds, side="left")
        inside = step < count
        step, price, size = step[inside], price[inside], size[inside]
        if not len(step):
            continue
        starts = np.flatnonzero(np.r_[True, np.diff(step) > 0])
        ends = np.r_[starts[1:], len(step)] - 1
        steps = step[starts]
        fresh = np.isnan(open_[steps])
        open_[steps[fresh]] = price[starts[fresh]]
        high[steps] = np.maximum(high[steps], np.maximum.reduceat(price, starts))
        low[steps] = np.minimum(low[steps], np.minimum.reduceat(price, starts))
        close[steps] = price[ends]
        volume[steps] += np.add.reduceat(size, starts)
    empty = np.isnan(open_)
    high[empty] = low[empty] = np.nan
    return open_, high, low, close, volume


def _fill_step_bars(engine: Any) -> None:
    """Write each market's step bars into its ChannelData's lines (steps without trades keep
    the step's price as open, high, low and close)."""
    step_times = np.frombuffer(engine.equity.times, dtype=float)  # a step at each sample, exact times
    trades = {channel.symbol: channel for (kind, _), channel in engine.channels.items()
              if kind == "tick" and channel.source is not None}
    for symbol, market in engine.markets.items():
        lines = market.data.lines
        if len(market.data) != len(step_times):
            continue  # a symbol that first traded mid-run (live): its slots are not the steps
        price = np.asarray(lines.close.array, dtype=float)
        if symbol in trades:
            bars = step_bars(step_times, trades[symbol].source.chunks())
        else:
            bars = (np.full(len(price), np.nan),) * 4 + (np.zeros(len(price)),)
        for line, values in zip((lines.open, lines.high, lines.low, lines.close), bars[:4]):
            seam.fill_line(line, np.where(np.isnan(values), price, values).tobytes())
        seam.fill_line(lines.volume, bars[4].tobytes())


@contextmanager
def _backend_kept() -> Iterator[None]:
    """backtrader's plot module switches matplotlib to TkAgg on import; keep the backend the
    user chose (e.g. 'Agg' for files, on a machine without a display)."""
    import matplotlib

    backend = matplotlib.get_backend()
    import backtrader.plot  # noqa: F401

    matplotlib.use(backend)
    yield


_bar_plot = bt.Cerebro.plot


def plot(cerebro: bt.Cerebro, *args: Any, **kwargs: Any) -> Any:
    """``cerebro.plot()``: backtrader's own; after a tick-only run, with the clock's steps as bars."""
    engine = getattr(cerebro, "_bc_plotted_engine", None)
    if engine is None:
        return _bar_plot(cerebro, *args, **kwargs)
    if not engine.bar_feeds:
        if not engine.clock_steps:
            raise ValueError("cerebro.plot() after a tick-only run draws its steps, and this run took none: "
                             "it had no observers or analyzers (run with stdstats=True, the default)")
        _fill_step_bars(engine)
    with _backend_kept():
        return _bar_plot(cerebro, *args, **kwargs)
