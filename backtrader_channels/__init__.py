"""backtrader-channels: tick-level and order-book channels for backtrader.

Importing it registers ``cerebro.add_channel`` and ``bt.RunMode`` on backtrader.
"""

from .bridge import ChannelBridge
from .broker import ChannelData, FillRecord, TickBroker
from .cerebro import RunMode, install
from .channels import BookError, Channel, OrderBook, OrderBookChannel, TickChannel
from .events import Event, EventPriority, Level, OrderBookEvent, TickEvent
from .live import LiveDataValidator, LiveEventQueue
from .result import RunResult

install()

__all__ = [
    "BookError",
    "Channel",
    "ChannelBridge",
    "ChannelData",
    "Event",
    "EventPriority",
    "FillRecord",
    "Level",
    "LiveDataValidator",
    "LiveEventQueue",
    "OrderBook",
    "OrderBookChannel",
    "OrderBookEvent",
    "RunMode",
    "RunResult",
    "TickBroker",
    "TickChannel",
    "TickEvent",
]
__version__ = "0.1.0"
