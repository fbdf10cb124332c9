"""The own-orders kind: the exchange's word on the run's orders, for a live broker.

A live broker (``CCXTBroker``) sends orders over REST and learns what became of them from
the exchange: the answers to its requests, the user-data stream (``watch_orders`` /
``watch_my_trades``) and, after a reconnect, a REST reconciliation. Each of those is an
``Event(timestamp, ORDERS, 'orders', symbol, data)`` on the LiveEventQueue, so order
updates and fills reach the broker, and its notifications the strategy, in the same
order as the market data. ``data`` is one of:

- ``OrderUpdate``: an order's status at the exchange ('open', 'closed', 'canceled',
  'expired', 'rejected') with its cumulative filled amount;
- ``OwnFill``: one own trade (price, amount, fee; realized profit on futures), delivered
  once per trade id;
- ``StreamResumed``: the user-data stream is (re)subscribed; the broker reconciles;
- ``Reconciled``: a reconciliation of one symbol is complete: every own trade up to
  ``watermark`` was reported (the next one pages from there); on futures it may carry the
  exchange's positions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..channels.base import Channel
from ..events import EventPriority
from .base import Kind, Step, dataclass_codec

__all__ = ["ORDERS", "REPORTS", "OrderChannel", "OrderUpdate", "OrdersStep", "OwnFill", "Reconciled", "StreamResumed"]


@dataclass(frozen=True)
class OrderUpdate:
    """An order's state at the exchange; ``filled`` is cumulative."""

    timestamp: float
    symbol: str
    client_id: str | None
    order_id: str | None
    status: str  # ccxt's 'open', 'closed', 'canceled', 'expired', 'rejected'; 'margin': balance too low;
    # 'unknown': the create was sent and its outcome is not known yet (looked up until it is)
    filled: float = 0.0
    reason: str = ""  # why an order was rejected
    source: str = "stream"  # 'rest', 'stream', 'lookup', 'reconcile' or 'stop'


@dataclass(frozen=True)
class OwnFill:
    """One own trade: ``amount`` > 0, ``fee`` in ``fee_currency``."""

    timestamp: float
    symbol: str
    trade_id: str
    order_id: str | None
    client_id: str | None
    side: str
    price: float
    amount: float
    fee: float = 0.0
    fee_currency: str | None = None
    source: str = "stream"
    realized_pnl: float | None = None  # futures: the profit this fill realized, as the exchange says


@dataclass(frozen=True)
class StreamResumed:
    """The user-data stream is subscribed again (or for the first time)."""

    timestamp: float
    symbol: str


@dataclass(frozen=True)
class Reconciled:
    """A reconciliation of ``symbol`` is complete up to own trade id ``watermark`` (None: no
    trade yet); ``positions`` holds (symbol, size) as the exchange reports them (futures)."""

    timestamp: float
    symbol: str
    watermark: int | None
    positions: tuple[tuple[str, float], ...] = ()


class OrderChannel(Channel):
    """What the exchange said about the run's orders on one symbol; ``latest`` is the last item."""


class OrdersStep(Step):
    """Own orders of one symbol: channel -> broker bookkeeping -> notifications -> callbacks."""

    channel: OrderChannel

    def take(self, data: Any) -> bool:
        context = self.context
        if not context.clock.now >= data.timestamp:  # never back in time (NaN before the first event)
            context.clock.now = data.timestamp
        self.channel.append(data)
        context.broker.on_report(data)
        for callback in context.callbacks[self.kind.name]:
            callback(data)
        return context.finish(call_next=False)


# the reports this kind carries; the codec sends each by its type's name and its fields
REPORTS = (OrderUpdate, OwnFill, StreamResumed, Reconciled)

# the exchange's word on our orders: never refused by the market-data validator (an update
# stamped before the last one, e.g. found by a REST look-up, must still be booked)
ORDERS = Kind("orders", EventPriority.ORDERS, OrderChannel, OrdersStep, "notify_exchange", events=REPORTS,
              codec=dataclass_codec(5, *REPORTS), market_data=False)
