"""Live data sources: ccxt.pro WebSocket feeds that push events onto a ``LiveEventQueue``."""

from ..extras import missing_extra

try:
    import ccxt.pro  # noqa: F401  (the [live] extra)
except ImportError as error:
    raise missing_extra("live", "the live feeds", error) from error

from .backoff import Backoff
from .base import CCXTFeedBase
from .ccxt_feed import CCXTLiveOrderBookFeed, CCXTLiveTickFeed
from .runner import FeedThread
from .stats import FeedStats
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
