"""TickEngine: drives strategies event by event in ``cerebro.run(mode=bt.RunMode.TICK)``.

The engine is a loop over steps. Each kind of event (trades, book updates, funding, bar
closes; see ``kinds/``) has a step per channel that owns apply -> match -> notify ->
callbacks; every step ends in ``finish_step``: ``next()`` without bar feeds, orders
submitted during the step start working (never on the event they were sent on), their
notifications go out, and the equity curve is sampled. Historical runs take steps in the
merged order of the channels' files; live runs in the order of a LiveEventQueue. Steps see
the run through a ``RunContext`` (a ``StepContext``, see ``kinds/base.py``), never the engine.
"""

from __future__ import annotations

import gc
import logging
import math
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import backtrader as bt
import numpy as np

from .. import seam
from ..broker.data import to_num
from ..broker.market import Market
from ..channel_bars import ChannelBars, LiveBars
from ..kinds import KINDS, Step, kind_of
from ..kinds.bars import BarStep, step_strategies
from ..result import RunResult, build_result
from .bridges import BridgeUpdater
from .clock import Clock
from .merge import merge_windows
from .timers import Timers

if TYPE_CHECKING:
    from .plan import RunPlan

__all__ = ["EquityCurve", "RunContext", "TickEngine"]

log = logging.getLogger("backtrader_channels")

RELEASE_EVERY = 256  # notification steps between releases of finished orders and closed trades


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


@contextmanager
def _runstop_sets(cerebro: bt.Cerebro, engine: TickEngine) -> Iterator[None]:
    """While the run lasts, ``cerebro.runstop()`` also raises the engine's stop flag."""
    runstop = cerebro.runstop

    def stop() -> None:
        runstop()
        engine.stopping = True

    cerebro.runstop = stop
    try:
        yield
    finally:
        del cerebro.runstop


class EquityCurve:
    """Samples of (time, portfolio value, first symbol's price), in compact float arrays."""

    __slots__ = ("times", "values", "prices")

    def __init__(self) -> None:
        self.times, self.values, self.prices = array("d"), array("d"), array("d")

    def add(self, time: float, value: float, price: float) -> None:
        self.times.append(time)
        self.values.append(value)
        self.prices.append(price)


class RunContext:
    """What the steps of one run see of its engine: a ``StepContext``.

    Shared objects (clock, broker, callback lists, bridges, strategies, the notification
    queue) by reference and the engine's methods bound (``bind``, at each run's start);
    and the run's counters that every step reads or moves: events handled, the next
    sample time, the stop flag, the next time a timer can fire (the engine's ``events``,
    ``next_sample``, ``stopping`` and ``next_timer``).
    Slots keep the per-event reads fast.
    """

    __slots__ = ("clock", "broker", "callbacks", "next_callbacks", "bridges", "strategies", "notifications",
                 "finish", "deliver", "sample", "count", "pause", "resume", "flatten", "stop",
                 "events", "next_sample", "stopping", "next_timer")

    def __init__(self) -> None:
        self.events, self.next_sample, self.stopping, self.next_timer = 0, -math.inf, False, math.inf

    def bind(self, engine: TickEngine) -> None:
        self.clock, self.broker, self.bridges = engine.clock, engine.broker, engine.bridges
        self.callbacks, self.next_callbacks = engine.callbacks, engine.next_callbacks
        self.strategies, self.notifications = engine.strategies, engine.notifications
        self.finish, self.deliver, self.sample = engine.finish_step, engine.deliver_notifications, engine.sample
        self.count, self.stop = engine.count, engine.stop
        self.pause, self.resume, self.flatten = engine.pause, engine.resume, engine.flatten


class _InContext:
    """An engine attribute that lives in the engine's ``RunContext``."""

    def __init__(self, doc: str) -> None:
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, engine: Any, owner: type | None = None) -> Any:
        return self if engine is None else getattr(engine.context, self.name)

    def __set__(self, engine: Any, value: Any) -> None:
        setattr(engine.context, self.name, value)


