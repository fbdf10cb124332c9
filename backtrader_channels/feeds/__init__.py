"""Live data sources: ccxt.pro WebSocket feeds that push events onto a ``LiveEventQueue``
(market data, and the account's own orders and fills for a live broker)."""

from ..extras import missing_extra

try:
    import ccxt.pro  # noqa: F401  (the [live] extra)
except ImportError as error:
    raise missing_extra("live", "the live feeds", error) from error

from ..live.backoff import Backoff
from ..live.runner import FeedThread
from ..live.stats import FeedStats
from ..live.trade_ids import TradeIdFilter
from .base import CCXTFeedBase
from .ccxt_feed import CCXTLiveOrderBookFeed, CCXTLiveTickFeed
from .funding import CCXTLiveFundingFeed
from .user_stream import CCXTUserStreamFeed

__all__ = [
    "Backoff",
    "CCXTFeedBase",
    "CCXTLiveFundingFeed",
    "CCXTLiveOrderBookFeed",
    "CCXTLiveTickFeed",
    "CCXTUserStreamFeed",
    "FeedStats",
    "FeedThread",
    "TradeIdFilter",
]
