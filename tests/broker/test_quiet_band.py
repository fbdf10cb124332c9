"""Matching skips orders a trade cannot touch: with many limits resting far from the price,
a trade between them costs no look at any order; one that reaches a limit or a stop fills
it as before (prices worked out by hand)."""

from __future__ import annotations

import backtrader as bt

from backtrader_channels.broker.fills import TradeThroughFills
from tests.conftest import T0


class Counting(TradeThroughFills):
    """The default fill model, counting the orders it is asked about."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def on_trade(self, order, price, volume, reference, partial):
        self.asked += 1
        return super().on_trade(order, price, volume, reference, partial)


def ladder(strategy):
    """100 buy limits at 90, 89.5, ... and 100 sell limits at 110, 110.5, ..."""
    for k in range(100):
        strategy.buy(exectype=bt.Order.Limit, price=90.0 - k / 2, size=0.01)
        strategy.sell(exectype=bt.Order.Limit, price=110.0 + k / 2, size=0.01)


def test_trades_between_far_limits_look_at_no_order_and_one_through_a_limit_fills_it(run_ticks):
    model = Counting()
    prices = [100.0, 100.0] + [100.0 + (k % 7) - 3 for k in range(50)] + [89.5]  # 89.5 prints through 90 only
    trades = [(T0 + i, price, 1.0, "buy") for i, price in enumerate(prices)]
    strategy, cerebro = run_ticks(trades, actions={1: ladder}, broker={"set_fill_model": model, "set_shortcash": False})
    # the limits are judged not marketable as they start working (against the last trade, 100):
    # the 51 trades between 97 and 103 are skipped without a look at any of the 200, and 89.5
    # (at or below the best bid, 90) looks once at each
    assert model.asked == 200
    assert [(status, price, size) for status, price, size, _, _ in strategy.orders] == [("Completed", 90.0, 0.01)]
    assert cerebro.broker.getposition(strategy.data).size == 0.01


def test_a_stop_among_far_limits_still_triggers_on_the_first_trade_at_it(run_ticks):
    def orders(strategy):
        ladder(strategy)
        strategy.buy(exectype=bt.Order.Stop, price=102.0, size=0.5)

    trades = [(T0 + i, price, 1.0, "buy") for i, price in enumerate([100.0, 100.0, 101.0, 101.5, 102.0, 103.0])]
    strategy, _ = run_ticks(trades, actions={1: orders}, broker={"set_shortcash": False})
    assert [(status, price, size, at) for status, price, size, _, at in strategy.orders] == [
        ("Completed", 102.0, 0.5, T0 + 4)]
