"""Brackets and OCO orders are refused by CCXTBroker, before anything reaches the exchange.

Sent as plain orders they would all rest at once: a bracket's stop-loss and take-profit
before its entry fills, both sides of an OCO able to fill.
"""

from __future__ import annotations

import backtrader as bt

from .conftest import SYMBOL, Recorder, live_run, trades_then


class BracketOnFirstTick(Recorder):
    def notify_tick(self, tick) -> None:
        self.ticks += 1
        if self.ticks == 1:
            self.orders.extend(self.buy_bracket(size=0.1, price=49_990.0, stopprice=49_000.0, limitprice=51_000.0))

    def notify_order(self, order) -> None:
        super().notify_order(order)
        self.reasons = [*getattr(self, "reasons", []), order.info.get("reason")]


class OcoOnFirstTick(BracketOnFirstTick):
    def notify_tick(self, tick) -> None:
        self.ticks += 1
        if self.ticks == 1:
            first = self.buy(size=0.1, price=49_000.0, exectype=bt.Order.Limit)
            self.orders.extend([first, self.buy(size=0.1, price=48_000.0, exectype=bt.Order.Limit, oco=first)])


def test_a_bracket_is_rejected_whole_and_never_reaches_the_exchange(exchange):
    script = trades_then(exchange, SYMBOL, (1, "three rejections", lambda s: s.statuses().count("Rejected") == 3))

    strategy, broker, _ = live_run(exchange, BracketOnFirstTick, script)
    assert strategy.statuses() == ["Rejected"] * 3
    assert all(reason.startswith("brackets (parent= / transmit=False") for reason in strategy.reasons)
    assert exchange.ledger() == ([], [])
    assert broker.counts["sent"] == 0 and broker.counts["rejected"] == 3


def test_the_second_order_of_an_oco_group_is_rejected_the_first_rests(exchange):
    script = trades_then(exchange, SYMBOL, (1, "accepted and rejected",
                                            lambda s: "Accepted" in s.statuses() and "Rejected" in s.statuses()))

    strategy, broker, _ = live_run(exchange, OcoOnFirstTick, script)
    # the second is refused inside the strategy's call; the first is cancelled when the run stops
    assert strategy.statuses() == ["Submitted", "Rejected", "Accepted", "Canceled"]
    assert [reason for reason in strategy.reasons if reason] == [
        "OCO orders (oco=) are not supported by CCXTBroker: the exchange would fill both; "
        "cancel the other order from notify_order instead"]
    orders, _ = exchange.ledger()
    assert [(order["price"], order["clientOrderId"]) for order in orders] == [("49000.00000000", "t1x1")]
