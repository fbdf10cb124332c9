"""Cerebro integration: ``add_channel``, ``add_live_feed``, ``RunMode`` and ``run(mode=...)``.

Two ways in. ``import backtrader_channels`` installs them on backtrader itself (every
``bt.Cerebro`` gets them, every ``bt.Strategy`` its channels). ``btchannels.Cerebro`` and
``btchannels.Strategy`` (see ``explicit.py``) offer the same without touching backtrader.
Bar mode (the default) is backtrader's own ``run``; a tick-mode run is backtrader's own
``run`` too, for strategies, analyzers, sizers and writers, with its bar loop replaced by
the TickEngine.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

import backtrader as bt
from backtrader.brokers import BackBroker

from . import plotting, seam
from .broker import ChannelBroker, Market, TickBroker
from .channel_bars import ChannelBars
from .channels import Channel
from .engine import TickEngine
from .engine.live import LiveSession
from .engine.plan import RunPlan
from .events import to_datetime
from .kinds import kind_of
from .live import LiveDataValidator
from .record.sink import event_sink

__all__ = ["RunMode", "add_channel", "add_live_feed", "channels_of", "install", "replaydata", "resampledata", "run"]

class RunMode(str, Enum):
    """How ``cerebro.run`` drives strategies: bar by bar (backtrader) or event by event."""

    BAR = "bar"
    TICK = "tick"


class ChannelRegistry(dict):
    """Channels keyed by ``(channel_type, symbol)``; a missing key says which ones exist."""

    def __missing__(self, key: Any) -> Channel:
        added = ", ".join(map(repr, self)) or "none"
        raise KeyError(f"no channel {key!r}; added: {added}")


def channels_of(cerebro: bt.Cerebro) -> ChannelRegistry:
    """The channels added to ``cerebro``, keyed by ``(channel_type, symbol)``."""
    registry = cerebro.__dict__.get("_bc_channels")
    if registry is None:
        registry = cerebro._bc_channels = ChannelRegistry()
    return registry


def add_channel(self: bt.Cerebro, channel_cls: type[Channel], symbol: str, dataname: Any = None,
                **kwargs: Any) -> Channel:
    """Add a channel (``TickChannel``, ``OrderBookChannel``) and return it.

    ``dataname`` is its history for backtests (checked now); extra keywords go to the
    channel (``format=``, ``on_error=``, ``history_size=``).
    """
    if not (isinstance(channel_cls, type) and issubclass(channel_cls, Channel)):
        raise TypeError(f"add_channel needs a Channel class such as TickChannel, got {channel_cls!r}")
    registry = channels_of(self)
    key = (channel_cls.channel_type, symbol)
    if key in registry:
        raise ValueError(f"a {key[0]} channel for {symbol!r} was already added")
    channel = channel_cls(symbol, dataname, **kwargs)
    registry[key] = channel
    tick_broker_of(self)
    return channel


_CHANNEL_BAR_OPTIONS = ("timeframe", "compression", "field", "fill_gaps")


def resampledata(self: bt.Cerebro, dataname: Any, name: str | None = None, **kwargs: Any) -> Any:
    """backtrader's ``resampledata``; given a channel (what ``add_channel`` returns), a bar feed
    built from its trades (or its book's ``field='mid'|'bid'|'ask'``): ``timeframe``,
    ``compression``, ``fill_gaps`` (flat bars for intervals without a trade). See channel_bars.py."""
    if not isinstance(dataname, Channel):
        return _bar_resampledata(self, dataname, name=name, **kwargs)
    if "timeframe" not in kwargs:
        raise TypeError("resampledata on a channel needs timeframe=: bt.TimeFrame.Minutes or bt.TimeFrame.Seconds")
    unknown = sorted(set(kwargs) - set(_CHANNEL_BAR_OPTIONS))
    if unknown:
        raise TypeError(f"resampledata on a channel takes {', '.join(_CHANNEL_BAR_OPTIONS)}; "
                        f"not {', '.join(unknown)}")
    feed = ChannelBars(channel=dataname, **kwargs)  # type: ignore[call-arg]  # params, by backtrader's metaclass
    return self.adddata(feed, name=name or dataname.symbol)


def replaydata(self: bt.Cerebro, dataname: Any, name: str | None = None, **kwargs: Any) -> Any:
    """backtrader's ``replaydata``; a channel is refused with what to use instead."""
    if isinstance(dataname, Channel):
        raise TypeError("replaydata does not take a channel: the forming bar is the channel itself. Use "
                        "cerebro.resampledata(channel, timeframe=...) for bars and notify_tick (or the "
                        "channel's latest) for the trades inside the bar")
    return _bar_replaydata(self, dataname, name=name, **kwargs)


def tick_broker_of(cerebro: bt.Cerebro) -> ChannelBroker:
    """Cerebro's broker as a ChannelBroker (the simulator or a live broker), converting a plain
    BackBroker into a TickBroker (keeping its cash and commissions)."""
    broker = cerebro.broker
    if isinstance(broker, ChannelBroker):
        return broker
    if type(broker) is not BackBroker:
        raise TypeError(f"tick mode needs a TickBroker, a CCXTBroker (or backtrader's BackBroker), "
                        f"got {type(broker).__name__}")
    cerebro.broker = tick_broker = TickBroker.from_broker(broker)
    return tick_broker


def run(self: bt.Cerebro, mode: RunMode | str | None = None, **kwargs: Any) -> Any:
    """``Cerebro.run`` with a ``mode``: ``bt.RunMode.BAR`` (default) or ``bt.RunMode.TICK``."""
    if mode is None or RunMode(mode) is RunMode.BAR:
        if isinstance(self.broker, ChannelBroker):
            self.broker.detach()
        self._bc_plotted_engine = None
        return _bar_run(self, **kwargs)
    return _run_tick(self, **kwargs)


def _markets(channels: dict[tuple[str, str], Channel], cerebro: bt.Cerebro) -> dict[str, Market]:
    markets: dict[str, Market] = {}
    for channel in channels.values():
        if channel.symbol not in markets:
            markets[channel.symbol] = Market.create(channel.symbol, cerebro)
        markets[channel.symbol].attach(channel)
    return markets


def add_live_feed(self: bt.Cerebro, feed: Any) -> Channel:
    """Attach a live feed (``CCXTLiveTickFeed``, ``CCXTLiveOrderBookFeed``) and return its channel.

    A tick-mode run then starts the feeds, consumes their queue until stopped and stops
    them. All feeds of a Cerebro share one ``LiveEventQueue``.
    """
    queue = getattr(self, "_event_queue", None)
    if queue is None:
        self._event_queue = queue = feed.event_queue
    elif feed.event_queue is not queue:
        raise ValueError(f"{feed!r} pushes to another queue than this Cerebro's feeds; give them one LiveEventQueue")
    self.__dict__.setdefault("_bc_live_feeds", []).append(feed)
    registry = channels_of(self)
    key = (feed.channel_type, feed.symbol)
    if key not in registry:
        registry[key] = kind_of(feed.channel_type).new_channel(feed.symbol)
    tick_broker_of(self)
    return registry[key]


def _live_session(cerebro: bt.Cerebro, validator: Any, duration: float | None) -> LiveSession | None:
    queue = getattr(cerebro, "_event_queue", None)
    if queue is None:
        return None
    if validator is True:
        validator = LiveDataValidator()
    feeds = list(cerebro.__dict__.get("_bc_live_feeds", ()))
    session = LiveSession(queue, feeds, validator or None, duration, start_feeds=_feed_starter(feeds))
    session.sink_for = event_sink
    channels = channels_of(cerebro)
    if not channels:  # the seed's way: a bare queue; learn the first symbol from its first event
        session.first = first = _first_event(queue)
        if first is not None:
            kind = kind_of(first.channel_type)
            channels[(kind.name, first.channel_name)] = kind.new_channel(first.channel_name)
    return session


def _feed_starter(feeds: list) -> Any:
    """What starts the feeds of a live run in a background thread (None without feeds)."""
    if not feeds:
        return None
    from .live.runner import FeedThread

    return lambda: FeedThread(feeds).start()


def _first_event(queue: Any) -> Any:
    while not (queue.stopped and not len(queue)):
        event = queue.pop(timeout=0.1)
        if event is not None:
            return event
    return None


def _run_tick(cerebro: bt.Cerebro, equity_interval: float = 1.0, duration: float | None = None,
              validator: Any = True, **kwargs: Any) -> Any:
    """Tick-mode run. Live runs (a queue or live feeds attached) also take ``duration``
    (wall seconds) and ``validator`` (True: a default LiveDataValidator; False: none)."""
    if seam.optimising(cerebro) and kwargs.get("maxcpus", cerebro.p.maxcpus) != 1 and not hasattr(cerebro, "_event_queue"):
        from .sweep.optimize import optimize_in_processes  # each parameter set in a worker process

        return optimize_in_processes(cerebro, equity_interval=equity_interval, **kwargs)
    live = _live_session(cerebro, validator, duration)
    channels = channels_of(cerebro)
    bar_feeds = seam.data_feeds(cerebro)
    if not channels:
        if live is not None:
            return []  # the queue stopped before any event arrived
        raise ValueError(
            "tick mode needs a channel: cerebro.add_channel(TickChannel, symbol='BTC/USDT', dataname=...)"
        )
    _check_bar_feeds(bar_feeds, kwargs)
    broker = tick_broker_of(cerebro)
    markets = _markets(channels, cerebro)
    plan = RunPlan(channels, markets, broker, bar_feeds, live, equity_interval, environment=cerebro)
    engine = TickEngine(cerebro, plan)
    cerebro._bc_engine = engine
    stand_ins = None  # without bar feeds, the channels' data stand in as the strategies' datas
    if not bar_feeds:
        for market in markets.values():
            market.data.clock_every(equity_interval)
        stand_ins = {market.symbol: market.data for market in markets.values()}
    oldbuysell = cerebro.p.oldbuysell
    if not bar_feeds:  # stdstats' BuySell marks fills at their price, not 1.5% off a step's 'bar'
        kwargs.setdefault("oldbuysell", True)
    try:
        with seam.datas_replaced(cerebro, stand_ins), seam.bar_loop_replaced(cerebro, engine.run):
            # one process (maxcpus=1): optimisation runs share this engine; strategies carry tick_result
            strategies = _bar_run(cerebro, **{**kwargs, "runonce": False, "preload": True, "maxcpus": 1,
                                              "optreturn": False})
    except IndexError as error:
        if stand_ins and _reads_missing_bars(error, list(stand_ins.values()), engine.strategies):
            raise ValueError(NO_BAR_FEED) from None
        raise
    finally:
        cerebro.p.oldbuysell = oldbuysell
    cerebro.tick_result = engine.result
    cerebro._bc_plotted_engine = engine  # cerebro.plot() draws this run
    return strategies


NO_BAR_FEED = ("this strategy reads self.data, but the run has no bar feed: add "
               "cerebro.resampledata(channel, timeframe=...)")


def _reads_missing_bars(error: IndexError, stand_ins: list, strategies: list) -> bool:
    """Whether ``error`` is a read past the end of a stand-in data's lines (a tick-only run's
    ``self.data``, which has no bars) or of an indicator built on them."""
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    line = traceback.tb_frame.f_locals.get("self") if traceback is not None else None
    if line is None:
        return False
    data_lines = {id(data) for data in stand_ins} | {id(owned) for data in stand_ins for owned in data.lines}

    def on_stand_in(indicator: Any) -> bool:
        root = seam.root_clock(indicator)  # a data, or a stub around one of its lines
        return id(root) in data_lines or any(id(part) in data_lines for part in getattr(root, "lines", ()))

    owners = [*stand_ins, *(indicator for strategy in strategies for indicator in seam.indicators(strategy)
                            if on_stand_in(indicator))]
    return any(line is owned for owner in owners for owned in owner.lines)


def _check_bar_feeds(bar_feeds: list, kwargs: dict[str, Any]) -> None:
    """Tick mode reads bar feeds preloaded (their close times join the event merge)."""
    if bar_feeds and kwargs.get("preload") is False:
        raise ValueError("tick mode preloads bar feeds: run without preload=False")
    live = [seam.data_name(feed) or type(feed).__name__ for feed in bar_feeds
            if feed.islive() and not isinstance(feed, ChannelBars)]
    if live:
        raise ValueError(f"tick mode takes historical bar feeds only; live: {', '.join(live)} (use live channels)")


def give_channels(strategy: bt.Strategy) -> None:
    """Give a strategy its channels (before its ``__init__`` runs)."""
    vars(strategy).update(_channels=channels_of(strategy.env), channels=channels_of(strategy.env))


def event_time(strategy: bt.Strategy) -> float:
    """Timestamp (UTC epoch seconds) of the event being handled in a tick-mode run."""
    engine = getattr(strategy.env, "_bc_engine", None)
    return float("nan") if engine is None else engine.clock.now


def event_datetime(strategy: bt.Strategy) -> Any:
    """``event_time`` as a timezone-aware UTC datetime."""
    return to_datetime(event_time(strategy))


_bar_run = bt.Cerebro.run
_bar_resampledata = bt.Cerebro.resampledata
_bar_replaydata = bt.Cerebro.replaydata


def install() -> None:
    """Install the tick-mode API on backtrader itself (idempotent)."""
    if getattr(bt.Cerebro.run, "_backtrader_channels", False):
        return
    run._backtrader_channels = True  # type: ignore[attr-defined]
    bt.Cerebro.run = run
    bt.Cerebro.add_channel = add_channel
    bt.Cerebro.add_live_feed = add_live_feed
    bt.Cerebro.resampledata = resampledata
    bt.Cerebro.replaydata = replaydata
    bt.Cerebro.plot = plotting.plot
    bt.RunMode = RunMode
    seam.install_strategy_preinit(give_channels)
    bt.Strategy.event_time = property(event_time)
    bt.Strategy.event_datetime = property(event_datetime)
