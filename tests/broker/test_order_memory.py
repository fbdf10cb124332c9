"""A long run's memory does not grow with its orders: finished orders and closed trades are
let go (backtrader would keep every one), while results, statuses and open orders stay right."""

from __future__ import annotations

import gc

import backtrader as bt

from tests.conftest import T0

ROUND_TRIPS = 60


def trades():
    """Prices 100, 101, 100, 101...: a buy sent on a 100 fills at the next 101, a sell at 100."""
    return [(T0 + i, 100.0 + i % 2, 1.0, "buy") for i in range(4 * ROUND_TRIPS + 4)]


def round_trips():
    """A market buy on event 4k+1 (filled at 101) and a sell on event 4k+2 (filled at 100), then a
    resting buy limit far below."""
    actions = {}
    for k in range(ROUND_TRIPS):
        actions[4 * k + 1] = lambda s: s.buy(size=1.0)
        actions[4 * k + 2] = lambda s: s.sell(size=1.0)
    actions[4 * ROUND_TRIPS + 1] = lambda s: s.buy(size=1.0, exectype=bt.Order.Limit, price=50.0)
    return actions


def live_orders():
    gc.collect()
    return [item for item in gc.get_objects() if isinstance(item, bt.Order)]


def test_finished_orders_are_released_and_results_stay_exact(run_ticks):
    strategy, cerebro = run_ticks(trades(), actions=round_trips(), cash=1_000.0)
    result = cerebro.tick_result
    # each round trip buys at 101 and sells at 100: a loss of 1.0
    assert len(result.fills) == 2 * ROUND_TRIPS
    assert [fill.price for fill in result.fills[:4]] == [101.0, 100.0, 101.0, 100.0]
    assert result.trades_closed == ROUND_TRIPS and result.trades_won == 0
    assert strategy.trades == [(-1.0, -1.0)] * ROUND_TRIPS
    assert cerebro.broker.getcash() == 1_000.0 - ROUND_TRIPS
    # only the resting limit is still an order the broker holds
    resting = strategy.last_order
    assert resting.alive() and cerebro.broker.orders == [resting]
    assert list(cerebro.broker.get_orders_open()) == [resting]
    # a finished order still reports its status
    assert [status for status, *_ in strategy.orders[:2]] == ["Completed", "Completed"]


def test_orders_kept_alive_do_not_grow_with_the_run(run_ticks):
    strategy, cerebro = run_ticks(trades(), actions=round_trips(), cash=1_000.0)
    kept = live_orders()
    assert len(cerebro.tick_result.fills) == 2 * ROUND_TRIPS
    # the resting limit (and the notifications' copies of the last step), not 121 orders
    assert 1 <= len(kept) <= 4, len(kept)
    assert strategy.last_order in kept
