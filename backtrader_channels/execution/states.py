"""The live order state machine: what the run knows of each order at the exchange.

States, and what moves them (nothing but the exchange's word, or a request being sent):

- ``PENDING_NEW``: recorded, the create request not yet answered (persisted *before* it is
  sent, so a crash while sending leaves a trace that a restart resolves);
- ``UNKNOWN``: the create was sent and its outcome is not known (a timeout, a dropped
  connection, Binance's -1007). It is never sent again: look-ups by client id (with backoff),
  the user stream or a reconciliation resolve it; the strategy sees ``Submitted`` meanwhile;
- ``OPEN``: the exchange has it (filled in part or not at all);
- ``PENDING_CANCEL``: a cancel was sent, the order may still fill;
- final: ``FILLED``, ``CANCELED``, ``EXPIRED``, ``REJECTED``. A final order never moves again:
  a late or repeated report about it is ignored (and counted by the broker).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

__all__ = ["FINAL", "LiveOrder", "OrderState", "TransitionRefused", "state_of_status"]


class OrderState(str, Enum):
    PENDING_NEW = "pending_new"
    UNKNOWN = "unknown"
    OPEN = "open"
    PENDING_CANCEL = "pending_cancel"
    FILLED = "filled"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"


FINAL = frozenset({OrderState.FILLED, OrderState.CANCELED, OrderState.EXPIRED, OrderState.REJECTED})
_LIVE = (OrderState.OPEN, OrderState.PENDING_CANCEL, *FINAL)
ALLOWED: dict[OrderState, frozenset[OrderState]] = {
    OrderState.PENDING_NEW: frozenset({OrderState.UNKNOWN, *_LIVE}),
    OrderState.UNKNOWN: frozenset(_LIVE),
    OrderState.OPEN: frozenset(_LIVE),
    OrderState.PENDING_CANCEL: frozenset(_LIVE),
}

# ccxt's order statuses ('closed' is filled) and ours; 'margin' is a rejection for funds
_STATUS = {"open": OrderState.OPEN, "closed": OrderState.FILLED, "filled": OrderState.FILLED,
           "canceled": OrderState.CANCELED, "cancelled": OrderState.CANCELED, "expired": OrderState.EXPIRED,
           "rejected": OrderState.REJECTED, "margin": OrderState.REJECTED, "unknown": OrderState.UNKNOWN}


def state_of_status(status: str) -> OrderState:
    """Our state for a ccxt order status (``'closed'`` is FILLED); unknown words are refused."""
    try:
        return _STATUS[status]
    except KeyError:
        raise ValueError(f"order status {status!r} is not one of {', '.join(sorted(_STATUS))}") from None


class TransitionRefused(ValueError):
    """A report would move an order where the state machine does not allow (e.g. out of a final state)."""


@dataclass
class LiveOrder:
    """One order of the run: its identity, request and what the exchange said of it."""

    client_id: str
    symbol: str
    side: str  # 'buy' or 'sell'
    kind: str  # ccxt's order type: 'market', 'limit'
    amount: float
    price: float | None = None
    state: OrderState = OrderState.PENDING_NEW
    exchange_id: str | None = None
    filled: float = 0.0  # the exchange's cumulative filled amount, as last reported
    booked: float = 0.0  # the amount of the fills booked (by trade id)
    reason: str = ""  # why it was rejected, or why its state is unknown
    params: dict = field(default_factory=dict)  # the venue parameters it was sent with
    ref: int = 0  # the backtrader order's ref in this process (0: none yet, e.g. a resumed order)

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def move(self, state: OrderState) -> bool:
        """Go to ``state``; False (and no change) when it is already there. Refused when the
        machine does not allow it (a final state never moves)."""
        if state is self.state:
            return False
        if state not in ALLOWED.get(self.state, frozenset()):
            raise TransitionRefused(f"order {self.client_id}: {self.state.value} -> {state.value} is not allowed")
        self.state = state
        return True
