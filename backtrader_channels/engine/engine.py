"""TickEngine: drives strategies event by event in ``cerebro.run(mode=bt.RunMode.TICK)``.

One step per event: the clock moves to the event, its channel updates, the broker
matches the symbol's working orders, fills are notified, bridges move, the strategy's
callback (``notify_tick`` / ``notify_orderbook``) and, without bar feeds, ``next()``
run, and orders submitted during the step start working only after it (no
look-ahead). A bar close is one step too: backtrader's own bar machinery (indicators,
``next``, analyzers, observers). Historical runs feed steps from the merge of the
channels' files; live runs from a LiveEventQueue.
"""

from __future__ import annotations

import gc
import logging
import math
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import backtrader as bt
import numpy as np

from ..broker.data import from_num, to_num
from ..channels import OrderBookChannel, TickChannel
from ..channels.book import level_columns
from ..result import RunResult, build_result
from ..sources.chunks import to_seconds
from .bridges import BridgeUpdater
from .clock import Clock
from .merge import merge_windows
from .streams import BarStream, BookStream, TradeStream

if TYPE_CHECKING:
    from ..broker.market import Market
    from ..broker.tick_broker import TickBroker
    from ..events import TickEvent

__all__ = ["TickEngine"]

log = logging.getLogger("backtrader_channels")


def _overrides(strategy: bt.Strategy, name: str) -> bool:
    """True when the strategy's class defines ``name`` itself (not backtrader's no-op)."""
    return getattr(type(strategy), name, None) is not getattr(bt.Strategy, name, None)


