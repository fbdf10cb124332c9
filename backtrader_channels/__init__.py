"""backtrader-channels: tick-level and order-book channels for backtrader.

``import backtrader_channels`` installs ``cerebro.add_channel``, ``cerebro.add_live_feed``,
``bt.RunMode`` and ``run(mode=...)`` on backtrader. ``import btchannels`` gives the same
API as explicit classes (``btchannels.Cerebro``, ``btchannels.Strategy``) and installs
nothing: see docs/architecture.md.
"""

import sys

from .broker import ChannelData, FillRecord, TickBroker
from .broker.fills import ConservativeQueue, FillModel, FrontOfQueue, TradeThroughFills
from .broker.latency import FixedLatency, LatencyModel
from .cerebro import RunMode, install
from .channel_bridge import ChannelBridge
from .channels import BookError, Channel, OrderBook, OrderBookChannel, TickChannel
from .events import Event, EventPriority, Level, OrderBookEvent, TickEvent
from .kinds import FundingChannel, FundingEvent
from .live import LiveDataValidator, LiveEventQueue
from .result import RunResult
from .sizers import QuoteSizer

if "btchannels" not in sys.modules:  # the explicit API is being imported: patch nothing
    install()

__all__ = [
    "BookError",
    "Channel",
    "ChannelBridge",
    "ChannelData",
    "ConservativeQueue",
    "Event",
    "EventPriority",
    "FillModel",
    "FillRecord",
    "FixedLatency",
    "FrontOfQueue",
    "FundingChannel",
    "FundingEvent",
    "LatencyModel",
    "Level",
    "LiveDataValidator",
    "LiveEventQueue",
    "OrderBook",
    "OrderBookChannel",
    "OrderBookEvent",
    "QuoteSizer",
    "RunMode",
    "RunResult",
    "TickBroker",
    "TickChannel",
    "TickEvent",
    "TradeThroughFills",
    "install",
]
__version__ = "0.1.0"
