"""``cerebro.plot()`` after a tick-mode run.

A tick-only run steps its strategies on a clock (each ``equity_interval`` of event time and
each fill), and each symbol's ChannelData holds one slot per step. For the plot, each slot
becomes the bar of the trades since the step before (open, high, low, close, volume, read
again from the channel's file), so backtrader's own plotter draws candles of the clock's
period, the observers' value, buy/sell markers at the fills' steps and closed trades.
Indicators built on a ChannelBridge (one value per event) are drawn with the data of their
symbol, at each of its bars the value they had then.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import backtrader as bt
import numpy as np

from . import seam
from .broker.data import from_num
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


def _plotted_data(engine: Any, symbol: str) -> Any:
    """The data an indicator on ``symbol``'s channel is drawn with: the symbol's ChannelData
    in a tick-only run; with bar feeds the one named after the symbol, else the first."""
    if not engine.bar_feeds:
        market = engine.markets.get(symbol)
        return None if market is None else market.data
    return next((feed for feed in engine.bar_feeds if seam.data_name(feed) == symbol), engine.bar_feeds[0])


@contextmanager
def _bridge_indicators_drawn(engine: Any) -> Iterator[None]:
    """For the plot: each indicator built on a ChannelBridge is drawn with the data of its
    channel's symbol, at each of that data's bars the value it had then (sampled at every
    step: in a tick-only run each step is a bar; with bar feeds, the sample of the bar's
    close, whose time is the bar's to the millisecond as the bar's step took it)."""
    bridges = engine.bridges
    times = np.frombuffer(bridges.sample_times, dtype=float)
    with ExitStack() as stack:
        for indicator, channel in bridges.indicators():
            data = _plotted_data(engine, channel.symbol)
            if data is None or not len(times) or not len(data):
                continue
            if not engine.bar_feeds:
                if len(data) != len(times):
                    continue  # a symbol that first traded mid-run (live): its slots are not the steps
                at: np.ndarray = np.arange(len(times))
            else:
                bar_ms = np.round(from_num(np.asarray(data.lines.datetime.array)) * 1e3)
                at = np.searchsorted(times, bar_ms / 1e3, side="right") - 1
            columns = [np.where(at >= 0, np.frombuffer(bridges.samples[id(line)], dtype=float)[np.maximum(at, 0)],
                                np.nan).tobytes() for line in indicator.lines]
            stack.enter_context(seam.plotted_as(indicator, data, columns))
        yield


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
    with _backend_kept(), _bridge_indicators_drawn(engine):
        return _bar_plot(cerebro, *args, **kwargs)
