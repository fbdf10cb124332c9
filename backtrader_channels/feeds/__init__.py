"""Live data sources: ccxt.pro WebSocket feeds that push events onto a ``LiveEventQueue``."""

from ..live.backoff import Backoff
from ..live.runner import FeedThread
from ..live.stats import FeedStats
from .base import CCXTFeedBase
from .ccxt_feed import CCXTLiveOrderBookFeed, CCXTLiveTickFeed
from .trade_ids import TradeIdFilter

__all__ = [
    "Backoff",
    "CCXTFeedBase",
    "CCXTLiveOrderBookFeed",
    "CCXTLiveTickFeed",
    "FeedStats",
    "FeedThread",
    "TradeIdFilter",
]
