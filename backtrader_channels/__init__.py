"""backtrader-channels: tick-level and order-book channels for backtrader."""

from .channels import BookError, OrderBook, OrderBookChannel, TickChannel
from .events import Event, EventPriority, Level, OrderBookEvent, TickEvent

__all__ = [
    "BookError",
    "Event",
    "EventPriority",
    "Level",
    "OrderBook",
    "OrderBookChannel",
    "OrderBookEvent",
    "TickChannel",
    "TickEvent",
]
__version__ = "0.1.0"
