"""The ccxt.pro funding feed: USD-M perpetuals' funding from the mark price stream.

Binance's mark price stream (``watch_mark_price``) carries the current funding rate and
the next funding time; ``FundingClock`` turns those updates into one ``FundingEvent`` per
funding time that passed, funded at the last rate and mark price seen before it::

    queue = LiveEventQueue()
    funding = CCXTLiveFundingFeed('binance', 'BTC/USDT:USDT', queue)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..kinds.funding import FUNDING, FundingClock
from .base import CCXTFeedBase

if TYPE_CHECKING:
    from ..live import LiveEventQueue

__all__ = ["CCXTLiveFundingFeed"]


class CCXTLiveFundingFeed(CCXTFeedBase):
    """Funding of one perpetual (``'BTC/USDT:USDT'``) as ``Event(funding time, FUNDING,
    'funding', symbol, data=FundingEvent)``.

    The event comes with the first update naming a later funding time, so a funding is
    booked about a second after it happened, at its own time. A mark price update without
    a usable rate, mark price or next funding time is counted in ``stats.bad_messages`` and
    skipped. A funding time that passed while the feed was disconnected is not delivered.
    """

    channel_type, priority = FUNDING.name, FUNDING.priority

    def __init__(self, exchange_id: str, symbol: str, event_queue: LiveEventQueue, **options: Any) -> None:
        super().__init__(exchange_id, symbol, event_queue, **options)
        self._clock = FundingClock(symbol)

    async def _watch(self, exchange: Any) -> Any:
        return await exchange.watch_mark_price(self.symbol)

    def _deliver(self, ticker: Any, recv_timestamp: float) -> None:
        self._counters.messages += 1
        try:
            funding = self._clock.update(ticker)
        except (KeyError, TypeError, ValueError) as error:
            self._skip_bad(ticker, error)
            return
        if funding is not None:
            self._emit(funding, funding.timestamp)
