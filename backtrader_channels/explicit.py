"""The tick-mode API without touching backtrader: a Cerebro and a Strategy base to subclass.

``import btchannels`` gives these names and leaves backtrader as it is (see
docs/architecture.md)::

    import btchannels

    class MyStrategy(btchannels.Strategy):   # self.channels, self.event_time
        ...

    cerebro = btchannels.Cerebro()
    cerebro.add_channel(btchannels.TickChannel, symbol='BTC/USDT', dataname='trades.csv')
    cerebro.addstrategy(MyStrategy)
    cerebro.run(mode=btchannels.RunMode.TICK)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import backtrader as bt

from . import cerebro as integration
from . import plotting
from .cerebro import RunMode

__all__ = ["Cerebro", "Strategy"]


class Cerebro(bt.Cerebro):
    """A ``bt.Cerebro`` with ``add_channel``, ``add_live_feed``, ``resampledata`` of a channel and ``run(mode=...)``."""

    add_channel = integration.add_channel
    add_live_feed = integration.add_live_feed
    resampledata = integration.resampledata
    replaydata = integration.replaydata
    plot = plotting.plot

    def run(self, mode: RunMode | str | None = None, **kwargs: Any) -> Any:
        """``bt.RunMode.BAR`` (default) is backtrader's own run; ``RunMode.TICK`` a tick-mode run."""
        return integration.run(self, mode, **kwargs)

    @property
    def channels(self) -> integration.ChannelRegistry:
        return integration.channels_of(self)


class Strategy(bt.Strategy):
    """A ``bt.Strategy`` that knows its channels (from ``__init__`` on) and the event time."""

    @property
    def channels(self) -> integration.ChannelRegistry:
        return integration.channels_of(self.env)

    _channels = channels

    @property
    def event_time(self) -> float:
        return integration.event_time(self)

    @property
    def event_datetime(self) -> datetime:
        return integration.event_datetime(self)
