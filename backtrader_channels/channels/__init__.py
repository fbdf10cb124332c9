"""Channels: the per-symbol state a strategy reads (trades, order book)."""

from .base import Channel
from .book import BookError, OrderBook
from .orderbook import BookTop, OrderBookChannel
from .tick import TickChannel

__all__ = ["BookError", "BookTop", "Channel", "OrderBook", "OrderBookChannel", "TickChannel"]
