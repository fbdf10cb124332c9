"""The demo strategy: joins the bid when the book leans to buyers and trade flow agrees.

It shows the parts a tick strategy uses: ``notify_tick`` for trade flow,
``notify_orderbook`` for book imbalance, a limit entry resting at the best bid, and a
bracket (take-profit limit, stop-loss stop) that the tick broker fills on the trades.
"""

from __future__ import annotations

from collections import deque

import backtrader as bt

__all__ = ["BookImbalanceStrategy"]


class BookImbalanceStrategy(bt.Strategy):
    """Long-only order-book imbalance scalper, for demonstration (not investment advice)."""

    params = (
        ("symbol", "BTC/USDT"),
        ("levels", 5),  # book levels a side in the imbalance
        ("imbalance", 0.3),  # (bid size - ask size) / total, to enter
        ("flow_trades", 100),  # trades in the flow window
        ("size", 0.05),  # BTC per entry
        ("take_profit", 0.0010),  # fraction above entry
        ("stop_loss", 0.0008),  # fraction below entry
        ("entry_timeout", 5.0),  # seconds a resting entry waits
        ("cooldown", 20.0),  # seconds between entries
    )

    def __init__(self):
        self.flow: deque[float] = deque(maxlen=self.p.flow_trades)  # signed trade volumes
        self.flow_sum = 0.0
        self.open_orders = []
        self.entry = None
        self.entry_deadline = 0.0
        self.next_entry_time = 0.0

    def notify_tick(self, tick):
        signed = tick.volume if tick.direction == "buy" else -tick.volume
        if len(self.flow) == self.flow.maxlen:
            self.flow_sum -= self.flow[0]
        self.flow.append(signed)
        self.flow_sum += signed

    def notify_orderbook(self, book):
        if self.entry is not None and self.entry.alive() and self.event_time > self.entry_deadline:
            self.cancel(self.entry)  # the bracket's exits go with it
        if self.position or self.open_orders or self.event_time < self.next_entry_time:
            return
        bids, asks = book.depth(self.p.levels)
        bid_size, ask_size = sum(level.size for level in bids), sum(level.size for level in asks)
        if not bid_size or not ask_size:
            return
        imbalance = (bid_size - ask_size) / (bid_size + ask_size)
        if imbalance > self.p.imbalance and self.flow_sum > 0:
            entry = book.best_bid.price
            self.open_orders = self.buy_bracket(
                size=self.p.size, exectype=bt.Order.Limit, price=entry,
                limitprice=round(entry * (1 + self.p.take_profit), 2),
                stopprice=round(entry * (1 - self.p.stop_loss), 2),
            )
            self.entry = self.open_orders[0]
            self.entry_deadline = self.event_time + self.p.entry_timeout
            self.next_entry_time = self.event_time + self.p.cooldown

    def notify_order(self, order):
        # the broker cancels the rest of the bracket itself (expired entry, filled exit)
        if not order.alive() and order in self.open_orders:
            self.open_orders.remove(order)