class TickEngine:
    """Runs one tick-mode backtest (or live session) of a RunPlan for a Cerebro."""

    def __init__(self, cerebro: bt.Cerebro, plan: RunPlan) -> None:
        self.context = RunContext()  # holds events, next_sample and stopping: set below through it
        self.cerebro = cerebro
        self.plan = plan
        self.channels = plan.channels
        self.markets = plan.markets
        self.broker = plan.broker
        self.bar_feeds = plan.bar_feeds
        self.live = plan.live
        self.clock = Clock()
        self.equity = EquityCurve()
        self.events = 0
        self.next_sample = -math.inf
        self.stepped = False  # tick-only runs with analyzers, observers or CSV writers: each sample is a step of them
        self.clock_steps = 0  # such steps taken
        self.fills_sampled = 0  # the broker's fills already on the equity curve
        self.stopping = False
        self.quick = False  # cerebro's quicknotify
        self.lean = True  # the broker's lean_orders: trades of fills booked without Strategy._addnotification
        self.paused = False
        self._held: tuple | None = None  # the callbacks of paused strategies
        self.strategies: list[bt.Strategy] = []
        self.callbacks: dict[str, list[Callable]] = {name: [] for name in KINDS}
        self.next_callbacks: list[Callable] = []
        self.notifications: Any = ()
        self.first_market = next(iter(self.markets.values()), None)
        self.steps: dict[tuple[str, str], Step] = {}
        self.result: RunResult | None = None
        self.released_trades = [0, 0]
        self.deliveries = 0
        self.bridges = BridgeUpdater([])
        self.timers = Timers(cerebro, [], {}, [])
        self.live_bars: LiveBars | None = None
        self.finish_step = self._finisher()
        self.context.bind(self)

    # the run's counters, kept in its context (where the steps read and write them)
    events = _InContext("events handled in this run")
    next_sample = _InContext("when the equity curve takes its next sample (epoch seconds)")
    stopping = _InContext("whether the run stops after the event being handled")
    next_timer = _InContext("when a timer (add_timer) can next fire (epoch seconds; inf: none can)")

    # -- entry point (backtrader's bar loop, replaced for the run) ---------------------------------
    def run(self, strategies: list[bt.Strategy]) -> None:
        """One run over the events for one set of strategies (optimisation runs come again)."""
        started = time.perf_counter()
        self._reset(strategies)
        for market in self.markets.values():
            self._announce(market)
        with _few_collections(), _runstop_sets(self.cerebro, self):
            if self.live is not None:
                from .live import run_live

                run_live(self, self.live)
            else:
                self._run_history()
                self.deliver_held()
        if self.equity.times and self.equity.times[-1] != self.clock.now:
            self.sample()  # the final state, when the last event fell between samples
        self.release_finished()
        self.result = build_result(self, strategies, time.perf_counter() - started)
        for strategy in strategies:
            strategy.tick_result = self.result
        for name, count in self.result.skipped_rows.items():
            if count:
                log.warning("%s: skipped %d bad rows (on_error='skip')", name, count)

    def _reset(self, strategies: list[bt.Strategy]) -> None:
        self.clock.now = math.nan
        self.events = 0
        self.equity = EquityCurve()
        self.released_trades = [0, 0]  # closed trades released during the run: (count, won)
        self.deliveries = 0
        self.next_sample = -math.inf
        self.clock_steps = self.fills_sampled = 0
        self.stepped = not self.bar_feeds and (any(map(seam.observed, strategies)) or seam.writes_rows(self.cerebro))
        self.stopping = seam.stop_requested(self.cerebro)
        self.quick = seam.quick_notify(self.cerebro)
        self.lean = self.broker.lean
        self.paused, self._held = False, None
        self.strategies = strategies
        self.callbacks = {
            name: [getattr(s, kind.callback) for s in strategies if kind.callback and _overrides(s, kind.callback)]
            for name, kind in KINDS.items()
        }
        # without bars next() follows every event; with bars it stays backtrader's bar callback
        self.next_callbacks = [] if self.bar_feeds else [s.next for s in strategies if _overrides(s, "next")]
        for channel in self.channels.values():
            channel.reset()
        for market in self.markets.values():
            market.reset()
        self.broker.attach(self.clock, self.markets)
        self.notifications = seam.notification_queue(self.broker)  # made anew by broker.start()
        self.bridges = BridgeUpdater(strategies)
        self.timers = Timers(self.cerebro, strategies, self.markets, seam.timers(self.cerebro))
        self.next_timer = self.timers.due
        self.finish_step = self._finisher()
        self.context.bind(self)
        self.steps = {key: self._new_step(channel) for key, channel in self.channels.items()}
        self.live_bars = self._live_bars()

    def _new_step(self, channel: Any) -> Step:
        kind = channel.kind
        return kind.step(self.context, channel, self.markets[channel.symbol] if kind.market_data else None)

    def _run_history(self) -> None:
        """Dispatch each window of the merge as runs: consecutive events of one step in one call."""
        steps: list[Any] = [step for step in self.steps.values() if step.channel.source is not None]
        for step in steps:
            step.prepare()
        if self.bar_feeds:
            steps.append(BarStep(self.context, self.bar_feeds, self.cerebro))
        for window in merge_windows(steps):
            for index, chunk in window.parts:
                steps[index].load(chunk)
            if window.sources is None or window.rows is None:  # both None, or both set
                index, chunk = window.parts[0]
                if steps[index].run(0, len(chunk)):
                    return
                continue
            starts = (np.flatnonzero(np.diff(window.sources)) + 1).tolist()
            sources, rows = window.sources.tolist(), window.rows.tolist()
            runs = [steps[index].run for index, _ in window.parts]
            for start, stop in zip([0, *starts], [*starts, len(sources)]):
                first_row = rows[start]
                if runs[sources[start]](first_row, first_row + stop - start):
                    return

    # -- live ------------------------------------------------------------------------------
    def live_step(self, event: Any) -> bool:
        """Handle one live ``Event`` through its kind's step; True when the run must stop."""
        kind = KINDS.get(event.channel_type)
        if kind is None or kind.channel is None:  # unknown, or a kind that never comes live (bars)
            assert self.live is not None  # live steps happen in live runs only
            self.live.unknown += 1
            return self.stopping
        key = (kind.name, event.channel_name)
        step = self.steps.get(key) or self._add_live_channel(key)
        bars = self.live_bars if kind.market_data else None
        if bars is not None and bars.before(event.timestamp):
            return True
        stop = step.take(event.data)
        if bars is not None:
            bars.after(step.channel, event.data)
        return stop

    def _live_bars(self) -> LiveBars | None:
        """The live run's bars from channels (``resampledata``), None without any."""
        feeds = [feed for feed in self.bar_feeds if isinstance(feed, ChannelBars)]
        if self.live is None or not feeds:
            return None
        return LiveBars(self.context, feeds, lambda feed_of: step_strategies(self.context, self.cerebro, feed_of))

    def on_clock(self) -> bool:
        """A live run's clock: close the bars that ended by now; True when the run must stop."""
        return self.live_bars is not None and self.live_bars.on_clock()

    def _add_live_channel(self, key: tuple[str, str]) -> Step:
        """The channel, market and step of a symbol whose first live event just arrived."""
        kind = kind_of(key[0])
        channel = self.channels.get(key)
        if channel is None:
            channel = self.channels[key] = kind.new_channel(key[1])
        if kind.market_data:
            market = self.markets.get(channel.symbol)
            if market is None:
                market = self.markets[channel.symbol] = Market.create(channel.symbol, self.plan.environment)
                self._announce(market)
            market.attach(channel)
            if self.first_market is None:
                self.first_market = market
        step = self.steps[key] = self._new_step(channel)
        return step

    def _announce(self, market: Market) -> None:
        """``notify_data`` of a symbol's data before its first event, with what its events
        are in backtrader's terms: ``DELAYED`` (history, as a live feed's backfill) in a
        backtest, ``LIVE`` in a live run. (Disconnects and resyncs are not notified.)"""
        status = bt.feed.DataBase.LIVE if self.live is not None else bt.feed.DataBase.DELAYED
        seam.notify_data(self.cerebro, self.strategies, market.data, status)

    # -- control ---------------------------------------------------------------------------
    def pause(self) -> None:
        """Stop calling the strategies (channels, matching and equity go on; order
        notifications wait) until ``resume()``: a paused strategy sends no orders."""
        if not self.paused:  # the lists are emptied in place: steps hold them
            self._held = ({name: callbacks[:] for name, callbacks in self.callbacks.items()}, self.next_callbacks[:])
            for callbacks in (*self.callbacks.values(), self.next_callbacks):
                callbacks.clear()
            self.paused = True

    def resume(self) -> None:
        """Call the strategies again from the next event; deliver what waited."""
        if self.paused and self._held is not None:
            held, self.next_callbacks[:] = self._held
            for name, callbacks in held.items():
                self.callbacks[name][:] = callbacks
            self._held, self.paused = None, False
            if self.notifications:
                self.deliver_notifications()

    def deliver_held(self) -> None:
        """At the end of a run, before the strategies' ``stop()``: the notifications a pause
        held back, and any still due, go out (a run that ends paused ends resumed)."""
        self.resume()
        self.deliver_notifications()

    def stop(self) -> None:
        """End the run after this event (``cerebro.runstop()``)."""
        self.cerebro.runstop()

    def flatten(self) -> None:
        """Cancel every open order, then close every position at market."""
        broker = self.broker
        for order in broker.working_orders():
            if order.alive():
                broker.cancel(order)
        closer = self.strategies[0] if self.strategies else None
        for market in self.markets.values():
            if closer is not None and broker.getposition(market.data).size:
                closer.close(data=market.data)
        broker.end_step()
        if self.notifications:
            self.deliver_notifications()

    # -- what every step shares ---------------------------------------------------------------
    def _finisher(self) -> Callable[..., bool]:
        """This run's ``finish_step(call_next=True)``: the end of every step. Per-event
        ``next`` (unless ``call_next`` is false), timers due, orders submitted during the
        step start working, due notifications go out, the step is counted and the equity sampled when
        due; True when the run must stop.

        A closure over what stays fixed for the run: the hot path calls it once per event.
        """
        clock, broker, nexts, notifications = self.clock, self.broker, self.next_callbacks, self.notifications
        deliver, sample, run, fire_timers = self.deliver_notifications, self.sample, self.context, self.fire_timers

        def finish_step(call_next: bool = True) -> bool:
            if call_next and nexts:
                for callback in nexts:
                    callback()
            if clock.now >= run.next_timer:
                fire_timers()
            if broker.incoming:
                broker.end_step()
            if notifications:
                deliver()
            run.events += 1
            if clock.now >= run.next_sample:
                sample()
            return run.stopping

        return finish_step

    def fire_timers(self) -> None:
        """The timers due at this event call ``notify_timer``; the next check is set."""
        self.timers.fire(self.clock.now)
        self.next_timer = self.timers.due

    def count(self, events: int) -> None:
        """Count ``events`` a step took without a full step each (trades taken in bulk)."""
        self.events += events

    def deliver_notifications(self, force: bool = False) -> None:
        """Hand the broker's due order notifications to the strategies, now.

        A fill (or, with ``force``, a cash flow) also takes an equity sample at once, so the
        equity curve, and in tick-only runs the analyzers and observers, see every fill.
        ``force`` also delivers cash and value with no order notification due.
        """
        broker = self.broker
        if self.paused or (not broker.notification_due() and not force):
            return  # paused: notifications wait in the broker until resume()
        quick = self.quick
        seam.queue_notifications(broker.due_notifications(), quick, self.lean)
        seam.deliver_notifications(self.strategies, quick, force, observed=self.stepped or bool(self.bar_feeds),
                                   lean=self.lean)
        if force or len(broker.fills) != self.fills_sampled:
            self.sample()
        self.deliveries += 1
        if not self.deliveries % RELEASE_EVERY:
            self.release_finished()

    def release_finished(self) -> None:
        """Let go of finished orders and closed trades (counted for the result): a long run's
        memory does not grow with its fills."""
        for trade in seam.release_finished(self.broker, self.strategies):
            self.released_trades[0] += 1
            self.released_trades[1] += trade.pnlcomm > 0

    def sample(self) -> None:
        """Add the portfolio value now to the equity curve; the next sample is due at the
        next multiple of ``equity_interval``.

        In a run without bar feeds each sample is also a step of the strategies' lines,
        analyzers, observers and CSV writers (a row) at this time, when there are any (with
        bar feeds they step on the bars).
        """
        now = self.clock.now
        broker = self.broker
        if not self.stepped:
            self._add_sample(now, broker.getvalue())
            return
        self.clock_steps += 1  # the data's new slot first: valuing marks the slot it is in
        for market in self.markets.values():
            market.data.step(self.clock_steps, now, market.price)
        with broker.value_held() as value:  # one valuation for the curve, observers and analyzers
            self._add_sample(now, value)
            seam.clock_step(self.strategies, to_num(now))
            seam.step_writers(self.cerebro, self.strategies)
            self.bridges.sample(now)  # for cerebro.plot()

    def _add_sample(self, now: float, value: float) -> None:
        """The equity curve's point at ``now``; the next one is due at the next multiple of
        ``equity_interval``."""
        price = self.first_market.price if self.first_market is not None else None
        self.equity.add(now, value, math.nan if price is None else price)
        self.fills_sampled = len(self.broker.fills)
        interval = self.plan.equity_interval
        self.next_sample = (math.floor(now / interval) + 1) * interval