@contextmanager
def _few_collections(young: int = 100_000) -> Iterator[None]:
    """For the length of a run: collect the young generation less often and keep what
    existed before it (imports, backtrader's objects) out of full collections.

    A run makes an event object per trade and keeps few of them; with the default
    thresholds the collector walked the whole heap often enough to take about 40% of a
    trades-only run.
    """
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(young, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


class EquityCurve:
    """Samples of (time, portfolio value, first symbol's price), in compact float arrays."""

    __slots__ = ("times", "values", "prices")

    def __init__(self) -> None:
        self.times, self.values, self.prices = array("d"), array("d"), array("d")

    def add(self, time: float, value: float, price: float) -> None:
        self.times.append(time)
        self.values.append(value)
        self.prices.append(price)


class TickEngine:
    """Runs one tick-mode backtest (or live session) for a Cerebro."""

    def __init__(
        self,
        cerebro: bt.Cerebro,
        channels: dict[tuple[str, str], Any],
        markets: dict[str, Market],
        broker: TickBroker,
        bar_feeds: list,
        equity_interval: float = 1.0,
    ) -> None:
        self.cerebro = cerebro
        self.channels = channels
        self.markets = markets
        self.broker = broker
        self.bar_feeds = bar_feeds
        self.clock = Clock()
        self.equity_interval = equity_interval
        self.equity = EquityCurve()
        self.events = 0
        self._next_sample = -math.inf
        self._strategies: list[bt.Strategy] = []
        self._tick_callbacks: list[Callable] = []
        self._book_callbacks: list[Callable] = []
        self._next_callbacks: list[Callable] = []
        self._bar_steps: list[tuple[Any, list[float], int]] = []
        self.first_market = next(iter(markets.values()), None)
        self.live = None  # a LiveSession when the run consumes a LiveEventQueue
        self.result: RunResult | None = None
        self.bridges = BridgeUpdater([])

    # -- entry point (replaces Cerebro._runnext for the run) ---------------------------------
    def run(self, strategies: list[bt.Strategy]) -> None:
        """One run over the events for one set of strategies (optimisation runs come again)."""
        started = time.perf_counter()
        self._reset()
        self._strategies = strategies
        self._tick_callbacks = [s.notify_tick for s in strategies if _overrides(s, "notify_tick")]
        self._book_callbacks = [s.notify_orderbook for s in strategies if _overrides(s, "notify_orderbook")]
        # without bars next() follows every event; with bars it stays backtrader's bar callback
        self._next_callbacks = [] if self.bar_feeds else [s.next for s in strategies if _overrides(s, "next")]
        self.broker.attach(self.clock, self.markets)
        self.bridges = BridgeUpdater(strategies)
        with _few_collections():
            if self.live is not None:
                from .live import run_live

                run_live(self, self.live)
            else:
                for channel in self.channels.values():
                    if isinstance(channel, TickChannel):
                        self.bridges.precompute(channel)
                self._run_history(self._streams())
        if self.equity.times and self.equity.times[-1] != self.clock.now:
            self._sample()  # the final state, when the last event fell between samples
        self.result = build_result(self, strategies, time.perf_counter() - started)
        for strategy in strategies:
            strategy.tick_result = self.result
        for name, count in self.result.skipped_rows.items():
            if count:
                log.warning("%s: skipped %d bad rows (on_error='skip')", name, count)

    def _reset(self) -> None:
        self.clock.now = math.nan
        self.events = 0
        self.equity = EquityCurve()
        self._next_sample = -math.inf
        for channel in self.channels.values():
            channel.reset()
        for market in self.markets.values():
            market.reset()

    def _streams(self) -> list:
        streams: list = []
        for channel in self.channels.values():
            if channel.source is None:
                continue
            market = self.markets[channel.symbol]
            stream_cls = TradeStream if isinstance(channel, TickChannel) else BookStream
            streams.append(stream_cls(self, channel, market))
        if self.bar_feeds:
            streams.append(BarStream(self, self._bar_times()))
        return streams

    def _run_history(self, streams: list) -> None:
        """Dispatch each window as runs: consecutive events of one stream go in one call."""
        for window in merge_windows(streams):
            for index, chunk in window.parts:
                streams[index].load(chunk)
            if window.sources is None:
                index, chunk = window.parts[0]
                if streams[index].run(0, len(chunk)):
                    return
                continue
            starts = (np.flatnonzero(np.diff(window.sources)) + 1).tolist()
            sources, rows = window.sources.tolist(), window.rows.tolist()
            runs = [streams[index].run for index, _ in window.parts]
            for start, stop in zip([0, *starts], [*starts, len(sources)]):
                first_row = rows[start]
                if runs[sources[start]](first_row, first_row + stop - start):
                    return

    # -- steps ---------------------------------------------------------------------------
    def live_step(self, event: Any) -> bool:
        """Handle one live ``Event`` (tick or orderbook); True when the run must stop."""
        kind = event.channel_type
        if kind != "tick" and kind != "orderbook":
            self.live.unknown += 1
            return self.cerebro._event_stop
        channel, market = self.channel_for(kind, event.channel_name)
        data = event.data
        if kind == "tick":
            return self.run_ticks(channel, market, (data,))
        return self.book_step(channel, market, data.timestamp, data.is_snapshot,
                              *level_columns(data.bids, data.asks), data.update_id)

    def channel_for(self, kind: str, symbol: str) -> tuple[Any, Market]:
        """The channel and market of a live event, made on first sight of a new symbol."""
        channel = self.channels.get((kind, symbol))
        if channel is None:
            from ..cerebro import new_market

            channel = (TickChannel if kind == "tick" else OrderBookChannel)(symbol, on_error="skip")
            self.channels[(kind, symbol)] = channel
            market = self.markets.get(symbol) or new_market(symbol, self.cerebro)
            self.markets[symbol] = market
            market.attach(channel)
            if self.first_market is None:
                self.first_market = market
        return channel, self.markets[symbol]

    def run_ticks(self, channel: TickChannel, market: Market, ticks: Iterable[TickEvent]) -> bool:
        """Handle consecutive trades of one channel; True when the run must stop.

        This is the hot path: per trade, the clock and channel update, the broker matches
        (only when the symbol has working orders), fills are notified, the bridges and the
        strategy's callbacks run, and orders sent meanwhile start working after the trade.
        """
        clock, broker, cerebro = self.clock, self.broker, self.cerebro
        notifs = broker.notifs
        keep = channel._history.append
        callbacks, nexts = self._tick_callbacks, self._next_callbacks
        only = callbacks[0] if len(callbacks) == 1 else None
        bridges = self.bridges if self.bridges.watches(channel) else None
        next_sample = self._next_sample
        handled = 0
        stop = False
        for tick in ticks:
            now = clock.now = tick.timestamp
            channel.latest = tick
            keep(tick)
            channel._count += 1
            if market.orders or broker._incoming:
                broker.on_trade(market, tick.price, tick.volume)
            market.last_price = tick.price
            if notifs:
                self.deliver_notifications()
            if bridges is not None:
                bridges.update(channel)
            if only is not None:
                only(tick)
            else:
                for callback in callbacks:
                    callback(tick)
            if nexts:
                for callback in nexts:
                    callback()
            if broker._incoming:
                broker.end_step()
            if notifs:
                self.deliver_notifications()
            handled += 1
            if now >= next_sample:
                self._sample()
                next_sample = self._next_sample
            if cerebro._event_stop:
                stop = True
                break
        self.events += handled
        return stop

    def watches_each_trade(self, channel: TickChannel, market: Market) -> bool:
        """Whether something needs this channel's trades one by one: a tick callback, a
        per-event ``next``, a bridge, or a book orders may walk (see TradeStream)."""
        return bool(self._tick_callbacks or self._next_callbacks or self.bridges.watches(channel)
                    or market.book is not None)

    def take_in_bulk(self, channel: TickChannel, market: Market, rows: tuple) -> None:
        """Trades no order can react to: channel, last price, clock and equity samples only."""
        seconds, prices = rows[0], rows[1]
        while seconds[-1] >= self._next_sample:  # equity at each sample time inside the rows
            j = int(np.searchsorted(seconds, self._next_sample, side="left"))
            market.last_price = float(prices[j])
            self.clock.now = float(seconds[j])
            self._sample()
        channel.extend(rows)
        market.last_price = float(prices[-1])
        self.clock.now = float(seconds[-1])
        self.events += len(seconds)

    def book_step(self, channel: OrderBookChannel, market: Market, timestamp: float,
                  is_snapshot: bool, sides: list, prices: list, sizes: list, update_id: int | None = None) -> bool:
        """Handle one book update (levels as columns); True when the run must stop."""
        self.clock.now = timestamp
        if not channel.apply_levels(timestamp, is_snapshot, sides, prices, sizes, update_id):
            return self.cerebro._event_stop  # refused and counted (on_error='skip')
        broker = self.broker
        if market.orders or broker._incoming:
            broker.on_book(market)
        if broker.notifs:
            self.deliver_notifications()
        if self.bridges.watches(channel):
            self.bridges.update(channel)
        book = channel.book
        for callback in self._book_callbacks:
            callback(book)
        return self._finish_step()

    def bar_step(self, ts_ns: int) -> bool:
        """Deliver the bars closing at ``ts_ns``: indicators and ``next()`` as in backtrader."""
        self.clock.now = to_seconds(ts_ns)
        for state in self._bar_steps:
            feed, times, position = state
            if position < len(times) and times[position] == ts_ns:
                feed.next(ticks=False)
                state[2] = position + 1
        for strategy in self._strategies:
            strategy._next()
        if self.cerebro.runwriters:
            self.cerebro._next_writers(self._strategies)
        return self._finish_step(call_next=False)

    def _finish_step(self, call_next: bool = True) -> bool:
        if call_next:
            for callback in self._next_callbacks:
                callback()
        broker = self.broker
        if broker._incoming:
            broker.end_step()
        if broker.notifs:
            self.deliver_notifications()
        self.events += 1
        if self.clock.now >= self._next_sample:
            self._sample()
        return self.cerebro._event_stop

    # -- notifications -------------------------------------------------------------------
    def deliver_notifications(self) -> None:
        """Hand the broker's order notifications to their strategies, now.

        Without bar feeds each delivery is one 'bar' of the channel data and strategy
        lines, so notification-driven analyzers (Transactions, TradeAnalyzer) see a clock.
        """
        broker = self.broker
        tick_only = not self.bar_feeds
        if tick_only:
            now = self.clock.now
            for market in self.markets.values():
                market.data.advance(now, market.price)
            num = to_num(now)
            for strategy in self._strategies:
                strategy.forward()
                strategy.lines.datetime[0] = num
        quick = self.cerebro.p.quicknotify
        while (order := broker.get_notification()) is not None:
            order.owner._addnotification(order, quicknotify=quick)
        for strategy in self._strategies:
            strategy._notify()
            if tick_only:
                strategy._next_analyzers(-1)
                strategy._next_observers(-1)
            strategy.clear()

    def _sample(self) -> None:
        now = self.clock.now
        price = self.first_market.price if self.first_market is not None else None
        self.equity.add(now, self.broker.getvalue(), math.nan if price is None else price)
        interval = self.equity_interval
        self._next_sample = (math.floor(now / interval) + 1) * interval

    # -- bars ----------------------------------------------------------------------------
    def _bar_times(self) -> np.ndarray:
        """Close times (ns) of every preloaded bar feed, as one sorted, unique time line."""
        all_times = [np.empty(0, dtype=np.int64)]
        self._bar_steps = []
        for feed in self.bar_feeds:
            milliseconds = np.round(from_num(np.asarray(feed.lines.datetime.array)) * 1e3)
            times_ns = milliseconds.astype(np.int64) * 1_000_000
            self._bar_steps.append([feed, times_ns.tolist(), 0])
            all_times.append(times_ns)
        return np.unique(np.concatenate(all_times))
