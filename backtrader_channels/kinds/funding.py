"""The funding-rate kind of perpetual futures: ``FundingChannel`` and ``notify_funding``.

At each funding time a held position pays or receives ``position value x rate``: a long
pays and a short receives when the rate is positive. The payment is booked in the
broker's cash at the event's time (valued at the event's mark price, or the symbol's mark
price in the run when the file has none), listed in ``tick_result.cashflows`` and seen by
``notify_cashvalue`` in the same step.

History comes from Binance's USD-M ``fundingRate`` dumps or the project's CSV (see
``sources/funding.py``); live, from ccxt.pro's ``watch_mark_price`` (Binance's mark price
stream carries the current rate and the next funding time): ``FundingClock`` turns those
updates into one event per funding time that passed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..channels.base import Channel
from ..events import EventPriority, to_datetime
from ..sources.chunks import to_seconds
from .base import Codec, Kind, Step

if TYPE_CHECKING:
    from ..broker.market import Market

__all__ = ["FUNDING", "FundingChannel", "FundingClock", "FundingEvent", "FundingStep"]


class FundingEvent:
    """A funding time: ``rate`` per interval, and the mark price used (NaN: the run's price)."""

    __slots__ = ("timestamp", "rate", "mark_price", "symbol")

    def __init__(self, timestamp: float, rate: float, mark_price: float = math.nan,
                 symbol: str | None = None) -> None:
        self.timestamp = timestamp
        self.rate = rate
        self.mark_price = mark_price
        self.symbol = symbol

    @property
    def datetime(self) -> datetime:
        return to_datetime(self.timestamp)

    def __repr__(self) -> str:
        return (f"FundingEvent(timestamp={self.timestamp!r}, rate={self.rate!r}, "
                f"mark_price={self.mark_price!r}, symbol={self.symbol!r})")


class FundingChannel(Channel):
    """Funding events of one perpetual; ``latest`` is the last ``FundingEvent``, ``rate`` its rate."""

    def _open_source(self, dataname: Any, **options: Any) -> Any:
        from ..sources.funding import open_funding

        return open_funding(dataname, **options)

    @property
    def rate(self) -> float | None:
        return None if self.latest is None else self.latest.rate


class FundingStep(Step):
    """Funding of one symbol: channel -> cash booked -> notifications -> ``notify_funding``."""

    channel: FundingChannel
    market: Market  # market-data kinds always have one
    _rows: tuple = ()

    def load(self, chunk: Any) -> None:
        self._rows = (to_seconds(chunk.ts_ns).tolist(), chunk.rate.tolist(), chunk.mark_price.tolist())

    def take(self, data: FundingEvent) -> bool:
        self._rows = ([data.timestamp], [data.rate], [data.mark_price])
        return self.run(0, 1)

    def run(self, start: int, stop: int) -> bool:
        times, rates, marks = self._rows
        return any(self.handle(FundingEvent(times[k], rates[k], marks[k], self.channel.symbol))
                   for k in range(start, stop))

    def handle(self, event: FundingEvent) -> bool:
        context, market = self.context, self.market
        context.clock.now = event.timestamp
        self.channel.append(event)
        broker = context.broker
        size = broker.getposition(market.data).size
        mark = event.mark_price if math.isfinite(event.mark_price) else market.price
        if size and mark is not None:
            broker.book_cashflow(event.timestamp, market.symbol, "funding", -size * mark * event.rate)
            context.deliver(force=True)  # notify_cashvalue sees the new cash now
        for callback in context.callbacks[self.kind.name]:
            callback(event)
        return context.finish()


class FundingClock:
    """Turns mark-price updates (current rate, next funding time) into funding events.

    When an update names a later funding time than the one before, the earlier time has
    passed: it is funded at the last rate seen for it.
    """

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self._due: float | None = None  # the pending funding time (s)
        self._rate = math.nan
        self._mark = math.nan

    def update(self, ticker: dict) -> FundingEvent | None:
        """Feed one ccxt mark-price ticker (Binance's ``markPriceUpdate`` in ``info``)."""
        info = ticker.get("info") or {}
        next_time = float(info["T"]) / 1e3
        event = None
        if self._due is not None and next_time > self._due and math.isfinite(self._rate):
            event = FundingEvent(self._due, self._rate, self._mark, self.symbol)
        self._due, self._rate, self._mark = next_time, float(info["r"]), float(info["p"])
        return event


def _encode(event: FundingEvent) -> tuple:
    return (event.timestamp, event.rate, event.mark_price)


def _decode(fields: Sequence[Any], symbol: str | None) -> FundingEvent:
    timestamp, rate, mark_price = fields
    return FundingEvent(timestamp, rate, mark_price, symbol)


FUNDING = Kind("funding", EventPriority.FUNDING, FundingChannel, FundingStep, "notify_funding", events=(FundingEvent,),
               codec=Codec(4, _encode, _decode))
